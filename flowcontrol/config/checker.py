"""The checker the rules share: it collects diagnostics and reads typed values from nodes.

Each reader (``obj``, ``string``, ``integer``, ``duration``, ``expression``) reports what is
wrong at the node's position (or, for an expression that does not compile, at the position
inside the string) and returns ``None``; rules build config values only from what it returns.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import Final

from flowcontrol.config import expressions
from flowcontrol.config.diagnostics import Diagnostic
from flowcontrol.config.source import Node
from flowcontrol.time import DurationError, format_duration, parse_duration, parse_duration_strict

__all__ = ["ALIASES", "KIND_NAMES", "Checker", "child_path"]

ALIASES: Final = {
    "rate_limit": "rateLimit", "ratelimit": "rateLimit", "batch_events": "batchEvents",
    "batch": "batchEvents", "cancel_on": "cancelOn", "max_size": "maxSize",
    "maxsize": "maxSize", "trigger": "triggers", "event_batch": "batchEvents",
}
KIND_NAMES: Final = {
    "object": "an object", "array": "a list", "string": "a string", "int": "an integer",
    "float": "a decimal number", "bool": "a boolean", "null": "null", "other": "a date/time",
}
_PLAIN_KEY: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def child_path(path: str, key: str | int) -> str:
    """``$.a`` + ``b`` -> ``$.a.b``; ints become ``[i]``; odd keys are quoted."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if key.isascii() and (key.isidentifier() or _PLAIN_KEY.fullmatch(key)):
        return f"{path}.{key}"
    return f"{path}[{key!r}]"


def fmt_ns(ns: int) -> str:
    """Go-style duration text (``24h0m0s``)."""
    return format_duration(ns)


class Checker:
    """Collects diagnostics for one document."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.diagnostics: list[Diagnostic] = []
        self.errors = 0

    # -- reporting ---------------------------------------------------------------------

    def add(self, code: str, message: str, path: str, node: Node | None,
            at: tuple[int | None, int | None] | None = None) -> None:
        line, column = at if at is not None else (
            (node.line, node.column) if node is not None else (None, None))
        d = Diagnostic.make(code, message, path=path, line=line, column=column, file=self.file)
        if d.is_error:
            self.errors += 1
        self.diagnostics.append(d)

    def type_error(self, node: Node, path: str, expected: str) -> None:
        self.add("FC101", f"expected {expected}, got {KIND_NAMES.get(node.kind, node.kind)}",
                 path, node)

    # -- structure ---------------------------------------------------------------------

    def obj(self, node: Node, path: str, known: tuple[str, ...], what: str,
            ) -> dict[str, Node] | None:
        """Check an object: its type, duplicate keys and unknown keys."""
        if node.kind != "object":
            self.type_error(node, path, f"an object for {what}")
            return None
        for key, line, col in node.duplicates:
            self.add("FC104", f"key {key!r} appears more than once; the last one wins",
                     child_path(path, key), None, at=(line, col))
        members: dict[str, Node] = node.value
        for key, child in members.items():
            if key in known:
                continue
            hint = ALIASES.get(key) or ALIASES.get(key.lower())
            if hint not in known:
                close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
                hint = close[0] if close else None
            msg = f"unknown key {key!r} in {what}"
            msg += f"; did you mean {hint!r}?" if hint else f" (allowed: {', '.join(known)})"
            self.add("FC102", msg, child_path(path, key), child,
                     at=(child.key_line or child.line, child.key_column or child.column))
        return members

    def required(self, members: dict[str, Node], key: str, parent: Node, path: str,
                 what: str, message: str | None = None) -> Node | None:
        child = members.get(key)
        if child is None:
            self.add("FC103", message or f"{what} needs {key!r}", child_path(path, key), parent)
        return child

    def required_int(self, members: dict[str, Node], key: str, parent: Node, path: str,
                     what: str, label: str, minimum: int, code: str,
                     message: Callable[[int], str]) -> int | None:
        """The integer ``members[key]`` (required by ``what``, named ``label``); one below
        ``minimum`` is reported as ``code`` with ``message(value)`` and still returned."""
        child = self.required(members, key, parent, path, what)
        if child is None:
            return None
        cpath = child_path(path, key)
        value = self.integer(child, cpath, label)
        if value is not None and value < minimum:
            self.add(code, message(value), cpath, child)
        return value

    def positive_duration(self, members: dict[str, Node], key: str, path: str, what: str,
                          code: str, message: Callable[[str], str]) -> int | None:
        """The optional duration ``members[key]`` (``what`` names it); one <= 0 is reported
        as ``code`` with ``message(text)`` and still returned."""
        node = members.get(key)
        if node is None:
            return None
        cpath = child_path(path, key)
        value = self.duration(node, cpath, what)
        if value is not None and value <= 0:
            self.add(code, message(node.value), cpath, node)
        return value

    def string(self, node: Node, path: str, what: str, *, empty_ok: bool = False,
               ) -> str | None:
        if node.kind != "string":
            self.type_error(node, path, f"a string for {what}")
            return None
        if not empty_ok and not node.value.strip():
            self.add("FC110" if what.endswith(("id", "name")) else "FC106",
                     f"{what} must not be empty", path, node)
            return None
        value: str = node.value
        return value

    def integer(self, node: Node, path: str, what: str) -> int | None:
        if node.kind != "int":
            self.type_error(node, path, f"an integer for {what}")
            return None
        value: int = node.value
        return value

    def duration(self, node: Node, path: str, what: str, *, strict: bool = False,
                 message: Callable[[str, str], str] | None = None) -> int | None:
        """Parse a duration string (str2duration, or Go ParseDuration when ``strict``)."""
        if node.kind != "string":
            self.type_error(node, path, f"a duration string such as \"30s\" for {what}")
            return None
        try:
            return (parse_duration_strict if strict else parse_duration)(node.value)
        except DurationError as exc:
            reason = exc.reason
            if strict and re.search(r"\d[dw]\b", node.value):
                reason += "; this field uses Go durations, which have no 'd' or 'w'"
            text = message(node.value, reason) if message else \
                f"invalid duration {node.value!r} for {what}: {reason}"
            self.add("FC105", text, path, node)
            return None

    def expression(self, node: Node, path: str, what: str, prefix: str, *,
                   cancel: bool = False, runtime: str | None = None) -> str | None:
        """Check an expression string; report a compile or type error inside the string.

        Without ``runtime`` the platform type-checks the expression at registration
        (``expressions.Validate``), so a type error is an error (FC113). With it, the
        platform only parses it there: a type error is a warning (FC225) that ends with
        ``runtime``, what happens when it runs."""
        source = self.string(node, path, what)
        if source is None:
            return None
        compiled = expressions.compile_in(node, source)
        if compiled.error is not None:
            self.add("FC107", f"{prefix}: {compiled.error}", path, node,
                     at=(compiled.line, compiled.column))
            return None
        checked = expressions.check_in(node, source)
        if cancel and checked.error is None:  # the platform checks types, then its policy
            for name, index in expressions.calls_in(source):
                if name not in expressions.CANCEL_ALLOWED_CALLS:
                    self.add("FC191", f"{prefix}: {name}() is not allowed in cancellation "
                             "expressions (only comparisons, logic, field access, 'in' and "
                             "int/uint/double)", path, node, at=node.position_in(index))
                    return None
            for name, index in expressions.math_operators_in(source):
                self.add("FC191", f"{prefix}: arithmetic ({name}) is not allowed in "
                         "cancellation expressions (only comparisons, logic, field access, "
                         "'in' and int/uint/double)", path, node, at=node.position_in(index))
                return None
        if checked.error is not None:
            hint = expressions.unquoted_hint(source) \
                if checked.error.startswith("undeclared reference") else ""
            at = (checked.line, checked.column)
            if runtime is None:
                self.add("FC113", f"{prefix}: {checked.error}{hint}", path, node, at=at)
                return None
            self.add("FC225", f"{what} does not type-check: {checked.error}; registration "
                     f"only parses it: {runtime}{hint}", path, node, at=at)
        return source

    def optional_key(self, members: dict[str, Node], path: str, what: str, prefix: str, *,
                     runtime: str | None = None) -> str | None:
        key = members.get("key")
        if key is None or (key.kind == "string" and key.value == ""):
            return None
        return self.expression(key, child_path(path, "key"), f"{what} key", prefix,
                               runtime=runtime)
