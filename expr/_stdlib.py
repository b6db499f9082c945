"""CEL operators and standard functions on native Python values.

Promise: each function implements one CEL overload set exactly (int64/uint64 overflow errors,
truncating ``/`` and ``%``, IEEE doubles, code-point ``size``, strict conversions) and either
returns a value or raises :class:`ExprEvalError`; no other exception escapes for any argument.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, Final

from ._decls import Function, call_tables, function, library
from ._errors import ExprEvalError
from ._format import format_double
from ._regex import search as regex_search
from ._timeval import time_add, time_sub
from ._values import (
    BOOL,
    BYTES,
    DOUBLE,
    INT,
    INT64_MAX,
    INT64_MIN,
    LIST,
    MAP,
    STRING,
    UINT,
    UINT64_MAX,
    UInt,
    cel_cmp,
    cel_eq,
    kind,
    map_find,
    no_overload,
    type_of,
)

__all__ = [
    "BINARY", "FUNCTIONS", "METHODS", "OPERATORS", "STDLIB", "UNARY_OPERATORS", "add", "div", "mod",
    "mul", "neg", "sub",
]

Impl = Callable[..., Any]


def _int(v: int) -> int:
    if INT64_MIN <= v <= INT64_MAX:
        return v
    raise ExprEvalError("return error for overflow: int64 result out of range")


def _uint(v: int) -> UInt:
    if 0 <= v <= UINT64_MAX:
        return UInt(v)
    raise ExprEvalError("return error for overflow: uint64 result out of range")


def add(a: Any, b: Any) -> Any:
    """CEL ``_+_``: numbers of one kind, strings, bytes, lists."""
    ta = type(a)
    if ta is type(b):
        if ta is int:
            return _int(a + b)
        if ta is str or ta is float:
            return a + b
        if ta is list:
            return a + b
    ka, kb = kind(a), kind(b)
    if ka != kb:
        raise no_overload("_+_", a, b)
    if ka == INT:
        return _int(int(a) + int(b))
    if ka == UINT:
        return _uint(int(a) + int(b))
    if ka == DOUBLE:
        return float(a) + float(b)
    if ka == STRING:
        return str(a) + str(b)
    if ka == BYTES:
        return bytes(a) + bytes(b)
    if ka == LIST:
        return [*a, *b]
    r = time_add(a, b)
    if r is not NotImplemented:
        return r
    raise no_overload("_+_", a, b)


def sub(a: Any, b: Any) -> Any:
    """CEL ``_-_`` on int, uint and double."""
    ka, kb = kind(a), kind(b)
    if ka == kb:
        if ka == INT:
            return _int(int(a) - int(b))
        if ka == UINT:
            return _uint(int(a) - int(b))
        if ka == DOUBLE:
            return float(a) - float(b)
    r = time_sub(a, b)
    if r is not NotImplemented:
        return r
    raise no_overload("_-_", a, b)


def mul(a: Any, b: Any) -> Any:
    """CEL ``_*_`` on int, uint and double."""
    ka, kb = kind(a), kind(b)
    if ka == kb:
        if ka == INT:
            return _int(int(a) * int(b))
        if ka == UINT:
            return _uint(int(a) * int(b))
        if ka == DOUBLE:
            return float(a) * float(b)
    raise no_overload("_*_", a, b)


def _trunc_div(x: int, y: int) -> int:
    q = abs(x) // abs(y)
    return q if (x < 0) == (y < 0) else -q


def div(a: Any, b: Any) -> Any:
    """CEL ``_/_``: truncating integer division (zero divisor is an error), IEEE doubles."""
    ka, kb = kind(a), kind(b)
    if ka == kb:
        if ka in (INT, UINT):
            x, y = int(a), int(b)
            if y == 0:
                raise ExprEvalError("divide by zero")
            q = _trunc_div(x, y)
            return _int(q) if ka == INT else _uint(q)
        if ka == DOUBLE:
            x2, y2 = float(a), float(b)
            if y2 == 0.0:
                if x2 != x2 or x2 == 0.0:
                    return math.nan
                sign = math.copysign(1.0, x2) * math.copysign(1.0, y2)
                return math.inf if sign > 0 else -math.inf
            return x2 / y2
    raise no_overload("_/_", a, b)


def mod(a: Any, b: Any) -> Any:
    """CEL ``_%_``: remainder with the sign of the dividend, int and uint only."""
    ka, kb = kind(a), kind(b)
    if ka == kb and (ka in (INT, UINT)):
        x, y = int(a), int(b)
        if y == 0:
            raise ExprEvalError("modulus by zero")
        if ka == INT and x == INT64_MIN and y == -1:
            raise ExprEvalError("return error for overflow: int64 modulus")
        r = x - y * _trunc_div(x, y)
        return r if ka == INT else UInt(r)
    raise no_overload("_%_", a, b)


def neg(a: Any) -> Any:
    """CEL ``-_`` on int and double."""
    k = kind(a)
    if k == INT:
        return _int(-int(a))
    if k == DOUBLE:
        return -float(a)
    raise no_overload("-_", a)


def lnot(a: Any) -> bool:
    """CEL ``!_`` on bool."""
    if type(a) is bool:
        return not a
    if kind(a) == BOOL:
        return not a
    raise no_overload("!_", a)


def eq(a: Any, b: Any) -> bool:
    """CEL ``_==_``."""
    return cel_eq(a, b)


def ne(a: Any, b: Any) -> bool:
    """CEL ``_!=_``."""
    return not cel_eq(a, b)


def lt(a: Any, b: Any) -> bool:
    """CEL ``_<_``."""
    return cel_cmp(a, b) == -1


def le(a: Any, b: Any) -> bool:
    """CEL ``_<=_``."""
    return cel_cmp(a, b) in (-1, 0)


def gt(a: Any, b: Any) -> bool:
    """CEL ``_>_``."""
    return cel_cmp(a, b) == 1


def ge(a: Any, b: Any) -> bool:
    """CEL ``_>=_``."""
    return cel_cmp(a, b) in (1, 0)


def in_(a: Any, b: Any) -> bool:
    """CEL ``@in``: list membership by CEL equality, or map key presence."""
    kb = kind(b)
    if kb == LIST:
        ta = type(a)
        if ta is str:
            return any(type(x) is str and x == a for x in b) or any(
                type(x) is not str and cel_eq(a, x) for x in b
            )
        return any(cel_eq(a, x) for x in b)
    if kb == MAP:
        return map_find(b, a)[0]
    raise no_overload("@in", a, b)


def index(a: Any, i: Any) -> Any:
    """CEL ``_[_]``: list by int/uint/integral double, map by key."""
    ka = kind(a)
    if ka == LIST:
        ki = kind(i)
        if ki in (INT, UINT) or (ki == DOUBLE and math.isfinite(i) and float(i).is_integer()):
            n = int(i)
        else:
            raise no_overload("_[_]", a, i)
        if 0 <= n < len(a):
            return a[n]
        raise ExprEvalError(f"index out of range: {n}")
    if ka == MAP:
        found, value = map_find(a, i)
        if found:
            return value
        raise ExprEvalError(f"no such key: {_show_key(i)}")
    raise no_overload("_[_]", a, i)


def select(a: Any, field: str) -> Any:
    """Field selection ``a.field`` on a map."""
    if kind(a) == MAP:
        found, value = map_find(a, field)
        if found:
            return value
        raise ExprEvalError(f"no such key: '{field}'")
    raise ExprEvalError(f"type '{_kind_label(a)}' does not support field selection")


def has(a: Any, field: str) -> bool:
    """``has(a.field)``: key presence on a map."""
    if kind(a) == MAP:
        return map_find(a, field)[0]
    raise ExprEvalError(f"has(): type '{_kind_label(a)}' does not support field selection")


def _kind_label(a: Any) -> str:
    try:
        return str(type_of(a))
    except ExprEvalError:
        return type(a).__name__


def _show_key(k: Any) -> str:
    if type(k) is str:
        return repr(k)
    return _kind_label(k)


# --- functions -----------------------------------------------------------------------------

def size(a: Any) -> int:
    """``size``: code points of a string, octets of bytes, entries of a list or map."""
    k = kind(a)
    if k in (STRING, BYTES, LIST, MAP):
        return len(a)
    raise no_overload("size", a)


def _strings(name: str, a: Any, b: Any) -> tuple[str, str]:
    if kind(a) == STRING and kind(b) == STRING:
        return str(a), str(b)
    raise no_overload(name, a, b)


def contains(a: Any, b: Any) -> bool:
    """``string.contains(string)``."""
    x, y = _strings("contains", a, b)
    return y in x


def starts_with(a: Any, b: Any) -> bool:
    """``string.startsWith(string)``."""
    x, y = _strings("startsWith", a, b)
    return x.startswith(y)


def ends_with(a: Any, b: Any) -> bool:
    """``string.endsWith(string)``."""
    x, y = _strings("endsWith", a, b)
    return x.endswith(y)


def matches(a: Any, b: Any) -> bool:
    """``matches``: RE2 substring search in linear time (see ``_regex``)."""
    x, y = _strings("matches", a, b)
    return regex_search(y, x)


_INT_RE: Final = re.compile(r"[+-]?[0-9]+\Z")
_UINT_RE: Final = re.compile(r"[0-9]+\Z")
_FLOAT_RE: Final = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)\Z", re.I
)


def to_int(a: Any) -> int:
    """``int()``: from int, uint (range), double (truncate; open range), string (decimal)."""
    k = kind(a)
    if k == INT:
        return int(a)
    if k == UINT:
        if int(a) > INT64_MAX:
            raise ExprEvalError("range error: uint value does not fit in int")
        return int(a)
    if k == DOUBLE:
        f = float(a)
        if not math.isfinite(f) or not (-9223372036854775808.0 < f < 9223372036854775808.0):
            raise ExprEvalError("range error: double value does not fit in int")
        return _int(int(f))
    if k == STRING:
        s = str(a)
        if not _INT_RE.match(s):
            raise ExprEvalError(f"cannot convert string {s[:40]!r} to int")
        v = int(s)
        if not INT64_MIN <= v <= INT64_MAX:
            raise ExprEvalError("range error: string value does not fit in int")
        return v
    raise no_overload("int", a)


def to_uint(a: Any) -> UInt:
    """``uint()``: from uint, int (non-negative), double (truncate; range), string (decimal)."""
    k = kind(a)
    if k == UINT:
        return UInt(int(a))
    if k == INT:
        if int(a) < 0:
            raise ExprEvalError("range error: negative int does not fit in uint")
        return UInt(int(a))
    if k == DOUBLE:
        f = float(a)
        if not math.isfinite(f) or not (-1.0 < f < 18446744073709551616.0):
            raise ExprEvalError("range error: double value does not fit in uint")
        return _uint(int(f))
    if k == STRING:
        s = str(a)
        if not _UINT_RE.match(s):
            raise ExprEvalError(f"cannot convert string {s[:40]!r} to uint")
        return _uint(int(s))
    raise no_overload("uint", a)


def to_double(a: Any) -> float:
    """``double()``: from int, uint, double, string (Go ParseFloat syntax)."""
    k = kind(a)
    if k == DOUBLE:
        return float(a)
    if k in (INT, UINT):
        return float(int(a))
    if k == STRING:
        s = str(a)
        if not _FLOAT_RE.match(s):
            raise ExprEvalError(f"cannot convert string {s[:40]!r} to double")
        return float(s)
    raise no_overload("double", a)


def to_string(a: Any) -> str:
    """``string()``: from string, int, uint, double (Go %g), bool, bytes (valid UTF-8)."""
    k = kind(a)
    if k == STRING:
        return str(a)
    if k in (INT, UINT):
        return str(int(a))
    if k == DOUBLE:
        return format_double(float(a))
    if k == BOOL:
        return "true" if a else "false"
    if k == BYTES:
        try:
            return bytes(a).decode("utf-8")
        except UnicodeDecodeError:
            raise ExprEvalError("invalid UTF-8 in bytes to string conversion") from None
    raise no_overload("string", a)


def to_bytes(a: Any) -> bytes:
    """``bytes()``: from bytes, or a string as UTF-8."""
    k = kind(a)
    if k == BYTES:
        return bytes(a)
    if k == STRING:
        try:
            return str(a).encode("utf-8")
        except UnicodeEncodeError:
            raise ExprEvalError("string holds an unencodable surrogate") from None
    raise no_overload("bytes", a)


_BOOL_STRINGS: Final = {
    "1": True, "t": True, "true": True, "TRUE": True, "True": True,
    "0": False, "f": False, "false": False, "FALSE": False, "False": False,
}


def to_bool(a: Any) -> bool:
    """``bool()``: from bool, or one of the strings Go's ParseBool accepts."""
    k = kind(a)
    if k == BOOL:
        return bool(a)
    if k == STRING:
        v = _BOOL_STRINGS.get(str(a))
        if v is None:
            raise ExprEvalError(f"cannot convert string {str(a)[:40]!r} to bool")
        return v
    raise no_overload("bool", a)


def dyn(a: Any) -> Any:
    """``dyn()``: identity."""
    return a


def to_type(a: Any) -> Any:
    """``type()``: the CEL type value of the argument."""
    return type_of(a)


# --- declarations ----------------------------------------------------------------------------
# cel-go's standard library (common/stdlib/standard.go at cel-go 14f6746a): every function with its
# overloads in cel-go's order, and our implementation where the evaluator has one. The type
# checker reads the signatures, the compiler the implementations (FUNCTIONS, METHODS, BINARY
# below are derived from this one table). The time functions are declared for the checker only:
# the cel dialect's evaluator has no timestamps (calling one is an evaluation error).

_CMP_TYPES = ("bool", "int", "uint", "double", "string", "bytes", "timestamp", "duration")


def _comparison(name: str, impl: Impl) -> Function:
    # cel-go also declares the cross-type numeric overloads (int < double...), disabled by
    # default in its checker; so they are left out here.
    return function(name, impl, *(f"({t}, {t}) -> bool" for t in _CMP_TYPES))


def _timestamp_accessor(name: str, duration_too: bool) -> Function:
    members = ["(timestamp) -> int", "(timestamp, string) -> int"]
    if duration_too:
        members.append("(duration) -> int")
    return function(name, None, members=members)


STDLIB: Final[dict[str, Function]] = library(
    function("_?_:_", None, "(bool, A, A) -> A"),
    function("_&&_", None, "(bool, bool) -> bool"),
    function("_||_", None, "(bool, bool) -> bool"),
    function("!_", lnot, "(bool) -> bool"),
    function("_==_", eq, "(A, A) -> bool"),
    function("_!=_", ne, "(A, A) -> bool"),
    function(
        "_+_", add, "(bytes, bytes) -> bytes", "(double, double) -> double",
        "(duration, duration) -> duration", "(duration, timestamp) -> timestamp",
        "(timestamp, duration) -> timestamp", "(int, int) -> int",
        "(list(A), list(A)) -> list(A)", "(string, string) -> string", "(uint, uint) -> uint",
    ),
    function("_/_", div, "(double, double) -> double", "(int, int) -> int", "(uint, uint) -> uint"),
    function("_%_", mod, "(int, int) -> int", "(uint, uint) -> uint"),
    function("_*_", mul, "(double, double) -> double", "(int, int) -> int", "(uint, uint) -> uint"),
    function("-_", neg, "(double) -> double", "(int) -> int"),
    function(
        "_-_", sub, "(double, double) -> double", "(duration, duration) -> duration",
        "(int, int) -> int", "(timestamp, duration) -> timestamp",
        "(timestamp, timestamp) -> duration", "(uint, uint) -> uint",
    ),
    _comparison("_<_", lt),
    _comparison("_<=_", le),
    _comparison("_>_", gt),
    _comparison("_>=_", ge),
    function("_[_]", index, "(list(A), int) -> A", "(map(A, B), A) -> B"),
    function("@in", in_, "(A, list(A)) -> bool", "(A, map(A, B)) -> bool"),
    function(
        "size", size, "(bytes) -> int", "(list(A)) -> int", "(map(A, B)) -> int",
        "(string) -> int", method=size,
        members=("(bytes) -> int", "(list(A)) -> int", "(map(A, B)) -> int", "(string) -> int"),
    ),
    function("type", to_type, "(A) -> type(A)"),
    function("bool", to_bool, "(bool) -> bool", "(string) -> bool"),
    function("bytes", to_bytes, "(bytes) -> bytes", "(string) -> bytes"),
    function(
        "double", to_double, "(double) -> double", "(int) -> double", "(string) -> double",
        "(uint) -> double",
    ),
    function("duration", None, "(duration) -> duration", "(string) -> duration"),
    function("dyn", dyn, "(A) -> dyn"),
    function(
        "int", to_int, "(int) -> int", "(double) -> int", "(duration) -> int", "(string) -> int",
        "(timestamp) -> int", "(uint) -> int",
    ),
    function(
        "string", to_string, "(string) -> string", "(bool) -> string", "(bytes) -> string",
        "(double) -> string", "(duration) -> string", "(int) -> string",
        "(timestamp) -> string", "(uint) -> string",
    ),
    function("timestamp", None, "(timestamp) -> timestamp", "(int) -> timestamp",
             "(string) -> timestamp"),
    function(
        "uint", to_uint, "(uint) -> uint", "(double) -> uint", "(int) -> uint", "(string) -> uint",
    ),
    function("contains", None, method=contains, members=("(string, string) -> bool",)),
    function("endsWith", None, method=ends_with, members=("(string, string) -> bool",)),
    function("startsWith", None, method=starts_with, members=("(string, string) -> bool",)),
    function("matches", matches, "(string, string) -> bool", method=matches,
             members=("(string, string) -> bool",)),
    _timestamp_accessor("getFullYear", False),
    _timestamp_accessor("getMonth", False),
    _timestamp_accessor("getDayOfYear", False),
    _timestamp_accessor("getDayOfMonth", False),
    _timestamp_accessor("getDate", False),
    _timestamp_accessor("getDayOfWeek", False),
    _timestamp_accessor("getHours", True),
    _timestamp_accessor("getMinutes", True),
    _timestamp_accessor("getSeconds", True),
    _timestamp_accessor("getMilliseconds", True),
)

#: The function behind each operator of the AST (``Binary.op``, ``Unary.op``).
OPERATORS: Final = {
    "+": "_+_", "-": "_-_", "*": "_*_", "/": "_/_", "%": "_%_", "==": "_==_", "!=": "_!=_",
    "<": "_<_", "<=": "_<=_", ">": "_>_", ">=": "_>=_", "in": "@in",
}
UNARY_OPERATORS: Final = {"!": "!_", "-": "-_"}


def _binary(lib: dict[str, Function]) -> dict[str, Impl]:
    out: dict[str, Impl] = {}
    for op, name in OPERATORS.items():
        impl = lib[name].impl
        assert impl is not None
        out[op] = impl
    return out


# name -> {arity: impl}: global calls; name -> {arity (excluding the receiver): impl}: members
FUNCTIONS, METHODS = call_tables(STDLIB)

BINARY: Final[dict[str, Impl]] = _binary(STDLIB)
