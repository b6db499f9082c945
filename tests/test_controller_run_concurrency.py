"""Run concurrency in the controller: ``concurrency: {"fn": [{"limit", "key"?}]}``.

A start needs a run slot together with the step limits and the throttle, all or nothing;
the run holds it for its whole life, sleeps, waits and retries included, and gives it
back when it ends, however it ends. Scenarios ported from inngest/inngest (at 253303cd)
``tests/golang/concurrency_fn_concurrency_test.go`` (``TestFnConcurrency``,
``TestFnConcurrency_Key``) and ``pkg/constraintapi/semaphore_test.go``
(``TestSemaphoreWithConcurrency``); release on every ending from
``pkg/execution/executor/finalize.go`` and ``pkg/constraintapi/SEMAPHORES.md``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from flowcontrol import ManualClock
from flowcontrol.config.model import FunctionConfig
from flowcontrol.controller.decisions import RunQueued, RunStarted
from flowcontrol.controller.flowcontrol import FlowControl

S = 1_000_000_000


def fn(run_limit: dict[str, Any], **cfg: Any) -> FunctionConfig:
    conc = {"fn": [run_limit], **cfg.pop("step", {})}
    return FunctionConfig.from_mapping({"id": "f", "triggers": [{"event": "e"}],
                                        "concurrency": conc, **cfg})


def ev(i: int | str, **data: Any) -> dict[str, Any]:
    return {"name": "e", "id": str(i), "data": data}


def started(out: list[Any]) -> list[str]:
    return [d.run_id for d in out if isinstance(d, RunStarted)]


def queued(out: list[Any]) -> list[str]:
    return [d.run_id for d in out if isinstance(d, RunQueued)]


def test_one_run_at_a_time_across_all_its_steps() -> None:
    # TestFnConcurrency: limit 1, three events, two steps per run: never more than one run
    # active, and every run completes.
    clock = ManualClock()
    fc = FlowControl([fn({"limit": 1})], clock=clock)
    assert started(fc.receive_event(ev(1))) == ["run-1"]
    assert queued(fc.receive_event(ev(2))) == ["run-2"]
    assert queued(fc.receive_event(ev(3))) == ["run-3"]
    for run, nxt in (("run-1", ["run-2"]), ("run-2", ["run-3"]), ("run-3", [])):
        assert fc.step_finished(run) == []  # step 1 done: the run keeps its slot
        fc.step_ready(run)  # step 2
        assert fc.step_finished(run) == []
        assert started(fc.run_finished(run)) == nxt
    assert [fc.run_status(f"run-{i}") for i in (1, 2, 3)] == ["completed"] * 3


def test_each_key_has_its_own_limit() -> None:
    # TestFnConcurrency_Key: limit 1 per customer_id; events A, B, A, B: one run of each
    # customer at once, the second of each after the first ends.
    clock = ManualClock()
    fc = FlowControl([fn({"limit": 1, "key": "event.data.customer_id"})], clock=clock)
    outs = [fc.receive_event(ev(i, customer_id=c)) for i, c in enumerate("ABAB")]
    assert [started(o) for o in outs] == [["run-1"], ["run-2"], [], []]
    assert started(fc.run_finished("run-2")) == ["run-4"]
    assert started(fc.run_finished("run-1")) == ["run-3"]


def test_a_sleeping_run_keeps_its_slot_where_a_step_limit_would_not() -> None:
    clock = ManualClock()
    by_run = FlowControl([fn({"limit": 1})], clock=clock)
    by_step = FlowControl([FunctionConfig.from_mapping(
        {"id": "f", "triggers": [{"event": "e"}], "concurrency": {"step": [{"limit": 1}]}})],
        clock=clock)
    for fc in (by_run, by_step):
        fc.receive_event(ev(1))
        fc.step_finished("run-1")  # run-1 now sleeps, waiting for an upload
    assert queued(by_run.receive_event(ev(2))) == ["run-2"]
    assert started(by_step.receive_event(ev(2))) == ["run-2"]
    assert by_run.explain("run-2").reason == (
        "waiting on run concurrency, 1/1 in use")


def test_a_retrying_run_keeps_its_slot() -> None:
    clock = ManualClock()
    fc = FlowControl([fn({"limit": 1}, retries=2)], clock=clock)
    fc.receive_event(ev(1))
    fc.step_failed("run-1")
    assert fc.run_status("run-1") == "retrying"
    assert queued(fc.receive_event(ev(2))) == ["run-2"]


def _finish(fc: FlowControl, clock: ManualClock) -> list[Any]:
    return fc.run_finished("run-1")


def _fail(fc: FlowControl, clock: ManualClock) -> list[Any]:
    return fc.run_failed("run-1")


def _last_attempt_fails(fc: FlowControl, clock: ManualClock) -> list[Any]:
    return fc.step_failed("run-1")  # retries 0: the run fails


def _cancel_sleeping(fc: FlowControl, clock: ManualClock) -> list[Any]:
    fc.step_finished("run-1")
    return fc.cancel("run-1")


def _cancel_running(fc: FlowControl, clock: ManualClock) -> list[Any]:
    assert fc.cancel("run-1") and fc.run_status("run-2") == "queued"
    return fc.step_finished("run-1")  # the running step ends: now the run has ended


def _cancel_on_event(fc: FlowControl, clock: ManualClock) -> list[Any]:
    fc.step_finished("run-1")
    return fc.receive_event({"name": "stop", "id": "s", "data": {"k": 1}})


def _finish_timeout(fc: FlowControl, clock: ManualClock) -> list[Any]:
    fc.step_finished("run-1")
    clock.advance("1m")
    return fc.poll()


ENDINGS: list[tuple[str, Callable[[FlowControl, ManualClock], list[Any]], str]] = [
    ("completed", _finish, "completed"),
    ("failed by the host", _fail, "failed"),
    ("failed, no attempts left", _last_attempt_fails, "failed"),
    ("cancelled while sleeping", _cancel_sleeping, "cancelled"),
    ("cancelled while running", _cancel_running, "cancelled"),
    ("cancelled by an event", _cancel_on_event, "cancelled"),
    ("timed out (timeouts.finish)", _finish_timeout, "cancelled"),
]


@pytest.mark.parametrize(("end", "status"), [r[1:] for r in ENDINGS],
                         ids=[r[0] for r in ENDINGS])
def test_the_slot_is_given_back_however_the_run_ends(
        end: Callable[[FlowControl, ManualClock], list[Any]], status: str) -> None:
    clock = ManualClock()
    cfg = fn({"limit": 1}, retries=0, cancelOn=[{"event": "stop", "match": "data.k"}],
             timeouts={"finish": "1m"})
    fc = FlowControl([cfg], clock=clock)
    fc.receive_event(ev(1, k=1))
    assert queued(fc.receive_event(ev(2, k=2))) == ["run-2"]
    out = end(fc, clock)
    assert fc.run_status("run-1") == status
    assert started(out) == ["run-2"]
    assert len(fc.run_semaphore()) == 1


def test_a_queued_run_that_ends_gives_back_nothing_it_never_took() -> None:
    clock = ManualClock()
    fc = FlowControl([fn({"limit": 1}, timeouts={"start": "10s"})], clock=clock)
    fc.receive_event(ev(1))
    fc.receive_event(ev(2))
    fc.cancel("run-2")
    clock.advance("10s")
    fc.poll()
    assert fc.run_semaphore().holders() == {"run-1": ("f", None)}
    assert queued(fc.receive_event(ev(3))) == ["run-3"]


def test_the_run_slot_blocks_even_when_the_step_limit_has_room() -> None:
    # TestSemaphoreWithConcurrency: capacity 1 beside generous concurrency limits; the
    # second acquire is refused by the semaphore alone, and takes no concurrency slot.
    clock = ManualClock()
    fc = FlowControl([fn({"limit": 1}, step={"step": [{"limit": 5}]})], clock=clock,
                     account_concurrency=10)
    fc.receive_event(ev(1))
    out = fc.receive_event(ev(2))
    assert queued(out) == ["run-2"] and out[0].hold.constraint == "run concurrency"
    assert fc.concurrency().usage() == {"A": 1, "F:f": 1}


def test_all_or_nothing_with_the_throttle() -> None:
    # A start refused by the throttle takes no run slot; one refused by the run limit
    # takes no throttle token.
    clock = ManualClock()
    fc = FlowControl([fn({"limit": 1, "key": "event.data.u"},
                         throttle={"limit": 1, "period": "10s"})], clock=clock)
    assert started(fc.receive_event(ev(1, u="a"))) == ["run-1"]
    out = fc.receive_event(ev(2, u="b"))  # throttle: no token until 10 s
    assert out[0].hold.constraint == "throttle"
    assert fc.run_semaphore().holders() == {"run-1": ("f", "a")}
    clock.advance("10s")
    assert started(fc.poll()) == ["run-2"]
    clock.advance("10s")  # a token is free again
    out = fc.receive_event(ev(3, u="a"))  # but the run limit of "a" is full
    assert queued(out) == ["run-3"] and out[0].hold.constraint == "run concurrency"
    assert started(fc.receive_event(ev(4, u="c"))) == ["run-4"]  # the token was not taken
    assert fc.run_semaphore().holders() == {"run-1": ("f", "a"), "run-2": ("f", "b"),
                                            "run-4": ("f", "c")}


def test_a_key_that_fails_to_evaluate_shares_one_bucket() -> None:
    # evaluateFnConcurrency: a key expression error gives the evaluated key "".
    clock = ManualClock()
    fc = FlowControl([fn({"limit": 1, "key": "event.data.n / 0"})], clock=clock)
    fc.receive_event(ev(1, n=1))
    assert queued(fc.receive_event(ev(2, n=2))) == ["run-2"]
    assert fc.run_semaphore().holders() == {"run-1": ("f", "")}


def test_explain_names_the_run_limit_and_its_key() -> None:
    clock = ManualClock()
    fc = FlowControl([fn({"limit": 2, "key": "event.data.user_id"})], clock=clock)
    for i in range(3):
        fc.receive_event(ev(i, user_id="u1"))
    e = fc.explain("run-3")
    assert e.reason == "waiting on run concurrency, key 'u1', 2/2 in use"
    assert e.hold is not None and (e.hold.constraint, e.hold.key) == ("run concurrency", "u1")
    fc.run_finished("run-1")
    assert fc.explain("run-3").reason.startswith("started after waiting 0 ms on run concurrency")


def test_snapshot_and_restore_keep_the_slots() -> None:
    clock = ManualClock()
    cfg = fn({"limit": 1, "key": "event.data.u"})
    fc = FlowControl([cfg], clock=clock)
    for i, u in enumerate("aab"):
        fc.receive_event(ev(i, u=u))
    fc.step_finished("run-1")
    data = json.loads(json.dumps(fc.snapshot()))
    again = FlowControl.restore([cfg], data, clock=clock)
    assert again.run_semaphore().holders() == fc.run_semaphore().holders() == {
        "run-1": ("f", "a"), "run-3": ("f", "b")}
    assert again.snapshot() == data
    assert started(again.run_finished("run-1")) == started(fc.run_finished("run-1")) == ["run-2"]


def test_a_snapshot_whose_slots_do_not_add_up_is_refused() -> None:
    clock = ManualClock()
    cfg = fn({"limit": 2})
    fc = FlowControl([cfg], clock=clock)
    fc.receive_event(ev(1))
    data = json.loads(json.dumps(fc.snapshot()))
    text = json.dumps(data).replace('"run-1", {"t": ["s:1:f", "f", null]}',
                                    '"run-9", {"t": ["s:1:f", "f", null]}')
    assert text != json.dumps(data)
    with pytest.raises(ValueError, match=r"_sem\._held\['run-9'\]: is not a started, live run"):
        FlowControl.restore([cfg], json.loads(text), clock=clock)


def test_a_simulation_reports_per_run_key_and_never_exceeds_the_run_limit() -> None:
    from flowcontrol.sim.simulate import report_key_expression, simulate

    cfg = FunctionConfig.from_mapping({
        "id": "render", "triggers": [{"event": "e"}],
        "concurrency": {"fn": [{"limit": 2, "key": "event.data.user"}]},
        "steps": [{"run": "1s"}, {"sleep": "30s"}, {"run": "1s"}],
    })
    assert report_key_expression(cfg) == "event.data.user"
    trace = [{"name": "e", "id": f"e{i}", "ts": i * 100, "data": {"user": "ab"[i % 2]}}
             for i in range(20)]
    result = simulate([cfg], trace)
    moves = sorted(((t, d, r.group) for r in result.runs for t, d in (
        (r.started_at, 1), (r.ended_at, -1)) if t is not None), key=lambda m: (m[0], m[1]))
    now: dict[str, int] = {}
    for _, d, user in moves:
        now[user] = now.get(user, 0) + d
        assert now[user] <= 2
    assert {r.group for r in result.runs} == {"a", "b"}
    assert all(r.status == "completed" for r in result.runs)
