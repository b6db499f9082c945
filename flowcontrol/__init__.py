"""flowcontrol: deterministic flow-control state machines with an injected clock.

Concurrency, throttle, rate limit, debounce, priority, singleton and event
batching as the Inngest platform applies them to function runs, with no I/O
and no wall clock: time is an integer count of nanoseconds from ``clock=``.
"""

from __future__ import annotations

from flowcontrol._time import (
    Clock,
    DurationError,
    ManualClock,
    format_duration,
    parse_duration,
    parse_duration_strict,
)

__all__ = [
    "Clock",
    "DurationError",
    "ManualClock",
    "format_duration",
    "parse_duration",
    "parse_duration_strict",
]
