"""The controller's records: compiled functions, runs, backlogs and gates (internal).

``_Function`` is a ``FunctionConfig`` compiled for the hot path (its machines and key
expressions); ``_Run`` is one run's state; ``_Backlog`` the queued work of one function,
kind (start or step) and key combination, a heap by priority score; ``_Gate`` one
constraint instance (a concurrency counter, a run semaphore's counter or a throttle key)
that backlogs wait on.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Final

from flowcontrol.config.model import FunctionConfig
from flowcontrol.controller.decisions import Hold
from flowcontrol.controller.fairness import WaitQueue
from flowcontrol.controller.keys import CompiledExpr
from flowcontrol.machines.batch import Batcher
from flowcontrol.machines.concurrency import ConcurrencyUsage
from flowcontrol.machines.debounce import Debounce
from flowcontrol.machines.gcra import RateLimit, Throttle
from flowcontrol.machines.singleton import Singleton
from flowcontrol.time import NS_PER_S, Clock

IDEMPOTENCY_WINDOW: Final = 24 * 3600 * NS_PER_S

DEFAULT_RETRIES: Final = 4
"""Retries after a step's first attempt when ``retries`` is not set: "in addition to the
initial attempt, Inngest will retry a function or a step up to 4 times" (the platform's
docs, Retries page), so 5 attempts per step."""

BACKOFF: Final = tuple(
    s * NS_PER_S
    for s in (15, 30, 60, 2 * 60, 5 * 60, 10 * 60, 20 * 60, 40 * 60, 3600, 2 * 3600)
)
"""The wait before retry n+1 after attempt n (0-based) fails: the platform's
``BackoffTable`` (inngest ``pkg/backoff/backoff.go``; the queue requeues a failed item at
``DefaultBackoff(attempt)`` = ``TableBackoff``), clamped at its last entry (2 h). The
platform adds 0-30 s of random jitter; we add none (a deliberate deviation: deterministic)."""


def backoff(attempt: int) -> int:
    """The platform's wait (ns, without jitter) after 0-based attempt ``attempt`` fails."""
    return BACKOFF[min(attempt, len(BACKOFF) - 1)]

# Run states.
_QUEUED: Final = 0  # start item waiting
_RUNNING: Final = 1  # a step holds its slots
_SLEEPING: Final = 2  # between steps: holds nothing
_STEP_QUEUED: Final = 3  # next step waiting for concurrency
_WAITING_TS: Final = 4  # event ts in the future
_RETRYING: Final = 5  # a step failed: waiting for its retry, holding no slot
_COMPLETED: Final = 6  # this and every later state: the run has ended
_FAILED: Final = 7
_CANCELLED: Final = 8
_SKIPPED: Final = 9
_STATE_NAMES: Final = (
    "queued", "running", "sleeping", "queued", "queued", "retrying", "completed", "failed",
    "cancelled", "skipped",
)

# Backlog states.
_IDLE: Final = 0
_READY: Final = 1
_PARKED: Final = 2
_ASLEEP: Final = 3

# Timer kinds.
_T_GATE: Final = 0
_T_BACKLOG: Final = 1
_T_DEBOUNCE: Final = 2
_T_BATCH: Final = 3
_T_START_TIMEOUT: Final = 4
_T_FINISH_TIMEOUT: Final = 5
_T_ENQUEUE: Final = 6
_T_RETRY: Final = 7


class _Function:
    """One function's config, compiled for the hot path."""

    __slots__ = (
        "batch_armed",
        "batch_events",
        "batch_if",
        "batch_key",
        "batcher",
        "cancel_on",
        "cid_prefixes",
        "cid_static",
        "ckey_exprs",
        "config",
        "deb_armed",
        "deb_key",
        "debounce",
        "finish_timeout",
        "has_conc",
        "id",
        "index",
        "keyed",
        "live",
        "plain",
        "priority",
        "retries",
        "rkey_expr",
        "rl",
        "rl_key",
        "run_limit",
        "seen",
        "seen_next",
        "singleton",
        "skey",
        "start_timeout",
        "throttle",
        "tkey",
        "trigger_free",
        "triggers",
    )

    def __init__(self, index: int, cfg: FunctionConfig, clock: Clock, account_limit: int) -> None:
        self.index = index
        self.config = cfg
        self.id = cfg.id
        self.triggers = tuple(
            (t.event, CompiledExpr(t.expression) if t.expression else None)
            for t in cfg.triggers
            if t.event is not None
        )
        b = cfg.batch
        self.batcher = Batcher(b.max_size, b.timeout_ns, clock=clock) if b else None
        self.batch_key = _compile(b.key) if b else None
        self.batch_if = _compile(b.if_expr) if b else None
        self.batch_events: dict[str, dict[str, Any]] = {}
        self.batch_armed: int | None = None
        rl = cfg.effective_rate_limit()
        self.rl = RateLimit(rl.limit, rl.period_ns, clock=clock) if rl else None
        self.rl_key = _compile(rl.key) if rl else None
        d = cfg.debounce
        self.debounce = Debounce(d.period_ns, d.timeout_ns, clock=clock) if d else None
        self.deb_key = _compile(d.key) if d else None
        self.deb_armed: int | None = None
        self.priority = _compile(cfg.priority.run) if cfg.priority else None
        self.keyed = cfg.keyed_concurrency()
        self.ckey_exprs = tuple(CompiledExpr(c.key) for c in self.keyed if c.key)
        self.cid_static: tuple[tuple[str, ...], ...] = (("f", cfg.id), ("a",))
        self.cid_prefixes = tuple(_cid_prefix(cfg.id, c.scope, c.key or "") for c in self.keyed)
        self.has_conc = bool(cfg.concurrency) or account_limit > 0
        # The run-level limit (``concurrency.fn``): a slot of the controller's
        # RunSemaphore, taken at start and held until the run ends.
        self.run_limit = cfg.run_concurrency
        rc = cfg.run_concurrency
        self.rkey_expr = _compile(rc.key) if rc is not None else None
        t = cfg.throttle
        self.throttle = Throttle(t.limit, t.period_ns, t.burst, clock=clock) if t else None
        self.tkey = _compile(t.key) if t else None
        s = cfg.singleton
        self.singleton = Singleton(s.mode) if s else None
        self.skey = _compile(s.key) if s else None
        tm = cfg.timeouts
        self.start_timeout = tm.start_ns if tm else None
        self.finish_timeout = tm.finish_ns if tm else None
        self.retries = DEFAULT_RETRIES if cfg.retries is None else cfg.retries
        self.cancel_on = tuple(
            (c.event, _compile(c.if_expr), c.match, c.timeout_ns) for c in cfg.cancel_on
        )
        self.live: dict[str, _Run] = {}
        self.seen: OrderedDict[str, tuple[int, str]] = OrderedDict()
        self.seen_next = 0
        # Plain triggers without a filter: a name match is enough.
        self.plain = self.batcher is None and self.rl is None and self.debounce is None
        self.trigger_free = all(x is None and "*" not in n for n, x in self.triggers)


def _compile(source: str | None) -> CompiledExpr | None:
    return CompiledExpr(source) if source else None


class _Run:
    __slots__ = (
        "act", "attempt", "backlog", "cancel_pending", "ckeys", "created_at", "ended_at",
        "event_ids", "factor", "first_hold", "fn", "id", "last_hold", "lease", "reason",
        "retries", "retry_hold", "rkey", "score", "started_at", "state", "tkey",
    )

    def __init__(
        self, run_id: str, fn: _Function, event_ids: tuple[str, ...], now: int
    ) -> None:
        self.id = run_id
        self.fn = fn
        self.event_ids = event_ids
        self.created_at = now
        self.state = _QUEUED
        self.started_at: int | None = None
        self.ended_at: int | None = None
        self.lease: Any = None
        self.backlog: _Backlog | None = None
        self.cancel_pending = False
        self.first_hold: Hold | None = None
        self.last_hold: Hold | None = None
        self.reason = ""
        self.act: dict[str, Any] | None = None
        self.factor = 0
        self.score = now
        self.ckeys: tuple[str, ...] = ()
        self.tkey = ""
        self.rkey: str | None = None  # the run-level limit's evaluated key (None: unkeyed)
        self.attempt = 0  # of the current step, 0-based (the platform's ``attempt``)
        self.retries = 0  # retries of all its steps so far
        self.retry_hold: Hold | None = None  # while retrying: since when, and until when


class _Backlog:
    """The queued work of one function, kind and key combination."""

    __slots__ = (
        "ckeys",
        "fn",
        "gate",
        "heap",
        "hold",
        "key",
        "live",
        "rkey",
        "start",
        "state",
        "timer_at",
        "tkey",
        "woken_by",
    )

    def __init__(
        self, key: tuple[Any, ...], fn: _Function, start: bool, tkey: str,
        ckeys: tuple[str, ...], rkey: str | None = None,
    ) -> None:
        self.key = key
        self.fn = fn
        self.start = start
        self.tkey = tkey
        self.ckeys = ckeys
        self.rkey = rkey
        self.heap: list[tuple[int, int, _Run]] = []
        self.live = 0
        self.state = _IDLE
        self.gate: _Gate | None = None
        self.woken_by: _Gate | None = None
        self.hold: Hold | None = None
        self.timer_at = 0

    def head_score(self) -> int:
        return self.heap[0][0] if self.heap else 0


class _Gate:
    """One constraint instance that backlogs can wait on.

    A throttle gate is one throttle key; a run-limit gate one counter of the run
    semaphore (one limit per counter: a single line). A concurrency gate is one counter *and* the
    limit that refused its waiters (``cid``, ``limit``): functions that share an
    ``env``/``account`` counter with different limits wait apart, so a waiter whose own
    limit is still reached never holds back one whose limit is not. ``counter`` and
    ``probe`` (a function id and keys that take the counter) let a release read the
    counter's usage; ``mixed`` says that functions put different limits on it.
    """

    __slots__ = ("cid", "counter", "id", "limit", "mixed", "probe", "timer_at", "waiters")

    def __init__(self, gid: tuple[Any, ...], waiters: WaitQueue) -> None:
        self.id = gid
        self.waiters = waiters
        self.timer_at: int | None = None
        self.cid: tuple[str, ...] | None = None
        self.limit = 0
        self.counter = ""
        self.probe: tuple[str, tuple[str, ...]] = ("", ())
        self.mixed = False


def _counter_id(fn_id: str, u: ConcurrencyUsage) -> tuple[str, ...]:
    """The counter id (``flowcontrol.machines.concurrency`` module doc) of a refusing constraint."""
    if u.key is None:
        return ("f", fn_id) if u.scope == "fn" else ("a",)
    expr_text = u.key_expr or ""
    if u.scope == "fn":
        return ("f", fn_id, expr_text, u.key)
    if u.scope == "env":
        return ("e", "", expr_text, u.key)
    return ("a", expr_text, u.key)


def _counter_ids(fn: _Function, ckeys: tuple[str, ...]) -> Sequence[tuple[str, ...]]:
    """The ids of every counter a run of ``fn`` with keys ``ckeys`` holds."""
    p = fn.cid_prefixes
    if len(p) != len(ckeys):
        raise ValueError(f"function {fn.id!r} needs {len(p)} concurrency keys, got {ckeys!r}")
    if not p:
        return fn.cid_static
    if len(p) == 1:
        return (*fn.cid_static, (*p[0], ckeys[0]))
    return (*fn.cid_static, *[(*pre, k) for pre, k in zip(p, ckeys, strict=True)])


def _cid_prefix(fn_id: str, scope: str, expr_text: str) -> tuple[str, ...]:
    """A keyed counter's id without its key (``flowcontrol.machines.concurrency`` module doc)."""
    if scope == "fn":
        return ("f", fn_id, expr_text)
    if scope == "env":
        return ("e", "", expr_text)
    return ("a", expr_text)


def _glob(pattern: str, name: str) -> bool:
    """Trigger wildcards: ``app/*`` matches every event name starting with ``app/``."""
    if pattern.endswith("*"):
        return name.startswith(pattern[:-1])
    return pattern == name


def _path(event: Mapping[str, Any], path: str) -> Any:
    cur: Any = event
    for part in path.removeprefix("event.").split("."):
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(part)
    return cur

