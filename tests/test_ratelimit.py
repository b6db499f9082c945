"""RateLimit: GCRA with the platform's implicit burst ``limit // 10``, as decision tables.

Sources: spec sections 4 and 12 (``ratelimit_lua_test.go``, ``gcra_test.go``,
``constraints_test.go``), Appendix A, and the seed flow-control sheet. ``S`` is one second.
"""

from __future__ import annotations

import json

import pytest

from flowcontrol import ManualClock
from flowcontrol.machines.gcra import GcraDecision, RateLimit

S = 1_000_000_000
MS = 1_000_000
H = 3600 * S


def allowed_run(r: RateLimit, count: int, key: str = "k") -> list[bool]:
    return [r.acquire(key).allowed for _ in range(count)]


# -- the implicit burst ------------------------------------------------------------------

@pytest.mark.parametrize(
    ("limit", "period", "at_once", "interval"),
    [
        (10, H, 2, 360 * S),          # "should handle burst correctly": 2, then 1 per 6 min
        (5, 24 * H, 1, 24 * H // 5),  # issue #1460: 1 at once, then 1 per 4.8 h
        (1, 4 * H, 1, 4 * H),         # seed: webhook processor, once per 4 h per webhook
        (10, 10 * S, 2, S),
        (25, 60 * S, 3, 60 * S // 25),
        (100, S, 11, 10 * MS),
        (3000, 60 * S, 301, 20 * MS),
    ],
)
def test_admits_limit_over_ten_plus_one_at_once_then_one_per_interval(
        limit: int, period: int, at_once: int, interval: int) -> None:
    clock = ManualClock()
    r = RateLimit(limit, period, clock=clock)
    assert r.burst == limit // 10 and r.capacity == at_once
    assert allowed_run(r, at_once + 1) == [True] * at_once + [False]
    assert r.peek("k") == GcraDecision(False, interval, 0)
    clock.set(interval - 1)
    assert not r.acquire("k").allowed
    clock.set(interval)
    assert allowed_run(r, 2) == [True, False]
    assert r.acquire("other").allowed  # keys are independent


# -- ratelimit_lua_test.go ---------------------------------------------------------------

def test_first_request_allowed_and_second_limited() -> None:
    clock = ManualClock()
    assert RateLimit(5, "1h", clock=clock).acquire("k").allowed
    r = RateLimit(1, "1h", clock=clock)
    assert r.acquire("k") == GcraDecision(True, None, 0)
    assert r.acquire("k") == GcraDecision(False, H, 0)


def test_one_per_two_seconds_retry_after() -> None:
    # upstream: retryAfter in (1.5 s, 2.5 s); at retryAfter - 50 ms still limited with
    # < 100 ms left; at + 100 ms allowed. Ours is exact: 2 s.
    clock = ManualClock()
    r = RateLimit(1, "2s", clock=clock)
    assert r.acquire("k").allowed
    d = r.acquire("k")
    assert d == GcraDecision(False, 2 * S, 0)
    clock.set(2 * S - 50 * MS)
    d = r.acquire("k")
    assert not d.allowed and d.retry_at is not None and d.retry_at - clock.now < 100 * MS
    clock.set(2 * S + 50 * MS)
    assert r.acquire("k").allowed


def test_retry_after_decreases_one_for_one_with_time() -> None:
    clock = ManualClock()
    r = RateLimit(1, "3s", clock=clock)
    r.acquire("k")
    for at in (0, 500 * MS, S, 2 * S, 2999 * MS):
        clock.set(at)
        d = r.acquire("k")
        assert d.retry_at is not None and d.retry_at - at == 3 * S - at


@pytest.mark.parametrize("period", ["1s", "5s", "30s", "1m"])
def test_limit_one_retry_after_is_the_period(period: str) -> None:
    clock = ManualClock(123)
    r = RateLimit(1, period, clock=clock)
    r.acquire("k")
    assert r.acquire("k").retry_at == 123 + r.period


def test_ten_per_ten_seconds() -> None:
    # upstream: 2 allowed, then retryAfter in (0.5 s, 2 s), allowed after waiting.
    clock = ManualClock()
    r = RateLimit(10, "10s", clock=clock)
    assert allowed_run(r, 3) == [True, True, False]
    assert r.peek("k").retry_at == S
    clock.set(S)
    assert allowed_run(r, 2) == [True, False]


def test_limit_zero_is_treated_as_one() -> None:
    clock = ManualClock()
    r = RateLimit(0, "1h", clock=clock)
    assert r.limit == 1 and r.burst == 0
    assert allowed_run(r, 2) == [True, False]


def test_one_millisecond_period() -> None:
    clock = ManualClock()
    r = RateLimit(1, "1ms", clock=clock)
    assert allowed_run(r, 2) == [True, False]
    clock.set(2 * MS)
    assert r.acquire("k").allowed


def test_boundaries_of_ten_per_second() -> None:
    # burst 1, T = 100 ms, DVT = 200 ms. upstream: TAT = now + 200 ms -> limited;
    # TAT = now + 50 ms -> allowed.
    clock = ManualClock()
    r = RateLimit(10, "1s", clock=clock)
    r.acquire("k")
    r.acquire("k")  # TAT = 200 ms = now + DVT
    assert r.acquire("k") == GcraDecision(False, 100 * MS, 0)
    clock.set(150 * MS)  # TAT = now + 50 ms
    assert r.acquire("k") == GcraDecision(True, None, 0)


def test_a_tat_beyond_the_tolerance_is_refused_on_restore() -> None:
    # upstream also checks TAT = now + 300 ms + 1 ns (limited). A TAT beyond now + DVT
    # cannot arise from this machine; a snapshot holding one is refused as corrupt.
    clock = ManualClock()
    r = RateLimit(10, "1s", clock=clock)
    data = r.snapshot()
    data["tat"] = {"k": 200 * MS}  # scale is 1 here: T = 100 ms exactly
    assert RateLimit.from_snapshot(data, clock=clock).acquire("k").allowed is False
    data["tat"] = {"k": 300 * MS + 1}
    with pytest.raises(ValueError, match="beyond what the limit allows"):
        RateLimit.from_snapshot(data, clock=clock)
    data["tat"] = {"k": 1.7628952937785e18}  # floats (upstream's scientific notation): no
    with pytest.raises(ValueError, match="bad entry"):
        RateLimit.from_snapshot(data, clock=clock)


def test_reset_at_and_the_platforms_key_ttl() -> None:
    # upstream: the TAT key's TTL is 6 s for limit 3/20s (floor of 6.67 s); ours reports
    # the exact instant of full capacity instead.
    clock = ManualClock()
    r = RateLimit(3, "20s", clock=clock)
    r.acquire("k")
    assert r.reset_at("k") == 6_666_666_667
    assert r.reset_at("k") // S == 6
    assert r.reset_at("never-seen") == 0


def test_idempotency_translation_one_per_day() -> None:
    # `idempotency: expr` becomes rateLimit {limit: 1, period: "24h0m0s", key: expr}
    clock = ManualClock()
    r = RateLimit(1, "24h0m0s", clock=clock)
    assert allowed_run(r, 2) == [True, False]
    clock.set(24 * H - 1)
    assert not r.acquire("k").allowed
    clock.set(24 * H)
    assert r.acquire("k").allowed


# -- ratelimit_lua_test.go TestLuaRateLimit_Idempotency -----------------------------------
# inngest/inngest pkg/execution/ratelimit/ratelimit_lua_test.go (at 253303cd), one table per
# subtest. A row is one RateLimit call: (advance the clock by, idempotency key or None,
# limited?, idempotency hit?). The subtests check `Limited` and `RetryAfter > 0`; the hit
# flag is the `IdempotencyHit` the Lua's status 2 gives (ratelimit_lua.go).

IDEM_CASES = {
    "no idempotency baseline": (2, "10s", "30s", [
        (0, None, False, False),       # consumes the 1 available capacity (burst 2//10 = 0)
        (0, None, True, False),        # capacity exhausted
    ]),
    "idempotency enforced after successful request": (2, "10s", "30s", [
        (0, "request-123", False, False),  # allowed, consumes the capacity, sets the mark
        (0, "request-123", False, True),   # same key: allowed WITHOUT consuming
        (0, "request-123", False, True),   # still allowed (idempotency bypass)
        (0, None, True, False),            # capacity already exhausted by the first
    ]),
    "idempotency not enforced after rate limited request": (1, "10s", "30s", [
        (0, None, False, False),           # consumes the capacity
        (0, "request-456", True, False),   # limited: no mark is set
        (0, "request-456", True, False),   # so the repeat is STILL limited
        (10 * S + 100 * MS, "request-456", False, False),  # after retryAfter + 100 ms
        (0, "request-456", False, True),   # now the mark is set: allowed, not charged
    ]),
    "idempotency no longer enforced once expired": (3, "20s", "2s", [
        (0, "request-789", False, False),  # consumes the 1 capacity (burst 3//10 = 0)
        (0, "request-789", False, True),   # within the TTL: bypass
        (3 * S, "request-789", True, False),  # TTL + 1 s later: the mark expired; limited
        (0, None, True, False),            # capacity exhausted
    ]),
}


@pytest.mark.parametrize("name", list(IDEM_CASES))
def test_lua_rate_limit_idempotency(name: str) -> None:
    limit, period, ttl, rows = IDEM_CASES[name]
    clock = ManualClock()
    r = RateLimit(limit, period, clock=clock, idempotency_ttl=ttl)
    key = name.replace(" ", "-")
    for i, (advance, idem, limited, hit) in enumerate(rows):
        clock.advance(advance)
        before = r.reset_at(key)
        d = r.acquire(key, idempotency_key=idem)
        assert (not d.allowed, d.idempotent) == (limited, hit), f"{name}: row {i}"
        if limited:
            assert d.retry_at is not None and d.retry_at > clock.now, f"{name}: row {i}"
        if hit:  # nothing consumed
            assert r.reset_at(key) == before and d.retry_at is None, f"{name}: row {i}"


def test_the_default_idempotency_window_is_the_executors_thirty_minutes() -> None:
    # executor.go: ratelimit.WithIdempotency(key, RateLimitIdempotencyTTL = 30 * time.Minute)
    from flowcontrol.machines.gcra import IDEMPOTENCY_TTL

    clock = ManualClock()
    r = RateLimit(1, "1h", clock=clock)
    assert r.idempotency_ttl == IDEMPOTENCY_TTL == 30 * 60 * S
    assert r.acquire("k", idempotency_key="e").allowed
    clock.set(30 * 60 * S - 1)
    assert r.acquire("k", idempotency_key="e").idempotent
    clock.set(30 * 60 * S)  # expired: judged afresh (and the key is still full)
    assert not r.acquire("k", idempotency_key="e").allowed


def test_a_hit_bypasses_any_rate_limit_key_and_reports_capacity() -> None:
    # ratelimit.lua checks the idempotency key before the GCRA key: a hit is allowed
    # whatever key the repeat maps to (same event id, different payload).
    clock = ManualClock()
    r = RateLimit(1, "1h", clock=clock)
    assert r.acquire("a", idempotency_key="e").allowed
    assert r.acquire("b", idempotency_key="e") == GcraDecision(True, None, 1, True)
    assert r.acquire("a", idempotency_key="e") == GcraDecision(True, None, 0, True)
    assert r.acquire("b").allowed  # "b" was not charged by the hit


def test_idempotency_ttl_zero_turns_it_off() -> None:
    # ratelimit.lua: `if idempotencyTTL > 0 and EXISTS(...)`: no TTL, no mark.
    r = RateLimit(1, "1h", clock=ManualClock(), idempotency_ttl=0)
    assert r.acquire("k", idempotency_key="e").allowed
    assert not r.acquire("k", idempotency_key="e").allowed


def test_idempotency_marks_follow_the_live_ones() -> None:
    clock = ManualClock()
    r = RateLimit(1000, "1s", clock=clock, idempotency_ttl="10s")
    for i in range(100):
        clock.advance(S)
        r.acquire("k", idempotency_key=f"e{i}")
    assert r.idempotency_marks() <= 11  # the last 10 s, swept on the next call
    clock.advance("1m")
    r.prune()
    assert r.idempotency_marks() == 0


def test_idempotency_marks_survive_a_snapshot() -> None:
    clock = ManualClock()
    r = RateLimit(1, "1h", clock=clock)
    r.acquire("k", idempotency_key="e")
    clock.advance("1m")
    data = json.loads(json.dumps(r.snapshot()))
    assert data["marks"] == {"e": 30 * 60 * S} and data["idempotency_ttl"] == 30 * 60 * S
    back = RateLimit.from_snapshot(data, clock=clock)
    assert back.snapshot() == data
    assert back.acquire("k", idempotency_key="e").idempotent
    old = {k: v for k, v in data.items() if k not in ("marks", "idempotency_ttl")}
    assert RateLimit.from_snapshot(old, clock=clock).idempotency_marks() == 0  # older form
    for bad in ({"e": "x"}, {"e": 31 * 60 * S + 60 * S}, {"a": 20 * 60 * S, "b": 10 * 60 * S}):
        with pytest.raises(ValueError, match="'marks'"):
            RateLimit.from_snapshot({**data, "marks": bad}, clock=clock)


def test_only_the_rate_limit_takes_an_idempotency_key() -> None:
    from flowcontrol.machines.gcra import Throttle

    with pytest.raises(TypeError, match="only RateLimit"):
        Throttle(1, "1s", clock=ManualClock()).acquire("k", idempotency_key="e")
    with pytest.raises(ValueError, match="idempotency_ttl"):
        RateLimit(1, "1s", clock=ManualClock(), idempotency_ttl=-1)


# -- gcra_test.go: the raw primitive, burst given explicitly (our extension) -------------

def test_raw_primitive_ten_per_minute() -> None:
    clock = ManualClock()
    r = RateLimit(10, "1m", burst=0, clock=clock)
    assert r.emission_interval == (6 * S, 1)
    assert r.peek("k") == GcraDecision(True, None, 1)          # q=0: remaining 1
    assert r.acquire("k") == GcraDecision(True, None, 0)       # q=1: remaining 0
    assert r.reset_at("k") == 6 * S                            # reset_after 6 s
    assert r.acquire("k") == GcraDecision(False, 6 * S, 0)     # retry_after 6 s
    b = RateLimit(10, "1m", burst=1, clock=clock)              # dvt 12 s
    assert b.acquire("k", 2) == GcraDecision(True, None, 0)
    assert b.reset_at("k") == 12 * S


def test_raw_primitive_one_per_day() -> None:
    clock = ManualClock()
    r = RateLimit(1, "24h", burst=0, clock=clock)
    r.acquire("k")
    assert r.acquire("k").retry_at == 24 * H
    clock.set(4 * H)
    d = r.acquire("k")
    assert d.retry_at is not None and d.retry_at - clock.now == 20 * H


def test_raw_primitive_three_thousand_per_minute() -> None:
    r = RateLimit(3000, "1m", clock=ManualClock())
    assert r.emission_interval == (20 * MS, 1)


def test_constraint_api_rate_limit_rejected_grants_one_of_two() -> None:
    # TestConstraintEnforcement "rate limit rejected": 1/60 s, amount 2 -> 1, retry +1m
    clock = ManualClock(5 * S)
    r = RateLimit(1, "60s", clock=clock)
    assert min(2, r.peek("k").remaining) == 1
    assert r.acquire("k").allowed
    assert r.peek("k") == GcraDecision(False, 65 * S, 0)


# -- our extension and the platform constructor ------------------------------------------

def test_explicit_burst_admits_burst_plus_one_at_once() -> None:
    clock = ManualClock()
    r = RateLimit(5, "24h", burst=4, clock=clock)
    assert allowed_run(r, 6) == [True] * 5 + [False]


def test_platform_constructor_truncates_to_whole_seconds() -> None:
    clock = ManualClock()
    assert RateLimit.platform(10, "1500ms", clock=clock).period == S
    assert RateLimit(10, "1500ms", clock=clock).period == 1500 * MS
    with pytest.raises(ValueError, match="truncates to 0 s"):
        RateLimit.platform(10, "500ms", clock=clock)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((-1, "1h"), {}, "limit"),
        ((1, "1h"), {"burst": -1}, "burst"),
        ((1, "1h"), {"burst": 1.5}, "burst"),
        ((1, "fortnight"), {}, "fortnight"),
        ((1, None), {}, "period"),
        ((1, "1h"), {"clock": 5}, "clock"),
    ],
)
def test_bad_arguments_name_the_argument(args: tuple[object, ...], kwargs: dict[str, object],
                                         message: str) -> None:
    kwargs = {"clock": ManualClock(), **kwargs}
    with pytest.raises(ValueError, match=message):
        RateLimit(*args, **kwargs)  # type: ignore[arg-type]


def test_snapshot_round_trip_keeps_an_explicit_burst() -> None:
    clock = ManualClock()
    r = RateLimit(5, "1m", burst=3, clock=clock)
    r.acquire("k")
    data = json.loads(json.dumps(r.snapshot()))
    assert data["kind"] == "RateLimit" and data["burst"] == 3
    back = RateLimit.from_snapshot(data, clock=clock)
    assert allowed_run(back, 4) == allowed_run(r, 4) == [True, True, True, False]
    with pytest.raises(ValueError, match="not a RateLimit snapshot"):
        RateLimit.from_snapshot({**data, "kind": "Throttle"}, clock=clock)


# -- high capacities (issue 9) -----------------------------------------------------------

BIG = 1 << 62


def test_implicit_burst_of_a_million_a_minute_drains_to_an_exact_retry_at() -> None:
    # 999,990 per minute: capacity 100,000 and T = 60,000.6 ns (instants scaled by 33,333).
    clock = ManualClock(BIG)
    r = RateLimit(999_990, "60s", clock=clock)
    assert r.capacity == 100_000 and r.emission_interval == (2_000_000_000, 33_333)
    assert r.acquire("other") == GcraDecision(True, None, 99_999)
    assert [r.acquire("k").remaining for _ in range(100_000)] == list(range(99_999, -1, -1))
    assert r.acquire("k") == GcraDecision(False, BIG + 60_001, 0)
    clock.set(BIG + 60_000)
    assert r.acquire("k") == GcraDecision(False, BIG + 60_001, 0)
    clock.set(BIG + 60_001)
    assert r.acquire("k") == GcraDecision(True, None, 0)
    assert r.acquire("k") == GcraDecision(False, BIG + 120_002, 0)  # ceil(2T), not 2 ceil(T)


def test_keys_refused_in_turn_at_high_capacity_each_get_their_own_retry_at() -> None:
    clock = ManualClock(BIG)
    r = RateLimit(20_000, "1s", clock=clock)  # capacity 2001, T = 50 us
    keys = [f"ip:{i}" for i in range(500)]
    for i, k in enumerate(keys):
        clock.set(BIG + 7 * i)
        assert r.acquire(k, 2001) == GcraDecision(True, None, 0)
    for _ in range(2):
        assert [r.acquire(k) for k in keys] == [
            GcraDecision(False, BIG + 7 * i + 50_000, 0) for i in range(500)]


def test_a_million_a_year_treats_a_new_key_as_full() -> None:
    # The tolerance (99,999 intervals of 31.5 s, scaled by 37,037) is beyond 2**64 scaled
    # units: a key never seen is still at full capacity, and drains exactly.
    clock = ManualClock(BIG)
    r = RateLimit(999_999, "365d", clock=clock)
    assert r.capacity == 100_000
    assert r.peek("new") == GcraDecision(True, None, 100_000)
    assert r.acquire("k") == GcraDecision(True, None, 99_999)
    assert r.acquire("k", 99_999) == GcraDecision(True, None, 0)
    t = -(-365 * 24 * H // 999_999)  # ceil(T)
    assert r.acquire("k") == GcraDecision(False, BIG + t, 0)
