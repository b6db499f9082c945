"""Throttle: the platform's GCRA on run starts, as tables of fixed instants and decisions.

Sources of the cases: spec sections 3 and 12 (upstream Go tests), Appendix A, and the
seed flow-control sheet. Instants are nanoseconds; ``S`` is one second.
"""

from __future__ import annotations

import gc
import json
import tracemalloc
from collections.abc import Callable
from fractions import Fraction
from math import ceil, floor

import pytest

from flowcontrol import ManualClock
from flowcontrol.machines.gcra import GcraDecision, RateLimit, Throttle

S = 1_000_000_000
MS = 1_000_000
OK = True
NO = False


def drain_fifo(throttle: Throttle, clock: ManualClock, arrivals: list[int], key: str = "k"
               ) -> list[int]:
    """Start times of queued starts that retry exactly at ``retry_at`` (FIFO, one key)."""
    pending = sorted(arrivals)
    queue: list[int] = []
    starts: list[int] = []
    retry: int | None = None
    while pending or queue:
        candidates = ([pending[0]] if pending else []) + ([retry] if queue and retry else [])
        clock.set(max(clock.now, min(candidates)))
        while pending and pending[0] <= clock.now:
            queue.append(pending.pop(0))
        while queue:
            d = throttle.acquire(key)
            if not d.allowed:
                assert d.retry_at is not None and d.retry_at > clock.now
                retry = d.retry_at
                break
            queue.pop(0)
            starts.append(clock.now)
    return starts


def play(machine: Throttle | RateLimit, clock: ManualClock,
         table: list[tuple[int, str, int, bool, int | None, int]]) -> None:
    """Rows: (instant, key, n, allowed, retry_at, remaining) checked with acquire."""
    for at, key, n, allowed, retry_at, remaining in table:
        clock.set(at)
        assert machine.acquire(key, n) == GcraDecision(allowed, retry_at, remaining), (at, key, n)


# -- the documented examples -----------------------------------------------------------

def test_docs_example_two_per_six_seconds_burst_one() -> None:
    # throttling page: limit 2, period 6s, burst 1, six events 0.5 s apart:
    # three start at once (limit + burst), then one every 3 s (period / limit).
    clock = ManualClock()
    t = Throttle(2, "6s", 1, clock=clock)
    starts = drain_fifo(t, clock, [i * S // 2 for i in range(6)])
    assert starts == [0, S // 2, S, 3 * S, 6 * S, 9 * S]


def test_docs_example_as_raw_decisions() -> None:
    clock = ManualClock()
    t = Throttle(2, "6s", 1, clock=clock)
    play(t, clock, [
        (0,          "k", 1, OK, None, 2),
        (S // 2,     "k", 1, OK, None, 1),
        (S,          "k", 1, OK, None, 0),
        (3 * S // 2, "k", 1, NO, 3 * S, 0),
        (3 * S - 1,  "k", 1, NO, 3 * S, 0),
        (3 * S,      "k", 1, OK, None, 0),
        (3 * S,      "k", 1, NO, 6 * S, 0),
        (6 * S,      "k", 1, OK, None, 0),
        (9 * S,      "k", 1, OK, None, 0),
        (9 * S,      "other", 1, OK, None, 2),
    ])


def test_seed_crm_sync_ten_per_minute_plus_five_burst_per_customer() -> None:
    # seed: throttle {limit: 10, period: "60s", burst: 5, key: customer_id}
    clock = ManualClock()
    t = Throttle(10, "60s", 5, clock=clock)
    decisions = [t.acquire("customer-a") for _ in range(16)]
    assert [d.allowed for d in decisions] == [True] * 15 + [False]
    assert [d.remaining for d in decisions[:15]] == list(range(14, -1, -1))
    assert decisions[15].retry_at == 6 * S
    assert t.acquire("customer-b").allowed  # per customer
    clock.set(6 * S)
    assert t.acquire("customer-a") == GcraDecision(True, None, 0)
    assert t.acquire("customer-a") == GcraDecision(False, 12 * S, 0)


def test_seed_fair_ai_fifty_per_minute_on_one_shared_key() -> None:
    clock = ManualClock()
    t = Throttle(50, "60s", clock=clock)
    assert sum(t.acquire('"gpu-cluster"').allowed for _ in range(60)) == 50
    starts = drain_fifo(t, clock, [0] * 3, key='"gpu-cluster"')
    assert starts == [1200 * MS, 2400 * MS, 3600 * MS]


# -- upstream tests (spec section 12) ----------------------------------------------------

def test_legacy_queue_rate_limit_one_per_five_seconds() -> None:
    # TestQueueRateLimit @aa71e1b: limit 1/5s, burst 0
    clock = ManualClock()
    t = Throttle(1, "5s", clock=clock)
    play(t, clock, [
        (0,     "fn-a", 1, OK, None, 0),
        (0,     "fn-a", 1, NO, 5 * S, 0),
        (0,     "fn-b", 1, OK, None, 0),
        (6 * S, "fn-a", 1, OK, None, 0),
    ])


def test_legacy_queue_rate_limit_one_per_ten_seconds_burst_three() -> None:
    # 4 leases ok, the 5th throttled; after 11 s one ok then throttled; 40 s later a burst.
    clock = ManualClock()
    t = Throttle(1, "10s", 3, clock=clock)
    play(t, clock, [
        (0,      "k", 1, OK, None, 3),
        (0,      "k", 1, OK, None, 2),
        (0,      "k", 1, OK, None, 1),
        (0,      "k", 1, OK, None, 0),
        (0,      "k", 1, NO, 10 * S, 0),
        (11 * S, "k", 1, OK, None, 0),
        (11 * S, "k", 1, NO, 20 * S, 0),
        (51 * S, "k", 1, OK, None, 3),
        (51 * S, "k", 1, OK, None, 2),
        (51 * S, "k", 1, OK, None, 1),
        (51 * S, "k", 1, OK, None, 0),
        (51 * S, "k", 1, NO, 61 * S, 0),
    ])


def test_constraint_api_throttle_rejected_grants_one_of_two() -> None:
    # TestConstraintEnforcement "throttle rejected": limit 1/3600 s, amount 2 -> 1 lease.
    clock = ManualClock(7 * S)
    t = Throttle(1, 3600 * S, clock=clock)
    grant = min(2, t.peek("k").remaining)
    assert grant == 1
    assert t.acquire("k", grant) == GcraDecision(True, None, 0)
    assert t.peek("k") == GcraDecision(False, 7 * S + 3600 * S, 0)


def test_refill_of_twenty_with_ten_per_minute() -> None:
    # Appendix A: throttle 10/60s burst 0, refill 20 -> 10 granted, 0 at +5.999 s, 1 at +6 s.
    clock = ManualClock()
    t = Throttle(10, "60s", clock=clock)
    cap = t.peek("k").remaining
    assert cap == 10
    assert t.acquire("k", min(20, cap)) == GcraDecision(True, None, 0)
    clock.set(5999 * MS)
    assert t.peek("k").remaining == 0
    clock.set(6 * S)
    assert t.peek("k").remaining == 1


@pytest.mark.parametrize(
    ("limit", "period", "burst", "at_once", "gap"),
    [
        # tests/golang/throttle_test.go, five events at once; the test's bounds in comments
        (1, 5 * S, 0, 1, 5 * S),        # gap 4-7 s
        (2, 5 * S, 0, 2, 5 * S // 2),   # gap <= 4 s
        (1, 5 * S, 1, 2, 5 * S),        # gap <= 7 s
        (2, 5 * S, 1, 3, 5 * S // 2),   # gap <= 3.5 s
    ],
)
def test_integration_five_events_at_once(limit: int, period: int, burst: int, at_once: int,
                                         gap: int) -> None:
    clock = ManualClock()
    starts = drain_fifo(Throttle(limit, period, burst, clock=clock), clock, [0] * 5)
    assert starts == [0] * at_once + [gap * i for i in range(1, 6 - at_once)]


def test_keyed_throttle_distinct_keys_run_at_once() -> None:
    clock = ManualClock()
    t = Throttle(1, "3s", clock=clock)
    assert [t.acquire(f"fn-{i}").allowed for i in range(3)] == [True, True, True]


# -- normalisation and arguments ---------------------------------------------------------

def test_limit_zero_is_one_as_on_the_platform() -> None:
    clock = ManualClock()
    t = Throttle(0, "1m", clock=clock)
    assert t.limit == 1 and t.capacity == 1
    assert [t.acquire("k").allowed for _ in range(2)] == [True, False]


def test_platform_constructor_truncates_to_whole_seconds() -> None:
    clock = ManualClock()
    assert Throttle.platform(1, "1500ms", clock=clock).period == S
    assert Throttle.platform(1, "1h30m", 2, clock=clock).period == 5400 * S
    assert Throttle(1, "1500ms", clock=clock).period == 1500 * MS  # ours keeps ns
    with pytest.raises(ValueError, match="truncates to 0 s"):
        Throttle.platform(1, "500ms", clock=clock)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((-1, "1s", 0), "limit"),
        ((1.5, "1s", 0), "limit"),
        ((True, "1s", 0), "limit"),
        ((1, "1s", -1), "burst"),
        ((1, "soon", 0), "soon"),
        ((1, 0, 0), "period must be positive"),
        ((1, "-1s", 0), "period must be positive"),
        ((1, 1.0, 0), "period"),
    ],
)
def test_bad_arguments_name_the_argument(args: tuple[object, object, object],
                                         message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Throttle(*args, clock=ManualClock())  # type: ignore[arg-type]


@pytest.mark.parametrize("n", [0, -1, True, 1.0])
def test_n_must_be_a_positive_int(n: object) -> None:
    t = Throttle(1, "1s", clock=ManualClock())
    with pytest.raises(ValueError, match="n must be"):
        t.acquire("k", n)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n must be"):
        t.peek("k", n)  # type: ignore[arg-type]
    assert len(t) == 0


def test_more_than_capacity_can_never_succeed() -> None:
    clock = ManualClock()
    t = Throttle(2, "6s", 1, clock=clock)
    assert t.acquire("k", 4) == GcraDecision(False, None, 3)
    assert t.acquire("k", 3) == GcraDecision(True, None, 0)
    assert t.acquire("k", 4) == GcraDecision(False, None, 0)


def test_multi_unit_retry_at_is_exact() -> None:
    clock = ManualClock()
    t = Throttle(3, "1s", clock=clock)  # T = 1/3 s: not a whole number of ns
    play(t, clock, [
        (0,           "k", 2, OK, None, 1),
        (0,           "k", 2, NO, 333_333_334, 1),
        (333_333_333, "k", 2, NO, 333_333_334, 1),
        (333_333_334, "k", 2, OK, None, 0),
        (333_333_334, "k", 1, NO, 666_666_667, 0),
    ])


# -- peek, time, memory ------------------------------------------------------------------

def test_peek_consumes_nothing() -> None:
    clock = ManualClock()
    t = Throttle(1, "1s", 1, clock=clock)
    assert [t.peek("k") for _ in range(3)] == [GcraDecision(True, None, 2)] * 3
    assert t.peek("k", 2) == GcraDecision(True, None, 2)
    assert t.peek("k", 3) == GcraDecision(False, None, 2)
    t.acquire("k", 2)
    assert t.peek("k") == GcraDecision(False, S, 0)
    assert t.acquire("k") == GcraDecision(False, S, 0)


def test_clock_going_backwards_counts_as_no_time_passing() -> None:
    now = [10 * S]
    t = Throttle(1, "10s", clock=lambda: now[0])
    assert t.acquire("k").allowed
    now[0] = 0  # the clock jumps back ten seconds
    assert t.acquire("k") == GcraDecision(False, 20 * S, 0)  # no extra grant ...
    now[0] = 19 * S
    assert t.acquire("k") == GcraDecision(False, 20 * S, 0)
    now[0] = 20 * S  # ... and no lock-out either
    assert t.acquire("k") == GcraDecision(True, None, 0)
    now[0] = 5 * S
    assert t.peek("other") == GcraDecision(True, None, 1)
    assert t.reset_at("k") == 30 * S


def test_no_drift_after_a_million_calls() -> None:
    # T = 1/3 s. At every period boundary exactly `limit` are admitted and the next
    # refusal points at the following boundary, forever: a float TAT drifts off this.
    clock = ManualClock()
    t = Throttle(3, "1s", clock=clock)
    acquire, set_ = t.acquire, clock.set
    for k in range(500_000):
        set_(k * S)
        if not acquire("k", 3).allowed or acquire("k").retry_at != k * S + 333_333_334:
            pytest.fail(f"drifted at period {k}")


def test_exact_at_large_instants() -> None:
    # Near 2**62 ns a float has a resolution of 1 us; our TAT stays exact to the ns.
    base = 1 << 62
    clock = ManualClock(base)
    t = Throttle(7, "1s", 2, clock=clock)  # T = 142_857_142.857... ns, cap 9
    assert t.acquire("k", 9).remaining == 0
    d = t.acquire("k")
    assert d.retry_at == base + 142_857_143  # ceil(T)
    clock.set(base + 142_857_142)
    assert not t.acquire("k").allowed
    clock.set(base + 142_857_143)
    assert t.acquire("k").allowed
    assert t.acquire("k").retry_at == base + 285_714_286  # ceil(2T), not 2 * ceil(T)


def test_idle_keys_are_dropped() -> None:
    clock = ManualClock()
    t = Throttle(10, "10s", clock=clock)  # T = 1 s, DVT = 10 s
    for i in range(1000):
        t.acquire(f"user:{i}")
    assert len(t) == 1000
    clock.set(S)  # every key's TAT is now <= now: they carry no information
    assert t.peek("user:3") == GcraDecision(True, None, 10)
    assert len(t) == 999  # peek dropped the idle key it touched
    assert t.prune() == 999
    assert len(t) == 0
    assert t.prune() == 0


def test_normal_traffic_sweeps_idle_keys() -> None:
    clock = ManualClock()
    t = Throttle(10, "10s", clock=clock)
    for i in range(1000):
        t.acquire(f"user:{i}")
    clock.set(5 * S)
    t.acquire("hot")
    assert len(t) == 1001  # a sweep runs at most once per DVT
    clock.set(10 * S)
    t.acquire("hot")
    assert len(t) == 1  # the first call a DVT after the last sweep drops them
    assert t.reset_at("hot") == 11 * S


# -- persistence -------------------------------------------------------------------------

def test_snapshot_round_trip_changes_no_decision() -> None:
    clock = ManualClock()
    a = Throttle(3, "1s", 1, clock=clock)
    a.acquire("x", 4)
    a.acquire("y")
    data = json.loads(json.dumps(a.snapshot()))
    assert data["kind"] == "Throttle" and data["version"] == 1
    b = Throttle.from_snapshot(data, clock=clock)
    assert b.snapshot() == a.snapshot()
    for at in (0, 100 * MS, 333 * MS, 334 * MS, 2 * S):
        clock.set(at)
        for key in ("x", "y", "z"):
            assert a.acquire(key) == b.acquire(key)


def test_snapshot_lists_only_active_keys() -> None:
    clock = ManualClock()
    t = Throttle(1, "1s", clock=clock)
    t.acquire("old")
    clock.set(S)
    t.acquire("new")
    assert list(t.snapshot()["tat"]) == ["new"]  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(kind="RateLimit"), "not a Throttle snapshot"),
        (lambda d: d.update(version=2), "version"),
        (lambda d: d.pop("limit"), "missing 'limit'"),
        (lambda d: d.update(limit=-3), "limit"),
        (lambda d: d.update(now="soon"), "'now'"),
        (lambda d: d.update(scale=7), "'scale'"),
        (lambda d: d.update(tat=[1, 2]), "'tat'"),
        (lambda d: d["tat"].update(k=1.5e9), "bad entry"),
        (lambda d: d["tat"].update(k=10**30), "beyond what the limit allows"),
    ],
)
def test_bad_snapshots_are_refused(mutate: object, message: str) -> None:
    clock = ManualClock()
    t = Throttle(3, "1s", clock=clock)
    t.acquire("k")
    data = t.snapshot()
    mutate(data)  # type: ignore[operator]
    with pytest.raises(ValueError, match=message):
        Throttle.from_snapshot(data, clock=clock)
    with pytest.raises(ValueError, match="must be a dict"):
        Throttle.from_snapshot([], clock=clock)  # type: ignore[arg-type]


# -- Appendix A: the platform's reference model ------------------------------------------

def reference(store: dict[str, Fraction], key: str, now: int, period: int, limit: int,
              burst_param: int, quantity: int) -> GcraDecision:
    """Our exact-rational rendering of the spec's ``helper/gcra.lua`` model."""
    t = Fraction(period, max(limit, 1))
    dvt = t * (burst_param + 1)
    tat = store.get(key, Fraction(now))
    inc = max(quantity, 1) * t
    new_tat = max(tat, Fraction(now)) + inc
    allow_at = new_tat - dvt
    if now - allow_at < 0 and quantity > 0:
        return GcraDecision(False, ceil(allow_at), 0)
    ttl = tat - now
    if quantity > 0:
        store[key] = new_tat
        ttl = new_tat - now
    nxt = dvt - ttl
    return GcraDecision(True, None, floor(nxt / t) if nxt > -t else 0)


@pytest.mark.parametrize(("limit", "period", "burst"),
                         [(2, 6 * S, 1), (3, S, 0), (7, 10 * S, 4), (1, 24 * 3600 * S, 0)])
def test_matches_the_reference_model_on_a_fixed_schedule(limit: int, period: int,
                                                         burst: int) -> None:
    clock = ManualClock()
    ours = Throttle(limit, period, burst, clock=clock)
    store: dict[str, Fraction] = {}
    at = 0
    refused = 0
    for i in range(400):
        at += (i * 7919) % (period // limit + 3)  # a fixed, irregular schedule
        clock.set(at)
        expected = reference(store, "k", at, period, limit, limit + burst - 1, 1)
        assert ours.acquire("k") == expected, (i, at)
        refused += not expected.allowed
    assert 0 < refused < 400


# -- memory (tracemalloc counts are deterministic, unlike timings) -----------------------

def _traced(build: Callable[[], object]) -> int:
    gc.collect()
    tracemalloc.start()
    kept = build()
    gc.collect()
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del kept
    return current


def test_memory_per_key_and_after_idle() -> None:
    # The budget: at most 1.5x a dict of floats per key, and back near the empty
    # footprint once the keys are idle and normal traffic ran (bench/memory_gcra.py runs
    # the same with a million keys).
    keys = [f"user:{i}" for i in range(20_000)]
    t0 = 10**15

    def floats() -> object:
        d: dict[str, float] = {}
        for i, k in enumerate(keys):
            d[k] = i + 1000.06  # a distinct float per key, as TATs are
        return d

    def ours(then: str) -> Callable[[], object]:
        def build() -> object:
            clock = ManualClock(t0)
            t = Throttle(1000, "60s", clock=clock)
            if then == "empty":
                return t
            for k in keys:
                t.acquire(k)
            if then == "idle":
                clock.advance("61s")
                for i in range(100):
                    t.acquire(f"hot:{i % 3}")
                assert len(t) == 3
            return t

        return build

    empty = _traced(ours("empty"))
    per_key = (_traced(ours("full")) - empty) / len(keys)
    assert per_key <= 1.5 * _traced(floats) / len(keys)
    assert _traced(ours("idle")) <= empty + 2048


# -- high capacities (issue 9: past the 1,024 decisions built in advance) ----------------

BIG = 1 << 62  # near the top of a 64-bit count of nanoseconds


def test_a_key_at_full_capacity_above_1024_stays_there_at_its_rate() -> None:
    # The quota: 1000/s with burst 1000 (capacity 2000); ten keys in turn, each
    # coming back after exactly one emission interval, are at full capacity every time.
    clock = ManualClock(BIG)
    t = Throttle(1000, "1s", 1000, clock=clock)
    for i in range(5000):
        clock.set(BIG + i * MS // 10)
        assert t.acquire(f"user:{i % 10}") == GcraDecision(True, None, 1999), i


@pytest.mark.parametrize(
    ("limit", "period", "burst", "ceil_t"),
    [
        (1000, S, 1000, MS),             # capacity 2000
        (1000, S, 99_000, MS),           # capacity 100,000
        (3, S, 2997, 333_333_334),       # capacity 3000, T = 1/3 s
        (7, S, 99_993, 142_857_143),     # capacity 100,000, T = 1/7 s
    ],
)
def test_draining_a_large_capacity_counts_down_to_an_exact_refusal(
        limit: int, period: int, burst: int, ceil_t: int) -> None:
    clock = ManualClock(BIG)
    t = Throttle(limit, period, burst, clock=clock)
    cap = limit + burst
    assert [t.acquire("k").remaining for _ in range(cap)] == list(range(cap - 1, -1, -1))
    assert t.acquire("k") == GcraDecision(False, BIG + ceil_t, 0)
    assert t.peek("k") == GcraDecision(False, BIG + ceil_t, 0)
    clock.set(BIG + ceil_t - 1)
    assert t.acquire("k") == GcraDecision(False, BIG + ceil_t, 0)
    clock.set(BIG + ceil_t)
    assert t.acquire("k") == GcraDecision(True, None, 0)
    assert t.acquire("k").retry_at == BIG - (-2 * period // limit)  # ceil(2T) after BIG
    assert t.acquire("other") == GcraDecision(True, None, cap - 1)


def test_keys_refused_in_turn_each_get_their_own_retry_at() -> None:
    # 1,000 keys saturated a nanosecond apart (T = 1/3 s, capacity 2000), refused in turn
    # three times over, then each admitted at its own retry_at and not a nanosecond before.
    clock = ManualClock(BIG)
    t = Throttle(3, "1s", 1997, clock=clock)
    keys = [f"user:{i}" for i in range(1000)]
    for i, k in enumerate(keys):
        clock.set(BIG + i)
        assert t.acquire(k, 2000) == GcraDecision(True, None, 0)
    for _ in range(3):
        assert [t.acquire(k) for k in keys] == [
            GcraDecision(False, BIG + i + 333_333_334, 0) for i in range(1000)]
    clock.set(BIG + 333_333_334 + 499)
    assert [t.acquire(k) for k in keys] == (
        [GcraDecision(True, None, 0)] * 500
        + [GcraDecision(False, BIG + i + 333_333_334, 0) for i in range(500, 1000)])
    assert [t.acquire(k).retry_at for k in keys[:2]] == [BIG + 666_666_667,
                                                         BIG + 666_666_668]


@pytest.mark.parametrize(("limit", "period", "burst"),
                         [(1000, S, 1000), (3, S, 2997), (1000, S, 99_000), (7, S, 99_993)])
def test_high_capacities_match_the_reference_model(limit: int, period: int,
                                                   burst: int) -> None:
    # Three keys, each first taking all but 40 units at once, then single units on an
    # irregular schedule faster than the rate: admissions and refusals interleave.
    clock = ManualClock(BIG + 12_345)
    ours = Throttle(limit, period, burst, clock=clock)
    cap = limit + burst
    store: dict[str, Fraction] = {}
    at = clock.now
    for key in "abc":
        assert ours.acquire(key, cap - 40) == reference(store, key, at, period, limit,
                                                         cap - 1, cap - 40)
    refused = 0
    for i in range(3000):
        at += (i * 7919) % (period // limit // 2 + 3)
        clock.set(at)
        key = "abc"[i % 3]
        expected = reference(store, key, at, period, limit, cap - 1, 1)
        assert ours.acquire(key) == expected, (i, at)
        refused += not expected.allowed
    assert 300 < refused < 2700


def test_a_key_never_seen_is_at_full_capacity_whatever_the_tolerance() -> None:
    # DVT = 4 * (2**63 - 1) ns, beyond 2**64: a new key is still a key at full capacity.
    clock = ManualClock()
    t = Throttle(1, 2**63 - 1, 3, clock=clock)
    assert t.peek("new") == GcraDecision(True, None, 4)
    assert t.acquire("a") == GcraDecision(True, None, 3)
    assert t.acquire("b", 2) == GcraDecision(True, None, 2)
    assert t.reset_at("c") == 0
    assert t.reset_at("a") == 2**63 - 1


def test_snapshot_round_trip_at_high_capacity() -> None:
    clock = ManualClock(BIG)
    a = Throttle(7, "1s", 99_993, clock=clock)
    a.acquire("x", 100_000)
    a.acquire("y", 60_000)
    b = Throttle.from_snapshot(json.loads(json.dumps(a.snapshot())), clock=clock)
    for at in (BIG, BIG + 142_857_142, BIG + 142_857_143, BIG + 2 * S):
        clock.set(at)
        for key in ("x", "y", "z"):
            assert a.acquire(key) == b.acquire(key)
            assert a.acquire(key, 3) == b.acquire(key, 3)


def test_at_most_sixteen_idle_keys_linger_between_sweeps() -> None:
    # DVT = 1 s and a new key every second: every key is idle by the next call. A table
    # of at most 16 keys is not swept (no sweep per call), so it holds at most 16 idle
    # keys and the one just admitted.
    clock = ManualClock()
    t = Throttle(1, "1s", clock=clock)
    sizes = []
    for i in range(200):
        clock.set(i * S)
        assert t.acquire(f"user:{i}") == GcraDecision(True, None, 0)
        sizes.append(len(t))
    assert max(sizes) == 17 and min(sizes) == 1


def test_refusals_at_high_capacity_keep_memory_bounded() -> None:
    # A hot key hammered past its rate: a new refusal instant every T (each refusal is
    # kept for reuse), yet memory does not grow with them.
    clock = ManualClock(BIG)
    t = Throttle(1000, "1s", 99_000, clock=clock)
    t.acquire("hot", 100_000)

    def hammer() -> object:
        for i in range(1, 20_001):
            clock.set(BIG + i * MS)
            for _ in range(4):
                t.acquire("hot")
        return None

    assert _traced(hammer) <= 16_384


def test_refused_keys_cost_no_memory_once_idle() -> None:
    keys = [f"user:{i}" for i in range(5000)]

    def build(then: str) -> Callable[[], object]:
        def run() -> object:
            clock = ManualClock(10**15)
            t = Throttle(1000, "60s", clock=clock)
            if then == "empty":
                return t
            for k in keys:
                clock.advance(1)  # each key saturated at its own instant
                t.acquire(k, 1000)
            assert not any(t.acquire(k).allowed for k in keys)  # 5000 refusals, kept
            clock.advance("61s")
            assert t.prune() == 5000  # the idle keys go, and their refusals with them
            return t

        return run

    assert _traced(build("idle")) <= _traced(build("empty")) + 2048


def test_a_key_never_seen_is_idle_even_when_the_tolerance_exceeds_2_to_the_64() -> None:
    # 999,983 per 7 days: T = 604,800 s / 999,983 and DVT ~ 6e20 ns; at instant 0 a new
    # key once looked busy because "no state" was represented by -(2**64).
    t = Throttle(999_983, 7 * 86_400 * 10**9, clock=lambda: 0)
    assert t.acquire("a") == GcraDecision(True, None, 999_982)
    assert t.reset_at("b") == 0
