"""RunSemaphore against a brute-force model: a dict of holders, counted on every check.

Invariants: per function and evaluated key, never more holders than the limit in force
when each took its slot; an acquire succeeds exactly when the model counts fewer holders
than the limit; a release gives back one slot once; two functions never share a counter,
even with the same key text; snapshots round-trip.
"""

from __future__ import annotations

import json

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from flowcontrol.machines.semaphore import RunSemaphore, SemaphoreAcquired, SemaphoreRefused

# Two functions with the same key text: their counters must still be apart.
FUNCTIONS = {"f": "event.data.user", "g": "event.data.user", "h": None}
KEYS = ("a", "b", "c")


class SemaphoreMachine(RuleBasedStateMachine):
    @initialize(limits=st.fixed_dictionaries({f: st.integers(1, 3) for f in FUNCTIONS}))
    def setup(self, limits: dict[str, int]) -> None:
        self.s = RunSemaphore()
        self.limits = dict(limits)
        for fn, expr in FUNCTIONS.items():
            self.s.register(fn, limits[fn], expr)
        self.held: dict[str, tuple[str, str | None]] = {}  # holder -> (function, key)
        self.n = 0

    def count(self, fn: str, key: str | None) -> int:
        return sum(1 for v in self.held.values() if v == (fn, key))

    @rule(fn=st.sampled_from(sorted(FUNCTIONS)), key=st.sampled_from(KEYS))
    def acquire(self, fn: str, key: str) -> None:
        k = None if FUNCTIONS[fn] is None else key
        self.n += 1
        holder = f"run-{self.n}"
        got = self.s.acquire(fn, k, holder)
        if self.count(fn, k) < self.limits[fn]:
            assert isinstance(got, SemaphoreAcquired) and got.holder == holder
            self.held[holder] = (fn, k)
        else:
            assert isinstance(got, SemaphoreRefused)
            assert (got.usage.in_use, got.usage.limit, got.usage.key) == (
                self.count(fn, k), self.limits[fn], k)

    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        if not self.n:
            return
        holder = f"run-{data.draw(st.integers(1, self.n))}"
        was = self.held.pop(holder, None)
        got = self.s.release(holder)
        assert (got is not None) == (was is not None)
        assert self.s.release(holder) is None  # idempotent: the second release is a no-op

    @rule(fn=st.sampled_from(sorted(FUNCTIONS)), limit=st.integers(1, 3))
    def redeploy(self, fn: str, limit: int) -> None:
        self.s.register(fn, limit, FUNCTIONS[fn])
        self.limits[fn] = limit

    @rule()
    def snapshot_and_restore(self) -> None:
        restored = RunSemaphore.from_snapshot(json.loads(json.dumps(self.s.snapshot())))
        assert restored.snapshot() == self.s.snapshot()
        self.s = restored

    @invariant()
    def counts_match_the_model(self) -> None:
        if not hasattr(self, "s"):
            return
        self.s._check_invariants()
        assert self.s.holders() == self.held
        assert len(self.s) == len(self.held)
        for fn, expr in FUNCTIONS.items():
            for key in (None,) if expr is None else KEYS:
                u = self.s.in_use(fn, key)
                assert u.in_use == self.count(fn, key)
                assert u.limit == self.limits[fn]


SemaphoreMachine.TestCase.settings = settings(
    SemaphoreMachine.TestCase.settings, stateful_step_count=40
)
TestSemaphore = SemaphoreMachine.TestCase
