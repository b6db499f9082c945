"""The specialised closures (paths, concatenation, string switch) agree with the general ones.

Each expression is compiled twice, normally and with ``specialise=False`` (every node compiled
the general way), and both are run over activations holding values of every kind.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

import expr
from expr import ExprEvalError, UInt
from expr._compiler import Compiler
from expr._inngest import InngestCompiler
from expr._parser import parse


class Sub(str):
    """A str subclass: still a CEL string."""


VALUES: list[Any] = ["x", "", "critical", "high", Sub("high"), 1, 2.5, math.nan, True, None,
                     UInt(3), b"b", [1], {"k": "v"}]

SHAPES = [
    "event.data.a",
    "event.a",
    "event.data.a.b",
    "event.data.a.b.c",
    "event['data']['a']",
    'event.data.a + "-" + event.data.b',
    "event.data.a + event.data.b",
    "event.data.a + event.data.b + event.a",
    'event.data.a + "-" + event.b',
    'event.a + ":" + event.data.a + "-" + event.data.b',
    'event.a + ":" + event.data.a.b + "-" + event.data.b',
    "event.data.a == 'high'",
    "'high' != event.data.a",
    "event.data.a in ['high', 'x']",
    "event.data.a < 'm'",
    "event.data.a == 'critical' ? 300 : event.data.a == 'high' ? 120 : 0",
    "event.data.a == 'critical' ? event.data.b : event.data.a == 'high' ? 'h' : event.a",
    "event.data.b == 'x' ? 1 : 'x' == event.data.b ? 2 : 3",
]


def general(source: str, dialect: str) -> Callable[[Any], Any]:
    compiler = InngestCompiler if dialect == "inngest" else Compiler
    return compiler(specialise=False).compile_top(parse(source, dialect == "inngest"))


def outcome(fn: Callable[[Any], Any], act: Any) -> Any:
    try:
        return ("value", fn(act))
    except ExprEvalError:
        return ("error", None)


def same(a: Any, b: Any) -> bool:
    if a[0] != b[0]:
        return False
    x, y = a[1], b[1]
    if isinstance(x, float) and math.isnan(x):
        return isinstance(y, float) and math.isnan(y)
    return type(x) is type(y) and bool(x == y)


def activations() -> list[Any]:
    acts: list[Any] = [{}, {"event": None}, {"event": "s"}, {"event": {"data": None}},
                       {"event": {"data": []}}, {"event": {"data": {}}}]
    for v in VALUES:
        for w in (VALUES[0], VALUES[3], v):
            acts.append({"event": {"a": w, "data": {"a": v, "b": w}}})
        acts.append({"event": {"data": {"a": {"b": v, "c": v}}}})
        acts.append({"event": {"data": {"a": {"b": {"c": v}}}}})
    return acts


@pytest.mark.parametrize("dialect", ["cel", "inngest"])
@pytest.mark.parametrize("source", SHAPES)
def test_specialised_shape_agrees_with_general(source: str, dialect: str) -> None:
    fast = expr.compile(source, dialect=dialect).evaluate
    slow = general(source, dialect)
    assert fast is not slow
    for act in activations():
        a = outcome(fast, act)
        b = outcome(slow, act)
        assert same(a, b), (source, act, a, b)
