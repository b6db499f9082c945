"""PriorityQueue: queued work ordered by ``created_at - factor``, FIFO among equals.

What it models (spec section 6)
    The platform scores a run's queue items by the run's creation time minus its
    priority factor (seconds, clamped to the account's bounds) and serves the lowest
    score first. A positive factor F moves a run ahead of work created in the last F
    seconds; a negative factor delays the run's items by |F| seconds *even on an empty
    queue*, because its score lies in the future. So this queue hands out only items
    whose score has come (``score <= now``); ``next_deadline`` says when the next one
    will. Ties are served in push order (a sequence number).

Scores (``item_score``, the platform's ``QueueItem.Score``)
    Items of kind start, edge, edge_error, sleep and pause that are available now (or
    within 2 s) score ``created_at - factor``; the factor applies to start, edge and
    edge_error items only. Items due later than 2 s from now, and system items, score
    their availability time ``at``.

Bounds
    ``min_factor``/``max_factor`` default to -600..600 s (the documented account
    default); the open-source server uses -43200..43200 (``PRIORITY_FACTOR_MAX_OSS``).
    Factors outside are clamped (saturating), as the platform does.

Implementation
    A binary heap of ``(score, seq, item)`` with lazy deletion: ``remove`` forgets an
    item at once (``len`` is exact) and the heap drops its entry when it surfaces, or
    when dead entries outnumber live ones.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from flowcontrol.machines._base import advance_clock, expect_header
from flowcontrol.time import NS_PER_S, Clock

__all__ = [
    "PRIORITY_FACTOR_MAX_OSS",
    "PriorityQueue",
    "QueuedItem",
    "item_score",
]

PRIORITY_FACTOR_MAX_OSS: Final = 43_200
"""The open-source server's factor bound in seconds (12 h); the docs' default is 600."""
FUTURE_AT_LIMIT: Final = 2 * NS_PER_S
"""Items due within this much of now are scored by run age (``consts.FutureAtLimit``)."""
_RUN_KINDS: Final = frozenset({"start", "edge", "edge_error", "sleep", "pause"})
_FACTOR_KINDS: Final = frozenset({"start", "edge", "edge_error"})
_KINDS: Final = _RUN_KINDS | {"system"}

_Entry = tuple[int, int, "QueuedItem"]


def _clamp(factor: int, lo: int, hi: int) -> int:
    if isinstance(factor, bool) or not isinstance(factor, int):
        raise ValueError(f"factor must be an int of seconds, got {factor!r}")
    return lo if factor < lo else hi if factor > hi else factor


def item_score(
    *, now: int, created_at: int, factor: int = 0, at: int | None = None, kind: str = "start"
) -> int:
    """item_score is the queue score of an item, the platform's ``QueueItem.Score(now)``.

    ``factor`` is in seconds and already clamped; ``at`` (default ``now``) is when the
    item becomes available; all instants are nanoseconds.
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {sorted(_KINDS)}, got {kind!r}")
    due = now if at is None else at
    if kind in _RUN_KINDS and due <= now + FUTURE_AT_LIMIT:
        return created_at - (factor * NS_PER_S if kind in _FACTOR_KINDS else 0)
    return due


@dataclass(frozen=True, slots=True)
class QueuedItem:
    """An item in the queue: it becomes ready at ``score`` (ns); ``factor`` is clamped."""

    item_id: str
    score: int
    created_at: int
    factor: int
    seq: int


_new = object.__new__


def _setter(name: str) -> Callable[[QueuedItem, Any], None]:
    setter: Callable[[QueuedItem, Any], None] = QueuedItem.__dict__[name].__set__
    return setter


# Building a QueuedItem through its slots skips the frozen __init__'s cost; same result.
_set_id, _set_score, _set_created, _set_factor, _set_seq = map(
    _setter, ("item_id", "score", "created_at", "factor", "seq")
)
heappush, heappop = heapq.heappush, heapq.heappop


class PriorityQueue:
    """Queued work served lowest score first, each item only once its score has come."""

    __slots__ = ("_clock", "_dead", "_heap", "_live", "_max", "_min", "_now", "_seq")

    def __init__(self, *, clock: Clock, min_factor: int = -600, max_factor: int = 600) -> None:
        for name, v in (("min_factor", min_factor), ("max_factor", max_factor)):
            if isinstance(v, bool) or not isinstance(v, int):
                raise ValueError(f"{name} must be an int of seconds, got {v!r}")
        if min_factor > 0 or max_factor < 0:
            raise ValueError(
                f"the factor range must contain 0, got min_factor={min_factor}, "
                f"max_factor={max_factor}"
            )
        self._clock = clock
        self._min = min_factor
        self._max = max_factor
        self._heap: list[_Entry] = []
        self._live: dict[str, _Entry] = {}
        self._dead = 0
        self._seq = 0
        self._now = clock()

    # push and pop inline this clock read on purpose (hot paths: a call costs more).
    _tick = advance_clock

    def push(
        self,
        item_id: str,
        created_at: int | None = None,
        factor: int = 0,
        *,
        at: int | None = None,
        kind: str = "start",
    ) -> QueuedItem:
        """push queues ``item_id`` (created at ``created_at``, default now) and returns it.

        ``factor`` is in seconds and clamped to the bounds. ``at`` and ``kind`` follow
        ``item_score``. Raises ValueError, changing nothing, for an id already queued.
        """
        now = self._clock()
        if now > self._now:
            self._now = now
        else:
            now = self._now
        live = self._live
        if type(item_id) is not str:
            raise ValueError(f"item_id must be a string, got {item_id!r}")
        if item_id in live:
            raise ValueError(f"item {item_id!r} is already queued")
        if created_at is None:
            created_at = now
        elif type(created_at) is not int:
            raise ValueError(f"created_at must be an int of nanoseconds, got {created_at!r}")
        if type(factor) is not int:
            _clamp(factor, 0, 0)  # raises for a non-int
        factor = self._min if factor < self._min else self._max if factor > self._max else factor
        if at is None and kind == "start":
            score = created_at - factor * NS_PER_S
        else:
            score = item_score(now=now, created_at=created_at, factor=factor, at=at, kind=kind)
        seq = self._seq = self._seq + 1
        item = _new(QueuedItem)
        _set_id(item, item_id)
        _set_score(item, score)
        _set_created(item, created_at)
        _set_factor(item, factor)
        _set_seq(item, seq)
        entry = (score, seq, item)
        heappush(self._heap, entry)
        live[item_id] = entry
        return item

    def _head(self) -> _Entry | None:
        heap, live = self._heap, self._live
        while heap:
            entry = heap[0]
            if live.get(entry[2].item_id) is entry:
                return entry
            heappop(heap)
            self._dead -= 1
        return None

    def peek(self) -> QueuedItem | None:
        """peek is the next item in order, ready or not (None if empty)."""
        entry = self._head()
        return None if entry is None else entry[2]

    def pop(self) -> QueuedItem | None:
        """pop removes and returns the next item if its score has come, else None."""
        now = self._clock()
        if now > self._now:
            self._now = now
        else:
            now = self._now
        heap = self._heap
        if not heap:
            return None
        entry = heap[0]
        item = entry[2]
        live = self._live
        if live.get(item.item_id) is not entry:
            head = self._head()
            if head is None:
                return None
            entry, item = head, head[2]
        if entry[0] > now:
            return None
        heappop(heap)
        del live[item.item_id]
        return item

    def poll(self) -> tuple[QueuedItem, ...]:
        """poll removes and returns every ready item, in order."""
        now = self._tick()
        out = []
        heap, live = self._heap, self._live
        while (entry := self._head()) is not None and entry[0] <= now:
            heapq.heappop(heap)
            del live[entry[2].item_id]
            out.append(entry[2])
        return tuple(out)

    def next_deadline(self) -> int | None:
        """next_deadline is the score of the next item (when it is or was ready), or None."""
        entry = self._head()
        return None if entry is None else entry[0]

    def remove(self, item_id: str) -> bool:
        """remove drops a queued item (say, a cancelled run); False if it was not queued."""
        if self._live.pop(item_id, None) is None:
            return False
        self._dead += 1
        if self._dead > 64 and self._dead > len(self._live):
            self._compact()
        return True

    def prune(self) -> int:
        """prune drops the heap entries of removed items now; returns how many it dropped."""
        dropped = self._dead
        if dropped:
            self._compact()
        return dropped

    def _compact(self) -> None:
        live = self._live
        self._heap = [e for e in self._heap if live.get(e[2].item_id) is e]
        heapq.heapify(self._heap)
        self._dead = 0

    def get(self, item_id: str) -> QueuedItem | None:
        """get is the queued item with this id, or None."""
        entry = self._live.get(item_id)
        return None if entry is None else entry[2]

    def items(self) -> list[QueuedItem]:
        """items lists every queued item in serving order (for tests and explanations)."""
        return [e[2] for e in sorted(self._live.values())]

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._live

    def _check_invariants(self) -> None:
        """Every live item has exactly one heap entry; the dead count is exact."""
        live = self._live
        alive = [e for e in self._heap if live.get(e[2].item_id) is e]
        assert len(alive) == len(live)
        assert len(self._heap) - len(alive) == self._dead

    def snapshot(self) -> dict[str, object]:
        """snapshot returns plain JSON-able data from which ``from_snapshot`` rebuilds this."""
        return {
            "kind": "PriorityQueue",
            "version": 1,
            "min_factor": self._min,
            "max_factor": self._max,
            "now": self._now,
            "seq": self._seq,
            "items": [
                [i.item_id, i.score, i.created_at, i.factor, i.seq] for i in self.items()
            ],
        }

    @classmethod
    def from_snapshot(cls, data: Mapping[str, object], *, clock: Clock) -> PriorityQueue:
        """from_snapshot rebuilds the queue; raises ValueError naming what is wrong.

        Instants in the snapshot are on its clock's time line, so ``clock`` must share it.
        """
        expect_header(data, "PriorityQueue")
        ints = {}
        for name in ("min_factor", "max_factor", "now", "seq"):
            v = data.get(name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise ValueError(f"PriorityQueue snapshot: {name} must be an int, got {v!r}")
            ints[name] = v
        q = cls(clock=clock, min_factor=ints["min_factor"], max_factor=ints["max_factor"])
        q._now = ints["now"]  # exactly: restoring must not move the high-water mark
        q._seq = ints["seq"]
        items = data.get("items")
        if not isinstance(items, list):
            raise ValueError("PriorityQueue snapshot: items must be a list")
        for n, row in enumerate(items):
            ok = isinstance(row, list) and len(row) == 5 and isinstance(row[0], str)
            if not ok or not all(
                isinstance(x, int) and not isinstance(x, bool) for x in row[1:]
            ):
                raise ValueError(
                    f"PriorityQueue snapshot: items[{n}] must be "
                    f"[item_id, score, created_at, factor, seq], got {row!r}"
                )
            item = QueuedItem(*row)
            if item.item_id in q._live:
                raise ValueError(f"PriorityQueue snapshot: items[{n}] repeats {item.item_id!r}")
            if item.seq > q._seq:
                raise ValueError(f"PriorityQueue snapshot: items[{n}] has seq above seq")
            entry = (item.score, item.seq, item)
            q._heap.append(entry)
            q._live[item.item_id] = entry
        heapq.heapify(q._heap)
        return q
