"""Source text -> AST, with hostile-input limits.

Promise: :func:`parse` returns an AST or raises :class:`ExprSyntaxError` with the line and column
of the problem; it never raises anything else and never recurses on the input's nesting (Lark's
LALR parser is iterative and builds our AST bottom-up through inline callbacks; the depth check
is an explicit-stack walk). Limits: ``MAX_SOURCE_LENGTH`` characters and ``MAX_DEPTH`` levels of
AST nesting (``&&``/``||`` chains count once; parentheses do not count).
"""

from __future__ import annotations

import re
from typing import Any, Final

import lark
from lark import Token

from . import _ast as A
from ._errors import ExprSyntaxError, syntax_error_at
from ._grammar import GRAMMAR
from ._values import INT64_MAX, INT64_MIN, UINT64_MAX, UInt

__all__ = ["MAX_DEPTH", "MAX_SOURCE_LENGTH", "parse"]

MAX_SOURCE_LENGTH: Final = 100_000
MAX_DEPTH: Final = 128

RESERVED: Final = frozenset((
    "as", "break", "const", "continue", "else", "for", "function", "if", "import", "let", "loop",
    "package", "namespace", "return", "var", "void", "while",
))
MACROS: Final = {"all": (2,), "exists": (2,), "exists_one": (2,), "map": (2, 3), "filter": (2,)}


class _Problem(Exception):
    """A syntax problem found inside a parser callback, at a source offset."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


_SIMPLE_ESCAPES: Final = {
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
    "\\": "\\", "?": "?", '"': '"', "'": "'", "`": "`",
}
_ESCAPE_RE: Final = re.compile(r"\\(.)", re.S)


def decode_string_token(text: str, pos: int, lenient: bool = False) -> str | bytes:
    """Decode a STRING token (prefixes, quotes, escapes) to ``str`` or ``bytes``.

    ``lenient`` keeps an unknown escape such as ``\\w`` verbatim instead of rejecting it.
    """
    i = 0
    is_bytes = is_raw = False
    if text[i] in "bB":
        is_bytes = True
        i += 1
    if text[i] in "rR":
        is_raw = True
        i += 1
    q = 3 if text.startswith(('"""', "'''"), i) else 1
    body = text[i + q : len(text) - q]
    body_pos = pos + i + q
    if is_raw:
        return body.encode("utf-8", "surrogatepass") if is_bytes else body
    return _unescape(body, body_pos, is_bytes, lenient)


def _unescape(body: str, pos: int, is_bytes: bool, lenient: bool) -> str | bytes:
    out: list[Any] = []  # str pieces, or ints (raw octets) when is_bytes
    i = 0
    n = len(body)
    while i < n:
        j = body.find("\\", i)
        if j < 0:
            out.append(body[i:])
            break
        if j > i:
            out.append(body[i:j])
        if j + 1 >= n:
            raise _Problem("invalid escape sequence at end of string", pos + j)
        c = body[j + 1]
        if c in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[c])
            i = j + 2
            continue
        if c in "xX":
            digits, width = body[j + 2 : j + 4], 2
        elif c == "u":
            digits, width = body[j + 2 : j + 6], 4
        elif c == "U":
            digits, width = body[j + 2 : j + 10], 8
        elif c in "0123":
            digits, width = body[j + 1 : j + 4], 3
        elif lenient:
            out.append("\\" + c)
            i = j + 2
            continue
        else:
            raise _Problem(f"invalid escape sequence '\\{c}'", pos + j)
        base = 8 if c in "0123" else 16
        ok = len(digits) == width and all(
            ch in ("01234567" if base == 8 else "0123456789abcdefABCDEF") for ch in digits
        )
        if not ok:
            raise _Problem(f"invalid escape sequence '\\{c}'", pos + j)
        code = int(digits, base)
        i = j + 1 + width + (0 if base == 8 else 1)
        if is_bytes and (c in "xX" or base == 8):
            out.append(code)
            continue
        if is_bytes and c == "U":
            raise _Problem("\\U escapes are not allowed in bytes literals", pos + j)
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise _Problem(f"invalid code point U+{code:X} in escape", pos + j)
        out.append(chr(code))
    if not is_bytes:
        return "".join(out)
    buf = bytearray()
    for piece in out:
        if isinstance(piece, int):
            buf.append(piece)
        else:
            try:
                buf += piece.encode("utf-8")
            except UnicodeError:
                raise _Problem("bytes literal holds an invalid character", pos) from None
    return bytes(buf)


def decode_number(text: str, pos: int) -> int | float:
    """Decode a NUM token to ``int``, :class:`UInt` or ``float`` (range-checked)."""
    neg = text.startswith("-")
    body = text[1:] if neg else text
    if body[:2] in ("0x", "0X"):
        is_uint = body[-1] in "uU"
        digits = body[2:-1] if is_uint else body[2:]
        value = int(digits, 16)
    elif "." in body or "e" in body or "E" in body:
        f = float(body)
        return -f if neg else f
    else:
        is_uint = body[-1] in "uU"
        value = int(body[:-1] if is_uint else body)
    if is_uint:
        if value > UINT64_MAX:
            raise _Problem("uint literal out of range", pos)
        return UInt(value)
    value = -value if neg else value
    if not INT64_MIN <= value <= INT64_MAX:
        raise _Problem("int literal out of range", pos)
    return value


class _Args(list[A.Node]):
    """Accumulator for comma-separated expression lists."""


class _Builder(lark.Transformer[Token, A.Node]):
    """Inline LALR callbacks: each grammar alias builds one AST node."""

    def __init__(self, lenient_escapes: bool) -> None:
        super().__init__()
        self.lenient = lenient_escapes

    # --- literals -------------------------------------------------------------------------
    def num(self, c: list[Any]) -> A.Node:
        tok: Token = c[0]
        text, pos = str(tok), tok.start_pos or 0
        if text[0] == "-" and text[-1] in "uU":
            # '-1u' is unary minus applied to a uint (a runtime error), as in cel-go
            return A.Unary(pos, "-", A.Lit(pos + 1, decode_number(text[1:], pos + 1)))
        return A.Lit(pos, decode_number(text, pos))

    def string(self, c: list[Any]) -> A.Node:
        tok: Token = c[0]
        pos = tok.start_pos or 0
        return A.Lit(pos, decode_string_token(str(tok), pos, self.lenient))

    def true_(self, c: list[Any]) -> A.Node:
        return A.Lit(c[0].start_pos or 0, True)

    def false_(self, c: list[Any]) -> A.Node:
        return A.Lit(c[0].start_pos or 0, False)

    def null(self, c: list[Any]) -> A.Node:
        return A.Lit(c[0].start_pos or 0, None)

    def list_lit(self, c: list[Any]) -> A.Node:
        items = tuple(c[1]) if len(c) > 1 else ()
        return A.ListLit(c[0].start_pos or 0, items)

    def map_lit(self, c: list[Any]) -> A.Node:
        flat = list(c[1]) if len(c) > 1 else []
        entries = tuple((flat[k], flat[k + 1]) for k in range(0, len(flat), 2))
        return A.MapLit(c[0].start_pos or 0, entries)

    def args(self, c: list[Any]) -> _Args:
        if len(c) == 2 and isinstance(c[0], _Args):
            c[0].append(c[1])
            return c[0]
        return _Args(c)

    def map_inits(self, c: list[Any]) -> _Args:
        if len(c) == 3 and isinstance(c[0], _Args):
            c[0].append(c[1])
            c[0].append(c[2])
            return c[0]
        return _Args(c)

    # --- names, members ---------------------------------------------------------------------
    def ident(self, c: list[Any]) -> A.Node:
        tok: Token = c[0]
        _check_reserved(tok)
        return A.Ident(tok.start_pos or 0, str(tok))

    def root_ident(self, c: list[Any]) -> A.Node:
        tok: Token = c[1]
        _check_reserved(tok)
        return A.Ident(tok.start_pos or 0, str(tok), root=True)

    def select(self, c: list[Any]) -> A.Node:
        name = str(c[2])
        if name.startswith("`"):
            name = name[1:-1]
        return A.Select(c[1].start_pos or 0, c[0], name)

    def index(self, c: list[Any]) -> A.Node:
        return A.Index(c[1].start_pos or 0, c[0], c[2])

    def call(self, c: list[Any]) -> A.Node:
        tok: Token = c[0]
        _check_reserved(tok)
        name = str(tok)
        args = tuple(c[2]) if len(c) > 2 else ()
        pos = c[1].start_pos or 0
        if name == "has" and len(args) == 1:
            arg = args[0]
            if not isinstance(arg, A.Select):
                raise _Problem(
                    "invalid argument to has() macro: expected a field selection",
                    tok.start_pos or 0,
                )
            return A.Has(pos, arg.operand, arg.field)
        return A.Call(pos, name, args)

    def root_call(self, c: list[Any]) -> A.Node:
        tok: Token = c[1]
        _check_reserved(tok)
        args = tuple(c[3]) if len(c) > 3 else ()
        return A.Call(c[2].start_pos or 0, str(tok), args)

    def method(self, c: list[Any]) -> A.Node:
        name = str(c[2])
        args = tuple(c[4]) if len(c) > 4 else ()
        pos = c[3].start_pos or 0
        if name in MACROS and len(args) in MACROS[name]:
            var = args[0]
            if not isinstance(var, A.Ident) or var.root:
                raise _Problem(
                    f"{name}() macro: the first argument must be a simple name",
                    c[2].start_pos or 0,
                )
            if name == "map":
                pred = args[1] if len(args) == 3 else None
                return A.Comprehension(pos, "map", c[0], var.name, pred, args[-1])
            return A.Comprehension(pos, name, c[0], var.name, args[1], None)
        return A.Call(pos, name, args, c[0])

    # --- operators --------------------------------------------------------------------------
    def not_(self, c: list[Any]) -> A.Node:
        return A.Unary(c[0].start_pos or 0, "!", c[1])

    def neg(self, c: list[Any]) -> A.Node:
        return A.Unary(c[0].start_pos or 0, "-", c[1])

    def binary(self, c: list[Any]) -> A.Node:
        return A.Binary(c[1].start_pos or 0, str(c[1]), c[0], c[2])

    def and_(self, c: list[Any]) -> A.Node:
        return _chain(A.And, c)

    def or_(self, c: list[Any]) -> A.Node:
        return _chain(A.Or, c)

    def cond(self, c: list[Any]) -> A.Node:
        return A.Cond(c[1].start_pos or 0, c[0], c[2], c[3])

    def start(self, c: list[Any]) -> A.Node:
        node: A.Node = c[0]
        return node


def _chain(cls: type[A.And] | type[A.Or], c: list[Any]) -> A.Node:
    """Extend an n-ary ``&&``/``||`` chain by one term. Its position is the middle operator's:
    cel-go builds a balanced tree of a chain's operators, rooted there."""
    left, op, right = c
    if isinstance(left, cls):
        terms, ops = (*left.terms, right), (*left.ops, op.start_pos or 0)
    else:
        terms, ops = (left, right), (op.start_pos or 0,)
    return cls(ops[len(ops) // 2], terms, ops)


def _check_reserved(tok: Token) -> None:
    if str(tok) in RESERVED:
        raise _Problem(f"reserved identifier '{tok}'", tok.start_pos or 0)


_PARSERS: dict[bool, lark.Lark] = {}


def _parser(lenient_escapes: bool) -> lark.Lark:
    parser = _PARSERS.get(lenient_escapes)
    if parser is None:
        parser = lark.Lark(
            GRAMMAR, parser="lalr", lexer="contextual", transformer=_Builder(lenient_escapes),
            maybe_placeholders=False, cache=False,
        )
        _PARSERS[lenient_escapes] = parser
    return parser


def parse(source: str, lenient_escapes: bool = False) -> A.Node:
    """Parse ``source`` into an AST, or raise :class:`ExprSyntaxError`.

    ``lenient_escapes`` keeps unknown string escapes verbatim (the ``inngest`` dialect).
    """
    if len(source) > MAX_SOURCE_LENGTH:
        raise syntax_error_at(
            f"expression too long ({len(source)} characters; the limit is {MAX_SOURCE_LENGTH})",
            source, MAX_SOURCE_LENGTH,
        )
    try:
        tree: Any = _parser(lenient_escapes).parse(source)
    except _Problem as p:
        raise syntax_error_at(p.message, source, p.pos) from None
    except lark.exceptions.UnexpectedCharacters as e:
        at: int = e.pos_in_stream or 0
        if at >= len(source):
            message = "unexpected end of input"
        elif source[at] in "'\"" or source[at : at + 3].lstrip("bBrR")[:1] in ("'", '"'):
            message = "unterminated or invalid string literal"
        else:
            message = f"unexpected character {source[at]!r}"
        raise syntax_error_at(message, source, at) from None
    except lark.exceptions.UnexpectedEOF:
        raise syntax_error_at("unexpected end of input", source, len(source)) from None
    except lark.exceptions.UnexpectedToken as e:
        tok = e.token
        if tok.type == "$END":
            raise syntax_error_at("unexpected end of input", source, len(source)) from None
        raise syntax_error_at(
            f"unexpected {_describe(tok)}", source, tok.start_pos or 0
        ) from None
    except lark.exceptions.VisitError as e:
        orig = e.orig_exc
        if isinstance(orig, _Problem):
            raise syntax_error_at(orig.message, source, orig.pos) from None
        raise syntax_error_at(f"invalid expression ({orig})", source, 0) from None
    except lark.exceptions.LarkError as e:
        raise syntax_error_at(f"invalid expression ({e})", source, 0) from None
    except RecursionError:
        raise syntax_error_at("expression nested too deeply", source, 0) from None
    except (ValueError, OverflowError, UnicodeError) as e:
        raise syntax_error_at(f"invalid literal ({e})", source, 0) from None
    node: A.Node = tree
    if len(source) > MAX_DEPTH:  # each level of nesting takes at least one character
        _check_depth(node, source)
    return node


def _describe(tok: Token) -> str:
    text = str(tok)
    if len(text) > 20:
        text = text[:17] + "..."
    return f"{text!r}"


def _check_depth(root: A.Node, source: str) -> None:
    stack: list[tuple[A.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise syntax_error_at(
                f"expression nested too deeply (the limit is {MAX_DEPTH} levels)", source, node.pos
            )
        stack.extend((child, depth + 1) for child in A.children(node))


def raise_syntax(message: str, source: str, pos: int) -> ExprSyntaxError:
    """Build a syntax error (helper for the compiler's own static checks)."""
    return syntax_error_at(message, source, pos)
