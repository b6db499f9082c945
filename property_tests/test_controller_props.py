"""FlowControl against a brute-force model of what it may and must do.

A Hypothesis state machine plays the host: it sends events, lets time pass, finishes,
readies and cancels steps, and after every input checks that

* no concurrency limit (function-wide or per key) is exceeded at any instant;
* every start is one a reference GCRA (the spec's Appendix A, in exact fractions) admits;
* nothing is left waiting that could go now (no lost wake-ups: admission is immediate);
* within one key, the run that starts is the one with the lowest priority score (created
  minus factor; ties by arrival), and never before its score;
* every event has exactly one outcome.

A second test runs whole random traces through the simulator and checks the same
accounting on its report.
"""

from __future__ import annotations

from fractions import Fraction
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
from flowcontrol.controller import FlowControl
from flowcontrol.decisions import (
    EventDropped,
    EventSkipped,
    RunCancelled,
    RunQueued,
    RunStarted,
    StepStarted,
)
from flowcontrol.report import summarize
from flowcontrol.simulate import simulate

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


class ControllerMachine(RuleBasedStateMachine):
    """The host side of FlowControl, with a model of every run."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.n = 0
        self.outcomes: dict[str, str] = {}
        self.key_of_event: dict[str, str] = {}
        self.key: dict[str, str] = {}  # run -> its key
        self.state: dict[str, str] = {}  # run -> queued/step_queued/running/sleeping/done
        self.created: dict[str, int] = {}
        self.cancelling: set[str] = set()
        self.starts: list[tuple[str, int]] = []
        self.score: dict[str, int] = {}
        self.p_of_event: dict[str, int] = {}

    @initialize(
        fn_limit=st.integers(0, 3),
        key_limit=st.integers(0, 2),
        throttle=st.none() | st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(0, 2)),
        throttle_keyed=st.booleans(),
        priority=st.booleans(),
    )
    def setup(self, fn_limit: int, key_limit: int, throttle: tuple[int, int, int] | None,
              throttle_keyed: bool, priority: bool) -> None:
        cfg: dict[str, Any] = {"id": "f", "triggers": [{"event": "e"}]}
        self.priority = priority
        if priority:
            cfg["priority"] = {"run": "int(event.data.p)"}
        conc: list[dict[str, Any]] = []
        if fn_limit:
            conc.append({"limit": fn_limit})
        if key_limit:
            conc.append({"limit": key_limit, "key": "event.data.k"})
        if conc:
            cfg["concurrency"] = conc
        self.ref = None
        self.throttle_keyed = throttle_keyed
        if throttle is not None:
            limit, period, burst = throttle
            cfg["throttle"] = {"limit": limit, "period": f"{period}s", "burst": burst}
            if throttle_keyed:
                cfg["throttle"]["key"] = "event.data.k"
            self.ref = RefGcra(limit, period * S, burst)
        self.fn_limit, self.key_limit = fn_limit, key_limit
        self.fc = FlowControl([FunctionConfig.from_mapping(cfg)], clock=self.clock)

    # -- applying decisions to the model ---------------------------------------------------

    def apply(self, decisions: list[Any]) -> None:
        now = self.clock.now
        for d in decisions:
            if isinstance(d, RunStarted):
                assert self.state.get(d.run_id, "queued") == "queued", d
                if d.run_id not in self.state:
                    self.note_run(d.run_id, d.event_ids, d.created_at)
                tkey = self.key[d.run_id] if self.throttle_keyed else ""
                if self.ref is not None:
                    assert self.ref.allows(tkey, now), f"throttle exceeded by {d} at {now}"
                    self.ref.take(tkey, now)
                me = (self.score[d.run_id], int(d.run_id[4:]))
                for q in self.runs_in("queued"):
                    if q != d.run_id and self.key[q] == self.key[d.run_id]:
                        assert (self.score[q], int(q[4:])) > me, f"{d.run_id} overtook {q}"
                assert self.score[d.run_id] <= now, f"{d.run_id} started before its score"
                self.state[d.run_id] = "running"
                self.starts.append((d.run_id, now))
            elif isinstance(d, StepStarted):
                assert self.state[d.run_id] == "step_queued", d
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
        self.key[run_id] = self.key_of_event[event_ids[0]]
        p = self.p_of_event[event_ids[0]] if self.priority else 0
        self.score[run_id] = created - p * S
        for e in event_ids:
            assert e not in self.outcomes, f"event {e} has two outcomes"
            self.outcomes[e] = run_id

    def runs_in(self, state: str) -> list[str]:
        return sorted((r for r, s in self.state.items() if s == state), key=lambda r: int(r[4:]))

    # -- the host's inputs -----------------------------------------------------------------

    @rule(k=st.sampled_from(KEYS), p=st.sampled_from([0, 0, 3, -2]))
    def send(self, k: str, p: int) -> None:
        self.n += 1
        eid = f"e{self.n}"
        self.key_of_event[eid] = k
        self.p_of_event[eid] = p
        data = {"k": k, "p": p}
        self.apply(self.fc.receive_event({"name": "e", "id": eid, "data": data}))
        assert eid in self.outcomes, f"event {eid} got no outcome"

    @rule(ms=st.integers(0, 4000))
    def tick(self, ms: int) -> None:
        self.clock.advance(ms * 1_000_000)
        self.apply(self.fc.poll())

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

    def running_counts(self) -> tuple[int, dict[str, int]]:
        per: dict[str, int] = {}
        running = self.runs_in("running")
        for r in running:
            per[self.key[r]] = per.get(self.key[r], 0) + 1
        return len(running), per

    @invariant()
    def limits_hold(self) -> None:
        if not hasattr(self, "fc"):
            return
        total, per = self.running_counts()
        if self.fn_limit:
            assert total <= self.fn_limit
        if self.key_limit:
            assert all(n <= self.key_limit for n in per.values()), per

    @invariant()
    def nothing_waits_that_could_go(self) -> None:
        if not hasattr(self, "fc"):
            return
        total, per = self.running_counts()
        now = self.clock.now
        for run in self.runs_in("queued") + self.runs_in("step_queued"):
            k = self.key[run]
            if self.state[run] == "queued" and self.score[run] > now:
                continue  # a negative priority factor delays it
            conc_ok = (not self.fn_limit or total < self.fn_limit) and (
                not self.key_limit or per.get(k, 0) < self.key_limit
            )
            thr_ok = (
                self.state[run] == "step_queued"
                or self.ref is None
                or self.ref.allows(k if self.throttle_keyed else "", now)
            )
            assert not (conc_ok and thr_ok), f"{run} waits at {now} though it could start"



ControllerMachine.TestCase.settings = settings(
    ControllerMachine.TestCase.settings, stateful_step_count=40
)
TestController = ControllerMachine.TestCase


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
    if draw(st.booleans()):
        cfg["steps"] = [{"run": "1s"}, {"sleep": "3s"}, {"run": "2s"}]
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
    assert s.pending == 0  # the loop runs until everything has happened
    assert s.runs == s.completed + s.cancelled + s.skipped_runs
    limit = cfg.get("concurrency")
    if isinstance(limit, int):
        assert result.peak_function["f"] <= limit
