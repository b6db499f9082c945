"""Benchmarks: ``expr`` evaluation and compilation for the three flow-control expressions.

Each expression is its own pytest-benchmark group holding: our evaluation (``ours``), a
hand-written Python function doing the same work on the same dict with the checks CEL demands
(``hand``), our uncached compilation (``compile``), our uncached type check (``check``: parse
and check, as ``expr.check`` does on a cache miss), and, when installed, cel-python
(``celpy``, data converted with ``json_to_cel`` on every call, as a dict would be) and
cel-expr-python (``cel_expr``, ``eval(data=...)``). Absolute times depend on the machine; only
ratios measured in one run mean anything: ``python bench/ratios.py`` prints them.

Run: ``pytest bench/bench_expr.py --benchmark-only`` (the file is named explicitly because its
name does not match pytest's default ``test_*.py`` pattern). ``python bench/bench_expr.py``
times checking against compiling, interleaved in one process, and prints the ratio per
expression and dialect (the issue's goal: checking costs less than compiling).
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


def uncached_check(source: str, dialect: str = "cel") -> str:
    """uncached_check parses and type-checks ``source`` bypassing ``expr.check``'s cache."""
    from expr import _checker

    return _checker.check_uncached(source, dialect, _checker.DEFAULT_ENV)


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
def test_check(benchmark: Any, name: str) -> None:
    benchmark.group = name
    assert benchmark(uncached_check, EXPRESSIONS[name]) in ("string", "dyn", "int")


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


def test_uncached_check_really_checks() -> None:
    assert uncached_check(EXPRESSIONS["key_concat"]) == "string"
    assert uncached_check(EXPRESSIONS["key_concat"], "inngest") == "dyn"
    assert uncached_check(EXPRESSIONS["priority_ternary"], "inngest") == "int"


def check_versus_compile(
    rounds: int = 15, number: int = 100,
) -> list[tuple[str, str, float, float, float, float]]:
    """(expression, dialect, check µs, compile µs, checker walk µs, compiler walk µs): best of
    ``rounds``, timed interleaved. Both entry points parse first; the walks are timed on the
    parsed tree, where the two differ."""
    import timeit

    from expr import _checker, _inngest, _parser, _program
    from expr._compiler import Compiler

    variables, dotted = _checker._environment(_checker.DEFAULT_ENV)
    out = []
    for dialect in ("cel", "inngest"):
        compiler = _inngest.InngestCompiler if dialect == "inngest" else Compiler
        library = _inngest.INNGEST_LIBRARY if dialect == "inngest" else _checker.STDLIB
        for name, source in EXPRESSIONS.items():
            node = _parser.parse(source, lenient_escapes=dialect == "inngest")
            timers = [
                lambda s=source, d=dialect: uncached_check(s, d),
                lambda s=source, d=dialect: _program.compile_uncached(s, d),
                lambda n=node, lib=library: _checker.check_ast(n, lib, variables, dotted),
                lambda n=node, c=compiler: c().compile_top(n),
            ]
            best = [float("inf")] * len(timers)
            for _ in range(rounds):
                for k, fn in enumerate(timers):
                    best[k] = min(best[k], timeit.timeit(fn, number=number) / number * 1e6)
            out.append((name, dialect, *best))
    return out


if __name__ == "__main__":  # pragma: no cover - a measurement, run by hand
    print(f"{'expression':<18} {'dialect':<8} {'check µs':>9} {'compile µs':>11} {'ratio':>6}"
          f" {'check walk':>11} {'compile walk':>13} {'ratio':>6}")
    for name, dialect, check, comp, check_walk, comp_walk in check_versus_compile():
        print(f"{name:<18} {dialect:<8} {check:>9.1f} {comp:>11.1f} {check / comp:>6.2f}"
              f" {check_walk:>11.2f} {comp_walk:>13.2f} {check_walk / comp_walk:>6.2f}")
