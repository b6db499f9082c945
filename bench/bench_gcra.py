"""Benchmarks: ``Throttle``, ``RateLimit`` and the simulator's inlined throttle against a
ten-line dict-of-floats GCRA (``DictGcra``, the floor of pure Python). Only ratios count.

**The matrix** (the default of ``python bench/bench_gcra.py``): every machine against
``DictGcra`` with the same quota, both fed by a ``ManualClock`` on the same schedule, for
each capacity in ``CAPS`` and each pattern in ``PATTERNS``:

* ``hot/admit``: one key, the clock moving one emission interval ``T`` per call, so every
  call is admitted (a key at full capacity);
* ``hot/refuse``: one saturated key and a fixed clock: every call is refused (ours with
  its exact ``retry_at``);
* ``rr/admit``: 10,000 keys in turn, the clock moving ``T`` per round: every call admitted;
* ``rr/refuse``: 10,000 keys in turn, each saturated at its own instant (so each has its
  own ``retry_at``), a fixed clock: every call refused;
* ``new/admit``: a stream of keys never seen, the clock moving ``T / 10,000`` per call;
* ``hot/drain`` (beyond the issue's list): one key, a fixed clock during a round of 10,000
  calls and a refill between rounds: a burst drained, ``remaining`` different every call.

Machines: ``Throttle(limit, "1s", burst)`` with ``limit = min(cap, 1000)``;
``RateLimit(10 * (cap - 1), "60s")`` (limit 1 for capacity 1; the platform's implicit
burst gives ``cap``; ``T`` is then mostly not a whole number of ns); ``lean``: the
simulator's inlined throttle
(``flowcontrol.sim.lean``) with the Throttle's quota, called as the pipeline calls it
(``t_acquire(key, now)``, answering ``None`` or the ``retry_at``). Each figure is ours in
calls/s divided by the baseline's, the median of per-repetition ratios (the two sides
alternate, timed with the thread's CPU clock); both sides' decisions are checked equal
before timing.

**The clock cases** (``--clock``): ``Throttle(1000, "60s")`` on one hot key and round-robin
over 10,000 keys, against ``DictGcra`` with ``time.monotonic()`` read per operation. On
``hot`` almost every call is refused, on ``rr`` every call is allowed; each call of a case
runs ``OPS`` operations, for ``ROUNDS`` rounds:

* ``baseline``: DictGcra + ``time.monotonic()`` per op (the reference, 1.00x);
* ``baseline_fixed``: DictGcra with a fixed ``now`` (the state machine alone);
* ``ours``: ``Throttle(1000, "60s", clock=time.monotonic_ns)``, returning a ``GcraDecision``;
* ``ours_fixed``: the same with a constant C-level clock (``itertools.repeat(t).__next__``);
* ``token_bucket`` and ``limits`` (FixedWindow, memory storage) when importable (optional,
  not project dependencies).

Run::

    python bench/bench_gcra.py                  # the matrix: ratios (about 4 minutes)
    python bench/bench_gcra.py --machines Throttle --caps 2000,100000 --reps 9
    python bench/bench_gcra.py --clock          # the clock cases: M ops/s and ratios
    pytest bench/bench_gcra.py --benchmark-only --benchmark-group-by=group
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from flowcontrol import ManualClock, RateLimit, Throttle
from flowcontrol.config.model import FunctionConfig
from flowcontrol.sim.lean import _Lean

OPS = 10_000
ROUNDS = 60
HOT = ["hot"] * OPS
RR = [f"user:{i}" for i in range(OPS)]
SCENARIOS = {"hot": HOT, "rr": RR}


class DictGcra:
    """The floor: key -> theoretical arrival time (a float, in the caller's unit of time);
    ``now`` is passed in."""

    __slots__ = ("t", "tat", "tau")

    def __init__(self, limit: int = 1000, period: float = 60.0, burst: int = 1000) -> None:
        self.tat: dict[str, float] = {}
        self.t = period / limit
        self.tau = self.t * burst

    def allow(self, key: str, now: float) -> bool:
        tat = self.tat.get(key, now)
        if tat < now:
            tat = now
        if tat + self.t - now > self.tau:
            return False
        self.tat[key] = tat + self.t
        return True

    def fill(self, key: str, now: float) -> None:
        """Saturate ``key`` at ``now`` (as ``burst`` admissions at once would)."""
        self.tat[key] = now + self.tau


def baseline(keys: list[str]) -> Callable[[], None]:
    allow, clock = DictGcra().allow, time.monotonic

    def run() -> None:
        for k in keys:
            allow(k, clock())

    return run


def baseline_fixed(keys: list[str]) -> Callable[[], None]:
    allow = DictGcra().allow

    def run() -> None:
        for k in keys:
            allow(k, 1000.0)

    return run


def ours(keys: list[str]) -> Callable[[], None]:
    acquire = Throttle(1000, "60s", clock=time.monotonic_ns).acquire

    def run() -> None:
        for k in keys:
            acquire(k)

    return run


def ours_fixed(keys: list[str]) -> Callable[[], None]:
    fixed = itertools.repeat(1_000 * 1_000_000_000).__next__
    acquire = Throttle(1000, "60s", clock=fixed).acquire

    def run() -> None:
        for k in keys:
            acquire(k)

    return run


def token_bucket(keys: list[str]) -> Callable[[], None]:
    tb = pytest.importorskip("token_bucket")
    consume = tb.Limiter(1000 / 60, 1000, tb.MemoryStorage()).consume

    def run() -> None:
        for k in keys:
            consume(k)

    return run


def limits(keys: list[str]) -> Callable[[], None]:
    lim = pytest.importorskip("limits")
    item = lim.parse("1000/minute")
    hit = lim.strategies.FixedWindowRateLimiter(lim.storage.MemoryStorage()).hit

    def run() -> None:
        for k in keys:
            hit(item, k)

    return run


CASES: dict[str, Callable[[list[str]], Callable[[], None]]] = {
    "baseline": baseline,
    "baseline_fixed": baseline_fixed,
    "ours": ours,
    "ours_fixed": ours_fixed,
    "token_bucket": token_bucket,
    "limits": limits,
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("case", list(CASES))
def test_acquire(benchmark: Any, case: str, scenario: str) -> None:
    benchmark.group = scenario
    benchmark.extra_info["ops_per_call"] = OPS
    benchmark.pedantic(CASES[case](SCENARIOS[scenario]), rounds=ROUNDS, warmup_rounds=1)


# -- the matrix: patterns x capacities, one ManualClock --------------------------------

S = 1_000_000_000
T0 = 1_000 * S  # where every clock starts
CAPS = (1, 10, 1000, 2000, 100_000)
PATTERNS = ("hot/admit", "hot/refuse", "rr/admit", "rr/refuse", "new/admit", "hot/drain")
MACHINES = ("Throttle", "RateLimit", "lean")
Run = Callable[[list[str]], None]


class TickClock(ManualClock):
    """A ``ManualClock`` that also moves ``dt`` ns forward at every read."""

    __slots__ = ("dt",)

    def __init__(self, start: int, dt: int) -> None:
        super().__init__(start)
        self.dt = dt

    def __call__(self) -> int:
        self._now += self.dt
        return self._now


def quota(machine: str, cap: int) -> tuple[int, int, int]:
    """``(limit, period_ns, burst)`` of the machine with capacity ``cap``."""
    if machine == "RateLimit":
        limit = max(1, 10 * (cap - 1))
        return limit, 60 * S, limit // 10
    limit = min(cap, 1000)
    return limit, S, cap - limit


class Side:
    """One contender of a cell: its clock, a run over a list of keys, a way to saturate a
    key at the clock's instant, and how many calls of a list it admits (for the check)."""

    def __init__(self, clock: ManualClock, run: Run, fill: Callable[[str], object],
                 admitted: Callable[[list[str]], int]) -> None:
        self.clock, self.run, self.fill, self.admitted = clock, run, fill, admitted


def base_side(machine: str, cap: int, dt: int) -> Side:
    """``DictGcra`` with the machine's quota."""
    limit, period, _ = quota(machine, cap)
    clock = TickClock(T0, dt) if dt else ManualClock(T0)
    g = DictGcra(limit, period, cap)
    allow = g.allow

    def run(keys: list[str]) -> None:
        for k in keys:
            allow(k, clock())

    def admitted(keys: list[str]) -> int:
        return sum(allow(k, clock()) for k in keys)

    return Side(clock, run, lambda key: g.fill(key, clock()), admitted)


def our_side(machine: str, cap: int, dt: int) -> Side:
    """``Throttle``, ``RateLimit`` or the lean pipeline's throttle."""
    limit, period, burst = quota(machine, cap)
    clock = TickClock(T0, dt) if dt else ManualClock(T0)
    if machine == "lean":
        cfg = FunctionConfig.from_mapping({
            "id": "f", "triggers": [{"event": "e"}], "steps": [{"run": "1s"}],
            "throttle": {"limit": limit, "period": f"{period // S}s", "burst": burst},
        })
        lean = _Lean(cfg, S, "", (0, 0))
        t_acquire = lean.t_acquire

        def run(keys: list[str]) -> None:
            for k in keys:
                t_acquire(k, clock())

        def fill(key: str) -> None:  # as ``cap`` starts at once would leave it
            lean.t_at[key] = clock() * lean.t_scale + lean.t_step

        return Side(clock, run, fill,
                    lambda keys: sum(t_acquire(k, clock()) is None for k in keys))
    m = (Throttle(limit, period, burst, clock=clock) if machine == "Throttle"
         else RateLimit(limit, period, clock=clock))
    assert m.capacity == cap, (machine, cap, m.capacity)
    acquire = m.acquire

    def run_ours(keys: list[str]) -> None:
        for k in keys:
            acquire(k)

    return Side(clock, run_ours, lambda key: acquire(key, cap),
                lambda keys: sum(acquire(k).allowed for k in keys))


_fresh = itertools.count()


def new_keys() -> list[str]:
    """``OPS`` keys never handed out before."""
    n = next(_fresh)
    return [f"new{n}:{i}" for i in range(OPS)]


class Cell:
    """One pattern at one capacity: the two sides, set up, and the keys of each round."""

    def __init__(self, machine: str, cap: int, pattern: str) -> None:
        limit, period, _ = quota(machine, cap)
        t = -(-period // limit)  # T rounded up
        dt = {"hot/admit": t, "rr/admit": -(-t // OPS), "new/admit": -(-t // OPS)}.get(pattern, 0)
        self.pattern = pattern
        self.sides = {"base": base_side(machine, cap, dt), "ours": our_side(machine, cap, dt)}
        self.keys = RR if pattern.startswith("rr") else HOT
        self.refill = t * OPS if pattern == "hot/drain" else 0
        if pattern.endswith("refuse"):
            for side in self.sides.values():
                for i, key in enumerate(dict.fromkeys(self.keys)):
                    side.clock.set(T0 + i)  # each key saturated at its own instant
                    side.fill(key)

    def round_keys(self) -> list[str]:
        return new_keys() if self.pattern == "new/admit" else self.keys

    def run(self, side: str, batch: list[list[str]]) -> float:
        """CPU seconds of ``side`` over the rounds in ``batch``."""
        s = self.sides[side]
        run, clock, refill = s.run, s.clock, self.refill
        start = time.thread_time()
        for keys in batch:
            if refill:
                clock.advance(refill)
            run(keys)
        return time.thread_time() - start

    def check(self) -> None:
        """Both sides admit the calls the pattern says (a drain: the same number, give or
        take the one a float TAT may miscount)."""
        keys = self.round_keys()
        counts = []
        for s in self.sides.values():
            if self.refill:
                s.clock.advance(self.refill)
            counts.append(s.admitted(keys))
        base, ours = counts
        want = {"admit": len(keys), "refuse": 0}.get(self.pattern.split("/")[1])
        ok = base == ours == want if want is not None else abs(base - ours) <= 1
        assert ok, (self.pattern, counts)


def measure(machine: str, cap: int, pattern: str, reps: int, rounds: int) -> list[float]:
    """Per repetition, ours in calls/s over the baseline's (the sides alternate)."""
    cell = Cell(machine, cap, pattern)
    cell.check()
    ratios = []
    for rep in range(reps):
        batch = [cell.round_keys() for _ in range(rounds)]
        order = ("base", "ours") if rep % 2 else ("ours", "base")
        took = {side: cell.run(side, batch) for side in order}
        ratios.append(took["base"] / took["ours"])
    return ratios


def matrix(machines: tuple[str, ...], caps: tuple[int, ...], patterns: tuple[str, ...],
           reps: int, rounds: int) -> None:
    """Print the ratio table (ours / baseline, median of ``reps``; ``*`` below 0.6x)."""
    for machine in machines:
        print(f"-- {machine}: calls/s x the dict-of-floats GCRA's (median of {reps}, "
              f"min..max)")
        print(f"{'pattern':<11}" + "".join(f"{f'cap {c:,}':>19}" for c in caps))
        for pattern in patterns:
            cells = []
            for cap in caps:
                r = measure(machine, cap, pattern, reps, rounds)
                med = statistics.median(r)
                flag = "*" if med < 0.6 else " "
                cells.append(f"{med:5.2f}{flag}({min(r):4.2f}..{max(r):4.2f})")
            print(f"{pattern:<11}" + "".join(f"{c:>19}" for c in cells), flush=True)


@pytest.mark.parametrize("side", ["base", "ours"])
@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("cap", CAPS)
@pytest.mark.parametrize("machine", MACHINES)
def test_matrix(benchmark: Any, machine: str, cap: int, pattern: str, side: str) -> None:
    cell = Cell(machine, cap, pattern)
    cell.check()
    keys: Iterator[list[str]] = iter(lambda: cell.round_keys(), None)
    benchmark.group = f"{machine} {pattern} cap={cap}"
    benchmark.extra_info["ops_per_call"] = OPS
    benchmark.pedantic(lambda: cell.run(side, [next(keys)]), rounds=10, warmup_rounds=1)


def clock_cases() -> None:
    """Best and median of 7 interleaved repetitions per case: M ops/s and ratios (I/O).

    Timed with the thread's CPU clock, so other processes on a busy machine distort less;
    the best repetition is the least disturbed one, the median shows the spread.
    """
    results: dict[tuple[str, str], list[float]] = {}
    for _ in range(7):
        for scenario, keys in SCENARIOS.items():
            for name, make in CASES.items():
                try:
                    run = make(keys)
                except pytest.skip.Exception:
                    continue
                run()  # warm-up pass
                start = time.thread_time()
                for _ in range(ROUNDS):
                    run()
                elapsed = time.thread_time() - start
                results.setdefault((scenario, name), []).append(ROUNDS * OPS / elapsed / 1e6)
    for scenario in SCENARIOS:
        ref = results[(scenario, "baseline")]
        print(f"-- {scenario}: best (median) M ops/s, and x the baseline's")
        for name in CASES:
            if (scenario, name) in results:
                rates = results[(scenario, name)]
                best, med = max(rates), statistics.median(rates)
                print(f"{name:<16} {best:6.2f} ({med:5.2f})   {best / max(ref):5.2f}x "
                      f"({med / statistics.median(ref):5.2f}x)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clock", action="store_true", help="the clock cases instead")
    p.add_argument("--machines", default=",".join(MACHINES))
    p.add_argument("--caps", default=",".join(map(str, CAPS)))
    p.add_argument("--patterns", default=",".join(PATTERNS))
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    if a.clock:
        clock_cases()
        return
    matrix(tuple(a.machines.split(",")), tuple(int(c) for c in a.caps.split(",")),
           tuple(a.patterns.split(",")), a.reps, a.rounds)


if __name__ == "__main__":
    main()
