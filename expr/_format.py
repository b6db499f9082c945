"""Go-compatible text renderings of values.

Promise: :func:`go_format` renders a value exactly as Go's ``fmt.Sprintf("%v", v)`` renders the
equivalent Go value after Inngest's JSON mapping (``42`` -> ``"42"``, ``9.1`` -> ``"9.1"``,
``1e6`` -> ``"1e+06"``, ``True`` -> ``"true"``, ``None`` -> ``"<nil>"``, lists as ``[a b]``,
maps as ``map[k:v]`` with keys sorted the way Go's fmt sorts them, bytes as ``[104 105]``).
:func:`format_double` is Go's ``strconv.FormatFloat(f, 'g', -1, 64)``, which CEL's
``string(double)`` also uses. Both are iterative; a cyclic value raises :class:`ExprEvalError`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ._errors import ExprEvalError
from ._values import BOOL, BYTES, DOUBLE, INT, LIST, MAP, NULL, STRING, TYPE, UINT, kind

__all__ = ["format_double", "go_format"]


def format_double(f: float) -> str:
    """Shortest round-trip decimal, Go ``%g`` style: exponent form when exp < -4 or exp >= 6."""
    return _format_float(f, 6)


def _format_float(f: float, eprec: int) -> str:
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "-0" if math.copysign(1.0, f) < 0 else "0"
    text = repr(f)
    sign = ""
    if text[0] == "-":
        sign = "-"
        text = text[1:]
    mantissa, _, exp_text = text.partition("e")
    exp = int(exp_text) if exp_text else 0
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    # decimal point position relative to the start of `digits`
    lead = len(whole + frac) - len((whole + frac).lstrip("0"))
    dp = len(whole) - lead + exp
    digits = digits.rstrip("0") or "0"
    x = dp - 1
    if x < -4 or x >= eprec:
        tail = "." + digits[1:] if len(digits) > 1 else ""
        return f"{sign}{digits[0]}{tail}e{'-' if x < 0 else '+'}{abs(x):02d}"
    if dp <= 0:
        return f"{sign}0.{'0' * -dp}{digits}"
    if dp >= len(digits):
        return sign + digits + "0" * (dp - len(digits))
    return f"{sign}{digits[:dp]}.{digits[dp:]}"


def go_float(f: float) -> str:
    """Go ``%v`` of a float64 (shortest ``%g``; exponent form when exp < -4 or exp >= 6)."""
    return _format_float(f, 6)


def go_format(value: object, *, ints_as_float: bool = False) -> str:
    """Go ``fmt.Sprintf("%v", value)`` of a value in the CEL/JSON value model.

    An ``int`` prints as a Go ``int64`` (``12345678``). Inngest decodes event JSON with Go's
    ``encoding/json``, where every number is a ``float64`` (``1.2345678e+07``): pass
    ``ints_as_float=True`` to format ``int`` values (not ``UInt``, not ``bool``) that way, for key
    parity with data that came from JSON.
    """
    k = kind(value)
    if k == STRING:
        return str(value)
    if k not in (LIST, MAP):
        return _scalar(value, k, ints_as_float)
    out: list[str] = []
    # Work stack of items: either a value to render or a literal string to emit.
    on_path: set[int] = set()
    stack: list[tuple[int, Any]] = [(0, value)]
    while stack:
        op, item = stack.pop()
        if op == 1:
            out.append(item)
            continue
        if op == 2:
            on_path.discard(item)
            continue
        k = kind(item)
        if k in (LIST, MAP):
            if id(item) in on_path:
                raise ExprEvalError("cannot format a cyclic value")
            on_path.add(id(item))
            todo: list[tuple[int, Any]] = [(1, "[" if k == LIST else "map[")]
            if k == LIST:
                for i, elem in enumerate(item):
                    if i:
                        todo.append((1, " "))
                    todo.append((0, elem))
            else:
                for i, (key, elem) in enumerate(_sorted_items(item)):
                    if i:
                        todo.append((1, " "))
                    todo.append((0, key))
                    todo.append((1, ":"))
                    todo.append((0, elem))
            todo.append((1, "]"))
            todo.append((2, id(item)))
            stack.extend(reversed(todo))
        elif k == STRING:
            out.append(str(item))
        else:
            out.append(_scalar(item, k, ints_as_float))
    return "".join(out)


def _scalar(value: Any, k: int, ints_as_float: bool = False) -> str:
    if k == NULL:
        return "<nil>"
    if k == BOOL:
        return "true" if value else "false"
    if k == INT and ints_as_float and -(2**1023) < value < 2**1023:
        return _format_float(float(value), 6)
    if k in (INT, UINT):
        return str(int(value))
    if k == DOUBLE:
        return _format_float(float(value), 6)
    if k == BYTES:
        return "[" + " ".join(str(b) for b in bytes(value)) + "]"
    if k == TYPE or type(value).__module__ == "expr._timeval":
        return str(value)
    return f"<{type(value).__name__}>"


def _sorted_items(m: Mapping[Any, Any]) -> list[tuple[Any, Any]]:
    """Map entries in Go fmt's key order: nil < bool < numbers < strings (within kind, natural)."""
    rank = {NULL: 0, BOOL: 1, INT: 2, UINT: 2, DOUBLE: 2, STRING: 3}

    def key(item: tuple[Any, Any]) -> tuple[int, Any]:
        kk = kind(item[0])
        r = rank.get(kk, 4)
        if r == 4:
            return (r, id(item[0]))
        if r in (0, 1):
            return (r, bool(item[0]))
        if kk == DOUBLE and item[0] != item[0]:
            return (r, float("-inf"))
        return (r, item[0])

    return sorted(m.items(), key=key)
