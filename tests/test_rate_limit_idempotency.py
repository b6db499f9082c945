"""A repeated event is neither rate limited nor charged (issue 12, part 1).

The platform's executor hands the schedule's idempotency key (the event id) to the rate
limiter: ``ratelimit.WithIdempotency(key, RateLimitIdempotencyTTL = 30 * time.Minute)``
(inngest/inngest ``pkg/execution/executor/executor.go``, at 253303cd). A key admitted in
the last 30 minutes is "allowed, idempotency hit" without consuming anything
(``pkg/execution/ratelimit/lua/ratelimit.lua``); a refused request sets no mark. The run
is then deduplicated at state creation on the event id (24 h). The tables below follow
``TestLuaRateLimit_Idempotency`` (``ratelimit_lua_test.go``), one per subtest, played
through the controller: a row is (instant in minutes, event id, ``data.u``, the decision,
a fragment of its reason).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from flowcontrol import ManualClock
from flowcontrol.config.model import FunctionConfig
from flowcontrol.controller.flowcontrol import FunctionController
from flowcontrol.sim.report import summarize
from flowcontrol.sim.simulate import simulate

S = 1_000_000_000
M = 60 * S
RL = {"limit": 1, "period": "1h", "key": "event.data.u"}  # 1 at once, then 1 per hour


def fn(**cfg: Any) -> FunctionConfig:
    return FunctionConfig.from_mapping({"id": "f", "triggers": [{"event": "e"}], **cfg})


def ev(eid: str, u: str = "u1") -> dict[str, Any]:
    return {"name": "e", "id": eid, "data": {"u": u}}


NOT_CHARGED = "duplicate of event {}, not charged: run {} already exists"
TABLES: dict[str, list[tuple[int, str, str, str, str]]] = {
    # "idempotency enforced after successful request": the repeat is let through while
    # the key is full, consumes nothing (the next new event is refused as before).
    "enforced after successful request": [
        (0, "a", "u1", "RunStarted", ""),
        (0, "a", "u1", "EventSkipped", NOT_CHARGED.format("a", "run-1")),
        (0, "a", "u1", "EventSkipped", NOT_CHARGED.format("a", "run-1")),
        (0, "b", "u1", "EventDropped", "rate limited"),
    ],
    # "idempotency not enforced after rate limited request": no mark, judged afresh.
    "not enforced after rate limited request": [
        (0, "x", "u1", "RunStarted", ""),
        (0, "b", "u1", "EventDropped", "rate limited"),
        (0, "b", "u1", "EventDropped", "rate limited"),
        (60, "b", "u1", "RunStarted", ""),  # capacity back: admitted, b's first run
        (60, "b", "u1", "EventSkipped", NOT_CHARGED.format("b", "run-2")),
    ],
    # "idempotency no longer enforced once expired": after 30 minutes the repeat is
    # judged by the limiter again (refused while the key is full; admitted and charged
    # once it is not), and the 24-hour dedupe on ids still makes no second run.
    "no longer enforced once expired": [
        (0, "a", "u1", "RunStarted", ""),
        (29, "a", "u1", "EventSkipped", "not charged"),
        (30, "a", "u1", "EventDropped", "rate limited"),
        (60, "a", "u1", "EventSkipped", "duplicate event id: run run-1 already exists"),
        (60, "c", "u1", "EventDropped", "rate limited"),  # the repeat took the unit
    ],
    # The mark is checked before the rate-limit key (ratelimit.lua): same id, another
    # payload, another key: let through, and that key is not charged either.
    "same id, different payload": [
        (0, "a", "u1", "RunStarted", ""),
        (0, "a", "u2", "EventSkipped", NOT_CHARGED.format("a", "run-1")),
        (0, "b", "u2", "RunStarted", ""),
    ],
}


@pytest.mark.parametrize(("name", "limiter"), [
    *((name, "rateLimit") for name in TABLES),
    # `idempotency: expr` is a 1-per-24h rate limit (spec 4.4): the rows before 60 min
    *((name, "idempotency") for name in TABLES if TABLES[name][1][0] < 60),
])
def test_repeats_through_the_controller(name: str, limiter: str) -> None:
    cfg = fn(rateLimit=RL) if limiter == "rateLimit" else fn(idempotency="event.data.u")
    clock = ManualClock()
    fc = FunctionController(cfg, clock=clock)
    for i, (minute, eid, u, kind, reason) in enumerate(TABLES[name]):
        if limiter == "idempotency" and minute >= 60:
            break  # one per 24 h: the rest of the table is the hourly limit's
        clock.set(minute * M)
        out = fc.receive_event(ev(eid, u))
        assert [type(d).__name__ for d in out] == [kind], f"row {i}: {out}"
        if reason:
            why = out[0].reason
            if limiter == "idempotency" and reason == "rate limited":
                reason = "idempotency key seen in the last 24h"
            assert reason in why, f"row {i}: {why!r}"
            assert reason in fc.explain(eid).reason or kind != "EventSkipped"


def test_explain_says_duplicate_not_charged() -> None:
    clock = ManualClock()
    fc = FunctionController(fn(rateLimit=RL), clock=clock)
    fc.receive_event(ev("a"))
    fc.receive_event(ev("a"))
    x = fc.explain("a")
    assert (x.status, x.run_id) == ("skipped", "run-1")
    assert x.reason == "duplicate of event a, not charged: run run-1 already exists"


def test_a_repeat_into_a_debounce_is_not_charged() -> None:
    # spec 1.1: the rate limit is checked per incoming event before debounce; a repeat
    # of an admitted id is let through to the debounce, uncharged; one run in the end.
    clock = ManualClock()
    fc = FunctionController(fn(rateLimit=RL, debounce={"period": "10s"}), clock=clock)
    assert [type(d).__name__ for d in fc.receive_event(ev("a"))] == ["EventDebounced"]
    clock.set(S)
    assert [type(d).__name__ for d in fc.receive_event(ev("a"))] == ["EventSuperseded",
                                                                      "EventDebounced"]
    clock.set(2 * S)
    assert [type(d).__name__ for d in fc.receive_event(ev("b"))] == ["EventDropped"]
    clock.set(M)
    assert [type(d).__name__ for d in fc.poll()] == ["RunStarted"]
    clock.set(2 * M)
    assert [type(d).__name__ for d in fc.receive_event(ev("a"))] == ["EventDebounced"]
    clock.set(3 * M)
    out = fc.poll()
    assert [type(d).__name__ for d in out] == ["EventSkipped"]  # the 24 h dedupe


def test_events_without_an_id_leave_no_mark_and_marks_expire() -> None:
    clock = ManualClock()
    fc = FunctionController(fn(rateLimit={"limit": 100, "period": "1s"}), clock=clock)
    for _ in range(5):
        fc.receive_event({"name": "e"})
    rl = fc._fns[0].rl
    assert rl is not None and rl.idempotency_marks() == 0
    for i in range(5):
        fc.receive_event(ev(f"e{i}"))
    assert rl.idempotency_marks() == 5
    clock.set(30 * M)
    fc.receive_event(ev("late"))
    assert rl.idempotency_marks() == 1  # memory follows the live marks


def test_marks_survive_snapshot_and_restore() -> None:
    clock = ManualClock()
    cfg = fn(rateLimit=RL)
    fc = FunctionController(cfg, clock=clock)
    fc.receive_event(ev("a"))
    clock.set(M)
    data = json.loads(json.dumps(fc.snapshot()))
    back = FunctionController.restore([cfg], data, clock=clock)
    rl = back._fns[0].rl
    assert rl is not None
    tats = rl.snapshot()["tat"]
    out = back.receive_event(ev("a"))
    assert out[0].reason == NOT_CHARGED.format("a", "run-1")
    assert rl.snapshot()["tat"] == tats  # nothing charged
    assert [type(d).__name__ for d in back.receive_event(ev("b"))] == ["EventDropped"]


def test_the_simulator_counts_a_repeat_as_skipped_not_dropped() -> None:
    # lean path (one plain function) and general path alike: tests/test_fastsim.py holds
    # them equal; here the numbers themselves.
    trace = [{"name": "e", "id": eid, "ts": t, "data": {"u": "u1"}}
             for t, eid in [(0, "a"), (1000, "a"), (2000, "b"), (3000, "a")]]
    for cfg in (fn(rateLimit=RL), fn(rateLimit=RL, debounce={"period": "1s"})):
        s = summarize(simulate([cfg], trace)).functions["f"]
        assert s.outcomes.get("dropped", 0) == 1, (cfg, s.outcomes)  # only "b"
        assert s.runs == 1
