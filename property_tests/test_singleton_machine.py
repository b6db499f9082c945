"""Singleton against a brute-force model: a dict of holders and a ledger of outcomes.

Invariants: at most one holder per key; every arriving run is accounted for exactly
once (started, skipped, or started after cancelling the holder); a run that was
cancelled or skipped never holds a lock.
"""

from __future__ import annotations

import json

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from flowcontrol import Singleton, SingletonSkipped, SingletonStarted

KEYS = (None, "a", "b", "c")


class SingletonMachine(RuleBasedStateMachine):
    @initialize(mode=st.sampled_from(("skip", "cancel")))
    def setup(self, mode: str) -> None:
        self.s = Singleton(mode)
        self.mode = mode
        self.holders: dict[str, str] = {}
        self.outcome: dict[str, str] = {}  # run -> started | skipped | started-cancelling
        self.cancelled: set[str] = set()
        self.runs: list[str] = []

    @rule(key=st.sampled_from(KEYS))
    def arrive(self, key: str | None) -> None:
        run = f"r{len(self.runs)}"
        self.runs.append(run)
        got = self.s.acquire(key, run)
        holder = self.holders.get(key) if key is not None else None
        assert run not in self.outcome
        if key is None or holder is None:
            assert got == SingletonStarted(run, key)
            self.outcome[run] = "started"
        elif self.mode == "skip":
            assert got == SingletonSkipped(run, key, holder)
            self.outcome[run] = "skipped"
        else:
            assert got == SingletonStarted(run, key, cancel=holder)
            self.outcome[run] = "started-cancelling"
            self.cancelled.add(holder)
        if key is not None and got.started:
            self.holders[key] = run

    @rule(data=st.data())
    def run_finished(self, data: st.DataObject) -> None:
        if not self.runs:
            return
        run = data.draw(st.sampled_from(self.runs))
        held = [k for k, r in self.holders.items() if r == run]
        assert self.s.run_finished(run) == (held[0] if held else None)
        for k in held:
            del self.holders[k]

    @rule(data=st.data(), key=st.sampled_from(KEYS[1:]))
    def release(self, data: st.DataObject, key: str) -> None:
        if not self.runs:
            return
        run = data.draw(st.sampled_from(self.runs))
        ok = self.holders.get(key) == run
        assert self.s.release(key, run) is ok
        if ok:
            del self.holders[key]

    @rule()
    def snapshot_and_restore(self) -> None:
        restored = Singleton.from_snapshot(json.loads(json.dumps(self.s.snapshot())))
        assert restored.snapshot() == self.s.snapshot()
        self.s = restored

    @invariant()
    def one_holder_per_key_and_every_run_accounted_once(self) -> None:
        if not hasattr(self, "s"):
            return
        self.s._check_invariants()
        assert {k: self.s.holder(k) for k in self.s.active_keys()} == self.holders
        assert len(self.s) == len(self.holders)
        assert set(self.outcome) == set(self.runs)
        for run in self.holders.values():
            assert self.outcome[run] != "skipped" and run not in self.cancelled
        started = sum(o != "skipped" for o in self.outcome.values())
        assert len(self.holders) <= started
        assert len(self.cancelled) == sum(o == "started-cancelling" for o in self.outcome.values())


SingletonMachine.TestCase.settings = settings(
    SingletonMachine.TestCase.settings, stateful_step_count=40
)
TestSingleton = SingletonMachine.TestCase
