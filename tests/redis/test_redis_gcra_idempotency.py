"""RedisRateLimit's idempotency keys answer as RateLimit's, in one script per acquire.

A Hypothesis state machine drives ``RateLimit`` and ``RedisRateLimit`` side by side with
one clock (backwards too) and idempotency keys: a key admitted within the window lets a
repeat through without consuming (``idempotent=True``), a refused request leaves no mark,
``idempotency_ttl=0`` turns marks off, instants go up to 2**62 ns and beyond, emission
intervals are not whole ns. Marks count, prune, snapshot and restore alike. On a cluster a
mark lives in the slot of the rate-limit key that set it (see ``flowcontrol.redis.gcra``),
so there the machine draws each idempotency key for one rate-limit key only.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test
from redis.cluster import RedisCluster
from twins import Clock, fresh_name

from flowcontrol.machines.gcra import IDEMPOTENCY_TTL, GcraDecision, RateLimit
from flowcontrol.redis.gcra import AsyncRedisRateLimit, RedisRateLimit, RedisThrottle
from flowcontrol.time import NS_PER_S, ManualClock

KEYS = ["a", "b", "{x}y", "ü"]
IDEMS = ["e1", "e2", "{t}e3", "é4"]


class SideBySide(RuleBasedStateMachine):
    client: Any = None
    cluster = False

    @initialize(
        limit=st.integers(0, 12) | st.sampled_from([3, 7, 999_983]),
        period=st.integers(1, 50) | st.sampled_from([NS_PER_S, 7 * 86_400 * NS_PER_S]),
        burst=st.none() | st.integers(0, 3),
        ttl=st.sampled_from([0, 1, 40, NS_PER_S, IDEMPOTENCY_TTL]),
        start=st.sampled_from([0, 1_000, 2**53 - 5, 1_765_432_101_234_567_891, 2**62,
                               2**63 + 12345]),
    )
    def setup(self, limit: int, period: int, burst: int | None, ttl: int, start: int) -> None:
        self.clock = Clock(start)
        name = fresh_name()
        self.mem = RateLimit(limit, period, burst, clock=self.clock, idempotency_ttl=ttl)
        self.red = RedisRateLimit(self.client, name, limit, period, burst, clock=self.clock,
                                  idempotency_ttl=ttl)
        self.red.expiry_grace_ms = 3_600_000  # the test clock stands still meanwhile

    @rule(dt=st.integers(0, 60) | st.sampled_from([NS_PER_S // 3, NS_PER_S, 10**15]))
    def advance(self, dt: int) -> None:
        self.clock.now += dt

    @rule(dt=st.integers(1, 30))
    def clock_goes_back(self, dt: int) -> None:
        self.clock.now -= dt

    @rule(k=st.integers(0, len(KEYS) - 1), e=st.integers(0, len(IDEMS) - 1),
          n=st.integers(1, 4))
    def acquire_idempotent(self, k: int, e: int, n: int) -> None:
        key = KEYS[k]
        idem = IDEMS[k] if self.cluster else IDEMS[e]  # cluster: one rate-limit key each
        expected = self.mem.acquire(key, n, idempotency_key=idem)
        assert self.red.acquire(key, n, idempotency_key=idem) == expected

    @rule(k=st.sampled_from(KEYS), n=st.integers(1, 4))
    def acquire(self, k: str, n: int) -> None:
        assert self.red.acquire(k, n) == self.mem.acquire(k, n)

    @rule(k=st.sampled_from(KEYS))
    def peek(self, k: str) -> None:
        assert self.red.peek(k) == self.mem.peek(k)

    @rule(bad=st.sampled_from([b"e1", 1, ("e",)]))
    def bad_idempotency_key_is_refused_alike(self, bad: Any) -> None:
        with pytest.raises(ValueError) as mem_error:
            self.mem.acquire("a", 1, idempotency_key=bad)
        with pytest.raises(ValueError) as red_error:
            self.red.acquire("a", 1, idempotency_key=bad)
        assert str(red_error.value) == str(mem_error.value)

    @rule()
    def prune_then_marks_agree(self) -> None:
        self.red.prune()  # the counts of keys dropped may differ: a peek drops idle keys
        self.mem.prune()  # in memory, not on Redis (where expiry does)
        assert self.red.idempotency_marks() == self.mem.idempotency_marks()

    @rule()
    def snapshots_agree(self) -> None:
        assert self.red.snapshot() == self.mem.snapshot()


def test_idempotency_answers_as_in_memory_on_one_server(redis_client: redis.Redis) -> None:
    SideBySide.client, SideBySide.cluster = redis_client, False
    run_state_machine_as_test(SideBySide, settings=settings(stateful_step_count=40))


def test_idempotency_answers_as_in_memory_on_a_cluster(cluster_client: RedisCluster) -> None:
    SideBySide.client, SideBySide.cluster = cluster_client, True
    run_state_machine_as_test(SideBySide, settings=settings(stateful_step_count=40,
                                                            max_examples=40))


def test_a_repeat_is_let_through_without_consuming(redis_client: redis.Redis) -> None:
    clock = ManualClock(2**62)
    rl = RedisRateLimit(redis_client, "once", 1, "1m", clock=clock)
    assert rl.acquire("k", idempotency_key="evt") == GcraDecision(True, None, 0)
    assert rl.acquire("k", idempotency_key="evt") == GcraDecision(True, None, 0, True)
    assert rl.acquire("other", idempotency_key="evt").idempotent  # whatever the key
    assert not rl.acquire("k", idempotency_key="evt2").allowed
    assert not rl.acquire("k", idempotency_key="evt2").idempotent  # refused: no mark
    assert rl.idempotency_marks() == 1
    clock.advance(IDEMPOTENCY_TTL)  # expiry instant == now: no longer honoured
    assert rl.acquire("k", idempotency_key="evt") == GcraDecision(True, None, 0)


def test_one_script_writes_the_mark_with_a_ttl_beyond_its_expiry(
        redis_client: redis.Redis) -> None:
    clock = ManualClock(2**62)
    rl = RedisRateLimit(redis_client, "ttl", 10, "1s", clock=clock, idempotency_ttl="5m")
    rl.acquire("k", idempotency_key="e")
    assert redis_client.get("fc:ri:ttl:e") == str(2**62 + 300 * NS_PER_S).encode()
    assert 300_000 < redis_client.pttl("fc:ri:ttl:e") <= 300_000 + rl.expiry_grace_ms


def test_ttl_zero_keeps_no_marks(redis_client: redis.Redis) -> None:
    rl = RedisRateLimit(redis_client, "off", 1, "1m", clock=ManualClock(0), idempotency_ttl=0)
    assert rl.acquire("k", idempotency_key="e").allowed
    assert rl.acquire("k", idempotency_key="e") == GcraDecision(False, 60 * NS_PER_S, 0)
    assert redis_client.keys("fc:ri:*") == []


def test_server_clock_marks(redis_client: redis.Redis) -> None:
    rl = RedisRateLimit(redis_client, "srv", 1, "1h")
    assert rl.acquire("k", idempotency_key="e") == GcraDecision(True, None, 0)
    assert rl.acquire("k", idempotency_key="e").idempotent
    assert rl.idempotency_marks() == 1
    snap = rl.snapshot()
    assert list(snap["marks"]) == ["e"]  # type: ignore[call-overload]


def test_snapshot_and_restore_carry_the_marks(redis_client: redis.Redis) -> None:
    clock = ManualClock(10**18)
    rl = RedisRateLimit(redis_client, "snap", 1, "1h", clock=clock, idempotency_ttl="1m")
    rl.acquire("k", idempotency_key="e")
    snap = rl.snapshot()
    assert snap["marks"] == {"e": 10**18 + 60 * NS_PER_S}
    redis_client.flushdb()
    again = RedisRateLimit(redis_client, "snap", 1, "1h", clock=clock, idempotency_ttl="1m")
    assert again.restore(snap) == 1
    assert again.acquire("k", idempotency_key="e").idempotent
    assert again.snapshot() == snap
    other = RedisRateLimit(redis_client, "snap", 1, "1h", clock=clock)
    with pytest.raises(ValueError, match="idempotency_ttl"):
        other.restore(snap)


def test_on_a_cluster_a_mark_binds_its_rate_limit_keys_slot(
        cluster_client: RedisCluster) -> None:
    clock = ManualClock(0)
    rl = RedisRateLimit(cluster_client, "cl", 1, "1h", clock=clock)
    assert rl.acquire("{acct}a", idempotency_key="e").allowed
    assert rl.acquire("{acct}b", idempotency_key="e").idempotent  # same hash tag: seen
    assert rl.acquire("c", idempotency_key="e") == GcraDecision(True, None, 0)  # not seen
    with pytest.raises(ValueError, match="hash slot"):
        rl.acquire("x}y", idempotency_key="e")
    with pytest.raises(ValueError, match="cluster"):
        rl.restore(rl.snapshot())


def test_throttle_takes_no_idempotency_key(redis_client: redis.Redis) -> None:
    t = RedisThrottle(redis_client, "th", 1, "1s", clock=ManualClock(0))
    with pytest.raises(TypeError, match="only RateLimit"):
        t.acquire("k", idempotency_key="e")
    with pytest.raises(ValueError, match="idempotency_ttl"):
        RedisRateLimit(redis_client, "neg", 1, "1s", idempotency_ttl=-1)


def test_asyncio_rate_limit_marks(redis_async: Any) -> None:
    async def main() -> list[Any]:
        async with redis_async() as r:
            rl = AsyncRedisRateLimit(r, "aio", 1, "1h", clock=ManualClock(5))
            return [await rl.acquire("k", idempotency_key="e"),
                    await rl.acquire("k", idempotency_key="e"),
                    await rl.idempotency_marks()]

    assert asyncio.run(main()) == [GcraDecision(True, None, 0),
                                   GcraDecision(True, None, 0, True), 1]


@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize("ttl", [NS_PER_S, 10**25])  # 10**25: beyond the fast script
def test_marks_are_exact_on_both_scripts(redis_client: redis.Redis, n: int, ttl: int) -> None:
    clock = ManualClock(2**62 + 7)
    rl = RedisRateLimit(redis_client, f"exact{n}-{ttl}", 30, "1s", clock=clock,
                        idempotency_ttl=ttl)
    assert rl.acquire("k", n, idempotency_key="e").allowed
    assert redis_client.get(f"fc:ri:exact{n}-{ttl}:e") == str(2**62 + 7 + ttl).encode()
    clock.advance(ttl - 1)
    assert rl.acquire("k", n, idempotency_key="e").idempotent  # 1 ns before its expiry
    clock.advance(1)
    assert not rl.acquire("k", n, idempotency_key="e").idempotent


def test_acquire_many_takes_no_idempotency_keys(redis_client: redis.Redis) -> None:
    rl = RedisRateLimit(redis_client, "many", 10, "1s", clock=ManualClock(0))
    with pytest.raises(ValueError, match="idempotency key needs acquire"):
        rl.acquire_many([("k", 1, "evt")])  # type: ignore[list-item]
    assert len(rl) == 0  # nothing sent


def test_a_snapshot_from_before_idempotency_keys_restores(redis_client: redis.Redis) -> None:
    clock = ManualClock(10**18)
    rl = RedisRateLimit(redis_client, "old", 1, "1h", clock=clock, idempotency_ttl=0)
    rl.acquire("k")
    snap = rl.snapshot()
    del snap["idempotency_ttl"], snap["marks"]
    redis_client.flushdb()
    assert rl.restore(snap) == 1
    assert not rl.acquire("k").allowed
