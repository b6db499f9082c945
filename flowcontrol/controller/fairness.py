"""Who goes next when several keys wait on the same constraint (pluggable, deterministic).

The controller keeps one wait queue per blocked constraint (a concurrency counter, a
throttle key). Each entry is a *backlog*: the queued work of one function and one key
combination. When the constraint frees capacity the queue's ``pop`` picks the backlog that
gets the next try. A backlog that was tried and lost to the same constraint again goes
back with ``push_front`` (it keeps its turn); one that got in and still has work goes to
the back (``push``).

* ``RoundRobin`` (the default): first come, first served among keys; a key that got a
  slot goes to the back of the line, so every waiting key gets one start per round.
* ``OldestFirst``: the backlog whose oldest item has the lowest priority score goes
  first (global FIFO by score across keys; a busy key can starve quiet ones).

A policy is any object with ``new_queue() -> WaitQueue``.
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import Any, Protocol

__all__ = ["OldestFirst", "RoundRobin", "WaitQueue", "WaitQueuePolicy"]


class WaitQueue(Protocol):
    def push(self, item: Any) -> None: ...

    def push_front(self, item: Any) -> None: ...

    def pop(self) -> Any: ...

    def __len__(self) -> int: ...


class WaitQueuePolicy(Protocol):
    name: str

    def new_queue(self) -> WaitQueue: ...


class _RoundRobinQueue:
    __slots__ = ("_d", "pop", "push", "push_front")

    def __init__(self) -> None:
        self._d: deque[Any] = deque()
        self.push = self._d.append
        self.push_front = self._d.appendleft
        self.pop = self._d.popleft

    def __len__(self) -> int:
        return len(self._d)


class RoundRobin:
    """First come, first served; a served key goes to the back of the line."""

    name = "round-robin"

    def new_queue(self) -> WaitQueue:
        return _RoundRobinQueue()


class _OldestFirstQueue:
    __slots__ = ("_h", "_seq")

    def __init__(self) -> None:
        self._h: list[tuple[int, int, Any]] = []
        self._seq = 0

    def push(self, item: Any) -> None:
        self._seq += 1
        heapq.heappush(self._h, (item.head_score(), self._seq, item))

    push_front = push

    def pop(self) -> Any:
        return heapq.heappop(self._h)[2]

    def __len__(self) -> int:
        return len(self._h)


class OldestFirst:
    """The backlog whose head has the lowest priority score first (ties: arrival)."""

    name = "oldest-first"

    def new_queue(self) -> WaitQueue:
        return _OldestFirstQueue()
