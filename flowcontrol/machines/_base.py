"""Pieces the flow-control state machines share (private).

* :func:`advance_clock`: read a machine's clock once, never going backwards;
* :func:`builder`: fast construction of frozen, slotted result dataclasses;
* :func:`compact_heap`: drop finished entries from a lazily-deleted timer heap;
* :func:`expect_header` and :class:`SnapshotReader`: validate snapshot data, naming
  the place that is wrong.

Hot paths (``Throttle.acquire``, ``Concurrency.acquire/release``, ``Debounce.push``,
``Batcher.add``, ``PriorityQueue.push/pop``) keep the clock read inlined on purpose: a
call costs more than the four lines it would save.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol, TypeVar

from flowcontrol.time import Clock

__all__ = [
    "NEVER",
    "SnapshotReader",
    "advance_clock",
    "builder",
    "compact_heap",
    "expect_header",
]

NEVER: Final = 1 << 126
"""An instant beyond any reachable nanosecond count."""

_T = TypeVar("_T")


class _Clocked(Protocol):
    _clock: Clock
    _now: int


class _Done(Protocol):
    done: bool


_D = TypeVar("_D", bound=_Done)


def advance_clock(m: _Clocked) -> int:
    """Read ``m._clock`` once; a reading below ``m._now`` (the high-water mark) counts as
    no time passing. Returns the instant the call acts at and records it in ``m._now``.

    Usable as a method: ``_tick = advance_clock`` in a class body.
    """
    now = m._clock()
    if now > m._now:
        m._now = now
        return now
    return m._now


# Hot-path construction of the frozen results. A frozen dataclass's generated __init__
# goes through object.__setattr__ per field (about 0.3 us each on CPython 3.11). Instead
# a plain "builder" class with the identical slot layout is filled with ordinary
# attribute stores and then turned into the real class by __class__ assignment, which
# CPython allows between layout-identical classes; the result is a genuine frozen
# instance (==, hash, replace, pickle as usual) at about half the cost.


def builder(cls: type) -> Callable[[], Any]:
    """A class with ``cls``'s slot layout whose instances may become ``cls`` instances
    by ``obj.__class__ = cls`` once every field is stored."""
    made: Callable[[], Any] = type(
        f"_{cls.__name__}Builder", (), {"__slots__": cls.__dict__["__slots__"]}
    )
    return made


def compact_heap(heap: list[tuple[int, int, _D]], stale: int) -> int:
    """Given ``stale`` finished entries in ``heap`` (entries ``(time, id, item)`` whose
    ``item.done`` marks them finished), rebuild it in place without them once they are
    over 32 and more than half of it. Returns the new count of finished entries."""
    if stale > 32 and 2 * stale > len(heap):
        heap[:] = [entry for entry in heap if not entry[2].done]
        heapq.heapify(heap)
        return 0
    return stale


def expect_header(data: object, kind: str, version: int = 1) -> Mapping[str, Any]:
    """Check that ``data`` is a mapping holding ``kind`` and ``version``; return it."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{kind} snapshot must be a mapping, got {type(data).__name__}")
    if data.get("kind") != kind:
        raise ValueError(f"not a {kind} snapshot (kind={data.get('kind')!r})")
    if data.get("version") != version:
        raise ValueError(f"{kind} snapshot: unsupported version {data.get('version')!r}")
    return data


class SnapshotReader:
    """Typed field access for snapshot validation, naming the path on failure."""

    __slots__ = ("data", "where")

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, Mapping):
            raise ValueError(f"{where} must be an object, got {type(data).__name__}")
        self.data: Mapping[str, object] = data
        self.where = where

    def raw(self, name: str) -> object:
        """The field ``name`` as it is, None when missing."""
        return self.data.get(name)

    def get(self, name: str, typ: type[_T], *, optional: bool = False) -> _T:
        """The field ``name``, which must be a ``typ`` (or None when optional)."""
        if name not in self.data and not optional:
            raise ValueError(f"{self.where}.{name} is missing")
        value = self.data.get(name)
        if value is None and optional:
            return value  # type: ignore[return-value]
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            raise ValueError(
                f"{self.where}.{name} must be {typ.__name__}, got {type(value).__name__}"
            )
        return value

    def header(self, kind: str, version: int = 1) -> None:
        """Check the ``kind`` and ``version`` fields."""
        if self.get("kind", str) != kind:
            raise ValueError(f"{self.where}.kind must be {kind!r}, got {self.raw('kind')!r}")
        if self.get("version", int) != version:
            raise ValueError(
                f"{self.where}.version must be {version}, got {self.raw('version')!r}"
            )
