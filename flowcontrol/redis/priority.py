"""RedisPriorityQueue: :class:`~flowcontrol.machines.priority.PriorityQueue` on Redis.

Same parameters, validation and answers as the in-memory queue (``QueuedItem`` with
its score, ``seq`` numbering, order by ``(score, seq)``, only ready items popped);
``pop``/``poll`` are atomic scripts (``lua/priority.lua``), so with many consumers
each item is popped exactly once. ``prune()`` answers as in memory too: removed
items keep their entry in the order until it surfaces or is compacted.

Keys (hash tag ``{fc:priority:<name>}``, one Cluster slot per queue): ``now``, ``seq``,
``q`` (score and sequence as fixed-width text, then the item id: a lexicographic
sorted set, exact for any int64 score), ``items`` (item id -> its fields). A popped
item is deleted at once; nothing expires by TTL.
"""

from __future__ import annotations

from typing import Any

from flowcontrol.machines.priority import (
    _FACTOR_KINDS,
    _KINDS,
    _RUN_KINDS,
    FUTURE_AT_LIMIT,
    PriorityQueue,
    QueuedItem,
)
from flowcontrol.redis._timers import (
    INT64_MAX,
    Call,
    Step,
    TimerMachine,
    arg,
    dec,
    enc,
    no_clock,
    pairs,
    run,
    run_async,
    text,
)
from flowcontrol.time import NS_PER_S, Clock

__all__ = ["AsyncRedisPriorityQueue", "RedisPriorityQueue"]

_NOW, _SEQ, _Q, _ITEMS = range(4)


def _item(item_id: Any, value: Any) -> QueuedItem:
    v = text(value)
    return QueuedItem(text(item_id), dec(v[20:41]), dec(v[41:62]), int(v[62:]), int(v[:20]))


class _PriorityCore:
    """The operations, written once for both client kinds."""

    def __init__(
        self, client: Any, name: str, *, clock: Clock | None = None, min_factor: int = -600,
        max_factor: int = 600,
    ) -> None:
        PriorityQueue(
            clock=no_clock if clock is None else clock, min_factor=min_factor,
            max_factor=max_factor,
        )
        for what, v in (("min_factor", min_factor), ("max_factor", max_factor)):
            if abs(v) * NS_PER_S > INT64_MAX:
                raise ValueError(f"{what} in nanoseconds must fit in a signed 64-bit integer "
                                 f"on Redis, got {v} s")
        self._min = min_factor
        self._max = max_factor
        # The in-memory queue starts its high-water mark at the clock's reading when it is
        # made; every reading this process sends is at least that.
        self._floor = clock() if clock is not None else 0
        self._m = TimerMachine(client, name, "priority", "priority.lua",
                               ("now", "seq", "q", "items"), clock)

    def _push(
        self, item_id: str, created_at: int | None, factor: int, at: int | None, kind: str
    ) -> Step[QueuedItem]:
        reading = self._m.reading(self._floor)
        if type(item_id) is not str:
            raise ValueError(f"item_id must be a string, got {item_id!r}")
        if created_at is not None and type(created_at) is not int:
            raise ValueError(f"created_at must be an int of nanoseconds, got {created_at!r}")
        if isinstance(factor, bool) or not isinstance(factor, int):
            raise ValueError(f"factor must be an int of seconds, got {factor!r}")
        if kind not in _KINDS:
            raise ValueError(f"kind must be one of {sorted(_KINDS)}, got {kind!r}")
        factor = self._min if factor < self._min else self._max if factor > self._max else factor
        shift = -factor * NS_PER_S if kind in _FACTOR_KINDS else 0
        reply = yield Call((
            "push", reading, arg(item_id), "" if created_at is None else enc(created_at),
            "" if at is None else enc(at, "at"), str(shift), "1" if kind in _RUN_KINDS else "0",
            str(FUTURE_AT_LIMIT), str(factor),
        ))
        if reply is None:
            raise ValueError(f"item {item_id!r} is already queued")
        return _item(*reply)

    def _pop(self) -> Step[QueuedItem | None]:
        reply = yield Call(("pop", self._m.reading(self._floor)))
        return None if reply is None else _item(*reply)

    def _poll(self) -> Step[tuple[QueuedItem, ...]]:
        reply = yield Call(("poll", self._m.reading(self._floor)))
        return tuple(_item(*pair) for pair in reply)

    def _peek(self) -> Step[QueuedItem | None]:
        reply = yield Call(("peek", ""))
        return None if reply is None else _item(*reply)

    def _next_deadline(self) -> Step[int | None]:
        item = yield from self._peek()
        return None if item is None else item.score

    def _remove(self, item_id: str) -> Step[bool]:
        reply = yield Call(("remove", "", arg(item_id)))
        return bool(reply)

    def _prune(self) -> Step[int]:
        reply = yield Call(("prune", ""))
        return int(reply)

    def _get(self, item_id: str) -> Step[QueuedItem | None]:
        reply = yield Call(("HGET", self._m.key(_ITEMS), arg(item_id)), script=False)
        return None if reply is None else _item(item_id, reply)

    def _items(self) -> Step[list[QueuedItem]]:
        reply = yield Call(("HGETALL", self._m.key(_ITEMS)), script=False)
        return sorted((_item(k, v) for k, v in pairs(reply)), key=_order)

    def _len(self) -> Step[int]:
        reply = yield Call(("HLEN", self._m.key(_ITEMS)), script=False)
        return int(reply)

    def _contains(self, item_id: str) -> Step[bool]:
        reply = yield Call(("HEXISTS", self._m.key(_ITEMS), arg(item_id)), script=False)
        return bool(reply)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self._m.name!r}, min_factor={self._min}, "
                f"max_factor={self._max})")


def _order(item: QueuedItem) -> tuple[int, int]:
    return (item.score, item.seq)


class RedisPriorityQueue(_PriorityCore):
    """Queued work served lowest score first, shared by every process using ``client``
    and ``name``. ``clock``: the injected clock; ``None`` reads the server's ``TIME``."""

    def push(
        self, item_id: str, created_at: int | None = None, factor: int = 0, *,
        at: int | None = None, kind: str = "start",
    ) -> QueuedItem:
        """push queues ``item_id``; ValueError, changing nothing, if it is queued already."""
        return run(self._m, self._push(item_id, created_at, factor, at, kind))

    def peek(self) -> QueuedItem | None:
        """peek is the next item in order, ready or not (None if empty)."""
        return run(self._m, self._peek())

    def pop(self) -> QueuedItem | None:
        """pop claims and returns the next item if its score has come, else None."""
        return run(self._m, self._pop())

    def poll(self) -> tuple[QueuedItem, ...]:
        """poll claims and returns every ready item, in order."""
        return run(self._m, self._poll())

    def next_deadline(self) -> int | None:
        """next_deadline is the score of the next item (when it is or was ready), or None."""
        return run(self._m, self._next_deadline())

    def remove(self, item_id: str) -> bool:
        """remove drops a queued item; False if it was not queued."""
        return run(self._m, self._remove(item_id))

    def prune(self) -> int:
        """prune drops the order entries of removed items now; returns how many."""
        return run(self._m, self._prune())

    def get(self, item_id: str) -> QueuedItem | None:
        """get is the queued item with this id, or None."""
        return run(self._m, self._get(item_id))

    def items(self) -> list[QueuedItem]:
        """items lists every queued item in serving order."""
        return run(self._m, self._items())

    def __len__(self) -> int:
        return run(self._m, self._len())

    def __contains__(self, item_id: object) -> bool:
        return type(item_id) is str and run(self._m, self._contains(item_id))


class AsyncRedisPriorityQueue(_PriorityCore):
    """:class:`RedisPriorityQueue` for ``redis.asyncio`` clients; ``len()`` is
    ``await size()`` and ``in`` is ``await contains(item_id)``."""

    async def push(
        self, item_id: str, created_at: int | None = None, factor: int = 0, *,
        at: int | None = None, kind: str = "start",
    ) -> QueuedItem:
        """push queues ``item_id``; ValueError, changing nothing, if it is queued already."""
        return await run_async(self._m, self._push(item_id, created_at, factor, at, kind))

    async def peek(self) -> QueuedItem | None:
        """peek is the next item in order, ready or not (None if empty)."""
        return await run_async(self._m, self._peek())

    async def pop(self) -> QueuedItem | None:
        """pop claims and returns the next item if its score has come, else None."""
        return await run_async(self._m, self._pop())

    async def poll(self) -> tuple[QueuedItem, ...]:
        """poll claims and returns every ready item, in order."""
        return await run_async(self._m, self._poll())

    async def next_deadline(self) -> int | None:
        """next_deadline is the score of the next item (when it is or was ready), or None."""
        return await run_async(self._m, self._next_deadline())

    async def remove(self, item_id: str) -> bool:
        """remove drops a queued item; False if it was not queued."""
        return await run_async(self._m, self._remove(item_id))

    async def prune(self) -> int:
        """prune drops the order entries of removed items now; returns how many."""
        return await run_async(self._m, self._prune())

    async def get(self, item_id: str) -> QueuedItem | None:
        """get is the queued item with this id, or None."""
        return await run_async(self._m, self._get(item_id))

    async def items(self) -> list[QueuedItem]:
        """items lists every queued item in serving order."""
        return await run_async(self._m, self._items())

    async def size(self) -> int:
        """The number of queued items (``len()`` of the sync class)."""
        return await run_async(self._m, self._len())

    async def contains(self, item_id: str) -> bool:
        """Whether ``item_id`` is queued (``in`` of the sync class)."""
        return await run_async(self._m, self._contains(item_id))
