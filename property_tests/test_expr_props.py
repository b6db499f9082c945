"""Properties of ``expr`` on generated input.

(a) Text: any source, generated from the CEL grammar, mutated, or plain garbage, either compiles
    or raises ``ExprSyntaxError``; nothing else escapes ``compile``. Conservative well-formed
    sources must compile.
(b) Arithmetic: generated well-typed int/double/bool/string expressions agree with the small
    reference evaluator below (int64 overflow is an error, truncating ``/`` and ``%``, IEEE
    doubles, exact mixed int/double comparison, commutative error absorption in ``&&``/``||``).
(c) Any compiled program evaluated on arbitrary JSON-ish activations (deep nesting, bytes, NaN
    and infinities, ints beyond 64 bits, uints) returns a value or raises ``ExprEvalError``.
(e) Where cel-expr-python (Google's C++ CEL) is installed, it serves as an oracle: scalar results
    and errors of generated programs agree with it, outside the documented differences.
(d) In the ``inngest`` dialect those programs raise nothing but ``ExprEvalError`` (documented for an
    error reaching the top, like ``-null``), and key / condition / priority expressions of the
    kind users write (paths, string concatenation, ``||`` fallbacks, ``==``, ``in``, ``size``,
    ternaries) never raise at all, whatever the data.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import expr

INT64_MIN, INT64_MAX, UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1

# ---------------------------------------------------------------------------------------------
# Literal text
# ---------------------------------------------------------------------------------------------

SAFE_CHARS = st.characters(
    codec="utf-8", exclude_categories=["Cs"], exclude_characters="\r"
)


def _escape(ch: str, how: int, quote: str) -> str:
    cp = ord(ch)
    if how == 1 and cp < 256:
        return f"\\x{cp:02x}"
    if how == 2 and cp < 0x10000:
        return f"\\u{cp:04x}"
    if how == 3:
        return f"\\U{cp:08x}"
    if how == 4 and cp < 256:
        return f"\\{cp:03o}"
    if ch == "\\":
        return "\\\\"
    if ch == quote:
        return "\\" + quote
    if ch == "\n":
        return "\\n"
    if ch == "\t" and how == 5:
        return "\\t"
    return ch


@st.composite
def string_literal(
    draw: st.DrawFn, value: str | None = None, for_bytes: bool = False
) -> tuple[str, str]:
    """(source text, value) of a CEL string literal in a random quoting and escaping style.

    ``for_bytes`` avoids the ``\\u``/``\\U`` escapes, which bytes literals do not allow.
    """
    if value is None:
        value = draw(st.text(SAFE_CHARS, max_size=12))
    quote = draw(st.sampled_from(["'", '"']))
    plain = "\\" not in value and quote not in value and "\n" not in value
    if plain and draw(st.booleans()):
        prefix = draw(st.sampled_from(["r", "R"]))
        return f"{prefix}{quote}{value}{quote}", value
    styles = st.sampled_from([0, 1, 4, 5]) if for_bytes else st.integers(0, 5)
    body = "".join(_escape(ch, draw(styles), quote) for ch in value)
    if draw(st.booleans()) and not body.endswith(quote):
        q3 = quote * 3
        return f"{q3}{body}{q3}", value
    return f"{quote}{body}{quote}", value


def int_text(n: int, hex_ok: bool) -> str:
    if hex_ok and n >= 0:
        return "0x" + format(n, "x")
    return str(n)


def double_text(x: float) -> str:
    text = repr(x)
    assert "inf" not in text and "nan" not in text
    return text


# ---------------------------------------------------------------------------------------------
# (b) Typed expression trees, their source text, and a reference evaluator
# ---------------------------------------------------------------------------------------------

ERR = object()  # the reference's single error value
EITHER = object()  # the reference does not decide between an error and a value here

# Precedence levels for rendering with minimal parentheses.
P_COND, P_OR, P_AND, P_REL, P_ADD, P_MUL, P_UNARY, P_MEMBER = range(8)
BIN_PREC = {"||": P_OR, "&&": P_AND, "<": P_REL, "<=": P_REL, ">": P_REL, ">=": P_REL,
            "==": P_REL, "!=": P_REL, "in": P_REL, "+": P_ADD, "-": P_ADD,
            "*": P_MUL, "/": P_MUL, "%": P_MUL}

Node = tuple[Any, ...]

int_literals = st.one_of(
    st.integers(0, 100),
    st.integers(0, INT64_MAX),
    st.sampled_from([0, 1, 2, 7, 2**31, 2**32, 2**62, INT64_MAX - 1, INT64_MAX, 3037000499]),
)
double_literals = st.one_of(
    st.floats(min_value=0.0, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 0.5, 1.0, 2.5, 1e300, 9007199254740993.0, 9.223372036854776e18]),
)


uint_literals = st.one_of(
    st.integers(0, 100),
    st.integers(0, UINT64_MAX),
    st.sampled_from([0, 1, 2**32, 2**63 - 1, 2**63, 2**64 - 2, UINT64_MAX, 4294967296]),
)


def _leaf(kind: str) -> st.SearchStrategy[Node]:
    if kind == "uint":
        return st.builds(lambda n, h: ("lit", "uint", expr.UInt(n), int_text(n, h) + "u"),
                         uint_literals, st.booleans())
    if kind == "int":
        return st.builds(lambda n, h: ("lit", "int", n, int_text(n, h)),
                         int_literals, st.booleans())
    if kind == "double":
        return double_literals.map(lambda x: ("lit", "double", x, double_text(x)))
    if kind == "string":
        return string_literal().map(lambda tv: ("lit", "string", tv[1], tv[0]))
    return st.booleans().map(lambda b: ("lit", "bool", b, "true" if b else "false"))


_CACHE: dict[tuple[str, int], st.SearchStrategy[Node]] = {}


def typed(kind: str, depth: int = 3) -> st.SearchStrategy[Node]:
    """typed generates an expression tree whose CEL type is ``kind``."""
    key = (kind, depth)
    if key in _CACHE:
        return _CACHE[key]
    leaf = _leaf(kind)
    if depth == 0:
        _CACHE[key] = leaf
        return leaf
    sub: Callable[[str], st.SearchStrategy[Node]] = lambda k: typed(k, depth - 1)  # noqa: E731
    options: list[st.SearchStrategy[Node]] = [leaf]
    cond = st.tuples(st.just("cond"), st.just(kind), sub("bool"), sub(kind), sub(kind))
    options.append(cond)
    if kind == "int":
        options += [
            st.tuples(st.just("bin"), st.sampled_from(["+", "-", "*", "/", "%"]),
                      sub("int"), sub("int")),
            st.tuples(st.just("neg"), sub("int")),
            st.tuples(st.just("call"), st.just("size"), sub("string")),
            st.tuples(st.just("call"), st.just("int"), sub("double")),
            st.tuples(st.just("call"), st.just("int"), sub("uint")),
        ]
    elif kind == "uint":
        options += [
            st.tuples(st.just("bin"), st.sampled_from(["+", "-", "*", "/", "%"]),
                      sub("uint"), sub("uint")),
            st.tuples(st.just("neg"), sub("uint")),
            st.tuples(st.just("call"), st.just("uint"), sub("int")),
        ]
    elif kind == "double":
        options += [
            st.tuples(st.just("bin"), st.sampled_from(["+", "-", "*", "/"]),
                      sub("double"), sub("double")),
            st.tuples(st.just("neg"), sub("double")),
            st.tuples(st.just("call"), st.just("double"), sub("int")),
            st.tuples(st.just("call"), st.just("double"), sub("uint")),
        ]
    elif kind == "string":
        options += [
            st.tuples(st.just("bin"), st.just("+"), sub("string"), sub("string")),
            st.tuples(st.just("call"), st.just("string"), sub("int")),
            st.tuples(st.just("call"), st.just("string"), sub("uint")),
        ]
    else:
        comparable = st.sampled_from([("int", "int"), ("double", "double"), ("int", "double"),
                                      ("double", "int"), ("string", "string"), ("bool", "bool"),
                                      ("uint", "uint"), ("uint", "int"), ("int", "uint"),
                                      ("uint", "double")])
        rel = st.sampled_from(["<", "<=", ">", ">=", "==", "!="])
        options += [
            comparable.flatmap(lambda ab: st.tuples(st.just("bin"), rel, sub(ab[0]), sub(ab[1]))),
            st.tuples(st.just("bin"), st.sampled_from(["&&", "||"]), sub("bool"), sub("bool")),
            st.tuples(st.just("not"), sub("bool")),
            st.tuples(st.just("method"), st.sampled_from(["contains", "startsWith", "endsWith"]),
                      sub("string"), sub("string")),
            st.tuples(st.just("in"), sub("int"), st.lists(sub("int"), max_size=3)),
        ]
    strategy = st.one_of(*options)
    _CACHE[key] = strategy
    return strategy


def prec(node: Node) -> int:
    tag = node[0]
    if tag in ("lit", "call", "method"):
        return P_MEMBER
    if tag in ("neg", "not"):
        return P_UNARY
    if tag == "cond":
        return P_COND
    if tag == "in":
        return P_REL
    return BIN_PREC[node[1]]


def render(node: Node, minimal: bool) -> str:
    """render writes ``node`` as CEL source, fully or minimally parenthesised."""

    def child(n: Node, need: int) -> str:
        text = render(n, minimal)
        if n[0] != "lit" and (not minimal or prec(n) < need):
            return f"({text})"
        return text

    tag = node[0]
    if tag == "lit":
        return str(node[3])
    if tag == "neg":
        if node[1][:2] == ("lit", "uint"):
            # "-0u" reads as one (negative) uint literal under the langdef lexis; keep it unary.
            return f"-({render(node[1], minimal)})"
        return "-" + child(node[1], P_MEMBER)
    if tag == "not":
        return "!" + child(node[1], P_MEMBER)
    if tag == "cond":
        return f"{child(node[2], P_OR)} ? {child(node[3], P_OR)} : {child(node[4], P_COND)}"
    if tag == "call":
        return f"{node[1]}({render(node[2], minimal)})"
    if tag == "method":
        return f"{child(node[2], P_MEMBER)}.{node[1]}({render(node[3], minimal)})"
    if tag == "in":
        items = ", ".join(render(n, minimal) for n in node[2])
        return f"{child(node[1], P_REL + 1)} in [{items}]"
    p = BIN_PREC[node[1]]
    return f"{child(node[2], p)} {node[1]} {child(node[3], p + 1)}"


def _int(v: int) -> Any:
    return v if INT64_MIN <= v <= INT64_MAX else ERR


def _uint(v: int) -> Any:
    return expr.UInt(v) if 0 <= v <= UINT64_MAX else ERR


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _fdiv(a: float, b: float) -> float:
    if b == 0.0:
        if a == 0.0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def reference(node: Node) -> Any:
    """reference evaluates a typed tree with CEL semantics; ERR for a runtime error."""
    tag = node[0]
    if tag == "lit":
        return node[2]
    if tag == "neg":
        v = reference(node[1])
        if v is ERR or v is EITHER:
            return v
        if type(v) is expr.UInt:
            return ERR  # no unary minus on uint
        return -v if type(v) is float else _int(-v)
    if tag == "not":
        v = reference(node[1])
        return v if v is ERR or v is EITHER else not v
    if tag == "cond":
        c = reference(node[2])
        if c is ERR or c is EITHER:
            return c
        return reference(node[3] if c else node[4])
    if tag == "call":
        v = reference(node[2])
        if v is ERR or v is EITHER:
            return v
        if node[1] == "size":
            return len(v)
        if node[1] == "double":
            return float(v)
        if node[1] == "string":
            return str(int(v))
        if node[1] == "uint":
            return _uint(v)
        if type(v) is expr.UInt:
            return _int(int(v))
        # int(double): truncate toward zero; the range is the open interval (min, max)
        if math.isnan(v) or not (-(2.0**63) < v < 2.0**63):
            return ERR
        return int(v)
    if tag == "method":
        s, t = reference(node[2]), reference(node[3])
        if s is ERR or t is ERR:
            return ERR
        if s is EITHER or t is EITHER:
            return EITHER
        return {"contains": t in s, "startsWith": s.startswith(t),
                "endsWith": s.endswith(t)}[node[1]]
    if tag == "in":
        x = reference(node[1])
        items = [reference(n) for n in node[2]]
        if x is ERR or ERR in items:
            return ERR
        if x is EITHER or EITHER in items:
            return EITHER
        return any(x == i for i in items)
    op, left, right = node[1], node[2], node[3]
    if op in ("&&", "||"):
        a, b = reference(left), reference(right)
        absorbing = op == "||"  # true absorbs for ||, false for &&
        if a is absorbing or b is absorbing:
            return absorbing
        if a is ERR or b is ERR:
            return ERR
        if a is EITHER or b is EITHER:
            return EITHER
        return not absorbing
    a, b = reference(left), reference(right)
    if a is ERR or b is ERR:
        return ERR
    if a is EITHER or b is EITHER:
        return EITHER
    if op in ("<", "<=", ">", ">=", "==", "!="):
        return _relate(op, a, b)
    if type(a) is str:
        return a + b
    if type(a) is expr.UInt:
        if op in ("/", "%") and b == 0:
            return ERR
        if op == "/":
            return _uint(a // b)
        if op == "%":
            return _uint(a % b)
        return _uint({"+": a + b, "-": a - b, "*": a * b}[op])
    if type(a) is float:
        if op == "/":
            return _fdiv(a, b)
        return {"+": a + b, "-": a - b, "*": a * b}[op]
    if op in ("/", "%") and b == 0:
        return ERR
    if op == "/":
        return _int(_trunc_div(a, b))
    if op == "%":
        if a == INT64_MIN and b == -1:
            return EITHER  # cel-go reports overflow; 0 is also defensible
        return a - b * _trunc_div(a, b)
    return _int({"+": a + b, "-": a - b, "*": a * b}[op])


def _relate(op: str, a: Any, b: Any) -> bool:
    return bool({"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b,
                 "==": a == b, "!=": a != b}[op])


def strictly_equal(actual: Any, want: Any) -> bool:
    if type(actual) is not type(want):
        return False
    if type(want) is float:
        if math.isnan(want):
            return math.isnan(actual)
        return actual == want and math.copysign(1.0, actual) == math.copysign(1.0, want)
    return bool(actual == want)


@given(tree=st.sampled_from(["int", "uint", "double", "string", "bool"]).flatmap(typed),
       minimal=st.booleans())
def test_arithmetic_agrees_with_reference(tree: Node, minimal: bool) -> None:
    source = render(tree, minimal)
    want = reference(tree)
    program = expr.compile(source)
    try:
        got = program.evaluate({})
    except expr.ExprEvalError:
        assert want is ERR or want is EITHER, f"{source!r}: error, reference says {want!r}"
        return
    if want is EITHER:
        return
    assert want is not ERR, f"{source!r}: returned {got!r}, reference says error"
    assert strictly_equal(got, want), f"{source!r}: returned {got!r}, reference says {want!r}"


REFERENCE_TABLE = [
    ("-7 / 2", -3), ("7 / -2", -3), ("-7 % 2", -1), ("7 % -2", 1), ("-3 % 5", -3),
    ("9223372036854775807 + 1", ERR), ("-9223372036854775807 - 2", ERR), ("1 / 0", ERR),
    ("1.0 / 0.0", math.inf), ("-(0.0)", -0.0), ("1 < 1.5", True), ("false && 1 / 0 == 1", False),
    ("1 / 0 == 1 || true", True), ("int(9223372036854775807.0)", ERR), ("size('πέντε')", 5),
]


@pytest.mark.parametrize(("source", "want"), REFERENCE_TABLE)
def test_reference_evaluator_itself(source: str, want: Any) -> None:
    """The reference is code too: check it on hand-made trees with known CEL answers."""
    trees = {
        "-7 / 2": ("bin", "/", ("neg", _lit(7)), _lit(2)),
        "7 / -2": ("bin", "/", _lit(7), ("neg", _lit(2))),
        "-7 % 2": ("bin", "%", ("neg", _lit(7)), _lit(2)),
        "7 % -2": ("bin", "%", _lit(7), ("neg", _lit(2))),
        "-3 % 5": ("bin", "%", ("neg", _lit(3)), _lit(5)),
        "9223372036854775807 + 1": ("bin", "+", _lit(INT64_MAX), _lit(1)),
        "-9223372036854775807 - 2": ("bin", "-", ("neg", _lit(INT64_MAX)), _lit(2)),
        "1 / 0": ("bin", "/", _lit(1), _lit(0)),
        "1.0 / 0.0": ("bin", "/", _dlit(1.0), _dlit(0.0)),
        "-(0.0)": ("neg", _dlit(0.0)),
        "1 < 1.5": ("bin", "<", _lit(1), _dlit(1.5)),
        "false && 1 / 0 == 1": ("bin", "&&", ("lit", "bool", False, "false"),
                                ("bin", "==", ("bin", "/", _lit(1), _lit(0)), _lit(1))),
        "1 / 0 == 1 || true": ("bin", "||",
                               ("bin", "==", ("bin", "/", _lit(1), _lit(0)), _lit(1)),
                               ("lit", "bool", True, "true")),
        "int(9223372036854775807.0)": ("call", "int", _dlit(9223372036854775807.0)),
        "size('πέντε')": ("call", "size", ("lit", "string", "πέντε", "'πέντε'")),
    }
    tree = trees[source]
    got = reference(tree)
    assert got is want if want is ERR else strictly_equal(got, want)
    assert expr.compile(render(tree, minimal=True)) is not None


@pytest.mark.parametrize(("source", "want"), [
    ("18014398509481983 < 18014398509481984.0", True),
    ("18014398509481983u < 18014398509481984.0", True),
    ("18014398509481983 == 18014398509481984.0", False),
    ("18014398509481984.0 > 18014398509481983u", True),
    ("9007199254740993 != 9007199254740992.0", True),
])
def test_mixed_numeric_comparison_is_exact(source: str, want: bool) -> None:
    assert expr.compile(source).evaluate({}) is want


def _lit(n: int) -> Node:
    return ("lit", "int", n, str(n))


def _dlit(x: float) -> Node:
    return ("lit", "double", x, repr(x))


# ---------------------------------------------------------------------------------------------
# (a) Grammar-shaped text, mutations and garbage
# ---------------------------------------------------------------------------------------------

IDENTS = ["a", "b", "x", "event", "data", "_y1"]
SELECTORS = ["a", "b", "name", "data", "user_id", "as", "if", "while", "package"]
FUNCS = ["size", "int", "uint", "double", "string", "bytes", "bool", "dyn", "type"]
METHODS = ["size", "contains", "startsWith", "endsWith", "matches"]
MACROS = ["all", "exists", "exists_one", "filter", "map"]
PATTERNS = ["'a'", "'^[a-z]+$'", "'b.*c'", "''"]


@st.composite
def any_literal(draw: st.DrawFn) -> str:
    choice = draw(st.integers(0, 7))
    if choice == 0:
        return int_text(draw(int_literals), draw(st.booleans()))
    if choice == 1:
        n = draw(st.integers(0, UINT64_MAX))
        return int_text(n, draw(st.booleans())) + draw(st.sampled_from(["u", "U"]))
    if choice == 2:
        return double_text(draw(double_literals))
    if choice == 3:
        return draw(string_literal())[0]
    if choice == 4:
        value = draw(st.text(st.characters(max_codepoint=127, exclude_characters="\r"),
                             max_size=8))
        text, _ = draw(string_literal(value, for_bytes=True))
        return draw(st.sampled_from(["b", "B"])) + text
    return draw(st.sampled_from(["true", "false", "null"]))


def _wrap(text: str) -> str:
    return f"({text})"


def _grammar_expr(depth: int) -> st.SearchStrategy[str]:
    """Well-formed CEL source built production by production (always parenthesised operands)."""
    leaf = st.one_of(any_literal(), st.sampled_from(IDENTS),
                     st.sampled_from(IDENTS).map(lambda i: "." + i))
    if depth == 0:
        return leaf
    e = _grammar_expr(depth - 1)
    var = st.sampled_from(["v", "w"])
    return st.one_of(
        leaf,
        st.tuples(e, st.sampled_from(list(BIN_PREC)), e).map(
            lambda t: f"{_wrap(t[0])} {t[1]} {_wrap(t[2])}"),
        st.tuples(st.sampled_from(["-", "!", "--", "!!"]), e).map(lambda t: t[0] + _wrap(t[1])),
        st.tuples(e, e, e).map(lambda t: f"{_wrap(t[0])} ? {_wrap(t[1])} : {_wrap(t[2])}"),
        st.tuples(e, st.sampled_from(SELECTORS)).map(lambda t: f"{_wrap(t[0])}.{t[1]}"),
        st.tuples(e, e).map(lambda t: f"{_wrap(t[0])}[{t[1]}]"),
        st.tuples(st.lists(e, max_size=4), st.booleans()).map(
            lambda t: "[" + ", ".join(t[0]) + ("," if t[1] and t[0] else "") + "]"),
        st.lists(st.tuples(string_literal(), e), max_size=3, unique_by=lambda kv: kv[0][1]).map(
            lambda kvs: "{" + ", ".join(f"{k[0]}: {v}" for k, v in kvs) + "}"),
        st.tuples(st.sampled_from(FUNCS), e).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(e, st.sampled_from(["contains", "startsWith", "endsWith"]), e).map(
            lambda t: f"{_wrap(t[0])}.{t[1]}({t[2]})"),
        st.tuples(e, st.sampled_from(PATTERNS)).map(lambda t: f"{_wrap(t[0])}.matches({t[1]})"),
        st.tuples(e, st.sampled_from(MACROS), var, e).map(
            lambda t: f"{_wrap(t[0])}.{t[1]}({t[2]}, {t[3]})"),
        st.tuples(e, var, e, e).map(lambda t: f"{_wrap(t[0])}.map({t[1]}, {t[2]}, {t[3]})"),
        st.tuples(st.sampled_from(IDENTS), st.sampled_from(SELECTORS)).map(
            lambda t: f"has({t[0]}.{t[1]})"),
    )


grammar_sources = _grammar_expr(3)


def _grammar_from_lark() -> str | None:
    for mod in ("expr.grammar", "expr._grammar"):
        try:
            module = __import__(mod, fromlist=["GRAMMAR"])
        except ImportError:
            continue
        grammar = getattr(module, "GRAMMAR", None)
        if isinstance(grammar, str):
            return grammar
    return None


def compiles_or_syntax_error(source: str, dialect: str = "cel") -> Any:
    """compiles_or_syntax_error: the program, or None after an ExprSyntaxError."""
    try:
        return expr.compile(source, dialect=dialect)
    except expr.ExprSyntaxError as exc:
        assert exc.line >= 1 and exc.column >= 1
        assert "^" in str(exc)
        return None


@given(source=grammar_sources, dialect=st.sampled_from(["cel", "inngest"]))
def test_grammar_sources_compile(source: str, dialect: str) -> None:
    assert expr.compile(source, dialect=dialect) is not None


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(grammar_sources)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.integers(0, 2))
        if op == 0:
            j = draw(st.integers(i, min(len(text), i + 4)))
            text = text[:i] + text[j:]
        else:
            junk = draw(st.text(st.sampled_from("()[]{}.,?:!-+*/%<>='\"\\ a1u_`\n#r"), min_size=1,
                                max_size=3))
            text = text[:i] + junk + text[i:]
    return text


@given(source=st.one_of(mutated(), st.text(max_size=60)),
       dialect=st.sampled_from(["cel", "inngest"]))
def test_any_text_compiles_or_raises_syntax_error(source: str, dialect: str) -> None:
    compiles_or_syntax_error(source, dialect)


LARK_GRAMMAR = _grammar_from_lark()


def _lark_sources() -> st.SearchStrategy[str]:
    from hypothesis.extra.lark import from_lark
    from lark import Lark

    if LARK_GRAMMAR is None:
        return st.nothing()
    return from_lark(Lark(LARK_GRAMMAR, start="start", parser="lalr"), start="start")


# Hypothesis' from_lark overruns its buffer on most draws from the 8-level precedence grammar
# (about 130 attempts per example, 10-40 s for five), so this check keeps five examples and is
# skipped under CI, where the derandomized run would repeat the same five anyway. The
# hand-written grammar generator above carries the load in both profiles.
@pytest.mark.skipif(LARK_GRAMMAR is None, reason="expr exposes no Lark GRAMMAR string")
@pytest.mark.skipif(bool(os.environ.get("CI")), reason="from_lark is too slow for the CI budget")
@settings(max_examples=5, suppress_health_check=[HealthCheck.filter_too_much,
                                                 HealthCheck.too_slow])
@given(source=_lark_sources(), dialect=st.sampled_from(["cel", "inngest"]))
def test_from_lark_sources_compile_or_raise_syntax_error(source: str, dialect: str) -> None:
    """Sources drawn from expr's own Lark grammar (``expr._grammar.GRAMMAR``)."""
    compiles_or_syntax_error(source, dialect)


HOSTILE = [
    "(" * 5000 + "1" + ")" * 5000,
    "-" * 5000 + "1",
    "!" * 5000 + "true",
    "a" + ".b" * 5000,
    "a" + "[0]" * 5000,
    "[" * 5000 + "]" * 5000,
    "{" * 3000,
    "1" + " + 1" * 5000,
    "f(" * 3000 + ")" * 3000,
    "true ? " * 2000 + "1" + " : 2" * 2000,
    "'" + "a" * 1_000_000 + "'",
    "x" * 100_000,
    "\x00",
    "'\\ud800'",
    "1" * 400,
    "0x" + "f" * 40,
    "a.all(x, " * 500 + "true" + ")" * 500,
]


@pytest.mark.parametrize("source", HOSTILE, ids=range(len(HOSTILE)))
@pytest.mark.parametrize("dialect", ["cel", "inngest"])
def test_hostile_sources_compile_or_raise_syntax_error(source: str, dialect: str) -> None:
    program = compiles_or_syntax_error(source, dialect)
    if program is not None:
        _evaluate_guarded(program, {"a": [1], "x": 1})


# ---------------------------------------------------------------------------------------------
# (c) and (d) Arbitrary activations
# ---------------------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-(2**130), 2**130),
    st.integers(0, UINT64_MAX).map(expr.UInt), st.floats(), st.text(max_size=8),
    st.binary(max_size=8), st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 2**64, -(2**64)]),
)
json_ish = st.recursive(
    scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=4),
                           st.dictionaries(st.one_of(st.text(max_size=5), st.integers(-3, 3),
                                                     st.booleans()), kids, max_size=4)),
    max_leaves=20,
)


def deep(depth: int, as_map: bool) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"a": value, "b": 1} if as_map else [value, 1]
    return value


deep_values = st.builds(deep, st.integers(50, 1000), st.booleans())
values = st.one_of(json_ish, deep_values)
activations = st.fixed_dictionaries(
    {"a": values, "b": values, "x": values,
     "event": st.fixed_dictionaries({"data": values, "name": values})},
    optional={"data": values, "_y1": values},
)

DEEP_PROGRAMS = [
    "a == b", "a != a", "[a] == [b]", "{'k': a} == {'k': b}", "a in [b, x]", "size(a)",
    "string(a)", "a + b", "a.a.a.a", "a[0][0]", "type(a) == type(b)", "a.exists(v, v == b)",
    "a.map(v, [v, v])", "event.data.a + '-' + event.name", "dyn(a) < dyn(b)", "int(a)",
    "a.filter(v, v != null)", "has(a.a)", "x ? a : b", "a || b", "a && b", "!a", "-a",
    "a * b", "a / b", "a % b", "a - b", "bytes(a)", "double(a)", "uint(a)", "bool(a)",
    "a.contains(b)", "a.matches('^a+$')", "size(event.data) > 0",
]


def _evaluate_guarded(program: Any, activation: dict[str, Any]) -> None:
    """Evaluate; an ExprEvalError is an allowed outcome, any other exception fails the test."""
    with contextlib.suppress(expr.ExprEvalError):
        program.evaluate(activation)


@given(source=st.one_of(grammar_sources, st.sampled_from(DEEP_PROGRAMS)),
       activation=activations)
def test_cel_evaluation_raises_only_expr_eval_error(source: str,
                                                    activation: dict[str, Any]) -> None:
    _evaluate_guarded(expr.compile(source), activation)


@given(source=st.one_of(grammar_sources, st.sampled_from(DEEP_PROGRAMS)),
       activation=activations)
def test_inngest_evaluation_raises_only_expr_eval_error(source: str,
                                                        activation: dict[str, Any]) -> None:
    """The inngest dialect documents one raise: a CEL error reaching the top (``-null``)."""
    _evaluate_guarded(expr.compile(source, dialect="inngest"), activation)


# (d) Key, condition and priority expressions as users write them. In the inngest dialect, data
# can only be missing, null or of an unexpected type here, never make an operator fail on its own
# (no arithmetic, no ordering of data, no macros over data): such programs never raise.
paths = st.tuples(st.sampled_from(["event", "event", "a", "b", "x", "async"]),
                  st.lists(st.sampled_from(["data", "user_id", "a", "b", "name", "user"]),
                           min_size=1, max_size=3)).map(lambda t: ".".join([t[0], *t[1]]))
str_lits = string_literal().map(lambda tv: tv[0])


@st.composite
def key_exprs(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        alternatives = draw(st.lists(paths, min_size=1, max_size=3))
        tail = [draw(str_lits)] if draw(st.booleans()) else []
        return " || ".join(alternatives + tail)
    n = draw(st.integers(1, 5))
    first_is_path = draw(st.booleans())
    items = [draw(paths) if (i % 2 == 0) == first_is_path else draw(str_lits) for i in range(n)]
    return " + ".join(items)


def _conds(depth: int) -> st.SearchStrategy[str]:
    comparisons = st.one_of(
        st.tuples(key_exprs(), st.sampled_from(["==", "!="]), key_exprs()).map(
            lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
        st.tuples(paths, st.lists(str_lits, max_size=3)).map(
            lambda t: f"{t[0]} in [{', '.join(t[1])}]"),
        paths.map(lambda p: f"size({p}) > 0"),
    )
    base = st.one_of(comparisons, comparisons.map(lambda c: f"!({c})"), paths)
    if depth == 0:
        return base
    sub = _conds(depth - 1)
    return st.one_of(
        base,
        st.tuples(sub, st.sampled_from(["&&", "||"]), sub).map(
            lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
    )


conds = _conds(2)
priorities = st.recursive(
    st.integers(-600, 600).map(str),
    lambda inner: st.tuples(conds, st.integers(-600, 600), inner).map(
        lambda t: f"{t[0]} ? {t[1]} : {t[2]}"),
    max_leaves=4,
)
user_exprs = st.one_of(
    key_exprs(), conds, priorities,
    st.tuples(conds, key_exprs(), key_exprs()).map(lambda t: f"({t[0]}) ? ({t[1]}) : ({t[2]})"),
)


@given(source=user_exprs, activation=activations)
def test_inngest_user_expressions_never_raise(source: str, activation: dict[str, Any]) -> None:
    program = expr.compile(source, dialect="inngest")
    program.evaluate(activation)


@pytest.mark.parametrize("source", DEEP_PROGRAMS)
@pytest.mark.parametrize("as_map", [False, True])
def test_deep_data_is_handled(source: str, as_map: bool) -> None:
    """A 20,000-deep value must not blow the Python stack in either dialect."""
    activation = {"a": deep(20_000, as_map), "b": deep(20_000, as_map), "x": True,
                  "event": {"data": deep(20_000, as_map), "name": "n"}}
    _evaluate_guarded(expr.compile(source), activation)
    _evaluate_guarded(expr.compile(source, dialect="inngest"), activation)


def test_generators_produce_what_they_claim() -> None:
    """The generators are code too: spot-check a few fixed draws by hand."""
    assert render(("bin", "-", _lit(1), ("bin", "-", _lit(2), _lit(3))), True) == "1 - (2 - 3)"
    assert render(("bin", "-", ("bin", "-", _lit(1), _lit(2)), _lit(3)), True) == "1 - 2 - 3"
    assert render(("bin", "*", ("bin", "+", _lit(1), _lit(2)), _lit(3)), True) == "(1 + 2) * 3"
    assert render(("neg", ("bin", "+", _lit(1), _lit(2))), True) == "-(1 + 2)"
    assert _escape("é", 2, "'") == "\\u00e9"
    assert _escape("'", 0, "'") == "\\'"


# ---------------------------------------------------------------------------------------------
# (e) Differential check against cel-expr-python, when installed (dev-only oracle)
# ---------------------------------------------------------------------------------------------

try:
    from cel_expr_python import cel as _cel  # type: ignore[import-untyped,import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - optional
    _cel = None

_ORACLE_SKIP = object()


def _oracle(source: str) -> Any:
    """_oracle: cel-expr-python's scalar result, ERR for an error, _ORACLE_SKIP otherwise."""
    assert _cel is not None
    try:
        value = _cel.NewEnv().compile(source, disable_check=True).eval()
    except Exception:
        return ERR
    kind, raw = value.type().name().lower(), value.value()
    if kind == "error":
        return ERR
    if kind == "uint":
        return expr.UInt(raw)
    if kind == "bytes":
        return bytes(raw)
    return raw if kind in ("int", "double", "string", "bool", "null") else _ORACLE_SKIP


_DOUBLE_LITERAL = re.compile(r"\d\.\d|\d[eE]|double\(")
_RELATION = re.compile(r"[<>]|==|!=")


def _known_difference(source: str) -> bool:
    # cel-cpp's parser drops pairs of '!!' and '--' (so "!!''" is ''), where expr applies each
    # operator (an error on a string); 'in' with a list or map as the map key errs there only;
    # cel-cpp compares int/uint with double through a lossy double, expr exactly.
    if "!!" in source or "--" in source or " in " in source:
        return True
    return bool(_DOUBLE_LITERAL.search(source) and _RELATION.search(source))


@pytest.mark.skipif(_cel is None, reason="cel-expr-python (optional bench extra) not installed")
@given(source=st.one_of(
    grammar_sources,
    st.tuples(st.sampled_from(["int", "uint", "double", "string", "bool"]).flatmap(typed),
              st.booleans()).map(lambda t: render(t[0], t[1])),
))
def test_agrees_with_cel_expr_python(source: str) -> None:
    if _known_difference(source):
        return
    want = _oracle(source)
    if want is _ORACLE_SKIP:
        return
    try:
        got = expr.compile(source).evaluate({})
    except expr.ExprError:
        assert want is ERR, f"{source!r}: error, cel-expr-python says {want!r}"
        return
    assert want is not ERR, f"{source!r}: returned {got!r}, cel-expr-python says error"
    assert strictly_equal(got, want), f"{source!r}: returned {got!r}, cel-expr-python {want!r}"
