"""Batcher against a brute-force model: nothing lost, nothing twice, order kept.

The model keeps the full history of accepted adds and decides duplicates by scanning
it (an id is a duplicate iff it was accepted less than ``window`` ago); each key's
open batch is a plain list, flushed by the rules of spec §7.3.
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

from flowcontrol.machines.batch import AddOutcome, Batch, Batcher, FlushReason

S = 1_000_000_000
TIMEOUT = 5 * S
WINDOW = 20 * S
KEYS = ("a", "b", "c")
IDS = tuple(f"e{i}" for i in range(12))


class Clock:
    """A clock the test moves, sometimes backwards."""

    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


@dataclass
class Open:
    id: int
    key: str
    first_at: int
    events: list[tuple[str, int]] = field(default_factory=list)  # (event id, size)
    closed: bool = False


class BatcherMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.hwm = 0
        self.batches: list[Open] = []
        self.accepted: list[tuple[str, int, str]] = []  # (event id, time, key), non-duplicates
        self.handed_out: list[Batch] = []
        self.adds = 0

    @initialize(
        max_size=st.integers(2, 4),
        max_bytes=st.sampled_from([5, 10, 10 * 1024 * 1024]),
        window=st.sampled_from([0, WINDOW]),
    )
    def setup(self, max_size: int, max_bytes: int, window: int) -> None:
        self.max_size, self.max_bytes, self.window = max_size, max_bytes, window
        self.b = Batcher(max_size, TIMEOUT, max_bytes, clock=self.clock, dedupe_window=window)

    def now(self) -> int:
        self.hwm = max(self.hwm, self.clock.now)
        return self.hwm

    def open_batch(self, key: str, now: int) -> Open | None:
        for o in reversed(self.batches):
            if o.key == key:
                return o if not o.closed and o.first_at + TIMEOUT > now else None
        return None

    # -- rules ---------------------------------------------------------------------------

    @rule(step=st.sampled_from([0, 1, S, TIMEOUT - 1, TIMEOUT, WINDOW]))
    def advance(self, step: int) -> None:
        self.clock.now += step

    @rule(back=st.sampled_from([1, 3 * S]))
    def clock_goes_backwards(self, back: int) -> None:
        self.clock.now -= back

    @rule(key=st.sampled_from(KEYS), event_id=st.sampled_from(IDS), size=st.integers(0, 6))
    def add(self, key: str, event_id: str, size: int) -> None:
        result = self.b.add(key, event_id, size)
        now = self.now()
        self.adds += 1
        if any(e == event_id and now < t + self.window for e, t, _ in self.accepted):
            assert result.outcome is AddOutcome.DUPLICATE
            assert (result.batch_id, result.size, result.batch) == (None, 0, None)
            return
        self.accepted.append((event_id, now, key))
        o = self.open_batch(key, now)
        if o is None:
            o = Open(id=len(self.batches) + 1, key=key, first_at=now)
            self.batches.append(o)
        o.events.append((event_id, size))
        n, nbytes = len(o.events), sum(s for _, s in o.events)
        assert (result.batch_id, result.size) == (o.id, n)
        if n >= self.max_size or nbytes >= self.max_bytes:
            o.closed = True
            reason = FlushReason.FULL if n >= self.max_size else FlushReason.MAX_BYTES
            assert result.outcome is AddOutcome.FLUSHED
            assert result.batch == Batch(
                key, o.id, tuple(e for e, _ in o.events), nbytes, o.first_at, now, reason
            )
            assert result.deadline is None
            self.handed_out.append(result.batch)
        else:
            assert result.outcome is (AddOutcome.NEW if n == 1 else AddOutcome.APPENDED)
            assert result.deadline == o.first_at + TIMEOUT and result.batch is None

    @rule()
    def poll(self) -> None:
        got = self.b.poll()
        now = self.now()
        due = [o for o in self.batches if not o.closed and o.first_at + TIMEOUT <= now]
        due.sort(key=lambda o: (o.first_at + TIMEOUT, o.id))
        expected = []
        for o in due:
            o.closed = True
            expected.append(Batch(
                o.key, o.id, tuple(e for e, _ in o.events), sum(s for _, s in o.events),
                o.first_at, o.first_at + TIMEOUT, FlushReason.TIMEOUT,
            ))
        assert got == tuple(expected)
        self.handed_out.extend(got)

    @rule(key=st.sampled_from(KEYS))
    def flush(self, key: str) -> None:
        got = self.b.flush(key)
        now = self.now()
        o = self.open_batch(key, now)
        if o is None:
            assert got is None
            return
        o.closed = True
        assert got == Batch(
            key, o.id, tuple(e for e, _ in o.events), sum(s for _, s in o.events),
            o.first_at, now, FlushReason.MANUAL,
        )
        self.handed_out.append(got)

    @rule()
    def prune(self) -> None:
        before = self.b.dedupe_size()
        dropped = self.b.prune()
        now = self.now()  # prune reads the clock too
        # After a prune the dedupe memory is exactly the ids still inside their window.
        live = {e for e, t, _ in self.accepted if now < t + self.window}
        assert self.b.dedupe_size() == len(live)
        assert self.b.dedupe_size() == before - dropped

    @rule()
    def restore_from_snapshot(self) -> None:
        data = json.loads(json.dumps(self.b.snapshot()))
        self.b = Batcher.from_snapshot(data, clock=self.clock)
        assert self.b.snapshot() == data

    @precondition(lambda self: self.b.next_deadline() is not None)
    @rule()
    def jump_to_next_deadline(self) -> None:
        deadline = self.b.next_deadline()
        assert deadline is not None
        self.clock.now = max(self.clock.now, deadline)

    # -- invariants ----------------------------------------------------------------------

    @invariant()
    def pending_matches_each_keys_latest_batch(self) -> None:
        for key in KEYS:
            latest = [o for o in self.batches if o.key == key]
            expected = () if not latest or latest[-1].closed else tuple(
                e for e, _ in latest[-1].events
            )
            assert self.b.pending(key) == expected

    @invariant()
    def nothing_lost_nothing_twice_and_arrival_order_kept(self) -> None:
        # Per key: the handed-out batches plus the open ones, by batch id, hold exactly
        # the key's accepted events in the order they arrived.
        for key in KEYS:
            out = sorted((b for b in self.handed_out if b.key == key), key=lambda b: b.batch_id)
            still_open = [o for o in self.batches if o.key == key and not o.closed]
            got = [(b.batch_id, e) for b in out for e in b.event_ids]
            got += [(o.id, e) for o in still_open for e, _ in o.events]
            got.sort(key=lambda pair: pair[0])
            assert [e for _, e in got] == [e for e, _, k in self.accepted if k == key]
        assert len(self.handed_out) == len({b.batch_id for b in self.handed_out})

    @invariant()
    def batches_never_exceed_max_size(self) -> None:
        for b in self.handed_out:
            assert 1 <= len(b.event_ids) <= self.max_size

    @invariant()
    def next_deadline_and_len_match_model(self) -> None:
        open_ = [o.first_at + TIMEOUT for o in self.batches if not o.closed]
        assert self.b.next_deadline() == (min(open_) if open_ else None)
        assert len(self.b) == len(open_)

    @invariant()
    def dedupe_memory_is_bounded_by_the_window(self) -> None:
        # Lazily expired ids linger only until the next add/prune; never beyond the
        # ids accepted within one window before the latest such call.
        assert self.b.dedupe_size() <= len(self.accepted)
        if self.window == 0:
            assert self.b.dedupe_size() == 0


TestBatcherMachine = BatcherMachine.TestCase
