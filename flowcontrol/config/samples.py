"""Expressions evaluated on sample events (``flowcontrol validate --events SAMPLE.jsonl``).

For each function, the sample events its triggers accept are run through every key
expression and the priority expression, the way the platform evaluates them (against
``{"event": event}`` in the inngest dialect). Findings are warnings: a key that is missing
for every sample (the platform then buckets everything under ``"false"`` or skips the
limit), a key that gives a non-string, an expression that fails, a priority that gives no
integer or one outside the documented range, and no matching sample at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from flowcontrol.config import expressions
from flowcontrol.config.diagnostics import Diagnostic
from flowcontrol.config.model import FunctionConfig, Trigger
from flowcontrol.config.source import Node
from flowcontrol.config.validate import Entry

__all__ = ["as_platform_event", "check_samples", "matches_trigger"]

PRIORITY_BOUND = 600
_MISSING_MEANS = {
    "rateLimit": "the rate limit is skipped for every sample",
    "singleton": "no run is a singleton",
    "idempotency": "idempotency is skipped for every sample",
}


def _program(source: str) -> Any:
    return expressions.compile_in(Node("string", source, None, None), source).program


def _truthy(value: Any) -> bool:
    return value not in (False, None, "", 0) and not (isinstance(value, float) and value == 0.0)


def matches_trigger(trigger: Trigger, event: dict[str, Any]) -> bool:
    """True when ``event`` fires ``trigger`` (name, ``*`` wildcard suffix, and expression)."""
    if trigger.event is None:
        return False
    name = event.get("name")
    if not isinstance(name, str):
        return False
    pattern = trigger.event
    if pattern.endswith("*"):
        if not name.startswith(pattern[:-1]):
            return False
    elif name != pattern:
        return False
    if trigger.expression is None:
        return True
    program = _program(trigger.expression)
    if program is None:
        return True
    try:
        return _truthy(program.evaluate({"event": event}))
    except Exception:  # an expression that fails does not match
        return False


def as_platform_event(value: Any) -> Any:
    """The event as the platform's evaluator sees it: JSON numbers become doubles (Go
    ``float64``), so ``event.data.priority`` is ``10.0``, not ``10``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, dict):
        return {k: as_platform_event(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_platform_event(v) for v in value]
    return value


def check_samples(entry: Entry, fn: FunctionConfig, events: Sequence[dict[str, Any]],
                  ) -> list[Diagnostic]:
    """Warnings from evaluating ``fn``'s expressions on the sample events it receives."""
    events = [as_platform_event(e) for e in events]
    from flowcontrol.config.lint import _at, key_fields, unreadable

    out: list[Diagnostic] = []

    def add(code: str, message: str, *keys: str | int) -> None:
        path, node = _at(entry, *keys)
        out.append(Diagnostic.make(code, message, path=path, file=entry.file,
                                   line=node.line if node else None,
                                   column=node.column if node else None))

    mine = [e for e in events if any(matches_trigger(t, e) for t in fn.triggers)]
    if not mine:
        if fn.events and not unreadable(entry, ("triggers",)):
            add("FC223", f"none of the {len(events)} sample events triggers {fn.id!r} "
                f"(events: {', '.join(fn.events)})", "triggers")
        return out
    for mech, keys, src in key_fields(fn, entry.node):
        program = _program(src)
        if program is None:
            continue
        missing = 0
        odd: list[str] = []
        values: list[Any] = []
        for i, event in enumerate(mine):
            try:
                value = program.evaluate({"event": event})
            except Exception as exc:
                add("FC221", f"{mech} key fails on sample event {i + 1}: "
                    f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", *keys)
                break
            if value is False or value is None:
                missing += 1
                continue
            values.append(value)
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                odd.append(repr(value))
        _compare_kinds(add, f"{mech} key", src, values, keys)
        if missing == len(mine):
            means = _MISSING_MEANS.get(mech, 'every run shares the one key "false"')
            add("FC220", f"{mech} key {src!r} is missing (false) for all {len(mine)} sample "
                f"events: {means}", *keys)
        elif odd:
            add("FC224", f"{mech} key {src!r} gives non-string values on samples "
                f"({', '.join(odd[:3])}); they are stringified Go-style", *keys)
    if fn.priority is not None and fn.priority.run is not None:
        program = _program(fn.priority.run)
        if program is not None:
            values = []
            for i, event in enumerate(mine):
                try:
                    value = program.evaluate({"event": event})
                except Exception as exc:
                    add("FC221", f"priority.run fails on sample event {i + 1}: {exc}",
                        "priority", "run")
                    break
                values.append(value)
                if not isinstance(value, int) or isinstance(value, bool):
                    add("FC222", f"priority.run gives {value!r} for sample event {i + 1}, not "
                        "an integer: the platform uses factor 0", "priority", "run")
                    break
                if abs(value) > PRIORITY_BOUND:
                    add("FC222", f"priority.run gives {value} for sample event {i + 1}: "
                        f"clamped to {PRIORITY_BOUND if value > 0 else -PRIORITY_BOUND}",
                        "priority", "run")
                    break
            _compare_kinds(add, "priority.run", fn.priority.run, values, ("priority", "run"))
    return out


def _compare_kinds(add: Callable[..., None], what: str, source: str, values: list[Any],
                   keys: tuple[str | int, ...]) -> None:
    """FC227: the expression's checked type beside the kinds of value the samples produced,
    when they differ (a ``dyn`` type fits every kind; missing values are left out)."""
    from flowcontrol.config.lint import checked_type

    ctype = checked_type(source)
    if ctype is None or ctype == "dyn" or not values:
        return
    kinds = sorted({expressions.value_kind(v) for v in values})
    if kinds != [expressions.type_kind(ctype)]:
        why = (" (the platform's || and && return an operand, JS-like, not a bool)"
               if ctype == "bool" and ("||" in source or "&&" in source) else "")
        add("FC227", f"{what} checks to type {ctype}, but on the samples it gave "
            f"{', '.join(kinds)}{why}", *keys)
