"""The Redis debounce, batcher and priority queue answer as the in-memory machines do.

Hypothesis drives an in-memory machine and its Redis twin side by side with one clock
(which also jumps backwards), the same calls and arguments, and compares every
answer (``==``, tuple order included), every query and ``snapshot()`` after each step. Clocks start
at 0, just below 2**53 (where doubles stop being exact), at 1.76e18 (today in Unix
nanoseconds) and at 2**62, so any instant that passed through a Lua number would
show. The same machines run on one server and on a three-master cluster.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from twins import STARTS, Clock, S, fresh_name, same

from flowcontrol.machines.batch import Batcher
from flowcontrol.machines.debounce import Debounce
from flowcontrol.machines.priority import PriorityQueue
from flowcontrol.redis.batch import RedisBatcher
from flowcontrol.redis.debounce import RedisDebounce
from flowcontrol.redis.priority import RedisPriorityQueue

KEYS = ("a", "b", "ключ", "")
CLIENT: Any = None  # set by each test before it runs its machine


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                 max_size=3),
    max_leaves=6,
)
steps = st.sampled_from((0, 1, S // 2, S, 3 * S, 10 * S - 1, 10 * S, 12 * S, 40 * S))
backs = st.sampled_from((1, 2 * S, 20 * S))


class _Twins(RuleBasedStateMachine):
    """Rules every machine shares: the clock moves; both restart from the in-memory
    machine's snapshot (through JSON)."""

    clock: Clock
    mem: Any
    red: Any

    @rule(step=steps)
    def advance(self, step: int) -> None:
        self.clock.now += step

    @rule(back=backs)
    def clock_goes_backwards(self, back: int) -> None:
        self.clock.now -= back

    @precondition(lambda self: hasattr(self, "mem") and self.mem.next_deadline() is not None)
    @rule()
    def jump_to_next_deadline(self) -> None:
        deadline = self.mem.next_deadline()
        self.clock.now = max(self.clock.now, deadline)

    @rule()
    def restore_from_snapshot(self) -> None:
        data = json.loads(json.dumps(self.mem.snapshot()))
        self.mem = type(self.mem).from_snapshot(data, clock=self.clock)
        self.red.restore(data)

    @invariant()
    def queries_agree(self) -> None:
        if not hasattr(self, "mem"):
            return
        same("next_deadline", self.mem, self.red)
        assert len(self.mem) == len(self.red)
        self.compare_queries()

    def compare_queries(self) -> None:
        raise NotImplementedError


class DebounceTwins(_Twins):
    @initialize(
        start=st.sampled_from(STARTS),
        period=st.sampled_from((S, 10 * S, "168h")),
        timeout=st.sampled_from((None, 0, 5 * S, 25 * S, "1h", 2**62)),
    )
    def setup(self, start: int, period: int | str, timeout: int | str | None) -> None:
        self.clock = Clock(start)
        self.events = itertools.count()
        self.mem = Debounce(period, timeout, clock=self.clock)
        self.red = RedisDebounce(CLIENT, fresh_name(), period, timeout, clock=self.clock)

    @rule(
        key=st.sampled_from(KEYS),
        ts_offset=st.sampled_from((None, -2 * S, -1, 0, 1, 3 * S)),
        payload=json_values,
    )
    def push(self, key: str, ts_offset: int | None, payload: object) -> None:
        ts = None if ts_offset is None else max(self.clock.now, 0) + ts_offset
        same("push", self.mem, self.red, key, f"e{next(self.events)}", ts, payload)

    @rule()
    def poll(self) -> None:
        same("poll", self.mem, self.red)

    @rule(key=st.sampled_from(KEYS))
    def cancel(self, key: str) -> None:
        same("cancel", self.mem, self.red, key)

    @rule(bad=st.sampled_from(((1, "e"), ("k", None))))
    def push_refused(self, bad: tuple[Any, Any]) -> None:
        same("push", self.mem, self.red, *bad)

    def compare_queries(self) -> None:
        same("active_keys", self.mem, self.red)
        same("snapshot", self.mem, self.red)
        for key in KEYS:
            same("fire_at", self.mem, self.red, key)


class BatchTwins(_Twins):
    @initialize(
        start=st.sampled_from(STARTS),
        max_size=st.sampled_from((2, 3, 5)),
        max_bytes=st.sampled_from((1, 10, 2**40)),
        window=st.sampled_from((0, 5 * S, 30 * S)),
    )
    def setup(self, start: int, max_size: int, max_bytes: int, window: int) -> None:
        self.clock = Clock(start)
        args = (max_size, "10s", max_bytes)
        self.mem = Batcher(*args, clock=self.clock, dedupe_window=window)
        self.red = RedisBatcher(CLIENT, fresh_name(), *args, clock=self.clock,
                                dedupe_window=window)

    @rule(
        key=st.sampled_from(KEYS),
        event_id=st.sampled_from(("e1", "e2", "e3", "é4", "e5", "")),
        size=st.sampled_from((0, 1, 4, 2**40)),
    )
    def add(self, key: str, event_id: str, size: int) -> None:
        same("add", self.mem, self.red, key, event_id, size)

    @rule(event_id=st.integers(0, 10**6))
    def add_fresh_id(self, event_id: int) -> None:
        same("add", self.mem, self.red, "a", f"f{event_id}", 1)

    @rule()
    def poll(self) -> None:
        same("poll", self.mem, self.red)

    @rule(key=st.sampled_from(KEYS))
    def flush(self, key: str) -> None:
        same("flush", self.mem, self.red, key)

    @rule()
    def prune(self) -> None:
        same("prune", self.mem, self.red)

    @rule(bad=st.sampled_from((("k", "e", -1), ("k", 2, 0), ("k", "e", 1.0))))
    def add_refused(self, bad: tuple[Any, ...]) -> None:
        same("add", self.mem, self.red, *bad)

    def compare_queries(self) -> None:
        same("active_keys", self.mem, self.red)
        same("dedupe_size", self.mem, self.red)
        same("snapshot", self.mem, self.red)
        for key in KEYS:
            same("pending", self.mem, self.red, key)


class PriorityTwins(_Twins):
    @initialize(
        start=st.sampled_from(STARTS),
        lo=st.sampled_from((-700, -600, 0)),
        hi=st.sampled_from((0, 5, 43_200)),
    )
    def setup(self, start: int, lo: int, hi: int) -> None:
        self.clock = Clock(start)
        self.mem = PriorityQueue(clock=self.clock, min_factor=lo, max_factor=hi)
        self.red = RedisPriorityQueue(CLIENT, fresh_name(), clock=self.clock, min_factor=lo,
                                      max_factor=hi)

    @rule(
        item_id=st.sampled_from(("i1", "i2", "i3", "i4", "ü5", "")),
        age=st.sampled_from((None, 0, S, 900 * S, -5 * S)),
        factor=st.sampled_from((0, 1, -1, 5, -30, 700, -10**6)),
        at=st.sampled_from((None, 0, S, 2 * S, 2 * S + 1, 60 * S, -S)),
        kind=st.sampled_from(("start", "edge", "sleep", "system", "pause", "bogus")),
    )
    def push(self, item_id: str, age: int | None, factor: int, at: int | None,
             kind: str) -> None:
        now = self.clock.now
        created = None if age is None else now - age
        at_ = None if at is None else now + at
        same("push", self.mem, self.red, item_id, created, factor, at=at_, kind=kind)

    @rule(item_id=st.integers(0, 10**6), factor=st.integers(-10, 10))
    def push_fresh(self, item_id: int, factor: int) -> None:
        same("push", self.mem, self.red, f"f{item_id}", None, factor)

    @rule()
    def pop(self) -> None:
        same("pop", self.mem, self.red)

    @rule()
    def poll(self) -> None:
        same("poll", self.mem, self.red)

    @rule()
    def peek(self) -> None:
        same("peek", self.mem, self.red)

    @rule(item_id=st.sampled_from(("i1", "i2", "i3", "x")))
    def remove(self, item_id: str) -> None:
        same("remove", self.mem, self.red, item_id)

    @rule()
    def prune(self) -> None:
        same("prune", self.mem, self.red)

    def compare_queries(self) -> None:
        same("items", self.mem, self.red)
        same("snapshot", self.mem, self.red)
        for item_id in ("i1", "i2", "ü5", "x"):
            same("get", self.mem, self.red, item_id)
            assert (item_id in self.mem) == (item_id in self.red)


MACHINES = {"debounce": DebounceTwins, "batch": BatchTwins, "priority": PriorityTwins}
# Each step is a few round trips: fewer examples than the in-memory tests, as many steps.
SETTINGS = settings(settings(), max_examples=settings().max_examples // 2,
                    stateful_step_count=40)
# On the cluster the same scripts only meet slot routing on top: fewer examples still.
CLUSTER_SETTINGS = settings(SETTINGS, max_examples=settings().max_examples // 4)


@pytest.mark.parametrize("machine", sorted(MACHINES))
def test_redis_machine_answers_as_in_memory_on_one_server(
    machine: str, redis_client: Any
) -> None:
    global CLIENT
    CLIENT = redis_client
    run_state_machine_as_test(MACHINES[machine], settings=SETTINGS)


@pytest.mark.parametrize("machine", sorted(MACHINES))
def test_redis_machine_answers_as_in_memory_on_a_cluster(
    machine: str, cluster_client: Any
) -> None:
    global CLIENT
    CLIENT = cluster_client
    run_state_machine_as_test(MACHINES[machine], settings=CLUSTER_SETTINGS)
