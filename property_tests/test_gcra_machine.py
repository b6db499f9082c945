"""Throttle and RateLimit against a brute-force model: a list of admissions per key.

The model knows nothing of TATs. With emission interval ``T = P/L`` and capacity ``C``
(``limit + burst`` for a throttle, ``burst + 1`` for a rate limit), ``x`` more units fit
at time ``t`` iff for every earlier admission ``a_i`` the units admitted since ``a_i``,
plus ``x``, are at most ``C + (t - a_i)/T`` (and ``x <= C``): the window condition. The
machine must allow exactly what the model allows, report the model's capacity and the
exact first instant a refused request would fit, whatever the clock does (including
going backwards), across prunes and snapshot/restore, at small capacities and at ones
past the decisions the machine builds in advance (up to 100,000), drained in bulk. A rate
limit's idempotency keys (``acquire(key, idempotency_key=k)``) follow the model of
``ratelimit.lua``: a key admitted less than ``idempotency_ttl`` ago is let through without
consuming anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from flowcontrol.machines.gcra import GcraDecision, RateLimit, Throttle

KEYS = st.sampled_from(["a", "b", "c"])


class StepClock:
    """A clock the test can move anywhere, backwards included."""

    def __init__(self, t: int) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


@dataclass
class Model:
    limit: int   # L (after 0 -> 1)
    period: int  # P in ns
    cap: int     # C
    admitted: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    def capacity(self, key: str, t: int) -> int:
        L, P, C = self.limit, self.period, self.cap
        best = C
        since = 0
        for a, units in reversed(self.admitted.get(key, [])):
            since += units
            best = min(best, (C * P + (t - a) * L) // P - since)
        return max(best, 0)

    def first_fit(self, key: str, t: int, n: int) -> int | None:
        if n > self.cap:
            return None
        L, P, C = self.limit, self.period, self.cap
        at = t
        since = 0
        for a, units in reversed(self.admitted.get(key, [])):
            since += units
            at = max(at, a - (-((since + n - C) * P) // L))  # a + ceil(((since+n-C)P)/L)
        return at

    def decide(self, key: str, t: int, n: int, consume: bool) -> GcraDecision:
        cap = self.capacity(key, t)
        if n <= cap:
            if consume:
                self.admitted.setdefault(key, []).append((t, n))
                return GcraDecision(True, None, cap - n)
            return GcraDecision(True, None, cap)
        return GcraDecision(False, self.first_fit(key, t, n), cap)


class GcraMachine(RuleBasedStateMachine):
    machine: Throttle | RateLimit
    model: Model

    @initialize(
        kind=st.sampled_from(["throttle", "ratelimit", "ratelimit-burst"]),
        limit=st.integers(0, 25),
        period=st.integers(1, 40),
        # Small bursts, and capacities past the 1,024 decisions built in advance (issue 9).
        burst=st.one_of(st.integers(0, 3), st.sampled_from([1022, 1999, 99_998])),
        start=st.sampled_from([0, 1_000, 1 << 62]),
        ttl=st.integers(0, 50),
    )
    def setup(self, kind: str, limit: int, period: int, burst: int, start: int,
              ttl: int) -> None:
        self.clock = StepClock(start)
        self.high = start
        self.ttl = ttl
        self.marks: dict[str, int] = {}  # idempotency key -> when its mark expires
        if kind == "throttle":
            self.machine = Throttle(limit, period, burst, clock=self.clock)
            cap = max(limit, 1) + burst
        elif kind == "ratelimit":
            self.machine = RateLimit(limit, period, clock=self.clock, idempotency_ttl=ttl)
            cap = limit // 10 + 1
        else:
            self.machine = RateLimit(limit, period, burst=burst, clock=self.clock,
                                     idempotency_ttl=ttl)
            cap = burst + 1
        assert self.machine.capacity == cap
        self.model = Model(max(limit, 1), period, cap)

    # -- time ---------------------------------------------------------------------------

    @rule(dt=st.integers(0, 60))
    def advance(self, dt: int) -> None:
        self.clock.t += dt
        self.high = max(self.high, self.clock.t)

    @rule(dt=st.integers(1, 30))
    def clock_goes_back(self, dt: int) -> None:
        self.clock.t -= dt  # the machines must treat this as no time passing

    # -- decisions ----------------------------------------------------------------------

    @rule(key=KEYS, n=st.integers(1, 5))
    def acquire(self, key: str, n: int) -> None:
        expected = self.model.decide(key, self.high, n, consume=True)
        assert self.machine.acquire(key, n) == expected

    @rule(key=KEYS)
    def acquire_one(self, key: str) -> None:
        expected = self.model.decide(key, self.high, 1, consume=True)
        assert self.machine.acquire(key) == expected

    @rule(key=KEYS, n=st.integers(1, 3), ikey=st.sampled_from(["e1", "e2"]))
    def acquire_idempotent(self, key: str, n: int, ikey: str) -> None:
        if not isinstance(self.machine, RateLimit):
            return
        if self.ttl and self.marks.get(ikey, self.high) > self.high:
            expected = GcraDecision(True, None, self.model.capacity(key, self.high), True)
        else:
            expected = self.model.decide(key, self.high, n, consume=True)
            if expected.allowed and self.ttl:
                self.marks[ikey] = self.high + self.ttl
        assert self.machine.acquire(key, n, idempotency_key=ikey) == expected

    @rule(key=KEYS, part=st.sampled_from(["all", "all but one", "half", "too many"]))
    def acquire_in_bulk(self, key: str, part: str) -> None:
        cap = self.model.cap
        n = {"all": cap, "all but one": max(cap - 1, 1), "half": max(cap // 2, 1),
             "too many": cap + 1}[part]
        expected = self.model.decide(key, self.high, n, consume=True)
        assert self.machine.acquire(key, n) == expected

    @rule(key=KEYS, n=st.integers(1, 5))
    def peek_changes_nothing(self, key: str, n: int) -> None:
        before = self.machine.snapshot()
        assert self.machine.peek(key, n) == self.model.decide(key, self.high, n, consume=False)
        assert self.machine.snapshot() == before

    @rule(key=KEYS, n=st.integers(1, 5))
    def wait_for_retry_at(self, key: str, n: int) -> None:
        d = self.machine.peek(key, n)
        if d.allowed or d.retry_at is None:
            return
        assert d.retry_at > self.high
        self.clock.t = self.high = d.retry_at - 1
        assert not self.machine.acquire(key, n).allowed  # refused just before it
        self.clock.t = self.high = d.retry_at
        assert self.machine.acquire(key, n) == self.model.decide(key, self.high, n, True)
        assert self.model.admitted[key][-1] == (self.high, n)  # and allowed at it

    # -- memory and persistence ---------------------------------------------------------

    @rule()
    def prune(self) -> None:
        stored = len(self.machine)
        dropped = self.machine.prune()
        assert dropped == stored - len(self.machine)
        active = [k for k in self.model.admitted
                  if self.model.capacity(k, self.high) < self.model.cap]
        assert len(self.machine) == len(active)

    @rule()
    def snapshot_and_restore(self) -> None:
        data = json.loads(json.dumps(self.machine.snapshot()))
        cls = type(self.machine)
        self.machine = cls.from_snapshot(data, clock=self.clock)

    # -- invariants ---------------------------------------------------------------------

    @invariant()
    def capacity_matches_the_model(self) -> None:
        if not hasattr(self, "model"):
            return
        for key in ("a", "b", "c"):
            assert self.machine.peek(key).remaining == self.model.capacity(key, self.high)

    @invariant()
    def active_keys_are_stored(self) -> None:
        if not hasattr(self, "model"):
            return
        active = sum(self.model.capacity(k, self.high) < self.model.cap
                     for k in self.model.admitted)
        assert len(self.machine) >= active

    @invariant()
    def no_window_holds_more_than_the_formula_allows(self) -> None:
        if not hasattr(self, "model"):
            return
        m = self.model
        for history in m.admitted.values():
            for i, (a_i, _) in enumerate(history):
                units = 0
                for a_j, n_j in history[i:]:
                    units += n_j
                    # units in [a_i, a_j] <= C + (a_j - a_i) / T
                    assert units * m.period <= m.cap * m.period + (a_j - a_i) * m.limit


TestGcraMachine = GcraMachine.TestCase
