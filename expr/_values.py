"""The CEL value model on native Python values.

Promise: CEL values are plain Python objects (``int``, :class:`UInt`, ``float``, ``str``,
``bytes``, ``bool``, ``None``, ``list``, ``dict``, :class:`Type`); nothing is wrapped on the way in.
This module classifies them (``bool`` is never an int, :class:`UInt` is never an int), and
implements CEL equality (heterogeneous, deep, NaN-aware, iterative so deep data cannot overflow the
Python stack), ordering and map-key lookup. Every helper either returns a value or raises
:class:`~expr._errors.ExprEvalError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ._errors import ExprEvalError

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "UINT64_MAX",
    "BoolKey",
    "Type",
    "UInt",
    "cel_cmp",
    "cel_eq",
    "kind",
    "map_find",
    "type_of",
]

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
UINT64_MAX: Final = 2**64 - 1


class UInt(int):
    """A CEL ``uint`` value: an ``int`` subclass, distinguishable from ``int`` by its type.

    ``UInt(n)`` requires ``0 <= n < 2**64``. Python arithmetic on it returns plain ``int``;
    the evaluator never relies on that.
    """

    __slots__ = ()

    def __new__(cls, value: int = 0) -> UInt:
        v = int(value)
        if v < 0 or v > UINT64_MAX:
            raise ValueError(f"uint out of range: {v}")
        return super().__new__(cls, v)

    def __repr__(self) -> str:
        return f"UInt({int(self)})"

    def __str__(self) -> str:
        return str(int(self))


class Type:
    """A CEL type value (``type(1)``, or the bare identifier ``int``); ``str()`` is its name."""

    __slots__ = ("name",)

    name: str

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "name", name)

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError("Type is immutable")

    def __eq__(self, other: object) -> bool:
        return type(other) is Type and other.name == self.name

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(("cel-type", self.name))

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"Type({self.name!r})"


class BoolKey:
    """A bool map key stored beside an equal int key (``{1: 'a', true: 'b'}``).

    Python dicts cannot hold both ``True`` and ``1``; only in that collision does a CEL map
    literal store its bool key as a ``BoolKey``. ``bool(key)`` and ``str(key)`` give the value
    (``"true"``/``"false"``); map lookups and equality treat it as the bool it stands for.
    """

    __slots__ = ("value",)

    value: bool

    def __init__(self, value: bool) -> None:
        object.__setattr__(self, "value", bool(value))

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError("BoolKey is immutable")

    def __bool__(self) -> bool:
        return self.value

    def __eq__(self, other: object) -> bool:
        return type(other) is BoolKey and other.value == self.value

    def __hash__(self) -> int:
        return hash(("cel-bool-key", self.value))

    def __str__(self) -> str:
        return "true" if self.value else "false"

    def __repr__(self) -> str:
        return f"BoolKey({self.value})"


# Kinds: small ints, cheap to compare.
NULL: Final = 0
BOOL: Final = 1
INT: Final = 2
UINT: Final = 3
DOUBLE: Final = 4
STRING: Final = 5
BYTES: Final = 6
LIST: Final = 7
MAP: Final = 8
TYPE: Final = 9
OTHER: Final = 10

KIND_NAMES: Final = (
    "null_type", "bool", "int", "uint", "double", "string", "bytes", "list", "map", "type",
)
TYPES: Final = {name: Type(name) for name in KIND_NAMES}

_EXACT: Final[dict[type, int]] = {
    type(None): NULL, bool: BOOL, int: INT, UInt: UINT, float: DOUBLE, str: STRING,
    bytes: BYTES, list: LIST, tuple: LIST, dict: MAP, Type: TYPE, BoolKey: BOOL,
}


def kind(value: object) -> int:
    """The CEL kind of a Python value (``OTHER`` for anything outside the value model)."""
    k = _EXACT.get(type(value))
    if k is not None:
        return k
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, UInt):
        return UINT
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return DOUBLE
    if isinstance(value, str):
        return STRING
    if isinstance(value, bytes | bytearray):
        return BYTES
    if isinstance(value, list | tuple):
        return LIST
    if isinstance(value, Mapping):
        return MAP
    return OTHER


_TIME_NAMES: Final = {
    "Timestamp": "google.protobuf.Timestamp",
    "Duration": "google.protobuf.Duration",
}


def type_of(value: object) -> Type:
    """``type(value)`` in CEL; an error for a value outside the value model."""
    k = kind(value)
    if k == OTHER and type(value).__module__ == "expr._timeval":
        return Type(_TIME_NAMES[type(value).__name__])
    if k == OTHER:
        raise ExprEvalError(f"unsupported value of Python type {type(value).__name__}")
    return TYPES[KIND_NAMES[k]]


def _is_num(k: int) -> bool:
    return k in (INT, UINT, DOUBLE)


def _scalar_eq(a: object, ka: int, b: object, kb: int) -> bool:
    if ka == kb:
        if ka == DOUBLE:
            fa: Any = a
            fb: Any = b
            return float(fa) == float(fb)
        if ka == BYTES:
            ba: Any = a
            bb: Any = b
            return bytes(ba) == bytes(bb)
        if ka == OTHER:
            return a is b or (type(a) is type(b) and type(a).__name__ in _TIME_NAMES and a == b)
        if ka == BOOL:
            return bool(a) == bool(b)
        return bool(a == b)
    if _is_num(ka) and _is_num(kb):
        return _num_cmp(a, ka, b, kb) == 0
    return False


_TWO63: Final = 9223372036854775808.0
_TWO64: Final = 18446744073709551616.0


def _num_cmp(a: Any, ka: int, b: Any, kb: int) -> int:
    """Compare numbers of possibly different kinds (-1, 0, 1; 2 = unordered, a NaN).

    Exact on one number line (Python compares ``int`` and ``float`` exactly), with one
    exception the conformance suite pins down: the double ``2.0**63`` (the float64 nearest to
    int64 max) compares equal to ``9223372036854775807``, and ``2.0**64`` to uint64 max, as if
    the double were first converted to the integer type.
    """
    if ka == DOUBLE and kb != DOUBLE:
        r = _num_cmp(b, kb, a, ka)
        return r if r == 2 else -r
    if ka != DOUBLE and kb == DOUBLE:
        y: Any = float(b)
        if y != y:
            return 2
        if y == (_TWO63 if ka == INT else _TWO64):
            y = INT64_MAX if ka == INT else UINT64_MAX
        x: Any = int(a)
    else:
        x, y = a, b
    if x < y:
        return -1
    if x > y:
        return 1
    if x == y:
        return 0
    return 2


def cel_eq(a: object, b: object) -> bool:
    """CEL ``==``: heterogeneous, numeric across int/uint/double, deep for lists and maps.

    Never raises for values in the model; iterative, and cycle-safe (a pair already being
    compared is assumed equal).
    """
    ta = type(a)
    if ta is type(b) and (ta is str or ta is int):
        return bool(a == b)
    stack: list[tuple[object, object]] = [(a, b)]
    seen: set[tuple[int, int]] = set()
    while stack:
        x, y = stack.pop()
        kx = kind(x)
        ky = kind(y)
        if kx == ky and kx in (LIST, MAP):
            cx: Any = x
            cy: Any = y
            if len(cx) != len(cy):
                return False
            key = (id(x), id(y))
            if key in seen:
                continue
            seen.add(key)
            if kx == LIST:
                stack.extend(zip(cx, cy, strict=True))
                continue
            for k, v in cx.items():
                found, other = map_find(cy, k)
                if not found:
                    return False
                stack.append((v, other))
        elif not _scalar_eq(x, kx, y, ky):
            return False
    return True


def cel_cmp(a: object, b: object) -> int:
    """Three-way CEL ordering (-1, 0, 1); 2 means unordered (a NaN is involved).

    Raises ``no matching overload`` for kinds without an ordering or mixed non-numeric kinds.
    """
    ka = kind(a)
    kb = kind(b)
    if ka == kb and ka in (INT, UINT, DOUBLE, STRING, BOOL):
        x: Any = a
        y: Any = b
    elif _is_num(ka) and _is_num(kb):
        return _num_cmp(a, ka, b, kb)
    elif ka == kb == OTHER and type(a) is type(b) and type(a).__name__ in _TIME_NAMES:
        x = a.ns  # type: ignore[attr-defined]
        y = b.ns  # type: ignore[attr-defined]
    elif ka == kb == BYTES:
        x = bytes(a)  # type: ignore[call-overload]
        y = bytes(b)  # type: ignore[call-overload]
    else:
        raise no_overload("ordering", a, b)
    if x < y:
        return -1
    if x > y:
        return 1
    if x == y:
        return 0
    return 2


def map_find(m: Mapping[Any, Any], key: object) -> tuple[bool, Any]:
    """Look ``key`` up in a map with CEL key semantics.

    String keys use the dict directly. Numeric keys match across int/uint/double (``{1u: x}[1.0]``)
    but never a bool, and bool keys match only bools. Other key kinds are never found.
    """
    if type(key) is str:
        try:
            return True, m[key]
        except Exception:
            return False, None
    if type(key) is BoolKey:
        key = key.value
    kk = kind(key)
    if kk == DOUBLE:
        f: Any = key
        if f != f or f in (float("inf"), float("-inf")) or f != int(f):
            return False, None
    elif kk not in (INT, UINT, BOOL, STRING):
        return False, None
    try:
        value = m[key]
    except Exception:
        if kk != BOOL:
            return False, None
        value = _MISSING
    if kk == STRING:
        return True, value
    # The dict matched a Python-equal key; confirm it has a CEL-compatible kind (True == 1!).
    want_bool = kk == BOOL
    if value is not _MISSING:
        for k in m:
            if k == key and type(k) is not BoolKey and (kind(k) == BOOL) == want_bool:
                return True, m[k]
    if want_bool:
        try:
            return True, m[BoolKey(bool(key))]
        except Exception:
            return False, None
    return False, None


_MISSING: Final = object()


def no_overload(op: str, *args: object) -> ExprEvalError:
    """The CEL ``no_matching_overload`` error for ``op`` applied to ``args``."""
    names = ", ".join(_kind_name(a) for a in args)
    return ExprEvalError(f"no matching overload for '{op}' applied to ({names})")


def _kind_name(value: object) -> str:
    k = kind(value)
    if k == OTHER:
        return f"<python {type(value).__name__}>"
    return KIND_NAMES[k]
