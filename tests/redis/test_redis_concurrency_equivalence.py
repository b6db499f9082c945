"""RedisConcurrency and RedisSingleton answer as the in-memory machines do.

Hypothesis drives an in-memory machine and its Redis twin side by side with one clock
(which also jumps backwards), the same calls and arguments, and compares every answer
(``==``: lease ids, ``Refused.blocking``, ``poll()`` order, exception types) and every
query after each step. Clocks start at 0, just below 2**53 (where doubles stop being
exact), at 1.76e18 (today in Unix nanoseconds) and at 2**62, and leases live from 1 ns
to an hour, so any instant that passed through a Lua number would show. The same
machines run on one server and on a three-master cluster.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from twins import STARTS, Clock, S, fresh_name, same

from flowcontrol.machines.concurrency import Acquired, Concurrency, ConcurrencyConstraint
from flowcontrol.machines.singleton import Singleton
from flowcontrol.redis.concurrency import RedisConcurrency
from flowcontrol.redis.singleton import RedisSingleton

FUNCTIONS = ("f1", "f2", "ƒ3")
KEYS = ("k1", "k2", "ключ", "")
CLIENT: Any = None  # set by each test before it runs its machine


constraints = st.builds(
    ConcurrencyConstraint,
    limit=st.integers(0, 3),
    key_expr=st.sampled_from(("x", "event.data.ü")),
    scope=st.sampled_from(("fn", "env", "account")),
)
registrations = st.fixed_dictionaries({
    "constraints": st.lists(constraints, max_size=2),
    "function_limit": st.none() | st.integers(0, 4),
    "account_limit": st.none() | st.integers(0, 5),
    "env_id": st.sampled_from(("e1", "e2")),
})
lease_ids = st.sampled_from((None, None, None, "n1", "n2", "ü", "", "1", 7))


class ConcurrencyTwins(RuleBasedStateMachine):
    leases = Bundle("leases")

    @initialize(
        start=st.sampled_from(STARTS),
        ttl=st.sampled_from((None, 1, 10 * S, 30 * S, "1h")),
        account_limit=st.integers(0, 6),
        regs=st.lists(registrations, min_size=len(FUNCTIONS), max_size=len(FUNCTIONS)),
    )
    def setup(self, start: int, ttl: int | str | None, account_limit: int,
              regs: list[dict[str, Any]]) -> None:
        self.clock = Clock(start)
        self.mem = Concurrency(account_limit=account_limit, lease_ttl=ttl, clock=self.clock)
        self.red = RedisConcurrency(CLIENT, fresh_name(), account_limit=account_limit,
                                    lease_ttl=ttl, clock=self.clock)
        for fn, reg in zip(FUNCTIONS, regs, strict=True):
            same("register", self.mem, self.red, fn, **reg)

    @rule(target=leases, fn=st.sampled_from(FUNCTIONS),
          pick=st.tuples(st.sampled_from(KEYS), st.sampled_from(KEYS)), lease_id=lease_ids)
    def acquire(self, fn: str, pick: tuple[str, str], lease_id: object) -> object:
        keys = pick[: self.mem._plans[fn].nkeys_in]
        got = same("acquire", self.mem, self.red, fn, keys, lease_id)
        return got if isinstance(got, Acquired) else "not-a-lease"

    @rule(fn=st.sampled_from(FUNCTIONS), names=st.lists(lease_ids, min_size=2, max_size=4))
    def acquire_several_at_one_instant(self, fn: str, names: list[object]) -> None:
        keys = ("k1", "k2")[: self.mem._plans[fn].nkeys_in]
        for lease_id in names:  # their expiries tie: poll() must order them as in memory
            same("acquire", self.mem, self.red, fn, keys, lease_id)

    @rule(fn=st.sampled_from(FUNCTIONS), keys=st.sampled_from(((), ("k1",), ("a", "b", "c"))))
    def acquire_with_wrong_keys(self, fn: str, keys: tuple[str, ...]) -> None:
        same("acquire", self.mem, self.red, fn, keys)

    @rule()
    def acquire_unknown_function(self) -> None:
        same("acquire", self.mem, self.red, "nope", ())

    @rule(lease=leases, by_id=st.booleans())
    def release(self, lease: Any, by_id: bool) -> None:
        if by_id and isinstance(lease, Acquired):
            lease = lease.lease_id
        same("release", self.mem, self.red, lease)

    @rule(lease=leases)
    def extend(self, lease: Any) -> None:
        same("extend", self.mem, self.red, lease)

    @rule(fn=st.sampled_from(FUNCTIONS), reg=registrations)
    def register_again(self, fn: str, reg: dict[str, Any]) -> None:
        same("register", self.mem, self.red, fn, **reg)

    @rule(bad=st.sampled_from((
        {"function_limit": -1}, {"account_limit": True}, {"env_id": 3},
        {"constraints": [ConcurrencyConstraint(1, "x")] * 3},
    )))
    def register_refused(self, bad: dict[str, Any]) -> None:
        same("register", self.mem, self.red, "f1", **bad)

    @rule(step=st.sampled_from((1, 10 * S - 1, 10 * S, 29 * S, 3600 * S)))
    def advance(self, step: int) -> None:
        self.clock.now += step

    @rule(back=st.sampled_from((1, 20 * S)))
    def clock_goes_backwards(self, back: int) -> None:
        self.clock.now -= back

    @precondition(lambda self: hasattr(self, "mem") and self.mem.next_deadline() is not None)
    @rule()
    def jump_to_next_deadline(self) -> None:
        deadline = self.mem.next_deadline()
        assert deadline is not None
        self.clock.now = max(self.clock.now, deadline)

    @rule()
    def poll(self) -> None:
        same("poll", self.mem, self.red)

    @rule()
    def prune(self) -> None:
        same("prune", self.mem, self.red)

    @rule(fn=st.sampled_from(FUNCTIONS),
          pick=st.tuples(st.sampled_from(KEYS), st.sampled_from(KEYS)))
    def capacity_and_in_use(self, fn: str, pick: tuple[str, str]) -> None:
        keys = pick[: self.mem._plans[fn].nkeys_in]
        same("capacity", self.mem, self.red, fn, keys)
        same("in_use", self.mem, self.red, fn, keys)
        same("counter_ids", self.mem, self.red, fn, keys)

    @rule()
    def restore_redis_from_the_in_memory_snapshot(self) -> None:
        data = json.loads(json.dumps(self.mem.snapshot()))
        assert self.red.restore(data) == len(self.mem)

    @rule()
    def rebuild_in_memory_from_the_redis_snapshot(self) -> None:
        data = json.loads(json.dumps(self.red.snapshot()))
        self.mem = Concurrency.from_snapshot(data, clock=self.clock)

    @invariant()
    def queries_agree(self) -> None:
        if not hasattr(self, "mem"):
            return
        same("next_deadline", self.mem, self.red)
        assert len(self.mem) == len(self.red)
        same("functions", self.mem, self.red)
        same("usage", self.mem, self.red)
        same("leases", self.mem, self.red)
        for lease in (1, 2, "n1", "ü", 7):
            assert (lease in self.mem) == (lease in self.red)


class SingletonTwins(RuleBasedStateMachine):
    @initialize(mode=st.sampled_from(("skip", "cancel")))
    def setup(self, mode: str) -> None:
        self.mem = Singleton(mode)
        self.red = RedisSingleton(CLIENT, fresh_name(), mode)
        self.runs = itertools.count()

    @rule(key=st.sampled_from((None, "a", "b", "ключ", "")))
    def arrive(self, key: str | None) -> None:
        same("acquire", self.mem, self.red, key, f"r{next(self.runs)}")

    @rule(key=st.sampled_from((None, "a", "b", 3)), run=st.integers(0, 12))
    def arrive_again_or_refused(self, key: Any, run: int) -> None:
        same("acquire", self.mem, self.red, key, f"r{run}")

    @rule(key=st.sampled_from(("a", "b", "ключ", "", "z")), run=st.integers(0, 12))
    def release(self, key: str, run: int) -> None:
        same("release", self.mem, self.red, key, f"r{run}")

    @rule(run=st.integers(0, 12))
    def run_finished(self, run: int) -> None:
        same("run_finished", self.mem, self.red, f"r{run}")

    @rule()
    def snapshots_agree_and_restore(self) -> None:
        data = json.loads(json.dumps(self.mem.snapshot()))
        assert self.red.snapshot() == data
        assert self.red.restore(data) == len(self.mem)
        self.mem = Singleton.from_snapshot(json.loads(json.dumps(self.red.snapshot())))

    @invariant()
    def queries_agree(self) -> None:
        if not hasattr(self, "mem"):
            return
        same("active_keys", self.mem, self.red)
        assert len(self.mem) == len(self.red)
        assert self.mem.mode == self.red.mode
        for key in ("a", "b", "ключ", ""):
            same("holder", self.mem, self.red, key)
        for run in range(6):
            same("key_of", self.mem, self.red, f"r{run}")


MACHINES = {"concurrency": ConcurrencyTwins, "singleton": SingletonTwins}


@pytest.mark.parametrize("where", ["redis_client", "cluster_client"])
@pytest.mark.parametrize("machine", sorted(MACHINES))
def test_redis_machine_answers_as_in_memory(
    machine: str, where: str, request: pytest.FixtureRequest
) -> None:
    """On one server, and with fewer examples on a three-master cluster (the scripts are
    the same; the cluster adds routing by hash tag)."""
    global CLIENT
    CLIENT = request.getfixturevalue(where)
    examples = settings().max_examples
    if where == "cluster_client":
        examples = max(10, examples // 3)
    run_state_machine_as_test(
        MACHINES[machine],
        settings=settings(settings(), stateful_step_count=40, max_examples=examples),
    )
