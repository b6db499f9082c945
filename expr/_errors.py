"""Error types of the ``expr`` package.

Promise: ``compile`` raises only :class:`ExprSyntaxError` (or :class:`ExprError` for a bad
argument such as an unknown dialect) and ``evaluate`` raises only :class:`ExprEvalError`.
"""

from __future__ import annotations

__all__ = ["ExprError", "ExprEvalError", "ExprSyntaxError"]


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
