"""PriorityQueue against a brute-force model: a plain list, sorted on every pop.

Invariants: pop order equals the sorted model (score, then push order); nothing is
lost or served twice; nothing is served before its score; ``len`` and
``next_deadline`` are exact; snapshot/restore anywhere changes no later decision.
"""

from __future__ import annotations

import json

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from flowcontrol import PriorityQueue

S = 1_000_000_000


class BackwardsClock:
    """A clock a test can move anywhere, even backwards."""

    def __init__(self) -> None:
        self.t = 0

    def __call__(self) -> int:
        return self.t


class PriorityMachine(RuleBasedStateMachine):
    @initialize(lo=st.integers(-700, 0), hi=st.integers(0, 700))
    def setup(self, lo: int, hi: int) -> None:
        self.clock = BackwardsClock()
        self.q = PriorityQueue(clock=self.clock, min_factor=lo, max_factor=hi)
        self.lo, self.hi = lo, hi
        self.now = 0  # the high-water mark of the clock
        self.model: list[tuple[int, int, str]] = []  # (score, push order, id)
        self.pushed = 0
        self.served: list[str] = []

    def tick(self) -> int:
        self.now = max(self.now, self.clock.t)
        return self.now

    @rule(factor=st.integers(-1000, 1000), age=st.sampled_from((None, 0, S, 30 * S, 900 * S)))
    def push(self, factor: int, age: int | None) -> None:
        now = self.tick()
        item_id = f"i{self.pushed}"
        created = None if age is None else now - age
        got = self.q.push(item_id, created_at=created, factor=factor)
        clamped = min(max(factor, self.lo), self.hi)
        score = (now if created is None else created) - clamped * S
        assert (got.score, got.factor) == (score, clamped)
        self.pushed += 1
        self.model.append((score, self.pushed, item_id))

    @rule(step=st.sampled_from((0, 1, S // 2, 10 * S, 120 * S, 700 * S)))
    def advance(self, step: int) -> None:
        self.clock.t += step

    @rule(step=st.sampled_from((1, S, 100 * S)))
    def clock_goes_backwards(self, step: int) -> None:
        self.clock.t -= step

    @rule()
    def pop(self) -> None:
        now = self.tick()
        self.model.sort()
        got = self.q.pop()
        if self.model and self.model[0][0] <= now:
            want = self.model.pop(0)
            assert got is not None and got.item_id == want[2], (got, want)
            self.served.append(want[2])
        else:
            assert got is None

    @rule()
    def poll(self) -> None:
        now = self.tick()
        self.model.sort()
        ready = [m for m in self.model if m[0] <= now]
        got = self.q.poll()
        assert [i.item_id for i in got] == [m[2] for m in ready]
        self.model = self.model[len(ready):]
        self.served += [m[2] for m in ready]

    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        ids = [m[2] for m in self.model] + ["never-pushed"] + self.served[-1:]
        item_id = data.draw(st.sampled_from(ids))
        present = any(m[2] == item_id for m in self.model)
        assert self.q.remove(item_id) is present
        self.model = [m for m in self.model if m[2] != item_id]

    @rule()
    def snapshot_and_restore(self) -> None:
        data = json.loads(json.dumps(self.q.snapshot()))
        restored = PriorityQueue.from_snapshot(data, clock=self.clock)
        assert restored.items() == self.q.items()
        self.q = restored

    @invariant()
    def agrees_with_the_model(self) -> None:
        if not hasattr(self, "q"):
            return
        self.q._check_invariants()
        assert len(self.q) == len(self.model)
        assert self.q.next_deadline() == (min(self.model)[0] if self.model else None)
        assert [i.item_id for i in self.q.items()] == [m[2] for m in sorted(self.model)]
        assert len(set(self.served)) == len(self.served)  # nothing served twice


PriorityMachine.TestCase.settings = settings(
    PriorityMachine.TestCase.settings, stateful_step_count=50
)
TestPriority = PriorityMachine.TestCase
