"""FlowControl against a brute-force model of what it may and must do.

A Hypothesis state machine plays the host: it sends events, lets time pass, finishes,
readies and cancels steps, and after every input checks that

* no concurrency limit (function-wide or per key) is exceeded at any instant, and every
  start or step found a free slot under its own function's limits, including keys that
  two functions share (``account`` scope) with different limits;
* never more than N runs in progress per key under a run-level limit
  (``concurrency: {"fn": [{"limit": N, "key"?}]}``): a run counts from its start to its
  end, sleeping, queued for a step or retrying included, and a start is refused only when
  its key has N runs in progress;
* every start is one a reference GCRA (the spec's Appendix A, in exact fractions) admits;
* nothing is left waiting that could go now (no lost wake-ups: admission is immediate),
  each run judged against its own function's limits on a shared counter;
* within one key, the run that starts is the one with the lowest priority score (created
  minus factor; ties by arrival), and never before its score;
* every event has exactly one outcome;
* a failed step (``step_failed``) is retried while the function's ``retries`` allow, holds
  no slot while it waits for its retry, then needs concurrency again; the run fails once
  the attempts of one step run out.

A second test runs whole random traces through the simulator and checks the same
accounting on its report.

Repeated event ids (issue 12): a model of the platform's rate limit with idempotency (a
reference GCRA, the limiter's 30-minute marks on event ids, the 24-hour dedupe of ids at
run creation) predicts every decision for random traces of repeated ids (same id, same or
another payload); a repeat within the window never consumes rate-limit capacity and never
makes a second run. In the simulator, adding repeats of admitted events within 30 minutes
to a trace changes nothing but the count of skipped events.
"""

from __future__ import annotations

from fractions import Fraction
from itertools import pairwise
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from flowcontrol import ManualClock
from flowcontrol.config.model import FunctionConfig
from flowcontrol.controller.decisions import (
    EventDropped,
    EventSkipped,
    RunCancelled,
    RunFailed,
    RunQueued,
    RunStarted,
    StepRetrying,
    StepStarted,
)
from flowcontrol.controller.flowcontrol import FlowControl
from flowcontrol.sim.report import summarize, to_document
from flowcontrol.sim.simulate import simulate

S = 1_000_000_000
KEYS = ("a", "b", "c")


class RefGcra:
    """Appendix A's closed form: admit iff max(tat, now) + T - now <= T * (limit + burst)."""

    def __init__(self, limit: int, period: int, burst: int) -> None:
        self.t = Fraction(period, max(limit, 1))
        self.cap = max(limit, 1) + burst
        self.tat: dict[str, Fraction] = {}

    def allows(self, key: str, now: int) -> bool:
        tat = max(self.tat.get(key, Fraction(now)), Fraction(now))
        return tat + self.t - now <= self.t * self.cap

    def take(self, key: str, now: int) -> None:
        self.tat[key] = max(self.tat.get(key, Fraction(now)), Fraction(now)) + self.t


class _Fn:
    """One function of the machine: its limits and its reference throttle."""

    def __init__(self, fid: str, fn_limit: int, key_limit: int, scope: str,
                 throttle: tuple[int, int, int] | None, throttle_keyed: bool,
                 priority: bool, retries: int, run_limit: int = 0,
                 run_keyed: bool = False) -> None:
        self.id = fid
        self.run_limit, self.run_keyed = run_limit, run_keyed
        self.retries = retries
        self.fn_limit, self.key_limit, self.scope = fn_limit, key_limit, scope
        self.throttle_keyed = throttle_keyed
        self.priority = priority
        self.ref = None if throttle is None else RefGcra(throttle[0], throttle[1] * S,
                                                         throttle[2])
        cfg: dict[str, Any] = {"id": fid, "triggers": [{"event": f"e{fid}"}],
                               "retries": retries}
        if priority:
            cfg["priority"] = {"run": "int(event.data.p)"}
        conc: list[dict[str, Any]] = []
        if fn_limit:
            conc.append({"limit": fn_limit})
        if key_limit:
            conc.append({"limit": key_limit, "key": "event.data.k", "scope": scope})
        if run_limit:
            fn_part: dict[str, Any] = {"limit": run_limit}
            if run_keyed:
                fn_part["key"] = "event.data.k"
            cfg["concurrency"] = {"fn": [fn_part], "step": conc} if conc else {"fn": [fn_part]}
        elif conc:
            cfg["concurrency"] = conc
        if throttle is not None:
            limit, period, burst = throttle
            cfg["throttle"] = {"limit": limit, "period": f"{period}s", "burst": burst}
            if throttle_keyed:
                cfg["throttle"]["key"] = "event.data.k"
        self.config = FunctionConfig.from_mapping(cfg)

    def counter(self, key: str) -> tuple[str, str] | None:
        """The model's name of the keyed counter a run with ``key`` takes (shared when the
        scope is ``account``: same expression text, same key), None without a key limit."""
        if not self.key_limit:
            return None
        return ("account" if self.scope == "account" else self.id, key)

    def run_counter(self, key: str) -> tuple[str, str] | None:
        """The model's name of the run-level counter (one per function and key)."""
        if not self.run_limit:
            return None
        return (self.id, key if self.run_keyed else "")


fn_setup = st.builds(
    lambda *a: a,
    st.integers(0, 3),  # function limit
    st.integers(0, 3),  # key limit
    st.sampled_from(["account", "fn"]),
    st.none() | st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(0, 2)),
    st.booleans(),  # throttle keyed
    st.booleans(),  # priority
    st.integers(0, 2),  # retries
    st.sampled_from([0, 0, 1, 2]),  # run limit (concurrency.fn)
    st.booleans(),  # run limit keyed
)


class ControllerMachine(RuleBasedStateMachine):
    """The host side of FlowControl over one or two functions, with a model of every run.

    With two functions whose key limits are ``account``-scoped, both take the shared
    counter of ``event.data.k``, each checked against its own (often different) limit.
    """

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.n = 0
        self.outcomes: dict[str, str] = {}
        self.key_of_event: dict[str, str] = {}
        self.fn_of_event: dict[str, _Fn] = {}
        self.key: dict[str, str] = {}  # run -> its key
        self.fn: dict[str, _Fn] = {}  # run -> its function
        self.state: dict[str, str] = {}  # run -> queued/step_queued/running/sleeping/done
        self.created: dict[str, int] = {}
        self.cancelling: set[str] = set()
        self.starts: list[tuple[str, int]] = []
        self.score: dict[str, int] = {}
        self.p_of_event: dict[str, int] = {}
        self.attempts: dict[str, int] = {}  # run -> failed attempts of its current step
        self.retry_at: dict[str, int] = {}

    @initialize(first=fn_setup, second=fn_setup | st.none())
    def setup(self, first: tuple[Any, ...], second: tuple[Any, ...] | None) -> None:
        self.fns = [_Fn("f", *first)]
        if second is not None:
            self.fns.append(_Fn("g", *second))
        self.fc = FlowControl([f.config for f in self.fns], clock=self.clock)

    # -- applying decisions to the model ---------------------------------------------------

    def check_slot(self, run: str) -> None:
        """A start or step of ``run`` takes a slot: every limit of its function had one."""
        f = self.fn[run]
        total, per = self.running_counts()
        assert not f.fn_limit or total[f.id] < f.fn_limit, f"{run}: function limit exceeded"
        c = f.counter(self.key[run])
        assert c is None or per.get(c, 0) < f.key_limit, f"{run}: {c} over its limit"

    def check_run_slot(self, run: str) -> None:
        """A start takes a run slot: its key had fewer than N runs in progress."""
        f = self.fn[run]
        rc = f.run_counter(self.key[run])
        if rc is not None:
            n = self.in_progress().get(rc, 0)
            assert n < f.run_limit, f"{run}: {n} runs in progress on {rc}, limit {f.run_limit}"

    def apply(self, decisions: list[Any]) -> None:
        now = self.clock.now
        for d in decisions:
            if isinstance(d, RunStarted):
                assert self.state.get(d.run_id, "queued") == "queued", d
                if d.run_id not in self.state:
                    self.note_run(d.run_id, d.event_ids, d.created_at)
                f = self.fn[d.run_id]
                self.check_slot(d.run_id)
                self.check_run_slot(d.run_id)
                tkey = self.key[d.run_id] if f.throttle_keyed else ""
                if f.ref is not None:
                    assert f.ref.allows(tkey, now), f"throttle exceeded by {d} at {now}"
                    f.ref.take(tkey, now)
                me = (self.score[d.run_id], int(d.run_id[4:]))
                for q in self.runs_in("queued"):
                    if q != d.run_id and self.key[q] == self.key[d.run_id] and self.fn[q] is f:
                        assert (self.score[q], int(q[4:])) > me, f"{d.run_id} overtook {q}"
                assert self.score[d.run_id] <= now, f"{d.run_id} started before its score"
                self.state[d.run_id] = "running"
                self.starts.append((d.run_id, now))
            elif isinstance(d, StepStarted):
                assert self.state[d.run_id] == "step_queued", d
                self.check_slot(d.run_id)
                self.state[d.run_id] = "running"
            elif isinstance(d, RunQueued):
                if d.run_id not in self.state:
                    self.note_run(d.run_id, d.event_ids, d.created_at)
                    self.state[d.run_id] = "queued"
            elif isinstance(d, RunCancelled):
                if self.state[d.run_id] == "running":
                    self.cancelling.add(d.run_id)
                else:
                    self.state[d.run_id] = "done"
            elif isinstance(d, EventDropped | EventSkipped):
                assert d.event_id not in self.outcomes
                self.outcomes[d.event_id] = type(d).__name__
            else:
                raise AssertionError(f"unexpected decision {d}")

    def note_run(self, run_id: str, event_ids: tuple[str, ...], created: int) -> None:
        self.created[run_id] = created
        first = event_ids[0]
        self.key[run_id] = self.key_of_event[first]
        f = self.fn[run_id] = self.fn_of_event[first]
        p = self.p_of_event[first] if f.priority else 0
        self.score[run_id] = created - p * S
        for e in event_ids:
            assert e not in self.outcomes, f"event {e} has two outcomes"
            self.outcomes[e] = run_id

    def runs_in(self, state: str) -> list[str]:
        return sorted((r for r, s in self.state.items() if s == state), key=lambda r: int(r[4:]))

    # -- the host's inputs -----------------------------------------------------------------

    @rule(which=st.integers(0, 1), k=st.sampled_from(KEYS), p=st.sampled_from([0, 0, 3, -2]))
    def send(self, which: int, k: str, p: int) -> None:
        f = self.fns[which % len(self.fns)]
        self.n += 1
        eid = f"e{self.n}"
        self.key_of_event[eid] = k
        self.fn_of_event[eid] = f
        self.p_of_event[eid] = p
        data = {"k": k, "p": p}
        self.apply(self.fc.receive_event({"name": f"e{f.id}", "id": eid, "data": data}))
        assert eid in self.outcomes, f"event {eid} got no outcome"

    @rule(ms=st.integers(0, 4000))
    def tick(self, ms: int) -> None:
        self.clock.advance(ms * 1_000_000)
        now = self.clock.now
        for r in self.runs_in("retrying"):
            if self.retry_at[r] <= now:
                self.state[r] = "step_queued"  # the retry is due: it needs a slot again
        self.apply(self.fc.poll())

    @precondition(lambda self: bool(self.runs_in("running")))
    @rule(data=st.data(), after_ms=st.sampled_from([0, 500, 3000]))
    def fail_step(self, data: st.DataObject, after_ms: int) -> None:
        run = data.draw(st.sampled_from(self.runs_in("running")))
        now = self.clock.now
        at = now + after_ms * 1_000_000
        out = self.fc.step_failed(run, retry_at=at)
        f = self.fn[run]
        if run in self.cancelling:  # cancelled while its step ran: ends cancelled
            self.state[run] = "done"
        else:
            n = self.attempts.get(run, 0) + 1
            first = out.pop(0)
            if n <= f.retries:
                assert first == StepRetrying(run, f.id, n, at), first
                self.attempts[run] = n
                self.retry_at[run] = at
                self.state[run] = "retrying" if at > now else "step_queued"
            else:
                assert isinstance(first, RunFailed) and first.attempts == n, first
                self.state[run] = "done"
        self.apply(out)

    @precondition(lambda self: bool(self.runs_in("running")))
    @rule(data=st.data(), whole_run=st.booleans())
    def finish(self, data: st.DataObject, whole_run: bool) -> None:
        run = data.draw(st.sampled_from(self.runs_in("running")))
        if whole_run or run in self.cancelling:
            out = self.fc.run_finished(run) if whole_run else self.fc.step_finished(run)
            self.state[run] = "done"
        else:
            out = self.fc.step_finished(run)
            self.state[run] = "sleeping"
        self.attempts.pop(run, None)  # attempts are counted per step
        self.apply(out)

    @precondition(lambda self: bool(self.runs_in("sleeping")))
    @rule(data=st.data())
    def ready(self, data: st.DataObject) -> None:
        run = data.draw(st.sampled_from(self.runs_in("sleeping")))
        self.state[run] = "step_queued"
        self.apply(self.fc.step_ready(run))

    @precondition(lambda self: any(s != "done" for s in self.state.values()))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        live = sorted(r for r, s in self.state.items() if s != "done" and r not in self.cancelling)
        if live:
            self.apply(self.fc.cancel(data.draw(st.sampled_from(live))))

    # -- invariants --------------------------------------------------------------------

    def running_counts(self) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
        """Steps holding slots per function, and per keyed counter (shared ones summed)."""
        total = {f.id: 0 for f in self.fns}
        per: dict[tuple[str, str], int] = {}
        for r in self.runs_in("running"):
            f = self.fn[r]
            total[f.id] += 1
            c = f.counter(self.key[r])
            if c is not None:
                per[c] = per.get(c, 0) + 1
        return total, per

    def in_progress(self) -> dict[tuple[str, str], int]:
        """Runs in progress (started, not ended) per run-level counter."""
        out: dict[tuple[str, str], int] = {}
        for r, st_ in self.state.items():
            if st_ in ("running", "sleeping", "step_queued", "retrying"):
                rc = self.fn[r].run_counter(self.key[r])
                if rc is not None:
                    out[rc] = out.get(rc, 0) + 1
        return out

    @invariant()
    def never_more_than_n_runs_in_progress_per_key(self) -> None:
        if not hasattr(self, "fc"):
            return
        by_id = {f.id: f for f in self.fns}
        for rc, n in self.in_progress().items():
            assert n <= by_id[rc[0]].run_limit, (rc, n)

    @invariant()
    def limits_hold(self) -> None:
        if not hasattr(self, "fc"):
            return
        total, per = self.running_counts()
        for f in self.fns:
            if f.fn_limit:
                assert total[f.id] <= f.fn_limit
        # A shared counter may hold up to the largest limit put on it.
        for c, n in per.items():
            limits = [f.key_limit for f in self.fns if f.counter(c[1]) == c]
            assert n <= max(limits), (c, n, limits)

    @invariant()
    def nothing_waits_that_could_go(self) -> None:
        if not hasattr(self, "fc"):
            return
        total, per = self.running_counts()
        running = self.in_progress()
        now = self.clock.now
        for run in self.runs_in("queued") + self.runs_in("step_queued"):
            f = self.fn[run]
            k = self.key[run]
            if self.state[run] == "queued" and self.score[run] > now:
                continue  # a negative priority factor delays it
            c = f.counter(k)
            conc_ok = (not f.fn_limit or total[f.id] < f.fn_limit) and (
                c is None or per.get(c, 0) < f.key_limit
            )
            thr_ok = (
                self.state[run] == "step_queued"
                or f.ref is None
                or f.ref.allows(k if f.throttle_keyed else "", now)
            )
            rc = f.run_counter(k)
            run_ok = (self.state[run] == "step_queued" or rc is None
                      or running.get(rc, 0) < f.run_limit)
            assert not (conc_ok and thr_ok and run_ok), (
                f"{run} waits at {now} though it could start")


ControllerMachine.TestCase.settings = settings(
    ControllerMachine.TestCase.settings, stateful_step_count=40
)
TestController = ControllerMachine.TestCase


class SharedKeyMachine(ControllerMachine):
    """Two functions on one ``account`` key with different limits (spec 2.3), no throttle:
    the case where one line per counter let the stricter function hold back the other."""

    @initialize(limits=st.lists(st.integers(1, 3), min_size=2, max_size=2, unique=True),
                fn_limits=st.tuples(st.integers(0, 3), st.integers(0, 3)),
                priority=st.booleans())
    def setup(self, limits: list[int], fn_limits: tuple[int, int], priority: bool) -> None:
        self.fns = [_Fn(fid, fl, kl, "account", None, False, priority, 1)
                    for fid, fl, kl in zip("fg", fn_limits, limits, strict=True)]
        self.fc = FlowControl([f.config for f in self.fns], clock=self.clock)


# 200 machines even under the ci profile (60 derandomized ones miss the old bug).
SharedKeyMachine.TestCase.settings = settings(
    SharedKeyMachine.TestCase.settings, stateful_step_count=30, max_examples=200
)
TestSharedKey = SharedKeyMachine.TestCase


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    cfg: dict[str, Any] = {"id": "f", "triggers": [{"event": "e"}]}
    if draw(st.booleans()):
        cfg["concurrency"] = draw(st.integers(1, 4))
    if draw(st.booleans()):
        cfg["throttle"] = {"limit": draw(st.integers(1, 5)), "period": "10s",
                           "burst": draw(st.integers(0, 2))}
    extra = draw(st.sampled_from(["none", "rate", "debounce", "batch", "skip", "cancel"]))
    if extra == "rate":
        cfg["rateLimit"] = {"limit": draw(st.integers(1, 20)), "period": "1m"}
    elif extra == "debounce":
        cfg["debounce"] = {"period": "2s", "timeout": draw(st.sampled_from(["5s", "1m"]))}
    elif extra == "batch":
        cfg["batchEvents"] = {"maxSize": draw(st.integers(2, 5)), "timeout": "3s"}
    elif extra in ("skip", "cancel"):
        cfg["singleton"] = {"mode": extra}
    shape = draw(st.sampled_from(["one", "steps", "failing one", "failing steps"]))
    fail = draw(st.integers(1, 3)) if shape.startswith("failing") else 0
    if shape.endswith("steps"):
        cfg["steps"] = [{"run": "1s", "fail": fail}, {"sleep": "3s"}, {"run": "2s"}]
    elif fail:
        cfg["steps"] = [{"run": "1s", "fail": fail}]
    if fail or draw(st.booleans()):
        cfg["retries"] = draw(st.integers(0, 3))
    return cfg


@settings(max_examples=60, deadline=None)
@given(cfg=configs(), gaps=st.lists(st.integers(0, 3000), min_size=1, max_size=60))
def test_simulated_traces_account_for_every_event(cfg: dict[str, Any], gaps: list[int]) -> None:
    t = 0
    trace = []
    for i, g in enumerate(gaps):
        t += g
        trace.append({"name": "e", "id": f"e{i}", "ts": t, "data": {}})
    result = simulate([FunctionConfig.from_mapping(cfg)], trace)
    assert sorted(e.event_id for e in result.events) == sorted(e["id"] for e in trace)
    s = summarize(result).functions["f"]
    assert s.events_in == len(trace) == sum(s.outcomes.values())
    failures = summarize(result).failures["f"]
    assert s.pending - failures.failed == 0  # the loop runs until everything has happened
    assert s.runs == s.completed + s.cancelled + s.skipped_runs + failures.failed
    assert failures.retries == sum(r.retries for r in result.runs)
    assert failures.failed == sum(r.status == "failed" for r in result.runs)
    doc = to_document(result)["summary"]["functions"][0]
    assert doc["runs"] == sum(doc[f"runs_{k}"] for k in (
        "completed", "cancelled", "skipped", "failed", "pending"))
    assert doc["runs_pending"] == 0
    limit = cfg.get("concurrency")
    if isinstance(limit, int):
        assert result.peak_function["f"] <= limit


# -- repeated event ids: rate limit idempotency (issue 12) ---------------------------------

MARK = 30 * 60 * S  # the rate limiter's idempotency window (executor.go)
DEDUPE = 24 * 3600 * S  # the event-id dedupe at run creation


@settings(max_examples=150, deadline=None)
@given(
    limit=st.integers(1, 12),
    period=st.sampled_from([60, 600, 3600]),
    keyed=st.booleans(),
    steps=st.lists(st.tuples(
        st.sampled_from([0, 0, 1, 1000, 10 * 60_000, 29 * 60_000, 30 * 60_000, 31 * 60_000,
                         23 * 3600_000]),
        st.sampled_from(["a", "b", "c", "d"]),
        st.sampled_from(["u1", "u2"]),
    ), max_size=40),
)
def test_repeated_ids_are_neither_rate_limited_nor_charged(
        limit: int, period: int, keyed: bool, steps: list[tuple[int, str, str]]) -> None:
    rl: dict[str, Any] = {"limit": limit, "period": f"{period}s"}
    if keyed:
        rl["key"] = "event.data.u"
    clock = ManualClock()
    fc = FlowControl([FunctionConfig.from_mapping(
        {"id": "f", "triggers": [{"event": "e"}], "rateLimit": rl})], clock=clock)
    ref = RefGcra(limit, period * S, limit // 10 + 1 - limit)  # capacity limit // 10 + 1
    marks: dict[str, int] = {}  # id -> when the limiter's mark expires
    seen: dict[str, tuple[int, str]] = {}  # id -> (when the dedupe forgets it, its run)
    runs: dict[str, list[int]] = {}  # id -> instants its runs were made
    n_runs = 0
    for dt, eid, u in steps:
        now = clock.advance(dt * 1_000_000)
        key = f"f-{u}" if keyed else "f"
        marked = marks.get(eid, 0) > now
        prev = seen.get(eid)
        if not marked and not ref.allows(key, now):
            want = "EventDropped"
        else:
            if not marked:
                ref.take(key, now)
                marks[eid] = now + MARK
            if prev is not None and prev[0] > now:
                want = "EventSkipped"
            else:
                n_runs += 1
                seen[eid] = (now + DEDUPE, f"run-{n_runs}")
                runs.setdefault(eid, []).append(now)
                want = "RunStarted"
        limiter = fc._fns[0].rl
        assert limiter is not None
        tats = [limiter.reset_at(k) for k in ("f", "f-u1", "f-u2")]
        out = fc.receive_event({"name": "e", "id": eid, "data": {"u": u}})
        assert [type(d).__name__ for d in out] == [want], (eid, now, out)
        if marked:  # the invariant itself: a repeat within the window is free and runless
            assert [limiter.reset_at(k) for k in ("f", "f-u1", "f-u2")] == tats, "charged"
            if prev is not None and prev[0] > now:
                assert out[0].reason == (f"duplicate of event {eid}, not charged: run "
                                         f"{prev[1]} already exists")
        if want == "RunStarted":
            fc.run_finished(out[0].run_id)
    for made in runs.values():  # never two runs of one id within the dedupe window
        assert all(b - a >= DEDUPE for a, b in pairwise(made))


PLAIN = [
    {"rateLimit": {"limit": 3, "period": "1m", "key": "event.data.u"}},
    {"rateLimit": {"limit": 10, "period": "10m"}, "concurrency": 2},
    {"idempotency": "event.data.u", "throttle": {"limit": 2, "period": "10s"}},
]


@settings(max_examples=60, deadline=None)
@given(cfg=st.sampled_from(PLAIN),
       gaps=st.lists(st.integers(0, 20_000), min_size=1, max_size=40),
       users=st.lists(st.sampled_from(["u1", "u2", "u3"]), min_size=40, max_size=40),
       repeats=st.lists(st.tuples(st.integers(0, 39), st.integers(1, 30 * 60_000 - 1),
                                  st.booleans()), max_size=15))
def test_simulated_repeats_within_the_window_change_nothing_but_skips(
        cfg: dict[str, Any], gaps: list[int], users: list[str],
        repeats: list[tuple[int, int, bool]]) -> None:
    conf = FunctionConfig.from_mapping({"id": "f", "triggers": [{"event": "e"}],
                                        "steps": [{"run": "5s"}], **cfg})
    t = 0
    trace = []
    for i, g in enumerate(gaps):
        t += g
        trace.append({"name": "e", "id": f"e{i}", "ts": t, "data": {"u": users[i]}})
    first = simulate([conf], trace)
    admitted = {e.event_id for e in first.events if e.outcome == "run"}
    extra = []
    for i, after, same_payload in repeats:
        if i < len(trace) and trace[i]["id"] in admitted:
            e = trace[i]
            u = e["data"]["u"] if same_payload else users[(i + 1) % len(users)]
            extra.append({**e, "ts": e["ts"] + after, "data": {"u": u}})
    both = sorted(trace + extra, key=lambda e: e["ts"])  # stable: originals first
    second = simulate([conf], both)
    a, b = summarize(first).functions["f"], summarize(second).functions["f"]
    assert b.events_in == a.events_in + len(extra)
    assert b.outcomes == {**a.outcomes, "skipped": a.outcomes["skipped"] + len(extra)}
    assert (b.runs, b.completed) == (a.runs, a.completed)
    assert list(b.latencies) == list(a.latencies)
