"""Event batching: per key, collect events into one run, flushed by size, bytes or time.

Theory of operation
-------------------
Each key holds at most one *open* batch. The first event opens it at ``first_at`` and
starts its timer: the batch is due at ``first_at + timeout`` (the timer starts at the
first event and is never reset, spec §7.3). Events are kept in arrival order. After
an event is appended the batch is flushed at once when it holds ``max_size`` events
or when the byte sizes given by the caller add up to at least ``max_bytes``; the
event that reaches the budget is part of the flushed batch (the platform's
``RPUSH`` then ``MEMORY USAGE >= 10 MiB`` check), so a single event of ``max_bytes``
or more is flushed alone. A due batch comes out of ``poll()``; ``flush(key)`` empties
a key by hand.

Dedupe: an event id added in the last ``dedupe_window`` (30 min, the platform's
``batch_idem`` TTL of 1800 s) is not added again, whatever its key and whether or not
its batch was flushed since. An id added at ``t`` is a duplicate at ``now`` iff
``now < t + dedupe_window``. Ids are forgotten as they expire, so the dedupe memory
follows the event rate of the last window; ``prune()`` drops expired ids eagerly.

Accounting: every added event ends in exactly one place: it is either a
``DUPLICATE`` (never batched), or one of the ``event_ids`` of exactly one
:class:`Batch` handed out by ``add`` (``FLUSHED``), ``poll`` or ``flush``.

Deliberate deviations from the platform (document, don't emulate):

* The platform's timer job fires after queue latency; here a batch is due exactly at
  ``first_at + timeout``. An event arriving at or after that instant opens a new
  batch, and the due one still comes out of the next ``poll()``.
* The platform re-answers ``new`` for a duplicate of the only event in a batch (so a
  retried append re-arms the timer); here a duplicate is always ``DUPLICATE``.
* Byte sizes are whatever the caller passes (e.g. the length of the event's JSON),
  not Redis' ``MEMORY USAGE`` of the list, which adds per-list overhead.

Time never runs backwards inside the machine: the clock is read once per public call
and a reading below the highest one seen counts as no time passing.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from flowcontrol.machines._base import NEVER, SnapshotReader, advance_clock, builder, compact_heap
from flowcontrol.time import NS_PER_S, Clock, parse_duration_strict

__all__ = [
    "DEDUPE_WINDOW",
    "DEFAULT_MAX_BYTES",
    "MIN_BATCH_TIMEOUT",
    "AddOutcome",
    "Added",
    "Batch",
    "Batcher",
    "FlushReason",
]

DEFAULT_MAX_BYTES: Final = 10 * 1024 * 1024
"""The platform's ``defaultBatchSizeLimit`` (10 MiB)."""
DEDUPE_WINDOW: Final = 1800 * NS_PER_S
"""How long an added event id blocks a second add (``batch_idem`` TTL, 30 min)."""
MIN_BATCH_TIMEOUT: Final = NS_PER_S
"""The platform refuses batch timeouts under 1 s."""


class AddOutcome(StrEnum):
    """What an add did."""

    #: Opened a new batch with this event; its timer started.
    NEW = "new"
    #: Appended to the open batch.
    APPENDED = "appended"
    #: Completed the batch (size or bytes); ``Added.batch`` holds it, this event last.
    FLUSHED = "flushed"
    #: The id was added within the dedupe window; nothing changed.
    DUPLICATE = "duplicate"


class FlushReason(StrEnum):
    """Why a batch was handed out."""

    FULL = "full"
    MAX_BYTES = "max_bytes"
    TIMEOUT = "timeout"
    MANUAL = "manual"


@dataclass(frozen=True, slots=True)
class Batch:
    """A flushed batch: start one run with ``event_ids`` (arrival order)."""

    key: str
    batch_id: int
    event_ids: tuple[str, ...]
    size_bytes: int
    first_at: int
    """Arrival time of the first event."""
    flushed_at: int
    """When it was flushed: the arrival of the last event when full, the deadline
    (``first_at + timeout``) on timeout, the call time for a manual flush."""
    reason: FlushReason


@dataclass(frozen=True, slots=True)
class Added:
    """The result of :meth:`Batcher.add`."""

    outcome: AddOutcome
    batch_id: int | None
    """The batch the event went to; None for a duplicate."""
    size: int
    """Events in that batch after this add (0 for a duplicate)."""
    deadline: int | None
    """When the open batch is due by timeout; None once flushed or for a duplicate."""
    batch: Batch | None
    """The flushed batch when ``outcome`` is FLUSHED."""


# Results are built the fast way (see flowcontrol.machines._base.builder).
_AddedBuilder = builder(Added)
_BatchBuilder = builder(Batch)


def _added(outcome: AddOutcome, batch_id: int, size: int, deadline: int | None,
           batch: Batch | None) -> Added:
    r = _AddedBuilder()
    r.outcome = outcome
    r.batch_id = batch_id
    r.size = size
    r.deadline = deadline
    r.batch = batch
    r.__class__ = Added
    result: Added = r
    return result


def _batch(b: _Open, flushed_at: int, reason: FlushReason) -> Batch:
    r = _BatchBuilder()
    r.key = b.key
    r.batch_id = b.id
    r.event_ids = tuple(b.event_ids)
    r.size_bytes = b.nbytes
    r.first_at = b.first_at
    r.flushed_at = flushed_at
    r.reason = reason
    r.__class__ = Batch
    result: Batch = r
    return result


_NEW: Final = AddOutcome.NEW
_APPENDED: Final = AddOutcome.APPENDED
_FLUSHED: Final = AddOutcome.FLUSHED
_DUPLICATE: Final = Added(AddOutcome.DUPLICATE, None, 0, None, None)


def check_add(key: object, event_id: object, size: object) -> int:
    """``size`` if ``Batcher.add``'s arguments are well-typed (``key`` and ``event_id``
    str, ``size`` an int of at least 0 bytes); else the TypeError or ValueError ``add``
    raises, shared by every machine with the same ``add``."""
    if type(key) is not str or type(event_id) is not str or type(size) is not int:
        raise TypeError(
            f"key and event_id must be str and size an int, got {type(key).__name__}, "
            f"{type(event_id).__name__} and {type(size).__name__}"
        )
    if size < 0:
        raise ValueError(f"size must be >= 0 bytes, got {size}")
    return size


class _Open:
    """One batch that has not been handed out yet (mutable, private)."""

    __slots__ = ("deadline", "done", "event_ids", "first_at", "id", "key", "nbytes")

    def __init__(self, id: int, key: str, first_at: int, deadline: int) -> None:
        self.id = id
        self.key = key
        self.event_ids: list[str] = []
        self.nbytes = 0
        self.first_at = first_at
        self.deadline = deadline
        self.done = False


class Batcher:
    """Per-key event batches flushed when full, at the byte budget, or on timeout.

    ``max_size`` >= 2 events; ``timeout`` >= 1 s (int ns, or a Go ``time.ParseDuration``
    string such as ``"30s"``: no ``d``/``w``); ``max_bytes`` >= 1; ``dedupe_window``
    >= 0 ns (0 turns dedupe off).
    """

    __slots__ = (
        "_active", "_clock", "_heap", "_next_id", "_now", "_seen", "_seen_next", "_stale",
        "dedupe_window", "max_bytes", "max_size", "timeout",
    )

    def __init__(
        self,
        max_size: int,
        timeout: int | str,
        max_bytes: int = DEFAULT_MAX_BYTES,
        *,
        clock: Clock,
        dedupe_window: int = DEDUPE_WINDOW,
    ) -> None:
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 2:
            raise ValueError(f"max_size must be an int >= 2 (batch size), got {max_size!r}")
        self.max_size = max_size
        self.timeout = _timeout(timeout)
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise ValueError(f"max_bytes must be an int >= 1, got {max_bytes!r}")
        self.max_bytes = max_bytes
        if (
            isinstance(dedupe_window, bool)
            or not isinstance(dedupe_window, int)
            or dedupe_window < 0
        ):
            raise ValueError(f"dedupe_window must be an int >= 0 (ns), got {dedupe_window!r}")
        self.dedupe_window = dedupe_window
        if not callable(clock):
            raise ValueError("clock must be a zero-argument callable returning nanoseconds")
        self._clock = clock
        self._now = 0
        self._next_id = 1
        self._active: dict[str, _Open] = {}
        # (deadline, id, batch); batches flushed early stay until popped or compacted.
        self._heap: list[tuple[int, int, _Open]] = []
        self._stale = 0
        # event id -> expiry, in insertion order, which is also expiry order.
        self._seen: dict[str, int] = {}
        self._seen_next = NEVER

    _tick = advance_clock

    # -- inputs -----------------------------------------------------------------------

    def add(self, key: str, event_id: str, size: int = 0) -> Added:
        """add puts one event into ``key``'s batch and says what became of it."""
        if type(key) is not str or type(event_id) is not str or type(size) is not int or size < 0:
            check_add(key, event_id, size)
        # The clock read is inlined on this hot path (see flowcontrol.machines._base).
        now = self._clock()
        if now > self._now:
            self._now = now
        else:
            now = self._now
        seen = self._seen
        if now >= self._seen_next:
            self._expire(now)
        if event_id in seen:
            return _DUPLICATE
        if self.dedupe_window:
            if not seen:
                self._seen_next = now + self.dedupe_window
            seen[event_id] = now + self.dedupe_window
        b = self._active.get(key)
        if b is None or b.deadline <= now:
            bid = self._next_id
            self._next_id = bid + 1
            b = _Open(bid, key, now, now + self.timeout)
            self._active[key] = b
            heapq.heappush(self._heap, (b.deadline, bid, b))
        ids = b.event_ids
        ids.append(event_id)
        b.nbytes += size
        n = len(ids)
        if n >= self.max_size or b.nbytes >= self.max_bytes:
            reason = FlushReason.FULL if n >= self.max_size else FlushReason.MAX_BYTES
            return _added(_FLUSHED, b.id, n, None, self._close(b, now, reason))
        return _added(_NEW if n == 1 else _APPENDED, b.id, n, b.deadline, None)

    def flush(self, key: str) -> Batch | None:
        """flush hands out ``key``'s open batch now; None if it has none.

        A batch whose deadline has come is already due and comes out of ``poll()``.
        """
        now = self._tick()
        b = self._active.get(key)
        if b is None or b.deadline <= now:
            return None
        return self._close(b, now, FlushReason.MANUAL)

    def poll(self) -> tuple[Batch, ...]:
        """poll hands out every batch due by timeout at the current time, by (deadline, id)."""
        now = self._tick()
        heap = self._heap
        if not heap or heap[0][0] > now:
            return ()
        out: list[Batch] = []
        while heap and heap[0][0] <= now:
            _, _, b = heapq.heappop(heap)
            if b.done:
                self._stale -= 1
                continue
            b.done = True
            if self._active.get(b.key) is b:
                del self._active[b.key]
            out.append(_batch(b, b.deadline, FlushReason.TIMEOUT))
        return tuple(out)

    def prune(self) -> int:
        """prune forgets dedupe ids whose window has passed; returns how many."""
        return self._expire(self._tick())

    # -- queries ----------------------------------------------------------------------

    def next_deadline(self) -> int | None:
        """next_deadline is the earliest timeout of any open batch, or None."""
        heap = self._heap
        while heap:
            if heap[0][2].done:
                heapq.heappop(heap)
                self._stale -= 1
            else:
                return heap[0][0]
        return None

    def pending(self, key: str) -> tuple[str, ...]:
        """pending lists the event ids in ``key``'s open batch, in arrival order."""
        b = self._active.get(key)
        return () if b is None else tuple(b.event_ids)

    def active_keys(self) -> tuple[str, ...]:
        """active_keys lists keys whose latest batch has not been handed out."""
        return tuple(self._active)

    def dedupe_size(self) -> int:
        """dedupe_size is how many event ids the dedupe window currently remembers."""
        return len(self._seen)

    def __len__(self) -> int:
        """The number of batches not yet handed out (due ones included)."""
        return len(self._heap) - self._stale

    def __repr__(self) -> str:
        return (
            f"Batcher(max_size={self.max_size}, timeout={self.timeout}, "
            f"max_bytes={self.max_bytes}, open={len(self)})"
        )

    # -- persistence ------------------------------------------------------------------

    def snapshot(self) -> dict[str, object]:
        """snapshot returns the whole state as JSON-able data."""
        live = sorted((b for _, _, b in self._heap if not b.done), key=_id_order)
        return {
            "kind": "Batcher",
            "version": 1,
            "max_size": self.max_size,
            "timeout": self.timeout,
            "max_bytes": self.max_bytes,
            "dedupe_window": self.dedupe_window,
            "now": self._now,
            "next_id": self._next_id,
            "batches": [
                {
                    "id": b.id,
                    "key": b.key,
                    "event_ids": list(b.event_ids),
                    "size_bytes": b.nbytes,
                    "first_at": b.first_at,
                    "active": self._active.get(b.key) is b,
                }
                for b in live
            ],
            "seen": [[event_id, expires] for event_id, expires in self._seen.items()],
        }

    @classmethod
    def from_snapshot(cls, data: Mapping[str, object], *, clock: Clock) -> Batcher:
        """from_snapshot rebuilds a machine from :meth:`snapshot` output."""
        r = SnapshotReader(data, "snapshot")
        r.header("Batcher")
        try:
            m = cls(
                r.get("max_size", int), r.get("timeout", int), r.get("max_bytes", int),
                clock=clock, dedupe_window=r.get("dedupe_window", int),
            )
        except (TypeError, ValueError) as err:
            raise ValueError(f"snapshot: {err}") from None
        now = m._now = r.get("now", int)
        m._next_id = r.get("next_id", int)
        if m._next_id < 1:
            raise ValueError(f"snapshot.next_id must be >= 1, got {m._next_id}")
        ids: set[int] = set()
        for i, raw in enumerate(r.get("batches", list)):
            item = SnapshotReader(raw, f"snapshot.batches[{i}]")
            bid, key = item.get("id", int), item.get("key", str)
            first_at, nbytes = item.get("first_at", int), item.get("size_bytes", int)
            events = item.get("event_ids", list)
            if not 1 <= bid < m._next_id or bid in ids:
                raise ValueError(f"{item.where}.id {bid} is repeated or not below next_id")
            if not all(type(e) is str for e in events):
                raise ValueError(f"{item.where}.event_ids must be a list of strings")
            if not 1 <= len(events) < m.max_size or not 0 <= nbytes < m.max_bytes:
                raise ValueError(f"{item.where}: an open batch must hold 1..max_size-1 events"
                                 " and fewer than max_bytes bytes")
            if first_at > now:
                raise ValueError(f"{item.where}.first_at is after snapshot.now")
            b = _Open(bid, key, first_at, first_at + m.timeout)
            b.event_ids = list(events)
            b.nbytes = nbytes
            if item.get("active", bool):
                if key in m._active:
                    raise ValueError(f"{item.where}: two active batches for key {key!r}")
                m._active[key] = b
            elif b.deadline > now:
                raise ValueError(f"{item.where}: an inactive batch must already be due")
            ids.add(bid)
            m._heap.append((b.deadline, bid, b))
        heapq.heapify(m._heap)
        last = -NEVER
        for i, pair in enumerate(r.get("seen", list)):
            if (
                not isinstance(pair, list) or len(pair) != 2 or type(pair[0]) is not str
                or type(pair[1]) is not int or pair[1] < last or pair[0] in m._seen
            ):
                raise ValueError(
                    f"snapshot.seen[{i}] must be a new [event_id, expires_at] pair, "
                    "in order of expiry"
                )
            last = pair[1]
            m._seen[pair[0]] = pair[1]
        if m._seen:
            m._seen_next = next(iter(m._seen.values()))
        return m

    # -- internals --------------------------------------------------------------------

    def _close(self, b: _Open, now: int, reason: FlushReason) -> Batch:
        b.done = True
        del self._active[b.key]
        self._stale = compact_heap(self._heap, self._stale + 1)
        return _batch(b, now, reason)

    def _expire(self, now: int) -> int:
        seen = self._seen
        gone: list[str] = []
        for event_id, expires in seen.items():
            if expires > now:
                self._seen_next = expires
                break
            gone.append(event_id)
        else:
            self._seen_next = NEVER
        for event_id in gone:
            del seen[event_id]
        return len(gone)


def _id_order(b: _Open) -> int:
    return b.id


def _timeout(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"timeout must be an int of nanoseconds or a duration string, got "
                         f"{value!r}")
    if isinstance(value, str):
        try:
            value = parse_duration_strict(value)
        except ValueError as e:
            raise ValueError(f"timeout: {e}") from None
    if value < MIN_BATCH_TIMEOUT:
        raise ValueError(f"timeout must be at least 1s (the platform's minimum), got {value} ns")
    return value
