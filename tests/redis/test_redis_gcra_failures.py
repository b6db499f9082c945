"""RedisThrottle under failures and from several processes: a flushed script cache, server
restarts with and without persistence, a lost reply, and 8 worker processes sharing one
throttle on the server's clock."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from conftest import RedisServer, run_workers
from gcra_workers import BURST, LIMIT, PERIOD, throttle_worker
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from flowcontrol.machines.gcra import GcraDecision, Throttle
from flowcontrol.redis.gcra import RedisThrottle
from flowcontrol.time import NS_PER_S, ManualClock


def _flushing_run(client: Any, flush: Callable[[], None]) -> None:
    rng = random.Random(7)
    clock = ManualClock(1_765_432_101_234_567_891)
    mem = Throttle(3, "1s", 2, clock=clock)
    red = RedisThrottle(client, "flush", 3, "1s", 2, clock=clock)
    red.expiry_grace_ms = 3_600_000
    keys = [f"k{i}" for i in range(12)]
    for step in range(150):
        if step % 7 == 0:
            flush()
        op = rng.randrange(4)
        if op == 0:
            clock.advance(rng.choice([0, 1, NS_PER_S // 3, NS_PER_S]))
        elif op == 1:
            key, n = rng.choice(keys), rng.randint(1, 3)
            assert red.acquire(key, n) == mem.acquire(key, n)
        elif op == 2:
            pairs = [(rng.choice(keys), rng.randint(1, 2)) for _ in range(rng.randint(1, 20))]
            assert red.acquire_many(pairs) == [mem.acquire(k, n) for k, n in pairs]
        else:
            assert red.snapshot() == mem.snapshot()  # a batch of script calls


def test_a_script_cache_flushed_mid_run_is_survived(redis_client: redis.Redis) -> None:
    _flushing_run(redis_client, redis_client.script_flush)


def test_a_cluster_script_cache_flushed_mid_run_is_survived(cluster_client: RedisCluster
                                                           ) -> None:
    _flushing_run(cluster_client, cluster_client.script_flush)  # every master; pipelines too


def _spent(server: RedisServer) -> tuple[RedisThrottle, Throttle, ManualClock]:
    clock = ManualClock(10**18)
    red = RedisThrottle(server.client(), "restart", 5, "1h", clock=clock)
    mem = Throttle(5, "1h", clock=clock)
    assert red.acquire("k", 4) == mem.acquire("k", 4)
    return red, mem, clock


def test_with_appendonly_the_limits_survive_a_restart(redis_factory: Callable[..., RedisServer]
                                                      ) -> None:
    server = redis_factory(appendonly="yes", appendfsync="always")
    red, mem, clock = _spent(server)
    server.restart()  # the script cache is empty again too
    clock.advance("12m")
    assert red.acquire("k", 2) == mem.acquire("k", 2) == GcraDecision(True, None, 0)
    assert red.acquire("k") == mem.acquire("k")
    assert not mem.peek("k").allowed


def test_without_persistence_a_restart_forgets_the_limits(
    redis_factory: Callable[..., RedisServer],
) -> None:
    server = redis_factory()  # the fixtures' default: no RDB, no AOF
    red, mem, _ = _spent(server)
    server.restart()
    assert mem.acquire("k", 5) == GcraDecision(False, mem.reset_at("k"), 1)
    assert red.acquire("k", 5) == GcraDecision(True, None, 0)  # as if never used


def test_a_lost_reply_raises_and_the_decision_is_all_or_nothing(
    redis_factory: Callable[..., RedisServer],
) -> None:
    server = redis_factory()
    no_retry = Retry(NoBackoff(), 0)
    client = server.client(socket_timeout=0.2, retry=no_retry)
    clock = ManualClock(10**18)
    red = RedisThrottle(client, "lost", 10, "1h", clock=clock)
    mem = Throttle(10, "1h", clock=clock)
    red.acquire_many([("a", 1), ("b", 2)])
    mem.acquire("a")
    mem.acquire("b", 2)
    blocker = threading.Thread(
        target=lambda: server.client().execute_command("DEBUG", "SLEEP", "1"))
    blocker.start()
    probe = server.client(socket_timeout=0.05, retry=no_retry)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # until the server is asleep
        try:
            probe.ping()
        except redis.TimeoutError:
            break
        time.sleep(0.01)
    with pytest.raises(redis.TimeoutError):
        red.acquire_many([("a", 3), ("b", 1), ("c", 2)])
    blocker.join()
    # The script had reached the server: it ran whole once the server was free, as one
    # decision (a retry would have counted it twice: a client without retries is safe).
    for key, n in [("a", 3), ("b", 1), ("c", 2)]:
        mem.acquire(key, n)
    assert red.snapshot() == mem.snapshot()
    server.kill()
    with pytest.raises(redis.ConnectionError):
        red.acquire("a")


# -- several processes, one throttle, the server's clock -----------------------------------

def test_eight_processes_on_the_server_clock_admit_within_the_gcra(
    redis_server: RedisServer, redis_client: redis.Redis,
) -> None:
    seconds = 1.5
    results = run_workers(throttle_worker, [(redis_server.port, seconds)] * 8, timeout=90)
    brackets = sorted(b for r in results for b in r)
    cap = LIMIT + BURST
    assert len(brackets) >= cap  # the burst at least went through
    # For any interval [x, y], the admissions that certainly happened inside it (their
    # bracket lies within it) are at most cap + (y - x) / T: the GCRA seen from outside.
    for i, (x, _) in enumerate(brackets):
        inside = 0
        for before, after in brackets[i:]:
            if before >= x:
                inside += 1
                y = after
                assert inside * PERIOD <= cap * PERIOD + (y - x) * LIMIT, (inside, y - x)
    span = brackets[-1][1] - brackets[0][0]
    assert len(brackets) <= cap + span * LIMIT // PERIOD + 1
