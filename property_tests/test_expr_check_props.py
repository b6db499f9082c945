"""Properties of ``expr.check`` on generated well-typed expressions.

Expressions are built from typed grammar productions: ``expression(t)`` only produces sources
that cel-go's checker types as ``t`` (literals, declared and macro variables, operators,
conversions, indexing, conditionals, list and map literals, the macros). Then:

(a) ``expr.check`` gives exactly the type the expression was built for.
(b) Evaluated (cel dialect) on an activation of the declared types, it gives a value of that type,
    or raises ``ExprEvalError`` (overflow, division by zero, a bad conversion, a missing key...):
    never a value of another type, never another exception.
(c) The platform's environment only loosens cel-go's: the expression checks in the ``inngest``
    dialect too, and evaluating it there raises nothing but ``ExprEvalError``.
(d) Any text (sources from the CEL grammar, mutated, hostile) checks to a type or raises
    ``ExprSyntaxError`` or ``ExprTypeError``, nothing else; a grammar source that checks (its
    names declared dyn) evaluates on arbitrary data to a value of its checked type or raises
    ``ExprEvalError``: the checker is sound for the evaluator.
(e) Every overload the evaluator implements returns a value of its declared result type (or
    raises ``ExprEvalError``) on arguments of its declared argument types: the one table's types
    and implementations agree.
"""

from __future__ import annotations

import contextlib
from functools import cache
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_expr_props import HOSTILE, activations, grammar_sources, mutated

import expr
from expr._types import K_NULL, K_PARAM, parse_type, render_type

INT64_MIN, INT64_MAX, UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1

# The declared variables, by type; "x" is dyn.
DECLARED = {
    "i": "int", "j": "int", "u": "uint", "d": "double", "s": "string", "b": "bytes",
    "z": "bool", "li": "list(int)", "ls": "list(string)", "ms": "map(string, int)",
    "mm": "map(string, list(string))", "x": "dyn",
}
TYPES = ["int", "uint", "double", "string", "bytes", "bool", "null_type", "list(int)",
         "list(string)", "list(list(int))", "map(string, int)", "map(string, list(string))",
         "list(double)", "dyn"]
ORDERED = ["int", "uint", "double", "string", "bytes", "bool"]
ELEMENTS = ["int", "uint", "double", "string", "bool", "list(int)"]

Scope = tuple[tuple[str, str], ...]  # names in scope with their types (macro variables last)


def split(t: str) -> tuple[str, list[str]]:
    """``map(string, list(int))`` -> ``("map", ["string", "list(int)"])``."""
    parsed = parse_type(t)
    return parsed.name if parsed.kind != K_NULL else t, [render_type(p) for p in parsed.params]


# ---------------------------------------------------------------------------------------------
# Typed productions
# ---------------------------------------------------------------------------------------------

def literal(t: str) -> st.SearchStrategy[str]:
    if t == "int":
        return st.sampled_from(["0", "1", "-1", "7", "42", "-3", "9223372036854775807",
                                "-9223372036854775808"])
    if t == "uint":
        return st.sampled_from(["0u", "1u", "5u", "18446744073709551615u"])
    if t == "double":
        return st.sampled_from(["0.0", "1.5", "-2.25", "1e300", "0.1"])
    if t == "string":
        return st.sampled_from(["''", "'a'", "'abc'", "'12'", "'true'", "\"ü\""])
    if t == "bytes":
        return st.sampled_from(["b''", "b'a'", "b'\\xff'"])
    if t == "bool":
        return st.sampled_from(["true", "false"])
    if t == "null_type":
        return st.just("null")
    raise AssertionError(t)


def names_of(t: str, scope: Scope) -> list[str]:
    return [name for name, nt in scope if nt == t]


@cache
def expression(t: str, depth: int, scope: Scope) -> st.SearchStrategy[str]:
    """Sources that cel-go's checker types as ``t`` (under ``DECLARED`` and ``scope``)."""
    options: list[st.SearchStrategy[str]] = []
    name, args = split(t)
    names = names_of(t, scope)
    if names:
        options.append(st.sampled_from(names))
    if t in ("int", "uint", "double", "string", "bytes", "bool", "null_type"):
        options.append(literal(t))
    if depth > 0:
        options.extend(compound(t, name, args, depth - 1, scope))
    elif not options:  # a composite type at depth 0 with no variable: its smallest literal
        options.append(smallest(t, scope))
    return st.one_of(options)


@cache
def smallest(t: str, scope: Scope) -> st.SearchStrategy[str]:
    name, args = split(t)
    if name == "list":
        return expression(args[0], 0, scope).map(lambda x: f"[{x}]")
    if name == "map":
        return expression(args[1], 0, scope).map(lambda x: f"{{'a': {x}}}")
    assert name == "dyn"
    return st.sampled_from(ELEMENTS[:5]).flatmap(literal).map(lambda x: f"dyn({x})")


def compound(t: str, name: str, args: list[str], depth: int,
             scope: Scope) -> list[st.SearchStrategy[str]]:
    def e(u: str) -> st.SearchStrategy[str]:
        return st.deferred(lambda: expression(u, depth, scope))

    def fmt(pattern: str, *parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.tuples(*parts).map(lambda xs: pattern.format(*xs))

    out = [
        fmt("({} ? {} : {})", e("bool"), e(t), e(t)),
        fmt("[{}][0]", e(t)),
        fmt("{{'k': {}}}['k']", e(t)),
    ]
    if t == "dyn":
        inner = st.sampled_from(ELEMENTS).flatmap(e)
        out += [fmt("dyn({})", inner), fmt("{}.k", st.just("x")), fmt("{}[0]", st.just("x"))]
    if t in ("int", "uint", "double"):
        out += [fmt("({} + {})", e(t), e(t)), fmt("({} - {})", e(t), e(t)),
                fmt("({} * {})", e(t), e(t)), fmt("({} / {})", e(t), e(t))]
        if t != "double":
            out.append(fmt("({} % {})", e(t), e(t)))
        if t != "uint":
            out.append(fmt("-{}", e(t)))
        sources = {"int": ["uint", "double", "string"], "uint": ["int", "double", "string"],
                   "double": ["int", "uint", "string"]}[t]
        out.append(st.sampled_from(sources).flatmap(lambda u: fmt(f"{t}({{}})", e(u))))
    if t == "int":
        out += [fmt("size({})", e("string")), fmt("size({})", e("list(int)")),
                fmt("{}.size()", e("map(string, int)")), fmt("size({})", e("bytes"))]
    if t == "string":
        out += [fmt("({} + {})", e(t), e(t)), fmt("{}[{}]", e("list(string)"), e("int")),
                st.sampled_from(["int", "uint", "double", "bool", "bytes"]).flatmap(
                    lambda u: fmt("string({})", e(u)))]
    if t == "bytes":
        out += [fmt("({} + {})", e(t), e(t)), fmt("bytes({})", e("string"))]
    if t == "bool":
        out += [
            fmt("({} && {})", e(t), e(t)), fmt("({} || {})", e(t), e(t)), fmt("!{}", e(t)),
            st.sampled_from(ORDERED).flatmap(
                lambda u: st.sampled_from(["<", "<=", ">", ">="]).flatmap(
                    lambda op: fmt(f"({{}} {op} {{}})", e(u), e(u)))),
            st.sampled_from(TYPES).flatmap(
                lambda u: st.sampled_from(["==", "!="]).flatmap(
                    lambda op: fmt(f"({{}} {op} {{}})", e(u), e(u)))),
            fmt("({} in {})", e("int"), e("list(int)")),
            fmt("({} in {})", e("string"), e("map(string, int)")),
            fmt("{}.contains({})", e("string"), e("string")),
            fmt("{}.startsWith({})", e("string"), e("string")),
            fmt("has({}.k)", e("map(string, int)")),
            fmt("bool({})", e("string")),
            st.sampled_from(["all", "exists", "exists_one"]).flatmap(
                lambda m: macro(m, "bool", depth, scope)),
        ]
    if name == "list":
        (elem,) = args
        out += [fmt("[{}]", e(elem)), fmt("[{}, {}]", e(elem), e(elem)),
                fmt("({} + {})", e(t), e(t)), macro("filter", elem, depth, scope),
                macro("map", elem, depth, scope)]
    if name == "map":
        key, value = args
        assert key == "string"
        out += [fmt("{{'a': {}}}", e(value)), fmt("{{'a': {}, 'b': {}}}", e(value), e(value))]
    return out


def macro(kind: str, t: str, depth: int, scope: Scope) -> st.SearchStrategy[str]:
    """A macro call typed ``t``: all/exists/exists_one give bool, map gives list(t), filter
    list(t)."""
    var = f"v{len(scope)}"

    def body(elem: str) -> st.SearchStrategy[tuple[str, str, str]]:
        inner: Scope = (*scope, (var, elem))
        rng = st.deferred(lambda: expression(f"list({elem})", depth, scope))
        pred = st.deferred(lambda: expression("bool", depth, inner))
        value = st.deferred(lambda: expression(t, depth, inner)) if kind == "map" else st.just("")
        return st.tuples(rng, pred, value)

    if kind == "filter":
        return body(t).map(lambda p: f"{p[0]}.filter({var}, {p[1]})")
    if kind == "map":
        return st.sampled_from(ELEMENTS).flatmap(body).flatmap(
            lambda p: st.sampled_from([f"{p[0]}.map({var}, {p[2]})",
                                       f"{p[0]}.map({var}, {p[1]}, {p[2]})"]))
    return st.sampled_from(ELEMENTS).flatmap(body).map(lambda p: f"{p[0]}.{kind}({var}, {p[1]})")


SCOPE: Scope = tuple(DECLARED.items())


def productions(t: str, depth: int) -> list[st.SearchStrategy[str]]:
    """The compound productions of type ``t`` (operands up to ``depth`` deep)."""
    name, args = split(t)
    return compound(t, name, args, depth, SCOPE)


def typed_expressions(max_depth: int = 2) -> st.SearchStrategy[tuple[str, str]]:
    """(source, type) pairs; the top is always a compound production, never a bare leaf."""
    return st.sampled_from(TYPES).flatmap(
        lambda t: st.integers(0, max_depth).flatmap(
            lambda depth: st.one_of(productions(t, depth)).map(lambda src: (src, t))))


# ---------------------------------------------------------------------------------------------
# Activations of the declared types, and the kind check
# ---------------------------------------------------------------------------------------------

INTS = st.one_of(st.integers(-5, 5), st.integers(INT64_MIN, INT64_MAX))
STRINGS = st.text(max_size=6)
DYN_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), INTS, st.floats(), STRINGS),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(STRINGS, inner, max_size=3),
    max_leaves=6,
)


def value_of(t: str) -> st.SearchStrategy[Any]:
    name, args = split(t)
    simple: dict[str, st.SearchStrategy[Any]] = {
        "int": INTS, "uint": st.integers(0, UINT64_MAX).map(expr.UInt),
        "double": st.floats(), "string": STRINGS, "bytes": st.binary(max_size=4),
        "bool": st.booleans(), "dyn": DYN_VALUES,
    }
    if name in simple:
        return simple[name]
    if name == "list":
        return st.lists(value_of(args[0]), max_size=3)
    assert name == "map"
    return st.dictionaries(st.sampled_from(["k", "a", "b", "zz"]), value_of(args[1]), max_size=3)


ACTIVATIONS = st.fixed_dictionaries({n: value_of(t) for n, t in DECLARED.items()})


def fits(t: str, v: Any) -> bool:
    """Whether the value ``v`` is of the CEL type ``t``."""
    name, args = split(t)
    if name == "dyn":
        return True
    exact = {"int": int, "uint": expr.UInt, "double": float, "string": str, "bytes": bytes,
             "bool": bool, "null_type": type(None)}
    if name in exact:
        return type(v) is exact[name]
    if name == "list":
        return type(v) is list and all(fits(args[0], x) for x in v)
    if name == "map":
        return type(v) is dict and all(fits(args[0], k) and fits(args[1], x)
                                       for k, x in v.items())
    if name == "type":
        return isinstance(v, expr.Type)
    raise AssertionError(t)


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------

SETTINGS = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@SETTINGS
@given(typed_expressions())
def test_a_generated_expression_checks_to_the_type_it_was_built_for(case: tuple[str, str]) -> None:
    source, t = case
    assert expr.check(source, variables=DECLARED) == t, source


@SETTINGS
@given(typed_expressions(), ACTIVATIONS)
def test_evaluation_gives_a_value_of_the_checked_type_or_an_eval_error(
    case: tuple[str, str], activation: dict[str, Any],
) -> None:
    source, t = case
    assert expr.check(source, variables=DECLARED) == t
    try:
        value = expr.compile(source).evaluate(activation)
    except expr.ExprEvalError:
        return
    assert fits(t, value), f"{source} checked as {t} gave {value!r}"


@SETTINGS
@given(typed_expressions(), ACTIVATIONS)
def test_the_platform_environment_accepts_it_and_raises_only_eval_errors(
    case: tuple[str, str], activation: dict[str, Any],
) -> None:
    source, _ = case
    expr.check(source, dialect="inngest", variables=DECLARED)
    with contextlib.suppress(expr.ExprEvalError):
        expr.compile(source, dialect="inngest").evaluate(activation)


@settings(max_examples=5, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.data())
def test_every_production_is_typed_as_declared(data: st.DataObject) -> None:
    """Each production of each type checks to that type (so the generator reaches every
    production, and none is mistyped)."""
    for t in TYPES:
        for production in productions(t, 1):
            source = data.draw(production)
            assert expr.check(source, variables=DECLARED) == t, source


# (d) arbitrary text, and soundness on the grammar's sources --------------------------------------

GRAMMAR_DECLARED = {"a": "dyn", "b": "dyn", "x": "dyn", "data": "dyn", "_y1": "dyn",
                    "event": "map(string, dyn)"}


def checked_or_rejected(source: str, dialect: str) -> str | None:
    try:
        return expr.check(source, dialect=dialect, variables=GRAMMAR_DECLARED)
    except (expr.ExprSyntaxError, expr.ExprTypeError):
        return None


@SETTINGS
@given(st.one_of(grammar_sources, mutated(), st.text(max_size=60), st.sampled_from(HOSTILE)),
       st.sampled_from(["cel", "inngest"]))
def test_any_text_checks_or_raises_syntax_or_type_error(source: str, dialect: str) -> None:
    checked = checked_or_rejected(source, dialect)
    assert checked is None or parse_type(checked) is not None


@SETTINGS
@given(grammar_sources, activations)
def test_a_checked_grammar_source_evaluates_to_its_type(source: str,
                                                        activation: dict[str, Any]) -> None:
    checked = checked_or_rejected(source, "cel")
    if checked is None:
        return
    try:
        value = expr.compile(source).evaluate(activation)
    except expr.ExprEvalError:
        return
    assert fits(checked, value), f"{source} checked as {checked} gave {value!r}"


# (e) declarations and implementations agree ------------------------------------------------

def _implemented_overloads() -> list[tuple[str, str, Any, tuple[str, ...], str]]:
    """(dialect, name, implementation, argument types, result type) of every declared overload
    the evaluator implements; type parameters instantiated as A=int, B=string."""
    from expr._inngest import INNGEST_LIBRARY
    from expr._stdlib import STDLIB

    fresh = {"A": parse_type("int"), "B": parse_type("string")}
    out = []
    for dialect, lib in (("cel", STDLIB), ("inngest", INNGEST_LIBRARY)):
        for name, fn in sorted(lib.items()):
            for ov in fn.overloads:
                impl = fn.method if ov.member else fn.impl
                if impl is None:
                    continue
                args = tuple(render_type(_instantiate(a, fresh)) for a in ov.args)
                out.append((dialect, name, impl, args, render_type(_instantiate(ov.result, fresh))))
    return out


def _instantiate(t: Any, fresh: dict[str, Any]) -> Any:
    if t.kind == K_PARAM:
        return fresh[t.name]
    return t._replace(params=tuple(_instantiate(p, fresh) for p in t.params))


def time_value(t: str) -> st.SearchStrategy[Any]:
    from expr._timeval import MAX_NS, MIN_NS, Duration, Timestamp

    if t == "timestamp":
        return st.integers(MIN_NS, MAX_NS).map(Timestamp)
    return st.integers(-(2**63), 2**63 - 1).map(Duration)


def argument(t: str) -> st.SearchStrategy[Any]:
    if t in ("timestamp", "duration"):
        return time_value(t)
    if t == "null_type":
        return st.none()
    return value_of(t)


def fits_time(t: str, v: Any) -> bool:
    return type(v).__name__ == {"timestamp": "Timestamp", "duration": "Duration"}[t]


IMPLEMENTED = _implemented_overloads()


@SETTINGS
@given(st.sampled_from(IMPLEMENTED).flatmap(
    lambda o: st.tuples(st.just(o), st.tuples(*(argument(a) for a in o[3])))))
def test_an_implementation_returns_its_declared_result_type(case: Any) -> None:
    (dialect, name, impl, _, result), values = case
    try:
        value = impl(*values)
    except expr.ExprEvalError:
        return
    ok = fits_time(result, value) if result in ("timestamp", "duration") else fits(result, value)
    assert ok, f"{dialect} {name}{values!r} -> {value!r}, declared {result}"


def test_every_implementation_is_declared_and_exercised() -> None:
    names = {(d, n) for d, n, *_ in IMPLEMENTED}
    for want in ("_+_", "_[_]", "@in", "size", "int", "matches", "contains", "type"):
        assert ("cel", want) in names
    for want in ("lowercase", "b64decode", "json_parse", "date", "duration", "_+_"):
        assert ("inngest", want) in names
