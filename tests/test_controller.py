"""FlowControl as a host sees it: inputs at fixed instants, the decisions that come back."""

from __future__ import annotations

from typing import Any

import pytest

from flowcontrol import ManualClock
from flowcontrol.config.model import FunctionConfig
from flowcontrol.controller.decisions import (
    EventDropped,
    RunCancelled,
    RunQueued,
    RunStarted,
    StepStarted,
)
from flowcontrol.controller.flowcontrol import FlowControl, FunctionController, UnknownRunError

S = 1_000_000_000
MS = 1_000_000


def fn(**cfg: Any) -> FunctionConfig:
    return FunctionConfig.from_mapping({"id": "f", "triggers": [{"event": "e"}], **cfg})


def ev(i: int | str, t_ms: int | None = None, **data: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": "e", "id": str(i), "data": data}
    if t_ms is not None:
        out["ts"] = t_ms
    return out


def kinds(decisions: list[Any]) -> list[str]:
    return [type(d).__name__ for d in decisions]


def test_FlowControl_throttle_table() -> None:
    """Throttle 2/6s burst 1: three at once, then one every 3 s (spec 3.3)."""
    clock = ManualClock()
    fc = FunctionController(fn(throttle={"limit": 2, "period": "6s", "burst": 1}), clock=clock)
    steps = [
        # (t in ms, event id or None for poll, expected started run ids, queued run ids)
        (0, "a", ["run-1"], []),
        (500, "b", ["run-2"], []),
        (1000, "c", ["run-3"], []),
        (1500, "d", [], ["run-4"]),
        (2000, "e", [], ["run-5"]),
        (2999, None, [], []),
        (3000, None, ["run-4"], []),
        (5999, None, [], []),
        (6000, None, ["run-5"], []),
    ]
    for i, (t, eid, want_started, want_queued) in enumerate(steps):
        clock.set(t * MS)
        out = fc.poll() if eid is None else fc.receive_event(ev(eid, t))
        started = [d.run_id for d in out if isinstance(d, RunStarted)]
        queued = [d.run_id for d in out if isinstance(d, RunQueued)]
        assert (started, queued) == (want_started, want_queued), f"step {i} at {t} ms: {out}"
    assert fc.next_deadline() is None


def test_FlowControl_queued_decision_says_when() -> None:
    clock = ManualClock()
    fc = FunctionController(fn(throttle={"limit": 1, "period": "10s"}), clock=clock)
    fc.receive_event(ev("a", 0))
    (q,) = fc.receive_event(ev("b", 0))
    assert isinstance(q, RunQueued)
    assert (q.hold.constraint, q.hold.retry_at) == ("throttle", 10 * S)
    assert fc.next_deadline() == 10 * S
    text = str(fc.explain("b"))
    assert "throttle" in text and "run-2" in text


def test_FlowControl_start_is_all_or_nothing() -> None:
    """A start blocked by concurrency consumes no throttle capacity."""
    clock = ManualClock()
    cfg = fn(throttle={"limit": 1, "period": "10s", "burst": 1}, concurrency=1)
    fc = FunctionController(cfg, clock=clock)
    assert kinds(fc.receive_event(ev("a", 0))) == ["RunStarted"]
    (q,) = fc.receive_event(ev("b", 0))
    assert isinstance(q, RunQueued) and q.hold.constraint == "concurrency"
    assert (q.hold.in_use, q.hold.limit, q.hold.scope) == (1, 1, "fn")
    clock.set(1 * S)
    # The burst slot was not used by the refused start: b gets it the moment a ends.
    out = fc.run_finished("run-1")
    assert [(type(d).__name__, d.run_id) for d in out] == [("RunStarted", "run-2")]


def test_FlowControl_later_steps_need_concurrency_only() -> None:
    clock = ManualClock()
    fc = FunctionController(fn(throttle={"limit": 1, "period": "1h"}), clock=clock)
    fc.receive_event(ev("a", 0))
    fc.step_finished("run-1")
    clock.advance("1s")
    assert kinds(fc.step_ready("run-1")) == ["StepStarted"]
    assert kinds(fc.receive_event(ev("b", 1000))) == ["RunQueued"]


def test_FlowControl_sleeping_run_holds_no_slot() -> None:
    clock = ManualClock()
    fc = FunctionController(fn(concurrency=1), clock=clock)
    assert kinds(fc.receive_event(ev("a", 0))) == ["RunStarted"]
    assert kinds(fc.receive_event(ev("b", 0))) == ["RunQueued"]
    clock.set(1 * S)
    out = fc.step_finished("run-1")  # run-1 now sleeps
    assert [(type(d).__name__, d.run_id) for d in out] == [("RunStarted", "run-2")]
    clock.set(5 * S)
    (q,) = fc.step_ready("run-1")  # its next step waits for the slot
    assert isinstance(q, RunQueued) and q.hold.constraint == "concurrency"
    clock.set(6 * S)
    out = fc.run_finished("run-2")
    assert out == [StepStarted("run-1", "f", 6 * S)]
    assert fc.run_status("run-1") == "running"


def test_FlowControl_waiting_work_is_oldest_first_within_a_key() -> None:
    clock = ManualClock()
    fc = FunctionController(fn(concurrency=1), clock=clock)
    for i in range(4):
        clock.set(i * S)
        fc.receive_event(ev(f"e{i}", i * 1000))
    order = []
    for _ in range(3):
        clock.advance("1s")
        running = next(r for r in ("run-1", "run-2", "run-3", "run-4")
                       if fc.run_status(r) == "running")
        out = fc.run_finished(running)
        order += [d.run_id for d in out if isinstance(d, RunStarted)]
    assert order == ["run-2", "run-3", "run-4"]


def test_FlowControl_run_finished_releases_immediately_no_polling() -> None:
    clock = ManualClock()
    fc = FunctionController(fn(concurrency=2), clock=clock)
    for i in range(5):
        fc.receive_event(ev(i, 0))
    clock.set(1234)
    out = fc.run_finished("run-1")
    assert out == [RunStarted("run-3", "f", ("2",), 0, 1234)]


def test_FlowControl_rate_limit_drops_with_retry_at() -> None:
    clock = ManualClock()
    fc = FunctionController(fn(rateLimit={"limit": 1, "period": "1m"}), clock=clock)
    assert kinds(fc.receive_event(ev("a", 0))) == ["RunStarted"]
    (d,) = fc.receive_event(ev("b", 0))
    assert isinstance(d, EventDropped)
    assert (d.reason, d.retry_at) == ("rate limited", 60 * S)
    assert fc.explain("b").status == "dropped"


def test_FlowControl_duplicate_event_id_creates_no_run() -> None:
    clock = ManualClock()
    fc = FunctionController(fn(), clock=clock)
    assert kinds(fc.receive_event(ev("a", 0))) == ["RunStarted"]
    out = fc.receive_event(ev("a", 0))
    assert kinds(out) == ["EventSkipped"] and out[0].run_id == "run-1"


def test_FlowControl_cancel_queued_and_running() -> None:
    clock = ManualClock()
    fc = FunctionController(fn(concurrency=1), clock=clock)
    fc.receive_event(ev("a", 0))
    fc.receive_event(ev("b", 0))
    fc.receive_event(ev("c", 0))
    assert fc.cancel("run-2") == [RunCancelled("run-2", "f", "cancelled by the host", None)]
    assert fc.run_status("run-2") == "cancelled"
    # A running step is not interrupted: the slot frees when it ends.
    assert kinds(fc.cancel("run-1")) == ["RunCancelled"]
    assert fc.run_status("run-1") == "running"
    out = fc.step_finished("run-1")
    assert [d.run_id for d in out if isinstance(d, RunStarted)] == ["run-3"]
    assert fc.run_status("run-1") == "cancelled"


def test_FlowControl_start_timeout_cancels_a_queued_run() -> None:
    clock = ManualClock()
    fc = FunctionController(fn(concurrency=1, timeouts={"start": "5s"}), clock=clock)
    fc.receive_event(ev("a", 0))
    fc.receive_event(ev("b", 0))
    assert fc.next_deadline() == 5 * S
    clock.set(5 * S)
    out = fc.poll()
    assert kinds(out) == ["RunCancelled"] and out[0].run_id == "run-2"


def test_FlowControl_bad_input_changes_nothing() -> None:
    clock = ManualClock()
    fc = FunctionController(fn(concurrency=1), clock=clock)
    with pytest.raises(ValueError, match=r"event\.name"):
        fc.receive_event({"data": {}})
    with pytest.raises(ValueError, match=r"event\.data"):
        fc.receive_event({"name": "e", "data": [1]})
    with pytest.raises(ValueError, match=r"event\.ts"):
        fc.receive_event({"name": "e", "ts": True})
    with pytest.raises(ValueError, match=r"event\.id"):
        fc.receive_event({"name": "e", "id": 5})
    with pytest.raises(UnknownRunError):
        fc.step_finished("run-9")
    fc.receive_event(ev("a", 0))
    with pytest.raises(ValueError, match="only between steps"):
        fc.step_ready("run-1")
    assert kinds(fc.receive_event(ev("b", 0))) == ["RunQueued"]
    assert fc.run_status("run-1") == "running"


def test_FlowControl_clock_going_backwards_is_no_time_passing() -> None:
    t = [10 * S]
    fc = FunctionController(fn(throttle={"limit": 1, "period": "10s"}), clock=lambda: t[0])
    fc.receive_event(ev("a"))
    t[0] = 0  # backwards
    (q,) = fc.receive_event(ev("b"))
    assert isinstance(q, RunQueued) and q.hold.retry_at == 20 * S
    assert fc.poll() == []


def test_FlowControl_events_that_match_nothing_are_ignored() -> None:
    fc = FunctionController(fn(), clock=ManualClock())
    assert fc.receive_event({"name": "other"}) == []


def test_FlowControl_rejects_duplicate_function_ids() -> None:
    with pytest.raises(ValueError, match="two functions"):
        FlowControl([fn(), fn()], clock=ManualClock())


def test_FlowControl_round_robin_across_keys() -> None:
    """One shared slot, two users with backlogs: the slot alternates between them."""
    clock = ManualClock()
    cfg = fn(concurrency=[{"limit": 1},
                          {"key": "event.data.user", "limit": 5}])
    fc = FunctionController(cfg, clock=clock)
    for i in range(3):
        fc.receive_event(ev(f"a{i}", 0, user="a"))
    for i in range(3):
        fc.receive_event(ev(f"b{i}", 0, user="b"))
    order = ["a0"]
    running = "run-1"
    for _ in range(5):
        out = fc.run_finished(running)
        (started,) = [d for d in out if isinstance(d, RunStarted)]
        order.append(started.event_ids[0])
        running = started.run_id
    # a0 went straight in; then the queue alternates, user a first (it queued first).
    assert order == ["a0", "a1", "b0", "a2", "b1", "b2"]


def test_FlowControl_shared_account_key_each_function_checks_its_own_limit() -> None:
    clock = ManualClock()
    small = FunctionConfig.from_mapping({
        "id": "small", "triggers": [{"event": "s"}],
        "concurrency": [{"scope": "account", "key": '"openai"', "limit": 1}]})
    big = FunctionConfig.from_mapping({
        "id": "big", "triggers": [{"event": "b"}],
        "concurrency": [{"scope": "account", "key": '"openai"', "limit": 3}]})
    fc = FlowControl([small, big], clock=clock)
    assert kinds(fc.receive_event({"name": "b", "id": "b1"})) == ["RunStarted"]
    (q,) = fc.receive_event({"name": "s", "id": "s1"})  # 1 in use >= small's limit 1
    assert isinstance(q, RunQueued)
    assert (q.hold.scope, q.hold.key, q.hold.in_use, q.hold.limit) == ("account", "openai", 1, 1)
    assert kinds(fc.receive_event({"name": "b", "id": "b2"})) == ["RunStarted"]  # 2 < 3
    fc.run_finished("run-1")
    out = fc.run_finished("run-3")  # usage back to 0: small's run goes at once
    assert [d.run_id for d in out if isinstance(d, RunStarted)] == ["run-2"]


def test_FlowControl_mixed_limits_on_a_shared_key_do_not_block_each_other() -> None:
    """A (limit 1) and B (limit 3) share account key "openai" (spec 2.3). A's run waits
    at the head of the line while usage >= 1; B's runs still start whenever usage < 3."""
    clock = ManualClock()
    a = FunctionConfig.from_mapping({
        "id": "A", "triggers": [{"event": "a"}],
        "concurrency": [{"scope": "account", "key": '"openai"', "limit": 1}]})
    b = FunctionConfig.from_mapping({
        "id": "B", "triggers": [{"event": "b"}],
        "concurrency": [{"scope": "account", "key": '"openai"', "limit": 3}]})
    fc = FlowControl([a, b], clock=clock)
    run_of: dict[str, str] = {}
    steps = [
        # (t in s, input: event id to send or event id whose run finishes,
        #  event ids whose runs start, usage of "openai" afterwards)
        (0, "send b1", ["b1"], 1),
        (0, "send b2", ["b2"], 2),
        (0, "send a1", [], 2),  # 2 >= A's 1: queued, first in line
        (0, "send b3", ["b3"], 3),  # 2 < B's 3: starts though A waits
        (0, "send b4", [], 3),
        (0, "send b5", [], 3),
        (1, "finish b1", ["b4"], 3),  # 2 < 3: B's next starts; A (2 >= 1) keeps waiting
        (2, "finish b2", ["b5"], 3),
        (3, "finish b3", [], 2),
        (4, "finish b4", [], 1),
        (5, "finish b5", ["a1"], 1),  # 0 < 1: A at last
        (6, "send b6", ["b6"], 2),
        (7, "finish a1", [], 1),
    ]
    for i, (t, what, want, usage) in enumerate(steps):
        clock.set(t * S)
        verb, eid = what.split()
        if verb == "send":
            out = fc.receive_event({"name": eid[0], "id": eid})
        else:
            out = fc.run_finished(run_of[eid])
        for d in out:
            if isinstance(d, RunStarted | RunQueued):
                run_of[d.event_ids[0]] = d.run_id
        started = [d.event_ids[0] for d in out if isinstance(d, RunStarted)]
        in_use = {u.limit: u.in_use for u in fc.concurrency().in_use("B", ("openai",))
                  if u.key == "openai"}
        assert (started, in_use[3]) == (want, usage), f"step {i} at {t} s ({what}): {out}"
    assert fc.backlog_sizes() == {"A": 0, "B": 0}


def test_FlowControl_a_release_leaves_a_line_whose_limit_is_still_reached_alone() -> None:
    """Usage 3 -> 2 wakes B's line (limit 3) only: A's run (limit 1) is not tried in vain
    and its hold still says since when and on what it waits."""
    clock = ManualClock()
    shared = {"scope": "account", "key": '"k"'}
    a = FunctionConfig.from_mapping({"id": "A", "triggers": [{"event": "a"}],
                                     "concurrency": [{**shared, "limit": 1}]})
    b = FunctionConfig.from_mapping({"id": "B", "triggers": [{"event": "b"}],
                                     "concurrency": [{**shared, "limit": 3}]})
    fc = FlowControl([a, b], clock=clock)
    for i in (1, 2, 3):
        assert kinds(fc.receive_event({"name": "b", "id": f"b{i}"})) == ["RunStarted"]
    assert kinds(fc.receive_event({"name": "a", "id": "a1"})) == ["RunQueued"]  # run-4
    clock.set(S)
    assert kinds(fc.run_finished("run-1")) == []  # nothing of B waits; A's 2 >= 1
    hold = fc.explain("run-4").hold
    assert hold is not None
    assert (hold.since, hold.in_use, hold.limit, hold.key) == (0, 3, 1, "k")
    fc.run_finished("run-2")
    out = fc.run_finished("run-3")
    assert [d.run_id for d in out if isinstance(d, RunStarted)] == ["run-4"]


def test_FlowControl_explain_names_constraint_key_usage_and_eta() -> None:
    clock = ManualClock()
    cfg = fn(concurrency=[{"key": "event.data.user", "limit": 1}])
    fc = FunctionController(cfg, clock=clock)
    fc.receive_event(ev("a", 0, user="u1"))
    fc.receive_event(ev("b", 0, user="u1"))
    x = fc.explain("b")
    assert (x.kind, x.status, x.run_id) == ("event", "run", "run-2")
    assert x.hold is not None and (x.hold.constraint, x.hold.key) == ("concurrency", "u1")
    r = fc.explain("run-2")
    assert r.status == "queued" and "concurrency (fn), key 'u1', 1/1 in use" in str(r)
    clock.set(4 * S)
    fc.run_finished("run-1")
    r = fc.explain("run-2")
    assert r.status == "running" and r.started_at == 4 * S and r.hold is None
    assert "started after waiting 4000 ms on concurrency (fn), key 'u1'" in r.reason
    with pytest.raises(KeyError):
        fc.explain("nope")


def test_FlowControl_debounce_and_batch_decisions() -> None:
    clock = ManualClock()
    deb = FunctionConfig.from_mapping({"id": "deb", "triggers": [{"event": "d"}],
                                       "debounce": {"period": "5s"}})
    bat = FunctionConfig.from_mapping({"id": "bat", "triggers": [{"event": "b"}],
                                       "batchEvents": {"maxSize": 2, "timeout": "10s"}})
    fc = FlowControl([deb, bat], clock=clock)
    assert kinds(fc.receive_event({"name": "d", "id": "d1"})) == ["EventDebounced"]
    clock.set(1 * S)
    assert kinds(fc.receive_event({"name": "d", "id": "d2"})) == [
        "EventSuperseded", "EventDebounced"]
    assert kinds(fc.receive_event({"name": "b", "id": "b1"})) == ["EventBatched"]
    assert kinds(fc.receive_event({"name": "b", "id": "b2"})) == [
        "EventBatched", "BatchFlushed", "RunStarted"]
    assert fc.next_deadline() == 6 * S
    clock.set(6 * S)
    out = fc.poll()
    assert kinds(out) == ["RunStarted"] and out[0].event_ids == ("d2",)
    assert fc.explain("d1").status == "superseded"
    assert fc.explain("d2").run_id == out[0].run_id


def test_FlowControl_cancel_on_event_with_match() -> None:
    clock = ManualClock()
    cfg = fn(concurrency=1, cancelOn=[{"event": "stop", "match": "data.user"}])
    fc = FunctionController(cfg, clock=clock)
    fc.receive_event(ev("a", 0, user="u1"))
    fc.receive_event(ev("b", 0, user="u2"))
    fc.receive_event(ev("c", 0, user="u1"))
    clock.set(1 * S)
    out = fc.receive_event({"name": "stop", "id": "s", "data": {"user": "u1"}})
    assert sorted(d.run_id for d in out if isinstance(d, RunCancelled)) == ["run-1", "run-3"]
    assert fc.run_status("run-2") == "queued"


def test_FlowControl_trigger_expression_and_wildcard() -> None:
    clock = ManualClock()
    only_big = FunctionConfig.from_mapping({
        "id": "big", "triggers": [{"event": "order/*", "expression": "event.data.total > 100"}]})
    fc = FlowControl([only_big], clock=clock)
    assert fc.receive_event({"name": "order/placed", "id": "a", "data": {"total": 50}}) == []
    out = fc.receive_event({"name": "order/placed", "id": "b", "data": {"total": 500}})
    assert kinds(out) == ["RunStarted"]
    assert fc.receive_event({"name": "user/created", "id": "c", "data": {"total": 500}}) == []


def test_FlowControl_finish_timeout_cancels_a_long_run() -> None:
    clock = ManualClock()
    fc = FunctionController(fn(timeouts={"finish": "10s"}), clock=clock)
    fc.receive_event(ev("a", 0))
    assert fc.next_deadline() == 10 * S
    clock.set(10 * S)
    out = fc.poll()
    assert kinds(out) == ["RunCancelled"] and "timeouts.finish" in out[0].reason
    fc.step_finished("run-1")  # the step in flight ends; nothing more runs
    assert fc.run_status("run-1") == "cancelled"


def test_FlowControl_future_ts_waits_until_then() -> None:
    clock = ManualClock()
    fc = FunctionController(fn(), clock=clock)
    (q,) = fc.receive_event(ev("later", 5000))
    assert isinstance(q, RunQueued) and (q.hold.constraint, q.hold.retry_at) == ("start", 5 * S)
    clock.set(5 * S)
    assert kinds(fc.poll()) == ["RunStarted"]


def test_FlowControl_account_concurrency_limits_every_function() -> None:
    clock = ManualClock()
    a = FunctionConfig.from_mapping({"id": "a", "triggers": [{"event": "a"}]})
    b = FunctionConfig.from_mapping({"id": "b", "triggers": [{"event": "b"}]})
    fc = FlowControl([a, b], clock=clock, account_concurrency=1)
    assert kinds(fc.receive_event({"name": "a", "id": "1"})) == ["RunStarted"]
    (q,) = fc.receive_event({"name": "b", "id": "2"})
    assert isinstance(q, RunQueued) and q.hold.scope == "account" and q.hold.limit == 1
    out = fc.run_finished("run-1")
    assert [d.run_id for d in out if isinstance(d, RunStarted)] == ["run-2"]


def test_FlowControl_oldest_first_policy_serves_lowest_score_across_keys() -> None:
    from flowcontrol.controller.fairness import OldestFirst

    clock = ManualClock()
    cfg = fn(concurrency=[{"limit": 1}, {"key": "event.data.user", "limit": 5}],
             priority={"run": "event.data.vip ? 30 : 0"})
    fc = FunctionController(cfg, clock=clock, fairness=OldestFirst())
    fc.receive_event(ev("a0", 0, user="a", vip=False))
    fc.receive_event(ev("a1", 0, user="a", vip=False))
    clock.set(10 * S)
    fc.receive_event(ev("b0", 10_000, user="b", vip=True))  # score 10 s - 30 s < 0
    out = fc.run_finished("run-1")
    assert [d.event_ids for d in out if isinstance(d, RunStarted)] == [("b0",)]


def test_FlowControl_cancel_on_respects_timeout_and_if() -> None:
    clock = ManualClock()
    cfg = fn(concurrency=1, cancelOn=[{"event": "stop", "timeout": "10s",
                                       "if": "async.data.user == event.data.user"}])
    fc = FunctionController(cfg, clock=clock)
    fc.receive_event(ev("a", 0, user="u1"))
    clock.set(5 * S)
    fc.receive_event(ev("b", 5000, user="u1"))
    clock.set(12 * S)  # a is 12 s old: past the timeout; b is 7 s old
    out = fc.receive_event({"name": "stop", "id": "s", "data": {"user": "u1"}})
    assert [d.run_id for d in out if isinstance(d, RunCancelled)] == ["run-2"]
    out = fc.receive_event({"name": "stop", "id": "s2", "data": {"user": "u2"}})
    assert out == []
