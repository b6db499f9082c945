"""Two worker processes share one throttle on Redis (does network I/O).

Together they start at most 5 jobs at once, then 2 per second, however the work is split
between them: ``RedisThrottle(client, "jobs", 2, "1s", burst=3)`` is one GCRA for every
process that uses the name "jobs" on this Redis. No ``clock=``: the server's ``TIME`` is
the clock, so the workers' own clocks may be skewed.

Run: ``python examples/shared_throttle.py [REDIS_URL] [SECONDS]``
(default ``redis://localhost:6379/0``, 3 seconds).
"""

from __future__ import annotations

import multiprocessing
import sys
import time

import redis

from flowcontrol.redis import RedisThrottle


def worker(url: str, name: str, until: float) -> int:
    """Start jobs whenever the shared throttle allows, until ``until`` (a ``time.time()``);
    return how many."""
    client = redis.Redis.from_url(url)  # one client per process, made after the fork
    throttle = RedisThrottle(client, "jobs", 2, "1s", burst=3)
    started = 0
    while time.time() < until:
        decision = throttle.acquire("openai")
        if decision.allowed:
            started += 1
            print(f"worker {name} starts a job ({decision.remaining} left now)", flush=True)
        elif decision.retry_at is not None:  # ns on the server's clock
            wait = (decision.retry_at - time.time_ns()) / 1e9
            time.sleep(min(max(wait, 0.001), 0.5))
    client.close()
    return started


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else "redis://localhost:6379/0"
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
    until = time.time() + seconds
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        counts = pool.starmap(worker, [(url, "A", until), (url, "B", until)])
    print(f"started {counts} = {sum(counts)} jobs in {seconds:g} s "
          f"(at most 5 + 2 per second: {5 + int(2 * seconds)})")


if __name__ == "__main__":
    main()
