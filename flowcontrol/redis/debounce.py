"""RedisDebounce: :class:`~flowcontrol.machines.debounce.Debounce` with its state on Redis.

Same parameters, validation and answers as the in-memory machine (``Pushed``,
``Fired``, ``DebounceCancelled``, ``poll()`` order by ``(fire_at, id)``); each
decision is one atomic script (``lua/debounce.lua``), so with many pollers each
fired debounce is handed to exactly one of them. Payloads are JSON values (see
:mod:`flowcontrol.redis._timers`).

Keys (hash tag ``{fc:debounce:<name>}``, one Cluster slot per machine): ``now`` (the
clock's high-water mark), ``seq`` (last debounce id), ``due`` (index by fire time),
``recs`` (the open debounces), ``active`` (key -> its latest debounce). A fired or
cancelled debounce is deleted at once; nothing expires by TTL.
"""

from __future__ import annotations

from typing import Any

from flowcontrol.machines.debounce import (
    Debounce,
    DebounceCancelled,
    DebounceOutcome,
    Fired,
    Pushed,
)
from flowcontrol.redis._timers import (
    INT64_MAX,
    Call,
    Step,
    TimerMachine,
    arg,
    dec,
    dumps_payload,
    enc,
    loads_payload,
    no_clock,
    pairs,
    run,
    run_async,
    text,
)
from flowcontrol.time import Clock

__all__ = ["AsyncRedisDebounce", "RedisDebounce"]

_NOW, _SEQ, _DUE, _RECS, _ACTIVE = range(5)


class _DebounceCore:
    """The operations, written once for both client kinds."""

    def __init__(
        self, client: Any, name: str, period: int | str, timeout: int | str | None = None,
        *, clock: Clock | None = None,
    ) -> None:
        probe = Debounce(period, timeout, clock=no_clock if clock is None else clock)
        self.period: int = probe.period
        self.timeout: int | None = probe.timeout
        if self.timeout is not None and self.timeout > INT64_MAX:
            raise ValueError(f"timeout must fit in a signed 64-bit integer on Redis, "
                             f"got {self.timeout} ns")
        self._m = TimerMachine(
            client, name, "debounce", "debounce.lua", ("now", "seq", "due", "recs", "active"),
            clock,
        )

    def _push(self, key: str, event_id: str, ts: int | None, payload: object) -> Step[Pushed]:
        if type(key) is not str or type(event_id) is not str:
            raise TypeError(
                f"key and event_id must be str, got {type(key).__name__} and "
                f"{type(event_id).__name__}"
            )
        reading = self._m.reading()
        if ts is not None and type(ts) is not int:
            raise TypeError(f"ts must be an int in the clock's units or None, got {ts!r}")
        ts_arg = "" if ts is None else enc(ts, "ts")
        timeout = "" if self.timeout is None else str(self.timeout)
        reply = yield Call((
            "push", reading, arg(key), arg(event_id), ts_arg, dumps_payload(payload),
            str(self.period), timeout,
        ))
        outcome = DebounceOutcome(text(reply[0]))
        superseded = None if len(reply) < 4 else text(reply[3])
        return Pushed(outcome, int(reply[1]), dec(reply[2]), superseded)

    def _cancel(self, key: str) -> Step[DebounceCancelled | None]:
        reply = yield Call(("cancel", self._m.reading(), arg(key)))
        if reply is None:
            return None
        did, k, event_id, payload, header = reply
        return DebounceCancelled(
            text(k), int(did), text(event_id), loads_payload(payload), _count(header)
        )

    def _poll(self) -> Step[tuple[Fired, ...]]:
        reply = yield Call(("poll", self._m.reading()))
        out = []
        for did, k, event_id, payload, header in reply:
            h = text(header)
            out.append(Fired(
                text(k), int(did), text(event_id), loads_payload(payload),
                dec(h[0:21]), dec(h[21:42]), dec(h[42:63]), int(h[105:]),
            ))
        return tuple(out)

    def _next_deadline(self) -> Step[int | None]:
        reply = yield Call(("ZRANGE", self._m.key(_DUE), 0, 0), script=False)
        return dec(text(reply[0])[:21]) if reply else None

    def _fire_at(self, key: str) -> Step[int | None]:
        reply = yield Call(("fire_at", "", arg(key)))
        return None if reply is None else dec(reply)

    def _active_keys(self) -> Step[tuple[str, ...]]:
        reply = yield Call(("HGETALL", self._m.key(_ACTIVE)), script=False)
        # The in-memory dict's order: a key is (re)inserted when its debounce opens.
        ordered = sorted(pairs(reply), key=lambda kv: int(kv[1]))
        return tuple(text(k) for k, _ in ordered)

    def _len(self) -> Step[int]:
        reply = yield Call(("ZCARD", self._m.key(_DUE)), script=False)
        return int(reply)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self._m.name!r}, period={self.period}, "
                f"timeout={self.timeout})")


def _count(header: bytes | str) -> int:
    return int(text(header)[105:])


class RedisDebounce(_DebounceCore):
    """Per-key debounce shared by every process using ``client`` and ``name``.

    ``clock``: the injected clock (nanoseconds), read on each call; ``None`` reads the
    Redis server's ``TIME`` (nanoseconds since the Unix epoch) inside each script.
    """

    def push(
        self, key: str, event_id: str, ts: int | None = None, payload: object = None
    ) -> Pushed:
        """push routes one event to ``key``'s debounce and says what became of it."""
        return run(self._m, self._push(key, event_id, ts, payload))

    def cancel(self, key: str) -> DebounceCancelled | None:
        """cancel drops ``key``'s open debounce before it fires; None if there is none."""
        return run(self._m, self._cancel(key))

    def poll(self) -> tuple[Fired, ...]:
        """poll claims and hands out every debounce due now, by (fire_at, id)."""
        return run(self._m, self._poll())

    def next_deadline(self) -> int | None:
        """next_deadline is the earliest fire time of any open debounce, or None."""
        return run(self._m, self._next_deadline())

    def fire_at(self, key: str) -> int | None:
        """fire_at is when ``key``'s current debounce fires, or None if it has none."""
        return run(self._m, self._fire_at(key))

    def active_keys(self) -> tuple[str, ...]:
        """active_keys lists keys whose latest debounce has not been handed out."""
        return run(self._m, self._active_keys())

    def __len__(self) -> int:
        """The number of debounces not yet handed out (due ones included)."""
        return run(self._m, self._len())


class AsyncRedisDebounce(_DebounceCore):
    """:class:`RedisDebounce` for ``redis.asyncio`` clients; ``len()`` is ``await size()``."""

    async def push(
        self, key: str, event_id: str, ts: int | None = None, payload: object = None
    ) -> Pushed:
        """push routes one event to ``key``'s debounce and says what became of it."""
        return await run_async(self._m, self._push(key, event_id, ts, payload))

    async def cancel(self, key: str) -> DebounceCancelled | None:
        """cancel drops ``key``'s open debounce before it fires; None if there is none."""
        return await run_async(self._m, self._cancel(key))

    async def poll(self) -> tuple[Fired, ...]:
        """poll claims and hands out every debounce due now, by (fire_at, id)."""
        return await run_async(self._m, self._poll())

    async def next_deadline(self) -> int | None:
        """next_deadline is the earliest fire time of any open debounce, or None."""
        return await run_async(self._m, self._next_deadline())

    async def fire_at(self, key: str) -> int | None:
        """fire_at is when ``key``'s current debounce fires, or None if it has none."""
        return await run_async(self._m, self._fire_at(key))

    async def active_keys(self) -> tuple[str, ...]:
        """active_keys lists keys whose latest debounce has not been handed out."""
        return await run_async(self._m, self._active_keys())

    async def size(self) -> int:
        """The number of debounces not yet handed out (``len()`` of the sync class)."""
        return await run_async(self._m, self._len())
