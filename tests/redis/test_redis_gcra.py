"""RedisThrottle and RedisRateLimit answer exactly as Throttle and RateLimit.

A Hypothesis state machine drives an in-memory machine and a Redis machine side by side
with one clock (which may also go backwards) and compares every answer, on a single
server and on a three-master cluster: acquire, peek, reset_at, acquire_many (repeated
keys included), bad arguments, snapshots. Instants go up to 2**62 ns and beyond, periods
are such that the emission interval is not a whole number of ns (1 s / 3 among them).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest
import redis
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test
from redis.cluster import RedisCluster

from flowcontrol.machines.gcra import GcraDecision, RateLimit, Throttle
from flowcontrol.redis.gcra import (
    AsyncRedisRateLimit,
    AsyncRedisThrottle,
    RedisRateLimit,
    RedisThrottle,
)
from flowcontrol.time import NS_PER_S, ManualClock

KEYS = st.sampled_from(["a", "b", "c", "{x}y", "ü"])
NAMES = itertools.count()


class StepClock:
    """A clock the test moves anywhere, backwards included."""

    def __init__(self, t: int) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


class _Blocked:
    """An asyncio machine driven from sync code through one event loop."""

    def __init__(self, machine: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._machine, self._loop = machine, loop

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._machine, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._loop.run_until_complete(method(*args, **kwargs))

        return call


def _pair(client: Any, kind: str, limit: int, period: int, burst: int,
          clock: StepClock, loop: asyncio.AbstractEventLoop | None) -> tuple[Any, Any]:
    name = f"eq{next(NAMES)}"
    throttle, ratelimit = (RedisThrottle, RedisRateLimit) if loop is None else (
        AsyncRedisThrottle, AsyncRedisRateLimit)
    if kind == "throttle":
        mem: Any = Throttle(limit, period, burst, clock=clock)
        red: Any = throttle(client, name, limit, period, burst, clock=clock)
    elif kind == "ratelimit":
        mem = RateLimit(limit, period, clock=clock)
        red = ratelimit(client, name, limit, period, clock=clock)
    else:
        mem = RateLimit(limit, period, burst=burst, clock=clock)
        red = ratelimit(client, name, limit, period, burst=burst, clock=clock)
    red.expiry_grace_ms = 3_600_000  # the test clock stands still while wall time passes
    return mem, (red if loop is None else _Blocked(red, loop))


class SideBySide(RuleBasedStateMachine):
    client: Any = None
    loop: asyncio.AbstractEventLoop | None = None  # set: the asyncio classes

    @initialize(
        kind=st.sampled_from(["throttle", "ratelimit", "ratelimit-burst"]),
        limit=st.integers(0, 12) | st.sampled_from([3, 7, 999_983]),
        period=st.integers(1, 50) | st.sampled_from([NS_PER_S, 7 * 86_400 * NS_PER_S]),
        burst=st.integers(0, 3),
        start=st.sampled_from([0, 1_000, 2**53 - 5, 1_765_432_101_234_567_891, 2**62,
                               2**63 + 12345]),
    )
    def setup(self, kind: str, limit: int, period: int, burst: int, start: int) -> None:
        self.clock = StepClock(start)
        self.mem, self.red = _pair(self.client, kind, limit, period, burst, self.clock,
                                   self.loop)
        self.period = period

    @rule(dt=st.integers(0, 60) | st.sampled_from([NS_PER_S // 3, NS_PER_S, 10**15]))
    def advance(self, dt: int) -> None:
        self.clock.t += dt

    @rule(dt=st.integers(1, 30))
    def clock_goes_back(self, dt: int) -> None:
        self.clock.t -= dt

    @rule(key=KEYS, n=st.integers(1, 6))
    def acquire(self, key: str, n: int) -> None:
        assert self.red.acquire(key, n) == self.mem.acquire(key, n)

    @rule(key=KEYS)
    def acquire_one(self, key: str) -> None:
        assert self.red.acquire(key) == self.mem.acquire(key)

    @rule(key=KEYS, n=st.integers(1, 6))
    def peek(self, key: str, n: int) -> None:
        assert self.red.peek(key, n) == self.mem.peek(key, n)

    @rule(key=KEYS)
    def reset_at(self, key: str) -> None:
        assert self.red.reset_at(key) == self.mem.reset_at(key)

    @rule(pairs=st.lists(st.tuples(KEYS, st.integers(1, 4)), max_size=8))
    def acquire_many(self, pairs: list[tuple[str, int]]) -> None:
        assert self.red.acquire_many(pairs) == [self.mem.acquire(k, n) for k, n in pairs]

    @rule(key=KEYS)
    def wait_for_retry_at(self, key: str) -> None:
        d = self.mem.peek(key)
        assert self.red.peek(key) == d
        if not d.allowed and d.retry_at is not None:
            self.clock.t = max(self.clock.t, d.retry_at)
            answer = self.mem.acquire(key)
            assert answer.allowed
            assert self.red.acquire(key) == answer

    @rule(n=st.sampled_from([0, -1, 1.0, True, "1", None]))
    def bad_n_is_refused_alike(self, n: Any) -> None:
        with pytest.raises(ValueError) as mem_error:
            self.mem.acquire("a", n)
        with pytest.raises(ValueError) as red_error:
            self.red.acquire("a", n)
        assert str(red_error.value) == str(mem_error.value)
        with pytest.raises(ValueError):
            self.red.acquire_many([("a", 1), ("b", n)])

    @rule()
    def snapshots_agree(self) -> None:
        assert self.red.snapshot() == self.mem.snapshot()


def _run(client: Any, max_examples: int | None = None,
         loop: asyncio.AbstractEventLoop | None = None) -> None:
    SideBySide.client = client
    SideBySide.loop = loop
    run_state_machine_as_test(
        SideBySide,
        settings=settings(max_examples=max_examples or settings().max_examples,
                          stateful_step_count=50),
    )


def test_redis_gcra_answers_as_in_memory_on_one_server(redis_client: redis.Redis) -> None:
    _run(redis_client)


def test_redis_gcra_answers_as_in_memory_on_a_cluster(cluster_client: RedisCluster) -> None:
    _run(cluster_client, max_examples=40)


def test_asyncio_gcra_answers_as_in_memory(redis_client: redis.Redis, redis_server: Any) -> None:
    loop = asyncio.new_event_loop()
    client = redis_server.async_client()
    try:
        _run(client, max_examples=25, loop=loop)
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()


@pytest.mark.parametrize(("limit", "period", "burst"), [(3, "1s", 0), (50, "1m", 5), (1, 1, 0)])
def test_constructors_validate_as_in_memory(redis_client: redis.Redis, limit: int,
                                            period: str | int, burst: int) -> None:
    clock = ManualClock(0)
    red = RedisThrottle(redis_client, "v", limit, period, burst, clock=clock)
    mem = Throttle(limit, period, burst, clock=clock)
    assert (red.limit, red.period, red.burst, red.capacity, red.emission_interval) == (
        mem.limit, mem.period, mem.burst, mem.capacity, mem.emission_interval)
    for args in [(-1, "1s"), (1, "0s"), (1, "xyz"), (1.5, "1s"), (1, "1s", -2)]:
        with pytest.raises(ValueError):
            Throttle(*args, clock=clock)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            RedisThrottle(redis_client, "v", *args, clock=clock)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            RedisRateLimit(redis_client, "v", *args, clock=clock)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        RedisThrottle.platform(redis_client, "v", 1, "500ms", clock=clock)
    assert RedisRateLimit.platform(redis_client, "v", 10, "1500ms").period == NS_PER_S
    with pytest.raises(ValueError, match="name must be"):
        RedisThrottle(redis_client, "a:b", 1, "1s")


def test_the_first_decisions_of_a_one_third_second_throttle(redis_client: redis.Redis) -> None:
    clock = ManualClock(2**62)
    red = RedisThrottle(redis_client, "third", 3, "1s", clock=clock)
    assert red.acquire("k", 3) == GcraDecision(True, None, 0)
    assert red.acquire("k") == GcraDecision(False, -(-(2**62 * 3 + NS_PER_S) // 3), 0)
    clock.advance(NS_PER_S // 3)  # one ns short of a third of a second
    assert not red.acquire("k").allowed
    clock.advance(1)
    assert red.acquire("k") == GcraDecision(True, None, 0)


def test_keys_expire_once_full_again_and_not_before(redis_client: redis.Redis) -> None:
    clock = ManualClock(0)
    red = RedisThrottle(redis_client, "ttl", 2, "10s", clock=clock)
    red.acquire("k")
    ttl = redis_client.pttl("fc:t:ttl:k")
    # full again 5 s later (one unit of 5 s each), plus the 1 s grace of an injected clock
    assert 6000 - 500 <= ttl <= 6000  # (a slack for a busy test machine)
    server = RedisThrottle(redis_client, "srv", 2, "10s")  # the server's clock
    server.acquire("k")
    assert 5000 - 500 <= redis_client.pttl("fc:t:srv:k") <= 5001


def test_server_clock_instants_are_ns_since_the_epoch(redis_client: redis.Redis) -> None:
    import time

    red = RedisThrottle(redis_client, "srvclock", 1, "1h")
    assert red.acquire("k").allowed
    d = red.acquire("k")
    before = time.time_ns()
    assert not d.allowed and d.retry_at is not None
    assert abs(d.retry_at - (before + 3600 * NS_PER_S)) < 5 * NS_PER_S
    assert abs(red.reset_at("k") - d.retry_at) < NS_PER_S


def test_prune_len_and_restore(redis_client: redis.Redis) -> None:
    clock = ManualClock(10**18)
    red = RedisRateLimit(redis_client, "p", 10, "1s", clock=clock)
    red.expiry_grace_ms = 3_600_000  # the test clock stands still while wall time passes
    mem = RateLimit(10, "1s", clock=clock)
    for key in "abc":
        red.acquire(key)
        mem.acquire(key)
    assert len(red) == 3
    data = json.loads(json.dumps(red.snapshot()))
    assert data == mem.snapshot()
    clock.advance("1s")
    assert red.prune() == 3
    assert len(red) == 0
    again = RedisRateLimit(redis_client, "p2", 10, "1s", clock=ManualClock(10**18))
    again.expiry_grace_ms = 3_600_000
    assert again.restore(data) == 3
    assert again.snapshot() == data
    with pytest.raises(ValueError, match="does not match"):
        RedisRateLimit(redis_client, "p3", 11, "1s", clock=clock).restore(data)


def test_asyncio_machines_answer_alike(redis_async: Callable[..., Any],
                                       cluster_async: Callable[..., Any]) -> None:
    async def main(make: Callable[..., Any]) -> list[Any]:
        clock = ManualClock(2**62)
        async with make() as client:
            t = AsyncRedisThrottle(client, "async", 3, "1s", 1, clock=clock)
            r = AsyncRedisRateLimit(client, "async", 30, "1m", clock=clock)
            out = [await t.acquire("k", 2), await t.peek("k"),
                   await t.acquire_many([("k", 1), ("k", 1), ("j", 4)]),
                   await r.acquire("k"), await t.reset_at("k"), await t.size()]
            clock.advance("2s")
            out += [await t.prune(), (await t.snapshot())["tat"]]
            return out

    clock = ManualClock(2**62)
    t = Throttle(3, "1s", 1, clock=clock)
    r = RateLimit(30, "1m", clock=clock)
    expected = [t.acquire("k", 2), t.peek("k"), [t.acquire("k"), t.acquire("k"),
                t.acquire("j", 4)], r.acquire("k"), t.reset_at("k"), 2]
    clock.advance("2s")
    expected += [2, {}]
    assert asyncio.run(main(redis_async)) == expected
    assert asyncio.run(main(cluster_async)) == expected


def test_the_equivalence_runs_cover_both_scripts(redis_client: redis.Redis) -> None:
    from flowcontrol.redis.gcra import GCRA, GCRA_FAST

    clock = ManualClock(2**62)
    usual = RedisThrottle(redis_client, "s1", 3, "1s", clock=clock)
    assert usual._eval("0", b"a", [("k", 1)]).script is GCRA_FAST
    assert usual._eval(str(10**25), b"a", [("k", 1)]).script is GCRA  # beyond its instants
    huge = RedisThrottle(redis_client, "s2", 999_983, 7 * 86_400 * NS_PER_S, clock=clock)
    assert huge._eval("0", b"a", [("k", 1)]).script is GCRA  # DVT ~ 6e20 > 2**52
    assert RedisThrottle(redis_client, "s3", 3, "1s")._eval("", b"a", [("k", 1)]).script is (
        GCRA_FAST)
    # acquire(key) of one unit goes by GCRA_ONE within GCRA_FAST's bounds, else as above
    assert usual._one_call() == f"{3 * 2**62} 3 2000000000 1000 1000000000"  # 1/scale ns
    assert RedisThrottle(redis_client, "s3", 3, "1s")._one_call() == " 3 2000000000 1 1000000000"
    assert huge._one_call() is None
    clock.advance(10**25)
    assert usual._one_call() is None


def test_a_client_that_decodes_replies_gets_the_same_answers(redis_server: Any) -> None:
    clock = ManualClock(2**62)
    with redis_server.client(decode_responses=True) as client:
        red = RedisThrottle(client, "decoded", 3, "1s", clock=clock)
        mem = Throttle(3, "1s", clock=clock)
        answers = [red.acquire("k", 2), red.peek("k"), red.acquire_many([("k", 1), ("j", 3)]),
                   red.acquire("k"), red.reset_at("k"), len(red), red.snapshot()]
        assert answers == [mem.acquire("k", 2), mem.peek("k"),
                           [mem.acquire("k"), mem.acquire("j", 3)], mem.acquire("k"),
                           mem.reset_at("k"), 2, mem.snapshot()]


def test_the_deployed_scripts_change_only_on_purpose() -> None:
    """Workers of two releases share one Redis: a changed script is a changed contract.
    Update these digests deliberately, with a note on compatibility.

    GCRA c8ac3041 (was 5ccfdbf2) added mode 'i' (an idempotent acquire with its mark);
    modes a/p/x read and write the GCRA keys exactly as before, so a worker still on the
    older script shares limits with one on this (the marks are only seen by this one).
    GCRA_ONE (new) is GCRA_FAST's single-unit acquire: the same stored text and TTL."""
    from flowcontrol.redis.gcra import GCRA, GCRA_FAST, GCRA_ONE, MARKS, PUT, UNMARK

    assert (GCRA.sha, GCRA_FAST.sha, PUT.sha, MARKS.sha, UNMARK.sha, GCRA_ONE.sha) == (
        "c8ac3041c7731b8d398191120c720b44de0382ed",
        "889edff0a01ccc1bc743492ab13e8992c6e2d694",
        "c5ec283a919f1c8987c78e6555499c524080bdd5",
        "02321f27b809ddfb7b0b581ebcccaa584ebe8f78",
        "626e324ee8f6147cd10ce8c3ae21093cdfca18e9",
        "2a23eb94f469eabccdd8db5ea0f96fa0217c12d6",
    )
    for script in (GCRA, GCRA_FAST, GCRA_ONE):
        assert "tostring" not in script.source  # 14 significant digits: never for instants


def test_server_clock_with_a_fractional_emission_interval(redis_client: redis.Redis) -> None:
    import time

    period = 10 * NS_PER_S + 1  # T = period / 3, not a whole number of ns: scale 3
    red = RedisThrottle(redis_client, "third-srv", 3, period)
    assert red.emission_interval == (period, 3)
    assert [red.acquire("k").remaining for _ in range(3)] == [2, 1, 0]
    d = red.acquire("k")
    now = time.time_ns()
    assert not d.allowed and d.retry_at is not None
    assert now - NS_PER_S < d.retry_at - period // 3 < now + NS_PER_S  # the first unit's
    snap = red.snapshot()
    assert snap["scale"] == 3 and set(snap["tat"]) == {"k"}  # type: ignore[arg-type]
    tat = snap["tat"]["k"]  # type: ignore[index]
    assert tat - 3 * period < snap["now"] * 3 <= tat  # type: ignore[operator]
