"""PriorityQueue: the spec's section 6 and the seed examples, at fixed instants."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from flowcontrol import (
    Concurrency,
    ManualClock,
    PriorityQueue,
    QueuedItem,
    item_score,
)
from flowcontrol.machines.priority import PRIORITY_FACTOR_MAX_OSS

S = 1_000_000_000
# TestQueueItemScore: start = 2023-01-01T12:30:30Z, the run id created at start.
START = 1_672_576_230 * S


@pytest.mark.parametrize(
    ("kind", "at", "factor", "want"),
    [
        ("edge", None, 0, START),
        ("sleep", None, 0, START),
        ("start", None, 0, START),
        ("edge_error", None, 0, START),
        ("start", START + 4 * S, 0, START + 4 * S),  # more than 2 s ahead: scored by AtMS
        ("start", START + 2 * S, 0, START),  # within FutureAtLimit: by run age
        ("edge", None, -60, START + 60 * S),
        ("start", None, -60, START + 60 * S),
        ("edge_error", None, -60, START + 60 * S),
        ("sleep", None, -60, START),  # the factor does not apply to sleep items
        ("pause", None, -60, START),
        ("sleep", START + 3600 * S, -60, START + 3600 * S),
        ("system", None, 60, START),  # system items score their time
    ],
)
def test_item_score_matches_TestQueueItemScore(
    kind: str, at: int | None, factor: int, want: int
) -> None:
    got = item_score(now=START, created_at=START, factor=factor, at=at, kind=kind)
    assert got == want, f"item_score({kind}, at={at}, factor={factor}) = {got}, want {want}"


@pytest.mark.parametrize(
    ("factor", "bounds", "want"),
    [
        (0, None, 0),
        (100, None, 100),
        (1, (-PRIORITY_FACTOR_MAX_OSS, PRIORITY_FACTOR_MAX_OSS), 1),
        (43201, (-PRIORITY_FACTOR_MAX_OSS, PRIORITY_FACTOR_MAX_OSS), 43200),
        (-1, (-PRIORITY_FACTOR_MAX_OSS, PRIORITY_FACTOR_MAX_OSS), -1),
        (-43201, (-PRIORITY_FACTOR_MAX_OSS, PRIORITY_FACTOR_MAX_OSS), -43200),
        (601, None, 600),  # the documented default bounds, -600..600
        (-601, None, -600),
        (10**12, None, 600),
    ],
)
def test_PriorityQueue_clamps_the_factor(
    factor: int, bounds: tuple[int, int] | None, want: int
) -> None:
    clock = ManualClock(START)
    q = (PriorityQueue(clock=clock) if bounds is None
         else PriorityQueue(clock=clock, min_factor=bounds[0], max_factor=bounds[1]))
    item = q.push("x", factor=factor)
    assert item.factor == want and item.score == START - want * S


def test_PriorityQueue_integration_none_high_low() -> None:
    # tests/golang/priority_test.go: fn concurrency 1, `priority == "high" ? 5 : 0`;
    # events none at 0 s, low at 2 s, high at 4 s, each run 5 s -> none, high, low.
    clock = ManualClock(0)
    q = PriorityQueue(clock=clock)
    c = Concurrency()
    c.register("fn", function_limit=1)
    arrivals = {0: [("none", 0)], 2 * S: [("low", 0)], 4 * S: [("high", 5)]}
    order: list[str] = []
    running: list[tuple[int, object]] = []
    for t in range(0, 30 * S, S // 2):
        clock.set(t)
        for end, lease in list(running):
            if end <= t:
                c.release(lease)  # type: ignore[arg-type]
                running.remove((end, lease))
        for name, factor in arrivals.get(t, []):
            q.push(name, factor=factor)
        while (head := q.peek()) is not None and head.score <= t and c.capacity("fn") != 0:
            item = q.pop()
            assert item is not None
            lease = c.acquire("fn")
            running.append((t + 5 * S, lease))
            order.append(item.item_id)
    assert order == ["none", "high", "low"]


def test_PriorityQueue_positive_factor_moves_ahead_of_recent_work() -> None:
    # Seed: VIP users get priority up to 120 seconds ahead.
    clock = ManualClock(1000 * S)
    q = PriorityQueue(clock=clock)
    q.push("old", created_at=800 * S)  # created 200 s ago: stays ahead of the VIP
    q.push("recent", created_at=950 * S)  # created 50 s ago: the VIP overtakes it
    q.push("vip", factor=120)
    assert [i.item_id for i in q.poll()] == ["old", "vip", "recent"]


def test_PriorityQueue_support_ticket_tiers() -> None:
    # Seed: critical 300, high 120, enterprise 60, else 0 - all created at the same instant.
    clock = ManualClock(10_000 * S)
    q = PriorityQueue(clock=clock)
    for name, factor in [("normal", 0), ("enterprise", 60), ("critical", 300), ("high", 120)]:
        q.push(name, factor=factor)
    assert [i.item_id for i in q.poll()] == ["critical", "high", "enterprise", "normal"]


def test_PriorityQueue_negative_factor_delays_even_on_an_empty_queue() -> None:
    # Docs: "-120 moves the new run later in the queue by 120 seconds".
    clock = ManualClock(0)
    q = PriorityQueue(clock=clock)
    q.push("late", factor=-120)
    steps = [  # (time, next_deadline, popped)
        (0, 120 * S, None),
        (119 * S, 120 * S, None),
        (120 * S - 1, 120 * S, None),
        (120 * S, 120 * S, "late"),
        (121 * S, None, None),
    ]
    for i, (t, deadline, want) in enumerate(steps):
        clock.set(t)
        assert q.next_deadline() == deadline, f"step {i}: next_deadline at {t}"
        got = q.pop()
        assert (got.item_id if got else None) == want, f"step {i}: pop at {t} = {got}"


def test_PriorityQueue_fifo_among_equal_scores() -> None:
    clock = ManualClock(50 * S)
    q = PriorityQueue(clock=clock)
    for i in range(10):
        q.push(f"r{i}", created_at=40 * S)
    q.push("same-score", created_at=50 * S, factor=10)
    assert [i.item_id for i in q.poll()] == [f"r{i}" for i in range(10)] + ["same-score"]


def test_PriorityQueue_peek_pop_poll() -> None:
    clock = ManualClock(0)
    q = PriorityQueue(clock=clock)
    assert q.peek() is None and q.pop() is None and q.poll() == () and q.next_deadline() is None
    a = q.push("a", factor=-10)
    b = q.push("b", factor=-5)
    assert a == QueuedItem("a", 10 * S, 0, -10, 1)
    assert q.peek() == b and q.pop() is None  # b is next, but not ready until 5 s
    clock.set(7 * S)
    assert q.poll() == (b,)
    clock.set(10 * S)
    assert q.pop() == a and len(q) == 0


def test_PriorityQueue_remove_is_exact() -> None:
    clock = ManualClock(0)
    q = PriorityQueue(clock=clock)
    for i in range(200):
        q.push(f"r{i}", created_at=i)
    for i in range(0, 200, 2):
        assert q.remove(f"r{i}") is True
        q._check_invariants()
    assert q.remove("r0") is False and q.remove("nope") is False
    assert q.prune() == 100 and q.prune() == 0  # dead never outnumbered live: no compaction yet
    assert len(q) == 100 and "r1" in q and "r0" not in q
    assert q.get("r1") is not None and q.get("r0") is None
    q.push("r0", created_at=10**6)  # an id may be queued again once removed
    clock.set(S)
    assert [i.item_id for i in q.poll()] == [f"r{i}" for i in range(1, 200, 2)] + ["r0"]
    q._check_invariants()


def test_PriorityQueue_duplicate_push_raises_and_changes_nothing() -> None:
    q = PriorityQueue(clock=ManualClock(0))
    q.push("a")
    before = q.snapshot()
    with pytest.raises(ValueError, match="already queued"):
        q.push("a", factor=5)
    with pytest.raises(ValueError, match="factor must be an int"):
        q.push("b", factor=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kind must be one of"):
        q.push("b", kind="bogus")
    with pytest.raises(ValueError, match="item_id must be a string"):
        q.push(7)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="created_at must be an int"):
        q.push("b", created_at=1.5)  # type: ignore[arg-type]
    assert q.snapshot() == before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_factor": 10}, "must contain 0"),
        ({"max_factor": -1}, "must contain 0"),
        ({"max_factor": 1.5}, "max_factor must be an int"),
        ({"min_factor": True}, "min_factor must be an int"),
    ],
)
def test_PriorityQueue_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PriorityQueue(clock=ManualClock(0), **kwargs)  # type: ignore[arg-type]


def test_PriorityQueue_clock_going_backwards_counts_as_no_time_passing() -> None:
    times = iter([0, 10 * S, 3 * S, 3 * S, 3 * S, 12 * S])
    q = PriorityQueue(clock=lambda: next(times))  # reads 0 at construction
    q.push("a", created_at=0, factor=-10)  # now 10 s: ready
    q.push("b", factor=0)  # the clock says 3 s; treated as 10 s, so b scores 10 s
    assert q.get("b") is not None and q.get("b").score == 10 * S  # type: ignore[union-attr]
    assert q.pop() is not None and q.pop() is not None  # both ready at the 10 s high-water mark


def test_PriorityQueue_snapshot_round_trip() -> None:
    clock = ManualClock(100 * S)
    q = PriorityQueue(clock=clock, min_factor=-60, max_factor=60)
    for i, f in enumerate([0, 30, -30, 60, 0]):
        q.push(f"r{i}", factor=f)
    q.remove("r3")
    q2 = PriorityQueue.from_snapshot(json.loads(json.dumps(q.snapshot())), clock=clock)
    q2._check_invariants()
    assert q2.items() == q.items()
    for m in (q, q2):
        m.push("late", factor=-600)  # clamped to -60
    clock.set(200 * S)
    assert [i.item_id for i in q.poll()] == [i.item_id for i in q2.poll()]
    assert q.snapshot() == q2.snapshot()


Mutator = Callable[[dict[str, object]], object]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(kind="Batcher"), "not a PriorityQueue snapshot"),
        (lambda d: d.update(version=0), "unsupported version"),
        (lambda d: d.update(now="x"), "now must be an int"),
        (lambda d: d.update(items={}), "items must be a list"),
        (lambda d: d.update(items=[["a", 1, 2, 3]]), r"items\[0\] must be"),
        (lambda d: d.update(items=[["a", 1, 2, 3, 1], ["a", 1, 2, 3, 2]]), "repeats 'a'"),
        (lambda d: d.update(items=[["a", 1, 2, 3, 99]]), "seq above seq"),
        (lambda d: d.update(min_factor=5), "must contain 0"),
    ],
)
def test_PriorityQueue_bad_snapshots_are_refused(mutate: Mutator, message: str) -> None:
    q = PriorityQueue(clock=ManualClock(0))
    q.push("a")
    data = json.loads(json.dumps(q.snapshot()))
    mutate(data)
    with pytest.raises(ValueError, match=message):
        PriorityQueue.from_snapshot(data, clock=ManualClock(0))
