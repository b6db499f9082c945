"""RedisBatcher: :class:`~flowcontrol.machines.batch.Batcher` with its state on Redis (network I/O).

Same parameters (after ``client`` and ``name``), validation and answers as the
in-memory machine (``Added``, ``Batch`` with event ids in arrival order, ``poll()`` in
``(deadline, id)`` order, the dedupe window across keys); each decision is one atomic
script (``lua/batch.lua``), so with many pollers each batch is handed out exactly once,
by ``add``, ``flush`` or one poller.

Keys (hash tag ``{fc:batch:<name>}``: one Cluster slot per machine, since ids, the
deadline index and dedupe span all keys): ``now``, ``seq``, ``due`` (the index by
deadline), ``recs`` (the batches not yet handed out), ``active`` (key -> its latest
batch), ``seen``, ``seenq`` and ``seenn`` (dedupe ids, their expiry index and its
insertion counter). A flushed batch is
deleted at once; a dedupe id is dropped by the first ``add`` or ``prune()`` after its
window, as in memory. Nothing expires by a Redis TTL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from flowcontrol.machines.batch import (
    DEDUPE_WINDOW,
    DEFAULT_MAX_BYTES,
    Added,
    AddOutcome,
    Batch,
    Batcher,
    FlushReason,
    check_add,
)
from flowcontrol.redis._keys import KeyLayout, check_eviction
from flowcontrol.redis._script import Command, Eval, Step, awaiting, blocking
from flowcontrol.redis._timers import (
    arg,
    dec,
    enc,
    fit_int64,
    no_clock,
    pairs,
    raw_bytes,
    reading,
    text,
    timer_script,
)
from flowcontrol.time import Clock

__all__ = ["AsyncRedisBatcher", "RedisBatcher"]

_SCRIPT: Final = timer_script("batch")
_DUPLICATE: Final = Added(AddOutcome.DUPLICATE, None, 0, None, None)


def _event_ids(raw: bytes | str) -> tuple[str, ...]:
    """Split the stored ``<bytes>:<event id>`` pieces."""
    data = raw_bytes(raw)
    out: list[str] = []
    i = 0
    while i < len(data):
        colon = data.index(b":", i)
        end = colon + 1 + int(data[i:colon])
        out.append(data[colon + 1:end].decode("utf-8", "surrogatepass"))
        i = end
    return tuple(out)


def _batch(reply: Any) -> Batch:
    bid, key, events, nbytes, first_at, flushed_at, reason = reply
    return Batch(
        text(key), int(bid), _event_ids(events), dec(nbytes), dec(first_at), dec(flushed_at),
        FlushReason(text(reason)),
    )


class _Batcher:
    """The operations, written once for both client kinds."""

    def __init__(
        self, client: Any, name: str, max_size: int, timeout: int | str,
        max_bytes: int = DEFAULT_MAX_BYTES, *, clock: Clock | None = None,
        dedupe_window: int = DEDUPE_WINDOW,
    ) -> None:
        probe = Batcher(
            max_size, timeout, max_bytes, clock=no_clock if clock is None else clock,
            dedupe_window=dedupe_window,
        )
        self.max_size: int = probe.max_size
        self.timeout: int = probe.timeout
        self.max_bytes: int = probe.max_bytes
        self.dedupe_window: int = probe.dedupe_window
        for what, v in (("timeout", self.timeout), ("max_bytes", self.max_bytes),
                        ("dedupe_window", self.dedupe_window)):
            fit_int64(v, what)
        self.client = client
        self.clock = clock
        self.layout = KeyLayout("batch", name)
        self._keys = tuple(map(self.layout.tagged, (
            "now", "seq", "due", "recs", "active", "seen", "seenq", "seenn")))
        self._first: Step[None] | None = check_eviction(f"RedisBatcher {name!r}")

    def step_add(self, key: str, event_id: str, size: int = 0) -> Step[Added]:
        """add puts one event into ``key``'s batch and says what became of it."""
        fit_int64(check_add(key, event_id, size), "size")
        reply = yield Eval(_SCRIPT, self._keys, (
            "add", reading(self.clock), arg(key), arg(event_id), size, self.max_size,
            enc(self.max_bytes), self.timeout, self.dedupe_window,
        ))
        outcome = AddOutcome(text(reply[0]))
        if outcome is AddOutcome.DUPLICATE:
            return _DUPLICATE
        if outcome is AddOutcome.FLUSHED:
            b = _batch(reply[1])
            return Added(outcome, b.batch_id, len(b.event_ids), None, b)
        return Added(outcome, int(reply[1]), int(reply[2]), dec(reply[3]), None)

    def step_flush(self, key: str) -> Step[Batch | None]:
        """flush hands out ``key``'s open batch now; None if it has none.

        A batch whose deadline has come is already due and comes out of ``poll()``.
        """
        reply = yield Eval(_SCRIPT, self._keys, ("flush", reading(self.clock), arg(key)))
        return None if reply is None else _batch(reply)

    def step_poll(self) -> Step[tuple[Batch, ...]]:
        """poll claims every batch due by timeout now, by (deadline, id)."""
        reply = yield Eval(_SCRIPT, self._keys, ("poll", reading(self.clock)))
        return tuple(map(_batch, reply))

    def step_prune(self) -> Step[int]:
        """prune forgets dedupe ids whose window has passed; returns how many."""
        reply = yield Eval(_SCRIPT, self._keys, ("prune", reading(self.clock)))
        return int(reply)

    def step_next_deadline(self) -> Step[int | None]:
        """next_deadline is the earliest timeout of any open batch, or None."""
        reply = yield Command(("ZRANGE", self._keys[2], 0, 0))
        return dec(text(reply[0])[:21]) if reply else None

    def step_pending(self, key: str) -> Step[tuple[str, ...]]:
        """pending lists the event ids in ``key``'s open batch, in arrival order."""
        reply = yield Eval(_SCRIPT, self._keys, ("pending", "", arg(key)))
        return () if reply is None else _event_ids(reply)

    def step_active_keys(self) -> Step[tuple[str, ...]]:
        """active_keys lists keys whose latest batch has not been handed out."""
        reply = yield Command(("HGETALL", self._keys[4]))
        # The in-memory dict's order, kept as the value's second half.
        ordered = sorted(pairs(reply), key=lambda kv: text(kv[1])[20:])
        return tuple(text(k) for k, _ in ordered)

    def step_dedupe_size(self) -> Step[int]:
        """dedupe_size is how many event ids the dedupe window currently remembers."""
        reply = yield Command(("HLEN", self._keys[5]))
        return int(reply)

    def step_snapshot(self) -> Step[dict[str, object]]:
        """snapshot returns the state as the in-memory machine's ``snapshot()`` would."""
        now, seq, recs, active, seenq = yield Eval(_SCRIPT, self._keys, ("snapshot", ""))
        latest = {text(k): int(text(v)[:20]) for k, v in pairs(active)}
        batches = []
        for bid, raw in sorted((int(k), raw_bytes(v)) for k, v in pairs(recs)):
            colon = raw.index(b":", 79)
            end = colon + 1 + int(raw[79:colon])
            key = raw[colon + 1:end].decode("utf-8", "surrogatepass")
            batches.append({
                "id": bid, "key": key, "event_ids": list(_event_ids(raw[end:])),
                "size_bytes": dec(raw[42:63]), "first_at": dec(raw[:21]),
                "active": latest.get(key) == bid,
            })
        seen = [[m[42:].decode("utf-8", "surrogatepass"), dec(m[:21])]
                for m in map(raw_bytes, seenq)]
        return {
            "kind": "Batcher", "version": 1, "max_size": self.max_size,
            "timeout": self.timeout, "max_bytes": self.max_bytes,
            "dedupe_window": self.dedupe_window, "now": dec(now) if now else 0,
            "next_id": int(seq) + 1, "batches": batches, "seen": seen,
        }

    def step_restore(self, data: Mapping[str, object]) -> Step[None]:
        """restore replaces this machine's whole state on Redis with a ``snapshot()`` (of
        this class or of the in-memory machine), validated as ``from_snapshot`` does."""
        m = Batcher.from_snapshot(data, clock=no_clock)
        mine = (self.max_size, self.timeout, self.max_bytes, self.dedupe_window)
        if (m.max_size, m.timeout, m.max_bytes, m.dedupe_window) != mine:
            raise ValueError(f"snapshot of {m!r} does not match {self!r}")
        snap: dict[str, Any] = m.snapshot()
        args: list[str | bytes | int] = [
            "restore", "", enc(snap["now"]), snap["next_id"] - 1, self.timeout,
            len(snap["batches"]),
        ]
        for b in snap["batches"]:
            pieces = b"".join(
                b"%d:%s" % (len(e), e) for e in map(arg, b["event_ids"]))
            args += [b["id"], arg(b["key"]), enc(b["first_at"]), enc(b["size_bytes"]),
                     len(b["event_ids"]), pieces, "1" if b["active"] else "0"]
        for event_id, expires in snap["seen"]:
            args += [arg(event_id), enc(expires)]
        yield Eval(_SCRIPT, self._keys, args)

    def step_len(self) -> Step[int]:
        """The number of batches not yet handed out (due ones included)."""
        reply = yield Command(("ZCARD", self._keys[2]))
        return int(reply)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.layout.name!r}, max_size={self.max_size}, "
            f"timeout={self.timeout}, max_bytes={self.max_bytes})"
        )


class RedisBatcher(_Batcher):
    """Per-key event batches shared by every process using ``client`` and ``name``."""

    add = blocking(_Batcher.step_add)
    flush = blocking(_Batcher.step_flush)
    poll = blocking(_Batcher.step_poll)
    prune = blocking(_Batcher.step_prune)
    next_deadline = blocking(_Batcher.step_next_deadline)
    pending = blocking(_Batcher.step_pending)
    active_keys = blocking(_Batcher.step_active_keys)
    dedupe_size = blocking(_Batcher.step_dedupe_size)
    snapshot = blocking(_Batcher.step_snapshot)
    restore = blocking(_Batcher.step_restore)
    __len__ = blocking(_Batcher.step_len)


class AsyncRedisBatcher(_Batcher):
    """:class:`RedisBatcher` for ``redis.asyncio`` clients; ``len()`` is ``await size()``."""

    add = awaiting(_Batcher.step_add)
    flush = awaiting(_Batcher.step_flush)
    poll = awaiting(_Batcher.step_poll)
    prune = awaiting(_Batcher.step_prune)
    next_deadline = awaiting(_Batcher.step_next_deadline)
    pending = awaiting(_Batcher.step_pending)
    active_keys = awaiting(_Batcher.step_active_keys)
    dedupe_size = awaiting(_Batcher.step_dedupe_size)
    snapshot = awaiting(_Batcher.step_snapshot)
    restore = awaiting(_Batcher.step_restore)
    size = awaiting(_Batcher.step_len)
