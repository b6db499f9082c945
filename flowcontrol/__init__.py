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
from flowcontrol.batch import Added, AddOutcome, Batch, Batcher, FlushReason
from flowcontrol.concurrency import (
    Acquired,
    Concurrency,
    ConcurrencyConstraint,
    ConcurrencyUsage,
    Refused,
    UnknownFunctionError,
)
from flowcontrol.controller import FlowControl, FunctionController, UnknownRunError
from flowcontrol.debounce import Debounce, DebounceCancelled, DebounceOutcome, Fired, Pushed
from flowcontrol.gcra import GcraDecision, RateLimit, Throttle
from flowcontrol.priority import PriorityQueue, QueuedItem, item_score
from flowcontrol.singleton import Singleton, SingletonSkipped, SingletonStarted

__all__ = [
    "Acquired",
    "AddOutcome",
    "Added",
    "Batch",
    "Batcher",
    "Clock",
    "Concurrency",
    "ConcurrencyConstraint",
    "ConcurrencyUsage",
    "Debounce",
    "DebounceCancelled",
    "DebounceOutcome",
    "DurationError",
    "Fired",
    "FlowControl",
    "FlushReason",
    "FunctionController",
    "GcraDecision",
    "ManualClock",
    "PriorityQueue",
    "Pushed",
    "QueuedItem",
    "RateLimit",
    "Refused",
    "Singleton",
    "SingletonSkipped",
    "SingletonStarted",
    "Throttle",
    "UnknownFunctionError",
    "UnknownRunError",
    "format_duration",
    "item_score",
    "parse_duration",
    "parse_duration_strict",
]
