"""The bridge from configs to ``expr``: compile a config expression, place its errors.

An expression's syntax error carries a line and column inside the expression string;
``compile_in`` maps that onto the document through the string node's positions. Calls
the platform forbids in cancellation expressions are found by a small scan that skips
string literals.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from flowcontrol.config.source import Node

try:  # expr is a sibling package of this distribution
    import expr as _expr
except ImportError:  # pragma: no cover - only in a broken install
    _expr = None  # type: ignore[assignment]

__all__ = ["DECLARED", "Compiled", "available", "calls_in", "compile_in", "index_of",
           "references", "unquoted_hint"]

CANCEL_ALLOWED_CALLS: Final = frozenset({"int", "uint", "double"})
"""Functions the platform's restrictive policy allows in cancellation ``if`` expressions."""


def available() -> bool:
    """True when the ``expr`` package provides ``compile``."""
    return _expr is not None and hasattr(_expr, "compile")


@dataclass(frozen=True, slots=True)
class Compiled:
    """A compiled expression, or why it does not compile and where (document position)."""

    program: Any
    error: str | None = None
    line: int | None = None
    column: int | None = None


def index_of(source: str, line: int, column: int) -> int:
    """Character index of the 1-based ``line``/``column`` inside ``source``."""
    lines = source.split("\n")
    line = max(1, min(line, len(lines)))
    return sum(len(s) + 1 for s in lines[: line - 1]) + max(column - 1, 0)


def compile_in(node: Node, source: str) -> Compiled:
    """Compile ``source`` (the string value of ``node``) in the inngest dialect."""
    if not available():
        return Compiled(program=None)
    try:
        program = _expr.compile(  # type: ignore[attr-defined,unused-ignore]
            source, dialect="inngest")
    except Exception as exc:  # any failure is a diagnostic, never a crash
        line = getattr(exc, "line", None)
        column = getattr(exc, "column", None)
        message = (getattr(exc, "reason", None) or getattr(exc, "message", None) or str(exc)
                   or type(exc).__name__)
        message = str(message).strip().split("\n")[0]
        if isinstance(line, int) and isinstance(column, int):
            dline, dcol = node.position_in(index_of(source, line, column))
        else:
            dline, dcol = node.line, node.column
        return Compiled(program=None, error=message, line=dline, column=dcol)
    return Compiled(program=program)


_STRING = re.compile(r"""[rR]?(?:'''.*?'''|\"\"\".*?\"\"\"|'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*")""",
                     re.S)
_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def calls_in(source: str) -> list[tuple[str, int]]:
    """Names of functions and macros called in ``source`` with their character index."""
    blanked = _STRING.sub(lambda m: " " * len(m.group()), source)
    return [(m.group(1), m.start(1)) for m in _CALL.finditer(blanked)]


_BARE_WORDS: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*")
DECLARED: Final = frozenset({"event", "async", "vars"})
"""The names the platform's expression environment declares."""


def unquoted_hint(source: str) -> str:
    """A hint for a key written as bare words (``analytics-pulse``, ``openai``), which CEL
    reads as names (and a subtraction), not as the string it looks like; else ``""``."""
    text = source.strip()
    if not _BARE_WORDS.fullmatch(text) or text.split("-")[0] in DECLARED:
        return ""
    reading = " - ".join(text.split("-"))
    what = "a subtraction" if "-" in text else "a variable"
    return (f"; to use the constant key {text!r}, quote it: '\"{text}\"' (unquoted, CEL "
            f"reads it as {reading}, {what})")


def references(program: Any) -> frozenset[str]:
    """The variable paths a compiled program reads (empty when unknown)."""
    refs = getattr(program, "references", None)
    if isinstance(refs, frozenset | set):
        return frozenset(str(r) for r in refs)
    return frozenset()
