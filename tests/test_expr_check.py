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
    assert str(info.value).count("^") == 3
    assert str(info.value).splitlines()[3] == (
        "undeclared reference to 'b' (in container '') (line 1, column 9)")


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


# --- cel-go's checker tests (checker/checker_test.go, TestCheck), the ones without protobuf ------

CEL_GO_DEFAULT_ENV = {"is": "string", "ii": "int", "iu": "uint", "iz": "bool", "ib": "bytes",
                      "id": "double", "ix": "null_type"}

CEL_GO_TYPES = [
    # (expression, declared variables (None: cel-go's "default" test env), expected type)
    ('"A"', None, "string"),
    ("12", None, "int"),
    ("12u", None, "uint"),
    ("true", None, "bool"),
    ("false", None, "bool"),
    ("12.23", None, "double"),
    ("null", None, "null_type"),
    ('b"ABC"', None, "bytes"),
    ("is", None, "string"),
    ("ii", None, "int"),
    ("iu", None, "uint"),
    ("iz", None, "bool"),
    ("id", None, "double"),
    ("ix", None, "null_type"),
    ("ib", None, "bytes"),
    ("[]", None, "list(dyn)"),
    ("[1]", None, "list(int)"),
    ('[1, "A"]', None, "list(dyn)"),
    ("1 + 2", None, "int"),
    ("1 + ii", None, "int"),
    ("[1] + [2]", None, "list(int)"),
    ("[] + [1,2,3,] + [4]", None, "list(int)"),
    ("[1, 2u] + []", None, "list(dyn)"),
    ("{1:2u, 2:3u}", None, "map(int, uint)"),
    ('{"a":1, "b":2}.a', None, "int"),
    ("{1:2u, 2u:3}", None, "map(dyn, dyn)"),
    ("size(x) == x.size()", {"x": "list(int)"}, "bool"),
    ('int(1u) + int(uint("1"))', None, "int"),
    ("false && !true || false ? 2 : 3", None, "int"),
    ('b"abc" + b"def"', None, "bytes"),
    ("1.0 + 2.0 * 3.0 - 1.0 / 2.20202 != 66.6", None, "bool"),
    ("null == null && null != null", None, "bool"),
    ("1 == 1 && 2 != 1", None, "bool"),
    ("1 + 2 * 3 - 1 / 2 == 6 % 1", None, "bool"),
    ('"abc" + "def"', None, "string"),
    ("1u + 2u * 3u - 1u / 2u == 6u % 1u", None, "bool"),
    ("lists.filter(x, x > 1.5)", {"lists": "dyn"}, "list(dyn)"),
    ("list == type([1]) && map == type({1:2u})", None, "bool"),
    ("1 in [1, 2, 3]", None, "bool"),
    ("1 in dyn([1, 2, 3])", None, "bool"),
    ("type(null) == null_type", None, "bool"),
    ("type(type) == type", None, "bool"),
    ("([[[1]], [[2]], [[3]]][0][0] + [2, 3, {'four': {'five': 'six'}}])[3]", None, "dyn"),
    ("[1] + [dyn('string')]", None, "list(dyn)"),
    ("[dyn('string')] + [1]", None, "list(dyn)"),
    ('args.user["myextension"].customAttributes.filter(x, x.name == "hobbies")',
     {"args": "map(string, dyn)"}, "list(dyn)"),
    ("{}", None, "map(dyn, dyn)"),
    ("[1].map(x, [x, x]).map(x, [x, x])", None, "list(list(list(int)))"),
    ('values.filter(i, i.content != "").map(i, i.content)',
     {"values": "list(map(string, string))"}, "list(string)"),
    ("[{}.map(c,c,c)]+[{}.map(c,c,c)]", None, "list(list(bool))"),
    ("{}.map(c,[c,type(c)])", None, "list(list(dyn))"),
    ("[{'z': 0}].exists(y, y.z == 0)", {"cel.example.y": "map(string, int)"}, "bool"),
    ("[{'y': 0}].exists(x, x.y == 0)", {"x": "map(string, int)"}, "bool"),
    ("[0].exists(x, x != .x)", {"x": "int"}, "bool"),
    ("[{'z': 0}].exists(y, .y.z == y.z)", {"y.z": "int"}, "bool"),
]


@pytest.mark.parametrize(("source", "variables", "want"), CEL_GO_TYPES)
def test_cel_go_checker_types(source: str, variables: dict[str, str] | None, want: str) -> None:
    assert expr.check(source, variables=CEL_GO_DEFAULT_ENV if variables is None else variables) \
        == want


CEL_GO_ERRORS = [
    # (expression, declared variables, [(line, column, message), ...])
    ("x.all(y, y == true)", {"x": "bool"}, [
        (1, 1, "expression of type 'bool' cannot be range of a comprehension "
               "(must be list, map, or dynamic)")]),
    ("[].map(x, [].map(y, x in y && y in x))", {}, [
        (1, 33, "found no matching overload for '@in' applied to '(list(dyn), dyn)'")]),
    ("[].length", {}, [(1, 3, "type 'list(_var0)' does not support field selection")]),
    # with CrossTypeNumericComparisons(false), cel-go's default
    ("1 <= 1.0 && 1u <= 1.0 && 1.0 <= 1 && 1.0 <= 1u && 1 <= 1u && 1u <= 1", {}, [
        (1, 3, "found no matching overload for '_<=_' applied to '(int, double)'"),
        (1, 16, "found no matching overload for '_<=_' applied to '(uint, double)'"),
        (1, 30, "found no matching overload for '_<=_' applied to '(double, int)'"),
        (1, 42, "found no matching overload for '_<=_' applied to '(double, uint)'"),
        (1, 53, "found no matching overload for '_<=_' applied to '(int, uint)'"),
        (1, 65, "found no matching overload for '_<=_' applied to '(uint, int)'"),
    ]),
]


@pytest.mark.parametrize(("source", "variables", "errors"), CEL_GO_ERRORS)
def test_cel_go_checker_errors(source: str, variables: dict[str, str],
                               errors: list[tuple[int, int, str]]) -> None:
    with pytest.raises(ExprTypeError) as info:
        expr.check(source, variables=variables)
    assert list(info.value.errors) == errors


# --- the standard library's overload families (cel dialect) --------------------------------------

V = {"i": "int", "u": "uint", "d": "double", "s": "string", "b": "bytes", "z": "bool",
     "n": "null_type", "t": "timestamp", "du": "duration", "x": "dyn", "li": "list(int)",
     "ls": "list(string)", "m": "map(string, int)", "mi": "map(int, string)", "ty": "type"}

OVERLOADS = [
    # arithmetic: one number kind at a time; + also concatenates
    ("i + i", "int"), ("u + u", "uint"), ("d + d", "double"), ("s + s", "string"),
    ("b + b", "bytes"), ("li + li", "list(int)"), ("li + []", "list(int)"),
    ("t + du", "timestamp"), ("du + t", "timestamp"), ("du + du", "duration"),
    ("i - i", "int"), ("u - u", "uint"), ("d - d", "double"), ("t - t", "duration"),
    ("t - du", "timestamp"), ("du - du", "duration"),
    ("i * i", "int"), ("u * u", "uint"), ("d * d", "double"),
    ("i / i", "int"), ("u / u", "uint"), ("d / d", "double"),
    ("i % i", "int"), ("u % u", "uint"), ("-i", "int"), ("-d", "double"), ("!z", "bool"),
    # dyn operands: the overloads that can match decide (one result type, else dyn)
    ("x + 1", "int"), ("x + x", "dyn"), ("x * 2.0", "double"), ("-x", "dyn"), ("x % x", "dyn"),
    ("x + [1]", "list(int)"), ("x - t", "duration"),
    # comparisons: same kind only
    ("i < i", "bool"), ("u <= u", "bool"), ("d > d", "bool"), ("s >= s", "bool"),
    ("b < b", "bool"), ("z < z", "bool"), ("t < t", "bool"), ("du > du", "bool"),
    ("x < 1", "bool"), ("x < x", "bool"),
    # equality: (A, A)
    ("i == i", "bool"), ("li == [1]", "bool"), ("m != {}", "bool"), ("x == 'a'", "bool"),
    ("n == null", "bool"), ("t == null", "bool"), ("du != null", "bool"), ("ty == int", "bool"),
    ("int == string", "bool"), ("[x] == [1]", "bool"), ("{'a': x} == m", "bool"),
    # logic and the conditional
    ("z && z || !z", "bool"), ("x && z", "bool"), ("x || x", "bool"), ("z ? i : i", "int"),
    ("z ? li : []", "list(int)"), ("z ? x : 1", "dyn"), ("z ? 1 : x", "dyn"),
    ("x ? 's' : 't'", "string"), ("z ? null : null", "null_type"), ("z ? t : null", "timestamp"),
    # indexing and membership
    ("li[0]", "int"), ("m['k']", "int"), ("mi[1]", "string"), ("x[0]", "dyn"),
    ("x['k']", "dyn"), ("li[x]", "int"), ("m[x]", "int"), ("i in li", "bool"),
    ("'k' in m", "bool"), ("x in li", "bool"), ("1 in x", "bool"), ("1 in mi", "bool"),
    # field selection
    ("m.k", "int"), ("x.k", "dyn"), ("x.a.b.c", "dyn"), ("has(m.k)", "bool"),
    ("has(x.a.b)", "bool"),
    # size
    ("size(s)", "int"), ("size(b)", "int"), ("size(li)", "int"), ("size(m)", "int"),
    ("s.size()", "int"), ("li.size()", "int"), ("m.size()", "int"), ("size(x)", "int"),
    # string functions
    ("s.contains(s)", "bool"), ("s.startsWith('a')", "bool"), ("s.endsWith('a')", "bool"),
    ("s.matches('^a')", "bool"), ("matches(s, 'a')", "bool"), ("x.contains('a')", "bool"),
    # conversions
    ("int(i)", "int"), ("int(u)", "int"), ("int(d)", "int"), ("int(s)", "int"),
    ("int(t)", "int"), ("int(du)", "int"), ("uint(i)", "uint"), ("uint(d)", "uint"),
    ("uint(s)", "uint"), ("double(i)", "double"), ("double(u)", "double"),
    ("double(s)", "double"), ("string(i)", "string"), ("string(u)", "string"),
    ("string(d)", "string"), ("string(b)", "string"), ("string(z)", "string"),
    ("string(t)", "string"), ("string(du)", "string"), ("bytes(s)", "bytes"),
    ("bool(s)", "bool"), ("bool(z)", "bool"), ("dyn(i)", "dyn"), ("int(x)", "int"),
    ("timestamp('2020-01-01T00:00:00Z')", "timestamp"), ("timestamp(1)", "timestamp"),
    ("duration('1h')", "duration"),
    # type values
    ("type(i)", "type(int)"), ("type(li)", "type(list(int))"), ("type(x)", "type(dyn)"),
    ("int", "type(int)"), ("uint", "type(uint)"), ("double", "type(double)"),
    ("bool", "type(bool)"), ("string", "type(string)"), ("bytes", "type(bytes)"),
    ("null_type", "type(null_type)"), ("list", "type(list(dyn))"),
    ("map", "type(map(dyn, dyn))"), ("type", "type(type)"), ("type(int)", "type(type(int))"),
    ("google.protobuf.Timestamp", "type(timestamp)"), ("ty", "type"),
    # timestamp and duration accessors
    ("t.getFullYear()", "int"), ("t.getMonth('UTC')", "int"), ("t.getDayOfYear()", "int"),
    ("t.getDayOfMonth()", "int"), ("t.getDate()", "int"), ("t.getDayOfWeek()", "int"),
    ("t.getHours()", "int"), ("du.getHours()", "int"), ("du.getMinutes()", "int"),
    ("t.getSeconds('+01:00')", "int"), ("du.getMilliseconds()", "int"),
]


@pytest.mark.parametrize(("source", "want"), OVERLOADS)
def test_standard_overloads(source: str, want: str) -> None:
    assert expr.check(source, variables=V) == want


NO_OVERLOAD = [
    # (expression, function, argument types as cel-go prints them)
    ("i + u", "_+_", "(int, uint)"), ("i + d", "_+_", "(int, double)"),
    ("s + i", "_+_", "(string, int)"), ("li + ls", "_+_", "(list(int), list(string))"),
    ("b + s", "_+_", "(bytes, string)"), ("t + t", "_+_", "(timestamp, timestamp)"),
    ("s - s", "_-_", "(string, string)"), ("du - t", "_-_", "(duration, timestamp)"),
    ("d % d", "_%_", "(double, double)"), ("i * d", "_*_", "(int, double)"),
    ("u / i", "_/_", "(uint, int)"), ("-u", "-_", "(uint)"), ("-z", "-_", "(bool)"),
    ("!i", "!_", "(int)"), ("i < d", "_<_", "(int, double)"), ("n < n", None, None),
    ("li < li", "_<_", "(list(int), list(int))"), ("m > m", "_>_", "(map(string, int), "
                                                   "map(string, int))"),
    ("i == s", "_==_", "(int, string)"), ("li == ls", "_==_", "(list(int), list(string))"),
    ("li == null", "_==_", "(list(int), null)"), ("i != u", "_!=_", "(int, uint)"),
    ("i ? 1 : 2", "_?_:_", "(int, int, int)"), ("z ? 1 : 's'", "_?_:_", "(bool, int, string)"),
    ("z ? li : ls", "_?_:_", "(bool, list(int), list(string))"),
    ("li['a']", "_[_]", "(list(int), string)"), ("li[0u]", "_[_]", "(list(int), uint)"),
    ("m[1]", "_[_]", "(map(string, int), int)"), ("s[0]", "_[_]", "(string, int)"),
    ("s in li", "@in", "(string, list(int))"), ("i in m", "@in", "(int, map(string, int))"),
    ("i in s", "@in", "(int, string)"), ("size(i)", "size", "(int)"),
    ("i.size()", "size", "int.()"), ("s.contains(1)", "contains", "string.(int)"),
    ("contains(s, s)", "contains", "(string, string)"), ("i.startsWith('a')", "startsWith",
                                                         "int.(string)"),
    ("matches(s, 1)", "matches", "(string, int)"), ("int(b)", "int", "(bytes)"),
    ("uint(z)", "uint", "(bool)"), ("double(b)", "double", "(bytes)"),
    ("string(li)", "string", "(list(int))"), ("bytes(i)", "bytes", "(int)"),
    ("bool(i)", "bool", "(int)"), ("int(1, 2)", "int", "(int, int)"),
    ("timestamp(d)", "timestamp", "(double)"), ("duration(i)", "duration", "(int)"),
    ("i.getHours()", "getHours", "int.()"), ("du.getFullYear()", "getFullYear", "duration.()"),
    ("type(i, i)", "type", "(int, int)"), ("dyn()", "dyn", "()"),
]


@pytest.mark.parametrize(("source", "name", "signature"), NO_OVERLOAD)
def test_no_matching_overload(source: str, name: str | None, signature: str | None) -> None:
    if name is None:  # null is nullable as a timestamp: cel-go's legacy rule lets it through
        assert expr.check(source, variables=V) == "bool"
        return
    with pytest.raises(ExprTypeError) as info:
        expr.check(source, variables=V)
    assert info.value.reason == f"found no matching overload for '{name}' applied to '{signature}'"


# --- literals: element types join, to dyn when they differ ---------------------------------------

LITERALS = [
    ("[1, 2, 3]", "list(int)"), ("[1, 2u]", "list(dyn)"), ("[1, 1.0]", "list(dyn)"),
    ("[[1], [2]]", "list(list(int))"), ("[[1], ['a']]", "list(dyn)"),
    ("[[1], []]", "list(list(int))"), ("[[], [1]]", "list(list(int))"), ("[x, 1]", "list(dyn)"),
    ("[1, x]", "list(dyn)"), ("[null, null]", "list(null_type)"), ("[null, t]", "list(timestamp)"),
    ("[t, null]", "list(null_type)"),  # of two mutually assignable types cel-go keeps the later
    ("[null, 1]", "list(dyn)"), ("[[], []]", "list(list(dyn))"),
    ("[{}, {'a': 1}]", "list(map(string, int))"),
    ("{'a': 1, 'b': 2}", "map(string, int)"), ("{'a': 1, 'b': 'c'}", "map(string, dyn)"),
    ("{1: 'a', 'b': 'c'}", "map(dyn, string)"), ("{x: 1}", "map(dyn, int)"),
    ("{'a': [1], 'b': []}", "map(string, list(int))"), ("{true: null}", "map(bool, null_type)"),
    ("[type(1), type('a')]", "list(type(int))"), ("[int, string]", "list(type(int))"),
]


@pytest.mark.parametrize(("source", "want"), LITERALS)
def test_literal_element_types_join(source: str, want: str) -> None:
    assert expr.check(source, variables=V) == want


# --- macros: the iteration variable is typed from the range --------------------------------------

MACROS = [
    ("li.all(e, e > 0)", "bool"), ("li.exists(e, e == 1)", "bool"),
    ("li.exists_one(e, e == 1)", "bool"), ("li.map(e, e * 2)", "list(int)"),
    ("li.map(e, string(e))", "list(string)"), ("li.map(e, e > 1, double(e) * 2.0)", "list(double)"),
    ("li.filter(e, e > 1)", "list(int)"), ("ls.filter(e, e.startsWith('a'))", "list(string)"),
    ("m.map(k, k)", "list(string)"), ("m.filter(k, m[k] > 1)", "list(string)"),
    ("mi.all(k, k > 0)", "bool"), ("x.map(e, e)", "list(dyn)"), ("x.all(e, e)", "bool"),
    ("[[1]].map(e, e)", "list(list(int))"), ("[[1]].map(e, e[0])", "list(int)"),
    ("li.map(e, [e])", "list(list(int))"), ("li.map(i, li.map(j, i + j))", "list(list(int))"),
    ("[].map(e, e)", "list(dyn)"), ("li.map(e, x)", "list(dyn)"),
    ("li.exists(i, i == 1) ? 'y' : 'n'", "string"),
    # the variable shadows a declared one; a leading dot reaches the global
    ("ls.all(i, i.size() > 0)", "bool"), ("li.map(s, s + 1)", "list(int)"),
    ("li.map(s, .s)", "list(string)"),
]


@pytest.mark.parametrize(("source", "want"), MACROS)
def test_macros(source: str, want: str) -> None:
    assert expr.check(source, variables=V) == want


MACRO_ERRORS = [
    ("i.all(e, e)", 1, 1, "expression of type 'int' cannot be range of a comprehension "
                          "(must be list, map, or dynamic)"),
    ("s.map(e, e)", 1, 1, "expression of type 'string' cannot be range of a comprehension "
                          "(must be list, map, or dynamic)"),
    ("li.all(e, e)", 1, 11, "expected type 'bool' but found 'int'"),
    ("li.exists(e, e + 1)", 1, 16, "expected type 'bool' but found 'int'"),
    ("li.exists_one(e, e)", 1, 14,
     "found no matching overload for '_?_:_' applied to '(int, int, int)'"),
    ("li.filter(e, 's')", 1, 10,
     "found no matching overload for '_?_:_' applied to '(string, list(int), list(int))'"),
    ("li.map(e, e, e)", 1, 7,
     "found no matching overload for '_?_:_' applied to '(int, list(int), list(int))'"),
    ("li.all(e, e.f)", 1, 12, "type 'int' does not support field selection"),
    ("li.map(e, e + 's')", 1, 13,
     "found no matching overload for '_+_' applied to '(int, string)'"),
    ("li.all(e, f)", 1, 11, "undeclared reference to 'f' (in container '')"),
    ("li.all(e, true) && e", 1, 20, "undeclared reference to 'e' (in container '')"),
    ("has(i.f)", 1, 4, "type 'int' does not support field selection"),
    ("has(li.f)", 1, 4, "type 'list(int)' does not support field selection"),
    ("li.f", 1, 3, "type 'list(int)' does not support field selection"),
    ("s.f.g", 1, 2, "type 'string' does not support field selection"),
]


@pytest.mark.parametrize(("source", "line", "column", "message"), MACRO_ERRORS)
def test_macro_and_selection_errors(source: str, line: int, column: int, message: str) -> None:
    with pytest.raises(ExprTypeError) as info:
        expr.check(source, variables=V)
    assert (info.value.line, info.value.column, info.value.reason) == (line, column, message)


# --- names -------------------------------------------------------------------------------------

def test_qualified_names_resolve_longest_prefix_first() -> None:
    env = {"a.b.c": "string", "a.b": "map(string, int)", "a": "map(string, bool)"}
    assert expr.check("a.b.c", variables=env) == "string"
    assert expr.check("a.b.d", variables=env) == "int"
    assert expr.check("a.x", variables=env) == "bool"
    with pytest.raises(ExprTypeError, match="type 'string' does not support field selection"):
        expr.check("a.b.c.d", variables=env)
    assert expr.check("[{'b': {'c': 1}}].map(a, a.b.c)", variables=env) == "list(int)"
    assert expr.check("[1].map(a, .a.b.c)", variables=env) == "list(string)"


UNDECLARED = [
    ("foo", 1, 1, "foo"), ("1 + foo", 1, 5, "foo"), ("foo.bar", 1, 1, "foo"),
    ("f(1)", 1, 2, "f"), ("'a'.f()", 1, 6, "f"), ("li.all(1)", 1, 7, "all"),
    ("dyn", 1, 1, "dyn"), ("timestamp", 1, 1, "timestamp"), (".q.j", 1, 2, ".q"),
    (".q", 1, 2, ".q"), ("[1].map(q, .q)", 1, 13, ".q"),
]


@pytest.mark.parametrize(("source", "line", "column", "name"), UNDECLARED)
def test_undeclared_references(source: str, line: int, column: int, name: str) -> None:
    with pytest.raises(ExprTypeError) as info:
        expr.check(source, variables=V)
    assert (info.value.line, info.value.column) == (line, column)
    assert info.value.reason == f"undeclared reference to '{name}' (in container '')"


# --- the platform's own expression tables --------------------------------------------------------

def test_every_inngest_expression_case_type_checks_in_the_platform_environment() -> None:
    """Inngest's TestEvaluateExpression, TestDebounceKeyExpressions and ternary cases compile
    (parse and check) in its environment, so every one of their 84 expressions checks here.
    ``||`` and ``&&`` check as bool (cel-go's declaration) even where the lenient evaluation
    returns an operand (case 67: a string)."""
    from test_inngest_cases import ROWS

    kinds = {row.num: expr.check(row.source, dialect="inngest") for row in ROWS}
    assert len(kinds) == 84
    assert set(kinds.values()) == {"bool", "dyn"}
    assert kinds["1"] == "dyn" and kinds["67"] == "bool" and kinds["K2"] == "dyn"


# Inngest's Test_Validation (pkg/expressions/validation_test.go at 253303cd), the rows without a
# policy: expressions.Validate parses and type-checks in the platform's environment. (Its rows
# with DefaultRestrictiveValidationPolicy test a policy on top, which is flowcontrol's concern.)
INNGEST_VALIDATION = [
    ("event.data.foo == 1", True),
    ("event.data.x is not an integer less than 2", False),
    ('event.name.endsWith("foo")', True),
    ("has(event.data.isPreview)", True),
    ("event.data.action == 'opened'", True),
    ("event.data.name", True),
    ("5 + 4", True),
    ("event.data.name + '-' + event.data.number + '-' + event.data.bool + '-' + event.data.list"
     " + '-' + event.data.obj + '-' + event.data.missing", True),
    ("uppercase(event.data.name) + ' is my name'", True),
    ('b64decode("aGkgdGhlcmUh") + " - b64 data"', True),
    ("json_parse(b64decode(event.data.encoded)).nested.data", True),
    ("null > 0", True),
    ("size(event.data.nope) > 0", True),
    ("event.data.float <= null && event.data.int < null", True),
    ("event.data.int > 3.141 && event.data.float <= 2", True),
    ("event.first.foo == 'test' && event.second.bar != true && event.second.baz != true", True),
    ("async.first.foo != 'test' && (async.first.bar == true || async.second.baz == true)", True),
    ("event.data.foo != '' && 'item' in event.data.issue.fields.tags", True),
    ("event['data'].foo != '' && event['data'].bar != true", True),
    ("event.data.test == true && event.data.issue.field.another != 'another'", True),
    ("event.nonexistent.exists(x, x == 'a')", True),
    ("event.data.title.matches('^[a-z\\\\d]{0,10}$')", True),
    ("event.data.some.unknown.contains(event.data.title)", True),
    ("size(event.data.action) > 0", True),
    ("int(async.status) == 200", True),
    ("event.data.tags.exists(x, x == 'd') == false", True),
    ("event.data.issue in ['Bug', 'Issue', 'Epic'] == true", True),
    ("[1, 2, 3].all(x, x > 0) && event.status == '200'", True),
    ("date(event.from) + duration('6h35m10s') == date('2020-01-01T18:35:10')", True),
    ('"lol" == event.data || event.name == "foo" || (async.source == \'test\' || async.source == '
     "'google') && date(async.next_visit) > now_plus(\"24h\") && async.email == 'test@example.com'",
     True),
]


@pytest.mark.parametrize(("source", "valid"), INNGEST_VALIDATION)
def test_inngest_validation_table(source: str, valid: bool) -> None:
    if valid:
        expr.check(source, dialect="inngest")
    else:
        with pytest.raises(expr.ExprError):
            expr.check(source, dialect="inngest")


class _Forgetful(dict[object, object]):
    """A memo that never remembers."""

    def get(self, key: object, default: object = None) -> object:
        return default


def test_memoised_overload_resolution_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Resolutions of ground argument types are memoised with the type variables they use: from
    the memo, the same types, errors and variable numbers come out as without it."""
    from expr import _checker

    sources = ["[].length", "[1] + []", "1 == 1 && [].map(x, x).size", "{}.map(k, k)[0].f",
               "size([]) + dyn([])[0].z", "x.map(e, [e, e])[0][0].q", "[[]][0].f",
               "[] == [] && {}.size() == size('') && [].length"]

    def run() -> list[object]:
        _checker._check.cache_clear()
        out: list[object] = []
        for source in sources:
            try:
                out.append(expr.check(source, variables={"x": "list(bytes)"}))
            except ExprTypeError as e:
                out.append(e.errors)
        return out

    monkeypatch.setattr(_checker, "_MEMO", _Forgetful())
    without = run()
    monkeypatch.setattr(_checker, "_MEMO", {})
    assert run() == without  # filling the memo
    assert run() == without  # from the memo
    assert without[0] == ((1, 3, "type 'list(_var0)' does not support field selection"),)
    _checker._check.cache_clear()
