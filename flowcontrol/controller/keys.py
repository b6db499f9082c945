"""Key, priority and filter expressions evaluated with the platform's rules (spec 1.2).

Expressions are compiled once in the ``inngest`` dialect and evaluated against
``{"event": event}``, where the event is in the platform's shape (``name``, ``data``,
``user``, ``id``, ``ts``). As the platform decodes JSON into Go values, every number inside
``data`` and ``user`` is a float (``as_go_json``), so ``event.data.n`` is ``42.0`` and its key
is ``"42"``, the same as the string ``"42"``.

A result that is missing, null or ``false`` is the platform's "false"; an evaluation error
is reported separately, because each mechanism treats the two differently:

==================  ===============  ===========================  ====================
mechanism           no expression    result false / missing       evaluation error
==================  ===============  ===========================  ====================
concurrency key     (no key)         ``"false"``                  ``"false"``
throttle key        function-wide    ``"false"``                  ``"false"``
rate limit key      function-wide    not rate limited             event refused
debounce key        function-wide    ``"false"``                  ``"<invalid>"``
batch key           ``"default"``    ``"false"``                  event refused
singleton key       function-wide    not a singleton              not a singleton
priority factor     0                0 (not an int)               0
==================  ===============  ===========================  ====================

Non-string results are stringified like Go's ``%v`` (``expr.go_format``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import expr

__all__ = [
    "ERROR",
    "FALSE",
    "CompiledExpr",
    "as_go_json",
    "make_activation",
    "priority_factor",
]

FALSE: Final = "false"
DIALECT: Final = "inngest"


class _Error:
    """The marker for "the expression failed to evaluate"."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ERROR"


ERROR: Final = _Error()


def as_go_json(value: Any) -> Any:
    """Return ``value`` with every int (not bool) made a float, as Go's JSON decoding does."""
    t = type(value)
    if t is int:
        return float(value)
    if t is dict:
        if not value:
            return value
        return {k: v if type(v) is str else as_go_json(v) for k, v in value.items()}
    if t is list:
        return [v if type(v) is str else as_go_json(v) for v in value]
    return value


def make_activation(event: Mapping[str, Any]) -> dict[str, Any]:
    """The activation the platform evaluates expressions against: ``{"event": ...}``.

    ``event`` is a normalised event (``name``, ``data``, ``id``, ``ts`` in ms, ``user``?).
    """
    ev: dict[str, Any] = {
        "name": event.get("name", ""),
        "data": as_go_json(event.get("data") or {}),
        "id": event.get("id", ""),
        "ts": float(event.get("ts") or 0),
        "user": as_go_json(event.get("user") or {}),
    }
    if "v" in event:
        ev["v"] = event["v"]
    return {"event": ev}


class CompiledExpr:
    """One expression compiled once; ``value`` evaluates, ``key`` stringifies.

    ``constant`` holds the value of an expression that reads nothing (a literal key such
    as ``'"gpu-cluster"'``), evaluated once at compile time.
    """

    __slots__ = ("_program", "constant", "constant_key", "is_constant", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self._program = expr.compile(source, dialect=DIALECT)
        self.is_constant = False
        self.constant: Any = None
        self.constant_key = ""
        refs = getattr(self._program, "references", None)
        if refs is not None and not refs:
            v = self.value({"event": {}})
            if v is not ERROR:
                self.constant_key = self.key({"event": {}})
                self.is_constant = True
                self.constant = v

    def value(self, activation: Mapping[str, Any]) -> Any:
        """The result, ``False`` for missing/null, or ``ERROR`` if evaluation fails."""
        if self.is_constant:
            return self.constant
        try:
            v = self._program.evaluate(activation)
        except Exception:  # any evaluation failure is the platform's "error" case
            return ERROR
        if v is None:
            return False
        return v

    def key(self, activation: Mapping[str, Any], on_error: str = FALSE) -> str:
        """The key string: ``"false"`` for missing/false, ``on_error`` when it fails."""
        v = self.value(activation)
        if type(v) is str:
            return v
        if v is ERROR:
            return on_error
        if v is False:
            return FALSE
        try:
            return str(expr.go_format(v))
        except Exception:
            return on_error

    def optional_key(self, activation: Mapping[str, Any]) -> str | _Error | None:
        """The key string, ``None`` when the result is false/missing, or ``ERROR``."""
        v = self.value(activation)
        if type(v) is str:
            return v
        if v is ERROR or v is False:
            return None if v is False else ERROR
        try:
            return str(expr.go_format(v))
        except Exception:
            return ERROR

    def is_true(self, activation: Mapping[str, Any]) -> bool:
        """Whether the result is exactly boolean ``true`` (batch ``if``, triggers)."""
        return self.value(activation) is True


def priority_factor(
    prog: CompiledExpr | None, activation: Mapping[str, Any], low: int, high: int
) -> int:
    """The run's priority factor in seconds: an int result clamped to ``low..high``, else 0."""
    if prog is None:
        return 0
    v = prog.value(activation)
    if type(v) is not int:  # bool, float, string, missing and errors all give 0
        return 0
    if v < low:
        return low
    if v > high:
        return high
    return v
