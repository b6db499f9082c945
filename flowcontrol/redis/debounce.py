"""RedisDebounce: :class:`~flowcontrol.machines.debounce.Debounce` on Redis (network I/O).

Same parameters (after ``client`` and ``name``), validation and answers as the
in-memory machine (``Pushed``, ``Fired``, ``DebounceCancelled``, ``poll()`` in
``(fire_at, id)`` order, ids 1, 2, ...); each decision is one atomic script
(``lua/debounce.lua``), so with many pollers each fired debounce is handed to exactly
one of them. Payloads are JSON values, stored as JSON text (:mod:`._timers`).

Keys (hash tag ``{fc:debounce:<name>}``: one Cluster slot per machine, since ids, the
due index and ``poll()`` span all keys): ``now`` (the clock's high-water mark), ``seq``
(the last debounce id), ``due`` (the index by fire time), ``recs`` (the debounces not
yet handed out), ``active`` (key -> its latest debounce). A fired or cancelled
debounce is deleted at once; nothing expires by a Redis TTL.

Clock: with ``clock=`` each call sends its reading (tests stay exact); without it the
script reads the server's ``TIME`` (nanoseconds since the Unix epoch), one clock for
every host. Readings below the stored high-water mark count as no time passing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from flowcontrol.machines.debounce import (
    Debounce,
    DebounceCancelled,
    DebounceOutcome,
    Fired,
    Pushed,
)
from flowcontrol.redis._keys import KeyLayout, check_eviction
from flowcontrol.redis._script import Command, Eval, Step, awaiting, blocking
from flowcontrol.redis._timers import (
    arg,
    dec,
    dumps_payload,
    enc,
    fit_int64,
    loads_payload,
    no_clock,
    pairs,
    raw_bytes,
    reading,
    text,
    timer_script,
)
from flowcontrol.time import Clock

__all__ = ["AsyncRedisDebounce", "RedisDebounce"]

_SCRIPT: Final = timer_script("debounce")


def _record(raw: bytes | str) -> tuple[str, str, str, bytes]:
    """A stored record: its fixed-width fields and count, key, event id, payload."""
    b = raw_bytes(raw)
    i, framed = 121, []
    for _ in range(2):
        colon = b.index(b":", i)
        end = colon + 1 + int(b[i:colon])
        framed.append(b[colon + 1:end].decode("utf-8", "surrogatepass"))
        i = end
    return b[:121].decode(), framed[0], framed[1], b[i:]


def _fired(reply: Any) -> Fired:
    did, key, event_id, payload, header = reply
    h = text(header)  # first_at, last_at, fire_at, cap, ts (21 characters each), count
    return Fired(text(key), int(did), text(event_id), loads_payload(payload),
                 dec(h[0:21]), dec(h[21:42]), dec(h[42:63]), int(h[105:]))


class _Debounce:
    """The operations, written once for both client kinds."""

    def __init__(
        self, client: Any, name: str, period: int | str, timeout: int | str | None = None,
        *, clock: Clock | None = None,
    ) -> None:
        probe = Debounce(period, timeout, clock=no_clock if clock is None else clock)
        self.period: int = probe.period
        self.timeout: int | None = probe.timeout
        if self.timeout is not None:
            fit_int64(self.timeout, "timeout", " ns")
        self.client = client
        self.clock = clock
        self.layout = KeyLayout("debounce", name)
        self._keys = tuple(map(self.layout.tagged, ("now", "seq", "due", "recs", "active")))
        self._first: Step[None] | None = check_eviction(f"RedisDebounce {name!r}")

    def step_push(
        self, key: str, event_id: str, ts: int | None = None, payload: object = None
    ) -> Step[Pushed]:
        """push routes one event to ``key``'s debounce and says what became of it."""
        if type(key) is not str or type(event_id) is not str:
            raise TypeError(
                f"key and event_id must be str, got {type(key).__name__} and "
                f"{type(event_id).__name__}"
            )
        now = reading(self.clock)
        if ts is not None and type(ts) is not int:
            yield Eval(_SCRIPT, self._keys, ("tick", now))  # the clock was read, as in memory
            raise TypeError(f"ts must be an int in the clock's units or None, got {ts!r}")
        reply = yield Eval(_SCRIPT, self._keys, (
            "push", now, arg(key), arg(event_id), "" if ts is None else enc(ts, "ts"),
            dumps_payload(payload), self.period, "" if self.timeout is None else self.timeout,
        ))
        superseded = None if len(reply) < 4 else text(reply[3])
        return Pushed(DebounceOutcome(text(reply[0])), int(reply[1]), dec(reply[2]), superseded)

    def step_cancel(self, key: str) -> Step[DebounceCancelled | None]:
        """cancel drops ``key``'s open debounce before it fires; None if there is none.

        A debounce whose fire time has come is already firing and is not cancelled.
        """
        reply = yield Eval(_SCRIPT, self._keys, ("cancel", reading(self.clock), arg(key)))
        if reply is None:
            return None
        f = _fired(reply)
        return DebounceCancelled(f.key, f.debounce_id, f.event_id, f.payload, f.count)

    def step_poll(self) -> Step[tuple[Fired, ...]]:
        """poll claims and hands out every debounce due now, by (fire_at, id)."""
        reply = yield Eval(_SCRIPT, self._keys, ("poll", reading(self.clock)))
        return tuple(map(_fired, reply))

    def step_next_deadline(self) -> Step[int | None]:
        """next_deadline is the earliest fire time of any open debounce, or None."""
        reply = yield Command(("ZRANGE", self._keys[2], 0, 0))
        return dec(text(reply[0])[:21]) if reply else None

    def step_fire_at(self, key: str) -> Step[int | None]:
        """fire_at is when ``key``'s current debounce fires, or None if it has none."""
        reply = yield Eval(_SCRIPT, self._keys, ("fire_at", "", arg(key)))
        return None if reply is None else dec(reply)

    def step_active_keys(self) -> Step[tuple[str, ...]]:
        """active_keys lists keys whose latest debounce has not been handed out."""
        reply = yield Command(("HGETALL", self._keys[4]))
        # The in-memory dict's order: a key is (re)inserted when its debounce opens.
        ordered = sorted(pairs(reply), key=lambda kv: int(kv[1]))
        return tuple(text(k) for k, _ in ordered)

    def step_snapshot(self) -> Step[dict[str, object]]:
        """snapshot returns the state as the in-memory machine's ``snapshot()`` would."""
        now, seq, recs, active = yield Eval(_SCRIPT, self._keys, ("snapshot", ""))
        latest = {text(k): int(v) for k, v in pairs(active)}
        debounces = []
        for did, raw in sorted((int(k), v) for k, v in pairs(recs)):
            h, key, event_id, payload = _record(raw)
            debounces.append({
                "id": did, "key": key, "event_id": event_id, "ts": dec(h[84:105]),
                "payload": loads_payload(payload), "first_at": dec(h[0:21]),
                "last_at": dec(h[21:42]), "fire_at": dec(h[42:63]), "count": int(h[105:]),
                "active": latest.get(key) == did,
            })
        return {
            "kind": "Debounce", "version": 1, "period": self.period, "timeout": self.timeout,
            "now": dec(now) if now else 0, "next_id": int(seq) + 1, "debounces": debounces,
        }

    def step_restore(self, data: Mapping[str, object]) -> Step[None]:
        """restore replaces this machine's whole state on Redis with a ``snapshot()`` (of
        this class or of the in-memory machine), validated as ``from_snapshot`` does."""
        m = Debounce.from_snapshot(data, clock=no_clock)
        if (m.period, m.timeout) != (self.period, self.timeout):
            raise ValueError(f"snapshot of {m!r} does not match {self!r}")
        snap: dict[str, Any] = m.snapshot()
        args: list[str | bytes | int] = [
            "restore", "", enc(snap["now"]), snap["next_id"] - 1,
            "" if self.timeout is None else self.timeout,
        ]
        for d in snap["debounces"]:
            args += [d["id"], enc(d["first_at"]), enc(d["last_at"]), enc(d["fire_at"]),
                     enc(d["ts"], "ts"), d["count"], arg(d["key"]), arg(d["event_id"]),
                     dumps_payload(d["payload"]), "1" if d["active"] else "0"]
        yield Eval(_SCRIPT, self._keys, args)

    def step_len(self) -> Step[int]:
        """The number of debounces not yet handed out (due ones included)."""
        reply = yield Command(("ZCARD", self._keys[2]))
        return int(reply)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.layout.name!r}, period={self.period}, "
                f"timeout={self.timeout})")


class RedisDebounce(_Debounce):
    """Per-key debounce shared by every process using ``client`` and ``name``."""

    push = blocking(_Debounce.step_push)
    cancel = blocking(_Debounce.step_cancel)
    poll = blocking(_Debounce.step_poll)
    next_deadline = blocking(_Debounce.step_next_deadline)
    fire_at = blocking(_Debounce.step_fire_at)
    active_keys = blocking(_Debounce.step_active_keys)
    snapshot = blocking(_Debounce.step_snapshot)
    restore = blocking(_Debounce.step_restore)
    __len__ = blocking(_Debounce.step_len)


class AsyncRedisDebounce(_Debounce):
    """:class:`RedisDebounce` for ``redis.asyncio`` clients; ``len()`` is ``await size()``."""

    push = awaiting(_Debounce.step_push)
    cancel = awaiting(_Debounce.step_cancel)
    poll = awaiting(_Debounce.step_poll)
    next_deadline = awaiting(_Debounce.step_next_deadline)
    fire_at = awaiting(_Debounce.step_fire_at)
    active_keys = awaiting(_Debounce.step_active_keys)
    snapshot = awaiting(_Debounce.step_snapshot)
    restore = awaiting(_Debounce.step_restore)
    size = awaiting(_Debounce.step_len)
