"""Benchmarks: ``Debounce.push`` and ``Batcher.add`` per operation (goal: under 2 us each).

Each call of a case runs ``OPS`` operations on a fresh machine, for ``ROUNDS`` rounds;
the clock is ``time.monotonic_ns`` (a caller's real clock) unless the case says
``fixed``. Cases:

* ``debounce_hot``: one key, every push extends the open debounce (the common path);
* ``debounce_rr``: 10,000 keys in turn; the first pass opens, later ones extend;
* ``debounce_cycle``: 10,000 keys each opened once, then one ``poll()`` fires them all
  (cost per event of open + fire);
* ``batch_rr``: 100 keys in turn, ``max_size`` 100, unique event ids (dedupe insert on
  every add; one flush per 100 adds);
* ``batch_hot``: one key, ``max_size`` 100;
* ``*_baseline``: the floor of pure Python for the same job, written here: a dict of
  ``[event_id, fire_at]`` lists returning a tuple (debounce), and a dict of lists plus
  a dedupe dict returning a tuple (batch), with no results objects, no timers, no
  ordering by ``ts``.

Only ratios from one run count. Run::

    pytest bench/bench_debounce_batch.py --benchmark-only --benchmark-group-by=group \
        --benchmark-timer=time.process_time
    python bench/bench_debounce_batch.py   # us/op per case and ratios (best of 40, I/O)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from flowcontrol import Batcher, Debounce, ManualClock

OPS = 10_000
ROUNDS = 30
S = 1_000_000_000
RR_KEYS = [f"user:{i}" for i in range(OPS)]
BATCH_KEYS = [f"campaign:{i % 100}" for i in range(OPS)]
HOT_KEYS = ["hot"] * OPS
EVENT_IDS = [f"01J{i:023d}" for i in range(OPS)]


def debounce(keys: list[str]) -> Callable[[], None]:
    def run() -> None:
        push = Debounce("10s", "60s", clock=time.monotonic_ns).push
        for k, e in zip(keys, EVENT_IDS, strict=True):
            push(k, e)

    return run


def debounce_baseline(keys: list[str]) -> Callable[[], None]:
    def run() -> None:
        state: dict[str, list[Any]] = {}
        clock, period = time.monotonic_ns, 10 * S
        for k, e in zip(keys, EVENT_IDS, strict=True):
            now = clock()
            s = state.get(k)
            if s is None:
                state[k] = [e, now + period]
                r: tuple[Any, ...] = ("scheduled", now + period, None)
            else:
                r = ("extended", now + period, s[0])
                s[0], s[1] = e, now + period
            del r

    return run


def debounce_cycle() -> Callable[[], None]:
    def run() -> None:
        clock = ManualClock()
        d = Debounce("10s", clock=clock)
        push = d.push
        for k, e in zip(RR_KEYS, EVENT_IDS, strict=True):
            push(k, e)
        clock.advance(10 * S)
        assert len(d.poll()) == OPS

    return run


def batch(keys: list[str]) -> Callable[[], None]:
    def run() -> None:
        add = Batcher(100, "30s", clock=time.monotonic_ns).add
        for k, e in zip(keys, EVENT_IDS, strict=True):
            add(k, e, 200)

    return run


def batch_baseline(keys: list[str]) -> Callable[[], None]:
    def run() -> None:
        open_: dict[str, list[str]] = {}
        seen: dict[str, int] = {}
        clock, window = time.monotonic_ns, 1800 * S
        for k, e in zip(keys, EVENT_IDS, strict=True):
            now = clock()
            if e in seen:
                continue
            seen[e] = now + window
            ids = open_.setdefault(k, [])
            ids.append(e)
            if len(ids) >= 100:
                r: tuple[Any, ...] = ("flushed", tuple(ids))
                del open_[k]
            else:
                r = ("appended", len(ids))
            del r

    return run


CASES: dict[str, tuple[str, Callable[[], Callable[[], None]]]] = {
    "debounce_hot": ("debounce", lambda: debounce(HOT_KEYS)),
    "debounce_hot_baseline": ("debounce", lambda: debounce_baseline(HOT_KEYS)),
    "debounce_rr": ("debounce", lambda: debounce(RR_KEYS)),
    "debounce_rr_baseline": ("debounce", lambda: debounce_baseline(RR_KEYS)),
    "debounce_cycle": ("debounce", debounce_cycle),
    "batch_rr": ("batch", lambda: batch(BATCH_KEYS)),
    "batch_rr_baseline": ("batch", lambda: batch_baseline(BATCH_KEYS)),
    "batch_hot": ("batch", lambda: batch(HOT_KEYS)),
    "batch_hot_baseline": ("batch", lambda: batch_baseline(HOT_KEYS)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_ops(benchmark: Any, case: str) -> None:
    group, make = CASES[case]
    benchmark.group = group
    benchmark.extra_info["ops_per_call"] = OPS
    benchmark.pedantic(make(), rounds=ROUNDS, warmup_rounds=1)


def main() -> None:
    """Best and median of 40 interleaved single runs per case: us/op and ratios (I/O).

    Times are CPU time of this process (``time.process_time``), so a shared, loaded
    machine's preemptions do not count; the best run is the estimate of the intrinsic
    cost and the ratio column compares best with best.
    """
    import statistics

    runs = {name: make() for name, (_, make) in CASES.items()}
    results: dict[str, list[float]] = {name: [] for name in CASES}
    for run in runs.values():
        run()  # warm-up pass
    for _ in range(40):
        for name, run in runs.items():
            start = time.process_time()
            run()
            results[name].append((time.process_time() - start) / OPS * 1e6)
    for name in CASES:
        best, median = min(results[name]), statistics.median(results[name])
        base = results.get(f"{name}_baseline")
        ratio = f"  {best / min(base):5.2f}x baseline" if base else ""
        print(f"{name:<24} best {best:6.3f} us/op  median {median:6.3f}{ratio}")


if __name__ == "__main__":
    main()
