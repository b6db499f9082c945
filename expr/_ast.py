"""The abstract syntax tree the parser produces and the compiler consumes.

Promise: small immutable nodes; ``pos`` is the 0-based offset in the source of the token cel-go
locates the node at (for error messages): a literal's or name's first character, an operator, the
``.`` of a selection, the ``(`` of a call or macro, the ``[`` of an index or list, the ``{`` of a
map, the ``?`` of a conditional. ``&&`` and ``||`` chains are n-ary, macros are
already expanded into :class:`Comprehension` and :class:`Has` nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "And",
    "Binary",
    "Call",
    "Comprehension",
    "Cond",
    "Has",
    "Ident",
    "Index",
    "ListLit",
    "Lit",
    "MapLit",
    "Node",
    "Or",
    "Select",
    "Unary",
    "children",
]


@dataclass(frozen=True, slots=True, eq=False)
class Lit:
    """A literal value (already decoded and range-checked)."""

    pos: int
    value: Any


@dataclass(frozen=True, slots=True, eq=False)
class Ident:
    """A name: a variable, a macro variable or a type name. ``root`` for a leading dot."""

    pos: int
    name: str
    root: bool = False


@dataclass(frozen=True, slots=True, eq=False)
class Select:
    """Field selection ``operand.field`` (a map lookup by string key)."""

    pos: int
    operand: Node
    field: str


@dataclass(frozen=True, slots=True, eq=False)
class Has:
    """The ``has(operand.field)`` presence test."""

    pos: int
    operand: Node
    field: str


@dataclass(frozen=True, slots=True, eq=False)
class Index:
    """Indexing ``operand[index]``."""

    pos: int
    operand: Node
    index: Node


@dataclass(frozen=True, slots=True, eq=False)
class Call:
    """A function call ``name(args)`` or a receiver call ``target.name(args)``."""

    pos: int
    name: str
    args: tuple[Node, ...]
    target: Node | None = None


@dataclass(frozen=True, slots=True, eq=False)
class ListLit:
    """A list literal."""

    pos: int
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True, eq=False)
class MapLit:
    """A map literal."""

    pos: int
    entries: tuple[tuple[Node, Node], ...]


@dataclass(frozen=True, slots=True, eq=False)
class Unary:
    """``!x`` or ``-x``."""

    pos: int
    op: str
    operand: Node


@dataclass(frozen=True, slots=True, eq=False)
class Binary:
    """Arithmetic, comparison and ``in``; ``op`` is the operator text."""

    pos: int
    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True, eq=False)
class And:
    """An n-ary ``&&`` chain; ``ops`` are the offsets of its operators."""

    pos: int
    terms: tuple[Node, ...]
    ops: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class Or:
    """An n-ary ``||`` chain; ``ops`` are the offsets of its operators."""

    pos: int
    terms: tuple[Node, ...]
    ops: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class Cond:
    """``cond ? then : other``."""

    pos: int
    cond: Node
    then: Node
    other: Node


@dataclass(frozen=True, slots=True, eq=False)
class Comprehension:
    """An expanded macro: ``kind`` is all, exists, exists_one, map or filter.

    ``pred`` is the predicate (``None`` for the 2-argument ``map``), ``transform`` the mapped
    expression (``map`` only).
    """

    pos: int
    kind: str
    target: Node
    var: str
    pred: Node | None
    transform: Node | None


Node = (
    Lit | Ident | Select | Has | Index | Call | ListLit | MapLit | Unary | Binary | And | Or | Cond
    | Comprehension
)


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-expressions of ``node`` (for iterative walks)."""
    if isinstance(node, Lit | Ident):
        return ()
    if isinstance(node, Select | Has | Unary):
        return (node.operand,)
    if isinstance(node, Index):
        return (node.operand, node.index)
    if isinstance(node, Call):
        return node.args if node.target is None else (node.target, *node.args)
    if isinstance(node, ListLit):
        return node.items
    if isinstance(node, MapLit):
        return tuple(x for kv in node.entries for x in kv)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, And | Or):
        return node.terms
    if isinstance(node, Cond):
        return (node.cond, node.then, node.other)
    parts = [node.target]
    if node.pred is not None:
        parts.append(node.pred)
    if node.transform is not None:
        parts.append(node.transform)
    return tuple(parts)
