"""Debounce against a brute-force model: every event fires once or is superseded.

The model keeps each key's debounces as plain lists of events and recomputes every
fire time from scratch (``min(last accepted arrival + period, first arrival +
timeout)``) whenever it is asked, so it shares no bookkeeping with the machine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from flowcontrol.machines.debounce import Debounce, DebounceOutcome, Fired, Pushed

S = 1_000_000_000
PERIOD = 10 * S
KEYS = ("a", "b", "c")


class Clock:
    """A clock the test moves, sometimes backwards."""

    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


@dataclass
class Group:
    """One debounce in the model: the events that went to it, in push order."""

    id: int
    key: str
    # (event id, arrival, ts, accepted)
    events: list[tuple[str, int, int, bool]] = field(default_factory=list)
    closed: bool = False  # fired or cancelled

    def deadline(self, timeout: int | None) -> int:
        first = self.events[0][1]
        last = max(arrival for _, arrival, _, ok in self.events if ok)
        cap = first + timeout if timeout is not None else last + PERIOD
        return min(last + PERIOD, cap)

    def winner(self) -> tuple[str, int, int]:
        """The stored event: the last accepted one (id, arrival, ts)."""
        event_id, arrival, ts, _ = [e for e in self.events if e[3]][-1]
        return event_id, arrival, ts


class DebounceMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.hwm = 0
        self.groups: list[Group] = []
        self.next_event = 0
        self.pushed: list[str] = []
        self.superseded: list[str] = []
        self.done: list[str] = []  # fired or cancelled event ids

    @initialize(timeout=st.sampled_from([None, 0, 5 * S, 10 * S, 25 * S]))
    def setup(self, timeout: int | None) -> None:
        self.timeout = timeout
        self.d = Debounce(PERIOD, timeout, clock=self.clock)

    # -- model helpers -------------------------------------------------------------------

    def now(self) -> int:
        self.hwm = max(self.hwm, self.clock.now)
        return self.hwm

    def open_group(self, key: str, now: int) -> Group | None:
        """The key's latest debounce if it is still open and not yet due."""
        for g in reversed(self.groups):
            if g.key == key:
                if not g.closed and g.deadline(self.timeout) > now:
                    return g
                return None
        return None

    def due(self, now: int) -> list[Group]:
        out = [g for g in self.groups if not g.closed and g.deadline(self.timeout) <= now]
        return sorted(out, key=lambda g: (g.deadline(self.timeout), g.id))

    # -- rules ---------------------------------------------------------------------------

    @rule(step=st.sampled_from([0, 1, S // 2, 3 * S, PERIOD - 1, PERIOD, 12 * S]))
    def advance(self, step: int) -> None:
        self.clock.now += step

    @rule(back=st.sampled_from([1, 2 * S, 20 * S]))
    def clock_goes_backwards(self, back: int) -> None:
        self.clock.now -= back

    @rule(key=st.sampled_from(KEYS), ts_offset=st.sampled_from([None, -2 * S, -1, 0, 1, 3 * S]))
    def push(self, key: str, ts_offset: int | None) -> None:
        self.next_event += 1
        event_id = f"e{self.next_event}"
        now = self.now()
        ts = now if ts_offset is None else now + ts_offset
        result = self.d.push(key, event_id, ts=None if ts_offset is None else ts)
        g = self.open_group(key, now)
        if g is None:
            g = Group(id=len(self.groups) + 1, key=key)
            self.groups.append(g)
            g.events.append((event_id, now, ts, True))
            expected = Pushed(DebounceOutcome.SCHEDULED, g.id, g.deadline(self.timeout), None)
        else:
            stored_id, _, stored_ts = g.winner()
            if stored_ts > ts:
                g.events.append((event_id, now, ts, False))
                expected = Pushed(
                    DebounceOutcome.IGNORED, g.id, g.deadline(self.timeout), event_id
                )
            else:
                g.events.append((event_id, now, ts, True))
                expected = Pushed(
                    DebounceOutcome.EXTENDED, g.id, g.deadline(self.timeout), stored_id
                )
        assert result == expected
        self.pushed.append(event_id)
        if result.superseded is not None:
            self.superseded.append(result.superseded)

    @rule()
    def poll(self) -> None:
        fired = self.d.poll()
        now = self.now()
        expected = []
        for g in self.due(now):
            g.closed = True
            event_id, _, _ = g.winner()
            accepted = [arrival for _, arrival, _, ok in g.events if ok]
            expected.append(Fired(
                g.key, g.id, event_id, None, g.events[0][1], max(accepted),
                g.deadline(self.timeout), len(g.events),
            ))
        assert fired == tuple(expected)
        for f in fired:
            assert f.fire_at <= now
            self.done.append(f.event_id)

    @rule(key=st.sampled_from(KEYS))
    def cancel(self, key: str) -> None:
        result = self.d.cancel(key)
        g = self.open_group(key, self.now())
        if g is None:
            assert result is None
        else:
            g.closed = True
            assert result is not None
            assert (result.debounce_id, result.event_id, result.count) == (
                g.id, g.winner()[0], len(g.events)
            )
            self.done.append(result.event_id)

    @rule()
    def restore_from_snapshot(self) -> None:
        data = json.loads(json.dumps(self.d.snapshot()))
        self.d = Debounce.from_snapshot(data, clock=self.clock)
        assert self.d.snapshot() == data

    @precondition(lambda self: self.d.next_deadline() is not None)
    @rule()
    def jump_to_next_deadline(self) -> None:
        deadline = self.d.next_deadline()
        assert deadline is not None
        self.clock.now = max(self.clock.now, deadline)

    # -- invariants ----------------------------------------------------------------------

    @invariant()
    def next_deadline_matches_model(self) -> None:
        open_ = [g.deadline(self.timeout) for g in self.groups if not g.closed]
        assert self.d.next_deadline() == (min(open_) if open_ else None)
        assert len(self.d) == len(open_)

    @invariant()
    def every_event_is_accounted_for_exactly_once(self) -> None:
        pending = [g.winner()[0] for g in self.groups if not g.closed]
        accounted = self.superseded + self.done + pending
        assert sorted(accounted) == sorted(self.pushed)
        assert len(set(accounted)) == len(accounted)

    @invariant()
    def fire_times_follow_the_formula(self) -> None:
        for item in self.d.snapshot()["debounces"]:  # type: ignore[attr-defined]
            cap = item["first_at"] + self.timeout if self.timeout is not None else None
            expected = item["last_at"] + PERIOD if cap is None else min(item["last_at"] + PERIOD,
                                                                        cap)
            assert item["fire_at"] == expected

    @invariant()
    def active_keys_hold_one_open_debounce_each(self) -> None:
        keys = self.d.active_keys()
        assert len(keys) == len(set(keys))
        for key in KEYS:
            latest = [g for g in self.groups if g.key == key]
            has_open = bool(latest) and not latest[-1].closed
            assert (key in keys) == has_open


TestDebounceMachine = DebounceMachine.TestCase
