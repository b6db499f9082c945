"""The fast paths change speed only: with them and without them, the same decisions,
explanations, statistics and report bytes."""

from __future__ import annotations

from typing import Any

import pytest

from flowcontrol.config.model import FunctionConfig
from flowcontrol.controller.admission import Admission
from flowcontrol.controller.flowcontrol import FlowControl
from flowcontrol.sim.report import render_json, render_text
from flowcontrol.sim.simulate import simulate
from flowcontrol.sim.tracegen import TraceSpec, generate
from flowcontrol.time import ManualClock

S = 1_000_000_000

FAIR_AI = {
    "id": "ai",
    "triggers": [{"event": "ai/image.generate"}],
    "throttle": {"limit": 5, "period": "10s", "key": '"gpu"'},
    "concurrency": [{"key": "event.data.user_id", "limit": 2}],
    "priority": {"run": "event.data.plan == 'pro' ? 60 : 0"},
    "steps": [{"run": "3s"}],
}

TWO_KEYS = {
    "id": "two",
    "triggers": [{"event": "ai/image.generate"}],
    "concurrency": [
        {"key": "event.data.user_id", "limit": 1},
        {"key": "event.data.plan", "limit": 3, "scope": "account"},
    ],
    "steps": [{"run": "2s"}, {"sleep": "1s"}, {"run": "1s"}],
}


def _trace(n: int, seed: int) -> list[dict[str, Any]]:
    ev = generate(TraceSpec(events=n, rate=2.0, keys=12, zipf=1.1, name="ai/image.generate",
                            seed=seed))
    for i, e in enumerate(ev):  # odd keys too: numbers, missing, null
        if i % 7 == 0:
            e["data"]["user_id"] = 42
        elif i % 11 == 0:
            del e["data"]["user_id"]
        elif i % 13 == 0:
            e["data"]["user_id"] = None
        e["data"]["plan"] = "pro" if i % 3 == 0 else "free"
    return ev


def _no_fast_start(self: Admission, run: Any, now: int) -> bool:
    return False


def _drive(configs: list[FunctionConfig], trace: list[dict[str, Any]]) -> list[str]:
    """Feed events and end every run 3 s after it starts; a log of decisions and
    explanations."""
    clock = ManualClock(0)
    fc = FlowControl(configs, clock=clock)
    log: list[str] = []
    ends: list[tuple[int, str]] = []

    def note(ds: list[Any]) -> None:
        for d in ds:
            log.append(repr(d))
            if type(d).__name__ in ("RunStarted", "StepStarted"):
                ends.append((clock() + 3 * S, d.run_id))

    for e in trace:
        t = int(e["ts"]) * 1_000_000
        while ends and min(ends)[0] <= t:
            ends.sort()
            at, rid = ends.pop(0)
            clock.set(at)
            note(fc.poll())
            note(fc.run_finished(rid))
        clock.set(t)
        note(fc.poll())
        note(fc.receive_event(e))
        log.append(repr(fc.explain(e["id"])))
    for rid in list(fc._runs):
        log.append(repr(fc.explain(rid)))
    return log


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_controller_fast_start_changes_nothing(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    configs = [FunctionConfig.from_mapping(FAIR_AI), FunctionConfig.from_mapping(TWO_KEYS)]
    trace = _trace(300, seed)
    real = Admission._start_now
    taken = []

    def spy(self: Admission, run: Any, now: int) -> bool:
        ok = real(self, run, now)
        taken.append(ok)
        return ok

    monkeypatch.setattr(Admission, "_start_now", spy)
    fast = _drive(configs, trace)
    assert True in taken and False in taken  # both outcomes of the fast path were exercised
    monkeypatch.setattr(Admission, "_start_now", _no_fast_start)
    slow = _drive(configs, trace)
    assert fast == slow
    assert any("RunQueued" in line for line in fast)  # contention happened, too
    assert sum("RunStarted" in line for line in fast) > 50


@pytest.mark.parametrize("keep_rows", [True, False])
def test_simulate_fast_paths_change_nothing(
    keep_rows: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    configs = [FunctionConfig.from_mapping(FAIR_AI), FunctionConfig.from_mapping(TWO_KEYS)]
    trace = _trace(800, 5)

    def run() -> str:
        r = simulate(configs, [dict(e) for e in trace], keep_rows=keep_rows)
        return (render_json(r) if keep_rows else "") + render_text(r)

    fast = run()
    monkeypatch.setattr(Admission, "_start_now", _no_fast_start)
    slow = run()
    assert fast == slow


def test_group_read_from_the_run_equals_evaluating_it() -> None:
    """The default group (the first concurrency key) is taken from the run; an explicit,
    textually different but equal expression is evaluated: same groups, same counts."""
    cfg = FunctionConfig.from_mapping(FAIR_AI)
    trace = _trace(600, 9)
    a = simulate([cfg], trace, keep_rows=False)
    b = simulate([cfg], trace, keep_rows=False, group_by="event.data.user_id ")
    assert a.group_by == {"ai": "event.data.user_id"}
    assert set(a.stats) == set(b.stats)
    assert {"42", "false"} <= {g for _, g in a.stats}
    for k in a.stats:
        assert a.stats[k].to_dict(S) == b.stats[k].to_dict(S)
