"""Concurrency: counted leases under account, env, function and keyed limits.

What it models
    Inngest's concurrency limits count *leases*, not runs: a queue item (a start, a
    step, a retry) holds one slot while it executes and gives it back when it ends.
    Sleeping or waiting holds nothing; that is the host's business: it simply does
    not hold a lease then. One ``Concurrency`` object is a registry serving every
    function of one account, so that env- and account-scoped keys are shared.

Constraints that apply to one acquire (checked in the platform's order, spec 1.1:
scope account < env < fn, unkeyed before keyed):

* the account-level limit (``account_limit``; one counter per account);
* up to two keyed ``ConcurrencyConstraint`` s per function, each of scope ``fn``,
  ``env`` or ``account``;
* the function-level limit (``function_limit``; one counter per function).

An acquire is all-or-nothing: nothing is counted unless every constraint has a free
slot. Each function checks a shared counter against its *own* limit.

Limit 0 means no limit, as documented ("A value of 0 or undefined sets no concurrency
limit"); the current Constraint API would block instead (spec 2.5, 13.6).

Counter identity (spec 2.3), reproducing the current Constraint API, whose counter
key hashes the key *expression text* next to the evaluated value. Counter ids are
strings (their hash is cached, which keeps the hot path fast); every part but the
last is length-prefixed, so distinct identities never collide:

==========  ================================================
scope       counter id
==========  ================================================
account     ``A`` (the account limit)
account     ``a:<len>:<key_expr>:<key>``
env         ``e:<len>:<env_id>:<len>:<key_expr>:<key>``
fn          ``F:<function_id>`` (the function limit)
fn          ``f:<len>:<function_id>:<len>:<key_expr>:<key>``
==========  ================================================

So two functions share an env/account key only when the expression text is identical
*and* the evaluated key is equal (``'"openai"'`` and ``"\\"openai\\""`` do not share).

Lease expiry (optional)
    The platform's leases expire (``QueueLeaseDuration`` 30 s, extended while the item
    is processed) and expired leases stop counting, so a crashed worker cannot hold a
    slot for ever. Give ``lease_ttl=`` and ``clock=`` to get the same: each lease
    expires ``lease_ttl`` after its acquire or its latest ``extend``; ``poll()`` returns
    the ids of leases that expired, and releasing one afterwards returns False. Without
    ``lease_ttl`` leases never expire and no clock is read.

Run-level semaphores
    The platform's newer function concurrency (``{"fn": [...]}``) counts *runs*: a
    semaphore taken by the start item and held until the run ends, not part of the
    account's step count. ``flowcontrol.machines.semaphore.RunSemaphore`` models it.

Warts and deliberate choices
    The host releases every lease exactly once. Re-registering a function changes the
    limits for later acquires only; leases already held release the counters they took.
    Keys are given in registration order of the constraints (the platform sorts limits
    by value; order has no effect here beyond that). Two constraints of one function
    with the same scope and expression name one counter, as on the platform: a lease
    counts once in it and both limits apply, so they act as one with the stricter
    limit (the first key is used).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from flowcontrol.machines._base import expect_header
from flowcontrol.time import Clock, to_ns

__all__ = [
    "MAX_KEYED_CONSTRAINTS",
    "Acquired",
    "Concurrency",
    "ConcurrencyConstraint",
    "ConcurrencyUsage",
    "Refused",
    "UnknownFunctionError",
]

MAX_KEYED_CONSTRAINTS: Final = 2
_SCOPES: Final = ("account", "env", "fn")
_SCOPE_RANK: Final = {"account": 0, "env": 1, "fn": 2}
_UNLIMITED: Final = 1 << 62  # stands in for "no limit" so the hot path has no branch
_ACCOUNT: Final = "A"

CounterId = str
LeaseId = int | str
"""Lease ids: the registry numbers leases 1, 2, ... unless the host names them (str)."""


class UnknownFunctionError(LookupError):
    """An acquire, query or snapshot names a function that was never registered."""

    def __init__(self, function_id: str) -> None:
        self.function_id = function_id
        super().__init__(f"function {function_id!r} is not registered with this Concurrency")


def _check_limit(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int >= 0 (0 = no limit), got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0 (0 = no limit), got {value}")
    return value


@dataclass(frozen=True, slots=True)
class ConcurrencyConstraint:
    """One keyed limit: at most ``limit`` leases per evaluated key (0 = no limit).

    ``key_expr`` is the key expression's text (or any stable id for it); it is part
    of the counter identity. ``scope`` says who shares the counter: ``"fn"`` (this
    function only), ``"env"`` (functions of one env) or ``"account"`` (all).
    """

    limit: int
    key_expr: str
    scope: str = "fn"

    def __post_init__(self) -> None:
        _check_limit(self.limit, "limit")
        if self.scope not in _SCOPES:
            raise ValueError(f"scope must be one of 'fn', 'env', 'account', got {self.scope!r}")
        if not isinstance(self.key_expr, str) or not self.key_expr:
            raise ValueError(
                f"A concurrency key must be specified for {self.scope} scoped limits "
                "(key_expr must be a non-empty string; use function_limit= for an unkeyed "
                "function-level limit)"
            )


@dataclass(frozen=True, slots=True)
class ConcurrencyUsage:
    """One constraint's state for one function: ``in_use`` of ``limit`` (0 = no limit).

    ``key`` and ``key_expr`` are None for the unkeyed account and function limits.
    ``counter`` is the shared counter's id (module doc), the same string that
    ``usage()`` and ``counter_ids()`` use, so a host can park work on it.
    """

    scope: str
    key: str | None
    key_expr: str | None
    in_use: int
    limit: int
    counter: str = ""

    @property
    def full(self) -> bool:
        """Whether this constraint has no free slot."""
        return self.limit != 0 and self.in_use >= self.limit

    def describe(self) -> str:
        """describe says which constraint this is and how full, in one line."""
        what = f"{self.scope} concurrency"
        if self.key is not None:
            what += f" key {self.key!r} ({self.key_expr})"
        limit = "no limit" if self.limit == 0 else str(self.limit)
        return f"{what}: {self.in_use}/{limit} in use"


@dataclass(frozen=True, slots=True)
class Acquired:
    """A granted lease; hand it (or its ``lease_id``) to ``release`` exactly once."""

    ok: ClassVar[bool] = True
    lease_id: LeaseId
    function_id: str


_new = object.__new__
_set_lease_id: Callable[[Acquired, LeaseId], None] = Acquired.__dict__["lease_id"].__set__
_set_function_id: Callable[[Acquired, str], None] = Acquired.__dict__["function_id"].__set__


@dataclass(frozen=True, slots=True)
class Refused:
    """Nothing was counted: ``blocking`` lists every full constraint, in check order.

    The first one (also reachable as ``.scope``, ``.key``, ``.in_use``, ``.limit``) is
    the one the platform would report.
    """

    ok: ClassVar[bool] = False
    function_id: str
    blocking: tuple[ConcurrencyUsage, ...]

    @property
    def scope(self) -> str:
        return self.blocking[0].scope

    @property
    def key(self) -> str | None:
        return self.blocking[0].key

    @property
    def in_use(self) -> int:
        return self.blocking[0].in_use

    @property
    def limit(self) -> int:
        return self.blocking[0].limit

    @property
    def reason(self) -> str:
        """A one-line explanation, e.g. ``fn concurrency key 'u1' (event.data.u): 2/2 in use``."""
        return "; ".join(u.describe() for u in self.blocking)


class _Plan:
    """A registered function, precompiled for the hot path."""

    __slots__ = (
        "account_cap",
        "account_limit",
        "constraints",
        "eff",
        "env_id",
        "fn_cap",
        "fn_counter",
        "function_id",
        "function_limit",
        "keyed_limits",
        "keyed_prefixes",
        "limits",
        "merged",
        "nkeys",
        "nkeys_in",
        "order",
        "static_ids",
        "static_limits",
    )

    def __init__(
        self,
        function_id: str,
        constraints: tuple[ConcurrencyConstraint, ...],
        function_limit: int,
        account_limit: int,
        env_id: str,
    ) -> None:
        self.function_id = function_id
        self.constraints = constraints  # as registered
        self.function_limit = function_limit
        self.account_limit = account_limit
        self.env_id = env_id
        self.nkeys_in = len(constraints)  # keys an acquire passes
        # Two constraints with one scope and expression share one counter: a lease counts
        # once in it, and each limit is checked, so they act as one with the stricter limit.
        self.merged = len(constraints) == 2 and (
            (constraints[0].scope, constraints[0].key_expr)
            == (constraints[1].scope, constraints[1].key_expr)
        )
        if self.merged:
            a, b = constraints[0].limit, constraints[1].limit
            limit = min(a, b) if a and b else a or b
            first = constraints[0]
            constraints = (ConcurrencyConstraint(limit, first.key_expr, first.scope),)
        self.eff = constraints
        self.nkeys = len(constraints)
        # Counter ids: [0] function counter, [1] account counter, then one per constraint.
        self.fn_counter = "F:" + function_id
        self.static_ids: tuple[CounterId, ...] = (self.fn_counter, _ACCOUNT)
        self.fn_cap = function_limit or _UNLIMITED
        self.account_cap = account_limit or _UNLIMITED
        self.static_limits = (self.fn_cap, self.account_cap)
        prefixes: list[str] = []
        for c in constraints:
            expr = f"{len(c.key_expr)}:{c.key_expr}:"
            if c.scope == "fn":
                prefixes.append(f"f:{len(function_id)}:{function_id}:{expr}")
            elif c.scope == "env":
                prefixes.append(f"e:{len(env_id)}:{env_id}:{expr}")
            else:
                prefixes.append(f"a:{expr}")
        self.keyed_prefixes = tuple(prefixes)
        self.keyed_limits = tuple(c.limit or _UNLIMITED for c in constraints)
        self.limits = self.static_limits + self.keyed_limits
        # Check order for explanations: account, account keyed, env keyed, fn, fn keyed.
        # Entries index into the full id list (0 = fn, 1 = account, 2+i = constraint i).
        ranked = [(0, 0, 1), (2, 0, 0)] + [
            (_SCOPE_RANK[c.scope], 1, 2 + i) for i, c in enumerate(constraints)
        ]
        self.order = tuple(idx for _, _, idx in sorted(ranked))

    def ids(self, keys: tuple[str, ...]) -> tuple[CounterId, ...]:
        if not self.nkeys:
            return self.static_ids
        return self.static_ids + tuple(
            p + k for p, k in zip(self.keyed_prefixes, keys, strict=True)
        )

    def describe(self, idx: int, keys: tuple[str, ...]) -> tuple[str, str | None, str | None, int]:
        """(scope, key, key_expr, limit) of the constraint at index ``idx``."""
        if idx == 0:
            return ("fn", None, None, self.function_limit)
        if idx == 1:
            return ("account", None, None, self.account_limit)
        c = self.eff[idx - 2]
        return (c.scope, keys[idx - 2], c.key_expr, c.limit)

    def eff_keys(self, keys: tuple[str, ...]) -> tuple[str, ...]:
        """The keys of the effective constraints (the first of two merged ones)."""
        return keys[:1] if self.merged else keys


class Concurrency:
    """A registry of functions sharing one account's concurrency counters.

    Register each function's constraints, then ``acquire`` a lease per executing
    queue item and ``release`` it when the item ends. With ``lease_ttl`` (and a
    ``clock``) leases also expire; without it no clock is read.
    """

    __slots__ = (
        "_account_limit",
        "_clock",
        "_counts",
        "_exp_heap",
        "_expired",
        "_expiry",
        "_leases",
        "_now",
        "_plans",
        "_seq",
        "_ttl",
    )

    def __init__(
        self,
        *,
        account_limit: int = 0,
        lease_ttl: int | str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._account_limit = _check_limit(account_limit, "account_limit")
        self._plans: dict[str, _Plan] = {}
        self._counts: dict[CounterId, int] = {}
        self._leases: dict[LeaseId, tuple[CounterId, ...]] = {}
        self._seq = 0
        self._ttl = 0
        if lease_ttl is not None:
            ttl = to_ns(lease_ttl, name="lease_ttl")
            if ttl <= 0:
                raise ValueError(f"lease_ttl must be > 0, got {lease_ttl!r}")
            if clock is None:
                raise ValueError("lease_ttl needs clock= (leases expire by the clock)")
            self._ttl = ttl
        self._clock = clock
        self._now = clock() if clock is not None and self._ttl else 0
        self._expiry: dict[LeaseId, int] = {}  # lease id -> when it expires (lease_ttl only)
        self._exp_heap: list[tuple[int, bool, LeaseId]] = []  # (expiry, is str, id), lazy
        self._expired: list[LeaseId] = []  # expired since the last poll()

    # -- configuration -------------------------------------------------------------

    def register(
        self,
        function_id: str,
        constraints: Sequence[ConcurrencyConstraint] = (),
        *,
        function_limit: int | None = None,
        account_limit: int | None = None,
        env_id: str = "",
    ) -> None:
        """register sets (or replaces) a function's limits; later acquires use them.

        ``function_limit`` and ``account_limit`` of None or 0 mean no limit; an
        ``account_limit`` of None falls back to the registry's own. At most two keyed
        constraints; two with the same scope and expression share one counter (a lease
        counts once; the stricter limit applies). Raises ValueError.
        """
        if not isinstance(function_id, str) or not function_id:
            raise ValueError(f"function_id must be a non-empty string, got {function_id!r}")
        if not isinstance(env_id, str):
            raise ValueError(f"env_id must be a string, got {env_id!r}")
        cons = tuple(constraints)
        if len(cons) > MAX_KEYED_CONSTRAINTS:
            raise ValueError(
                "There are more concurrency limits specified than the allowed max of: "
                f"{MAX_KEYED_CONSTRAINTS} (function {function_id!r})"
            )
        for i, c in enumerate(cons):
            if not isinstance(c, ConcurrencyConstraint):
                raise ValueError(f"constraints[{i}] must be a ConcurrencyConstraint, got {c!r}")
        fn_limit = _check_limit(0 if function_limit is None else function_limit, "function_limit")
        acct = self._account_limit if account_limit is None else account_limit
        acct = _check_limit(acct, "account_limit")
        self._plans[function_id] = _Plan(function_id, cons, fn_limit, acct, env_id)

    def functions(self) -> tuple[str, ...]:
        """The registered function ids, in registration order."""
        return tuple(self._plans)

    def _plan(self, function_id: str, keys: tuple[str, ...]) -> _Plan:
        plan = self._plans.get(function_id)
        if plan is None:
            raise UnknownFunctionError(function_id)
        if len(keys) != plan.nkeys_in:
            raise ValueError(
                f"function {function_id!r} has {plan.nkeys_in} keyed constraint(s) and needs "
                f"{plan.nkeys_in} evaluated key(s), got {len(keys)}: {keys!r}"
            )
        for i, k in enumerate(keys):
            if not isinstance(k, str):
                raise ValueError(
                    f"keys[{i}] of function {function_id!r} must be an evaluated key string, "
                    f"got {k!r}"
                )
        return plan

    # -- the hot path --------------------------------------------------------------

    def acquire(
        self, function_id: str, keys: tuple[str, ...] = (), lease_id: str | None = None
    ) -> Acquired | Refused:
        """acquire takes one slot in every constraint of the function, or none at all.

        ``keys`` holds the evaluated key of each keyed constraint, in registration
        order. Returns ``Acquired`` (with the lease id: ``lease_id`` if given, else the
        next int) or ``Refused`` naming the full constraint(s). Raises
        ``UnknownFunctionError`` for an unregistered function and ValueError for a
        wrong number of keys or a lease id already held; nothing changes then.
        """
        plan = self._plans.get(function_id)
        if plan is None or len(keys) != plan.nkeys_in:
            self._plan(function_id, keys)  # raises the precise error
        assert plan is not None
        if self._ttl:
            self._advance()
        counts = self._counts
        get = counts.get
        fn_counter = plan.fn_counter
        n_fn = get(fn_counter, 0)
        n_acct = get(_ACCOUNT, 0)
        if n_fn >= plan.fn_cap or n_acct >= plan.account_cap:
            keys = plan.eff_keys(keys)
            return self._refuse(plan, keys, plan.ids(keys))
        nkeys = plan.nkeys
        if nkeys:
            if plan.merged:
                keys = keys[:1]
            prefixes = plan.keyed_prefixes
            limits = plan.keyed_limits
            try:
                c0 = prefixes[0] + keys[0]
                c1 = prefixes[1] + keys[1] if nkeys == 2 else ""
            except TypeError:
                self._plan(function_id, keys)  # raises the precise error
                raise
            n0 = get(c0, 0)
            n1 = get(c1, 0) if nkeys == 2 else 0
            if n0 >= limits[0] or (nkeys == 2 and n1 >= limits[1]):
                ids = (fn_counter, _ACCOUNT, c0) if nkeys == 1 else (fn_counter, _ACCOUNT, c0, c1)
                return self._refuse(plan, keys, ids)
        lid: LeaseId
        if lease_id is None:
            lid = self._seq = self._seq + 1
        elif not isinstance(lease_id, str):
            raise ValueError(f"lease_id must be a string, got {lease_id!r}")
        elif lease_id in self._leases:
            raise ValueError(f"lease_id {lease_id!r} is already held")
        else:
            lid = lease_id
        counts[fn_counter] = n_fn + 1
        counts[_ACCOUNT] = n_acct + 1
        if not nkeys:
            self._leases[lid] = plan.static_ids
        elif nkeys == 1:
            counts[c0] = n0 + 1
            self._leases[lid] = (fn_counter, _ACCOUNT, c0)
        else:
            counts[c0] = n0 + 1
            counts[c1] = n1 + 1
            self._leases[lid] = (fn_counter, _ACCOUNT, c0, c1)
        if self._ttl:
            self._set_expiry(lid, self._now + self._ttl)
        # Equivalent to Acquired(lease_id, function_id), without the frozen-init cost.
        lease = _new(Acquired)
        _set_lease_id(lease, lid)
        _set_function_id(lease, function_id)
        return lease

    def release(self, lease: Acquired | LeaseId) -> bool:
        """release gives back every slot a lease holds; True if it was held.

        Releasing an unknown or already-released lease returns False (the error
        value) and changes nothing.
        """
        lease_id = lease.lease_id if isinstance(lease, Acquired) else lease
        if self._ttl:
            self._advance()
            self._expiry.pop(lease_id, None)
        ids = self._leases.pop(lease_id, None)
        if ids is None:
            return False
        counts = self._counts
        for cid in ids:
            n = counts[cid] - 1
            if n:
                counts[cid] = n
            else:
                del counts[cid]
        return True

    def _drop(self, lease_id: LeaseId) -> None:
        counts = self._counts
        for cid in self._leases.pop(lease_id):
            n = counts[cid] - 1
            if n:
                counts[cid] = n
            else:
                del counts[cid]

    # -- expiry (lease_ttl only) ---------------------------------------------------

    def _advance(self) -> int:
        """Read the clock once (never backwards) and expire leases that are due."""
        assert self._clock is not None
        now = self._clock()
        if now > self._now:
            self._now = now
        heap = self._exp_heap
        if heap and heap[0][0] <= self._now:
            expiry = self._expiry
            while heap and heap[0][0] <= self._now:
                at, _, lid = heapq.heappop(heap)
                if expiry.get(lid) == at:
                    del expiry[lid]
                    self._drop(lid)
                    self._expired.append(lid)
        return self._now

    def _set_expiry(self, lease_id: LeaseId, at: int) -> None:
        # Expiries only move forward (the clock never goes back here), so an index entry
        # is live exactly when it matches; an unchanged expiry needs no new entry.
        if self._expiry.get(lease_id) == at:
            return
        self._expiry[lease_id] = at
        heap = self._exp_heap
        if len(heap) > 64 and len(heap) > 2 * len(self._expiry):
            expiry = self._expiry
            self._exp_heap = heap = [e for e in heap if expiry.get(e[2]) == e[0]]
            heapq.heapify(heap)
        # Ties break by lease id (ints before strings, which do not compare with ints).
        heapq.heappush(heap, (at, isinstance(lease_id, str), lease_id))

    def extend(self, lease: Acquired | LeaseId) -> bool:
        """extend renews a held lease for another ``lease_ttl`` from now; False if not held.

        Without ``lease_ttl`` leases never expire, and this only reports whether it is held.
        """
        lease_id = lease.lease_id if isinstance(lease, Acquired) else lease
        if not self._ttl:
            return lease_id in self._leases
        self._advance()
        if lease_id not in self._leases:
            return False
        self._set_expiry(lease_id, self._now + self._ttl)
        return True

    def next_deadline(self) -> int | None:
        """next_deadline is when the next held lease expires (None: none will)."""
        heap, expiry = self._exp_heap, self._expiry
        while heap and expiry.get(heap[0][2]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def poll(self) -> tuple[LeaseId, ...]:
        """poll returns the ids of leases that expired since the last poll, in expiry order."""
        if self._ttl:
            self._advance()
        out = tuple(self._expired)
        self._expired.clear()
        return out

    def prune(self) -> int:
        """prune expires the leases that are due and compacts the expiry index.

        Returns how many leases it dropped (always 0 without ``lease_ttl``: counters
        of zero are dropped as they happen).
        """
        if not self._ttl:
            return 0
        before = len(self._leases)
        self._advance()
        expiry = self._expiry
        self._exp_heap = [e for e in self._exp_heap if expiry.get(e[2]) == e[0]]
        heapq.heapify(self._exp_heap)
        return before - len(self._leases)

    def _refuse(self, plan: _Plan, keys: tuple[str, ...], ids: tuple[CounterId, ...]) -> Refused:
        get = self._counts.get
        limits = plan.limits
        blocking = []
        for idx in plan.order:
            cid = ids[idx]
            n = get(cid, 0)
            if n >= limits[idx]:
                scope, key, expr, limit = plan.describe(idx, keys)
                blocking.append(ConcurrencyUsage(scope, key, expr, n, limit, cid))
        return Refused(plan.function_id, tuple(blocking))

    def _usages(
        self, plan: _Plan, keys: tuple[str, ...], ids: tuple[CounterId, ...]
    ) -> tuple[ConcurrencyUsage, ...]:
        get = self._counts.get
        out = []
        for idx in plan.order:
            scope, key, expr, limit = plan.describe(idx, keys)
            cid = ids[idx]
            out.append(ConcurrencyUsage(scope, key, expr, get(cid, 0), limit, cid))
        return tuple(out)

    # -- queries -------------------------------------------------------------------

    def in_use(self, function_id: str, keys: tuple[str, ...] = ()) -> tuple[ConcurrencyUsage, ...]:
        """in_use reports every constraint of an acquire with these keys, in check order."""
        plan = self._plan(function_id, keys)
        if self._ttl:
            self._advance()
        keys = plan.eff_keys(keys)
        return self._usages(plan, keys, plan.ids(keys))

    def counter_ids(self, function_id: str, keys: tuple[str, ...] = ()) -> tuple[str, ...]:
        """counter_ids lists the counters an acquire with these keys would take.

        The order is: function counter, account counter, then one per keyed constraint.
        """
        plan = self._plan(function_id, keys)
        return plan.ids(plan.eff_keys(keys))

    def capacity(self, function_id: str, keys: tuple[str, ...] = ()) -> int | None:
        """capacity is how many more leases an acquire with these keys could take now.

        None means no constraint limits it.
        """
        plan = self._plan(function_id, keys)
        if self._ttl:
            self._advance()
        ids = plan.ids(plan.eff_keys(keys))
        limits = plan.limits
        free = _UNLIMITED
        for cid, lim in zip(ids, limits, strict=True):
            free = min(free, lim - self._counts.get(cid, 0))
        return None if free >= _UNLIMITED // 2 else max(free, 0)

    def usage(self) -> dict[CounterId, int]:
        """usage is a copy of every non-zero counter (see the module doc for ids)."""
        if self._ttl:
            self._advance()
        return dict(self._counts)

    def leases(self) -> dict[LeaseId, str]:
        """leases maps each held lease id to its function id."""
        if self._ttl:
            self._advance()
        return {lid: ids[0][2:] for lid, ids in self._leases.items()}

    def __len__(self) -> int:
        """The number of leases held (expiry is applied by calls that read the clock)."""
        return len(self._leases)

    def __contains__(self, lease: object) -> bool:
        lease_id = lease.lease_id if isinstance(lease, Acquired) else lease
        return lease_id in self._leases

    def _check_invariants(self) -> None:
        """Counters equal the leases' contributions; no zero counters are kept."""
        expected: dict[CounterId, int] = {}
        for ids in self._leases.values():
            for cid in ids:
                expected[cid] = expected.get(cid, 0) + 1
        assert expected == self._counts, (expected, self._counts)
        if self._ttl:
            assert set(self._expiry) == set(self._leases)
            live = {(at, lid) for at, _, lid in self._exp_heap if self._expiry.get(lid) == at}
            assert live == {(at, lid) for lid, at in self._expiry.items()}

    # -- persistence ---------------------------------------------------------------

    def snapshot(self) -> dict[str, object]:
        """snapshot returns plain JSON-able data from which ``from_snapshot`` rebuilds this."""
        return {
            "kind": "Concurrency",
            "version": 1,
            "account_limit": self._account_limit,
            "lease_ttl": self._ttl or None,
            "now": self._now,
            "seq": self._seq,
            "functions": [
                {
                    "function_id": p.function_id,
                    "constraints": [
                        {"limit": c.limit, "key_expr": c.key_expr, "scope": c.scope}
                        for c in p.constraints
                    ],
                    "function_limit": p.function_limit,
                    "account_limit": p.account_limit,
                    "env_id": p.env_id,
                }
                for p in self._plans.values()
            ],
            "leases": [
                [lid, list(ids), self._expiry.get(lid)] for lid, ids in self._leases.items()
            ],
            "expired": list(self._expired),
        }

    @classmethod
    def from_snapshot(
        cls, data: Mapping[str, object], *, clock: Clock | None = None
    ) -> Concurrency:
        """from_snapshot rebuilds a registry; raises ValueError naming what is wrong.

        A snapshot taken with ``lease_ttl`` needs ``clock=``, on the same time line as
        the clock the snapshot was taken with (expiries are instants on it).
        """
        expect_header(data, "Concurrency")
        try:
            acct = data["account_limit"]
            seq = data["seq"]
            functions = data["functions"]
            leases = data["leases"]
        except KeyError as e:
            raise ValueError(f"Concurrency snapshot: missing field {e.args[0]!r}") from None
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise ValueError(f"Concurrency snapshot: seq must be an int >= 0, got {seq!r}")
        if not isinstance(acct, int):
            raise ValueError(f"Concurrency snapshot: account_limit must be an int, got {acct!r}")
        ttl, now, expired = data.get("lease_ttl"), data.get("now", 0), data.get("expired", [])
        if ttl is not None and (not isinstance(ttl, int) or isinstance(ttl, bool) or ttl <= 0):
            raise ValueError(f"Concurrency snapshot: lease_ttl must be null or > 0, got {ttl!r}")
        if not isinstance(now, int) or isinstance(now, bool):
            raise ValueError(f"Concurrency snapshot: now must be an int, got {now!r}")
        if ttl is not None and clock is None:
            raise ValueError("Concurrency snapshot: it has a lease_ttl, so pass clock=")
        m = cls(account_limit=acct, lease_ttl=ttl, clock=clock)
        m._seq = seq
        if ttl is not None:
            m._now = now  # exactly: restoring must not move the high-water mark
        for lid in _as_list(expired, "expired"):
            if not isinstance(lid, int | str) or isinstance(lid, bool):
                raise ValueError(f"Concurrency snapshot: expired holds a bad lease id {lid!r}")
            m._expired.append(lid)
        for i, f in enumerate(_as_list(functions, "functions")):
            where = f"Concurrency snapshot: functions[{i}]"
            if not isinstance(f, Mapping):
                raise ValueError(f"{where} must be an object")
            try:
                cons = [
                    ConcurrencyConstraint(c["limit"], c["key_expr"], c["scope"])
                    for c in map(_as_mapping, _as_list(f["constraints"], "constraints"))
                ]
                m.register(
                    f["function_id"],
                    cons,
                    function_limit=f["function_limit"],
                    account_limit=f["account_limit"],
                    env_id=f["env_id"],
                )
            except (KeyError, TypeError, ValueError) as e:
                raise ValueError(f"{where}: {e}") from None
        for i, entry in enumerate(_as_list(leases, "leases")):
            where = f"Concurrency snapshot: leases[{i}]"
            if not (
                isinstance(entry, list)
                and len(entry) in (2, 3)
                and isinstance(entry[0], int | str)
                and not isinstance(entry[0], bool)
            ):
                raise ValueError(f"{where} must be [lease_id (int or str), [counter ids], expiry]")
            lid, raw_ids = entry[0], entry[1]
            at = entry[2] if len(entry) == 3 else None
            if (at is None) != (ttl is None) or (at is not None and not isinstance(at, int)):
                raise ValueError(f"{where}: expiry must be an int with lease_ttl, else null")
            ids = tuple(_as_str_list(raw_ids, where))
            if len(ids) < 2 or ids[1] != _ACCOUNT or not ids[0].startswith("F:"):
                raise ValueError(f"{where}: counter ids must start with the fn and account ids")
            if lid in m._leases:
                raise ValueError(f"{where}: duplicate lease id {lid!r}")
            m._leases[lid] = ids
            for cid in ids:
                m._counts[cid] = m._counts.get(cid, 0) + 1
            if isinstance(at, int):
                m._set_expiry(lid, at)
        return m


def _as_mapping(value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"expected an object, got {value!r}")
    return value


def _as_list(value: object, name: str) -> list[object]:
    if not isinstance(value, list):
        raise ValueError(f"{name} must be a list, got {type(value).__name__}")
    return value


def _as_str_list(value: object, where: str) -> Iterable[str]:
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise ValueError(f"{where}: counter ids must be a list of strings, got {value!r}")
    return value
