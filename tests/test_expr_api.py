"""The public API of ``expr``: names, errors with carets, caching, references, value types."""

from __future__ import annotations

import threading

import pytest

import expr
from expr import ExprError, ExprEvalError, ExprSyntaxError, Type, UInt

EVENT = {
    "event": {
        "name": "app/user.created",
        "data": {"user_id": "u_123", "account_id": "acc_9", "severity": "high", "amount": 42},
        "user": {"email": "a@b.c"},
    }
}


def test_public_names() -> None:
    for name in ("compile", "Program", "ExprError", "ExprSyntaxError", "ExprEvalError",
                 "UInt", "Type", "go_format"):
        assert hasattr(expr, name), name
    assert issubclass(ExprSyntaxError, ExprError)
    assert issubclass(ExprEvalError, ExprError)


@pytest.mark.parametrize(
    ("source", "want"),
    [
        ("event.data.user_id", "u_123"),
        ('event.data.account_id + "-" + event.user.email', "acc_9-a@b.c"),
        ("event.data.severity == 'critical' ? 300 : event.data.severity == 'high' ? 120 : 0", 120),
        ("event['data']['amount'] * 2", 84),
    ],
)
def test_flow_control_shapes(source: str, want: object) -> None:
    for dialect in ("cel", "inngest"):
        program = expr.compile(source, dialect=dialect)
        assert program.evaluate(EVENT) == want
        assert program.source == source
        assert program.dialect == dialect


def test_compile_is_cached_per_source_and_dialect() -> None:
    a = expr.compile("event.data.user_id")
    assert expr.compile("event.data.user_id") is a
    assert expr.compile("event.data.user_id", dialect="inngest") is not a


def test_compile_from_threads_gives_working_programs() -> None:
    results: list[object] = []

    def work(i: int) -> None:
        results.append(expr.compile(f"x + {i}").evaluate({"x": 1}))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results, key=int) == list(range(1, 17))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("source", "refs"),
    [
        ("event.data.user_id", {"event.data.user_id"}),
        ('event.data.a + "-" + event.user.email', {"event.data.a", "event.user.email"}),
        ("event['data'].x", {"event.data.x"}),
        ("has(event.data.x)", {"event.data.x"}),
        ("event.data.tags.exists(t, t == event.name)", {"event.data.tags", "event.name"}),
        ("[1, 2].map(x, x * y)", {"y"}),
        ("type(a) == int", {"a"}),
        ("1 + 2", set()),
        ("event.data[k]", {"event.data", "k"}),
    ],
)
def test_references(source: str, refs: set[str]) -> None:
    assert expr.compile(source).references == frozenset(refs)


@pytest.mark.parametrize(
    ("source", "line", "column"),
    [
        ("a +", 1, 4),
        ("1 +* 2", 1, 4),
        ("a &&\n  b ++ c", 2, 6),
        ("'abc", 1, 1),
        ("if", 1, 1),
        ("9223372036854775808", 1, 1),
        ("'\\q'", 1, 2),
        ("has(a)", 1, 1),
        ("x.all(1, true)", 1, 3),
    ],
)
def test_syntax_error_position_and_caret(source: str, line: int, column: int) -> None:
    with pytest.raises(ExprSyntaxError) as info:
        expr.compile(source)
    err = info.value
    assert (err.line, err.column) == (line, column)
    text = str(err).split("\n")
    assert text[0].endswith(f"(line {line}, column {column})")
    assert text[1] == "  " + source.split("\n")[line - 1]
    assert text[2] == " " * (2 + column - 1) + "^"


def test_bad_arguments_to_compile_are_expr_errors() -> None:
    with pytest.raises(ExprError):
        expr.compile(42)  # type: ignore[arg-type]
    with pytest.raises(ExprError):
        expr.compile("1", dialect="python")


def test_program_is_immutable() -> None:
    program = expr.compile("1")
    with pytest.raises(AttributeError):
        program.source = "2"


def test_uint_and_type_values() -> None:
    assert expr.compile("1u").evaluate({}) == UInt(1)
    assert type(expr.compile("1u").evaluate({})) is UInt
    assert type(expr.compile("1").evaluate({})) is int
    assert repr(UInt(3)) == "UInt(3)"
    with pytest.raises(ValueError):
        UInt(-1)
    with pytest.raises(ValueError):
        UInt(2**64)
    t = expr.compile("type(1)").evaluate({})
    assert isinstance(t, Type)
    assert str(t) == "int"
    assert expr.compile("type(x) == uint").evaluate({"x": UInt(5)}) is True
    assert expr.compile("type(x) == int").evaluate({"x": UInt(5)}) is False
    names = ["int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type",
             "type"]
    for name in names:
        assert str(expr.compile(name).evaluate({})) == name
    assert str(expr.compile("type(type)").evaluate({})) == "type"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (42, "42"),
        (9.1, "9.1"),
        (1e6, "1e+06"),
        (42.0, "42"),
        (1234567.0, "1.234567e+06"),
        (123456.0, "123456"),
        (1e-05, "1e-05"),
        (0.0001, "0.0001"),
        (-0.0, "-0"),
        (float("inf"), "+Inf"),
        (float("nan"), "NaN"),
        (True, "true"),
        (False, "false"),
        (None, "<nil>"),
        ("s", "s"),
        (UInt(7), "7"),
        ([3.0, "ok?", True], "[3 ok? true]"),
        ({"name": "inngest"}, "map[name:inngest]"),
        ({"b": 1, "a": [None]}, "map[a:[<nil>] b:1]"),
        (b"hi", "[104 105]"),
        ([], "[]"),
    ],
)
def test_go_format(value: object, text: str) -> None:
    assert expr.go_format(value) == text


def test_go_format_ints_as_float64() -> None:
    assert expr.go_format(12345678) == "12345678"
    assert expr.go_format(12345678, ints_as_float=True) == "1.2345678e+07"
    assert expr.go_format([42, UInt(1234567)], ints_as_float=True) == "[42 1234567]"
    assert expr.go_format(True, ints_as_float=True) == "true"
    assert expr.go_format(10**400, ints_as_float=True) == "1" + "0" * 400


def test_go_format_rejects_cycles() -> None:
    cyc: list[object] = []
    cyc.append(cyc)
    with pytest.raises(ExprEvalError):
        expr.go_format(cyc)
