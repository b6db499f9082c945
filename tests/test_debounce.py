"""Debounce: the last event wins, fired at min(last + period, first + timeout).

Cases come from the spec (§5.3, §12: ``TestDebounce``, ``TestDebounce_OutOfOrderTS``,
``TestDebounce_Timeout``, the single/multiple key integration tests) and the seed
document's ``save-document`` example. Times in the tables are seconds from 0.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from flowcontrol.machines.debounce import (
    Debounce,
    DebounceCancelled,
    DebounceOutcome,
    Fired,
    Pushed,
)
from flowcontrol.time import ManualClock

S = 1_000_000_000
SCHEDULED, EXTENDED, IGNORED = (
    DebounceOutcome.SCHEDULED,
    DebounceOutcome.EXTENDED,
    DebounceOutcome.IGNORED,
)


class BackwardsClock:
    """A clock the test can move anywhere, including backwards."""

    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


def run(
    period: int | str,
    timeout: int | str | None,
    script: Sequence[tuple[float, str, str]],
    *,
    until: float,
) -> tuple[list[tuple[float, Pushed]], list[Fired]]:
    """Push (time s, key, event id) in order, polling before each push and at the end."""
    clock = ManualClock()
    d = Debounce(period, timeout, clock=clock)
    results: list[tuple[float, Pushed]] = []
    fired: list[Fired] = []
    for t, key, event_id in script:
        clock.set(int(t * S))
        fired.extend(d.poll())
        results.append((t, d.push(key, event_id)))
    while (deadline := d.next_deadline()) is not None and deadline <= until * S:
        clock.set(max(clock.now, deadline))
        fired.extend(d.poll())
    return results, fired


# -- spec §5.3 / §12 TestDebounce -------------------------------------------------------


def test_spec_testdebounce_second_event_resets_timer_keeps_timeout() -> None:
    clock = ManualClock(100 * S)
    d = Debounce("10s", "60s", clock=clock)
    first = d.push("fn", "e1")
    assert first == Pushed(SCHEDULED, 1, 110 * S, None)
    assert d.next_deadline() == 110 * S
    clock.advance("5s")
    second = d.push("fn", "e2")
    # Timer reset to now + period; the timeout cap (t0 + 60 s) is unchanged.
    assert second == Pushed(EXTENDED, 1, 115 * S, "e1")
    assert d.next_deadline() == 115 * S
    assert len(d) == 1 and d.active_keys() == ("fn",)
    clock.set(114 * S)
    assert d.poll() == ()
    clock.set(115 * S)
    assert d.poll() == (Fired("fn", 1, "e2", None, 100 * S, 105 * S, 115 * S, 2),)
    assert len(d) == 0 and d.next_deadline() is None


# Period 10 s, timeout 60 s: fixed instants -> (outcome, debounce id, fire_at s, superseded).
KEEP_TYPING = [
    (0, SCHEDULED, 1, 10, None),
    (9, EXTENDED, 1, 19, "e0"),
    (18, EXTENDED, 1, 28, "e9"),
    (27, EXTENDED, 1, 37, "e18"),
    (36, EXTENDED, 1, 46, "e27"),
    (45, EXTENDED, 1, 55, "e36"),
    (54, EXTENDED, 1, 60, "e45"),  # capped by first + timeout
    (59, EXTENDED, 1, 60, "e54"),
    (60, SCHEDULED, 2, 70, None),  # the first debounce is due: a new one opens
    (65, EXTENDED, 2, 75, "e60"),
]


def test_timeout_caps_from_the_first_event_table() -> None:
    results, fired = run(
        "10s", "60s", [(t, "k", f"e{t}") for t, *_ in KEEP_TYPING], until=1000
    )
    assert [(t, r.outcome, r.debounce_id, r.fire_at / S, r.superseded) for t, r in results] == [
        (t, o, i, f, s) for t, o, i, f, s in KEEP_TYPING
    ]
    assert [(f.debounce_id, f.event_id, f.first_at, f.last_at, f.fire_at, f.count)
            for f in fired] == [
        (1, "e59", 0, 59 * S, 60 * S, 8),
        (2, "e65", 60 * S, 65 * S, 75 * S, 2),
    ]


def test_spec_debounce_timeout_events_every_second_for_20s() -> None:
    # tests/golang TestDebounce_Timeout: period 5 s, timeout 10 s, one event per second
    # for 20 s -> the first run starts after >= 10 s (here exactly at 10 s).
    results, fired = run("5s", "10s", [(t, "k", f"e{t}") for t in range(20)], until=100)
    assert [(f.event_id, f.first_at / S, f.fire_at / S, f.count) for f in fired] == [
        ("e9", 0, 10, 10),
        ("e19", 10, 20, 10),
    ]
    assert [r.outcome for _, r in results].count(SCHEDULED) == 2


def test_spec_single_key_runs_once_with_last_event_then_again_for_second_burst() -> None:
    burst1 = [(i / 1000, "fn", f"a{i}") for i in range(1000)]
    burst2 = [(30 + i / 1000, "fn", f"b{i}") for i in range(10)]
    results, fired = run("5s", None, burst1 + burst2, until=1000)
    assert [f.event_id for f in fired] == ["a999", "b9"]
    assert fired[0].fire_at == fired[0].last_at + 5 * S  # >= period after the last event
    assert fired[0].count == 1000 and fired[1].count == 10
    superseded = [r.superseded for _, r in results if r.superseded is not None]
    assert len(superseded) == 1008
    # Every event is accounted for exactly once: superseded or fired.
    everything = sorted(superseded + [f.event_id for f in fired])
    assert everything == sorted(e for _, _, e in burst1 + burst2)


def test_spec_multiple_keys_each_run_once() -> None:
    script = [(i * 0.1, f"user-{i % 5}", f"e{i}") for i in range(50)]
    _, fired = run("2s", None, script, until=100)
    assert sorted(f.key for f in fired) == [f"user-{i}" for i in range(5)]
    assert {f.key: f.event_id for f in fired} == {f"user-{i}": f"e{45 + i}" for i in range(5)}
    # Order of poll output: by fire time, then debounce id.
    assert [f.fire_at for f in fired] == sorted(f.fire_at for f in fired)


# -- out-of-order ts (TestDebounce_OutOfOrderTS) -------------------------------------------

# (clock s, event id, event ts s) -> (outcome, superseded)
OUT_OF_ORDER = [
    (0, "future", 100, SCHEDULED, None),  # an event with a future ts, sent first
    (1, "now", 1, IGNORED, "now"),  # older ts than the stored one: ignored
    (2, "same", 100, EXTENDED, "future"),  # equal ts is accepted
    (3, "later", 101, EXTENDED, "same"),
    (4, "old", 50, IGNORED, "old"),
]


def test_out_of_order_ts_table() -> None:
    clock = ManualClock()
    d = Debounce("10s", clock=clock)
    for t, event_id, ts, outcome, superseded in OUT_OF_ORDER:
        clock.set(t * S)
        r = d.push("k", event_id, ts=ts * S)
        assert (r.outcome, r.superseded) == (outcome, superseded), event_id
    # An ignored event does not move the timer: the last accepted push was at 3 s.
    assert d.fire_at("k") == 13 * S
    clock.set(13 * S)
    (fired,) = d.poll()
    assert (fired.event_id, fired.last_at, fired.count) == ("later", 3 * S, 5)


def test_ts_defaults_to_arrival_time() -> None:
    clock = ManualClock(5 * S)
    d = Debounce("10s", clock=clock)
    d.push("k", "a")  # ts = 5 s
    clock.set(6 * S)
    assert d.push("k", "b", ts=4 * S).outcome is IGNORED
    assert d.push("k", "c", ts=5 * S).outcome is EXTENDED


# -- the seed document's save-document example --------------------------------------------


def test_seed_save_document_period_5m_timeout_30m() -> None:
    # Edits every minute for 70 minutes on doc-1, one edit on doc-2, then silence.
    script = [(m * 60, "doc-1", f"edit{m}") for m in range(70)] + [(120, "doc-2", "other")]
    script.sort()
    _, fired = run("5m", "30m", script, until=10_000)
    assert [(f.key, f.event_id, f.fire_at / S) for f in fired] == [
        ("doc-2", "other", 120 + 300),  # "Wait 5min after last edit"
        ("doc-1", "edit29", 30 * 60),  # "Force save after 30min max"
        ("doc-1", "edit59", 60 * 60),
        ("doc-1", "edit69", 69 * 60 + 300),  # saved 5 minutes after the last edit
    ]


# -- edges ------------------------------------------------------------------------------


def test_event_at_exact_fire_time_opens_new_debounce_before_poll() -> None:
    clock = ManualClock()
    d = Debounce("10s", clock=clock)
    d.push("k", "a")
    clock.set(10 * S)
    r = d.push("k", "b")  # the first is due (fires at 10 s) but was not polled yet
    assert r == Pushed(SCHEDULED, 2, 20 * S, None)
    assert len(d) == 2 and d.next_deadline() == 10 * S
    assert [(f.debounce_id, f.event_id) for f in d.poll()] == [(1, "a")]
    assert d.fire_at("k") == 20 * S and len(d) == 1


def test_one_ns_before_fire_time_still_extends() -> None:
    clock = ManualClock()
    d = Debounce("10s", clock=clock)
    d.push("k", "a")
    clock.set(10 * S - 1)
    assert d.push("k", "b") == Pushed(EXTENDED, 1, 20 * S - 1, "a")


def test_timeout_zero_fires_at_first_arrival_and_timeout_below_period() -> None:
    clock = ManualClock(7 * S)
    d = Debounce("10s", 0, clock=clock)
    assert d.push("k", "a").fire_at == 7 * S
    assert [f.event_id for f in d.poll()] == ["a"]
    d2 = Debounce("10s", "3s", clock=clock)
    assert d2.push("k", "a").fire_at == 10 * S
    clock.advance("1s")
    assert d2.push("k", "b").fire_at == 10 * S


def test_next_deadline_is_exact_after_extensions() -> None:
    clock = ManualClock()
    d = Debounce("10s", clock=clock)
    d.push("a", "a1")  # due 10
    clock.set(1 * S)
    d.push("b", "b1")  # due 11
    clock.set(5 * S)
    d.push("a", "a2")  # a now due 15
    assert d.next_deadline() == 11 * S
    clock.set(11 * S)
    assert [f.key for f in d.poll()] == ["b"]
    assert d.next_deadline() == 15 * S


def test_poll_orders_by_fire_time_then_id() -> None:
    clock = BackwardsClock()
    d = Debounce("10s", clock=clock)
    d.push("x", "x1")  # id 1, due 10
    d.push("y", "y1")  # id 2, due 10
    clock.now = 2 * S
    d.push("x", "x2")  # id 1, due 12
    clock.now = 1 * S  # backwards: counts as still 2 s
    d.push("z", "z1")  # id 3, opened at 2 s, due 12
    clock.now = 100 * S
    assert [(f.key, f.fire_at // S) for f in d.poll()] == [("y", 10), ("x", 12), ("z", 12)]


def test_clock_going_backwards_counts_as_no_time_passing() -> None:
    clock = BackwardsClock()
    d = Debounce("10s", "30s", clock=clock)
    clock.now = 50 * S
    d.push("k", "a")
    clock.now = 0  # jumps back 50 s
    r = d.push("k", "b")
    assert r == Pushed(EXTENDED, 1, 60 * S, "a")  # as if pushed at 50 s
    assert d.poll() == ()
    clock.now = 59 * S
    assert d.poll() == ()
    clock.now = 60 * S
    (fired,) = d.poll()
    assert (fired.first_at, fired.last_at, fired.fire_at) == (50 * S, 50 * S, 60 * S)


def test_cancel_accounts_for_the_pending_event() -> None:
    clock = ManualClock()
    d = Debounce("10s", clock=clock)
    assert d.cancel("k") is None
    d.push("k", "a")
    d.push("k", "b")
    assert d.cancel("k") == DebounceCancelled("k", 1, "b", None, 2)
    assert len(d) == 0 and d.next_deadline() is None and d.poll() == ()
    assert d.push("k", "c").outcome is SCHEDULED
    clock.set(10 * S)
    assert d.cancel("k") is None  # already due: it fires
    assert [f.event_id for f in d.poll()] == ["c"]


def test_many_cancels_compact_the_timer_heap() -> None:
    clock = ManualClock()
    d = Debounce("10s", clock=clock)
    for i in range(1000):
        d.push(f"k{i}", "e")
        d.cancel(f"k{i}")
    assert len(d) == 0 and len(d._heap) <= 64


def test_payload_of_last_event_is_carried() -> None:
    clock = ManualClock()
    d = Debounce("1s", clock=clock)
    d.push("k", "a", payload={"n": 1})
    d.push("k", "b", payload={"n": 2})
    clock.set(S)
    assert d.poll()[0].payload == {"n": 2}


# -- validation ---------------------------------------------------------------------------

BAD_ARGS = [
    ({"period": "500ms"}, "period must be between 1s and 168h"),
    ({"period": "169h"}, "period must be between 1s and 168h"),
    ({"period": "8d"}, "period must be between 1s and 168h"),
    ({"period": "5x"}, "period: invalid duration '5x'"),
    ({"period": 1.5}, "period must be an int of nanoseconds or a duration string"),
    ({"period": True}, "period must be an int"),
    ({"period": "1s", "timeout": "-1s"}, "timeout must not be negative"),
    ({"period": "1s", "timeout": "soon"}, "timeout: invalid duration 'soon'"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD_ARGS)
def test_bad_constructor_arguments_name_the_argument(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        Debounce(clock=ManualClock(), **kwargs)  # type: ignore[arg-type]


def test_range_ends_and_empty_timeout_are_accepted() -> None:
    assert Debounce("1s", clock=ManualClock()).period == S
    assert Debounce("168h", clock=ManualClock()).period == 168 * 3600 * S
    assert Debounce("7d", "", clock=ManualClock()).timeout is None
    with pytest.raises(ValueError, match="clock"):
        Debounce("1s", clock=5)  # type: ignore[arg-type]


def test_bad_push_input_is_refused_without_touching_state() -> None:
    clock = ManualClock()
    d = Debounce("10s", clock=clock)
    d.push("k", "a")
    before = d.snapshot()
    with pytest.raises(TypeError, match="key and event_id must be str"):
        d.push(1, "b")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ts must be an int"):
        d.push("k", "b", ts=1.5)  # type: ignore[arg-type]
    assert d.snapshot() == before


# -- persistence --------------------------------------------------------------------------


def test_snapshot_round_trip_mid_sequence_changes_nothing() -> None:
    clock = ManualClock()
    a = Debounce("10s", "25s", clock=clock)
    a.push("k", "e1", payload=[1, 2])
    a.push("j", "j1")
    clock.set(8 * S)
    a.push("k", "e2", ts=8 * S)
    clock.set(10 * S)
    a.push("j", "j2")  # j's first debounce is due: displaced, still to be polled
    data = json.loads(json.dumps(a.snapshot()))
    assert data["kind"] == "Debounce" and data["version"] == 1
    b = Debounce.from_snapshot(data, clock=clock)
    assert b.snapshot() == a.snapshot()
    for t, key, ev, ts in [(12, "k", "e3", 5 * S), (15, "k", "e4", None), (19, "j", "j3", None)]:
        clock.set(t * S)
        assert a.poll() == b.poll()
        assert a.push(key, ev, ts=ts) == b.push(key, ev, ts=ts)
    for _ in range(5):
        assert a.next_deadline() == b.next_deadline()
        if a.next_deadline() is None:
            break
        clock.set(a.next_deadline() or 0)
        assert a.poll() == b.poll()


BAD_SNAPSHOTS = [
    (lambda s: s.update(kind="Batcher"), "snapshot.kind must be 'Debounce'"),
    (lambda s: s.update(version=2), "snapshot.version must be 1"),
    (lambda s: s.pop("now"), "snapshot.now is missing"),
    (lambda s: s.update(period="10s"), "snapshot.period must be int"),
    (lambda s: s.update(period=1), "snapshot: period must be between"),
    (lambda s: s["debounces"][0].update(fire_at=1), r"fire_at 1 != min"),
    (lambda s: s["debounces"][0].update(key=3), r"debounces\[0\].key must be str"),
    (lambda s: s["debounces"][0].update(id=99), r"debounces\[0\].id 99 is repeated"),
    (lambda s: s["debounces"].append(dict(s["debounces"][0])), "repeated"),
    (lambda s: s["debounces"][0].update(active=False), "inactive debounce must already be due"),
    (lambda s: s.update(debounces=[3]), r"debounces\[0\] must be an object"),
]


@pytest.mark.parametrize(("corrupt", "message"), BAD_SNAPSHOTS)
def test_bad_snapshots_are_refused_with_a_path(corrupt: object, message: str) -> None:
    clock = ManualClock()
    d = Debounce("10s", clock=clock)
    d.push("k", "e")
    data = json.loads(json.dumps(d.snapshot()))
    corrupt(data)  # type: ignore[operator]
    with pytest.raises(ValueError, match=message):
        Debounce.from_snapshot(data, clock=clock)


def test_results_are_frozen_values() -> None:
    import dataclasses
    import pickle

    clock = ManualClock()
    d = Debounce("1s", clock=clock)
    pushed = d.push("k", "a")
    clock.set(S)
    (fired,) = d.poll()
    for value in (pushed, fired):
        with pytest.raises(dataclasses.FrozenInstanceError):
            value.debounce_id = 9  # type: ignore[misc]
        assert hash(value) == hash(dataclasses.replace(value))
        assert type(value) in (Pushed, Fired)  # the real classes, not the builders
        assert pickle.loads(pickle.dumps(value)) == value


def test_state_is_dropped_once_keys_fire() -> None:
    clock = ManualClock()
    d = Debounce("1s", clock=clock)
    for i in range(10_000):
        d.push(f"k{i}", f"e{i}")
    assert len(d) == 10_000
    clock.advance("1s")
    assert len(d.poll()) == 10_000
    assert len(d) == 0 and d.active_keys() == () and d._heap == [] and not d._active


def test_snapshot_with_bad_next_id_is_refused() -> None:
    data = Debounce("1s", clock=ManualClock()).snapshot()
    data["next_id"] = 0
    with pytest.raises(ValueError, match=r"snapshot\.next_id must be >= 1"):
        Debounce.from_snapshot(data, clock=ManualClock())
