"""The bridge from configs to ``expr``: compile and type-check a config expression, place
its errors.

An expression's syntax or type error carries a line and column inside the expression string;
``compile_in`` and ``check_in`` map that onto the document through the string node's
positions. ``check_in`` type-checks in the platform's environment (``expr.check``, inngest
dialect: ``event``, ``async`` and ``vars`` declared as ``map(string, dyn)``) and gives the
result type in cel-go's notation. Calls the platform forbids in cancellation expressions are
found by a small scan that skips string literals.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from flowcontrol.config.source import Node

try:  # expr is a sibling package of this distribution
    import expr as _expr
except ImportError:  # pragma: no cover - only in a broken install
    _expr = None  # type: ignore[assignment]

__all__ = ["DECLARED", "Checked", "Compiled", "available", "calls_in", "check_in",
           "checker_available", "compile_in", "index_of", "math_operators_in", "references",
           "type_kind", "unquoted_hint", "value_kind"]

CANCEL_ALLOWED_CALLS: Final = frozenset({"int", "uint", "double"})
"""Functions the platform's restrictive policy allows in cancellation ``if`` expressions."""


def available() -> bool:
    """True when the ``expr`` package provides ``compile``."""
    return _expr is not None and hasattr(_expr, "compile")


def checker_available() -> bool:
    """True when the ``expr`` package provides the type checker (``check``)."""
    return _expr is not None and hasattr(_expr, "check") and hasattr(_expr, "ExprTypeError")


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


@dataclass(frozen=True, slots=True)
class Checked:
    """A type-checked expression: its cel-go result type, or its first type error and where
    it is (document position). ``type`` and ``error`` are both ``None`` when nothing is known
    (no checker, or the expression does not parse: ``compile_in`` reports that)."""

    type: str | None
    error: str | None = None
    line: int | None = None
    column: int | None = None


@lru_cache(maxsize=4096)
def _check(checker: Any, source: str) -> tuple[str | None, str | None, int, int]:
    """(type, None, 0, 0), or (None, first error, line, column inside ``source``), by
    ``checker`` (the ``expr`` module; part of the cache key, so a replaced one is asked)."""
    try:
        return checker.check(source, dialect="inngest"), None, 0, 0
    except checker.ExprTypeError as exc:
        return None, str(exc.reason), int(exc.line), int(exc.column)
    except Exception:  # a syntax error (reported by compile_in) or a checker failure
        return None, None, 0, 0


def check_in(node: Node, source: str) -> Checked:
    """Type-check ``source`` (the string value of ``node``) as the platform's registration
    does (``expressions.Validate``: cel-go's ``env.Compile``)."""
    if not checker_available():
        return Checked(type=None)
    kind, error, line, column = _check(_expr, source)
    if error is None:
        return Checked(type=kind)
    dline, dcol = node.position_in(index_of(source, line, column))
    return Checked(type=None, error=error, line=dline, column=dcol)


def type_kind(cel_type: str) -> str:
    """The kind of a cel-go type string: ``list(int)`` -> ``list``, ``int`` -> ``int``."""
    return cel_type.split("(", 1)[0].strip()


def value_kind(value: Any) -> str:
    """The cel-go kind of an evaluated value (``string``, ``int``, ``double``, ``bool``,
    ``null_type``, ``list``, ``map``, ``bytes``, ...; the Python type's name otherwise)."""
    if value is None:
        return "null_type"
    if isinstance(value, bool):
        return "bool"
    special = {"UInt": "uint", "Type": "type", "datetime": "timestamp",
               "timedelta": "duration"}.get(type(value).__name__)
    if special is not None:
        return special
    for types, kind in ((str, "string"), (int, "int"), (float, "double"), (bytes, "bytes"),
                        ((list, tuple), "list"), (dict, "map")):
        if isinstance(value, types):
            return kind
    return type(value).__name__


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


_MATH: Final = {"+": "_+_", "*": "_*_", "/": "_/_", "%": "_%_"}
_OPERAND_END: Final = re.compile(r"[\w)\]}.]")


def math_operators_in(source: str) -> list[tuple[str, int]]:
    """Arithmetic operators in ``source`` (cel-go's names: ``_+_``, ``_-_``, ``-_``, ...) with
    their character index; a minus sign that belongs to a number literal (``-1``, ``1e-3``)
    is not one. The platform's restrictive policy refuses them in cancellation ``if``."""
    text = _STRING.sub(lambda m: "x" * len(m.group()), source)  # a string is an operand
    out = []
    for i, ch in enumerate(text):
        if ch in _MATH:
            out.append((_MATH[ch], i))
        elif ch == "-":
            before = text[:i].rstrip()
            after = text[i + 1:].lstrip()
            if re.search(r"(^|[^\w.])[\d.]+[eE]$", text[:i]):
                continue  # the exponent of a number literal
            binary = bool(before) and _OPERAND_END.match(before[-1]) is not None
            if binary:
                out.append(("_-_", i))
            elif not after[:1].isdigit():
                out.append(("-_", i))
    return out


def references(program: Any) -> frozenset[str]:
    """The variable paths a compiled program reads (empty when unknown)."""
    refs = getattr(program, "references", None)
    if isinstance(refs, frozenset | set):
        return frozenset(str(r) for r in refs)
    return frozenset()
