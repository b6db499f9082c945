"""``expr.check``: cel-go's type checker over our AST, and the platform's environment.

Tables marked "cel-go" are ported from google/cel-go ``checker/checker_test.go`` (commit
14f6746a, Apache-2.0): the expression, its declared variables and the expected type or error
text (facts only; the Go test harness is not copied). Error locations are cel-go's: an operator,
the ``(`` of a call or macro, the ``.`` of a selection, the ``[`` of an index, the ``?`` of a
conditional.
"""

from __future__ import annotations

import pytest

import expr
from expr import ExprTypeError

# --- the API ---------------------------------------------------------------------------------


def test_check_returns_the_type_in_cel_go_notation() -> None:
    assert expr.check("1 + 2") == "int"
    assert expr.check("event.data.user_id") == "dyn"
    assert expr.check("[1, 2]") == "list(int)"
    assert expr.check("{'a': 1}") == "map(string, int)"
    assert expr.check("null") == "null_type"
    assert expr.check("type(1)") == "type(int)"


def test_default_variables_are_the_platforms_three() -> None:
    for name in ("event", "async", "vars"):
        assert expr.check(name) == "map(string, dyn)"
    with pytest.raises(ExprTypeError):
        expr.check("x")
    with pytest.raises(ExprTypeError, match="undeclared reference to 'event'"):
        expr.check("event", variables={})


def test_declared_variables_are_parsed_type_strings() -> None:
    assert expr.check("x + 1", variables={"x": "int"}) == "int"
    assert expr.check("x[0]", variables={"x": "list(string)"}) == "string"
    assert expr.check("m['k']", variables={"m": "map(string, list(uint))"}) == "list(uint)"
    assert expr.check("t", variables={"t": "timestamp"}) == "timestamp"


@pytest.mark.parametrize("bad", ["", "integer", "list(int", "list(int, int)", "map(string)",
                                 "int(string)", "A", "list()", "int int", 7])
def test_a_bad_type_string_is_a_value_error(bad: object) -> None:
    with pytest.raises(ValueError):
        expr.check("x", variables={"x": bad})  # type: ignore[dict-item]


def test_bad_arguments_are_expr_errors() -> None:
    with pytest.raises(expr.ExprError, match="unknown dialect"):
        expr.check("1", dialect="go")
    with pytest.raises(expr.ExprError):
        expr.check(1)  # type: ignore[arg-type]


def test_syntax_errors_are_syntax_errors() -> None:
    with pytest.raises(expr.ExprSyntaxError):
        expr.check("1 +")


def test_type_error_has_line_column_reason_and_caret() -> None:
    with pytest.raises(ExprTypeError) as info:
        expr.check("event.data.ok &&\n  'yes' ? 1 : 2", dialect="inngest")
    err = info.value
    assert isinstance(err, expr.ExprError)
    assert (err.line, err.column) == (2, 3)
    assert err.reason == "expected type 'bool' but found 'string'"
    assert str(err).splitlines() == [
        "expected type 'bool' but found 'string' (line 2, column 3)",
        "    'yes' ? 1 : 2",
        "    ^",
    ]


def test_every_error_is_kept_in_source_order() -> None:
    with pytest.raises(ExprTypeError) as info:
        expr.check("'a' && (b || 1)")
    assert info.value.errors == (
        (1, 1, "expected type 'bool' but found 'string'"),
        (1, 9, "undeclared reference to 'b' (in container '')"),
        (1, 14, "expected type 'bool' but found 'int'"),
    )


# --- the issue's examples (inngest dialect) -------------------------------------------------------

ISSUE_ERRORS = [
    # (expression, line, column, message)
    ("'user-' + (event.data.id % 'x')", 1, 26,
     "found no matching overload for '_%_' applied to '(dyn, string)'"),
    ("event.data.level == 'debug' && 1", 1, 32, "expected type 'bool' but found 'int'"),
    ("me-bad", 1, 1, "undeclared reference to 'me' (in container '')"),
    ("true && 3", 1, 9, "expected type 'bool' but found 'int'"),
    ("'a' ? 1 : 2", 1, 5, "found no matching overload for '_?_:_' applied to '(string, int, int)'"),
    ("event.data.ok ? 'x' : 0", 1, 15,
     "found no matching overload for '_?_:_' applied to '(dyn, string, int)'"),
    ("1 in 'abc'", 1, 3, "found no matching overload for '@in' applied to '(int, string)'"),
    ("size(event.data.x) - 'a'", 1, 20,
     "found no matching overload for '_-_' applied to '(int, string)'"),
    ("analytics-pulse", 1, 1, "undeclared reference to 'analytics' (in container '')"),
]


@pytest.mark.parametrize(("source", "line", "column", "message"), ISSUE_ERRORS)
def test_platform_rejects(source: str, line: int, column: int, message: str) -> None:
    with pytest.raises(ExprTypeError) as info:
        expr.check(source, dialect="inngest")
    assert (info.value.line, info.value.column, info.value.reason) == (line, column, message)


ISSUE_ACCEPTS = [
    ("event.data.id + 1", "dyn"),
    ("'user-' + event.data.id", "dyn"),
    ("1 + 'a'", "dyn"),
    ("1 == 1.0", "bool"),
    ("'a' < 1", "bool"),
    ("event.data.user_id", "dyn"),
    ("event.data.account_id + '-' + event.user.email", "dyn"),
    ("event.data.severity == 'critical' ? 300 : event.data.severity == 'high' ? 120 : 0", "int"),
    ("lowercase(event.data.name)", "string"),
    ("uppercase('a')", "string"),
    ("b64decode(event.data.x)", "string"),
    ("json_parse(b64decode(event.data.encoded)).nested.data", "dyn"),
    ("date(event.from)", "timestamp"),
    ("date(event.from) + duration('6h35m10s') == date('2020-01-01T18:35:10')", "bool"),
    ("now()", "timestamp"),
    ("now_plus('24h') > now_minus('1h')", "bool"),
    ("int(async.status) == 200", "bool"),
    ("event.data.tags.exists(x, x == 'a')", "bool"),
    ("[1, 2, 3].all(x, x > 0) && event.status == '200'", "bool"),
    ("has(event.data.a) && event.data.a", "bool"),
    ("event['data'].foo != ''", "bool"),
    ("size(event.data.tags) > 2", "bool"),
    ("event.data.title.matches('^[a-z]+$')", "bool"),
]


@pytest.mark.parametrize(("source", "want"), ISSUE_ACCEPTS)
def test_platform_accepts(source: str, want: str) -> None:
    assert expr.check(source, dialect="inngest") == want


def test_the_seven_loosened_operators_stay_strict_in_the_cel_dialect() -> None:
    for source in ("1 + 'a'", "1 == 1.0", "'a' < 1", "1 != 'a'", "1 <= 1u", "1.0 > 1", "1 >= 'a'"):
        with pytest.raises(ExprTypeError, match="found no matching overload"):
            expr.check(source)
        expr.check(source, dialect="inngest")


def test_inngest_functions_are_unknown_to_the_cel_dialect() -> None:
    with pytest.raises(ExprTypeError, match="undeclared reference to 'lowercase'"):
        expr.check("lowercase('A')")


@pytest.mark.parametrize(("source", "message"), [
    ("lowercase(1)", "found no matching overload for 'lowercase' applied to '(int)'"),
    ("now(1)", "found no matching overload for 'now' applied to '(int)'"),
    ("now_plus(1)", "found no matching overload for 'now_plus' applied to '(int)'"),
    ("json_parse(b'x')", "found no matching overload for 'json_parse' applied to '(bytes)'"),
    ("'a'.lowercase()", "found no matching overload for 'lowercase' applied to 'string.()'"),
    ("1 - 'a'", "found no matching overload for '_-_' applied to '(int, string)'"),
    ("-'a'", "found no matching overload for '-_' applied to '(string)'"),
    ("!1", "found no matching overload for '!_' applied to '(int)'"),
])
def test_inngest_dialect_keeps_cel_go_rules_elsewhere(source: str, message: str) -> None:
    with pytest.raises(ExprTypeError) as info:
        expr.check(source, dialect="inngest")
    assert info.value.reason == message
