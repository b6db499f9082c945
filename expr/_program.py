"""Compiled programs and the cached ``compile`` entry point.

Promise: ``compile(source, dialect)`` parses, checks limits, and compiles once per
(source, dialect) (an LRU cache; safe to call from several threads: compilation is pure, so a race
at worst compiles twice). A :class:`Program` is immutable and keeps no state between evaluations.

Dialects:

* ``"cel"``: CEL semantics exactly as cel-spec defines them; runtime errors raise
  :class:`ExprEvalError`.
* ``"inngest"``: the semantics Inngest applies to user expressions (see ``_inngest``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, Final

from . import _ast as A
from ._compiler import Compiler, path_of
from ._errors import ExprError, ExprSyntaxError, syntax_error_at
from ._inngest import InngestCompiler
from ._parser import parse
from ._values import TYPES

__all__ = ["DIALECTS", "Program", "compile"]

DIALECTS: Final = ("cel", "inngest")
CACHE_SIZE: Final = 4096


class Program:
    """A compiled expression.

    ``evaluate(activation)`` runs it against a mapping of variable names to values (it is a
    plain attribute holding the compiled closure, so calling it costs a single call).
    ``references`` is the set of variable paths read, e.g. ``{"event.data.user_id"}``.
    """

    __slots__ = ("dialect", "evaluate", "references", "source")

    source: str
    dialect: str
    references: frozenset[str]
    evaluate: Callable[[Mapping[str, Any]], Any]

    def __init__(
        self, source: str, dialect: str, references: frozenset[str],
        evaluate: Callable[[Mapping[str, Any]], Any],
    ) -> None:
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "dialect", dialect)
        object.__setattr__(self, "references", references)
        object.__setattr__(self, "evaluate", evaluate)

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError("Program is immutable")

    def __repr__(self) -> str:
        return f"Program({self.source!r}, dialect={self.dialect!r})"


def compile(source: str, dialect: str = "cel") -> Program:
    """Compile ``source`` in ``dialect`` ("cel" or "inngest"); cached by (source, dialect)."""
    if type(source) is not str:
        if not isinstance(source, str):
            raise ExprError(f"expression source must be a str, not {type(source).__name__}")
        source = str(source)
    if dialect not in DIALECTS:
        raise ExprError(f"unknown dialect {dialect!r}; expected one of {DIALECTS}")
    return _compile(source, dialect)


def compile_uncached(source: str, dialect: str) -> Program:
    """Compile without the cache (for benchmarks of compilation itself)."""
    if type(source) is not str or dialect not in DIALECTS:
        return compile(source, dialect)
    return _build(source, dialect)


@lru_cache(maxsize=CACHE_SIZE)
def _compile(source: str, dialect: str) -> Program:
    return _build(source, dialect)


def _build(source: str, dialect: str) -> Program:
    try:
        node = parse(source, lenient_escapes=dialect == "inngest")
        if dialect == "inngest":
            fn = InngestCompiler().compile_top(node)
        else:
            fn = Compiler().compile_top(node)
        refs = references(node)
    except ExprSyntaxError:
        raise
    except RecursionError:
        raise syntax_error_at("expression too complex to compile", source, 0) from None
    except Exception as e:  # a compiler bug must still surface as an ExprError
        raise syntax_error_at(
            f"cannot compile this expression (internal {type(e).__name__})", source, 0
        ) from None
    return Program(source, dialect, refs, fn)


def references(root: A.Node) -> frozenset[str]:
    """Variable paths read by the expression (macro variables and type names excluded)."""
    out: set[str] = set()
    stack: list[tuple[A.Node, frozenset[str]]] = [(root, frozenset())]
    while stack:
        node, bound = stack.pop()
        path = path_of(node)
        if path is not None:
            head, rest = path
            if (head.name not in bound or head.root) and (rest or head.name not in TYPES):
                out.add(".".join([head.name, *rest]))
            continue
        if isinstance(node, A.Has):
            inner = path_of(node.operand)
            if inner is not None:
                head, rest = inner
                if head.name not in bound or head.root:
                    out.add(".".join([head.name, *rest, node.field]))
                continue
        if isinstance(node, A.Comprehension):
            stack.append((node.target, bound))
            inner_bound = bound | {node.var}
            if node.pred is not None:
                stack.append((node.pred, inner_bound))
            if node.transform is not None:
                stack.append((node.transform, inner_bound))
            continue
        stack.extend((child, bound) for child in A.children(node))
    return frozenset(out)
