"""RedisSingleton: :class:`~flowcontrol.machines.singleton.Singleton` on Redis (network I/O).

Same parameters (after ``client`` and ``name``), validation and answers as the
in-memory machine (``SingletonStarted``, ``SingletonSkipped``, ``active_keys()`` in the
order the keys were taken). Each decision is one atomic script (``lua/singleton.lua``),
so with many workers arriving at once one key never has two holders.

Keys (hash tag ``{fc:singleton:<name>}``: one Redis Cluster slot per function):
``holders`` (hash key -> run), ``runs`` (hash run -> key) and ``order`` (the held keys
in the order they were taken). A freed key is deleted at once; an idle machine keeps
no key. Locks have no TTL, as on the platform: a lock is held until the host releases
it (``release`` or ``run_finished``), so a dead worker's runs keep their keys until
another process finishes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.resources import files
from typing import Any, Final

from flowcontrol.machines.singleton import Singleton, SingletonSkipped, SingletonStarted
from flowcontrol.redis._keys import KeyLayout, check_eviction
from flowcontrol.redis._script import Command, Eval, Script, Step, awaiting, blocking
from flowcontrol.redis._timers import text

__all__ = ["AsyncRedisSingleton", "RedisSingleton"]

_SCRIPT: Final = Script(
    "singleton",
    (files("flowcontrol.redis") / "lua" / "singleton.lua").read_text(encoding="utf-8"),
    prelude=False,
)


class _Singleton:
    """The operations, written once for both client kinds (``step_*``: one call each)."""

    def __init__(self, client: Any, name: str, mode: str = "skip") -> None:
        self._mode = Singleton(mode).mode  # validates as the in-memory machine does
        self.client = client
        self.layout = KeyLayout("singleton", name)
        self._keys = tuple(map(self.layout.tagged, ("holders", "runs", "order")))
        self._first: Step[None] | None = check_eviction(f"RedisSingleton {name!r}")

    @property
    def mode(self) -> str:
        return self._mode

    def step_acquire(
        self, key: str | None, run_id: str
    ) -> Step[SingletonStarted | SingletonSkipped]:
        """acquire decides an arriving run: start it (maybe cancelling the holder) or skip it.

        Raises ValueError, changing nothing, if ``run_id`` already holds a lock (a run
        arrives once) or if the arguments are not strings.
        """
        if not isinstance(run_id, str):
            raise ValueError(f"run_id must be a string, got {run_id!r}")
        if key is not None and not isinstance(key, str):
            raise ValueError(f"key must be a string or None, got {key!r}")
        args = ("acquire", self._mode, run_id) if key is None else (
            "acquire", self._mode, run_id, key)
        reply = yield Eval(_SCRIPT, self._keys, args)
        tag = text(reply[0])
        if tag == "S":
            return SingletonStarted(run_id, key)
        if tag == "H":
            raise ValueError(
                f"run {run_id!r} already holds singleton key {text(reply[1])!r}; "
                "a run arrives only once"
            )
        assert key is not None
        if tag == "K":
            return SingletonSkipped(run_id, key, text(reply[1]))
        return SingletonStarted(run_id, key, text(reply[1]))

    def step_release(self, key: str, run_id: str) -> Step[bool]:
        """release frees ``key`` if ``run_id`` holds it; False (nothing changes) otherwise."""
        if not isinstance(key, str) or not isinstance(run_id, str):
            return False
        reply = yield Eval(_SCRIPT, self._keys, ("release", key, run_id))
        return int(reply) == 1

    def step_run_finished(self, run_id: str) -> Step[str | None]:
        """run_finished frees whatever key ``run_id`` holds; returns that key, or None."""
        if not isinstance(run_id, str):
            return None
        reply = yield Eval(_SCRIPT, self._keys, ("finished", run_id))
        return None if reply is None else text(reply)

    def step_holder(self, key: str) -> Step[str | None]:
        """holder is the run holding ``key``, or None."""
        if not isinstance(key, str):
            return None
        reply = yield Command(("HGET", self._keys[0], key))
        return None if reply is None else text(reply)

    def step_key_of(self, run_id: str) -> Step[str | None]:
        """key_of is the key ``run_id`` holds, or None."""
        if not isinstance(run_id, str):
            return None
        reply = yield Command(("HGET", self._keys[1], run_id))
        return None if reply is None else text(reply)

    def step_active_keys(self) -> Step[tuple[str, ...]]:
        """The keys currently held, in the order they were taken."""
        reply = yield Command(("ZRANGE", self._keys[2], 0, -1))
        return tuple(text(k) for k in reply)

    def step_snapshot(self) -> Step[dict[str, object]]:
        """snapshot returns the in-memory machine's snapshot of these locks (holders in
        the order they were taken), so ``Singleton.from_snapshot`` rebuilds them."""
        reply = yield Eval(_SCRIPT, self._keys, ("snapshot",))
        holders = {text(reply[i]): text(reply[i + 1]) for i in range(0, len(reply), 2)}
        return {"kind": "Singleton", "version": 1, "mode": self._mode, "holders": holders}

    def step_restore(self, data: Mapping[str, object]) -> Step[int]:
        """restore replaces every lock of this machine by a snapshot's; returns how many.

        Raises ValueError as ``Singleton.from_snapshot`` does, or if the snapshot's mode
        is not this machine's; nothing changes then.
        """
        memory = Singleton.from_snapshot(data)
        if memory.mode != self._mode:
            raise ValueError(f"snapshot has mode {memory.mode!r}; this machine has {self._mode!r}")
        args: list[str] = ["restore"]
        for key in memory.active_keys():
            holder = memory.holder(key)
            assert holder is not None
            args += [key, holder]
        reply = yield Eval(_SCRIPT, self._keys, tuple(args))
        return int(reply)

    def step_len(self) -> Step[int]:
        """The number of keys held."""
        reply = yield Command(("HLEN", self._keys[0]))
        return int(reply)


class RedisSingleton(_Singleton):
    """Singleton locks for one function on Redis: ``acquire`` on arrival, ``release`` at
    the end. ``RedisSingleton(client, name, mode)`` answers as ``Singleton(mode)``."""

    acquire = blocking(_Singleton.step_acquire)
    release = blocking(_Singleton.step_release)
    run_finished = blocking(_Singleton.step_run_finished)
    holder = blocking(_Singleton.step_holder)
    key_of = blocking(_Singleton.step_key_of)
    active_keys = blocking(_Singleton.step_active_keys)
    snapshot = blocking(_Singleton.step_snapshot)
    restore = blocking(_Singleton.step_restore)
    __len__ = blocking(_Singleton.step_len)


class AsyncRedisSingleton(_Singleton):
    """:class:`RedisSingleton` for ``redis.asyncio`` clients: the same methods, awaited
    (``len()`` is ``await size()``)."""

    acquire = awaiting(_Singleton.step_acquire)
    release = awaiting(_Singleton.step_release)
    run_finished = awaiting(_Singleton.step_run_finished)
    holder = awaiting(_Singleton.step_holder)
    key_of = awaiting(_Singleton.step_key_of)
    active_keys = awaiting(_Singleton.step_active_keys)
    snapshot = awaiting(_Singleton.step_snapshot)
    restore = awaiting(_Singleton.step_restore)
    size = awaiting(_Singleton.step_len)
