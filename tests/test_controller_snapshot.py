"""Snapshot and restore of a whole FlowControl (``flowcontrol.controller.persist``): table cases.

Each case drives a controller into a state worth saving, saves it through JSON, restores
it on a fresh clock at the same instant, and then feeds both the same inputs: the
decisions (listed as a table of instants and expected decisions), ``next_deadline()``
and ``explain`` must be the same. Refusals name what is wrong and where.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from flowcontrol import FunctionController, ManualClock
from flowcontrol.config.model import FunctionConfig
from flowcontrol.controller.decisions import (
    Decision,
    EventBatched,
    EventDebounced,
    RunCancelled,
    RunQueued,
    RunSkipped,
    RunStarted,
    StepStarted,
)
from flowcontrol.controller.fairness import OldestFirst, RoundRobin, WaitQueue
from flowcontrol.controller.flowcontrol import FlowControl
from flowcontrol.controller.persist import config_digest, restore, snapshot

S = 1_000_000_000


def fn(fid: str = "f", event: str = "e", **cfg: Any) -> FunctionConfig:
    return FunctionConfig.from_mapping({"id": fid, "triggers": [{"event": event}], **cfg})


def through_json(fc: FlowControl) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(snapshot(fc), allow_nan=False))
    return data


def twin(fc: FlowControl, clock: ManualClock, **kw: Any) -> tuple[FlowControl, ManualClock]:
    """The restored copy of ``fc``, on its own clock at the same instant."""
    clock2 = ManualClock(clock.now)
    return restore(fc.functions, through_json(fc), clock=clock2, **kw), clock2


def brief(ds: list[Decision]) -> list[str]:
    out = []
    for d in ds:
        if isinstance(d, RunStarted):
            out.append(f"start {d.run_id}")
        elif isinstance(d, StepStarted):
            out.append(f"step {d.run_id}")
        elif isinstance(d, RunQueued):
            out.append(f"queued {d.run_id} on {d.hold.constraint}")
        elif isinstance(d, RunCancelled):
            out.append(f"cancel {d.run_id}")
        elif isinstance(d, RunSkipped):
            out.append(f"skip {d.run_id} held by {d.holder}")
        else:
            out.append(type(d).__name__)
    return out


class Pair:
    """The original and its restored twin, given the same inputs."""

    def __init__(self, fc: FlowControl, clock: ManualClock, **kw: Any) -> None:
        self.a, self.ca = fc, clock
        self.b, self.cb = twin(fc, clock, **kw)

    def at(self, t: float) -> None:
        self.ca.set(int(t * S))
        self.cb.set(int(t * S))

    def both(self, call: Callable[[FlowControl], list[Decision]]) -> list[str]:
        da, db = call(self.a), call(self.b)
        assert da == db
        assert self.a.next_deadline() == self.b.next_deadline()
        return brief(da)

    def explain_same(self, *ids: str) -> None:
        for i in ids:
            assert self.a.explain(i) == self.b.explain(i)
            assert str(self.a.explain(i)) == str(self.b.explain(i))


def test_throttled_backlog_parked_on_a_gate_with_a_retry_timer() -> None:
    clock = ManualClock()
    fc = FunctionController(fn(throttle={"limit": 1, "period": "3s"}), clock=clock)
    for i in range(3):
        fc.receive_event({"name": "e", "id": f"e{i}"})
    assert fc.next_deadline() == 3 * S
    p = Pair(fc, clock)
    assert p.b.next_deadline() == 3 * S
    p.explain_same("run-1", "run-2", "run-3", "e1")
    assert p.b.explain("run-2").hold is not None
    assert p.b.explain("run-2").hold.constraint == "throttle"  # type: ignore[union-attr]
    table = [(1.0, []), (3.0, ["start run-2"]), (5.9, []), (6.0, ["start run-3"])]
    for t, want in table:
        p.at(t)
        assert p.both(lambda fc: fc.poll()) == want, t
    p.explain_same("run-2", "run-3", "e2")


def test_a_run_sleeping_between_steps_holds_nothing_and_queues_its_next_step() -> None:
    clock = ManualClock()
    fc = FunctionController(fn(concurrency=1), clock=clock)
    fc.receive_event({"name": "e", "id": "a"})  # run-1 starts
    fc.step_finished("run-1")  # sleeps: its slot is free
    fc.receive_event({"name": "e", "id": "b"})  # run-2 takes the slot
    assert brief(fc.step_ready("run-1")) == ["queued run-1 on concurrency"]  # it waits
    p = Pair(fc, clock)
    assert p.b.run_status("run-1") == "queued" and p.b.run_status("run-2") == "running"
    p.explain_same("run-1", "run-2")
    p.at(1)
    assert p.both(lambda fc: fc.run_finished("run-2")) == ["step run-1"]
    assert p.both(lambda fc: fc.step_finished("run-1")) == []
    assert p.b.run_status("run-1") == "sleeping"


def test_a_pending_debounce_and_a_half_full_batch() -> None:
    clock = ManualClock()
    deb = fn("deb", "d", debounce={"period": "5s", "key": "event.data.k"})
    bat = fn("bat", "b", batchEvents={"maxSize": 3, "timeout": "10s"})
    fc = FlowControl([deb, bat], clock=clock)
    fc.receive_event({"name": "d", "id": "d1", "data": {"k": "x"}})
    clock.set(2 * S)
    fc.receive_event({"name": "d", "id": "d2", "data": {"k": "x"}})  # supersedes d1
    fc.receive_event({"name": "b", "id": "b1"})
    p = Pair(fc, clock)
    assert p.b.next_deadline() == 7 * S
    p.explain_same("d1", "d2", "b1")
    p.at(3)
    d = p.b.receive_event({"name": "b", "id": "b2"})
    assert d == p.a.receive_event({"name": "b", "id": "b2"})
    assert d == [EventBatched("b2", "bat", "default", 2)]
    table = [
        (6.9, []),
        (7.0, ["start run-1"]),  # the debounce fires with d2
        (11.9, []),
        (12.0, ["BatchFlushed", "start run-2"]),  # the batch times out with b1, b2
    ]
    for t, want in table:
        p.at(t)
        assert p.both(lambda fc: fc.poll()) == want, t
    assert p.b.explain("run-1").function == "deb"
    p.explain_same("d1", "d2", "b1", "b2", "run-1", "run-2")


def test_a_debounce_event_after_restore_extends_the_restored_one() -> None:
    clock = ManualClock()
    fc = FunctionController(fn(debounce={"period": "5s"}), clock=clock)
    fc.receive_event({"name": "e", "id": "a"})
    p = Pair(fc, clock)
    p.at(4)
    out = p.b.receive_event({"name": "e", "id": "b"})
    assert out == p.a.receive_event({"name": "e", "id": "b"})
    assert out[-1] == EventDebounced("b", "f", "f", 9 * S)


def test_a_singleton_lock_survives() -> None:
    clock = ManualClock()
    fc = FunctionController(fn(singleton={"mode": "skip"}, concurrency=1), clock=clock)
    fc.receive_event({"name": "e", "id": "a"})
    p = Pair(fc, clock)
    assert p.both(lambda fc: fc.receive_event({"name": "e", "id": "b"})) == [
        "skip run-2 held by run-1"
    ]
    p.both(lambda fc: fc.run_finished("run-1"))
    assert p.both(lambda fc: fc.receive_event({"name": "e", "id": "c"})) == ["start run-3"]


def test_singleton_cancel_mode_cancels_the_restored_holder() -> None:
    clock = ManualClock()
    fc = FunctionController(fn(singleton={"mode": "cancel"}), clock=clock)
    fc.receive_event({"name": "e", "id": "a"})
    p = Pair(fc, clock)
    assert p.both(lambda fc: fc.receive_event({"name": "e", "id": "b"})) == [
        "cancel run-1", "start run-2"
    ]


def test_shared_account_keys_across_two_functions() -> None:
    clock = ManualClock()
    shared = {"key": '"openai"', "scope": "account"}
    a = fn("a", "ea", concurrency=[{"limit": 1, **shared}])
    b = fn("b", "eb", concurrency=[{"limit": 2, **shared}])
    fc = FlowControl([a, b], clock=clock)
    fc.receive_event({"name": "ea", "id": "a1"})  # run-1 takes the shared counter (1)
    fc.receive_event({"name": "ea", "id": "a2"})  # run-2 waits: a's limit is 1
    fc.receive_event({"name": "eb", "id": "b1"})  # run-3 starts: b's limit is 2
    fc.receive_event({"name": "eb", "id": "b2"})  # run-4 waits
    p = Pair(fc, clock)
    assert p.b.concurrency().usage() == p.a.concurrency().usage()
    p.explain_same("run-2", "run-4")
    assert p.both(lambda fc: fc.run_finished("run-3")) == ["start run-4"]
    assert p.both(lambda fc: fc.run_finished("run-1")) == []  # usage 1: a's limit is 1
    assert p.both(lambda fc: fc.run_finished("run-4")) == ["start run-2"]


def test_a_step_waiting_for_its_retry_survives() -> None:
    clock = ManualClock()
    fc = FunctionController(fn(concurrency=1, retries=2, singleton={"mode": "skip"},
                               cancelOn=[{"event": "stop"}]), clock=clock)
    fc.receive_event({"name": "e", "id": "a"})  # run-1 starts and holds the lock
    assert [type(d).__name__ for d in fc.step_failed("run-1")] == ["StepRetrying"]
    p = Pair(fc, clock)
    assert p.b.run_status("run-1") == "retrying" and p.b.next_deadline() == 15 * S
    p.explain_same("run-1")
    table: list[tuple[float, Callable[[FlowControl], list[Decision]], list[str]]] = [
        (1, lambda fc: fc.receive_event({"name": "e", "id": "b"}), ["skip run-2 held by run-1"]),
        (14.9, lambda fc: fc.poll(), []),
        (15, lambda fc: fc.poll(), ["step run-1"]),  # the retry, after the 15 s backoff
        (16, lambda fc: fc.step_failed("run-1", retry_at=20 * S), ["StepRetrying"]),
        (20, lambda fc: fc.poll(), ["step run-1"]),
        (21, lambda fc: fc.step_failed("run-1"), ["RunFailed"]),  # no attempts left
        (22, lambda fc: fc.receive_event({"name": "e", "id": "c"}), ["start run-3"]),
    ]
    for t, call, want in table:
        p.at(t)
        assert p.both(call) == want, t
    p.explain_same("run-1", "run-2", "run-3")


def test_timers_for_timeouts_and_future_events_survive() -> None:
    clock = ManualClock(10 * S)
    fc = FunctionController(fn(concurrency=1, timeouts={"start": "5s"}), clock=clock)
    fc.receive_event({"name": "e", "id": "a"})  # starts
    fc.receive_event({"name": "e", "id": "b"})  # queued; cancelled at 15 s
    fc.receive_event({"name": "e", "id": "c", "ts": 12_000})  # waits for its ts
    p = Pair(fc, clock)
    table = [(11.9, []), (12.0, []), (15.0, ["cancel run-2", "cancel run-3"])]
    for t, want in table:
        p.at(t)
        assert p.both(lambda fc: fc.poll()) == want, t


def test_options_come_back_from_the_snapshot() -> None:
    clock = ManualClock()
    fc = FlowControl([fn()], clock=clock, account_concurrency=1, priority_range=(-5, 5),
                     fairness=OldestFirst(), record=False)
    fc.receive_event({"name": "e", "id": "a"})
    fc.receive_event({"name": "e", "id": "b"})
    b = restore(fc.functions, through_json(fc), clock=ManualClock())
    assert (b._prio, b._record, b._policy.name) == ((-5, 5), False, "oldest-first")
    assert b.concurrency().in_use("f")[0].limit == 1
    fc.run_finished("run-1")
    assert brief(b.run_finished("run-1")) == ["start run-2"]


def test_a_function_controller_comes_back_as_one() -> None:
    clock = ManualClock()
    fc = FunctionController(fn(), clock=clock)
    fc.receive_event({"name": "e"})
    b = restore(fc.functions, through_json(fc), clock=clock, cls=FunctionController)
    assert type(b) is FunctionController
    assert b.run_status("run-1") == "running"


def test_non_finite_floats_and_tuples_in_event_data_round_trip() -> None:
    clock = ManualClock()
    fc = FunctionController(fn(concurrency=1, cancelOn=[{"event": "stop"}]), clock=clock)
    fc.receive_event({"name": "e", "id": "a"})  # runs keep their event for cancelOn
    fc.receive_event({"name": "e", "id": "b", "data": {"x": float("inf"), "t": (1, "y")}})
    text = json.dumps(snapshot(fc), allow_nan=False)  # no NaN or Infinity in the JSON
    b = restore(fc.functions, json.loads(text), clock=clock)
    act = b._runs["run-2"].act
    assert act is not None and act["event"]["data"] == {"x": float("inf"), "t": (1.0, "y")}


def test_the_snapshot_shares_nothing_mutable_with_the_controller() -> None:
    """Used without JSON, the data is still a copy: the controller going on changes
    nothing in it, and restoring from it changes nothing in it."""
    clock = ManualClock()
    fc = FunctionController(fn(concurrency=1, cancelOn=[{"event": "stop"}]), clock=clock)
    for i in range(3):
        fc.receive_event({"name": "e", "id": f"e{i}", "data": {"n": [i]}})
    data = snapshot(fc)
    text = json.dumps(data)
    b = restore(fc.functions, data, clock=ManualClock(clock.now))
    fc.run_finished("run-1")
    b.run_finished("run-1")
    assert json.dumps(data) == text
    assert snapshot(b) == snapshot(fc)


def test_json_stores_that_reorder_object_keys_change_nothing() -> None:
    """References are numbered in walk order, and nothing depends on the order of keys
    in a JSON object (a store may sort them, as ``sort_keys`` or PostgreSQL's jsonb do)."""
    clock = ManualClock()
    fc = FunctionController(fn(concurrency=1, cancelOn=[{"event": "stop"}],
                               throttle={"limit": 1, "period": "2s"}), clock=clock)
    for i in range(4):
        fc.receive_event({"name": "e", "id": f"e{i}", "data": {"z": i, "a": [i], "m": {}}})

    def reverse_keys(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: reverse_keys(v[k]) for k in reversed(list(v))}
        if isinstance(v, list):
            return [reverse_keys(x) for x in v]
        return v

    data = through_json(fc)
    for shuffled in (json.loads(json.dumps(data, sort_keys=True)), reverse_keys(data)):
        b = restore(fc.functions, shuffled, clock=clock)
        assert through_json(b) == data
        act = b._runs["run-2"].act
        assert act is not None and list(act["event"]["data"]) == ["z", "a", "m"]


def test_the_round_trip_is_a_fixed_point_and_keeps_identity() -> None:
    clock = ManualClock()
    fc = FunctionController(fn(concurrency=1, throttle={"limit": 3, "period": "1s"}), clock=clock)
    for i in range(5):
        fc.receive_event({"name": "e", "id": f"e{i}"})
    data = through_json(fc)
    b = restore(fc.functions, data, clock=clock)
    assert through_json(b) == data
    run = b._runs["run-2"]
    assert run.backlog is not None and any(e[2] is run for e in run.backlog.heap)
    assert b._fns[0].live["run-2"] is run


# -- refusals ------------------------------------------------------------------------------


def saved() -> tuple[FlowControl, dict[str, Any]]:
    clock = ManualClock()
    fc = FunctionController(fn(concurrency=1), clock=clock)
    for i in range(3):
        fc.receive_event({"name": "e", "id": f"e{i}"})
    return fc, through_json(fc)


def nodes(v: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in the data, depth first."""
    if isinstance(v, dict):
        yield v
        for x in v.values():
            yield from nodes(x)
    elif isinstance(v, list):
        for x in v:
            yield from nodes(x)


def run_node(data: dict[str, Any], run_id: str) -> tuple[dict[str, Any], list[str]]:
    """The object node of run ``run_id`` and its field names."""
    classes = data["classes"]
    k = next(i for i, (tag, _) in enumerate(classes) if tag == "_runtime._Run")
    fields = classes[k][1]
    for n in nodes(data["state"]):
        if n.get("o") == k and n["v"][fields.index("id")] == run_id:
            return n, fields
    raise AssertionError(run_id)


def refused(data: Any, fragment: str, functions: Any = None, **kw: Any) -> str:
    fc, _ = saved()
    kw.setdefault("clock", ManualClock())
    with pytest.raises(ValueError) as e:
        restore(fc.functions if functions is None else functions, data, **kw)
    assert fragment in str(e.value), str(e.value)
    return str(e.value)


def test_a_different_config_is_refused() -> None:
    _, data = saved()
    refused(data, "function 'f': its config differs from the one the snapshot was taken with",
            functions=[fn(concurrency=2)])
    refused(data, "snapshot was taken with functions ['f'], restore was given ['g']",
            functions=[fn("g", concurrency=1)])
    refused(data, "restore was given ['f', 'g']",
            functions=[fn(concurrency=1), fn("g")])


def test_the_fingerprint_ignores_fields_at_their_default() -> None:
    assert config_digest(fn(concurrency=1)) == config_digest(fn(concurrency=1))
    assert config_digest(fn(concurrency=1)) != config_digest(fn(concurrency=2))


@pytest.mark.parametrize(("change", "fragment"), [
    (lambda d: d.update(kind="Throttle"), "not a FlowControl snapshot (kind='Throttle')"),
    (lambda d: d.update(version=3), "FlowControl snapshot: unsupported version 3"),
    (lambda d: d.update(version=1), "version 1 was written before run-level concurrency"),
    (lambda d: d.pop("functions"), "snapshot.functions must be a list"),
    (lambda d: d["options"].update(record="yes"), "snapshot.options.record must be a bool"),
    (lambda d: d["options"].update(priority_range=[1]), "priority_range must be [low, high]"),
    (lambda d: d["options"].update(fairness="lottery"),
     "custom fairness policy 'lottery': pass it as fairness="),
    (lambda d: d["classes"][0].__setitem__(0, "os.system"), "unknown class tag 'os.system'"),
    (lambda d: d["classes"][0][1].append("extra"), "in this version of flowcontrol"),
    (lambda d: d["state"].pop("_runs"), "missing ['_runs']"),
    (lambda d: d["state"].update(_hack=1), "unknown ['_hack']"),
    (lambda d: d.update(state=[]), "snapshot.state must be an object"),
])
def test_malformed_headers_are_refused(change: Callable[[dict[str, Any]], Any],
                                       fragment: str) -> None:
    _, data = saved()
    change(data)
    refused(data, fragment)


def test_not_a_mapping_is_refused() -> None:
    refused([1, 2], "snapshot must be a mapping, got list")


def test_a_wrong_type_is_refused_with_its_path() -> None:
    _, data = saved()
    node, fields = run_node(data, "run-2")
    node["v"][fields.index("state")] = "queued"
    msg = refused(data, "must be int, got str")
    assert "live['run-2'].state" in msg
    _, data = saved()
    node, fields = run_node(data, "run-1")
    node["v"][fields.index("created_at")] = True
    refused(data, "live['run-1'].created_at: must be int, got bool")


def test_tampered_references_are_refused() -> None:
    _, data = saved()
    node, fields = run_node(data, "run-2")
    node["v"][fields.index("fn")] = {"r": 99999}
    refused(data, "live['run-2'].fn: reference 99999 points past the")
    _, data = saved()
    node, fields = run_node(data, "run-2")
    node["v"][fields.index("fn")] = {"r": 0}  # the controller itself
    refused(data, "live['run-2'].fn: must be _Function, got FlowControl")
    _, data = saved()
    node, fields = run_node(data, "run-2")
    node["v"][fields.index("backlog")] = {"o": 999, "v": []}
    refused(data, "class index 999 is not in the snapshot's classes table")


def test_unknown_value_forms_and_placeholders_are_refused() -> None:
    _, data = saved()
    node, fields = run_node(data, "run-2")
    node["v"][fields.index("reason")] = {"import": "os"}
    refused(data, "live['run-2'].reason: unknown value form 'import'")
    _, data = saved()
    node, fields = run_node(data, "run-2")
    node["v"][fields.index("reason")] = {"x": "os.system"}
    refused(data, "unknown placeholder 'os.system'")
    _, data = saved()
    node, fields = run_node(data, "run-2")
    node["v"][fields.index("fn")] = {"o": node["o"], "v": node["v"]}  # a run as a function
    refused(data, "live['run-2'].fn")


def test_inconsistent_state_is_refused() -> None:
    _, data = saved()
    node, fields = run_node(data, "run-2")
    node["v"][fields.index("id")] = "run-9"
    refused(data, "state._runs['run-2']: is not the run of that id")
    _, data = saved()
    data["state"]["_conc"]["v"][1] = {"d": []}  # counters emptied, leases kept
    refused(data, "state._conc._counts: counters do not add up to the leases held")
    _, data = saved()
    data["state"]["_timers"] = [{"t": [5, 1, 4, None]}, {"t": [1, 2, 4, None]}]
    refused(data, "out of heap order at entry 1")


def test_a_custom_fairness_policy_must_be_passed_again() -> None:
    class Lifo:
        name = "lifo"

        def new_queue(self) -> WaitQueue:
            return RoundRobin().new_queue()

    clock = ManualClock()
    fc = FunctionController(fn(), clock=clock, fairness=Lifo())
    fc.receive_event({"name": "e"})
    data = through_json(fc)
    refused(data, "custom fairness policy 'lifo': pass it as fairness=",
            functions=fc.functions)
    refused(data, "taken with fairness policy 'lifo', restore was given 'round-robin'",
            functions=fc.functions, fairness=RoundRobin())
    b = restore(fc.functions, data, clock=clock, fairness=Lifo())
    assert b.run_status("run-1") == "running"


def test_custom_wait_queues_in_use_are_refused_at_snapshot_time() -> None:
    class Queue:
        def __init__(self) -> None:
            self.items: list[Any] = []

        def push(self, item: Any) -> None:
            self.items.append(item)

        push_front = push

        def pop(self) -> Any:
            return self.items.pop()

        def __len__(self) -> int:
            return len(self.items)

    class Lifo:
        name = "lifo"

        def new_queue(self) -> WaitQueue:
            return Queue()

    clock = ManualClock()
    fc = FunctionController(fn(concurrency=1), clock=clock, fairness=Lifo())
    fc.receive_event({"name": "e"})
    fc.receive_event({"name": "e"})
    with pytest.raises(ValueError, match=r"cannot save a .*Queue, a wait queue of the "
                       r"fairness policy 'lifo' \(only built-in policies' queues are data\) "
                       r"at state\._backlogs\[.*\]\.gate\.waiters"):
        snapshot(fc)


def test_values_that_are_not_data_are_refused_at_snapshot_time() -> None:
    clock = ManualClock()
    fc = FunctionController(fn(concurrency=1, cancelOn=[{"event": "stop"}]), clock=clock)
    fc.receive_event({"name": "e"})
    fc.receive_event({"name": "e", "data": {"when": object()}})
    with pytest.raises(ValueError) as e:
        snapshot(fc)
    assert "cannot save a builtins.object (not whitelisted)" in str(e.value)
    assert "live['run-2'].act['event']['data']['when']" in str(e.value)


def test_a_failed_restore_leaves_nothing_behind() -> None:
    fc, data = saved()
    node, fields = run_node(data, "run-3")
    node["v"][fields.index("state")] = 99
    refused(data, "state 99 is out of range")
    fc.run_finished("run-1")  # the original is untouched
    assert fc.run_status("run-2") == "running"


# -- size and speed ----------------------------------------------------------------------


def test_ten_thousand_queued_runs_size_and_speed() -> None:
    """Figures for the report (printed with -s); only sizes, which are exact, are checked."""
    clock = ManualClock()
    cfg = fn(concurrency=[{"limit": 2, "key": "event.data.user"}],
             throttle={"limit": 10, "period": "1s"}, priority={"run": "int(event.data.p)"})
    fc = FunctionController(cfg, clock=clock)
    t0 = time.perf_counter()
    for i in range(10_000):
        fc.receive_event({"name": "e", "id": f"evt-{i}", "data": {"user": f"u{i % 50}",
                                                                  "p": i % 7}})
    t_build = time.perf_counter() - t0
    assert sum(fc.backlog_sizes().values()) >= 9_900
    t0 = time.perf_counter()
    text = json.dumps(snapshot(fc), separators=(",", ":"))
    t_save = time.perf_counter() - t0
    t0 = time.perf_counter()
    clock2 = ManualClock(clock.now)
    b = restore(fc.functions, json.loads(text), clock=clock2)
    t_load = time.perf_counter() - t0
    print(f"\n10,000 queued runs: JSON {len(text) / 1e6:.2f} MB "
          f"({len(text) // 10_000} bytes/run); snapshot+dumps {t_save * 1e3:.0f} ms, "
          f"loads+restore {t_load * 1e3:.0f} ms; building it by events {t_build * 1e3:.0f} ms")
    assert len(text) < 10_000 * 1_000  # under 1 KB per queued run, events included
    clock.advance(S)
    clock2.advance(S)
    assert b.poll() == fc.poll()


# -- guards against internal changes the generic walk cannot see -------------------------


def test_every_field_of_the_records_has_a_known_type() -> None:
    """A new field of a run, backlog, gate or function is saved automatically; this asks
    for its type in ``_state._FIELD_TYPES`` so that tampered values are refused."""
    from flowcontrol.controller import persist as _state
    from flowcontrol.controller import runtime as _runtime

    for cls in (_runtime._Run, _runtime._Backlog, _runtime._Gate, _runtime._Function):
        spec = _state._SPECS[cls]
        missing = [f for f in spec.fields if f not in _state._FIELD_TYPES[cls]]
        missing = [f for f in missing if not (cls is _runtime._Gate and f == "waiters")]
        assert not missing, f"{cls.__name__}: add types for {missing} to _FIELD_TYPES"


def test_every_record_and_decision_class_is_whitelisted() -> None:
    import dataclasses

    from flowcontrol.controller import decisions
    from flowcontrol.controller import persist as _state
    from flowcontrol.controller import runtime as _runtime

    for mod in (_runtime, decisions):
        for obj in vars(mod).values():
            if isinstance(obj, type) and obj.__module__ == mod.__name__ and (
                dataclasses.is_dataclass(obj) or "__slots__" in vars(obj)
            ):
                assert obj in _state._SPECS, obj


def _view(x: Any) -> Any:
    """A comparable picture of a derived value (compiled expressions by source,
    functions by id)."""
    import dataclasses

    from flowcontrol.controller import runtime as _runtime
    from flowcontrol.controller.keys import CompiledExpr

    if isinstance(x, CompiledExpr):
        return ("expr", x.source)
    if isinstance(x, _runtime._Function):
        return ("fn", x.id)
    if isinstance(x, list | tuple):
        return [_view(v) for v in x]
    if isinstance(x, dict):
        return {k: _view(v) for k, v in x.items()}
    if isinstance(x, set | frozenset):
        return sorted(map(repr, x))
    if x is None or isinstance(x, str | int | float) or dataclasses.is_dataclass(x):
        return x
    return type(x).__name__


def test_what_is_not_saved_is_rebuilt_identically_from_the_configs() -> None:
    """The skipped (derived) attributes of the controller and of its functions are equal
    in a restored controller after traffic: nothing saved-worthy hides among them."""
    from flowcontrol.controller import persist as _state

    clock = ManualClock()
    fns = [
        fn("a", "ea", concurrency=[{"limit": 1, "key": "event.data.k", "scope": "account"}],
           throttle={"limit": 1, "period": "3s", "key": "event.data.k"},
           priority={"run": "int(event.data.p)"}, singleton={"mode": "skip"},
           cancelOn=[{"event": "stop", "match": "data.k"}], timeouts={"finish": "1m"},
           retries=1, rateLimit={"limit": 5, "period": "1m"}),
        fn("b", "eb", concurrency=[{"limit": 2, "key": "event.data.k", "scope": "account"}],
           batchEvents={"maxSize": 2, "timeout": "5s", "key": "event.data.k"}),
        FunctionConfig.from_mapping({"id": "c", "triggers": [{"event": "app/*"}],
                                     "debounce": {"period": "2s"}}),
    ]
    fc = FlowControl(fns, clock=clock, account_concurrency=3)
    for i in range(6):
        for name in ("ea", "eb", "app/x"):
            fc.receive_event({"name": name, "data": {"k": "k" + str(i % 2), "p": i}})
    fc.step_failed("run-1")
    clock.advance(3 * S)
    fc.poll()
    b, _ = twin(fc, clock)
    for name in _state._ROOT_SKIP - {"_clock", "_policy", "_out"}:
        assert _view(getattr(b, name)) == _view(getattr(fc, name)), name
    for fa, fb in zip(fc._fns, b._fns, strict=True):
        for name in _state._FUNCTION_SKIP:
            assert _view(getattr(fb, name)) == _view(getattr(fa, name)), (fa.id, name)
    assert b.concurrency()._plans.keys() == fc.concurrency()._plans.keys()


_RESTART = """
import json, sys
from flowcontrol import ManualClock
from flowcontrol.controller.persist import restore, snapshot
from flowcontrol.config.model import FunctionConfig
from flowcontrol.controller.flowcontrol import FlowControl

cfgs = [FunctionConfig.from_mapping(c) for c in json.loads(sys.argv[2])]
clock = ManualClock()
def feed(fc, part):
    out = []
    for i in range(part * 60, part * 60 + 60):
        out.append(repr(fc.receive_event({"name": "e", "data": {"k": "k%d" % (i % 7)}})))
        if i % 5 == 0:
            clock.advance(700_000_000)
            out.append(repr(fc.poll()))
    return out
if sys.argv[1] == "save":
    fc = FlowControl(cfgs, clock=clock)
    feed(fc, 0)
    data = snapshot(fc)
    print(json.dumps({"now": clock.now, "data": data, "rest": feed(fc, 1)}))
else:
    saved = json.loads(sys.stdin.read())
    clock.set(saved["now"])
    fc = restore(cfgs, saved["data"], clock=clock)
    print(json.dumps(feed(fc, 1) == saved["rest"]))
"""


def test_a_restart_in_another_process_carries_on_exactly() -> None:
    """Saved by one interpreter, restored by another with a different hash seed: the
    decisions after the restart are those the first one went on to make."""
    import os
    import subprocess
    import sys

    cfgs = json.dumps([
        {"id": "a", "triggers": [{"event": "e"}],
         "concurrency": [{"limit": 1, "key": "event.data.k", "scope": "account"}],
         "throttle": {"limit": 2, "period": "2s", "key": "event.data.k"}},
        {"id": "b", "triggers": [{"event": "e"}],
         "concurrency": [{"limit": 2, "key": "event.data.k", "scope": "account"}],
         "debounce": {"period": "3s", "key": "event.data.k"}},
    ])

    def run(mode: str, seed: str, stdin: str = "") -> str:
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", _RESTART, mode, cfgs], input=stdin,
                              capture_output=True, text=True, env=env, check=True)
        return done.stdout

    saved = run("save", "1")
    assert json.loads(run("load", "2", saved)) is True
