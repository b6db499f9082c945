"""The values the controller hands back to its host, and its explanations.

Every input to ``FlowControl`` returns a list of these frozen values, in the order the host
should act on them. They carry ids, not objects: the host owns runs and events.

=====================  ==============================================================
decision               the host should ...
=====================  ==============================================================
``RunStarted``         start this run now (its first step holds the concurrency slots)
``StepStarted``        run this step of a started run now
``RunQueued``          nothing yet: the run waits; ``hold`` says on what, and until when
``EventDropped``       nothing: the event was refused (rate limit, idempotency, bad key)
``EventDebounced``     nothing yet: the event is the pending input of a debounce
``EventSuperseded``    nothing: a later event of the same debounce replaced this one
``EventBatched``       nothing yet: the event waits in a batch
``EventSkipped``       nothing: a duplicate event id (the platform's idempotency)
``BatchFlushed``       nothing extra: a ``RunStarted``/``RunQueued`` for ``run_id`` follows
``RunSkipped``         nothing: the run was not created (singleton, duplicate event)
``RunCancelled``       cancel this run (a running step may finish; it starts nothing new)
``StepRetrying``       nothing yet: the failed step runs again (a ``StepStarted``) at
                       ``retry_at`` or later, when concurrency allows
``RunFailed``          mark the run failed: its step failed with no attempts left
=====================  ==============================================================

Times are integer nanoseconds of the controller's clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowcontrol.time import format_duration

__all__ = [
    "BatchFlushed",
    "Decision",
    "EventBatched",
    "EventDebounced",
    "EventDropped",
    "EventSkipped",
    "EventSuperseded",
    "Explanation",
    "Hold",
    "RunCancelled",
    "RunFailed",
    "RunQueued",
    "RunSkipped",
    "RunStarted",
    "StepRetrying",
    "StepStarted",
    "run_queued",
    "run_started",
    "step_started",
]


class Decision:
    """Base of every decision value."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Hold:
    """Why work waits: a constraint, its key, usage against the limit, and an ETA.

    ``constraint`` is one of ``throttle``, ``concurrency`` (with ``scope`` ``fn``,
    ``env`` or ``account``), ``priority`` (a negative factor delays the run),
    ``start`` (an event ``ts`` in the future) or ``retry`` (a failed step waits for its
    backoff). ``retry_at`` is when the constraint will admit it, when that is known
    (throttle, priority, retry); None means "when a slot frees".
    """

    constraint: str
    key: str | None
    in_use: int | None
    limit: int | None
    since: int
    retry_at: int | None = None
    scope: str | None = None

    def describe(self) -> str:
        what = self.constraint if self.scope is None else f"{self.constraint} ({self.scope})"
        parts = [what]
        if self.key is not None:
            parts.append(f"key {self.key!r}")
        if self.limit is not None:
            parts.append(f"{self.in_use}/{self.limit} in use")
        if self.retry_at is not None:
            parts.append(f"next admission at {format_duration(self.retry_at)}")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class RunStarted(Decision):
    run_id: str
    function: str
    event_ids: tuple[str, ...]
    created_at: int
    at: int


@dataclass(frozen=True, slots=True)
class StepStarted(Decision):
    run_id: str
    function: str
    at: int


@dataclass(frozen=True, slots=True)
class RunQueued(Decision):
    run_id: str
    function: str
    event_ids: tuple[str, ...]
    created_at: int
    hold: Hold


@dataclass(frozen=True, slots=True)
class EventDropped(Decision):
    event_id: str
    function: str
    reason: str
    key: str | None = None
    retry_at: int | None = None


@dataclass(frozen=True, slots=True)
class EventDebounced(Decision):
    event_id: str
    function: str
    key: str
    fire_at: int


@dataclass(frozen=True, slots=True)
class EventSuperseded(Decision):
    event_id: str
    function: str
    by_event_id: str
    key: str


@dataclass(frozen=True, slots=True)
class EventBatched(Decision):
    event_id: str
    function: str
    key: str
    size: int


@dataclass(frozen=True, slots=True)
class EventSkipped(Decision):
    event_id: str
    function: str
    reason: str
    run_id: str | None = None


@dataclass(frozen=True, slots=True)
class BatchFlushed(Decision):
    run_id: str
    function: str
    key: str
    event_ids: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class RunSkipped(Decision):
    run_id: str
    function: str
    event_ids: tuple[str, ...]
    reason: str
    holder: str | None = None


@dataclass(frozen=True, slots=True)
class RunCancelled(Decision):
    run_id: str
    function: str
    reason: str
    by: str | None = None


@dataclass(frozen=True, slots=True)
class StepRetrying(Decision):
    """A step failed and will be attempted again: ``attempt`` is the retry's 0-based
    attempt number (1 for the first retry, as the platform counts), ``retry_at`` when it
    is queued again (it then needs concurrency, not the throttle). Until then the run
    holds no concurrency slot but keeps its singleton lock."""

    run_id: str
    function: str
    attempt: int
    retry_at: int


@dataclass(frozen=True, slots=True)
class RunFailed(Decision):
    """A step failed on its last allowed attempt (``attempts`` in all): the run ended
    ``failed`` and gave back its singleton lock."""

    run_id: str
    function: str
    attempts: int
    reason: str


@dataclass(frozen=True, slots=True)
class Explanation:
    """What happened to an event or a run, and why (``str()`` renders it for people).

    ``status`` is the event's outcome (``run``, ``dropped``, ``skipped``, ``debounced``,
    ``batched``, ``superseded``) or the run's state (``queued``, ``running``,
    ``sleeping``, ``retrying``, ``completed``, ``failed``, ``cancelled``, ``skipped``). ``hold`` is
    what holds it now (None when nothing does); ``holds`` every wait it went through.
    """

    subject: str
    kind: str
    function: str
    status: str
    reason: str
    run_id: str | None = None
    created_at: int | None = None
    started_at: int | None = None
    ended_at: int | None = None
    hold: Hold | None = None
    holds: tuple[Hold, ...] = ()

    def __str__(self) -> str:
        lines = [f"{self.kind} {self.subject} of {self.function}: {self.status}"]
        if self.reason:
            lines.append(f"  reason: {self.reason}")
        if self.run_id is not None and self.kind == "event":
            lines.append(f"  run: {self.run_id}")
        for label, value in (
            ("created", self.created_at),
            ("started", self.started_at),
            ("ended", self.ended_at),
        ):
            if value is not None:
                lines.append(f"  {label} at {format_duration(value)}")
        if self.hold is not None:
            lines.append(f"  held by {self.hold.describe()}")
        for h in self.holds:
            if h is not self.hold:
                lines.append(f"  waited from {format_duration(h.since)} on {h.describe()}")
        return "\n".join(lines)


# Fast constructors for the three decisions on the hot path: the same frozen values,
# built through the slot descriptors (a frozen dataclass __init__ costs ~3x more).
_new = object.__new__
_rs = tuple(RunStarted.__dict__[f].__set__ for f in RunStarted.__slots__)
_ss = tuple(StepStarted.__dict__[f].__set__ for f in StepStarted.__slots__)
_rq = tuple(RunQueued.__dict__[f].__set__ for f in RunQueued.__slots__)


def run_started(
    run_id: str, function: str, event_ids: tuple[str, ...], created_at: int, at: int
) -> RunStarted:
    """``RunStarted(run_id, function, event_ids, created_at, at)``, faster."""
    d: RunStarted = _new(RunStarted)
    a, b, c, e, f = _rs
    a(d, run_id)
    b(d, function)
    c(d, event_ids)
    e(d, created_at)
    f(d, at)
    return d


def step_started(run_id: str, function: str, at: int) -> StepStarted:
    """``StepStarted(run_id, function, at)``, faster."""
    d: StepStarted = _new(StepStarted)
    a, b, c = _ss
    a(d, run_id)
    b(d, function)
    c(d, at)
    return d


def run_queued(
    run_id: str, function: str, event_ids: tuple[str, ...], created_at: int, hold: Hold
) -> RunQueued:
    """``RunQueued(run_id, function, event_ids, created_at, hold)``, faster."""
    d: RunQueued = _new(RunQueued)
    a, b, c, e, f = _rq
    a(d, run_id)
    b(d, function)
    c(d, event_ids)
    e(d, created_at)
    f(d, hold)
    return d
