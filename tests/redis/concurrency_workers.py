"""The worker processes of ``test_redis_concurrency_processes.py``.

A module of its own that imports no ``conftest``: a spawned worker imports the module of
its function by name, and in a whole-suite run ``conftest`` may name another directory's.
Every loop is bounded in rounds and in seconds.
"""

from __future__ import annotations

import random
import time
from typing import Any

import redis

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


def worker(port: int, index: int) -> dict[str, Any]:
    """One worker's three bounded loops, one machine each (saves spawning twice more)."""
    return {
        "concurrency": concurrency_worker(port, index),
        "skip": singleton_worker(port, index, "skip"),
        "cancel": singleton_worker(port, index, "cancel"),
    }


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
