"""RedisBatcher: :class:`~flowcontrol.machines.batch.Batcher` with its state on Redis.

Same parameters, validation and answers as the in-memory machine (``Added``,
``Batch``, ``poll()`` order by ``(deadline, id)``, event ids in arrival order, the
dedupe window across keys); each decision is one atomic script (``lua/batch.lua``),
so with many pollers each batch is handed out exactly once, by ``add``, ``flush``
or one poller.

Keys (hash tag ``{fc:batch:<name>}``, one Cluster slot per machine): ``now``, ``seq``,
``due`` (index by deadline), ``recs`` (the open batches), ``active`` (key -> its
latest batch), ``seen`` and ``seenq`` (dedupe ids and their expiry index). A flushed
batch is deleted at once; dedupe ids are dropped by the next ``add`` or ``prune()``
after their window, as in memory; nothing expires by TTL.
"""

from __future__ import annotations

from typing import Any

from flowcontrol.machines.batch import (
    DEDUPE_WINDOW,
    DEFAULT_MAX_BYTES,
    Added,
    AddOutcome,
    Batch,
    Batcher,
    FlushReason,
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
    raw_bytes,
    run,
    run_async,
    text,
)
from flowcontrol.time import Clock

__all__ = ["AsyncRedisBatcher", "RedisBatcher"]

_NOW, _SEQ, _DUE, _RECS, _ACTIVE, _SEEN, _SEENQ = range(7)
_DUPLICATE = Added(AddOutcome.DUPLICATE, None, 0, None, None)


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


class _BatcherCore:
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
            if v > INT64_MAX:
                raise ValueError(f"{what} must fit in a signed 64-bit integer on Redis, got {v}")
        self._m = TimerMachine(
            client, name, "batch", "batch.lua",
            ("now", "seq", "due", "recs", "active", "seen", "seenq"), clock,
        )

    def _add(self, key: str, event_id: str, size: int) -> Step[Added]:
        if type(key) is not str or type(event_id) is not str or type(size) is not int:
            raise TypeError(
                f"key and event_id must be str and size an int, got {type(key).__name__}, "
                f"{type(event_id).__name__} and {type(size).__name__}"
            )
        if size < 0:
            raise ValueError(f"size must be >= 0 bytes, got {size}")
        if size > INT64_MAX:
            raise ValueError(f"size must fit in a signed 64-bit integer on Redis, got {size}")
        reply = yield Call((
            "add", self._m.reading(), arg(key), arg(event_id), str(size), str(self.max_size),
            enc(self.max_bytes), str(self.timeout), str(self.dedupe_window),
        ))
        outcome = AddOutcome(text(reply[0]))
        if outcome is AddOutcome.DUPLICATE:
            return _DUPLICATE
        if outcome is AddOutcome.FLUSHED:
            b = _batch(reply[1])
            return Added(outcome, b.batch_id, len(b.event_ids), None, b)
        return Added(outcome, int(reply[1]), int(reply[2]), dec(reply[3]), None)

    def _flush(self, key: str) -> Step[Batch | None]:
        reply = yield Call(("flush", self._m.reading(), arg(key)))
        return None if reply is None else _batch(reply)

    def _poll(self) -> Step[tuple[Batch, ...]]:
        reply = yield Call(("poll", self._m.reading()))
        return tuple(map(_batch, reply))

    def _prune(self) -> Step[int]:
        reply = yield Call(("prune", self._m.reading()))
        return int(reply)

    def _next_deadline(self) -> Step[int | None]:
        reply = yield Call(("ZRANGE", self._m.key(_DUE), 0, 0), script=False)
        return dec(text(reply[0])[:21]) if reply else None

    def _pending(self, key: str) -> Step[tuple[str, ...]]:
        reply = yield Call(("pending", "", arg(key)))
        return () if reply is None else _event_ids(reply)

    def _active_keys(self) -> Step[tuple[str, ...]]:
        reply = yield Call(("HGETALL", self._m.key(_ACTIVE)), script=False)
        # The in-memory dict's order, kept as the value's second half.
        ordered = sorted(pairs(reply), key=lambda kv: text(kv[1])[20:])
        return tuple(text(k) for k, _ in ordered)

    def _dedupe_size(self) -> Step[int]:
        reply = yield Call(("HLEN", self._m.key(_SEEN)), script=False)
        return int(reply)

    def _len(self) -> Step[int]:
        reply = yield Call(("ZCARD", self._m.key(_DUE)), script=False)
        return int(reply)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self._m.name!r}, max_size={self.max_size}, "
            f"timeout={self.timeout}, max_bytes={self.max_bytes})"
        )


class RedisBatcher(_BatcherCore):
    """Per-key event batches shared by every process using ``client`` and ``name``.

    ``clock``: the injected clock (nanoseconds), read on each call; ``None`` reads the
    Redis server's ``TIME`` (nanoseconds since the Unix epoch) inside each script.
    """

    def add(self, key: str, event_id: str, size: int = 0) -> Added:
        """add puts one event into ``key``'s batch and says what became of it."""
        return run(self._m, self._add(key, event_id, size))

    def flush(self, key: str) -> Batch | None:
        """flush hands out ``key``'s open batch now; None if it has none (or it is due)."""
        return run(self._m, self._flush(key))

    def poll(self) -> tuple[Batch, ...]:
        """poll claims every batch due by timeout now, by (deadline, id)."""
        return run(self._m, self._poll())

    def prune(self) -> int:
        """prune forgets dedupe ids whose window has passed; returns how many."""
        return run(self._m, self._prune())

    def next_deadline(self) -> int | None:
        """next_deadline is the earliest timeout of any open batch, or None."""
        return run(self._m, self._next_deadline())

    def pending(self, key: str) -> tuple[str, ...]:
        """pending lists the event ids in ``key``'s open batch, in arrival order."""
        return run(self._m, self._pending(key))

    def active_keys(self) -> tuple[str, ...]:
        """active_keys lists keys whose latest batch has not been handed out."""
        return run(self._m, self._active_keys())

    def dedupe_size(self) -> int:
        """dedupe_size is how many event ids the dedupe window currently remembers."""
        return run(self._m, self._dedupe_size())

    def __len__(self) -> int:
        """The number of batches not yet handed out (due ones included)."""
        return run(self._m, self._len())


class AsyncRedisBatcher(_BatcherCore):
    """:class:`RedisBatcher` for ``redis.asyncio`` clients; ``len()`` is ``await size()``."""

    async def add(self, key: str, event_id: str, size: int = 0) -> Added:
        """add puts one event into ``key``'s batch and says what became of it."""
        return await run_async(self._m, self._add(key, event_id, size))

    async def flush(self, key: str) -> Batch | None:
        """flush hands out ``key``'s open batch now; None if it has none (or it is due)."""
        return await run_async(self._m, self._flush(key))

    async def poll(self) -> tuple[Batch, ...]:
        """poll claims every batch due by timeout now, by (deadline, id)."""
        return await run_async(self._m, self._poll())

    async def prune(self) -> int:
        """prune forgets dedupe ids whose window has passed; returns how many."""
        return await run_async(self._m, self._prune())

    async def next_deadline(self) -> int | None:
        """next_deadline is the earliest timeout of any open batch, or None."""
        return await run_async(self._m, self._next_deadline())

    async def pending(self, key: str) -> tuple[str, ...]:
        """pending lists the event ids in ``key``'s open batch, in arrival order."""
        return await run_async(self._m, self._pending(key))

    async def active_keys(self) -> tuple[str, ...]:
        """active_keys lists keys whose latest batch has not been handed out."""
        return await run_async(self._m, self._active_keys())

    async def dedupe_size(self) -> int:
        """dedupe_size is how many event ids the dedupe window currently remembers."""
        return await run_async(self._m, self._dedupe_size())

    async def size(self) -> int:
        """The number of batches not yet handed out (``len()`` of the sync class)."""
        return await run_async(self._m, self._len())
