"""The worker processes of ``test_redis_timers_processes.py``.

A module of its own that imports no ``conftest``: a spawned worker imports the module of
its function by name, and in a whole-suite run ``conftest`` may name another directory's.
"""

from __future__ import annotations

import random
import time
from typing import Any

import redis

from flowcontrol.machines.batch import AddOutcome, Batch
from flowcontrol.machines.debounce import Fired, Pushed
from flowcontrol.redis.batch import RedisBatcher
from flowcontrol.redis.debounce import RedisDebounce
from flowcontrol.redis.priority import RedisPriorityQueue

S = 1_000_000_000
PERIOD = S  # the platform's minimum debounce period
WORKERS = 8
KEYS = [f"k{i}" for i in range(12)]
BURSTS = ((0.0, 0.5), (1.8, 2.3))  # seconds after the start: quiet in between
POLL_UNTIL = 3.3
MAX_SIZE = 4


def start_together(client: redis.Redis) -> float:
    """Wait (at most 60 s) until all workers have started; the shared start instant."""
    if client.incr("test:ready") == WORKERS:
        client.set("test:start", repr(time.time() + 0.1))
    deadline = time.monotonic() + 60
    while (start := client.get("test:start")) is None:
        assert time.monotonic() < deadline, "the other workers did not start"
        time.sleep(0.005)
    return float(start)


def worker(port: int, index: int) -> dict[str, Any]:
    """Push, add and poll until POLL_UNTIL after the common start; at most 5000 loops."""
    rng = random.Random(index)
    client = redis.Redis(port=port)
    start = start_together(client)
    d = RedisDebounce(client, "mp", PERIOD)
    b = RedisBatcher(client, "mp", MAX_SIZE, "1s")
    q = RedisPriorityQueue(client, "mp")
    pushed: list[tuple[str, str, Pushed]] = []
    queued: list[str] = []
    popped: list[str] = []
    fired: list[Fired] = []
    added: list[tuple[str, str, AddOutcome]] = []
    batches: list[Batch] = []
    time.sleep(max(0.0, start - time.time()))
    n = 0
    current: int | None = None
    todo: list[str] = []
    for _ in range(5000):
        t = time.time() - start
        if t >= POLL_UNTIL:
            break
        burst = next((i for i, (lo, hi) in enumerate(BURSTS) if lo <= t < hi), None)
        if burst is not None:
            if burst != current:  # each worker pushes every key once per burst, then at random
                current, todo = burst, rng.sample(KEYS, len(KEYS))
            key = todo.pop() if todo else rng.choice(KEYS)
            event_id = f"w{index}-{n}"
            pushed.append((key, event_id, d.push(key, event_id)))
            shared = f"shared-{n}" if n % 7 == 0 else event_id
            result = b.add(key, shared, rng.randrange(100))
            added.append((key, shared, result.outcome))
            if result.batch is not None:
                batches.append(result.batch)
            queued.append(q.push(event_id, factor=rng.randrange(-1, 2)).item_id)
            n += 1
        fired.extend(d.poll())
        batches.extend(b.poll())
        item = q.pop()
        popped.extend([] if item is None else [item.item_id])
        if n % 5 == 0:
            popped.extend(i.item_id for i in q.poll())
        time.sleep(rng.random() * 0.01)
    client.close()
    return {"pushed": pushed, "fired": fired, "added": added, "batches": batches,
            "queued": queued, "popped": popped}
