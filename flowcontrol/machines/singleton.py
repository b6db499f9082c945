"""Singleton: at most one run per key, by skipping newcomers or cancelling the holder.

What it models (spec section 8)
    A lock per singleton key, taken when a run's start item is enqueued and held until
    the run's *last* queue item is gone, so it is held while the run is queued,
    throttled, blocked on concurrency, sleeping, waiting or retrying. The host says
    when that is with ``release(key, run_id)`` or ``run_finished(run_id)``; a release
    by a run that no longer holds the lock (say, one that was cancelled and replaced)
    changes nothing, like the platform's runID check in ``dequeue.lua``.

Modes
    ``skip``: a run arriving while the key is held is skipped:
    ``SingletonSkipped(held_by=X)``; the holder keeps the lock.
    ``cancel``: the holder is cancelled and the newcomer takes the lock:
    ``SingletonStarted(cancel=X)``; the host cancels run X, then starts the new run.

Keys
    One ``Singleton`` serves one function (the platform prefixes keys with the function
    id). With no key expression the host passes the function id as the key; a key that
    evaluates to ``false`` (or fails) means "not a singleton": pass ``None`` and the run
    starts without taking any lock.

Deliberate deviation
    Arrivals are atomic here. On the platform, cancel mode deletes the lock and
    re-takes it at enqueue in two steps, so in a burst some newcomers lose the race and
    are skipped instead ("cancel mode can skip some new runs"); here every cancel-mode
    arrival cancels the holder and becomes the holder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Final

from flowcontrol.machines._base import expect_header

__all__ = ["Singleton", "SingletonSkipped", "SingletonStarted"]

_MODES: Final = ("skip", "cancel")


@dataclass(frozen=True, slots=True)
class SingletonStarted:
    """The run goes ahead and holds ``key`` (None: not a singleton, no lock taken).

    ``cancel`` names the previous holder the host must cancel first (cancel mode).
    """

    started: ClassVar[bool] = True
    run_id: str
    key: str | None
    cancel: str | None = None


@dataclass(frozen=True, slots=True)
class SingletonSkipped:
    """The run is skipped (skip mode) because run ``held_by`` holds ``key``."""

    started: ClassVar[bool] = False
    run_id: str
    key: str
    held_by: str

    @property
    def reason(self) -> str:
        """A one-line explanation: which key, held by which run."""
        return f"singleton key {self.key!r} is held by run {self.held_by}"


class Singleton:
    """Singleton locks for one function: ``acquire`` on arrival, ``release`` at the end."""

    __slots__ = ("_holders", "_keys", "_mode")

    def __init__(self, mode: str = "skip") -> None:
        if mode not in _MODES:
            raise ValueError(f"mode must be 'skip' or 'cancel', got {mode!r}")
        self._mode = mode
        self._holders: dict[str, str] = {}  # key -> run id holding it
        self._keys: dict[str, str] = {}  # run id -> key it holds

    @property
    def mode(self) -> str:
        return self._mode

    def acquire(self, key: str | None, run_id: str) -> SingletonStarted | SingletonSkipped:
        """acquire decides an arriving run: start it (maybe cancelling the holder) or skip it.

        Raises ValueError, changing nothing, if ``run_id`` already holds a lock (a run
        arrives once) or if the arguments are not strings.
        """
        if not isinstance(run_id, str):
            raise ValueError(f"run_id must be a string, got {run_id!r}")
        if run_id in self._keys:
            raise ValueError(
                f"run {run_id!r} already holds singleton key {self._keys[run_id]!r}; "
                "a run arrives only once"
            )
        if key is None:
            return SingletonStarted(run_id, None)
        if not isinstance(key, str):
            raise ValueError(f"key must be a string or None, got {key!r}")
        holder = self._holders.get(key)
        if holder is None:
            self._holders[key] = run_id
            self._keys[run_id] = key
            return SingletonStarted(run_id, key)
        if self._mode == "skip":
            return SingletonSkipped(run_id, key, holder)
        del self._keys[holder]
        self._holders[key] = run_id
        self._keys[run_id] = key
        return SingletonStarted(run_id, key, holder)

    def release(self, key: str, run_id: str) -> bool:
        """release frees ``key`` if ``run_id`` holds it; False (nothing changes) otherwise."""
        if self._holders.get(key) != run_id:
            return False
        del self._holders[key]
        del self._keys[run_id]
        return True

    def run_finished(self, run_id: str) -> str | None:
        """run_finished frees whatever key ``run_id`` holds; returns that key, or None."""
        key = self._keys.pop(run_id, None)
        if key is not None:
            del self._holders[key]
        return key

    def holder(self, key: str) -> str | None:
        """holder is the run holding ``key``, or None."""
        return self._holders.get(key)

    def key_of(self, run_id: str) -> str | None:
        """key_of is the key ``run_id`` holds, or None."""
        return self._keys.get(run_id)

    def active_keys(self) -> tuple[str, ...]:
        """The keys currently held, in the order they were taken."""
        return tuple(self._holders)

    def __len__(self) -> int:
        """The number of keys held."""
        return len(self._holders)

    def _check_invariants(self) -> None:
        """The two maps are inverse to each other (one holder per key, one key per run)."""
        assert len(self._holders) == len(self._keys)
        for key, run in self._holders.items():
            assert self._keys[run] == key

    def snapshot(self) -> dict[str, object]:
        """snapshot returns plain JSON-able data from which ``from_snapshot`` rebuilds this."""
        return {
            "kind": "Singleton",
            "version": 1,
            "mode": self._mode,
            "holders": dict(self._holders),
        }

    @classmethod
    def from_snapshot(cls, data: Mapping[str, object]) -> Singleton:
        """from_snapshot rebuilds the locks; raises ValueError naming what is wrong."""
        expect_header(data, "Singleton")
        mode = data.get("mode")
        if not isinstance(mode, str) or mode not in _MODES:
            raise ValueError(f"Singleton snapshot: mode must be 'skip' or 'cancel', got {mode!r}")
        holders = data.get("holders")
        if not isinstance(holders, Mapping):
            raise ValueError("Singleton snapshot: holders must be an object {key: run_id}")
        m = cls(mode)
        for key, run in holders.items():
            if not isinstance(key, str) or not isinstance(run, str):
                raise ValueError(f"Singleton snapshot: holders[{key!r}] = {run!r} is not str: str")
            if run in m._keys:
                raise ValueError(f"Singleton snapshot: run {run!r} holds two keys")
            m._holders[key] = run
            m._keys[run] = key
        return m
