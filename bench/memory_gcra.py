"""Memory of one million distinct keys: Throttle vs a dict of floats (I/O: prints a table).

Measured with tracemalloc (net traced bytes; the key strings are built beforehand and not
counted). Steps, each from a fresh machine:

1. baseline: the dict-of-floats GCRA of ``bench_gcra.py`` after one hit on each key;
2. ours: ``Throttle(1000, "60s")`` after one acquire on each key;
3. ours, then the clock moves past the keys' TATs and normal traffic (1,000 acquires on
   10 other keys) runs: the amortised sweep drops the idle keys;
4. ours, then the clock moves on and ``prune()`` is called.

Run: ``python bench/memory_gcra.py [KEYS]`` (default 1,000,000).
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_gcra import DictGcra

from flowcontrol import ManualClock, Throttle

T0 = 1_000_000 * 1_000_000_000  # a realistic monotonic_ns value (about 11.6 days)


def traced(step: Callable[[], Any]) -> tuple[int, Any]:
    """Net bytes still allocated after ``step`` (whose result is kept alive)."""
    gc.collect()
    tracemalloc.start()
    kept = step()
    gc.collect()
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return current, kept


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    keys = [f"user:{i}" for i in range(n)]
    traffic = [f"hot:{i % 10}" for i in range(1000)]

    def baseline() -> object:
        g = DictGcra()
        for k in keys:
            g.allow(k, 1000.0)
        return g

    def ours(then: str) -> Callable[[], object]:
        def run() -> object:
            clock = ManualClock(T0)
            t = Throttle(1000, "60s", clock=clock)
            for k in keys:
                t.acquire(k)
            if then != "none":
                clock.advance("61s")  # past every TAT (and past one DVT)
                if then == "traffic":
                    for k in traffic:
                        t.acquire(k)
                else:
                    t.prune()
            return t

        return run

    base, _ = traced(baseline)
    empty, _ = traced(lambda: Throttle(1000, "60s", clock=ManualClock(T0)))
    full, t_full = traced(ours("none"))
    after_traffic, t_traffic = traced(ours("traffic"))
    after_prune, t_prune = traced(ours("prune"))
    print(f"{n:,} distinct keys (tracemalloc, net bytes)")
    print(f"  dict-of-floats baseline      {base / n:7.1f} B/key  {base / 2**20:8.1f} MiB")
    print(f"  Throttle                     {full / n:7.1f} B/key  {full / 2**20:8.1f} MiB"
          f"  {full / base:.2f}x baseline  ({len(t_full):,} keys)")
    print(f"  empty Throttle               {empty / 2**10:7.1f} KiB")
    print(f"  after idle + normal traffic  {after_traffic / 2**10:7.1f} KiB"
          f"  ({len(t_traffic):,} keys)")
    print(f"  after idle + prune()         {after_prune / 2**10:7.1f} KiB"
          f"  ({len(t_prune):,} keys)")


if __name__ == "__main__":
    main()
