"""Offline simulation: replay an event trace through ``FlowControl`` on a virtual clock.

A plain discrete-event loop (a ``heapq`` of ``(time, seq, kind, run)``; no wall clock, no
threads): at each instant it handles, in this order, the controller's own deadlines
(``poll``: debounces, batches, throttle, timeouts), the steps that end, then the events
that arrive. Events are replayed at their ``ts`` (ms); an event without ``ts`` takes the
previous one's. Runs are modelled by the function's ``steps`` (``run`` holds concurrency
slots, ``sleep`` holds nothing) or, without ``steps``, by one step of ``run_duration``.
A ``run`` step with ``fail: N`` fails its first N attempts, each after its full duration
(``FlowControl.step_failed``: retried after the platform's backoff, or the run fails
when ``retries`` runs out). The loop runs until nothing is left to happen, so every run
started ends.

Same functions, events and options give the same ``SimResult``, byte for byte once
rendered (``flowcontrol.sim.report``).

One plain function with statistics only (``keep_rows=False``; the exact rule is
``flowcontrol.sim.lean.plain``) takes a lean pipeline with the same results, several
times faster; everything else (failing steps included, and a run limit
``concurrency.fn`` beside step limits or with runs of several steps, where it is held
through the sleeps) takes the general path through ``FlowControl``.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from typing import Any, Final

from flowcontrol.config.model import FunctionConfig
from flowcontrol.controller.decisions import (
    BatchFlushed,
    Decision,
    EventBatched,
    EventDebounced,
    EventDropped,
    EventSkipped,
    EventSuperseded,
    RunCancelled,
    RunFailed,
    RunQueued,
    RunSkipped,
    RunStarted,
    StepRetrying,
    StepStarted,
)
from flowcontrol.controller.fairness import WaitQueuePolicy
from flowcontrol.controller.flowcontrol import FlowControl
from flowcontrol.controller.keys import CompiledExpr, make_activation
from flowcontrol.sim.lean import plain, read_event, run_lean
from flowcontrol.sim.stats import Stats
from flowcontrol.time import NS_PER_S, ManualClock

__all__ = ["EventRow", "Failures", "RunRow", "SimResult", "report_key_expression", "simulate"]

_STEP_END: Final = 0
_STEP_READY: Final = 1
_RUN_END: Final = 2
_INF: Final = 1 << 126
_WAITING: Final = ("debounced", "batched")  # outcomes that wait for their run


@dataclass(slots=True)
class RunRow:
    """One run: times in ns (None if it never got there); status completed, cancelled,
    skipped, failed or pending; ``retries``: how many times one of its steps was retried."""

    run_id: str
    function: str
    event_ids: tuple[str, ...]
    created_at: int
    started_at: int | None = None
    ended_at: int | None = None
    status: str = "pending"
    reason: str = ""
    group: str = ""
    stats: Stats | None = field(default=None, repr=False, compare=False)
    retries: int = 0


@dataclass(slots=True)
class Failures:
    """Failed runs and step retries of one function and group key (``Stats`` counts a
    failed run among the pending ones; the report moves it)."""

    failed: int = 0
    retries: int = 0

    def add(self, other: Failures) -> None:
        self.failed += other.failed
        self.retries += other.retries


@dataclass(slots=True)
class EventRow:
    """One event's outcome for one function: run, dropped, skipped, debounced, batched or
    superseded."""

    event_id: str
    function: str
    outcome: str
    run_id: str | None = None
    reason: str = ""
    group: str = ""


@dataclass(slots=True)
class SimResult:
    """Everything a simulation produced; ``flowcontrol.sim.report`` renders it."""

    functions: tuple[str, ...]
    runs: list[RunRow]
    events: list[EventRow]
    unmatched_events: int
    start: int
    end: int
    run_duration: int
    group_by: dict[str, str]
    stats: dict[tuple[str, str], Stats]
    """Per (function, group key): counts and latencies (``flowcontrol.sim.stats``)."""
    peak_function: dict[str, int]
    complete: bool
    """Whether ``runs`` and ``events`` hold every row (``keep_rows=True``)."""
    timeline: list[tuple[int, str, str, int, int]] = field(default_factory=list)
    """(time, function, group, running, backlog) samples, when asked for."""
    failures: dict[tuple[str, str], Failures] = field(default_factory=dict)
    """Per (function, group key): failed runs and retries (only where there were any)."""


def report_key_expression(cfg: FunctionConfig) -> str:
    """The key a report groups a function's runs by, when none is given.

    The first present of: the first keyed concurrency limit, the run limit's key, the
    throttle key, the rate limit key, the debounce key, the batch key, the singleton key;
    else ``""`` (one group).
    """
    for c in cfg.keyed_concurrency():
        if c.key:
            return c.key
    rc = cfg.run_concurrency
    if rc is not None and rc.key:
        return rc.key
    for part in (cfg.throttle, cfg.effective_rate_limit(), cfg.debounce, cfg.batch,
                 cfg.singleton):
        key = getattr(part, "key", None) if part is not None else None
        if key:
            return str(key)
    return ""


def _plan(cfg: FunctionConfig, run_duration: int) -> tuple[tuple[str, int, int], ...]:
    """Steps as (kind, ns, failing attempts), starting with a ``run`` (a leading sleep
    follows a 0 s run)."""
    steps = tuple((s.kind, s.duration_ns, s.fail) for s in cfg.steps) or (
        ("run", run_duration, 0),
    )
    if steps[0][0] != "run":
        steps = (("run", 0, 0), *steps)
    return steps


def _fails(plan: tuple[tuple[str, int, int], ...]) -> bool:
    return any(s[2] for s in plan)


class _Sim:
    """The host side: runs the steps, keeps rows and statistics."""

    def __init__(
        self,
        functions: Sequence[FunctionConfig],
        run_duration: int,
        group_by: str | None,
        timeline: bool,
        keep_rows: bool,
        controller_options: dict[str, Any],
    ) -> None:
        self.clock = ManualClock(0)
        self.fc = FlowControl(functions, clock=self.clock, record=False, **controller_options)
        self.plans = {f.id: _plan(f, run_duration) for f in functions}
        # Functions whose run is one step that never fails: its end finishes the run.
        self.one_step = {k: len(v) == 1 and not v[0][2] for k, v in self.plans.items()}
        self.fails = {k: _fails(v) for k, v in self.plans.items()}
        self.tries: dict[str, int] = {}  # run -> failed attempts of its current step
        self.failures: dict[tuple[str, str], Failures] = {}
        self.group_src = {f.id: group_by if group_by is not None else report_key_expression(f)
                          for f in functions}
        self.group_expr = {k: CompiledExpr(v) if v else None for k, v in self.group_src.items()}
        # Functions whose group key is their first concurrency key: the controller has
        # already evaluated it on the run (``_Run.ckeys[0]``), the same way.
        self.group_ck0 = {
            f.id: bool(self.group_src[f.id])
            and [c.key for c in f.keyed_concurrency() if c.key][:1] == [self.group_src[f.id]]
            for f in functions
        }
        self.keep_rows = keep_rows
        self.runs: dict[str, RunRow] = {}  # every run (keep_rows) or the live ones
        self.events: list[EventRow] = []  # every event row (keep_rows only)
        self.pending: dict[tuple[str, str], EventRow] = {}  # rows whose outcome may change
        self.stats: dict[tuple[str, str], Stats] = {}
        self.cur_act: dict[str, Any] = {"event": {"id": None}}
        self.cur_eid: Any = None
        self.cur_groups: dict[str, str] = {}
        self.heap: list[tuple[int, int, int, str]] = []
        self.seq = 0
        self.step: dict[str, int] = {}
        self.running: dict[tuple[str, str], int] = {}
        self.running_fn: dict[str, int] = {f.id: 0 for f in functions}
        self.peak_fn: dict[str, int] = {f.id: 0 for f in functions}
        self.backlog: dict[tuple[str, str], int] = {}
        self.queued: set[str] = set()
        self.want_timeline = timeline
        self.timeline: list[tuple[int, str, str, int, int]] = []
        self.dispatch = {
            RunStarted: self.on_started,
            StepStarted: self.on_step_started,
            RunQueued: self.on_queued,
            RunCancelled: self.on_cancelled,
            RunSkipped: self.on_skipped,
            EventDropped: self.on_dropped,
            EventSkipped: self.on_event_skipped,
            EventSuperseded: self.on_superseded,
            EventDebounced: self.on_debounced,
            EventBatched: self.on_batched,
            BatchFlushed: self.on_flushed,
            StepRetrying: self.on_retrying,
            RunFailed: self.on_failed,
        }

    def at(self, fn: str, group: str) -> Stats:
        k = (fn, group)
        st = self.stats.get(k)
        if st is None:
            st = self.stats[k] = Stats()
        return st

    def group_of(self, fn_id: str, eid: str) -> str:
        """The group key of event ``eid`` for a function: from its pending row, or evaluated
        on the event arriving now."""
        e = self.group_expr[fn_id]
        if e is None:
            return ""
        er = self.pending.get((eid, fn_id))
        if er is not None:
            return er.group
        if self.cur_eid != eid:
            return ""
        g = self.cur_groups.get(fn_id)
        if g is None:
            g = self.cur_groups[fn_id] = e.key(self.cur_act)
        return g

    def push(self, t: int, kind: int, run_id: str) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, kind, run_id))

    def sample(self, t: int, fn: str, group: str) -> None:
        k = (fn, group)
        self.timeline.append((t, fn, group, self.running.get(k, 0), self.backlog.get(k, 0)))

    # -- event rows ----------------------------------------------------------------------

    def outcome(self, eid: str, fn: str, outcome: str, run_id: str | None, reason: str) -> None:
        """Record an event's outcome; an outcome is final unless it is a debounce or batch
        still waiting for its run."""
        key = (eid, fn)
        er = self.pending.pop(key, None) if self.pending else None
        if er is None:
            group = self.group_of(fn, eid)
            if not self.keep_rows and (run_id is not None or outcome not in _WAITING):
                st = self.at(fn, group)  # final at once, and no row is kept: just count it
                st.events_in += 1
                st.outcomes[outcome] += 1
                return
            er = EventRow(eid, fn, outcome, run_id, reason, group)
            if self.keep_rows:
                self.events.append(er)
        else:
            er.outcome, er.reason = outcome, reason
            if run_id is not None or outcome == "superseded":
                er.run_id = run_id
        if er.run_id is None and outcome in _WAITING:
            self.pending[key] = er
            return
        st = self.at(fn, er.group)
        st.events_in += 1
        st.outcomes[outcome] += 1

    # -- run rows ------------------------------------------------------------------------

    def row(self, run_id: str, fn: str, event_ids: tuple[str, ...], created: int,
            attach: bool = True) -> RunRow:
        """The run's row, created on first sight; ``attach`` gives its events their
        outcome (``run``, or the debounce/batch they waited in)."""
        row = self.runs.get(run_id)
        if row is None:
            group = self.group_of(fn, event_ids[0]) if event_ids else ""
            st = self.at(fn, group)
            row = RunRow(run_id, fn, event_ids, created, group=group, stats=st)
            self.runs[run_id] = row
            st.runs += 1
            for e in event_ids if attach else ():
                er = self.pending.get((e, fn))
                if er is None:
                    self.outcome(e, fn, "run", run_id, "")
                else:
                    self.outcome(e, fn, er.outcome, run_id, er.reason)
        return row

    def end(self, row: RunRow, status: str, t: int) -> None:
        row.status = status
        row.ended_at = t
        st = row.stats
        assert st is not None
        if status == "completed":
            st.completed += 1
        elif status == "cancelled":
            st.cancelled += 1
        elif status == "failed":
            self.failures_of(row).failed += 1
        else:
            st.skipped_runs += 1

    def failures_of(self, row: RunRow) -> Failures:
        k = (row.function, row.group)
        f = self.failures.get(k)
        if f is None:
            f = self.failures[k] = Failures()
        return f

    def forget(self, run_id: str) -> None:
        if not self.keep_rows:
            self.runs.pop(run_id, None)

    def bump_backlog(self, row: RunRow, delta: int, t: int) -> None:
        k = (row.function, row.group)
        self.backlog[k] = self.backlog.get(k, 0) + delta
        if self.want_timeline:
            self.sample(t, row.function, row.group)

    # -- decisions ---------------------------------------------------------------------

    def handle(self, decisions: list[Decision], t: int) -> None:
        dispatch = self.dispatch
        for d in decisions:
            dispatch[type(d)](d, t)  # type: ignore[operator]

    def on_started(self, d: RunStarted, t: int) -> None:
        if d.run_id not in self.runs:
            eids = d.event_ids
            if len(eids) == 1 and eids[0] == self.cur_eid and (
                not self.pending or (eids[0], d.function) not in self.pending
            ):
                self.new_started(d, t)
                return
        self.general_started(d, t)

    def new_started(self, d: RunStarted, t: int) -> None:
        """``general_started`` for a run seen for the first time, made of the one event
        arriving now, which has no row waiting: the same counts, fewer steps."""
        fn = d.function
        run_id = d.run_id
        eid = self.cur_eid
        e = self.group_expr[fn]
        if e is None:
            group = ""
        else:
            group = self.cur_groups.get(fn)  # type: ignore[assignment]
            if group is None:
                r = self.fc._runs.get(run_id) if self.group_ck0[fn] else None
                group = r.ckeys[0] if r is not None else e.key(self.cur_act)
                self.cur_groups[fn] = group
        k = (fn, group)
        st = self.stats.get(k)
        if st is None:
            st = self.stats[k] = Stats()
        created = d.created_at
        row = RunRow(run_id, fn, d.event_ids, created, t, group=group, stats=st)
        self.runs[run_id] = row
        st.runs += 1
        if self.keep_rows:
            self.events.append(EventRow(eid, fn, "run", run_id, "", group))
        st.events_in += 1
        st.outcomes["run"] += 1
        st.runs_started += 1
        st.latencies.append(t - created)
        self.step[run_id] = 0
        n = self.running.get(k, 0) + 1
        self.running[k] = n
        if n > st.peak_concurrency:
            st.peak_concurrency = n
        m = self.running_fn[fn] + 1
        self.running_fn[fn] = m
        if m > self.peak_fn[fn]:
            self.peak_fn[fn] = m
        if self.want_timeline:
            self.sample(t, fn, group)
        self.seq += 1
        heapq.heappush(self.heap, (t + self.plans[fn][0][1], self.seq, _STEP_END, run_id))

    def general_started(self, d: RunStarted, t: int) -> None:
        row = self.row(d.run_id, d.function, d.event_ids, d.created_at)
        row.started_at = t
        st = row.stats
        assert st is not None
        st.runs_started += 1
        st.latencies.append(t - row.created_at)
        if row.run_id in self.queued:
            self.queued.discard(row.run_id)
            self.bump_backlog(row, -1, t)
        self.step[row.run_id] = 0
        self.on_step_started(d, t)

    def on_step_started(self, d: RunStarted | StepStarted, t: int) -> None:
        run_id = d.run_id
        row = self.runs[run_id]
        k = (row.function, row.group)
        n = self.running.get(k, 0) + 1
        self.running[k] = n
        st = row.stats
        assert st is not None
        if n > st.peak_concurrency:
            st.peak_concurrency = n
        m = self.running_fn[row.function] + 1
        self.running_fn[row.function] = m
        if m > self.peak_fn[row.function]:
            self.peak_fn[row.function] = m
        if self.want_timeline:
            self.sample(t, row.function, row.group)
        plan = self.plans[row.function]
        self.push(t + plan[self.step[run_id]][1], _STEP_END, run_id)

    def on_queued(self, d: RunQueued, t: int) -> None:
        row = self.row(d.run_id, d.function, d.event_ids, d.created_at)
        if d.run_id not in self.queued and row.started_at is None:
            self.queued.add(row.run_id)
            self.bump_backlog(row, 1, t)

    def on_cancelled(self, d: RunCancelled, t: int) -> None:
        row = self.runs.get(d.run_id)
        if row is None or row.status == "cancelled":
            return
        row.reason = d.reason
        self.end(row, "cancelled", t)
        if row.run_id in self.queued:
            self.queued.discard(row.run_id)
            self.bump_backlog(row, -1, t)
        if row.run_id not in self.step:  # never started: nothing of it is left to run
            self.forget(row.run_id)

    def on_skipped(self, d: RunSkipped, t: int) -> None:
        for e in d.event_ids:
            self.outcome(e, d.function, "skipped", d.run_id, d.reason)
        row = self.row(d.run_id, d.function, d.event_ids, t, attach=False)
        row.reason = d.reason
        self.end(row, "skipped", t)
        self.forget(row.run_id)

    def on_dropped(self, d: EventDropped, t: int) -> None:
        self.outcome(d.event_id, d.function, "dropped", None, d.reason)

    def on_event_skipped(self, d: EventSkipped, t: int) -> None:
        self.outcome(d.event_id, d.function, "skipped", d.run_id, d.reason)

    def on_superseded(self, d: EventSuperseded, t: int) -> None:
        by = d.by_event_id
        why = f"superseded by event {by}" if by else "a newer event was pending"
        self.outcome(d.event_id, d.function, "superseded", None, why)

    def on_debounced(self, d: EventDebounced, t: int) -> None:
        self.outcome(d.event_id, d.function, "debounced", None, "")

    def on_batched(self, d: EventBatched, t: int) -> None:
        self.outcome(d.event_id, d.function, "batched", None, "")

    def on_flushed(self, d: BatchFlushed, t: int) -> None:
        pass  # the run's own RunStarted/RunQueued/RunSkipped follows

    def on_retrying(self, d: StepRetrying, t: int) -> None:
        row = self.runs[d.run_id]
        row.retries += 1
        self.failures_of(row).retries += 1

    def on_failed(self, d: RunFailed, t: int) -> None:
        row = self.runs[d.run_id]
        row.reason = d.reason
        self.end(row, "failed", t)
        self.step.pop(d.run_id, None)
        self.tries.pop(d.run_id, None)
        self.forget(d.run_id)

    # -- the run's steps -----------------------------------------------------------------

    def step_ended(self, run_id: str, t: int) -> None:
        row = self.runs[run_id]
        fn = row.function
        self.running[(fn, row.group)] -= 1
        self.running_fn[fn] -= 1
        if self.want_timeline:
            self.sample(t, fn, row.group)
        if self.one_step[fn] and row.status != "cancelled":
            # finish(), inlined: the run's only step is over.
            self.step.pop(run_id, None)
            ds = self.fc.run_finished(run_id)
            if ds:
                self.handle(ds, t)
            row.status = "completed"
            row.ended_at = t
            row.stats.completed += 1  # type: ignore[union-attr]
            if not self.keep_rows:
                del self.runs[run_id]
            return
        if row.status == "cancelled":
            self.handle(self.fc.step_finished(run_id), t)
            self.step.pop(run_id, None)
            self.tries.pop(run_id, None)
            self.forget(run_id)
            return
        plan = self.plans[row.function]
        if self.fails[fn]:
            fail = plan[self.step[run_id]][2]
            n = self.tries.get(run_id, 0)
            if n < fail:  # this attempt fails: a retry (StepRetrying) or the run fails
                self.tries[run_id] = n + 1
                self.handle(self.fc.step_failed(run_id), t)
                return
            self.tries.pop(run_id, None)
        i = self.step[run_id] + 1
        sleep = 0
        while i < len(plan) and plan[i][0] == "sleep":
            sleep += plan[i][1]
            i += 1
        if i >= len(plan):
            if sleep:
                self.handle(self.fc.step_finished(run_id), t)
                self.push(t + sleep, _RUN_END, run_id)
            else:
                self.finish(row, t)
            return
        self.step[run_id] = i
        self.handle(self.fc.step_finished(run_id), t)
        if sleep:
            self.push(t + sleep, _STEP_READY, run_id)
        else:
            self.handle(self.fc.step_ready(run_id), t)

    def finish(self, row: RunRow, t: int) -> None:
        self.step.pop(row.run_id, None)
        if row.status != "cancelled":
            self.handle(self.fc.run_finished(row.run_id), t)
            self.end(row, "completed", t)
        self.forget(row.run_id)

    def timer(self, kind: int, run_id: str, t: int) -> None:
        if kind == _STEP_END:
            self.step_ended(run_id, t)
            return
        row = self.runs[run_id]
        if row.status == "cancelled":
            self.step.pop(run_id, None)
            self.forget(run_id)
            return
        if kind == _STEP_READY:
            self.handle(self.fc.step_ready(run_id), t)
        else:
            self.finish(row, t)


def _arrivals(
    events: Iterable[Mapping[str, Any]], presorted: bool
) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """(time in ns, event) in time order; ids and missing ``ts`` filled in. Lazy: nothing
    is read before the first ``next``."""
    return _in_order(events) if presorted else _sorted(events)


def _filled(events: Iterable[Mapping[str, Any]]) -> Iterator[tuple[int, int, Mapping[str, Any]]]:
    """(time in ns, position, event) in trace order, ids and missing ``ts`` filled in."""
    last: Any = 0
    for i, ev in enumerate(events):
        t, ev, last = read_event(i + 1, ev, last)
        yield t, i, ev


def _sorted(events: Iterable[Mapping[str, Any]]) -> Iterator[tuple[int, Mapping[str, Any]]]:
    for t, _, ev in sorted(_filled(events), key=lambda a: (a[0], a[1])):
        yield t, ev


def _in_order(events: Iterable[Mapping[str, Any]]) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """``_filled`` for a presorted trace (ValueError if a ``ts`` goes backwards)."""
    last: Any = 0
    prev = -_INF
    for i, ev in enumerate(events):
        t, ev, last = read_event(i + 1, ev, last)
        if t < prev:
            raise ValueError(f"event {i + 1}: ts goes backwards in a presorted trace")
        prev = t
        yield t, ev


def simulate(
    functions: Sequence[FunctionConfig],
    events: Iterable[Mapping[str, Any]],
    *,
    run_duration: int = NS_PER_S,
    group_by: str | None = None,
    timeline: bool = False,
    keep_rows: bool = True,
    presorted: bool = False,
    progress: Callable[[int, int], None] | None = None,
    account_concurrency: int = 0,
    priority_range: tuple[int, int] = (-600, 600),
    fairness: WaitQueuePolicy | None = None,
) -> SimResult:
    """simulate replays ``events`` through ``functions`` until everything has happened.

    ``run_duration`` (ns) is one run's length for functions without ``steps``;
    ``group_by`` is an expression that groups runs in the report (default: see
    ``report_key_expression``); ``timeline`` keeps (time, running, backlog) samples for
    plots; ``progress(done, total)`` is called now and then (``total`` is 0 when
    ``events`` has no length). Events without ``id`` get ``evt-<n>`` (their position,
    from 1). Raises ValueError on a malformed event.

    For long traces: ``keep_rows=False`` keeps statistics only (rows of finished runs and
    events are dropped, so memory follows live work and keys), and ``presorted=True``
    consumes ``events`` lazily (they must come in ``ts`` order).
    """
    opts: dict[str, Any] = {
        "account_concurrency": account_concurrency,
        "priority_range": priority_range,
        "fairness": fairness,
    }
    plan = _plan(functions[0], run_duration) if len(functions) == 1 else None
    lean = plain(
        functions,
        None if plan is None or _fails(plan) else tuple((k, ns) for k, ns, _ in plan),
        group_by=group_by, timeline=timeline, keep_rows=keep_rows,
        account_concurrency=account_concurrency, priority_range=priority_range,
        fairness=fairness,
    )
    total = len(events) if isinstance(events, Sized) else 0
    if lean:
        return _simulate_lean(functions[0], run_duration, events, presorted, group_by,
                              priority_range, progress, total)
    sim = _Sim(functions, run_duration, group_by, timeline, keep_rows, opts)
    arrivals = _arrivals(events, presorted)
    nxt = next(arrivals, None)
    start = nxt[0] if nxt is not None else 0
    fc, clock, heap = sim.fc, sim.clock, sim.heap
    if start > 0:
        clock.set(start)
    unmatched = 0
    done = 0
    every = max(1, total // 100) if total else 10_000
    names = {e for f in functions for e in f.events}
    wild = any("*" in e for e in names)
    handle = sim.handle
    on_started = sim.on_started
    step_ended = sim.step_ended
    timer = sim.timer
    receive = fc.receive_event
    heappop = heapq.heappop
    timers = fc._timers
    cur = clock.now
    while True:
        t_arr = nxt[0] if nxt is not None else _INF
        t_heap = heap[0][0] if heap else _INF
        dl = fc.next_deadline() if timers else None
        t_ctl = dl if dl is not None else _INF
        t = min(t_arr, t_heap, t_ctl)
        if t >= _INF:
            break
        if t > cur:
            clock.set(t)
            cur = t
        if t_ctl <= t:
            handle(fc.poll(), t)
        while heap and heap[0][0] <= t:
            _, _, kind, run_id = heappop(heap)
            if kind == _STEP_END:
                step_ended(run_id, t)
            else:
                timer(kind, run_id, t)
        while nxt is not None and nxt[0] <= t:
            ev = nxt[1]
            nxt = next(arrivals, None)
            done += 1
            if progress is not None and done % every == 0:
                progress(done, total)
            if not wild and ev.get("name") not in names:
                unmatched += 1
                continue
            act = make_activation(ev)
            sim.cur_act = act
            sim.cur_eid = act["event"]["id"]
            sim.cur_groups = {}
            decisions = receive(ev, activation=act)
            if not decisions:
                unmatched += 1
            elif len(decisions) == 1 and type(decisions[0]) is RunStarted:
                on_started(decisions[0], t)
            else:
                handle(decisions, t)
    if progress is not None:
        progress(done, total or done)
    return SimResult(
        functions=tuple(f.id for f in functions),
        runs=list(sim.runs.values()),
        events=sim.events,
        unmatched_events=unmatched,
        start=start,
        end=clock.now,
        run_duration=run_duration,
        group_by=sim.group_src,
        stats=sim.stats,
        peak_function=sim.peak_fn,
        complete=keep_rows,
        timeline=sim.timeline,
        failures=sim.failures,
    )


def _simulate_lean(
    cfg: FunctionConfig,
    run_duration: int,
    events: Iterable[Mapping[str, Any]],
    presorted: bool,
    group_by: str | None,
    priority_range: tuple[int, int],
    progress: Callable[[int, int], None] | None,
    total: int,
) -> SimResult:
    """``simulate`` for one plain function, statistics only (``flowcontrol.sim.lean``,
    which reads the events itself as ``_in_order`` does)."""
    group_src = group_by if group_by is not None else report_key_expression(cfg)
    duration = _plan(cfg, run_duration)[0][1]
    stream = iter(events) if presorted else iter([ev for _, ev in _sorted(events)])
    r = run_lean(cfg, duration, group_src, stream, priority_range, progress, total)
    return SimResult(
        functions=(cfg.id,),
        runs=[],
        events=[],
        unmatched_events=r.unmatched,
        start=r.start,
        end=r.end,
        run_duration=run_duration,
        group_by={cfg.id: group_src},
        stats=r.stats,
        peak_function=r.peak_function,
        complete=False,
    )
