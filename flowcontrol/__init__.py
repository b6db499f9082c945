"""flowcontrol: deterministic flow-control state machines with an injected clock.

Concurrency, throttle, rate limit, debounce, priority, singleton and event
batching as the Inngest platform applies them to function runs, with no I/O
and no wall clock: time is an integer count of nanoseconds from ``clock=``.
"""

from __future__ import annotations

from flowcontrol.controller.flowcontrol import FlowControl, FunctionController, UnknownRunError
from flowcontrol.machines.batch import Added, AddOutcome, Batch, Batcher, FlushReason
from flowcontrol.machines.concurrency import (
    Acquired,
    Concurrency,
    ConcurrencyConstraint,
    ConcurrencyUsage,
    Refused,
    UnknownFunctionError,
)
from flowcontrol.machines.debounce import (
    Debounce,
    DebounceCancelled,
    DebounceOutcome,
    Fired,
    Pushed,
)
from flowcontrol.machines.gcra import GcraDecision, RateLimit, Throttle
from flowcontrol.machines.priority import PriorityQueue, QueuedItem, item_score
from flowcontrol.machines.semaphore import (
    RunSemaphore,
    SemaphoreAcquired,
    SemaphoreRefused,
    SemaphoreUsage,
)
from flowcontrol.machines.singleton import Singleton, SingletonSkipped, SingletonStarted
from flowcontrol.time import (
    Clock,
    DurationError,
    ManualClock,
    format_duration,
    parse_duration,
    parse_duration_strict,
)

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
    "RunSemaphore",
    "SemaphoreAcquired",
    "SemaphoreRefused",
    "SemaphoreUsage",
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
