"""Function declarations: one record per CEL function, carrying its typed overloads and the
evaluator's implementations.

Promise: a :class:`Function` is what both halves of ``expr`` read: the type checker its overload
signatures, the compiler its implementations (:func:`call_tables` derives the compiler's
name -> arity -> implementation tables). Signatures are written in cel-go's type notation, e.g.
``function("size", size, "(string) -> int", "(list(A)) -> int", members=("(string) -> int",))``;
a member overload lists the receiver as its first argument. Single capital letters are type
parameters. A function without an implementation is declared for the checker only (the
evaluator reports calling it as an evaluation error).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ._types import K_LIST, K_MAP, K_PARAM, K_TYPE, CelType, parse_type

__all__ = ["Function", "Overload", "call_tables", "function", "library"]

Impl = Callable[..., Any]

_SIGNATURE: Final = re.compile(r"\s*\((.*)\)\s*->\s*(.+?)\s*\Z", re.S)


@dataclass(frozen=True, slots=True)
class Overload:
    """One typed overload: argument types (the receiver first for a member), result, parameters."""

    args: tuple[CelType, ...]
    result: CelType
    member: bool
    params: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Function:
    """A CEL function: its overloads (in cel-go's order) and implementations per call style."""

    name: str
    overloads: tuple[Overload, ...]
    impl: Impl | None = None
    method: Impl | None = None


def _params_of(t: CelType, out: list[str]) -> None:
    if t.kind == K_PARAM:
        if t.name not in out:
            out.append(t.name)
    elif t.kind in (K_LIST, K_MAP, K_TYPE):
        for p in t.params:
            _params_of(p, out)


def _split_args(text: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    start = 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    last = text[start:]
    if last.strip() or parts:
        parts.append(last)
    return parts


def overload(signature: str, member: bool) -> Overload:
    """Parse one signature ``"(T1, T2) -> R"`` (``ValueError`` if malformed)."""
    m = _SIGNATURE.match(signature)
    if m is None:
        raise ValueError(f"invalid signature {signature!r}")
    args = tuple(parse_type(a, params=True) for a in _split_args(m.group(1)))
    result = parse_type(m.group(2), params=True)
    names: list[str] = []
    for t in (*args, result):
        _params_of(t, names)
    if member and not args:
        raise ValueError(f"member signature {signature!r} needs a receiver type")
    return Overload(args, result, member, tuple(names))


def function(
    name: str, impl: Impl | None, *signatures: str, method: Impl | None = None,
    members: Iterable[str] = (),
) -> Function:
    """Declare ``name``: global overloads from ``signatures``, member overloads from ``members``
    (receiver first); ``impl`` and ``method`` evaluate the global and the member call."""
    overloads = tuple(overload(s, False) for s in signatures) + tuple(
        overload(s, True) for s in members
    )
    return Function(name, overloads, impl, method)


def library(
    *functions: Function, base: Mapping[str, Function] | None = None,
) -> dict[str, Function]:
    """A name -> :class:`Function` table; a function replaces one of the same name in ``base``."""
    out = dict(base or {})
    for f in functions:
        out[f.name] = f
    return out


def call_tables(
    lib: Mapping[str, Function],
) -> tuple[dict[str, dict[int, Impl]], dict[str, dict[int, Impl]]]:
    """The compiler's tables: (global calls, member calls), each name -> arity -> implementation.

    Operators (names with ``_`` or ``@`` around them) are not callable by name and are left out.
    """
    globals_: dict[str, dict[int, Impl]] = {}
    members: dict[str, dict[int, Impl]] = {}
    for name, f in lib.items():
        if not name[:1].isalpha():
            continue
        for ov in f.overloads:
            if ov.member and f.method is not None:
                members.setdefault(name, {})[len(ov.args) - 1] = f.method
            elif not ov.member and f.impl is not None:
                globals_.setdefault(name, {})[len(ov.args)] = f.impl
    return globals_, members
