"""Scenarios from the spec (section 12) and the seed docs, replayed through the simulator.

Each test is a small trace with fixed instants and the starts, skips, drops or batches the
platform produces for it.
"""

from __future__ import annotations

from typing import Any

from flowcontrol.config.model import FunctionConfig
from flowcontrol.controller.fairness import OldestFirst
from flowcontrol.sim.simulate import SimResult, simulate

S = 1_000_000_000


def fn(fid: str = "f", event: str = "e", **cfg: Any) -> FunctionConfig:
    return FunctionConfig.from_mapping({"id": fid, "triggers": [{"event": event}], **cfg})


def ev(eid: str, t_ms: int, name: str = "e", **data: Any) -> dict[str, Any]:
    return {"name": name, "id": eid, "ts": t_ms, "data": data}


def starts(result: SimResult) -> list[tuple[str, float]]:
    """(first event id, start second) of every started run, in start order."""
    rows = [r for r in result.runs if r.started_at is not None]
    rows.sort(key=lambda r: (r.started_at, r.run_id))
    return [(r.event_ids[0], r.started_at / S) for r in rows]  # type: ignore[operator]


def outcomes(result: SimResult) -> dict[str, str]:
    return {e.event_id: e.outcome for e in result.events}


def test_throttle_docs_example() -> None:
    """throttle 2/6s burst 1, six events 0.5 s apart: starts at 0, 0.5, 1, 3, 6, 9 s."""
    r = simulate([fn(throttle={"limit": 2, "period": "6s", "burst": 1})],
                 [ev(f"e{i}", 500 * i) for i in range(6)], run_duration=S // 10)
    assert [t for _, t in starts(r)] == [0, 0.5, 1, 3, 6, 9]


def test_throttle_legacy_queue_case() -> None:
    """limit 1/10s burst 3: 4 at once, then one per 10 s."""
    r = simulate([fn(throttle={"limit": 1, "period": "10s", "burst": 3})],
                 [ev(f"e{i}", 0) for i in range(6)], run_duration=S)
    assert [t for _, t in starts(r)] == [0, 0, 0, 0, 10, 20]


def test_keyed_throttle_keys_are_independent() -> None:
    """Keyed throttle 1/3s: three distinct ids all start at once."""
    r = simulate([fn(throttle={"limit": 1, "period": "3s", "key": "event.data.id"})],
                 [ev(f"e{i}", 0, id=str(i)) for i in range(3)] + [ev("again", 0, id="0")])
    assert starts(r) == [("e0", 0), ("e1", 0), ("e2", 0), ("again", 3)]


def test_priority_runs_high_before_low() -> None:
    """Concurrency 1, priority `high ? 5 : 0`: none at 0 s, low at 2 s, high at 4 s, each 5 s:
    execution order none, high, low (tests/golang/priority_test.go)."""
    cfg = fn(concurrency=1, priority={"run": "event.data.priority == 'high' ? 5 : 0"})
    trace = [ev("none", 0, priority="none"), ev("low", 2000, priority="low"),
             ev("high", 4000, priority="high")]
    r = simulate([cfg], trace, run_duration=5 * S)
    assert starts(r) == [("none", 0), ("high", 5), ("low", 10)]


def test_negative_priority_delays_even_an_empty_queue() -> None:
    r = simulate([fn(priority={"run": "event.data.late ? -120 : 0"})],
                 [ev("late", 0, late=True), ev("now", 0, late=False)])
    assert starts(r) == [("now", 0), ("late", 120)]


def test_singleton_skip_runs_one_of_a_burst() -> None:
    """50 events with key 42, function 10 s: exactly one run (tests/golang/singleton_test.go)."""
    cfg = fn(singleton={"key": "event.data.user_id", "mode": "skip"})
    trace = [ev(f"e{i}", 10 * i, user_id=42) for i in range(50)]
    r = simulate([cfg], trace, run_duration=10 * S)
    assert [row.status for row in r.runs].count("completed") == 1
    assert list(outcomes(r).values()).count("skipped") == 49


def test_singleton_key_false_is_not_a_singleton_and_keys_are_independent() -> None:
    cfg = fn(singleton={"key": "event.data.decision", "mode": "skip"})
    r = simulate([cfg], [ev("a", 0, decision=False), ev("b", 100, decision=False)],
                 run_duration=10 * S)
    assert starts(r) == [("a", 0), ("b", 0.1)]
    cfg = fn(singleton={"key": "event.data.user", "mode": "skip"})
    r = simulate([cfg], [ev("a", 0, user="x"), ev("b", 100, user="y")], run_duration=10 * S)
    assert starts(r) == [("a", 0), ("b", 0.1)]


def test_singleton_cancel_keeps_the_latest() -> None:
    """Cancel mode: each new event cancels the holder; one run finishes (a step, then a sleep)."""
    cfg = fn(singleton={"key": "event.data.user_id", "mode": "cancel"},
             steps=[{"run": "1s"}, {"sleep": "10s"}, {"run": "1s"}])
    trace = [ev(f"e{i}", 2000 * i, user_id="u") for i in range(5)]
    r = simulate([cfg], trace)
    status = [row.status for row in r.runs]
    assert status == ["cancelled"] * 4 + ["completed"]
    assert r.runs[0].reason == "singleton: replaced by run run-2"


def test_debounce_runs_once_with_the_last_event() -> None:
    cfg = fn(debounce={"period": "5s"})
    trace = [ev(f"e{i}", 100 * i, counter=i) for i in range(1000)]
    r = simulate([cfg], trace)
    assert starts(r) == [("e999", 99.9 + 5)]
    assert list(outcomes(r).values()).count("superseded") == 999


def test_debounce_timeout_caps_the_wait() -> None:
    """period 5 s, timeout 10 s, events every 1 s for 20 s: first run at 10 s (>= 10, <= 15);
    the event at 10 s opens the next debounce, capped at 20 s."""
    cfg = fn(debounce={"period": "5s", "timeout": "10s"})
    r = simulate([cfg], [ev(f"e{i}", 1000 * i) for i in range(20)])
    assert starts(r) == [("e9", 10), ("e19", 20)]


def test_debounce_per_key_and_rate_limit_checked_before_it() -> None:
    cfg = fn(debounce={"period": "2s", "key": "event.data.k"},
             rateLimit={"limit": 1, "period": "1h", "key": "event.data.k"})
    trace = [ev("a1", 0, k="a"), ev("b1", 0, k="b"), ev("a2", 500, k="a")]
    r = simulate([cfg], trace)
    assert outcomes(r) == {"a1": "debounced", "b1": "debounced", "a2": "dropped"}
    assert starts(r) == [("a1", 2), ("b1", 2)]


def test_batch_by_key() -> None:
    """maxSize 3, timeout 5 s, key userId: a,b,c,a,b,c,a,b: a and b full at once, c at +5 s."""
    cfg = fn(batchEvents={"maxSize": 3, "timeout": "5s", "key": "event.data.userId"})
    users = "abcabcab"
    r = simulate([cfg], [ev(f"e{i}", 10 * i, userId=u) for i, u in enumerate(users)])
    got = sorted((row.event_ids, row.created_at / S) for row in r.runs)
    assert got == [
        (("e0", "e3", "e6"), 0.06),
        (("e1", "e4", "e7"), 0.07),
        (("e2", "e5"), 5.02),
    ]
    assert set(outcomes(r).values()) == {"batched"}


def test_conditional_batching_with_if() -> None:
    """maxSize 5, timeout 5 s, `if: int(event.data.num) % 2 == 0`, 10 events -> 6 runs."""
    cfg = fn(batchEvents={"maxSize": 5, "timeout": "5s",
                          "if": "int(event.data.num) % 2 == 0"})
    r = simulate([cfg], [ev(f"e{i}", 10 * i, num=i) for i in range(10)])
    assert len(r.runs) == 6
    assert sum(len(row.event_ids) for row in r.runs) == 10
    assert [row.event_ids for row in r.runs if len(row.event_ids) > 1] == [
        ("e0", "e2", "e4", "e6", "e8"),
    ]


def test_rate_limit_drops() -> None:
    """rateLimit 10/1h: 2 at once, then one every 6 minutes; the rest is dropped.

    One event a minute: e0 and e1 (the burst), then e6 and e12 (one per 6 minutes)."""
    r = simulate([fn(rateLimit={"limit": 10, "period": "1h"})],
                 [ev(f"e{i}", 60_000 * i) for i in range(13)])
    assert [e for e, o in outcomes(r).items() if o == "run"] == ["e0", "e1", "e6", "e12"]


def test_rate_limit_key_false_is_not_rate_limited() -> None:
    r = simulate([fn(rateLimit={"limit": 1, "period": "1h", "key": "event.data.missing"})],
                 [ev(f"e{i}", i) for i in range(3)])
    assert set(outcomes(r).values()) == {"run"}


def test_idempotency_is_one_per_key_per_day() -> None:
    r = simulate([fn(idempotency="event.data.order")],
                 [ev("a", 0, order="o1"), ev("b", 10, order="o1"), ev("c", 20, order="o2")])
    assert outcomes(r) == {"a": "run", "b": "dropped", "c": "run"}


def test_per_user_concurrency() -> None:
    """Concurrency per user 1: a user's runs go one at a time, other users are not held."""
    cfg = fn(concurrency=[{"key": "event.data.user_id", "limit": 1}])
    trace = [ev("a1", 0, user_id="a"), ev("a2", 0, user_id="a"), ev("b1", 0, user_id="b")]
    r = simulate([cfg], trace, run_duration=2 * S)
    assert starts(r) == [("a1", 0), ("b1", 0), ("a2", 2)]


def test_account_scoped_key_is_shared_across_functions() -> None:
    """Seed: 60 concurrent OpenAI calls shared by every function (here 2, shared by two)."""
    shared = [{"scope": "account", "key": '"openai"', "limit": 2}]
    cfgs = [fn("summary", "s", concurrency=shared), fn("chat", "c", concurrency=shared)]
    trace = [ev("s1", 0, "s"), ev("c1", 0, "c"), ev("s2", 0, "s"), ev("c2", 0, "c")]
    r = simulate(cfgs, trace, run_duration=S)
    assert starts(r) == [("s1", 0), ("c1", 0), ("s2", 1), ("c2", 1)]
    assert max(r.peak_function.values()) == 1  # each function ran one at a time, 2 in all


def test_fair_ai_processing_seed_example() -> None:
    """Throttle 50/60s on a shared key, 3 per user, pro 60 s ahead (seed 002).

    100 free users each send one event at 0 s; 50 start at once (the throttle's limit),
    then one every 1.2 s. A pro user's event at 1 s waits in its own key's backlog: the
    priority factor orders a key's own runs, and across keys the platform picks backlogs
    in no set order (here: round robin), so it starts after the 50 free runs queued
    before it. With the ``oldest-first`` policy the score (arrival - 60 s) puts it first.
    """
    cfg = FunctionConfig.from_mapping({
        "id": "ai-image-processing",
        "triggers": [{"event": "ai/image.generate"}],
        "throttle": {"limit": 50, "period": "60s", "key": '"gpu-cluster"'},
        "concurrency": [{"key": "event.data.user_id", "limit": 3}],
        "priority": {"run": "event.data.plan == 'pro' ? 60 : 0"},
    })
    name = "ai/image.generate"
    trace = [ev(f"free{i}", 0, name, user_id=f"u{i}", plan="free") for i in range(100)]
    trace += [ev("pro", 1000, name, user_id="vip", plan="pro")]
    r = simulate([cfg], trace, run_duration=S)
    st = dict(starts(r))
    assert sum(1 for _, t in st.items() if t == 0) == 50
    assert st["free50"] == 1.2 and st["free51"] == 2.4  # then one per 1.2 s, in order
    assert st["pro"] == 61.2  # the 51st slot: 51 * 1.2 s
    r = simulate([cfg], trace, run_duration=S, fairness=OldestFirst())
    assert dict(starts(r))["pro"] == 1.2


def test_priority_orders_runs_within_a_key() -> None:
    """The seed's Fair AI config with one user: the pro event jumps the user's queue."""
    cfg = FunctionConfig.from_mapping({
        "id": "ai", "triggers": [{"event": "e"}],
        "concurrency": [{"key": "event.data.user_id", "limit": 1}],
        "priority": {"run": "event.data.plan == 'pro' ? 60 : 0"},
    })
    trace = [ev(f"free{i}", i, user_id="u", plan="free") for i in range(3)]
    trace += [ev("pro", 10, user_id="u", plan="pro")]
    r = simulate([cfg], trace, run_duration=S)
    assert [e for e, _ in starts(r)] == ["free0", "pro", "free1", "free2"]
