"""Batcher: per-key batches flushed when full, at the byte budget, or at first + timeout.

Cases come from the spec (§7.3, §7.5, §12: ``TestBatchKeyEvents``,
``TestBatchAppendIdempotence``, ``TestBatchAppendIdempotenceDifferentBatches``,
``TestBatchSizeLimit``, the config-validation tests) and the seed document's
``bulk-email-send`` example. Times in the tables are seconds from 0.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from flowcontrol.machines.batch import (
    DEDUPE_WINDOW,
    Added,
    AddOutcome,
    Batch,
    Batcher,
    FlushReason,
)
from flowcontrol.time import ManualClock

S = 1_000_000_000
NEW, APPENDED, FLUSHED, DUPLICATE = (
    AddOutcome.NEW, AddOutcome.APPENDED, AddOutcome.FLUSHED, AddOutcome.DUPLICATE,
)


class BackwardsClock:
    """A clock the test can move anywhere, including backwards."""

    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


def drain(b: Batcher, clock: ManualClock, until: int) -> list[Batch]:
    """Poll at every deadline up to ``until`` ns."""
    out: list[Batch] = []
    while (deadline := b.next_deadline()) is not None and deadline <= until:
        clock.set(max(clock.now, deadline))
        out.extend(b.poll())
    return out


# -- spec §7.5 TestBatchKeyEvents --------------------------------------------------------

# maxSize 3, timeout 5 s, key event.data.userId; (time s, key) -> (outcome, batch id, size)
KEYED = [
    (0.0, "a", NEW, 1, 1),
    (0.2, "b", NEW, 2, 1),
    (0.4, "c", NEW, 3, 1),
    (0.6, "a", APPENDED, 1, 2),
    (0.8, "b", APPENDED, 2, 2),
    (1.0, "c", APPENDED, 3, 2),
    (1.2, "a", FLUSHED, 1, 3),
    (1.4, "b", FLUSHED, 2, 3),
]


def test_spec_batch_key_events_table() -> None:
    clock = ManualClock()
    b = Batcher(3, "5s", clock=clock)
    flushed: list[Batch] = []
    for i, (t, key, outcome, batch_id, size) in enumerate(KEYED):
        clock.set(int(t * S))
        r = b.add(key, f"{key}{i}")
        assert (r.outcome, r.batch_id, r.size) == (outcome, batch_id, size), (t, key)
        if r.batch is not None:
            flushed.append(r.batch)
    # Within 2 s: a and b each ran once with 3 events, c not at all.
    assert [(x.key, x.event_ids, x.reason) for x in flushed] == [
        ("a", ("a0", "a3", "a6"), FlushReason.FULL),
        ("b", ("b1", "b4", "b7"), FlushReason.FULL),
    ]
    clock.set(2 * S)
    assert b.poll() == ()
    assert b.next_deadline() == int(0.4 * S) + 5 * S  # c's timer started at its first event
    # After +5 s: c runs with 2 events; 8 events in total.
    late = drain(b, clock, 10 * S)
    assert late == [Batch("c", 3, ("c2", "c5"), 0, int(0.4 * S), int(5.4 * S), FlushReason.TIMEOUT)]
    assert sum(len(x.event_ids) for x in flushed + late) == 8
    assert len(b) == 0 and b.active_keys() == ()


# -- spec §7.5 idempotence ---------------------------------------------------------------


def test_spec_append_idempotence() -> None:
    # Platform statuses: new, new (same event again), append, itemexists. Here the repeat
    # of the only event is DUPLICATE too: the timer is internal, nothing to re-arm.
    b = Batcher(10, "10s", clock=ManualClock())
    assert [b.add("default", e).outcome for e in ["e1", "e1", "e2", "e2"]] == [
        NEW, DUPLICATE, APPENDED, DUPLICATE,
    ]
    assert b.pending("default") == ("e1", "e2")


def test_spec_append_idempotence_different_batches() -> None:
    b = Batcher(10, "10s", clock=ManualClock())
    outcomes = [b.add("default", f"e{i}").outcome for i in range(10)]
    assert outcomes == [NEW] + [APPENDED] * 8 + [FLUSHED]
    # Re-appending the last event lands on the next batch: still a duplicate.
    assert b.add("default", "e9") is b.add("default", "e0")
    assert b.add("default", "e9") == Added(DUPLICATE, None, 0, None, None)
    assert len(b) == 0


def test_dedupe_spans_keys_and_expires_after_30_minutes() -> None:
    clock = ManualClock()
    b = Batcher(2, "1h", clock=clock)
    b.add("a", "x")
    # (time ns, key) -> outcome of adding "x" again
    table = [
        (1 * S, "b", DUPLICATE),  # another key: still a duplicate
        (DEDUPE_WINDOW - 1, "a", DUPLICATE),
        (DEDUPE_WINDOW, "b", NEW),  # added at 0: forgotten at exactly +30 min
        (DEDUPE_WINDOW + 1, "b", DUPLICATE),  # the re-add opened a new window
    ]
    for t, key, outcome in table:
        clock.set(t)
        assert b.add(key, "x").outcome is outcome, t
    assert b.pending("a") == ("x",) and b.pending("b") == ("x",)
    assert b.dedupe_size() == 1


def test_prune_forgets_expired_ids_and_memory_follows_the_window() -> None:
    clock = ManualClock()
    b = Batcher(1000, "1s", clock=clock)
    for i in range(500):
        b.add("k", f"e{i}")
    assert b.dedupe_size() == 500
    clock.set(DEDUPE_WINDOW - 1)
    assert b.prune() == 0
    clock.set(DEDUPE_WINDOW)
    assert b.prune() == 500 and b.dedupe_size() == 0
    assert [len(x.event_ids) for x in b.poll()] == [500]
    # Lazy expiry on add does the same without prune().
    for i in range(10):
        b.add("k", f"f{i}")
    clock.advance(DEDUPE_WINDOW)
    b.poll()
    b.add("k", "g")
    assert b.dedupe_size() == 1


def test_dedupe_window_zero_turns_dedupe_off() -> None:
    b = Batcher(3, "10s", clock=ManualClock(), dedupe_window=0)
    assert [b.add("k", "x").outcome for _ in range(3)] == [NEW, APPENDED, FLUSHED]
    assert b.dedupe_size() == 0


# -- spec §7.5 TestBatchSizeLimit: byte budget ----------------------------------------------

# max_size 5, max_bytes 10: (event size) -> (outcome, size, reason of a flush)
BYTES = [
    (11, FLUSHED, 1, FlushReason.MAX_BYTES),  # over budget alone: flushed alone
    (4, NEW, 1, None),
    (5, APPENDED, 2, None),
    (1, FLUSHED, 3, FlushReason.MAX_BYTES),  # reaches exactly 10: in the flushed batch
    (0, NEW, 1, None),
    (9, APPENDED, 2, None),
    (0, APPENDED, 3, None),
    (0, APPENDED, 4, None),
    (1, FLUSHED, 5, FlushReason.FULL),  # full and at budget: FULL wins
]


def test_spec_batch_size_limit_table() -> None:
    b = Batcher(5, "10s", 10, clock=ManualClock())
    for i, (size, outcome, count, reason) in enumerate(BYTES):
        r = b.add("k", f"e{i}", size=size)
        assert (r.outcome, r.size) == (outcome, count), i
        assert (r.batch.reason if r.batch else None) == reason, i
    r = b.add("k", "last", size=3)
    assert r.outcome is NEW


def test_flushed_batch_holds_ids_in_arrival_order_and_bytes() -> None:
    clock = ManualClock(7)
    b = Batcher(3, "10s", clock=clock)
    b.add("k", "z", size=3)
    clock.advance(1)
    b.add("k", "a", size=4)
    clock.advance(1)
    r = b.add("k", "m", size=5)
    assert r == Added(FLUSHED, 1, 3, None, Batch("k", 1, ("z", "a", "m"), 12, 7, 9,
                                                 FlushReason.FULL))


# -- the seed document's bulk-email-send example -------------------------------------------


def test_seed_bulk_email_100_events_or_30_seconds_per_campaign() -> None:
    clock = ManualClock()
    b = Batcher(100, "30s", clock=clock)
    full: list[Batch] = []
    for i in range(250):
        clock.set(i * 10_000_000)  # 250 events over 2.5 s for campaign A
        r = b.add("campaign-A", f"a{i}")
        if r.batch:
            full.append(r.batch)
    b.add("campaign-B", "b0")
    assert [len(x.event_ids) for x in full] == [100, 100]
    late = drain(b, clock, 100 * S)
    assert [(x.key, len(x.event_ids), x.flushed_at) for x in late] == [
        ("campaign-A", 50, 2 * S + 30 * S),  # timer from a200 at 2.0 s
        ("campaign-B", 1, 2_490_000_000 + 30 * S),
    ]
    assert [e for x in full + late[:1] for e in x.event_ids] == [f"a{i}" for i in range(250)]


# -- edges ------------------------------------------------------------------------------


def test_timer_starts_at_first_event_and_is_not_reset() -> None:
    clock = ManualClock()
    b = Batcher(10, "5s", clock=clock)
    assert b.add("k", "a").deadline == 5 * S
    clock.set(4 * S)
    assert b.add("k", "b").deadline == 5 * S
    clock.set(5 * S - 1)
    assert b.poll() == ()
    clock.set(5 * S)
    assert [x.event_ids for x in b.poll()] == [("a", "b")]


def test_event_at_exact_deadline_opens_new_batch_before_poll() -> None:
    clock = ManualClock()
    b = Batcher(10, "5s", clock=clock)
    b.add("k", "a")
    clock.set(5 * S)
    r = b.add("k", "b")
    assert (r.outcome, r.batch_id, r.deadline) == (NEW, 2, 10 * S)
    assert b.flush("k") is not None  # flushes batch 2 (not due); batch 1 is due
    assert [(x.batch_id, x.event_ids, x.reason) for x in b.poll()] == [
        (1, ("a",), FlushReason.TIMEOUT),
    ]


def test_manual_flush() -> None:
    clock = ManualClock()
    b = Batcher(10, "5s", clock=clock)
    assert b.flush("k") is None
    b.add("k", "a")
    clock.set(2 * S)
    assert b.flush("k") == Batch("k", 1, ("a",), 0, 0, 2 * S, FlushReason.MANUAL)
    assert b.flush("k") is None and b.next_deadline() is None and b.poll() == ()
    b.add("k", "b")
    clock.set(7 * S)
    assert b.flush("k") is None  # due: it comes out of poll()
    assert [x.reason for x in b.poll()] == [FlushReason.TIMEOUT]


def test_poll_orders_by_deadline_then_batch_id() -> None:
    clock = ManualClock()
    b = Batcher(10, "5s", clock=clock)
    b.add("y", "y1")
    b.add("x", "x1")
    clock.set(1 * S)
    b.add("w", "w1")
    clock.set(60 * S)
    assert [(x.key, x.batch_id) for x in b.poll()] == [("y", 1), ("x", 2), ("w", 3)]


def test_clock_going_backwards_counts_as_no_time_passing() -> None:
    clock = BackwardsClock()
    b = Batcher(10, "5s", clock=clock)
    clock.now = 50 * S
    b.add("k", "a")
    clock.now = 0
    r = b.add("k", "b")
    assert (r.outcome, r.deadline) == (APPENDED, 55 * S)
    assert b.poll() == ()
    clock.now = 55 * S
    (batch,) = b.poll()
    assert (batch.first_at, batch.flushed_at) == (50 * S, 55 * S)


def test_many_early_flushes_compact_the_timer_heap() -> None:
    b = Batcher(2, "1h", clock=ManualClock())
    for i in range(2000):
        b.add(f"k{i % 7}", f"e{i}")
    assert len(b) <= 7 and len(b._heap) <= 64


# -- validation ---------------------------------------------------------------------------

BAD_ARGS: list[tuple[dict[str, object], str]] = [
    ({"max_size": 1, "timeout": "5s"}, "max_size must be an int >= 2"),
    ({"max_size": True, "timeout": "5s"}, "max_size must be an int >= 2"),
    ({"max_size": 2, "timeout": "10ss"}, "timeout: invalid duration '10ss'"),
    ({"max_size": 2, "timeout": "100ms"}, "timeout must be at least 1s"),
    ({"max_size": 2, "timeout": "1d"}, "unknown unit 'd'"),  # time.ParseDuration: no d
    ({"max_size": 2, "timeout": 5.0}, "timeout must be an int of nanoseconds"),
    ({"max_size": 2, "timeout": "1s", "max_bytes": 0}, "max_bytes must be an int >= 1"),
    ({"max_size": 2, "timeout": "1s", "dedupe_window": -1}, "dedupe_window must be an int >= 0"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD_ARGS)
def test_bad_constructor_arguments_name_the_argument(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Batcher(clock=ManualClock(), **kwargs)  # type: ignore[arg-type]


def test_one_second_timeout_is_accepted() -> None:
    assert Batcher(2, "1s", clock=ManualClock()).timeout == S
    assert Batcher(2, S, clock=ManualClock()).max_bytes == 10 * 1024 * 1024


def test_bad_add_input_is_refused_without_touching_state() -> None:
    b = Batcher(3, "5s", clock=ManualClock())
    b.add("k", "a")
    before = b.snapshot()
    with pytest.raises(TypeError, match="key and event_id must be str"):
        b.add("k", 5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="size must be >= 0"):
        b.add("k", "b", size=-1)
    assert b.snapshot() == before


# -- persistence --------------------------------------------------------------------------


def test_snapshot_round_trip_mid_sequence_changes_nothing() -> None:
    clock = ManualClock()
    a = Batcher(3, "5s", 100, clock=clock)
    a.add("k", "k1", size=10)
    a.add("j", "j1")
    clock.set(4 * S)
    a.add("k", "k2", size=20)
    clock.set(5 * S)
    a.add("k", "k3")  # k's batch is due: k3 opens a new batch, the old one awaits poll
    data = json.loads(json.dumps(a.snapshot()))
    assert data["kind"] == "Batcher" and data["version"] == 1
    b = Batcher.from_snapshot(data, clock=clock)
    assert b.snapshot() == a.snapshot()
    steps = [(6, "k", "k4", 80), (6, "k", "k1", 0), (7, "j", "j2", 0), (8, "j", "j3", 0)]
    for t, key, ev, size in steps:
        clock.set(t * S)
        assert a.poll() == b.poll()
        assert a.add(key, ev, size) == b.add(key, ev, size)
    clock.set(DEDUPE_WINDOW + 10 * S)
    assert a.poll() == b.poll()
    assert a.add("k", "k1") == b.add("k", "k1")
    assert a.snapshot() == b.snapshot()


BAD_SNAPSHOTS: list[tuple[Callable[[Any], object], str]] = [
    (lambda s: s.update(kind="Debounce"), "snapshot.kind must be 'Batcher'"),
    (lambda s: s.update(version=0), "snapshot.version must be 1"),
    (lambda s: s.pop("seen"), "snapshot.seen is missing"),
    (lambda s: s.update(max_size=1), "snapshot: max_size must be"),
    (lambda s: s["batches"][0].update(event_ids=[]), r"batches\[0\]: an open batch must hold"),
    (lambda s: s["batches"][0].update(event_ids=[1]), r"batches\[0\].event_ids must be"),
    (lambda s: s["batches"][0].update(id=0), r"batches\[0\].id 0 is repeated"),
    (lambda s: s["batches"][0].update(active=False), "inactive batch must already be due"),
    (lambda s: s["batches"][0].update(first_at=10**30), "first_at is after snapshot.now"),
    (lambda s: s["batches"].append(3), r"batches\[1\] must be an object"),
    (lambda s: s["seen"].append(["x", 0]), r"snapshot.seen\[1\] must be a new"),
    (lambda s: s["seen"].append(["e", 10**20]), r"snapshot.seen\[1\] must be a new"),
]


@pytest.mark.parametrize(("corrupt", "message"), BAD_SNAPSHOTS)
def test_bad_snapshots_are_refused_with_a_path(
    corrupt: Callable[[Any], object], message: str
) -> None:
    clock = ManualClock(S)
    b = Batcher(3, "5s", clock=clock)
    b.add("k", "e")
    data = json.loads(json.dumps(b.snapshot()))
    corrupt(data)
    with pytest.raises(ValueError, match=message):
        Batcher.from_snapshot(data, clock=clock)


def test_results_are_frozen_values() -> None:
    import dataclasses
    import pickle

    b = Batcher(2, "1s", clock=ManualClock())
    first, second = b.add("k", "a"), b.add("k", "b")
    assert second.batch is not None
    for value in (first, second, second.batch):
        with pytest.raises(dataclasses.FrozenInstanceError):
            value.batch_id = 9  # type: ignore[misc]
        assert value == dataclasses.replace(value)
        assert type(value) in (Added, Batch)  # the real classes, not the builders
        assert pickle.loads(pickle.dumps(value)) == value


def test_state_is_dropped_once_batches_flush_and_ids_expire() -> None:
    clock = ManualClock()
    b = Batcher(3, "1s", clock=clock)
    for i in range(10_000):
        b.add(f"k{i % 5000}", f"e{i}")
    assert len(b) == 5000 and b.dedupe_size() == 10_000
    clock.advance("1s")
    assert sum(len(x.event_ids) for x in b.poll()) == 10_000
    assert len(b) == 0 and b.active_keys() == () and b._heap == [] and not b._active
    clock.advance(DEDUPE_WINDOW)
    assert b.prune() == 10_000 and b.dedupe_size() == 0


def test_snapshot_with_bad_next_id_is_refused() -> None:
    data = Batcher(2, "1s", clock=ManualClock()).snapshot()
    data["next_id"] = 0
    with pytest.raises(ValueError, match=r"snapshot\.next_id must be >= 1"):
        Batcher.from_snapshot(data, clock=ManualClock())
