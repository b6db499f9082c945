"""RedisConcurrency and RedisSingleton shared by 8 OS processes, checked from outside.

* concurrency: each worker records, on the system's monotonic clock, when it holds a
  lease (after ``acquire`` returns, before it calls ``release``); afterwards no instant
  has more recorded holders than a limit allows (per function and per key), and the
  acquisitions equal the releases;
* singleton (skip mode): no instant has two recorded holders of one key; (cancel mode)
  every lock taken ends exactly once, by a cancel, its own release, or still held;
* a worker killed with SIGKILL while holding a lease: its slot comes back once
  ``lease_ttl`` has passed on the server's clock, ``poll()`` reports exactly the dead
  workers' leases, and the live workers, which keep extending theirs, keep them.

Recorded intervals lie inside the real ones (the server decided before ``acquire``
returned and after ``release`` was called), so counting touching intervals as
overlapping is a strict check. Workers run bounded loops and stop by themselves.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from typing import Any

import pytest
from concurrency_workers import (
    FN_LIMIT,
    KEY_LIMIT,
    TTL_S,
    USERS,
    WORKERS,
    lease_holder,
    worker,
)
from conftest import RedisServer, run_workers

from flowcontrol.redis.concurrency import RedisConcurrency
from flowcontrol.redis.singleton import RedisSingleton


def max_overlap(intervals: list[tuple[int, int]]) -> int:
    """The most intervals holding one instant (closed intervals: touching counts)."""
    events = sorted([(t0, 0) for t0, _ in intervals] + [(t1, 1) for _, t1 in intervals])
    most = n = 0
    for _, kind in events:
        n += 1 if kind == 0 else -1
        most = max(most, n)
    return most


@pytest.fixture(scope="module")
def fleet(redis_server: RedisServer) -> dict[str, list[dict[str, Any]]]:
    """The results of 8 worker processes, per machine, on a freshly flushed server."""
    with redis_server.client() as client:
        client.flushall()
    results = run_workers(worker, [(redis_server.port, i) for i in range(WORKERS)])
    return {m: [r[m] for r in results] for m in ("concurrency", "skip", "cancel")}


def test_concurrency_limits_hold_across_processes(
    fleet: dict[str, list[dict[str, Any]]], redis_server: RedisServer
) -> None:
    results = fleet["concurrency"]
    with redis_server.client() as client:
        holds = [h for r in results for h in r["holds"]]
        assert len(holds) > 50, "too few acquisitions to show anything"
        assert sum(r["refused"] for r in results) > 0, "the limits were never reached"
        assert max_overlap([(t0, t1) for _, t0, t1 in holds]) <= FN_LIMIT
        for user in USERS:
            assert max_overlap([(t0, t1) for u, t0, t1 in holds if u == user]) <= KEY_LIMIT
        assert sum(r["acquired"] for r in results) == sum(r["released"] for r in results)
        c = RedisConcurrency(client, "mp", lease_ttl="1m")
        assert c.usage() == {} and len(c) == 0 and c.poll() == ()
        # Memory follows active keys: only the clock mark, the expiry bound and the
        # lease sequence (fields of counts) stay.
        assert client.keys("{fc:concurrency:mp}:*") == [b"{fc:concurrency:mp}:counts"]
        assert sorted(client.hkeys("{fc:concurrency:mp}:counts")) == [b"#", b"#d", b"#s"]


def test_singleton_never_has_two_holders_across_processes(
    fleet: dict[str, list[dict[str, Any]]], redis_server: RedisServer
) -> None:
    results = fleet["skip"]
    with redis_server.client() as client:
        holds = [h for r in results for h in r["holds"]]
        assert len(holds) > 20
        for user in USERS:
            assert max_overlap([(t0, t1) for u, t0, t1 in holds if u == user]) <= 1
        started = [run for r in results for _, run in r["started"]]
        assert sorted(started) == sorted(run for r in results for run in r["released"])
        assert client.keys("{fc:singleton:mp-skip}:*") == []


def test_singleton_cancel_mode_ends_every_lock_once_across_processes(
    fleet: dict[str, list[dict[str, Any]]], redis_server: RedisServer
) -> None:
    results = fleet["cancel"]
    with redis_server.client() as client:
        started = [run for r in results for _, run in r["started"]]
        ended = Counter(run for r in results for run in r["cancelled"] + r["released"])
        s = RedisSingleton(client, "mp-cancel", "cancel")
        still = {s.holder(key) for key in s.active_keys()}
        assert sum(r["cancelled"] != [] for r in results) > 0, "nothing was ever cancelled"
        for run in started:
            assert ended[run] + (run in still) == 1, run
        assert len(ended) + len(still) == len(started)


def test_a_killed_workers_slots_come_back_after_lease_ttl(redis_server: RedisServer) -> None:
    ctx = multiprocessing.get_context("spawn")
    with redis_server.client() as client:
        client.flushall()
        procs = [ctx.Process(target=lease_holder, args=(redis_server.port, i))
                 for i in range(WORKERS)]
        for p in procs:
            p.start()
        try:
            c = RedisConcurrency(client, "kill", lease_ttl=int(TTL_S * 1e9))
            c.register("f", function_limit=WORKERS)
            deadline = time.monotonic() + 60
            while client.llen("test:leases") < WORKERS:
                assert time.monotonic() < deadline, "the workers did not take their leases"
                time.sleep(0.01)
            lease_of = {}
            for entry in client.lrange("test:leases", 0, -1):
                index, lease = entry.decode().split(":")
                lease_of[int(index)] = int(lease)
            dead = (0, 5)
            for i in dead:
                procs[i].kill()  # SIGKILL: no release, no clean-up
                procs[i].join(10)
            killed_at = time.monotonic()
            assert c.capacity("f") == 0  # their slots are still held...
            expired: list[object] = []
            while time.monotonic() < killed_at + 3 * TTL_S and len(expired) < len(dead):
                expired += c.poll()
                time.sleep(0.05)
            waited = time.monotonic() - killed_at
            # ...until lease_ttl has passed since their last extend, no earlier.
            assert waited >= TTL_S - TTL_S / 20 - 0.2, waited
            assert sorted(expired) == sorted(lease_of[i] for i in dead)
            assert c.capacity("f") == len(dead)
            assert set(c.leases()) == {lease_of[i] for i in lease_of if i not in dead}
            client.set("test:stop", "1")
            for p in procs:
                p.join(30)
            assert all(p.exitcode == 0 for i, p in enumerate(procs) if i not in dead)
            released = sorted(e.decode() for e in client.lrange("test:released", 0, -1))
            assert released == sorted(f"{i}:1" for i in range(WORKERS) if i not in dead)
            assert c.usage() == {} and c.poll() == ()
        finally:
            for p in procs:
                if p.is_alive():
                    p.kill()
                    p.join(10)
