"""Worker processes of the RedisThrottle multi-process test (spawned: this module imports
no conftest, so a worker finds it by name in any test run)."""

from __future__ import annotations

import time

import redis

from flowcontrol.redis.gcra import RedisThrottle
from flowcontrol.time import NS_PER_S

LIMIT, PERIOD, BURST = 40, NS_PER_S, 4  # T = 25 ms, capacity 44


def throttle_worker(port: int, seconds: float) -> list[tuple[int, int]]:
    """Acquire until the deadline; return (before, after) wall-clock brackets of admissions."""
    client = redis.Redis(port=port)
    t = RedisThrottle(client, "procs", LIMIT, PERIOD, BURST)  # the server's TIME
    admitted = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        before = time.time_ns()
        d = t.acquire("shared")
        after = time.time_ns()
        if d.allowed:
            admitted.append((before, after))
        elif d.retry_at is not None:
            time.sleep(min(max(d.retry_at - time.time_ns(), 0), 5_000_000) / 1e9)
    client.close()
    return admitted


def square(x: int) -> int:
    """A trivial worker for the test of ``run_workers`` itself."""
    return x * x
