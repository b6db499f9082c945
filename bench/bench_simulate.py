"""Benchmarks: events per second through the demo config, against a pure-Python floor.

* ``ours_demo``: ``simulate`` with the "Fair AI processing" config (throttle 50/60s on a
  shared key, 3 per user, priority) on a 20,000-event Poisson trace over 2,000 users that
  the config can keep up with (0.7 events/s); statistics only, streamed.
  The demo config is "plain" (one function, throttle, one keyed concurrency limit,
  priority, one run step), so this takes the lean pipeline (``flowcontrol.sim.lean``).
* ``general_demo``: the same with the lean pipeline switched off (the general path
  through ``FlowControl``): the baseline the lean pipeline is measured against.
* ``ours_demo_rows``: the same keeping every row (what ``--format json`` needs).
* ``floor``: the least a simulator of the same trace can do in Python, written here: a
  heapq loop over arrivals and ends, a float GCRA throttle on one key and a per-user
  counter (no queueing, no keys evaluated, no records).

Only ratios from one run mean anything. The goal is 200,000 events/s and a million events
in under 10 s with memory following the active keys (``--million`` times it, ``--memory``
measures peak memory with tracemalloc at growing trace sizes).

Run::

    pytest bench/bench_simulate.py --benchmark-only
    python bench/bench_simulate.py            # events/s and ratios
    python bench/bench_simulate.py --million  # one million events: wall and CPU time
    python bench/bench_simulate.py --million --general  # the same on the general path
    python bench/bench_simulate.py --events N # N events
    python bench/bench_simulate.py --memory   # peak memory at 25k, 100k, 400k events
    python bench/bench_simulate.py --cli      # the command on a 1M-event JSON Lines file
"""

from __future__ import annotations

import heapq
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterable
from typing import Any

import pytest

import flowcontrol.sim.simulate as simulate_mod
from flowcontrol.cli.demo import DEMO_CONFIG
from flowcontrol.config.model import FunctionConfig
from flowcontrol.sim.simulate import simulate
from flowcontrol.sim.tracegen import TraceSpec, generate, iterate

N = 20_000
SPEC = TraceSpec(events=N, rate=0.7, keys=2000, zipf=1.1, name="ai/image.generate", seed=1)
CONFIG = FunctionConfig.from_mapping(DEMO_CONFIG)


def trace(n: int = N) -> list[dict[str, Any]]:
    return generate(TraceSpec(**{**_spec_fields(), "events": n}))


def _spec_fields() -> dict[str, Any]:
    return {f: getattr(SPEC, f) for f in SPEC.__dataclass_fields__}


def ours(events: list[dict[str, Any]], keep_rows: bool = False) -> Callable[[], None]:
    def run() -> None:
        simulate([CONFIG], iter(events), keep_rows=keep_rows, presorted=True)

    return run


_SIMULATE: Any = simulate_mod


def general(events: list[dict[str, Any]]) -> Callable[[], None]:
    """``ours`` with the lean pipeline switched off: the general path."""

    def run() -> None:
        lean = _SIMULATE.plain
        _SIMULATE.plain = lambda *a, **k: False
        try:
            simulate([CONFIG], iter(events), keep_rows=False, presorted=True)
        finally:
            _SIMULATE.plain = lean

    return run


def floor(events: list[dict[str, Any]]) -> Callable[[], None]:
    """A minimal heapq simulation of the same traffic (admission only, no queue)."""
    period, limit, per_user = 60.0, 50, 3
    t_ms = [(e["ts"], e["data"]["user_id"]) for e in events]

    def run() -> None:
        emission = period / limit
        tat = 0.0
        running: dict[str, int] = {}
        heap: list[tuple[float, int, str]] = []
        seq = 0
        for ts, user in t_ms:
            now = ts / 1000.0
            while heap and heap[0][0] <= now:
                _, _, u = heapq.heappop(heap)
                running[u] -= 1
            t = tat if tat > now else now
            if t + emission - now <= emission * limit and running.get(user, 0) < per_user:
                tat = t + emission
                running[user] = running.get(user, 0) + 1
                seq += 1
                heapq.heappush(heap, (now + 20.0, seq, user))
        while heap:
            _, _, u = heapq.heappop(heap)
            running[u] -= 1

    return run


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return trace()


def test_ours_demo(benchmark: Any, events: list[dict[str, Any]]) -> None:
    benchmark.pedantic(ours(events), rounds=3, iterations=1)


def test_ours_demo_rows(benchmark: Any, events: list[dict[str, Any]]) -> None:
    benchmark.pedantic(ours(events, keep_rows=True), rounds=3, iterations=1)


def test_general_demo(benchmark: Any, events: list[dict[str, Any]]) -> None:
    benchmark.pedantic(general(events), rounds=3, iterations=1)


def test_floor(benchmark: Any, events: list[dict[str, Any]]) -> None:
    benchmark.pedantic(floor(events), rounds=3, iterations=1)


def _best(fn: Callable[[], None], rounds: int = 3) -> float:
    """Best CPU time of a few rounds (CPU, not wall: the ratio survives a busy machine)."""
    best = float("inf")
    for _ in range(rounds):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def million(n: int = 1_000_000, lean: bool = True) -> None:
    """``n`` events streamed from the generator, statistics only: wall and CPU time (on
    the general path with ``lean=False``)."""
    spec = TraceSpec(**{**_spec_fields(), "events": n})
    saved = _SIMULATE.plain
    if not lean:
        _SIMULATE.plain = lambda *a, **k: False
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        result = simulate([CONFIG], iterate(spec), keep_rows=False, presorted=True)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        _SIMULATE.plain = saved
    path = "lean" if lean else "general"
    print(f"{n:,} events ({path} path): {wall:.1f} s wall, {cpu:.1f} s CPU "
          f"({n / cpu:,.0f} events/s of CPU); {len(result.stats):,} keys in the report")


def memory(sizes: tuple[int, ...] = (25_000, 100_000, 400_000)) -> None:
    """Peak traced memory for growing traces over the same users: it should follow the
    active keys, the event ids of the last 24 h (the platform's idempotency window on
    event ids) and 8 bytes per run for the latencies kept for percentiles."""
    for n in sizes:
        spec = TraceSpec(**{**_spec_fields(), "events": n})
        tracemalloc.start()
        simulate([CONFIG], iterate(spec), keep_rows=False, presorted=True)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"{n:>9,} events: peak {peak / 2**20:7.1f} MiB (of which latencies "
              f"{8 * n / 2**20:5.1f} MiB, trace arrays {24 * n / 2**20:5.1f} MiB)")


def cli(n: int = 1_000_000) -> None:
    """``flowcontrol simulate`` on an ``n``-event JSON Lines file of the same traffic, in a
    child process: wall and CPU time and peak resident memory (text report, so the trace
    streams through the lean pipeline)."""
    spec = TraceSpec(**{**_spec_fields(), "events": n})
    with tempfile.TemporaryDirectory() as tmp:
        cfg, trace_file = os.path.join(tmp, "f.json"), os.path.join(tmp, "t.jsonl")
        with open(cfg, "w") as f:
            json.dump(DEMO_CONFIG, f)
        with open(trace_file, "w") as f:
            for ev in iterate(spec):
                f.write(json.dumps(ev, separators=(",", ":")) + "\n")
        size = os.path.getsize(trace_file)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter()
        subprocess.run([sys.executable, "-m", "flowcontrol", "simulate", cfg, trace_file],
                       check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - wall
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    print(f"flowcontrol simulate, {n:,} events ({size / 2**20:.0f} MiB of JSON Lines): "
          f"{wall:.1f} s wall, {cpu:.1f} s CPU, peak RSS {after.ru_maxrss / 1024:.0f} MiB")


def main(argv: Iterable[str]) -> None:
    argv = list(argv)
    if "--cli" in argv:
        cli()
        return
    lean = "--general" not in argv
    if "--million" in argv:
        million(lean=lean)
        return
    if "--events" in argv:
        million(int(argv[argv.index("--events") + 1]), lean=lean)
        return
    if "--memory" in argv:
        memory()
        return
    events = trace()
    t_ours = _best(ours(events))
    t_general = _best(general(events))
    t_rows = _best(ours(events, keep_rows=True))
    t_floor = _best(floor(events))
    print(f"{N:,} events, demo config (best CPU time of 3)")
    print(f"  ours (stats only, lean)     {N / t_ours:>12,.0f} events/s")
    print(f"  ours (stats only, general)  {N / t_general:>12,.0f} events/s")
    print(f"  ours (every row)            {N / t_rows:>12,.0f} events/s")
    print(f"  floor                       {N / t_floor:>12,.0f} events/s")
    print(f"  general / lean time         {t_general / t_ours:>12.1f}x")
    print(f"  lean / floor time           {t_ours / t_floor:>12.1f}x")


if __name__ == "__main__":
    main(sys.argv[1:])
