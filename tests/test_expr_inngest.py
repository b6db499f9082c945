"""The ``inngest`` dialect beyond the upstream case table (tests/test_inngest_cases.py).

Rows follow the unknown/null rules of Inngest's ``unknown.go`` (spec section 11) and the
documented choices of ``expr._inngest``.
"""

from __future__ import annotations

from typing import Any

import pytest

import expr
from expr import ExprEvalError

DATA = {"event": {"data": {"s": "hello", "n": 9.1, "i": 42, "z": 0, "e": "", "nul": None,
                           "t": True, "f": False, "list": [3.0, "ok?", True],
                           "obj": {"name": "inngest"}, "tags": ["a", "b"]}}}


def run(source: str, act: dict[str, Any] | None = None) -> Any:
    return expr.compile(source, dialect="inngest").evaluate(DATA if act is None else act)


@pytest.mark.parametrize(
    ("source", "want"),
    [
        # unknown (missing) operands, spec section 11 table
        ("event.data.missing == 'foo'", False),
        ("event.data.missing == null", True),
        ("event.data.missing == 0", False),
        ("event.data.missing != 'foo'", True),
        ("event.data.missing != null", False),
        ("event.data.missing < 5", True),
        ("5 < event.data.missing", False),
        ("event.data.missing > 5", False),
        ("5 > event.data.missing", True),
        ("event.data.missing <= 5", True),
        ("event.data.missing >= 5", False),
        ("'hello' + event.data.missing", "hello"),
        ("event.data.missing + 'hello'", "hello"),
        ("event.data.missing + event.data.missing", False),
        ("size(event.data.missing)", 0),
        ("event.data.missing in ['a']", False),
        ("'a' in event.data.missing", False),
        ("event.data.missing", False),
        ("nothing.at.all", False),
        ("null < 'foo'", True),
        ("null > 0", False),
        ("event.data.nul >= 0", True),
        # an error operand behaves like an unknown one
        ("1/0 == null", True),
        ("'k-' + (1/0)", "k-"),
        ("size(event.data.nul) > 0", False),
        # other functions and operators on unknown give false
        ("event.data.missing - 1", False),
        ("-event.data.missing", False),
        ("!event.data.missing", False),
        ("event.data.missing.contains('x')", False),
        ("int(event.data.missing)", False),
        ("event.data.missing.exists(x, true)", False),
        # path through null or a non-map
        ("event.data.nul.x == null", True),
        ("event.data.s.x", False),
        ("event['data']['missing'] == null", True),
        # + falls back to Go %v concatenation for mixed types
        ("event.data.s + '-' + event.data.n", "hello-9.1"),
        ("event.data.s + event.data.i", "hello42"),
        ("event.data.s + event.data.t", "hellotrue"),
        ("event.data.s + event.data.list", "hello[3 ok? true]"),
        ("event.data.s + event.data.obj", "hellomap[name:inngest]"),
        ("event.data.s + 1e6", "hello1e+06"),
        ("5 + 4", 9),
        ("[1] + [2]", [1, 2]),
        # truthiness of && || and ?:
        ("event.data.missing || event.data.s", "hello"),
        ("event.data.e || event.data.s", "hello"),
        ("event.data.z || event.data.s", "hello"),
        ("event.data.s || event.data.missing", "hello"),
        ("event.data.missing || event.data.missing", False),
        ("event.data.s && event.data.i", 42),
        ("event.data.e && event.data.s", ""),
        ("event.data.missing && event.data.s", False),
        ("event.data.t && event.data.f", False),
        ("event.data.f || event.data.t", True),
        ("event.data.missing ? 1 : 2", 2),
        ("event.data.s ? 1 : 2", 1),
        ("event.data.e ? 1 : 2", 2),
        ("event.data.list ? 1 : 2", 1),
        # the fast shapes keep the dialect's semantics
        ("event.data.missing + '-' + event.data.s", "-hello"),
        ("event.data.i + '-' + event.data.s", "42-hello"),
        ("event.data.missing == 'a' ? 1 : event.data.missing == 'b' ? 2 : 3", 3),
        ("event.data.s == 'hello' ? 1 : event.data.s == 'b' ? 2 : 3", 1),
        # custom functions
        ("lowercase('AbC')", "abc"),
        ("uppercase('AbC')", "ABC"),
        ("b64decode('aGkgdGhlcmUh')", "hi there!"),
        ("json_parse('{\"a\": {\"b\": [1, null]}}').a.b", [1.0, None]),
        ("type(json_parse('1')) == double", True),
        # lenient escapes
        ("'\\w'", "\\w"),
        ("'a'.matches('\\w')", True),
        # unknowns never leak into containers
        ("[event.data.missing, 1]", [None, 1]),
        ("{'k': event.data.missing}", {"k": None}),
        ("event.data.tags.map(t, event.data.missing)", [None, None]),
    ],
)
def test_inngest_semantics(source: str, want: Any) -> None:
    got = run(source)
    assert (type(got), got) == (type(want), want), source


@pytest.mark.parametrize(
    "source",
    ["1 / 0", "int('x')", "b64decode('!!')", "json_parse('{')", "json_parse('NaN')",
     "date('2020-02-30')", "date('yesterday')", "duration('5 minutes')", "now()",
     "event.data.list[7]"],
)
def test_errors_reaching_the_top_raise(source: str) -> None:
    with pytest.raises(ExprEvalError):
        run(source)


@pytest.mark.parametrize(
    ("source", "want"),
    [
        ("date('2020-01-01T12:00:00') + duration('6h35m10s') == date('2020-01-01T18:35:10')",
         True),
        ("date('2020-01-01T18:35:10+02:00') == date('2020-01-01T16:35:10Z')", True),
        ("date('2020-01-01') < date('2020-01-02')", True),
        ("date(1577836800000) == date('2020-01-01')", True),
        ("'k-' + date('2020-01-01T00:00:00.5Z')", "k-2020-01-01 00:00:00.5 +0000 UTC"),
        ("'k-' + duration('1h30m')", "k-1h30m0s"),
        ("'k-' + duration('1.5s')", "k-1.5s"),
        ("'k-' + duration('-250ms')", "k--250ms"),
        ("'k-' + (date('2021-01-01') - date('2020-01-01'))", "k-8784h0m0s"),
        ("duration('1h') == duration('60m')", True),
        ("date(event.data.missing) == null", False),
    ],
)
def test_dates_and_durations(source: str, want: Any) -> None:
    got = run(source)
    assert (type(got), got) == (type(want), want), source


def test_unbound_root_variables_are_unknown() -> None:
    assert run("async.first.foo == 'x'", {"event": {}}) is False
    assert run("async.first.foo != 'x'", {"event": {}}) is True
    assert run("event", {}) is False


def test_cel_dialect_is_strict_on_the_same_inputs() -> None:
    with pytest.raises(ExprEvalError):
        expr.compile("event.data.missing").evaluate(DATA)
    with pytest.raises(ExprEvalError):
        expr.compile("event.data.s + event.data.i").evaluate(DATA)
    with pytest.raises(expr.ExprSyntaxError):
        expr.compile("'\\w'")
