"""Error types of the ``expr`` package.

Promise: ``compile`` raises only :class:`ExprSyntaxError` (or :class:`ExprError` for a bad
argument such as an unknown dialect) and ``evaluate`` raises only :class:`ExprEvalError`.
"""

from __future__ import annotations

__all__ = ["ExprError", "ExprEvalError", "ExprSyntaxError", "ExprTypeError"]


class ExprError(Exception):
    """Base class of every error raised by ``expr``."""


class ExprSyntaxError(ExprError):
    """The source text is not a valid expression (or exceeds a limit).

    ``line`` and ``column`` are 1-based and count code points; ``str(err)`` quotes the offending
    line with a caret under the column.
    """

    def __init__(self, message: str, source: str, line: int, column: int) -> None:
        self.reason = message
        self.source = source
        self.line = line
        self.column = column
        super().__init__(_render(message, source, line, column))


class ExprTypeError(ExprError):
    """The expression is well-formed but does not type-check (``expr.check``).

    ``reason``, ``line`` and ``column`` (1-based, in code points) describe the first error in
    source order, worded as cel-go words it (``found no matching overload for '_+_' applied to
    '(int, string)'``); ``errors`` holds every error as ``(line, column, message)``, in source
    order. ``str(err)`` quotes each error's line with a caret under its column.
    """

    def __init__(self, errors: list[tuple[int, int, str]], source: str) -> None:
        if not errors:
            raise ValueError("ExprTypeError needs at least one error")
        self.errors = tuple(errors)
        self.source = source
        self.line, self.column, self.reason = errors[0]
        super().__init__("\n".join(_render(m, source, ln, col) for ln, col, m in errors))


class ExprEvalError(ExprError):
    """A CEL runtime error: no such key, no matching overload, division by zero, overflow..."""


def _render(message: str, source: str, line: int, column: int) -> str:
    lines = source.split("\n")
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    text = text.replace("\r", " ")
    caret = column
    if len(text) > 160:  # keep the quote readable for very long lines
        start = max(0, column - 80)
        text = text[start : start + 160]
        caret -= start
    pad = "".join("\t" if ch == "\t" else " " for ch in text[: max(caret - 1, 0)])
    return f"{message} (line {line}, column {column})\n  {text}\n  {pad}^"


def position(source: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a 0-based character offset in ``source``."""
    offset = max(0, min(offset, len(source)))
    line = source.count("\n", 0, offset) + 1
    start = source.rfind("\n", 0, offset) + 1
    return line, offset - start + 1


def syntax_error_at(message: str, source: str, offset: int) -> ExprSyntaxError:
    """Build an :class:`ExprSyntaxError` for the 0-based character ``offset``."""
    line, column = position(source, offset)
    return ExprSyntaxError(message, source, line, column)
