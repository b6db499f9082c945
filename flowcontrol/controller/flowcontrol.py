"""The function controller: the machines composed the way the platform applies them.

Theory of operation
-------------------
``FlowControl`` is a sans-I/O facade over several functions sharing one account. The host
feeds it inputs (an event arrived, a run's next step is ready, a step finished, a run
finished or failed, time passed) and acts on the decision values it returns
(``flowcontrol.controller.decisions``). It reads its ``clock`` once per call and never sleeps.

For each function whose trigger matches an event (spec 1.1):

1. batching: if ``batchEvents.if`` is absent or exactly ``true`` the event joins its
   key's batch and stops there (no rate limit, no debounce); a full or timed-out batch
   becomes one run;
2. rate limit (``idempotency`` is a 1-per-24h rate limit on its key): a refused event
   is dropped. The event id is the limiter's idempotency key (the platform's
   ``WithIdempotency(event id, 30 min)``): a repeat of an id the limiter admitted in the
   last 30 minutes is let through without being charged (and, with a run already made
   from that id, skipped at once as a duplicate: ``explain`` says "not charged"); a
   refused event leaves no mark, so its repeat is judged afresh;
3. debounce: the event becomes the key's pending input, superseding the previous one;
   when the debounce fires its last event makes the run (no second rate-limit check);
4. on the new run, from its first event and evaluated once: the priority factor, the
   concurrency keys and the throttle key;
5. idempotency on the event id (a duplicate id within 24 h of its run creates no run;
   this window is the run's, distinct from the rate limiter's 30 minutes: a repeat after
   30 minutes is charged again, then deduplicated here), then singleton (skip: the run
   is skipped; cancel: the holder is cancelled);
6. enqueue. A run's start needs every concurrency constraint, the run-level limit
   (``concurrency.fn``) and the throttle at once (all or nothing); every later step needs
   concurrency only. A sleeping run holds no concurrency slot, but its run-level slot is
   held from its start until it ends (completed, failed, cancelled or timed out), sleeps,
   waits and retries included, and given back at its end.

Retries (spec 2.4, 8.3): ``step_failed`` gives back the step's slots; with attempts left
(``retries``, default 4 as on the platform: 5 attempts per step, counted per step) the
step is queued again after the platform's backoff table (15 s, 30 s, 1 m, ... 2 h; no
jitter) or at the host's ``retry_at``, needing concurrency again but not the throttle.
While it waits the run holds no slot and keeps its singleton lock; once due, the step
waits among the function's queued steps in its run's place (its priority score), like any
later step. With no attempts left the run ends ``failed``.

Waiting work lives in *backlogs*, one per function, kind (start or step) and key
combination, each a heap ordered by the platform's score (run creation time minus the
priority factor; a negative factor delays the run even on an empty queue). A backlog that
cannot proceed parks on the one constraint that refused it (a concurrency counter or a
throttle key); when that constraint frees capacity, by a release or by the throttle's
``retry_at``, the parked backlogs are tried again at once, in the order of a pluggable
``WaitQueuePolicy`` (round robin across keys by default). No polling, no lost wake-ups:
every capacity increase wakes a waiter, and a waiter that does not use the capacity
passes it on. Functions that put different limits on one shared ``env``/``account`` key
wait in one line per limit, and a release wakes every line whose limit is above the
usage (``flowcontrol.controller.admission``), so a stricter function never holds back a laxer one.

Every event gets exactly one outcome per matching function, and ``explain(id)`` says what
held a run or what happened to an event, with the constraint, key, usage and ETA.

Deliberate deviations (documented, not emulated)
    Admission is immediate on release (the platform polls every 1-5 s). Across keys the
    order is deterministic (the platform shuffles backlogs at random). Idempotency on
    event ids is checked before the singleton. A ``cancelOn`` entry cancels runs created
    at most its ``timeout`` before the event (none: for the run's whole life; the
    platform's default is one year); its ``if`` sees ``event`` (the run's first event)
    and ``async`` (the cancelling event).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any, Self

from flowcontrol.config.model import FunctionConfig
from flowcontrol.controller.admission import Admission
from flowcontrol.controller.decisions import (
    BatchFlushed,
    Decision,
    EventBatched,
    EventDebounced,
    EventDropped,
    EventSkipped,
    EventSuperseded,
    Explanation,
    Hold,
    RunCancelled,
    RunFailed,
    RunSkipped,
    StepRetrying,
    run_queued,
)
from flowcontrol.controller.fairness import RoundRobin, WaitQueuePolicy
from flowcontrol.controller.keys import ERROR, FALSE, make_activation, priority_factor
from flowcontrol.controller.runtime import (
    _ASLEEP,
    _CANCELLED,
    _COMPLETED,
    _FAILED,
    _PARKED,
    _QUEUED,
    _READY,
    _RETRYING,
    _RUNNING,
    _SKIPPED,
    _SLEEPING,
    _STATE_NAMES,
    _STEP_QUEUED,
    _T_BACKLOG,
    _T_BATCH,
    _T_DEBOUNCE,
    _T_ENQUEUE,
    _T_FINISH_TIMEOUT,
    _T_GATE,
    _T_RETRY,
    _T_START_TIMEOUT,
    _WAITING_TS,
    IDEMPOTENCY_WINDOW,
    _Backlog,
    _Function,
    _Gate,
    _glob,
    _path,
    _Run,
    backoff,
)
from flowcontrol.machines.batch import AddOutcome, Batch
from flowcontrol.machines.concurrency import Concurrency, ConcurrencyConstraint
from flowcontrol.machines.debounce import DebounceOutcome
from flowcontrol.machines.semaphore import RunSemaphore
from flowcontrol.time import NS_PER_MS, NS_PER_S, Clock, format_duration

__all__ = ["FlowControl", "FunctionController", "UnknownRunError"]


class UnknownRunError(LookupError):
    """An input named a run the controller does not know (or no longer tracks)."""


class FlowControl(Admission):
    """Flow control for several functions of one account, driven by inputs and a clock.

    ``functions`` are validated ``FunctionConfig`` objects. ``account_concurrency`` is the
    account-wide step limit (0: none). ``priority_range`` clamps priority factors (the
    documented default is -600..600 s). ``fairness`` orders keys waiting on one constraint.
    With ``record=False`` finished runs and event outcomes are forgotten (memory follows
    live work only) and ``explain`` knows only live runs.
    """

    def __init__(
        self,
        functions: Iterable[FunctionConfig],
        *,
        clock: Clock,
        account_concurrency: int = 0,
        priority_range: tuple[int, int] = (-600, 600),
        fairness: WaitQueuePolicy | None = None,
        record: bool = True,
    ) -> None:
        if not callable(clock):
            raise ValueError("clock must be a zero-argument callable returning nanoseconds")
        low, high = priority_range
        if low > high:
            raise ValueError(f"priority_range must be (low, high), low <= high: {low, high}")
        self._clock = clock
        self._now = 0
        self._prio = (low, high)
        self._policy: WaitQueuePolicy = fairness if fairness is not None else RoundRobin()
        self._record = record
        self._conc = Concurrency(account_limit=account_concurrency)
        self._sem = RunSemaphore()
        self._fns: list[_Function] = []
        self._by_name: dict[str, list[_Function]] = {}
        self._wild: list[tuple[str, _Function]] = []
        self._cancel_by_name: dict[str, list[_Function]] = {}
        ids: set[str] = set()
        for cfg in functions:
            if not isinstance(cfg, FunctionConfig):
                raise TypeError(f"functions must be FunctionConfig objects, got {cfg!r}")
            if cfg.id in ids:
                raise ValueError(f"two functions have the id {cfg.id!r}")
            ids.add(cfg.id)
            fn = _Function(len(self._fns), cfg, clock, account_concurrency)
            self._fns.append(fn)
            if fn.has_conc:
                self._conc.register(
                    cfg.id,
                    [
                        ConcurrencyConstraint(c.limit, c.key or "", c.scope)
                        for c in cfg.keyed_concurrency()
                    ],
                    function_limit=cfg.function_limit(),
                )
            rc = cfg.run_concurrency
            if rc is not None:
                self._sem.register(cfg.id, rc.limit, rc.key)
            for name, _ in fn.triggers:
                if "*" in name:
                    self._wild.append((name, fn))
                elif fn not in self._by_name.get(name, ()):
                    self._by_name.setdefault(name, []).append(fn)
            for c in fn.cancel_on:
                self._cancel_by_name.setdefault(c[0], []).append(fn)
        # Shared keyed counters (their id without the key) that functions limit differently.
        limits: dict[tuple[str, ...], set[int]] = {}
        for fn in self._fns:
            for lim, pre in zip(fn.keyed, fn.cid_prefixes, strict=True):
                limits.setdefault(pre, set()).add(lim.limit)
        self._mixed = frozenset(p for p, ls in limits.items() if len(ls) > 1)
        self._runs: dict[str, _Run] = {}
        self._events: dict[str, list[list[Any]]] = {}
        self._backlogs: dict[tuple[Any, ...], _Backlog] = {}
        self._gates: dict[tuple[Any, ...], _Gate] = {}
        self._cgates: dict[tuple[str, ...], list[_Gate]] = {}
        self._ready: deque[_Backlog] = deque()
        self._timers: list[tuple[int, int, int, Any]] = []
        self._seq = 0
        self._run_seq = 0
        self._event_seq = 0
        self._out: list[Decision] = []
        self._requeued: list[_Run] = []  # retries queued by this poll (for RunQueued)

    # -- inputs ------------------------------------------------------------------------

    def receive_event(
        self, event: Mapping[str, Any], *, activation: dict[str, Any] | None = None
    ) -> list[Decision]:
        """receive_event routes one event (platform shape) to every matching function.

        ``event`` has ``name`` (required), ``data``, ``id``, ``ts`` (ms), ``user``. A
        missing ``id`` is generated, a missing ``ts`` is now. Raises ValueError, changing
        nothing, if the event is malformed. A host that already built
        ``keys.make_activation(event)`` (for an ``id``-carrying event) may pass it.
        """
        now = self._tick()
        act, explicit = self._normalise(event, now, activation)
        out: list[Decision] = []
        self._out = out
        name = act["event"]["name"]
        fns = self._by_name.get(name)
        if self._wild:
            fns = list(fns or ()) + [f for p, f in self._wild if _glob(p, name)]
        if fns:
            for fn in fns:
                if fn.trigger_free or self._triggered(fn, name, act):
                    if fn.plain:  # no batch, rate limit or debounce: straight to a run
                        self._schedule(fn, (act,), now, "run", None, explicit)
                    else:
                        self._event_for(fn, act, explicit, now)
        if name in self._cancel_by_name:
            self._cancel_matching(act, now)
        if self._ready:
            self._pump(now)
        return out

    def step_ready(self, run_id: str) -> list[Decision]:
        """step_ready queues a started run's next step; it runs when concurrency allows."""
        now = self._tick()
        out: list[Decision] = []
        self._out = out
        run = self._live_run(run_id)
        if run.state != _SLEEPING:
            raise ValueError(
                f"run {run_id!r} is {_STATE_NAMES[run.state]}; a step can be readied only "
                "between steps (after step_finished)"
            )
        run.state = _STEP_QUEUED
        self._enqueue(run, False, now)
        self._pump(now)
        if run.state == _STEP_QUEUED:
            self._queued(run, now)
        return out

    def step_finished(self, run_id: str) -> list[Decision]:
        """step_finished gives back the step's slots; the run sleeps until ``step_ready``."""
        now = self._tick()
        out: list[Decision] = []
        self._out = out
        run = self._running_step(run_id)
        self._release(run)
        run.attempt = 0  # attempts are counted per step
        if run.cancel_pending:
            self._end(run, _CANCELLED, now)
        else:
            run.state = _SLEEPING
        self._pump(now)
        return out

    def step_failed(self, run_id: str, *, retry_at: int | None = None) -> list[Decision]:
        """step_failed gives back the failed step's slots and retries it or fails the run.

        With attempts left (the function's ``retries``; default 4, the platform's) the
        step is queued again at ``retry_at`` (ns; default now plus the platform's backoff
        for this attempt, ``flowcontrol.controller.runtime.BACKOFF``) and then needs concurrency,
        not the throttle: ``StepRetrying``. Until then the run holds no slot and keeps its
        singleton lock. With none left the run ends ``failed``: ``RunFailed``. A run
        cancelled while its step ran ends cancelled instead.
        """
        now = self._tick()
        out: list[Decision] = []
        self._out = out
        run = self._running_step(run_id)
        if retry_at is not None and (type(retry_at) is not int):
            raise ValueError(f"retry_at must be an int (ns) or None, got {retry_at!r}")
        self._release(run)
        fn = run.fn
        if run.cancel_pending:
            self._end(run, _CANCELLED, now)
        elif run.attempt < fn.retries:
            at = now + backoff(run.attempt) if retry_at is None else max(retry_at, now)
            run.attempt += 1
            run.retries += 1
            run.state = _RETRYING
            run.retry_hold = Hold("retry", None, None, None, now, at)
            out.append(StepRetrying(run.id, fn.id, run.attempt, at))
            if at <= now:
                self._retry(run, now)
            else:
                self._timer(at, _T_RETRY, run)
        else:
            n = run.attempt + 1
            run.reason = f"step failed on its last attempt ({n} of {fn.retries + 1})"
            out.append(RunFailed(run.id, fn.id, n, run.reason))
            self._end(run, _FAILED, now)
        self._pump(now)
        self._flush_requeued(now)
        return out

    def run_finished(self, run_id: str, *, failed: bool = False) -> list[Decision]:
        """run_finished ends a run (its last step, if running, ends too) and frees its locks."""
        now = self._tick()
        out: list[Decision] = []
        self._out = out
        run = self._runs.get(run_id)
        if run is None or run.state >= _COMPLETED:
            raise UnknownRunError(f"run {run_id!r} is unknown or has ended")
        if run.started_at is None:
            raise ValueError(f"run {run_id!r} has not started; cancel it instead")
        if run.state == _STEP_QUEUED:
            self._unqueue(run)
        if run.lease is not None:
            self._release(run)
        self._end(run, _CANCELLED if run.cancel_pending else (_FAILED if failed else _COMPLETED),
                  now)
        if self._ready:
            self._pump(now)
        return out

    def run_failed(self, run_id: str) -> list[Decision]:
        """run_failed is ``run_finished(run_id, failed=True)``: the run ends failed now,
        with no retry (``step_failed`` retries as the platform does)."""
        return self.run_finished(run_id, failed=True)

    def cancel(self, run_id: str, reason: str = "cancelled by the host") -> list[Decision]:
        """cancel stops a run: queued work is dropped; a running step may finish."""
        now = self._tick()
        out: list[Decision] = []
        self._out = out
        run = self._live_run(run_id)
        self._cancel(run, now, reason, None)
        self._pump(now)
        return out

    def poll(self) -> list[Decision]:
        """poll handles everything due by now: debounces, batches, throttle and timeouts."""
        now = self._tick()
        out: list[Decision] = []
        self._out = out
        timers = self._timers
        while timers and timers[0][0] <= now:
            at, _, kind, obj = heapq.heappop(timers)
            self._fire(kind, obj, at, now)
        self._pump(now)
        if self._requeued:
            self._flush_requeued(now)
        return out

    def next_deadline(self) -> int | None:
        """next_deadline is when ``poll`` next has something to do, or None."""
        timers = self._timers
        while timers:
            at, _, kind, obj = timers[0]
            if (
                (kind == _T_GATE and obj.timer_at != at)
                or (kind == _T_BACKLOG and (obj.state != _ASLEEP or obj.timer_at != at))
                or (kind == _T_RETRY and (obj.state != _RETRYING or obj.retry_hold.retry_at != at))
            ):
                heapq.heappop(timers)
                continue
            if kind in (_T_DEBOUNCE, _T_BATCH):
                # A debounce extended or a batch flushed early: re-arm at the real time.
                fn: _Function = obj
                armed = fn.deb_armed if kind == _T_DEBOUNCE else fn.batch_armed
                machine: Any = fn.debounce if kind == _T_DEBOUNCE else fn.batcher
                real = machine.next_deadline()
                if armed == at and real != at:
                    heapq.heappop(timers)
                    if kind == _T_DEBOUNCE:
                        fn.deb_armed = real
                    else:
                        fn.batch_armed = real
                    if real is not None:
                        self._timer(real, kind, fn)
                    continue
                if armed != at:
                    heapq.heappop(timers)
                    continue
            return at
        return None

    # -- queries -----------------------------------------------------------------------

    # -- persistence -------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """snapshot is the controller's whole state as plain JSON data: ``restore`` rebuilds
        a controller that decides exactly as this one would from now on
        (``flowcontrol.controller.persist`` says how, what is checked and what it costs)."""
        from flowcontrol.controller.persist import snapshot

        return snapshot(self)

    @classmethod
    def restore(
        cls,
        functions: Iterable[FunctionConfig],
        data: Mapping[str, Any],
        *,
        clock: Clock,
        fairness: WaitQueuePolicy | None = None,
    ) -> Self:
        """restore rebuilds the controller ``data`` (a ``snapshot``) describes, with the
        same ``functions`` in the same order, reading ``clock`` (at the snapshot's instant
        or later). ``fairness`` is needed only for a custom policy. Raises ValueError,
        naming the place in ``data``, for a snapshot that is malformed or was taken with
        other configs."""
        from flowcontrol.controller.persist import restore

        return restore(functions, data, clock=clock, fairness=fairness, cls=cls)

    def explain(self, subject_id: str, function: str | None = None) -> Explanation:
        """explain says what happened to an event or a run and why.

        For an event that went to several functions, ``function`` picks one (default:
        the first). Raises ``KeyError`` for an id the controller does not know.
        """
        run = self._runs.get(subject_id)
        if run is not None:
            return self._explain_run(run)
        recs = self._events.get(subject_id)
        if not recs:
            raise KeyError(f"no run or event with id {subject_id!r}")
        rec = recs[0]
        if function is not None:
            matches = [r for r in recs if r[0] == function]
            if not matches:
                raise KeyError(f"event {subject_id!r} did not go to function {function!r}")
            rec = matches[0]
        fn_id, outcome, run_id, reason = rec
        hold = None
        if run_id is not None and run_id in self._runs:
            r = self._runs[run_id]
            hold = self._current_hold(r)
            if not reason:
                reason = self._explain_run(r).reason
        return Explanation(subject_id, "event", fn_id, outcome, reason, run_id=run_id, hold=hold)

    def run_status(self, run_id: str) -> str:
        """run_status is ``queued``, ``running``, ``sleeping``, ``retrying``,
        ``completed``, ``failed``, ``cancelled`` or ``skipped``."""
        run = self._runs.get(run_id)
        if run is None:
            raise UnknownRunError(f"unknown run {run_id!r}")
        return _STATE_NAMES[run.state]

    def backlog_sizes(self) -> dict[str, int]:
        """backlog_sizes counts queued items (starts and steps) per function id."""
        out = {fn.id: 0 for fn in self._fns}
        for b in self._backlogs.values():
            out[b.fn.id] += b.live
        return out

    def concurrency(self) -> Concurrency:
        """The shared concurrency registry (read it; do not acquire or release)."""
        return self._conc

    def run_semaphore(self) -> RunSemaphore:
        """The run limits' slots (``concurrency.fn``): which runs hold one, per function and
        key (read it; do not acquire or release)."""
        return self._sem

    @property
    def functions(self) -> tuple[FunctionConfig, ...]:
        return tuple(fn.config for fn in self._fns)

    # -- events ------------------------------------------------------------------------

    def _tick(self) -> int:
        now = self._clock()
        if now > self._now:
            self._now = now
        return self._now

    def _normalise(
        self, event: Mapping[str, Any], now: int, act: dict[str, Any] | None
    ) -> tuple[dict[str, Any], bool]:
        """The activation ``{"event": ...}`` (Go-typed) and whether the id was given."""
        if type(event) is not dict and not isinstance(event, Mapping):
            raise ValueError(f"an event must be a mapping, got {type(event).__name__}")
        name = event.get("name")
        if type(name) is not str or not name:
            raise ValueError(f"event.name must be a non-empty string, got {name!r}")
        data = event.get("data")
        if data is None:
            data = {}
        elif type(data) is not dict and not isinstance(data, Mapping):
            raise ValueError(f"event.data must be an object, got {type(data).__name__}")
        eid = event.get("id")
        if type(eid) is str and eid:
            explicit = True
        elif eid is None or eid == "":
            self._event_seq += 1
            eid = f"evt-{self._event_seq}"
            explicit = False
        else:
            raise ValueError(f"event.id must be a string, got {eid!r}")
        ts = event.get("ts")
        if ts is None:
            ts = now // NS_PER_MS
        elif type(ts) is not int and type(ts) is not float and (
            isinstance(ts, bool) or not isinstance(ts, int | float)
        ):
            raise ValueError(f"event.ts must be a number of milliseconds, got {ts!r}")
        if act is not None and explicit:
            return act, True
        ev = {"name": name, "data": data, "id": eid, "ts": ts}
        user = event.get("user")
        if user is not None:
            ev["user"] = user
        return make_activation(ev), explicit

    def _triggered(self, fn: _Function, name: str, act: dict[str, Any]) -> bool:
        for tname, texpr in fn.triggers:
            if (tname == name or ("*" in tname and _glob(tname, name))) and (
                texpr is None or texpr.is_true(act)
            ):
                return True
        return False

    def _event_for(self, fn: _Function, act: dict[str, Any], explicit: bool, now: int) -> None:
        out = self._out
        eid = act["event"]["id"]
        if fn.batcher is not None and (fn.batch_if is None or fn.batch_if.is_true(act)):
            self._batch_add(fn, act, now)
            return
        if fn.rl is not None:
            if fn.rl_key is None:
                key: Any = fn.id
            else:
                k = fn.rl_key.optional_key(act)
                key = fn.id + "-" + k if isinstance(k, str) else k
            if key is ERROR:
                self._note(eid, fn.id, "dropped", None, "could not get rate limit key")
                out.append(EventDropped(eid, fn.id, "could not get rate limit key"))
                return
            if key is not None:
                d = fn.rl.acquire(key, idempotency_key=eid if explicit else None)
                if not d.allowed:
                    why = "rate limited"
                    if fn.config.idempotency is not None:
                        why = "idempotency key seen in the last 24h"
                    self._note(eid, fn.id, "dropped", None, why)
                    out.append(EventDropped(eid, fn.id, why, key, d.retry_at))
                    return
                if d.idempotent and fn.debounce is None:
                    prev = self._seen_run(fn, eid, now)
                    if prev is not None:
                        why = f"duplicate of event {eid}, not charged: run {prev} already exists"
                        self._note(eid, fn.id, "skipped", prev, why)
                        out.append(EventSkipped(eid, fn.id, why, prev))
                        return
        if fn.debounce is not None:
            self._debounce(fn, act, explicit, now)
            return
        self._schedule(fn, (act,), now, "run", explicit=explicit)

    def _debounce(self, fn: _Function, act: dict[str, Any], explicit: bool, now: int) -> None:
        assert fn.debounce is not None
        e = act["event"]
        eid = e["id"]
        key = fn.deb_key.key(act, on_error="<invalid>") if fn.deb_key else fn.id
        p = fn.debounce.push(key, eid, int(e["ts"]) * NS_PER_MS, (act, explicit))
        out = self._out
        if p.outcome == DebounceOutcome.IGNORED:
            self._note(eid, fn.id, "superseded", None, "an event with a later ts is pending")
            out.append(EventSuperseded(eid, fn.id, "", key))
            return
        if p.superseded is not None:
            self._note(p.superseded, fn.id, "superseded", None, f"superseded by event {eid}")
            out.append(EventSuperseded(p.superseded, fn.id, eid, key))
        self._note(eid, fn.id, "debounced", None, f"debounce key {key!r}")
        out.append(EventDebounced(eid, fn.id, key, p.fire_at))
        if fn.deb_armed is None or p.fire_at < fn.deb_armed:
            fn.deb_armed = p.fire_at
            self._timer(p.fire_at, _T_DEBOUNCE, fn)

    def _batch_add(self, fn: _Function, act: dict[str, Any], now: int) -> None:
        assert fn.batcher is not None
        eid = act["event"]["id"]
        out = self._out
        if fn.batch_key is None:
            key = "default"
        else:
            k = fn.batch_key.optional_key(act)
            if k is ERROR:
                self._note(eid, fn.id, "dropped", None, "batch key failed to evaluate")
                out.append(EventDropped(eid, fn.id, "batch key failed to evaluate"))
                return
            key = FALSE if k is None else str(k)
        a = fn.batcher.add(key, eid)
        if a.outcome == AddOutcome.DUPLICATE:
            self._note(eid, fn.id, "skipped", None, "duplicate event id (batch dedupe)")
            out.append(EventSkipped(eid, fn.id, "duplicate event id (batch dedupe)"))
            return
        fn.batch_events[eid] = act
        self._note(eid, fn.id, "batched", None, f"batch key {key!r}")
        out.append(EventBatched(eid, fn.id, key, a.size))
        if a.batch is not None:
            self._flush(fn, a.batch, now)
        elif a.deadline is not None and (fn.batch_armed is None or a.deadline < fn.batch_armed):
            fn.batch_armed = a.deadline
            self._timer(a.deadline, _T_BATCH, fn)

    def _flush(self, fn: _Function, batch: Batch, now: int) -> None:
        acts = tuple(fn.batch_events.pop(e) for e in batch.event_ids)
        self._run_seq += 1
        run_id = f"run-{self._run_seq}"
        self._out.append(
            BatchFlushed(run_id, fn.id, batch.key, batch.event_ids, str(batch.reason))
        )
        self._schedule(fn, acts, now, "batched", run_id=run_id)

    def _schedule(
        self,
        fn: _Function,
        acts: tuple[dict[str, Any], ...],
        now: int,
        outcome: str,
        run_id: str | None = None,
        explicit: bool = False,
    ) -> _Run | None:
        """Create, check and enqueue one run (steps 4-6 of the module doc)."""
        out = self._out
        act = acts[0]
        first = act["event"]
        eids = (first["id"],) if len(acts) == 1 else tuple(a["event"]["id"] for a in acts)
        check_ids = run_id is None and explicit
        if check_ids:
            prev = self._seen_run(fn, first["id"], now)
            if prev is not None:
                why = f"duplicate event id: run {prev} already exists"
                self._note(first["id"], fn.id, "skipped", prev, why)
                out.append(EventSkipped(first["id"], fn.id, why, prev))
                return None
        if run_id is None:
            self._run_seq += 1
            run_id = f"run-{self._run_seq}"
        run = _Run(run_id, fn, eids, now)
        if check_ids:
            if not fn.seen:
                fn.seen_next = now + IDEMPOTENCY_WINDOW
            fn.seen[first["id"]] = (now + IDEMPOTENCY_WINDOW, run.id)
        if fn.priority is not None:
            low, high = self._prio
            run.factor = priority_factor(fn.priority, act, low, high)
            run.score = now - run.factor * NS_PER_S
        ck = fn.ckey_exprs
        if ck:
            run.ckeys = (ck[0].key(act),) if len(ck) == 1 else (ck[0].key(act), ck[1].key(act))
        if fn.throttle is not None:
            tk = fn.tkey
            run.tkey = "" if tk is None else tk.constant_key if tk.is_constant else tk.key(act)
        if fn.rkey_expr is not None:
            # A key that fails to evaluate puts the run in one shared bucket (""), as the
            # platform's evaluateFnConcurrency does.
            run.rkey = fn.rkey_expr.key(act, on_error="")
        if fn.cancel_on:
            run.act = act
        if fn.singleton is not None:
            skey: str | None
            if fn.skey is None:
                skey = fn.id
            else:
                k = fn.skey.optional_key(act)
                skey = None if k is None or k is ERROR else str(k)
            s = fn.singleton.acquire(skey, run.id)
            if not s.started:
                holder = s.held_by  # type: ignore[union-attr]
                why = f"singleton key {skey!r} is held by run {holder}"
                run.state = _SKIPPED
                run.reason = why
                if self._record:
                    self._runs[run.id] = run
                for e in eids:
                    self._note(e, fn.id, "skipped", run.id, why)
                out.append(RunSkipped(run.id, fn.id, eids, why, holder))
                return None
            victim = s.cancel  # type: ignore[union-attr]
            if victim is not None and victim in fn.live:
                self._cancel(fn.live[victim], now, f"singleton: replaced by run {run.id}", run.id)
        self._runs[run.id] = run
        fn.live[run.id] = run
        if self._record:
            for e in eids:
                self._note(e, fn.id, outcome, run.id, "")
        if fn.start_timeout is not None:
            self._timer(now + fn.start_timeout, _T_START_TIMEOUT, run)
        ts_ns = int(first["ts"]) * NS_PER_MS
        if outcome == "run" and ts_ns > now:
            run.state = _WAITING_TS
            run.created_at = ts_ns
            run.score = ts_ns - run.factor * NS_PER_S
            run.first_hold = Hold("start", None, None, None, now, ts_ns)
            out.append(run_queued(run.id, fn.id, eids, now, run.first_hold))
            self._timer(ts_ns, _T_ENQUEUE, run)
            return run
        if (
            run.score <= now
            and not self._ready
            and (fn.index, True, run.tkey, run.ckeys, run.rkey) not in self._backlogs
            and self._start_now(run, now)
        ):
            return run
        self._enqueue(run, True, now)
        if self._ready:
            self._pump(now)
        if run.state == _QUEUED:
            self._queued(run, now)
        return run

    def _seen_run(self, fn: _Function, eid: str, now: int) -> str | None:
        """The run event id ``eid`` created for ``fn`` in the last 24 h, if any (the
        platform's dedupe at state creation); older ids are forgotten here."""
        seen = fn.seen
        if now >= fn.seen_next:
            while seen:
                oldest = next(iter(seen.values()))
                if oldest[0] > now:
                    fn.seen_next = oldest[0]
                    break
                seen.popitem(last=False)
        prev = seen.get(eid)
        return None if prev is None else prev[1]

    def _queued(self, run: _Run, now: int) -> None:
        hold = self._current_hold(run) or Hold("queue", None, None, None, now)
        if run.first_hold is None:
            run.first_hold = hold
        self._out.append(run_queued(run.id, run.fn.id, run.event_ids, run.created_at, hold))

    def _cancel_matching(self, act: dict[str, Any], now: int) -> None:
        ev = act["event"]
        for fn in self._cancel_by_name[ev["name"]]:
            for cname, cif, match, timeout in fn.cancel_on:
                if cname != ev["name"]:
                    continue
                for run in list(fn.live.values()):
                    if run.act is None or ev["id"] in run.event_ids or run.created_at > now:
                        continue
                    if timeout is not None and now > run.created_at + timeout:
                        continue  # the cancellation's wait expired
                    trig = run.act["event"]
                    if match is not None and _path(trig, match) != _path(act["event"], match):
                        continue
                    if cif is not None and not cif.is_true(
                        {"event": trig, "async": act["event"]}
                    ):
                        continue
                    self._cancel(run, now, f"cancelled by event {ev['id']} ({cname})", ev["id"])

    def _retry(self, run: _Run, now: int) -> None:
        """A failed step's backoff is over: queue it again (concurrency only)."""
        run.state = _STEP_QUEUED
        run.retry_hold = None
        self._enqueue(run, False, now)
        self._requeued.append(run)

    def _flush_requeued(self, now: int) -> None:
        """Say ``RunQueued`` for retried steps that did not start at once (as step_ready)."""
        for run in self._requeued:
            if run.state == _STEP_QUEUED:
                self._queued(run, now)
        self._requeued.clear()

    # -- endings -----------------------------------------------------------------------

    def _cancel(self, run: _Run, now: int, reason: str, by: str | None) -> None:
        if run.state >= _COMPLETED or run.cancel_pending:
            return
        self._out.append(RunCancelled(run.id, run.fn.id, reason, by))
        run.reason = reason
        if run.fn.singleton is not None:
            run.fn.singleton.run_finished(run.id)
        if run.state == _RUNNING:
            run.cancel_pending = True
            return
        if run.state in (_QUEUED, _STEP_QUEUED):
            self._unqueue(run)
        self._end(run, _CANCELLED, now)

    def _end(self, run: _Run, state: int, now: int) -> None:
        run.state = state
        run.ended_at = now
        fn = run.fn
        fn.live.pop(run.id, None)
        if fn.singleton is not None:
            fn.singleton.run_finished(run.id)
        if fn.run_limit is not None:
            self._release_run_slot(run)
        run.act = None
        if not self._record:
            self._runs.pop(run.id, None)

    def _live_run(self, run_id: str) -> _Run:
        run = self._runs.get(run_id)
        if run is None or run.state >= _COMPLETED:
            raise UnknownRunError(f"run {run_id!r} is unknown or has ended")
        return run

    def _running_step(self, run_id: str) -> _Run:
        """The live run ``run_id``, which must be running a step (else ValueError)."""
        run = self._live_run(run_id)
        if run.state != _RUNNING:
            raise ValueError(f"run {run_id!r} is {_STATE_NAMES[run.state]}, not running a step")
        return run

    # -- timers ------------------------------------------------------------------------

    def _fire(self, kind: int, obj: Any, at: int, now: int) -> None:
        if kind == _T_GATE:
            g: _Gate = obj
            if g.timer_at == at:
                g.timer_at = None
                self._wake_one(g)
        elif kind == _T_BACKLOG:
            b: _Backlog = obj
            if b.state == _ASLEEP and b.timer_at == at:
                b.state = _READY
                self._ready.append(b)
        elif kind == _T_DEBOUNCE:
            fn: _Function = obj
            if fn.deb_armed != at:
                return
            fn.deb_armed = None
            assert fn.debounce is not None
            for f in fn.debounce.poll():
                payload: Any = f.payload
                self._schedule(fn, (payload[0],), now, "debounced", explicit=payload[1])
            nxt = fn.debounce.next_deadline()
            if nxt is not None:
                fn.deb_armed = nxt
                self._timer(nxt, _T_DEBOUNCE, fn)
        elif kind == _T_BATCH:
            fn = obj
            if fn.batch_armed != at:
                return
            fn.batch_armed = None
            assert fn.batcher is not None
            for batch in fn.batcher.poll():
                self._flush(fn, batch, now)
            nxt = fn.batcher.next_deadline()
            if nxt is not None:
                fn.batch_armed = nxt
                self._timer(nxt, _T_BATCH, fn)
        elif kind == _T_START_TIMEOUT:
            run: _Run = obj
            if run.state in (_QUEUED, _WAITING_TS):
                self._cancel(run, now, "timeouts.start: not started in time", None)
        elif kind == _T_FINISH_TIMEOUT:
            run = obj
            if run.state < _COMPLETED:
                self._cancel(run, now, "timeouts.finish: not finished in time", None)
        elif kind == _T_ENQUEUE:
            run = obj
            if run.state == _WAITING_TS:
                run.state = _QUEUED
                self._enqueue(run, True, now)
        elif kind == _T_RETRY:
            run = obj
            h = run.retry_hold
            if run.state == _RETRYING and h is not None and h.retry_at == at:
                self._retry(run, now)

    # -- explanations ------------------------------------------------------------------

    def _note(self, eid: str, fn_id: str, outcome: str, run_id: str | None, reason: str) -> None:
        if not self._record:
            return
        recs = self._events.get(eid)
        if recs is None:
            self._events[eid] = [[fn_id, outcome, run_id, reason]]
            return
        for r in recs:
            if r[0] == fn_id:
                # debounced/batched events get their run later; superseding is final.
                if r[1] in ("debounced", "batched") and outcome == r[1]:
                    r[2] = run_id
                    return
                r[1], r[2], r[3] = outcome, run_id, reason
                return
        recs.append([fn_id, outcome, run_id, reason])

    def _current_hold(self, run: _Run) -> Hold | None:
        if run.state == _WAITING_TS:
            return run.first_hold
        if run.state == _RETRYING:
            return run.retry_hold
        b = run.backlog
        if run.state not in (_QUEUED, _STEP_QUEUED) or b is None:
            return None
        if b.hold is not None and b.state in (_PARKED, _ASLEEP):
            return b.hold
        return Hold("queue", None, None, None, run.created_at)

    def _explain_run(self, run: _Run) -> Explanation:
        hold = self._current_hold(run)
        holds = tuple(h for h in (run.first_hold, run.last_hold) if h is not None)
        if len(holds) == 2 and holds[0] == holds[1]:
            holds = holds[:1]
        st = run.state
        status = _STATE_NAMES[st]
        if run.reason:
            reason = run.reason
        elif st == _RETRYING and hold is not None and hold.retry_at is not None:
            reason = (f"attempt {run.attempt} of {run.fn.retries + 1} failed; retrying at "
                      f"{format_duration(hold.retry_at)}")
        elif hold is not None:
            reason = f"waiting on {hold.describe()}"
        elif run.started_at is not None and run.last_hold is not None:
            waited = run.started_at - run.created_at
            reason = f"started after waiting {waited // NS_PER_MS} ms on {run.last_hold.describe()}"
        elif run.started_at is not None:
            reason = "started without waiting"
        else:
            reason = ""
        return Explanation(
            run.id, "run", run.fn.id, status, reason, run_id=run.id,
            created_at=run.created_at, started_at=run.started_at, ended_at=run.ended_at,
            hold=hold, holds=holds,
        )


class FunctionController(FlowControl):
    """``FlowControl`` over one function."""

    def __init__(self, config: FunctionConfig, *, clock: Clock, **options: Any) -> None:
        super().__init__([config], clock=clock, **options)


