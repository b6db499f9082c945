"""RedisPriorityQueue: :class:`~flowcontrol.machines.priority.PriorityQueue` on Redis (network I/O).

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

from collections.abc import Mapping
from typing import Any, Final

from flowcontrol.machines.priority import (
    _FACTOR_KINDS,
    _KINDS,
    _RUN_KINDS,
    FUTURE_AT_LIMIT,
    PriorityQueue,
    QueuedItem,
)
from flowcontrol.redis._keys import KeyLayout, check_eviction
from flowcontrol.redis._script import Command, Eval, Step, awaiting, blocking
from flowcontrol.redis._timers import (
    INT64_MAX,
    arg,
    dec,
    enc,
    fit_int64,
    no_clock,
    pairs,
    reading,
    text,
    timer_script,
)
from flowcontrol.time import NS_PER_S, Clock

__all__ = ["AsyncRedisPriorityQueue", "RedisPriorityQueue"]

_SCRIPT: Final = timer_script("priority")


def _item(item_id: Any, value: Any) -> QueuedItem:
    v = text(value)
    return QueuedItem(text(item_id), dec(v[20:41]), dec(v[41:62]), int(v[62:]), int(v[:20]))


class _Priority:
    """The operations, written once for both client kinds."""

    def __init__(
        self, client: Any, name: str, *, clock: Clock | None = None, min_factor: int = -600,
        max_factor: int = 600,
    ) -> None:
        PriorityQueue(clock=no_clock, min_factor=min_factor, max_factor=max_factor)
        for what, v in (("min_factor", min_factor), ("max_factor", max_factor)):
            fit_int64(abs(v) * NS_PER_S, f"{what} in nanoseconds", f" ns ({v} s)")
        self._min = min_factor
        self._max = max_factor
        # The in-memory queue starts its high-water mark at the clock's reading when it is
        # made (its one read at construction); every reading this process sends is at
        # least that.
        self._floor = clock() if clock is not None else 0
        self.client = client
        self.clock = clock
        self.layout = KeyLayout("priority", name)
        self._keys = tuple(map(self.layout.tagged, ("now", "seq", "q", "items")))
        self._first: Step[None] | None = check_eviction(f"RedisPriorityQueue {name!r}")

    def _call(self, *args: str | bytes | int) -> Eval:
        return Eval(_SCRIPT, self._keys, args)

    def step_push(
        self, item_id: str, created_at: int | None = None, factor: int = 0, *,
        at: int | None = None, kind: str = "start",
    ) -> Step[QueuedItem]:
        """push queues ``item_id`` (created at ``created_at``, default now) and returns it.

        ``factor`` is in seconds and clamped to the bounds; ``at`` and ``kind`` follow
        ``item_score``. Raises ValueError, changing nothing, for an id already queued.
        """
        now = reading(self.clock, self._floor)
        refused = _refusal(item_id, created_at, factor, kind)
        if refused:
            yield self._call("tick", now)  # the clock was read, as in memory
            raise ValueError(refused)
        factor = self._min if factor < self._min else self._max if factor > self._max else factor
        reply = yield self._call(
            "push", now, arg(item_id), "" if created_at is None else enc(created_at),
            "" if at is None else enc(at, "at"),
            -factor * NS_PER_S if kind in _FACTOR_KINDS else 0,
            "1" if kind in _RUN_KINDS else "0", FUTURE_AT_LIMIT, factor,
        )
        if reply is None:
            raise ValueError(f"item {item_id!r} is already queued")
        return _item(*reply)

    def step_pop(self) -> Step[QueuedItem | None]:
        """pop claims and returns the next item if its score has come, else None."""
        reply = yield self._call("pop", reading(self.clock, self._floor))
        return None if reply is None else _item(*reply)

    def step_poll(self) -> Step[tuple[QueuedItem, ...]]:
        """poll claims and returns every ready item, in order."""
        reply = yield self._call("poll", reading(self.clock, self._floor))
        return tuple(_item(*pair) for pair in reply)

    def step_peek(self) -> Step[QueuedItem | None]:
        """peek is the next item in order, ready or not (None if empty)."""
        reply = yield self._call("peek", "")
        return None if reply is None else _item(*reply)

    def step_next_deadline(self) -> Step[int | None]:
        """next_deadline is the score of the next item (when it is or was ready), or None."""
        item = yield from self.step_peek()
        return None if item is None else item.score

    def step_remove(self, item_id: str) -> Step[bool]:
        """remove drops a queued item (say, a cancelled run); False if it was not queued."""
        reply = yield self._call("remove", "", arg(item_id))
        return bool(reply)

    def step_prune(self) -> Step[int]:
        """prune drops the order entries of removed items now; returns how many."""
        reply = yield self._call("prune", "")
        return int(reply)

    def step_get(self, item_id: str) -> Step[QueuedItem | None]:
        """get is the queued item with this id, or None."""
        reply = yield Command(("HGET", self._keys[3], arg(item_id)))
        return None if reply is None else _item(item_id, reply)

    def step_items(self) -> Step[list[QueuedItem]]:
        """items lists every queued item in serving order."""
        reply = yield Command(("HGETALL", self._keys[3]))
        return sorted((_item(k, v) for k, v in pairs(reply)), key=_order)

    def step_snapshot(self) -> Step[dict[str, object]]:
        """snapshot returns the state as the in-memory queue's ``snapshot()`` would."""
        now, seq, items = yield self._call("snapshot", "")
        queued = sorted((_item(k, v) for k, v in pairs(items)), key=_order)
        return {
            "kind": "PriorityQueue", "version": 1, "min_factor": self._min,
            "max_factor": self._max, "now": max(dec(now), self._floor) if now else self._floor,
            "seq": int(seq),
            "items": [[i.item_id, i.score, i.created_at, i.factor, i.seq] for i in queued],
        }

    def step_restore(self, data: Mapping[str, object]) -> Step[None]:
        """restore replaces this queue's whole state on Redis with a ``snapshot()`` (of
        this class or of the in-memory queue), validated as ``from_snapshot`` does; the
        clock's mark becomes the snapshot's ``now``, as in memory."""
        m = PriorityQueue.from_snapshot(data, clock=no_clock)
        snap: dict[str, Any] = m.snapshot()
        if (snap["min_factor"], snap["max_factor"]) != (self._min, self._max):
            raise ValueError(f"snapshot of factors {snap['min_factor']}..{snap['max_factor']}"
                             f" does not match {self!r}")
        args: list[str | bytes | int] = ["restore", "", enc(snap["now"]), snap["seq"]]
        for item_id, score, created_at, factor, seq in snap["items"]:
            if not 0 <= seq <= INT64_MAX:
                raise ValueError(f"snapshot: item {item_id!r} has seq {seq} (Redis keeps 0.."
                                 "2**63-1)")
            args += [f"{enc(score)}{seq:020d}".encode() + arg(item_id),
                     f"{seq:020d}{enc(score)}{enc(created_at)}{factor}"]
        yield self._call(*args)
        self._floor = snap["now"]

    def step_len(self) -> Step[int]:
        """The number of queued items."""
        reply = yield Command(("HLEN", self._keys[3]))
        return int(reply)

    def step_contains(self, item_id: object) -> Step[bool]:
        """Whether ``item_id`` is queued."""
        if type(item_id) is not str:
            return False
        reply = yield Command(("HEXISTS", self._keys[3], arg(item_id)))
        return bool(reply)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.layout.name!r}, min_factor={self._min}, "
                f"max_factor={self._max})")


def _refusal(item_id: object, created_at: object, factor: object, kind: str) -> str:
    """Why the in-memory queue would refuse these push arguments ("" if it would not)."""
    if type(item_id) is not str:
        return f"item_id must be a string, got {item_id!r}"
    if created_at is not None and type(created_at) is not int:
        return f"created_at must be an int of nanoseconds, got {created_at!r}"
    if isinstance(factor, bool) or not isinstance(factor, int):
        return f"factor must be an int of seconds, got {factor!r}"
    if kind not in _KINDS:
        return f"kind must be one of {sorted(_KINDS)}, got {kind!r}"
    return ""


def _order(item: QueuedItem) -> tuple[int, int]:
    return (item.score, item.seq)


class RedisPriorityQueue(_Priority):
    """Queued work served lowest score first, each item once its score has come, shared
    by every process using ``client`` and ``name``."""

    push = blocking(_Priority.step_push)
    peek = blocking(_Priority.step_peek)
    pop = blocking(_Priority.step_pop)
    poll = blocking(_Priority.step_poll)
    next_deadline = blocking(_Priority.step_next_deadline)
    remove = blocking(_Priority.step_remove)
    prune = blocking(_Priority.step_prune)
    get = blocking(_Priority.step_get)
    items = blocking(_Priority.step_items)
    snapshot = blocking(_Priority.step_snapshot)
    restore = blocking(_Priority.step_restore)
    __len__ = blocking(_Priority.step_len)
    __contains__ = blocking(_Priority.step_contains)


class AsyncRedisPriorityQueue(_Priority):
    """:class:`RedisPriorityQueue` for ``redis.asyncio`` clients; ``len()`` is
    ``await size()`` and ``in`` is ``await contains(item_id)``."""

    push = awaiting(_Priority.step_push)
    peek = awaiting(_Priority.step_peek)
    pop = awaiting(_Priority.step_pop)
    poll = awaiting(_Priority.step_poll)
    next_deadline = awaiting(_Priority.step_next_deadline)
    remove = awaiting(_Priority.step_remove)
    prune = awaiting(_Priority.step_prune)
    get = awaiting(_Priority.step_get)
    items = awaiting(_Priority.step_items)
    snapshot = awaiting(_Priority.step_snapshot)
    restore = awaiting(_Priority.step_restore)
    size = awaiting(_Priority.step_len)
    contains = awaiting(_Priority.step_contains)
