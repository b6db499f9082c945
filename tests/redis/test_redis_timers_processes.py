"""Debounce, batch and priority queue shared by 8 OS processes that all push and poll.

Every worker pushes debounce events and adds batch events, and polls both machines,
for a bounded few seconds on the server's clock (``clock=None``: Redis ``TIME``);
the test then drains what is left and checks from outside:

* debounce: per key, the push instants (read back from each ``Pushed``) split into
  quiet periods wherever two pushes are a period or more apart; each quiet period
  fires exactly once, with its last event and its event count, and every pushed
  event is either that fired event or superseded, exactly once;
* batch: every distinct event id lands in exactly one batch (from ``add``, or one of
  the pollers), under the key it was added to, in batches of at most ``max_size``;
  ids that all workers add are admitted by exactly one of them;
* priority queue: every pushed item is popped exactly once, by ``pop`` or ``poll``.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from itertools import pairwise
from typing import Any

import redis
from conftest import RedisServer, run_workers
from timers_workers import KEYS, MAX_SIZE, PERIOD, WORKERS, worker

from flowcontrol.machines.batch import AddOutcome, Batch
from flowcontrol.machines.debounce import DebounceOutcome, Fired
from flowcontrol.redis.batch import RedisBatcher
from flowcontrol.redis.debounce import RedisDebounce
from flowcontrol.redis.priority import RedisPriorityQueue


def drain(port: int) -> tuple[list[Fired], list[Batch], list[str]]:
    """Poll from the test process until the machines are empty (at most 10 s)."""
    client = redis.Redis(port=port)
    d = RedisDebounce(client, "mp", PERIOD)
    b = RedisBatcher(client, "mp", MAX_SIZE, "1s")
    q = RedisPriorityQueue(client, "mp")
    fired: list[Fired] = []
    batches: list[Batch] = []
    popped: list[str] = []
    deadline = time.monotonic() + 10
    while (len(d) or len(b) or len(q)) and time.monotonic() < deadline:
        fired.extend(d.poll())
        batches.extend(b.poll())
        popped.extend(i.item_id for i in q.poll())
        time.sleep(0.05)
    assert len(d) == 0 and len(b) == 0 and len(q) == 0, "the machines did not drain"
    client.close()
    return fired, batches, popped


def test_redis_debounce_batch_and_queue_with_eight_pollers(redis_server: RedisServer) -> None:
    with redis_server.client() as c:
        c.flushall()
    results = run_workers(worker, [(redis_server.port, i) for i in range(WORKERS)], timeout=90)
    late_fired, late_batches, late_popped = drain(redis_server.port)
    check_debounce(results, late_fired)
    check_batches(results, late_batches)
    popped = Counter(i for r in results for i in r["popped"]) + Counter(late_popped)
    assert popped == Counter(i for r in results for i in r["queued"]), "an item popped twice"
    assert sum(len(r["popped"]) for r in results) > len(late_popped)


def check_debounce(results: list[dict[str, Any]], late: list[Fired]) -> None:
    fired = [f for r in results for f in r["fired"]] + late
    pushes = [p for r in results for p in r["pushed"]]
    assert len(fired) >= 2 * len(KEYS) and len(pushes) > 4 * len(KEYS)
    assert len({f.debounce_id for f in fired}) == len(fired), "a debounce fired twice"
    # Server instants of the pushes: fire_at = now + period (no timeout, nothing ignored).
    by_key: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for key, event_id, p in pushes:
        assert p.outcome is not DebounceOutcome.IGNORED
        by_key[key].append((p.fire_at - PERIOD, event_id))
    superseded = [p.superseded for _, _, p in pushes if p.superseded is not None]
    fired_by_key: dict[str, list[Fired]] = defaultdict(list)
    for f in fired:
        fired_by_key[f.key].append(f)
    for key, seq in by_key.items():
        seq.sort()
        quiet_periods: list[list[tuple[int, str]]] = [[seq[0]]]
        for prev, cur in pairwise(seq):
            if cur[0] - prev[0] >= PERIOD:
                quiet_periods.append([])
            quiet_periods[-1].append(cur)
        got = sorted(fired_by_key[key], key=lambda f: f.fire_at)
        assert len(got) == len(quiet_periods), (key, len(got), len(quiet_periods))
        for f, group in zip(got, quiet_periods, strict=True):
            assert (f.first_at, f.last_at, f.count) == (group[0][0], group[-1][0], len(group))
            assert f.fire_at == f.last_at + PERIOD
    accounted = Counter(superseded + [f.event_id for f in fired])
    assert accounted == Counter(event_id for _, event_id, _ in pushes)


def check_batches(results: list[dict[str, Any]], late: list[Batch]) -> None:
    batches = [b for r in results for b in r["batches"]] + late
    adds = [a for r in results for a in r["added"]]
    assert len({b.batch_id for b in batches}) == len(batches), "a batch was handed out twice"
    admitted = {event_id: key for key, event_id, outcome in adds
                if outcome is not AddOutcome.DUPLICATE}
    admissions = Counter(event_id for _, event_id, outcome in adds
                         if outcome is not AddOutcome.DUPLICATE)
    assert max(admissions.values()) == 1, "an event id was admitted twice"
    assert any(e.startswith("shared-") for e in admitted)
    batched = Counter(e for b in batches for e in b.event_ids)
    assert batched == Counter(admitted.keys()), "an event was lost or batched twice"
    for b in batches:
        assert 1 <= len(b.event_ids) <= MAX_SIZE
        assert all(admitted[e] == b.key for e in b.event_ids)
