"""Debounce: per key, run once with the last event after the events stop arriving.

Theory of operation
-------------------
Each key holds at most one *open* debounce. The first event opens it at ``first_at``
(the clock time it arrived) and schedules it for ``min(first_at + period,
first_at + timeout)``. Every later accepted event replaces the stored event (the
last event wins) and moves the fire time to ``min(now + period, first_at + timeout)``;
the timeout is measured from the first event and never reset. When the fire time is
reached the debounce is *due*: ``poll()`` hands it out as a :class:`Fired`, and the
next event for the key opens a fresh debounce (spec §5.3, docs steps 1-4).

Ordering by the event's own ``ts``: an event whose ``ts`` is older than the stored
event's ``ts`` is ignored (no replacement, no timer reset); an equal ``ts`` is
accepted. ``ts`` is in the clock's units; ``None`` means "now".

Accounting: every pushed event ends in exactly one place.

* It is reported as ``superseded`` by a later :class:`Pushed` (``EXTENDED`` names the
  event it replaced; ``IGNORED`` names the pushed event itself, superseded by the
  newer stored one), or
* it is the ``event_id`` of a :class:`Fired` from ``poll()``, or of a
  :class:`DebounceCancelled` from ``cancel()``.

Deliberate deviations from the platform (document, don't emulate):

* The platform fires about 1.05 s late and rounds TTLs to whole seconds (timer at
  ``now + ttl + 50 ms + 1 s``, TTL at least 1 s). This machine fires exactly at
  ``min(last + period, first + timeout)`` to the nanosecond; a ``timeout`` of 0 fires
  at the first event's arrival instead of after 1 s.
* An event arriving while the platform's timer job is leased gets
  ``ErrDebounceInProgress`` and is retried until it opens a new debounce. Here firing
  is instantaneous at the deadline: an event arriving at or after the fire time opens
  a new debounce at once, and the due one still comes out of the next ``poll()``.
* The platform ignores an unparsable ``timeout``; here it is a ``ValueError`` (the
  config layer maps the platform's leniency to ``timeout=None``).

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
from flowcontrol.time import NS_PER_S, Clock, to_ns

__all__ = [
    "MAX_DEBOUNCE_PERIOD",
    "MIN_DEBOUNCE_PERIOD",
    "Debounce",
    "DebounceCancelled",
    "DebounceOutcome",
    "Fired",
    "Pushed",
]

MIN_DEBOUNCE_PERIOD: Final = NS_PER_S
"""The platform's ``MinDebouncePeriod`` (1 s)."""
MAX_DEBOUNCE_PERIOD: Final = 7 * 24 * 3600 * NS_PER_S
"""The platform's ``MaxDebouncePeriod`` (168 h)."""


class DebounceOutcome(StrEnum):
    """What a push did to the key's debounce."""

    #: Opened a new debounce with this event.
    SCHEDULED = "scheduled"
    #: Replaced the stored event (reported in ``superseded``) and moved the fire time.
    EXTENDED = "extended"
    #: Older ``ts`` than the stored event: dropped; ``superseded`` is this event.
    IGNORED = "ignored"


@dataclass(frozen=True, slots=True)
class Pushed:
    """The result of :meth:`Debounce.push`."""

    outcome: DebounceOutcome
    debounce_id: int
    """The debounce the event went to (ids grow by one per opened debounce)."""
    fire_at: int
    """When that debounce fires, as things stand after this push."""
    superseded: str | None
    """The event id that will never run because of this push, if any."""


@dataclass(frozen=True, slots=True)
class Fired:
    """A debounce whose fire time came: start one run with ``event_id``."""

    key: str
    debounce_id: int
    event_id: str
    payload: object
    first_at: int
    """Arrival time of the event that opened the debounce."""
    last_at: int
    """Arrival time of the last accepted event."""
    fire_at: int
    """The deadline it fired at: ``min(last_at + period, first_at + timeout)``."""
    count: int
    """Events that went to this debounce: the fired one plus every superseded one."""


@dataclass(frozen=True, slots=True)
class DebounceCancelled:
    """A debounce removed by :meth:`Debounce.cancel` before it fired."""

    key: str
    debounce_id: int
    event_id: str
    payload: object
    count: int


# Results are built the fast way (see flowcontrol.machines._base.builder).
_PushedBuilder = builder(Pushed)
_FiredBuilder = builder(Fired)


def _pushed(outcome: DebounceOutcome, debounce_id: int, fire_at: int, sup: str | None) -> Pushed:
    r = _PushedBuilder()
    r.outcome = outcome
    r.debounce_id = debounce_id
    r.fire_at = fire_at
    r.superseded = sup
    r.__class__ = Pushed
    result: Pushed = r
    return result


def _fired(d: _Open) -> Fired:
    r = _FiredBuilder()
    r.key = d.key
    r.debounce_id = d.id
    r.event_id = d.event_id
    r.payload = d.payload
    r.first_at = d.first_at
    r.last_at = d.last_at
    r.fire_at = d.fire_at
    r.count = d.count
    r.__class__ = Fired
    result: Fired = r
    return result


_heappush = heapq.heappush
_SCHEDULED: Final = DebounceOutcome.SCHEDULED
_EXTENDED: Final = DebounceOutcome.EXTENDED
_IGNORED: Final = DebounceOutcome.IGNORED
_NO_TIMEOUT: Final = NEVER


class _Open:
    """One debounce that has not been handed out yet (mutable, private)."""

    __slots__ = (
        "cap", "count", "done", "event_id", "fire_at", "first_at", "id", "key",
        "last_at", "payload", "ts",
    )

    def __init__(
        self, id: int, key: str, event_id: str, ts: int, payload: object, now: int,
        fire_at: int, cap: int,
    ) -> None:
        self.id = id
        self.key = key
        self.event_id = event_id
        self.ts = ts
        self.payload = payload
        self.first_at = now
        self.last_at = now
        self.fire_at = fire_at
        self.cap = cap
        self.count = 1
        self.done = False


class Debounce:
    """Per-key debounce with an optional hard timeout, driven by an injected clock.

    ``period`` is 1 s to 7 d (int ns or a duration string such as ``"5m"``);
    ``timeout`` is ``None`` (no cap) or a non-negative duration measured from the
    first event of each debounce.
    """

    __slots__ = ("_active", "_clock", "_heap", "_next_id", "_now", "_stale", "period", "timeout")

    def __init__(
        self, period: int | str, timeout: int | str | None = None, *, clock: Clock
    ) -> None:
        self.period: int = _duration(period, "period")
        if not MIN_DEBOUNCE_PERIOD <= self.period <= MAX_DEBOUNCE_PERIOD:
            raise ValueError(
                f"period must be between 1s and 168h (the platform's range), got {self.period} ns"
            )
        if timeout is None or timeout == "":
            self.timeout: int | None = None
        else:
            self.timeout = _duration(timeout, "timeout")
            if self.timeout < 0:
                raise ValueError(f"timeout must not be negative, got {self.timeout} ns")
        if not callable(clock):
            raise ValueError("clock must be a zero-argument callable returning nanoseconds")
        self._clock = clock
        self._now = 0
        self._next_id = 1
        self._active: dict[str, _Open] = {}
        # (time, id, debounce); time may lag the debounce's fire_at after an extension
        # and is corrected when it comes up. Cancelled debounces stay until compaction.
        self._heap: list[tuple[int, int, _Open]] = []
        self._stale = 0

    _tick = advance_clock

    # -- inputs -----------------------------------------------------------------------

    def push(
        self, key: str, event_id: str, ts: int | None = None, payload: object = None
    ) -> Pushed:
        """push routes one event to ``key``'s debounce and says what became of it."""
        if type(key) is not str or type(event_id) is not str:
            raise TypeError(
                f"key and event_id must be str, got {type(key).__name__} and "
                f"{type(event_id).__name__}"
            )
        # The clock read is inlined on this hot path (see flowcontrol.machines._base).
        now = self._clock()
        if now > self._now:
            self._now = now
        else:
            now = self._now
        if ts is None:
            ts = now
        elif type(ts) is not int:
            raise TypeError(f"ts must be an int in the clock's units or None, got {ts!r}")
        active = self._active
        d = active.get(key)
        if d is not None:
            if d.fire_at > now:
                if d.ts > ts:
                    d.count += 1
                    return _pushed(_IGNORED, d.id, d.fire_at, event_id)
                previous = d.event_id
                d.event_id = event_id
                d.ts = ts
                d.payload = payload
                d.last_at = now
                d.count += 1
                fire_at = now + self.period
                if fire_at > d.cap:
                    fire_at = d.cap
                d.fire_at = fire_at
                return _pushed(_EXTENDED, d.id, fire_at, previous)
            # Due but not polled yet: it has fired as far as the key is concerned.
            del active[key]
        did = self._next_id
        self._next_id = did + 1
        cap = _NO_TIMEOUT if self.timeout is None else now + self.timeout
        fire_at = now + self.period
        if fire_at > cap:
            fire_at = cap
        d = _Open(did, key, event_id, ts, payload, now, fire_at, cap)
        active[key] = d
        _heappush(self._heap, (fire_at, did, d))
        return _pushed(_SCHEDULED, did, fire_at, None)

    def cancel(self, key: str) -> DebounceCancelled | None:
        """cancel drops ``key``'s open debounce before it fires; None if there is none.

        A debounce whose fire time has come is already firing and is not cancelled.
        """
        now = self._tick()
        d = self._active.get(key)
        if d is None or d.fire_at <= now:
            return None
        del self._active[key]
        d.done = True
        self._stale += 1
        self._compact()
        return DebounceCancelled(key, d.id, d.event_id, d.payload, d.count)

    def poll(self) -> tuple[Fired, ...]:
        """poll hands out every debounce due at the current time, by (fire_at, id)."""
        now = self._tick()
        heap = self._heap
        if not heap or heap[0][0] > now:
            return ()
        due: list[_Open] = []
        while heap and heap[0][0] <= now:
            _, did, d = heap[0]
            if d.done:
                heapq.heappop(heap)
                self._stale -= 1
            elif d.fire_at > now:
                heapq.heapreplace(heap, (d.fire_at, did, d))
            else:
                heapq.heappop(heap)
                d.done = True
                if self._active.get(d.key) is d:
                    del self._active[d.key]
                due.append(d)
        due.sort(key=_fire_order)
        return tuple(map(_fired, due))

    # -- queries ----------------------------------------------------------------------

    def next_deadline(self) -> int | None:
        """next_deadline is the earliest fire time of any open debounce, or None."""
        heap = self._heap
        while heap:
            t, did, d = heap[0]
            if d.done:
                heapq.heappop(heap)
                self._stale -= 1
            elif d.fire_at != t:
                heapq.heapreplace(heap, (d.fire_at, did, d))
            else:
                return t
        return None

    def fire_at(self, key: str) -> int | None:
        """fire_at is when ``key``'s current debounce fires, or None if it has none."""
        d = self._active.get(key)
        return None if d is None else d.fire_at

    def active_keys(self) -> tuple[str, ...]:
        """active_keys lists keys whose latest debounce has not been handed out."""
        return tuple(self._active)

    def __len__(self) -> int:
        """The number of debounces not yet handed out (due ones included)."""
        return len(self._heap) - self._stale

    def __repr__(self) -> str:
        return f"Debounce(period={self.period}, timeout={self.timeout}, open={len(self)})"

    # -- persistence ------------------------------------------------------------------

    def snapshot(self) -> dict[str, object]:
        """snapshot returns the whole state as JSON-able data (payloads as given)."""
        live = sorted((d for _, _, d in self._heap if not d.done), key=_id_order)
        return {
            "kind": "Debounce",
            "version": 1,
            "period": self.period,
            "timeout": self.timeout,
            "now": self._now,
            "next_id": self._next_id,
            "debounces": [
                {
                    "id": d.id,
                    "key": d.key,
                    "event_id": d.event_id,
                    "ts": d.ts,
                    "payload": d.payload,
                    "first_at": d.first_at,
                    "last_at": d.last_at,
                    "fire_at": d.fire_at,
                    "count": d.count,
                    "active": self._active.get(d.key) is d,
                }
                for d in live
            ],
        }

    @classmethod
    def from_snapshot(cls, data: Mapping[str, object], *, clock: Clock) -> Debounce:
        """from_snapshot rebuilds a machine from :meth:`snapshot` output."""
        r = SnapshotReader(data, "snapshot")
        r.header("Debounce")
        timeout = r.get("timeout", int, optional=True)
        try:
            m = cls(r.get("period", int), timeout, clock=clock)
        except (TypeError, ValueError) as e:
            raise ValueError(f"snapshot: {e}") from None
        m._now = r.get("now", int)
        m._next_id = r.get("next_id", int)
        if m._next_id < 1:
            raise ValueError(f"snapshot.next_id must be >= 1, got {m._next_id}")
        items = r.get("debounces", list)
        seen_ids: set[int] = set()
        for i, raw in enumerate(items):
            item = SnapshotReader(raw, f"snapshot.debounces[{i}]")
            did = item.get("id", int)
            key = item.get("key", str)
            first_at, last_at = item.get("first_at", int), item.get("last_at", int)
            fire_at, count = item.get("fire_at", int), item.get("count", int)
            cap = _NO_TIMEOUT if m.timeout is None else first_at + m.timeout
            if not 1 <= did < m._next_id or did in seen_ids:
                raise ValueError(f"{item.where}.id {did} is repeated or not below next_id")
            if not first_at <= last_at <= m._now or count < 1:
                raise ValueError(f"{item.where}: need first_at <= last_at <= now and count >= 1")
            if fire_at != min(last_at + m.period, cap):
                raise ValueError(f"{item.where}.fire_at {fire_at} != min(last_at + period, cap)")
            active = item.get("active", bool)
            if active and key in m._active:
                raise ValueError(f"{item.where}: two active debounces for key {key!r}")
            if not active and fire_at > m._now:
                raise ValueError(f"{item.where}: an inactive debounce must already be due")
            seen_ids.add(did)
            d = _Open(
                did, key, item.get("event_id", str), item.get("ts", int), item.raw("payload"),
                first_at, fire_at, cap,
            )
            d.last_at, d.count = last_at, count
            if active:
                m._active[key] = d
            m._heap.append((fire_at, did, d))
        heapq.heapify(m._heap)
        return m

    # -- internals --------------------------------------------------------------------

    def _compact(self) -> None:
        self._stale = compact_heap(self._heap, self._stale)


def _fire_order(d: _Open) -> tuple[int, int]:
    return (d.fire_at, d.id)


def _id_order(d: _Open) -> int:
    return d.id


def _duration(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(
            f"{name} must be an int of nanoseconds or a duration string, got {value!r}"
        )
    try:
        return to_ns(value, name=name)
    except ValueError as e:
        raise ValueError(f"{name}: {e}") from None
