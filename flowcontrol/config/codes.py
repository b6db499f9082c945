"""The diagnostic code table: every code the validator and linter emit, in one place.

Codes are stable: a code keeps its meaning forever, new checks get new codes.
``FC0xx`` are file-level failures (exit 2), ``FC1xx`` errors (exit 1), ``FC2xx``
warnings (exit 0, or 1 with ``--strict``). The README's table is generated from
``CODES`` (``python -m flowcontrol validate --list-codes``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = ["CODES", "Severity", "severity_of"]


class Severity(StrEnum):
    """How bad a diagnostic is."""

    #: The file cannot be read or parsed at all.
    FATAL = "fatal"
    #: The platform would refuse the config, or it breaks a documented range.
    ERROR = "error"
    #: Valid, but it probably does not do what its author thinks.
    WARNING = "warning"


CODES: Final[dict[str, tuple[Severity, str]]] = {
    # -- file level
    "FC001": (Severity.FATAL, "file cannot be read"),
    "FC002": (Severity.FATAL, "file cannot be parsed (syntax error)"),
    # -- document shape and types
    "FC101": (Severity.ERROR, "value has the wrong type"),
    "FC102": (Severity.ERROR, "unknown key"),
    "FC103": (Severity.ERROR, "required key missing"),
    "FC104": (Severity.ERROR, "duplicate key"),
    "FC105": (Severity.ERROR, "invalid duration string"),
    "FC106": (Severity.ERROR, "value out of the allowed range"),
    "FC107": (Severity.ERROR, "expression does not compile"),
    "FC108": (Severity.ERROR, "value is not one of the allowed choices"),
    "FC109": (Severity.ERROR, "the document is not a function, a list or a registration payload"),
    "FC110": (Severity.ERROR, "function id or name is empty"),
    "FC111": (Severity.ERROR, "two functions share an id"),
    "FC112": (Severity.ERROR, "the same setting is given under two names"),
    "FC113": (Severity.ERROR, "expression does not type-check (the platform checks it at "
                              "registration)"),
    # -- platform rules (pkg/inngest Function.Validate) and documented ranges
    "FC120": (Severity.ERROR, "more than two concurrency constraints"),
    "FC121": (Severity.ERROR, "env/account-scoped concurrency needs a key"),
    "FC122": (Severity.ERROR, "concurrency limit is negative"),
    "FC123": (Severity.ERROR, "two concurrency constraints with the same scope and key"),
    "FC124": (Severity.ERROR, "more than one run (fn) concurrency limit"),
    "FC125": (Severity.ERROR, "run (fn) concurrency limit not above 0"),
    "FC126": (Severity.ERROR, "run (fn) concurrency scope other than fn"),
    "FC130": (Severity.ERROR, "throttle period outside 1s..7d or not whole seconds"),
    "FC131": (Severity.ERROR, "throttle limit below 1"),
    "FC140": (Severity.ERROR, "rate limit must be greater than 0"),
    "FC141": (Severity.ERROR, "rate limit period outside 1s..24h"),
    "FC150": (Severity.ERROR, "debounce period outside 1s..7d or not whole seconds"),
    "FC151": (Severity.ERROR, "debounce timeout is not a positive duration"),
    "FC160": (Severity.ERROR, "batch size cannot be smaller than 2"),
    "FC161": (Severity.ERROR, "batch timeout is invalid or below 1s"),
    "FC170": (Severity.ERROR, "batching and cancellation are mutually exclusive"),
    "FC171": (Severity.ERROR, "batching and debouncing are mutually exclusive"),
    "FC172": (Severity.ERROR, "batching and singletons are mutually exclusive"),
    "FC173": (Severity.ERROR, "priority.run and batching together"),
    "FC180": (Severity.ERROR, "priority value outside the documented range -600..600"),
    "FC190": (Severity.ERROR, "more than five cancellations"),
    "FC191": (Severity.ERROR, "cancellation expression uses a function the platform forbids"),
    "FC192": (Severity.ERROR, "more than ten triggers"),
    "FC193": (Severity.ERROR, "trigger needs exactly one of event or cron"),
    "FC194": (Severity.ERROR, "invalid step"),
    "FC195": (Severity.ERROR, "retries outside 0..20"),
    "FC196": (Severity.ERROR, "the same trigger (or cron schedule) is given twice"),
    # -- warnings: interactions and pitfalls
    "FC201": (Severity.WARNING, "a batch counts under its first event's concurrency (or "
                                "throttle) key"),
    "FC202": (Severity.WARNING, "batched events bypass the rate limit and idempotency"),
    "FC203": (Severity.WARNING, "priority without a limit that builds a backlog has no effect"),
    "FC204": (Severity.WARNING, "debounce without timeout can postpone a run forever"),
    "FC205": (Severity.WARNING, "rate limit admits only limit/10+1 at once"),
    "FC206": (Severity.WARNING, "throttle outpaces the function's concurrency limit"),
    "FC207": (Severity.WARNING, "key expression result is not a string"),
    "FC208": (Severity.WARNING, "shared concurrency key declared with different limits"),
    "FC209": (Severity.WARNING, "shared concurrency keys written differently do not share"),
    "FC210": (Severity.WARNING, "singleton with concurrency: use with caution"),
    "FC211": (Severity.WARNING, "rate limit period is truncated to whole seconds"),
    "FC212": (Severity.WARNING, "debounce timeout not longer than the period"),
    "FC213": (Severity.WARNING, "concurrency limit 0 on a keyed constraint"),
    "FC214": (Severity.WARNING, "idempotency replaces the rate limit"),
    "FC215": (Severity.WARNING, "priority reads event data directly (JSON numbers are doubles)"),
    "FC216": (Severity.WARNING, "expression reads a variable that is never bound there"),
    "FC217": (Severity.WARNING, "rate limit drops events before they reach the debounce"),
    "FC218": (Severity.WARNING, "concurrency counts steps, and sleeping runs hold no slot"),
    "FC219": (Severity.WARNING, "a run limit at or below a step limit: the step limit never binds"),
    "FC230": (Severity.WARNING, "a run limit held through long sleeps starves the queue"),
    "FC229": (Severity.WARNING, "singleton without mode (the platform uses skip)"),
    "FC225": (Severity.WARNING, "expression does not type-check (only parsed at registration: "
                                "it fails at run time)"),
    "FC226": (Severity.WARNING, "priority expression's type is not int (factor 0)"),
    "FC227": (Severity.WARNING, "sample values differ in kind from the expression's checked type"),
    "FC228": (Severity.WARNING, "filter expression's type is not bool"),
    # -- warnings from sample events (--events)
    "FC220": (Severity.WARNING, "key expression is missing for every sample event"),
    "FC221": (Severity.WARNING, "expression fails on a sample event"),
    "FC222": (Severity.WARNING, "priority expression gives no integer on sample events"),
    "FC223": (Severity.WARNING, "no sample event matches the function's triggers"),
    "FC224": (Severity.WARNING, "key expression gives a non-string value on sample events"),
}
"""code -> (severity, short title)."""


def severity_of(code: str) -> Severity:
    """Return the severity of ``code`` (a ``KeyError`` names an unknown code)."""
    return CODES[code][0]
