"""Retries (spec 2.4, 8.3) as a host sees them: a failed step gives back its slots, waits
for its backoff holding nothing but its singleton lock, then needs concurrency again."""

from __future__ import annotations

from typing import Any

import pytest

from flowcontrol import ManualClock
from flowcontrol.config.model import FunctionConfig
from flowcontrol.controller.decisions import (
    RunFailed,
    RunQueued,
    RunSkipped,
    RunStarted,
    StepRetrying,
    StepStarted,
)
from flowcontrol.controller.flowcontrol import FlowControl, FunctionController
from flowcontrol.controller.runtime import BACKOFF, DEFAULT_RETRIES, backoff

S = 1_000_000_000


def fn(**cfg: Any) -> FunctionConfig:
    return FunctionConfig.from_mapping({"id": "f", "triggers": [{"event": "e"}], **cfg})


def ev(i: str) -> dict[str, Any]:
    return {"name": "e", "id": i, "data": {}}


def brief(decisions: list[Any]) -> list[str]:
    """Decisions as short strings: ``RunStarted run-1``, ``StepRetrying run-1 #1 @11s``."""
    out = []
    for d in decisions:
        name = type(d).__name__
        if isinstance(d, StepRetrying):
            out.append(f"{name} {d.run_id} #{d.attempt} @{d.retry_at // S}s")
        elif isinstance(d, RunFailed):
            out.append(f"{name} {d.run_id} after {d.attempts}")
        else:
            out.append(f"{name} {d.run_id}")
    return out


def play(fc: FlowControl, clock: ManualClock, steps: list[tuple[int, str, list[str]]]) -> None:
    """Each step: (t in s, input, expected decisions). Inputs: ``send e1``, ``fail run-1``,
    ``fail run-1 @11`` (retry_at 11 s), ``done run-1`` (run finished), ``step run-1``
    (step finished), ``ready run-1``, ``cancel run-1``, ``poll``."""
    for i, (t, what, want) in enumerate(steps):
        clock.set(t * S)
        verb, *args = what.split()
        if verb == "send":
            out = fc.receive_event(ev(args[0]))
        elif verb == "fail":
            at = int(args[1][1:]) * S if len(args) > 1 else None
            out = fc.step_failed(args[0], retry_at=at)
        elif verb == "done":
            out = fc.run_finished(args[0])
        elif verb == "step":
            out = fc.step_finished(args[0])
        elif verb == "ready":
            out = fc.step_ready(args[0])
        elif verb == "cancel":
            out = fc.cancel(args[0])
        else:
            out = fc.poll()
        assert brief(out) == want, f"step {i} at {t} s ({what}): {out}"


def test_another_run_takes_the_slot_during_the_backoff() -> None:
    """Concurrency 1: run-1's step fails, retry at 11 s. run-2 takes the freed slot; at
    11 s the retry waits for the slot, and gets it the moment run-2 ends."""
    clock = ManualClock()
    fc = FunctionController(fn(concurrency=1), clock=clock)
    play(fc, clock, [
        (0, "send e1", ["RunStarted run-1"]),
        (0, "send e2", ["RunQueued run-2"]),
        (1, "fail run-1 @11", ["StepRetrying run-1 #1 @11s", "RunStarted run-2"]),
        (5, "poll", []),
        (11, "poll", ["RunQueued run-1"]),  # the retry is queued: the slot is run-2's
        (12, "done run-2", ["StepStarted run-1"]),
        (13, "done run-1", []),
    ])
    assert fc.run_status("run-1") == "completed"
    assert fc.next_deadline() is None


def test_explain_a_run_waiting_for_its_retry() -> None:
    clock = ManualClock()
    fc = FunctionController(fn(concurrency=1), clock=clock)
    fc.receive_event(ev("e1"))
    clock.set(2 * S)
    fc.step_failed("run-1")
    clock.set(5 * S)
    x = fc.explain("run-1")
    assert x.status == "retrying" == fc.run_status("run-1")
    assert x.hold is not None
    assert (x.hold.constraint, x.hold.since, x.hold.retry_at) == ("retry", 2 * S, 17 * S)
    assert x.reason == "attempt 1 of 5 failed; retrying at 17s"
    assert "retry" in str(fc.explain("e1"))
    assert fc.next_deadline() == 17 * S
    assert fc.concurrency().usage() == {}  # no slot held while waiting


def test_default_backoff_is_the_platforms_table_and_retries_run_out() -> None:
    """No ``retries``: 4 retries (5 attempts), after 15 s, 30 s, 1 min and 2 min."""
    assert DEFAULT_RETRIES == 4
    assert [backoff(a) // S for a in range(12)] == [
        15, 30, 60, 120, 300, 600, 1200, 2400, 3600, 7200, 7200, 7200]
    assert len(BACKOFF) == 10
    clock = ManualClock()
    fc = FunctionController(fn(), clock=clock)
    play(fc, clock, [
        (0, "send e1", ["RunStarted run-1"]),
        (1, "fail run-1", ["StepRetrying run-1 #1 @16s"]),
        (15, "poll", []),
        (16, "poll", ["StepStarted run-1"]),
        (17, "fail run-1", ["StepRetrying run-1 #2 @47s"]),
        (47, "poll", ["StepStarted run-1"]),
        (47, "fail run-1", ["StepRetrying run-1 #3 @107s"]),
        (107, "poll", ["StepStarted run-1"]),
        (107, "fail run-1", ["StepRetrying run-1 #4 @227s"]),
        (227, "poll", ["StepStarted run-1"]),
        (228, "fail run-1", ["RunFailed run-1 after 5"]),
    ])
    x = fc.explain("run-1")
    assert (x.status, x.ended_at) == ("failed", 228 * S)
    assert "last attempt (5 of 5)" in x.reason


def test_retries_zero_fails_at_once_and_attempts_count_per_step() -> None:
    clock = ManualClock()
    fc = FunctionController(fn(retries=0), clock=clock)
    play(fc, clock, [
        (0, "send e1", ["RunStarted run-1"]),
        (1, "fail run-1", ["RunFailed run-1 after 1"]),
    ])
    clock = ManualClock()
    fc = FunctionController(fn(retries=1), clock=clock)
    play(fc, clock, [
        (0, "send e1", ["RunStarted run-1"]),
        (1, "fail run-1 @2", ["StepRetrying run-1 #1 @2s"]),
        (2, "poll", ["StepStarted run-1"]),
        (3, "step run-1", []),  # the first step succeeded on its retry
        (3, "ready run-1", ["StepStarted run-1"]),
        (4, "fail run-1 @5", ["StepRetrying run-1 #1 @5s"]),  # the second step's own count
        (5, "poll", ["StepStarted run-1"]),
        (6, "fail run-1", ["RunFailed run-1 after 2"]),
    ])


def test_a_retry_needs_concurrency_but_not_the_throttle() -> None:
    """Throttle 1/min: a second start waits a minute, but the retry runs at its time."""
    clock = ManualClock()
    fc = FunctionController(fn(throttle={"limit": 1, "period": "1m"}), clock=clock)
    play(fc, clock, [
        (0, "send e1", ["RunStarted run-1"]),
        (1, "send e2", ["RunQueued run-2"]),
        (2, "fail run-1 @5", ["StepRetrying run-1 #1 @5s"]),
        (5, "poll", ["StepStarted run-1"]),
        (6, "done run-1", []),
        (60, "poll", ["RunStarted run-2"]),
    ])


def test_the_singleton_lock_is_held_through_the_backoff() -> None:
    """Spec 8.3: "a run that fails and is retrying still occupies its singleton slot"."""
    clock = ManualClock()
    fc = FunctionController(fn(singleton={"mode": "skip"}, retries=1), clock=clock)
    play(fc, clock, [
        (0, "send e1", ["RunStarted run-1"]),
        (1, "fail run-1 @10", ["StepRetrying run-1 #1 @10s"]),
        (5, "send e2", ["RunSkipped run-2"]),  # run-1 still holds the lock
        (10, "poll", ["StepStarted run-1"]),
        (11, "fail run-1", ["RunFailed run-1 after 2"]),
        (12, "send e3", ["RunStarted run-3"]),  # the failed run gave the lock back
    ])
    skipped = fc.explain("run-2")
    assert skipped.status == "skipped" and "run-1" in skipped.reason


def test_singleton_cancel_mode_cancels_a_retrying_run() -> None:
    clock = ManualClock()
    fc = FunctionController(fn(singleton={"mode": "cancel"}), clock=clock)
    play(fc, clock, [
        (0, "send e1", ["RunStarted run-1"]),
        (1, "fail run-1 @10", ["StepRetrying run-1 #1 @10s"]),
        (5, "send e2", ["RunCancelled run-1", "RunStarted run-2"]),
        (10, "poll", []),  # the cancelled run's retry never comes
    ])
    assert fc.run_status("run-1") == "cancelled"


def test_cancel_during_the_backoff_and_cancel_while_the_step_runs() -> None:
    clock = ManualClock()
    fc = FunctionController(fn(), clock=clock)
    play(fc, clock, [
        (0, "send e1", ["RunStarted run-1"]),
        (1, "fail run-1 @10", ["StepRetrying run-1 #1 @10s"]),
        (2, "cancel run-1", ["RunCancelled run-1"]),
        (10, "poll", []),
        (11, "send e2", ["RunStarted run-2"]),
        (12, "cancel run-2", ["RunCancelled run-2"]),  # its step runs on
        (13, "fail run-2", []),  # and fails: the run ends cancelled, no retry
    ])
    assert fc.run_status("run-2") == "cancelled"
    assert fc.next_deadline() is None


def test_retry_at_in_the_past_queues_the_step_at_once() -> None:
    clock = ManualClock()
    fc = FunctionController(fn(concurrency=1), clock=clock)
    play(fc, clock, [
        (0, "send e1", ["RunStarted run-1"]),
        (1, "fail run-1 @0", ["StepRetrying run-1 #1 @1s", "StepStarted run-1"]),
    ])


def test_step_failed_refuses_bad_input_and_changes_nothing() -> None:
    clock = ManualClock()
    fc = FunctionController(fn(concurrency=1), clock=clock)
    fc.receive_event(ev("e1"))
    with pytest.raises(ValueError, match="retry_at must be an int"):
        fc.step_failed("run-1", retry_at=1.5)  # type: ignore[arg-type]
    assert fc.run_status("run-1") == "running"
    assert fc.step_finished("run-1") == []
    with pytest.raises(ValueError, match="sleeping, not running a step"):
        fc.step_failed("run-1")
    fc.run_finished("run-1")
    with pytest.raises(LookupError, match="unknown or has ended"):
        fc.step_failed("run-1")


def test_the_retry_keeps_its_priority_place_among_queued_steps() -> None:
    """Two runs of one key retry behind a third's step: they start oldest score first."""
    clock = ManualClock()
    fc = FunctionController(fn(concurrency=1, retries=2), clock=clock)
    fc.receive_event(ev("e1"))
    fc.receive_event(ev("e2"))
    clock.set(S)
    out = fc.step_failed("run-1", retry_at=3 * S)
    assert brief(out) == ["StepRetrying run-1 #1 @3s", "RunStarted run-2"]
    clock.set(3 * S)
    out = fc.poll()
    assert [type(d) for d in out] == [RunQueued]
    clock.set(4 * S)
    out = fc.run_finished("run-2")
    assert [(type(d), d.run_id) for d in out] == [(StepStarted, "run-1")]
    assert not any(isinstance(d, RunStarted | RunSkipped) for d in out)


def test_a_finish_timeout_cancels_a_run_waiting_for_its_retry() -> None:
    clock = ManualClock()
    fc = FunctionController(fn(timeouts={"finish": "10s"}), clock=clock)
    play(fc, clock, [
        (0, "send e1", ["RunStarted run-1"]),
        (1, "fail run-1 @30", ["StepRetrying run-1 #1 @30s"]),
        (10, "poll", ["RunCancelled run-1"]),
        (30, "poll", []),
    ])
    x = fc.explain("run-1")
    assert (x.status, x.hold) == ("cancelled", None)
    assert "timeouts.finish" in x.reason


def test_the_host_may_end_a_run_waiting_for_its_retry() -> None:
    clock = ManualClock()
    fc = FunctionController(fn(concurrency=1), clock=clock)
    play(fc, clock, [
        (0, "send e1", ["RunStarted run-1"]),
        (1, "fail run-1 @30", ["StepRetrying run-1 #1 @30s"]),
        (2, "done run-1", []),
        (30, "poll", []),
        (31, "send e2", ["RunStarted run-2"]),
    ])
    assert fc.run_status("run-1") == "completed"
