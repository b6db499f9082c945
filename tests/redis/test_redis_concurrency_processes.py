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
import random
import time
from collections import Counter
from typing import Any

import pytest
import redis
from conftest import RedisServer, run_workers

from flowcontrol.machines.concurrency import Acquired, ConcurrencyConstraint
from flowcontrol.machines.singleton import SingletonStarted
from flowcontrol.redis.concurrency import RedisConcurrency
from flowcontrol.redis.singleton import RedisSingleton

WORKERS = 8
FN_LIMIT = 3  # leases of the function at once
KEY_LIMIT = 1  # leases per user key at once
USERS = ("u0", "u1", "u2", "u3")
SECONDS = 1.0  # each worker's loop stops after this long, or after LOOPS rounds
LOOPS = 400


def max_overlap(intervals: list[tuple[int, int]]) -> int:
    """The most intervals holding one instant (closed intervals: touching counts)."""
    events = sorted([(t0, 0) for t0, _ in intervals] + [(t1, 1) for _, t1 in intervals])
    most = n = 0
    for _, kind in events:
        n += 1 if kind == 0 else -1
        most = max(most, n)
    return most


def concurrency_worker(port: int, index: int) -> dict[str, Any]:
    """Acquire, hold a moment, release; record each hold on the monotonic clock."""
    rng = random.Random(index)
    c = RedisConcurrency(redis.Redis(port=port), "mp", lease_ttl="1m")
    c.register("f", [ConcurrencyConstraint(KEY_LIMIT, "event.data.user")],
               function_limit=FN_LIMIT)
    holds: list[tuple[str, int, int]] = []
    acquired = released = refused = 0
    stop = time.monotonic() + SECONDS
    for _ in range(LOOPS):
        if time.monotonic() > stop:
            break
        user = rng.choice(USERS)
        got = c.acquire("f", (user,))
        if not isinstance(got, Acquired):
            refused += 1
            continue
        t0 = time.monotonic_ns()
        acquired += 1
        time.sleep(rng.choice((0, 0, 0.0005, 0.002)))
        t1 = time.monotonic_ns()
        released += c.release(got)
        holds.append((user, t0, t1))
    return {"holds": holds, "acquired": acquired, "released": released, "refused": refused}


def worker(port: int, index: int) -> dict[str, Any]:
    """One worker's three bounded loops, one machine each (saves spawning twice more)."""
    return {
        "concurrency": concurrency_worker(port, index),
        "skip": singleton_worker(port, index, "skip"),
        "cancel": singleton_worker(port, index, "cancel"),
    }


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
        # Memory follows active keys: only the clock mark and the lease sequence stay.
        assert sorted(client.keys("{fc:concurrency:mp}:*")) == [
            b"{fc:concurrency:mp}:now", b"{fc:concurrency:mp}:seq"]


def singleton_worker(port: int, index: int, mode: str) -> dict[str, Any]:
    """Arrive as new runs; a started run holds its key a moment and releases it."""
    rng = random.Random(index)
    s = RedisSingleton(redis.Redis(port=port), "mp-" + mode, mode)
    holds: list[tuple[str, int, int]] = []
    started: list[tuple[str, str]] = []  # (key, run)
    cancelled: list[str] = []
    released: list[str] = []
    stop = time.monotonic() + SECONDS
    for n in range(LOOPS):
        if time.monotonic() > stop:
            break
        key, run = rng.choice(USERS), f"w{index}-{n}"
        got = s.acquire(key, run)
        if not isinstance(got, SingletonStarted):
            continue
        t0 = time.monotonic_ns()
        started.append((key, run))
        if got.cancel is not None:
            cancelled.append(got.cancel)
        time.sleep(rng.choice((0, 0.0005, 0.002)))
        t1 = time.monotonic_ns()
        if s.release(key, run):
            released.append(run)
            holds.append((key, t0, t1))
    return {"holds": holds, "started": started, "cancelled": cancelled, "released": released}


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


TTL_S = 2.0


def lease_holder(port: int, index: int) -> None:
    """Take one lease and keep extending it until told to stop (at most 30 s)."""
    client = redis.Redis(port=port)
    c = RedisConcurrency(client, "kill", lease_ttl=int(TTL_S * 1e9))
    c.register("f", function_limit=WORKERS)
    got = c.acquire("f")
    assert isinstance(got, Acquired)
    client.rpush("test:leases", f"{index}:{got.lease_id}")
    deadline = time.monotonic() + 30
    while client.get("test:stop") is None and time.monotonic() < deadline:
        assert c.extend(got)
        time.sleep(TTL_S / 20)
    client.rpush("test:released", f"{index}:{int(c.release(got))}")


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
