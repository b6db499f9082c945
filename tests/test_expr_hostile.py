"""Hostile input: limits, deep data, weird activations. Only Expr* errors may ever escape."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import pytest

import expr
from expr import ExprError, ExprEvalError, ExprSyntaxError
from expr._inngest import UNKNOWN
from expr._parser import MAX_DEPTH, MAX_SOURCE_LENGTH


def deep_list(n: int) -> list[Any]:
    root: list[Any] = []
    cur = root
    for _ in range(n):
        nxt: list[Any] = []
        cur.append(nxt)
        cur = nxt
    return root


@pytest.mark.parametrize(
    "source",
    [
        "[" * 300 + "]" * 300,
        "-" * 300 + "1",
        "!" * 300 + "true",
        "1" + " + 1" * 300,
        "a" + ".b" * 300,
        "f(" * 300 + ")" * 300,
        "x ? 1 : " * 300 + "2",
    ],
)
def test_nesting_limit_is_a_syntax_error(source: str) -> None:
    with pytest.raises(ExprSyntaxError) as info:
        expr.compile(source)
    assert "nested too deeply" in str(info.value)
    assert info.value.line == 1 and info.value.column > 1


def test_within_the_nesting_limit_compiles() -> None:
    depth = MAX_DEPTH - 8
    assert expr.compile("[" * depth + "]" * depth).evaluate({}) is not None
    assert expr.compile("(" * 2000 + "7" + ")" * 2000).evaluate({}) == 7  # parens are free
    assert expr.compile(" || ".join(["false"] * 2000) + " || true").evaluate({}) is True


def test_source_length_limit() -> None:
    with pytest.raises(ExprSyntaxError) as info:
        expr.compile("1" + " " * MAX_SOURCE_LENGTH)
    assert "too long" in str(info.value)


def test_deep_activation_data_does_not_overflow_the_stack() -> None:
    a, b = deep_list(50_000), deep_list(50_000)
    assert expr.compile("a == b").evaluate({"a": a, "b": b}) is True
    assert expr.compile("a in [b]").evaluate({"a": a, "b": b}) is True
    assert expr.compile("x + 'k'", dialect="inngest").evaluate({"x": a}).startswith("[[[")
    assert expr.go_format(a).count("[") == 50_001


def test_cyclic_data_is_handled() -> None:
    cyc: list[Any] = []
    cyc.append(cyc)
    assert expr.compile("a == a").evaluate({"a": cyc}) is True
    with pytest.raises(ExprEvalError):
        expr.compile("'k' + a", dialect="inngest").evaluate({"a": cyc})


class Exploding(dict[str, Any]):
    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("boom")


class BadEq:
    __hash__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")


@pytest.mark.parametrize(
    ("source", "act"),
    [
        ("a", None),
        ("a", [1]),
        ("a", "text"),
        ("a.b", Exploding()),
        ("a.b", {"a": Exploding()}),
        ("a.b + 'x'", {"a": Exploding()}),
        ("a < b", {"a": object(), "b": object()}),
        ("a + b", {"a": object(), "b": 1}),
        ("type(a)", {"a": {1, 2}}),
        ("a.map(x, x)", {"a": {1, 2}}),
        ("a + 1", {"a": 2**80}),
        ("int(a)", {"a": float("inf")}),
        ("bytes(a)", {"a": "\ud800"}),
        ("{a: 1}", {"a": 1.5}),
        ("a.matches(b)", {"a": "x", "b": "(?=x)"}),
    ],
)
def test_weird_activations_raise_only_eval_errors(source: str, act: Any) -> None:
    for dialect in ("cel", "inngest"):
        with contextlib.suppress(ExprEvalError):
            expr.compile(source, dialect=dialect).evaluate(act)


def test_objects_with_raising_equality_are_compared_by_identity() -> None:
    x = BadEq()
    assert expr.compile("a == 1").evaluate({"a": x}) is False
    assert expr.compile("[a] == [a]").evaluate({"a": x}) is True


TOKENS = ["a", "b", ".c", "a.c", "b.c", "zz", "zz.y", "+ 'k' +", "1", "2u", "3.5", "'s'",
          "b'x'", "null", "true", "(", ")", "[", "]", "{", "}", ",", ":", "?", "+", "-", "*",
          "/", "%", "!", "==", "<", "in", "&&", "||",
          ".all(x, x)", ".map(x, x)", "size(", "has(", "int(", "'\\", "\"", "`", "\n", "🙂"]


def random_sources(n: int) -> Iterator[str]:
    rng = random.Random(1234)
    for _ in range(n):
        yield " ".join(rng.choice(TOKENS) for _ in range(rng.randint(1, 12)))


def contains_unknown(value: Any) -> bool:
    stack = [value]
    while stack:
        v = stack.pop()
        if v is UNKNOWN:
            return True
        if isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
    return False


def test_random_token_soup_never_leaks_other_exceptions_or_unknowns() -> None:
    act = {"a": [1, {"c": 2}], "b": {"c": "x"}, "x": 1}
    for source in random_sources(3000):
        for dialect in ("cel", "inngest"):
            try:
                program = expr.compile(source, dialect=dialect)
            except ExprSyntaxError:
                continue
            with contextlib.suppress(ExprEvalError):
                assert not contains_unknown(program.evaluate(act)), source


def test_errors_share_the_base_class() -> None:
    with pytest.raises(ExprError):
        expr.compile("1 +")
    with pytest.raises(ExprError):
        expr.compile("1 / 0").evaluate({})
