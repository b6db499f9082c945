"""Run semaphores: at most N runs in progress per function and key, held for a run's life.

What it models
    The platform's function concurrency (``concurrency: {"fn": [{"limit", "key"?}]}``,
    ``FnConcurrencyScopeFn`` in inngest ``pkg/inngest/concurrency.go``): a semaphore
    taken when a run's start item is admitted, together with the start's other
    constraints, and held for the run's whole life, sleeps, waits and retries included;
    released when the run ends, however it ends (``Finalize`` in
    ``pkg/execution/executor/finalize.go`` releases every manual-release semaphore of
    the run, with the run id as the idempotency key). It counts *runs*, unlike
    ``flowcontrol.machines.concurrency``, which counts executing steps.

Counter identity (``pkg/constraintapi/semaphore.go``)
    The platform names a semaphore ``fn:<function id>`` without a key and
    ``fnkey:<hash(function id + key expression text)>`` with one, and keeps one usage
    counter per *evaluated* key under that name (the capacity is stored once per name).
    So a counter belongs to one function; two functions never share one, even with the
    same key text. Ours, unhashed and length-prefixed so that distinct identities never
    collide: ``s:<len>:<function_id>`` and ``s:<len>:<function_id>:<len>:<key_expr>:<key>``.

Promises
    ``acquire(function_id, key, holder)`` grants a slot iff fewer than ``limit``
    holders hold that counter (weight 1), and changes nothing otherwise: a refusal is a
    value naming the counter and its usage. ``release(holder)`` gives the slot back
    once and returns its counter id: a second release, or one by a holder that never
    got a slot, returns None and changes nothing (the platform's release is idempotent
    per run id). A holder holds at most one slot. Re-registering a function changes its
    limit for later acquires (the platform sets the capacity on each deploy); slots held
    stay held.

Deliberate deviations
    The platform's limit must be > 0 (registration refuses 0; a semaphore with no
    capacity blocks everything), so ``limit`` here must be >= 1. The platform clamps a
    release of a counter at 0 usage; here a release names its holder, so nothing can go
    below 0. The platform's scavenger force-releases the slot of a start whose
    constraint lease expired (a crashed worker); there are no lease expiries here: the
    host ends every run it started.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from flowcontrol.machines._base import SnapshotReader, expect_header

__all__ = ["RunSemaphore", "SemaphoreAcquired", "SemaphoreRefused", "SemaphoreUsage"]


@dataclass(frozen=True, slots=True)
class SemaphoreUsage:
    """One counter: ``in_use`` of ``limit`` runs (``key`` None for an unkeyed limit)."""

    function_id: str
    key: str | None
    in_use: int
    limit: int
    counter: str

    @property
    def full(self) -> bool:
        """Whether no slot is free."""
        return self.in_use >= self.limit

    def describe(self) -> str:
        """describe says which counter this is and how full, in one line."""
        what = "run concurrency"
        if self.key is not None:
            what += f" key {self.key!r}"
        return f"{what}: {self.in_use}/{self.limit} runs in progress"


@dataclass(frozen=True, slots=True)
class SemaphoreAcquired:
    """``holder`` holds a slot of ``counter`` until ``release(holder)``."""

    ok: ClassVar[bool] = True
    holder: str
    function_id: str
    counter: str


@dataclass(frozen=True, slots=True)
class SemaphoreRefused:
    """Nothing was taken: ``usage`` is the full counter."""

    ok: ClassVar[bool] = False
    holder: str
    usage: SemaphoreUsage

    @property
    def reason(self) -> str:
        """A one-line explanation, e.g. ``run concurrency key 'u1': 3/3 runs in progress``."""
        return self.usage.describe()


class RunSemaphore:
    """Run-level semaphores for the functions of one account (one counter per function
    and evaluated key): ``acquire`` at a run's start, ``release`` at its end."""

    __slots__ = ("_counts", "_held", "_plans")

    def __init__(self) -> None:
        self._plans: dict[str, tuple[int, str | None, str]] = {}  # fn -> limit, expr, prefix
        self._counts: dict[str, int] = {}  # counter id -> holders (no zero entries)
        self._held: dict[str, tuple[str, str, str | None]] = {}  # holder -> counter, fn, key

    def register(self, function_id: str, limit: int, key_expr: str | None = None) -> None:
        """register sets (or replaces) a function's limit: at most ``limit`` (>= 1) runs
        in progress per evaluated key of ``key_expr`` (None: one counter for the
        function). Raises ValueError."""
        if not isinstance(function_id, str) or not function_id:
            raise ValueError(f"function_id must be a non-empty string, got {function_id!r}")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"function concurrency limit must be > 0, got {limit!r}")
        if key_expr is not None and (not isinstance(key_expr, str) or not key_expr):
            raise ValueError(f"key_expr must be a non-empty string or None, got {key_expr!r}")
        prefix = f"s:{len(function_id)}:{function_id}"
        if key_expr is not None:
            prefix += f":{len(key_expr)}:{key_expr}:"
        self._plans[function_id] = (limit, key_expr, prefix)

    def _plan(self, function_id: str, key: str | None) -> tuple[int, str | None, str]:
        plan = self._plans.get(function_id)
        if plan is None:
            raise LookupError(f"function {function_id!r} is not registered with this RunSemaphore")
        if (key is None) != (plan[1] is None):
            want = "no key" if plan[1] is None else f"the value of {plan[1]!r}"
            raise ValueError(f"function {function_id!r} takes {want} as its key, got {key!r}")
        return plan

    def counter_id(self, function_id: str, key: str | None = None) -> str:
        """The id of the counter a run of ``function_id`` with ``key`` takes."""
        _, _, prefix = self._plan(function_id, key)
        return prefix if key is None else prefix + key

    def acquire(
        self, function_id: str, key: str | None, holder: str
    ) -> SemaphoreAcquired | SemaphoreRefused:
        """acquire takes one slot for ``holder`` if the counter has one free.

        ``key`` is the evaluated key (None for an unkeyed limit). Raises ValueError if
        ``holder`` already holds a slot, LookupError for an unregistered function.
        """
        limit, _, prefix = self._plan(function_id, key)
        if not isinstance(holder, str) or not holder:
            raise ValueError(f"holder must be a non-empty string, got {holder!r}")
        if holder in self._held:
            raise ValueError(f"{holder!r} already holds a run concurrency slot")
        cid = prefix if key is None else prefix + key
        n = self._counts.get(cid, 0)
        if n >= limit:
            return SemaphoreRefused(holder, SemaphoreUsage(function_id, key, n, limit, cid))
        self._counts[cid] = n + 1
        self._held[holder] = (cid, function_id, key)
        return SemaphoreAcquired(holder, function_id, cid)

    def release(self, holder: str) -> str | None:
        """release gives back ``holder``'s slot; returns its counter id, or None (and
        changes nothing) if ``holder`` holds none (never acquired, or released)."""
        entry = self._held.pop(holder, None)
        if entry is None:
            return None
        cid = entry[0]
        n = self._counts[cid] - 1
        if n:
            self._counts[cid] = n
        else:
            del self._counts[cid]
        return cid

    # -- queries -------------------------------------------------------------------

    def in_use(self, function_id: str, key: str | None = None) -> SemaphoreUsage:
        """in_use reports the counter a run of ``function_id`` with ``key`` would take."""
        limit, _, prefix = self._plan(function_id, key)
        cid = prefix if key is None else prefix + key
        return SemaphoreUsage(function_id, key, self._counts.get(cid, 0), limit, cid)

    def holders(self) -> dict[str, tuple[str, str | None]]:
        """holders maps each holder to the (function id, key) of the slot it holds."""
        return {h: (fn, key) for h, (_, fn, key) in self._held.items()}

    def usage(self) -> dict[str, int]:
        """usage is a copy of every non-zero counter."""
        return dict(self._counts)

    def __len__(self) -> int:
        """The number of slots held."""
        return len(self._held)

    def __contains__(self, holder: object) -> bool:
        return holder in self._held

    def _check_invariants(self) -> None:
        """Counters equal the holders' slots; no zero counters; each within its limit."""
        expected: dict[str, int] = {}
        for cid, _, _ in self._held.values():
            expected[cid] = expected.get(cid, 0) + 1
        assert expected == self._counts, (expected, self._counts)
        for cid, fn, key in self._held.values():
            assert self._plan(fn, key)[2] + ("" if key is None else key) == cid

    # -- persistence ---------------------------------------------------------------

    def snapshot(self) -> dict[str, object]:
        """snapshot returns plain JSON-able data from which ``from_snapshot`` rebuilds this."""
        return {
            "kind": "RunSemaphore",
            "version": 1,
            "functions": [
                {"function_id": fn, "limit": limit, "key_expr": expr}
                for fn, (limit, expr, _) in self._plans.items()
            ],
            "held": [[h, fn, key] for h, (_, fn, key) in self._held.items()],
        }

    @classmethod
    def from_snapshot(cls, data: Mapping[str, object]) -> RunSemaphore:
        """from_snapshot rebuilds the semaphores; raises ValueError naming what is wrong.

        Slots held beyond a limit (a limit lowered since) are kept, as on a redeploy."""
        expect_header(data, "RunSemaphore")
        top = SnapshotReader(data, "RunSemaphore snapshot")
        m = cls()
        for i, f in enumerate(top.get("functions", list)):
            r = SnapshotReader(f, f"RunSemaphore snapshot.functions[{i}]")
            try:
                m.register(r.get("function_id", str), r.get("limit", int),
                           r.get("key_expr", str, optional=True))
            except ValueError as e:
                raise ValueError(f"{r.where}: {e}") from None
        for i, entry in enumerate(top.get("held", list)):
            where = f"RunSemaphore snapshot.held[{i}]"
            if not (isinstance(entry, list) and len(entry) == 3
                    and all(isinstance(x, str) for x in entry[:2])
                    and (entry[2] is None or isinstance(entry[2], str))):
                raise ValueError(f"{where} must be [holder, function_id, key or null]")
            holder, fn, key = entry
            if holder in m._held:
                raise ValueError(f"{where}: {holder!r} holds two slots")
            try:
                _, _, prefix = m._plan(fn, key)
            except (LookupError, ValueError) as e:
                raise ValueError(f"{where}: {e}") from None
            cid = prefix if key is None else prefix + key
            m._counts[cid] = m._counts.get(cid, 0) + 1
            m._held[holder] = (cid, fn, key)
        return m
