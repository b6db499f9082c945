"""CEL types as the type checker sees them, and their text notation.

Promise: :class:`CelType` values are immutable; the primitive types are singletons (compare them
with ``is``). :func:`parse_type` reads cel-go's notation (``int``, ``list(string)``,
``map(string, dyn)``, ``type(int)``...) and raises ``ValueError`` for anything else;
:func:`format_type` writes the notation cel-go uses in its error messages (the null type is
``null``) and :func:`render_type` the one :func:`expr.check` returns (the null type is
``null_type``, its CEL name). Type parameters (``A``, ``B``, ``_var0``...) exist only inside the
checker and in function signatures.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

__all__ = [
    "ANY",
    "BOOL",
    "BYTES",
    "DOUBLE",
    "DURATION",
    "DYN",
    "ERROR",
    "INT",
    "NULL",
    "STRING",
    "TIMESTAMP",
    "TYPE",
    "UINT",
    "CelType",
    "exact",
    "format_type",
    "ground",
    "list_of",
    "map_of",
    "param",
    "parse_type",
    "render_type",
    "type_of_type",
]

# Kinds (small ints: cheap to compare).
K_DYN: Final = 0
K_ANY: Final = 1
K_ERROR: Final = 2
K_BOOL: Final = 3
K_INT: Final = 4
K_UINT: Final = 5
K_DOUBLE: Final = 6
K_STRING: Final = 7
K_BYTES: Final = 8
K_NULL: Final = 9
K_TIMESTAMP: Final = 10
K_DURATION: Final = 11
K_LIST: Final = 12
K_MAP: Final = 13
K_TYPE: Final = 14
K_PARAM: Final = 15

#: Kinds that are assignable to and from anything (cel-go: dyn, google.protobuf.Any, error).
WILDCARDS: Final = frozenset((K_DYN, K_ANY, K_ERROR))


class CelType(NamedTuple):
    """A CEL type: a kind, a name (the parameter's name for a type parameter) and parameters.

    A named tuple, so two types are equal exactly when they are the same type (cel-go's
    ``IsExactType``: type parameters compare by name).
    """

    kind: int
    name: str
    params: tuple[CelType, ...] = ()

    def __repr__(self) -> str:
        return f"CelType({format_type(self)!r})"

    def __str__(self) -> str:
        return render_type(self)


DYN: Final = CelType(K_DYN, "dyn")
ANY: Final = CelType(K_ANY, "any")
ERROR: Final = CelType(K_ERROR, "!error!")
BOOL: Final = CelType(K_BOOL, "bool")
INT: Final = CelType(K_INT, "int")
UINT: Final = CelType(K_UINT, "uint")
DOUBLE: Final = CelType(K_DOUBLE, "double")
STRING: Final = CelType(K_STRING, "string")
BYTES: Final = CelType(K_BYTES, "bytes")
NULL: Final = CelType(K_NULL, "null")
TIMESTAMP: Final = CelType(K_TIMESTAMP, "timestamp")
DURATION: Final = CelType(K_DURATION, "duration")
TYPE: Final = CelType(K_TYPE, "type")


def list_of(elem: CelType) -> CelType:
    """``list(elem)``."""
    return CelType(K_LIST, "list", (elem,))


def map_of(key: CelType, value: CelType) -> CelType:
    """``map(key, value)``."""
    return CelType(K_MAP, "map", (key, value))


def type_of_type(t: CelType) -> CelType:
    """``type(t)``: the type of the type value ``t``."""
    return CelType(K_TYPE, "type", (t,))


def param(name: str) -> CelType:
    """A type parameter."""
    return CelType(K_PARAM, name)


def exact(a: CelType, b: CelType) -> bool:
    """Whether two types are exactly the same (type parameters by name)."""
    return a == b


def ground(t: CelType) -> bool:
    """Whether ``t`` holds no type parameter."""
    if t.kind == K_PARAM:
        return False
    return all(ground(p) for p in t.params)


def format_type(t: CelType) -> str:
    """cel-go's ``FormatCELType``: the notation of its error messages (``null`` for null)."""
    if not t.params:
        return t.name
    return f"{t.name}({', '.join(format_type(p) for p in t.params)})"


def render_type(t: CelType) -> str:
    """The notation :func:`expr.check` returns: as :func:`format_type`, with ``null_type``."""
    if t.kind == K_NULL:
        return "null_type"
    if not t.params:
        return t.name
    return f"{t.name}({', '.join(render_type(p) for p in t.params)})"


_NAMED: Final[dict[str, CelType]] = {
    "dyn": DYN, "bool": BOOL, "int": INT, "uint": UINT, "double": DOUBLE, "string": STRING,
    "bytes": BYTES, "null_type": NULL, "null": NULL, "timestamp": TIMESTAMP,
    "google.protobuf.Timestamp": TIMESTAMP, "duration": DURATION,
    "google.protobuf.Duration": DURATION, "type": TYPE, "list": list_of(DYN),
    "map": map_of(DYN, DYN),
}
_ARITY: Final = {"list": 1, "map": 2, "type": 1}
_TOKEN: Final = re.compile(r"\s*(?:([A-Za-z_][A-Za-z0-9_.]*)|([(),]))")
_PARAM_NAME: Final = re.compile(r"[A-Z]\Z")


def parse_type(text: str, *, params: bool = False) -> CelType:
    """Parse a type in cel-go's notation; ``params`` admits type parameters (``A``, ``B``).

    Raises ``ValueError`` naming the problem for anything that is not a type.
    """
    if not isinstance(text, str):
        raise ValueError(f"a type must be a string, not {type(text).__name__}")
    tokens: list[str] = []
    pos = 0
    stripped = text.rstrip()
    while pos < len(stripped):
        m = _TOKEN.match(stripped, pos)
        if m is None:
            raise ValueError(f"invalid type {text!r}: unexpected {stripped[pos:].strip()[:1]!r}")
        tokens.append(m.group(1) or m.group(2))
        pos = m.end()
    if not tokens:
        raise ValueError("invalid type '': empty")
    t, end = _parse_at(tokens, 0, text, params)
    if end != len(tokens):
        raise ValueError(f"invalid type {text!r}: unexpected {tokens[end]!r}")
    return t


def _parse_at(tokens: list[str], i: int, text: str, params: bool) -> tuple[CelType, int]:
    name = tokens[i]
    if name in "(),":
        raise ValueError(f"invalid type {text!r}: expected a type name, found {name!r}")
    i += 1
    if i < len(tokens) and tokens[i] == "(":
        want = _ARITY.get(name)
        if want is None:
            problem = "takes no type parameters" if name in _NAMED else "is not a type"
            raise ValueError(f"invalid type {text!r}: {name!r} {problem}")
        args: list[CelType] = []
        i += 1
        while True:
            if i >= len(tokens):
                raise ValueError(f"invalid type {text!r}: missing ')'")
            arg, i = _parse_at(tokens, i, text, params)
            args.append(arg)
            if i < len(tokens) and tokens[i] == ",":
                i += 1
                continue
            if i < len(tokens) and tokens[i] == ")":
                i += 1
                break
            raise ValueError(f"invalid type {text!r}: expected ',' or ')'")
        if len(args) != want:
            raise ValueError(
                f"invalid type {text!r}: {name} takes {want} type parameter(s), not {len(args)}"
            )
        return CelType(_NAMED[name].kind, name, tuple(args)), i
    known = _NAMED.get(name)
    if known is not None:
        return known, i
    if params and _PARAM_NAME.match(name):
        return param(name), i
    raise ValueError(f"invalid type {text!r}: unknown type {name!r}")
