"""Benchmarks: ``expr`` evaluation and compilation for the three flow-control expressions.

Each expression is its own pytest-benchmark group holding: our evaluation (``ours``), a
hand-written Python function doing the same work on the same dict with the checks CEL demands
(``hand``), our uncached compilation (``compile``), and, when installed, cel-python
(``celpy``, data converted with ``json_to_cel`` on every call, as a dict would be) and
cel-expr-python (``cel_expr``, ``eval(data=...)``). Absolute times depend on the machine; only
ratios measured in one run mean anything: ``python bench/ratios.py`` prints them.

Run: ``pytest bench/bench_expr.py --benchmark-only`` (the file is named explicitly because its
name does not match pytest's default ``test_*.py`` pattern).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

import expr

# The activation of the reference measurements (spec notes, cel.md section 3.3).
ACTIVATION: dict[str, Any] = {
    "event": {
        "name": "app/user.created",
        "data": {"user_id": "u_123", "account_id": "acc_9", "severity": "high",
                 "amount": 42, "tags": ["a", "b"]},
        "user": {"email": "a@b.c"},
    }
}

EXPRESSIONS = {
    "key_simple": "event.data.user_id",
    "key_concat": 'event.data.account_id + "-" + event.user.email',
    "priority_ternary":
        "event.data.severity == 'critical' ? 300 : event.data.severity == 'high' ? 120 : 0",
}
EXPECTED = {"key_simple": "u_123", "key_concat": "acc_9-a@b.c", "priority_ternary": 120}


class CelError(Exception):
    """What the hand-written functions raise where CEL reports an error."""


# The hand-written baselines are what a careful engineer would write inline for one expression:
# select through the dicts (a missing key, or selecting on a non-map, is an error: KeyError /
# TypeError), check the operand types CEL checks, and evaluate each sub-expression as often as
# CEL does (the ternary selects ``event.data.severity`` again in its else branch).
_LOOKUP_ERRORS = (KeyError, TypeError, IndexError)


def hand_key_simple(act: dict[str, Any]) -> Any:
    try:
        return act["event"]["data"]["user_id"]
    except _LOOKUP_ERRORS:
        raise CelError("no such key") from None


def hand_key_concat(act: dict[str, Any]) -> Any:
    try:
        left = act["event"]["data"]["account_id"]
    except _LOOKUP_ERRORS:
        raise CelError("no such key") from None
    if type(left) is not str:
        raise CelError("no matching overload for _+_")
    left = left + "-"
    try:
        right = act["event"]["user"]["email"]
    except _LOOKUP_ERRORS:
        raise CelError("no such key") from None
    if type(right) is not str:
        raise CelError("no matching overload for _+_")
    return left + right


def hand_priority_ternary(act: dict[str, Any]) -> Any:
    # == is heterogeneous in CEL: a non-string severity compares unequal, never errors.
    try:
        if act["event"]["data"]["severity"] == "critical":
            return 300
        if act["event"]["data"]["severity"] == "high":
            return 120
    except _LOOKUP_ERRORS:
        raise CelError("no such key") from None
    return 0


HAND: dict[str, Callable[[dict[str, Any]], Any]] = {
    "key_simple": hand_key_simple,
    "key_concat": hand_key_concat,
    "priority_ternary": hand_priority_ternary,
}

_unique = itertools.count()


def _uncached_entry() -> Callable[[str, str], Any] | None:
    # The evaluator caches compile() with functools.lru_cache; its __wrapped__ is uncached.
    cached = getattr(getattr(expr, "_program", None), "_compile", None)
    wrapped = getattr(cached, "__wrapped__", None)
    return wrapped if callable(wrapped) else None


_UNCACHED = _uncached_entry()


def uncached_compile(source: str) -> Any:
    """uncached_compile compiles ``source`` bypassing the (source, dialect) cache.

    It calls the function under the evaluator's LRU cache when there is one; otherwise it makes
    the source unique with a trailing comment (negligible extra lexing).
    """
    if _UNCACHED is not None:
        return _UNCACHED(source, "cel")
    return expr.compile(f"{source} // {next(_unique)}")


NAMES = list(EXPRESSIONS)


@pytest.mark.parametrize("name", NAMES)
def test_ours(benchmark: Any, name: str) -> None:
    benchmark.group = name
    program = expr.compile(EXPRESSIONS[name])
    assert benchmark(program.evaluate, ACTIVATION) == EXPECTED[name]


@pytest.mark.parametrize("name", NAMES)
def test_hand(benchmark: Any, name: str) -> None:
    benchmark.group = name
    assert benchmark(HAND[name], ACTIVATION) == EXPECTED[name]


@pytest.mark.parametrize("name", NAMES)
def test_compile(benchmark: Any, name: str) -> None:
    benchmark.group = name
    program = benchmark(uncached_compile, EXPRESSIONS[name])
    assert program.evaluate(ACTIVATION) == EXPECTED[name]


@pytest.mark.parametrize("name", NAMES)
def test_celpy(benchmark: Any, name: str) -> None:
    celpy = pytest.importorskip("celpy")
    benchmark.group = name
    env = celpy.Environment()
    program = env.program(env.compile(EXPRESSIONS[name]))

    def run() -> Any:
        return program.evaluate(celpy.json_to_cel(ACTIVATION))

    assert benchmark(run) == EXPECTED[name]


@pytest.mark.parametrize("name", NAMES)
def test_cel_expr(benchmark: Any, name: str) -> None:
    cel = pytest.importorskip("cel_expr_python.cel")
    benchmark.group = name
    env = cel.NewEnv(variables={"event": cel.Type.DYN})
    compiled = env.compile(EXPRESSIONS[name])

    def run() -> Any:
        return compiled.eval(data=ACTIVATION).value()

    assert benchmark(run) == EXPECTED[name]


@pytest.mark.parametrize("name", NAMES)
def test_hand_functions_check_types_like_cel(name: str) -> None:
    """The baseline does CEL's checks: a missing key or a non-string operand is an error."""
    with pytest.raises(CelError):
        HAND[name]({"event": {"data": {}, "user": {}}})
    with pytest.raises(CelError):
        HAND[name]({"event": {"data": [1], "user": "x"}})
    if name == "key_concat":
        with pytest.raises(CelError):
            HAND[name]({"event": {"data": {"account_id": 9}, "user": {"email": "a@b.c"}}})
    if name == "priority_ternary":
        assert HAND[name]({"event": {"data": {"severity": 1}}}) == 0


def test_uncached_compile_really_compiles() -> None:
    source = EXPRESSIONS["key_concat"]
    assert uncached_compile(source) is not uncached_compile(source)
    assert uncached_compile(source).evaluate(ACTIVATION) == EXPECTED["key_concat"]
