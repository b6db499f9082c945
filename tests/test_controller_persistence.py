"""``FlowControl.snapshot()`` / ``FlowControl.restore(...)``: a host restarts and carries on."""

from __future__ import annotations

import json

import pytest

from flowcontrol import FlowControl, FunctionController, ManualClock
from flowcontrol.config import FunctionConfig
from flowcontrol.controller.decisions import RunStarted

S = 1_000_000_000
CFG = FunctionConfig.from_mapping({
    "id": "sync", "triggers": [{"event": "user/updated"}],
    "concurrency": [{"key": "event.data.user_id", "limit": 1}],
    "throttle": {"limit": 2, "period": "10s"},
})


def _events(fc: FlowControl, ids: range) -> list[object]:
    return [d for i in ids
            for d in fc.receive_event({"name": "user/updated", "id": f"e{i}",
                                       "data": {"user_id": f"u{i % 2}"}})]


def test_a_restored_controller_decides_as_the_original_would() -> None:
    clock = ManualClock()
    fc = FlowControl([CFG], clock=clock)
    _events(fc, range(4))  # u0 and u1 start; two more wait on their keys
    data = json.loads(json.dumps(fc.snapshot()))
    twin_clock = ManualClock(clock.now)
    twin = FlowControl.restore([CFG], data, clock=twin_clock)
    assert type(twin) is FlowControl
    for c in (clock, twin_clock):
        c.advance(3 * S)
    assert twin.run_finished("run-1") == fc.run_finished("run-1")
    assert twin.next_deadline() == fc.next_deadline()
    for c in (clock, twin_clock):
        c.advance(10 * S)
    assert twin.poll() == fc.poll()
    assert str(twin.explain("e3")) == str(fc.explain("e3"))
    assert twin.snapshot() == fc.snapshot()


def test_a_function_controller_comes_back_as_one() -> None:
    clock = ManualClock()
    fc = FunctionController(CFG, clock=clock)
    started = [d for d in _events(fc, range(1)) if isinstance(d, RunStarted)]
    assert len(started) == 1
    back = FunctionController.restore([CFG], fc.snapshot(), clock=ManualClock(clock.now))
    assert type(back) is FunctionController
    assert back.explain("e0").__class__ is fc.explain("e0").__class__


def test_a_snapshot_of_other_configs_is_refused() -> None:
    fc = FlowControl([CFG], clock=ManualClock())
    other = FunctionConfig.from_mapping({**{"id": "sync", "triggers": [{"event": "x"}]}})
    with pytest.raises(ValueError):
        FlowControl.restore([other], fc.snapshot(), clock=ManualClock())
