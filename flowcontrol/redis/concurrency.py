"""RedisConcurrency: :class:`~flowcontrol.machines.concurrency.Concurrency` on Redis (network I/O).

Same parameters (after ``client`` and ``name``), validation and answers as the
in-memory registry: ``Acquired`` with the same lease ids (1, 2, ... or the host's
string), ``Refused`` with the same ``ConcurrencyUsage`` tuple, ``poll()`` in expiry
order (ties: int ids in order, then string ids in code-point order). Each decision is
one atomic script (``lua/concurrency.lua``) that reads and writes one account's state.

Registrations (``register``) live in this process, as limits do in the platform's
workers: every call sends its function's limits with it, so a worker that registers
new limits applies them on its next acquire; processes sharing ``name`` should
register the same functions.

Keys (hash tag ``{fc:concurrency:<name>}``: one Redis Cluster slot per account):
``counts`` (hash counter id -> leases, a counter of zero is deleted; also the fields
``#s``, the last int lease id, and with ``lease_ttl`` ``#``, the clock's high-water
mark, and ``#d``, a lower bound of the expiries, so the due index is read only when a
lease may be due), ``leases`` (hash lease -> its expiry and counter ids), ``due`` (the
expiry index) and ``expired`` (expired leases not yet polled), the last two with
``lease_ttl`` only. Nothing expires by a Redis TTL: a lease
expires when a call's clock reading passes its expiry, so a dead worker's slots come
back ``lease_ttl`` after its last acquire or ``extend``. Without ``lease_ttl`` a dead
worker's leases stay held until released by id. A counter id (its key included) may
be at most 999,999 bytes long here (ValueError beyond).

Clock: with ``clock=`` each call sends its reading (tests stay exact); without it the
script reads the server's ``TIME`` (nanoseconds since the Unix epoch), one clock for
every host, so unlike ``Concurrency`` a ``lease_ttl`` needs no ``clock``. Readings
below the stored high-water mark (or the reading taken when the machine was built)
count as no time passing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import suppress
from importlib.resources import files
from typing import Any, Final, NamedTuple

from redis.exceptions import NoScriptError

from flowcontrol.machines.concurrency import (
    Acquired,
    Concurrency,
    ConcurrencyConstraint,
    ConcurrencyUsage,
    LeaseId,
    Refused,
    _new,
    _set_function_id,
    _set_lease_id,
)
from flowcontrol.redis._keys import KeyLayout, check_eviction
from flowcontrol.redis._script import (
    Command,
    Eval,
    Script,
    Step,
    awaiting,
    blocking,
    run,
)
from flowcontrol.redis._timers import dec, enc, fit_int64, no_clock, reading, text
from flowcontrol.time import Clock, to_ns

__all__ = ["AsyncRedisConcurrency", "RedisConcurrency"]

_SCRIPT: Final = Script(
    "concurrency",
    (files("flowcontrol.redis") / "lua" / "concurrency.lua").read_text(encoding="utf-8"),
    prelude=False,
)
_SHA: Final = _SCRIPT.sha.encode()
_PARTS: Final = ("counts", "leases", "due", "expired")  # the last 2: ttl only
_UNLIMITED: Final = 1 << 62  # the in-memory machine's stand-in for "no limit"
_SHAPES: Final = 4096  # acquire shapes cached per machine (function, keys)
_MAX_ID: Final = 999_999  # bytes in a counter id (its length travels as 6 digits)
_MAX_LIMIT: Final = 10**15 - 1  # limits travel as 15 digits; no count gets near


def _lease_key(lease_id: object) -> str | bytes | None:
    """The stored name of a lease id ("0" + 20 digits, "1" + the string); None: not an id."""
    if isinstance(lease_id, str):
        return "1" + lease_id
    if isinstance(lease_id, int) and not isinstance(lease_id, bool) and lease_id >= 0:
        return b"0%020d" % lease_id
    return None


def _lease_id(raw: bytes | str) -> LeaseId:
    s = text(raw)
    return int(s[1:]) if s[0] == "0" else s[1:]


def _shape_text(ids: Sequence[str]) -> bytes:
    """An acquire's counters as the script reads them: 6-digit byte length, then the id."""
    out = []
    for cid in ids:
        raw = cid.encode("utf-8", "surrogatepass")
        if len(raw) > _MAX_ID:
            raise ValueError(f"counter id of {len(raw)} bytes is too long for Redis "
                             f"(at most {_MAX_ID}): {cid[:40]!r}...")
        out.append(b"%06d%s" % (len(raw), raw))
    return b"".join(out)


def _limits_text(limits: Sequence[int]) -> bytes:
    """The limits of a shape, 15 digits each (0 = none; counts never reach 10**15)."""
    return b"".join(b"%015d" % min(limit, _MAX_LIMIT) for limit in limits)


def _shape_ids(value: bytes | str) -> list[str]:
    """The counter ids of a stored shape."""
    raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
    out, i = [], 0
    while i < len(raw):
        end = i + 6 + int(raw[i : i + 6])
        out.append(raw[i + 6 : end].decode("utf-8", "surrogatepass"))
        i = end
    return out


def _reply(op: Eval) -> Step[Any]:
    """A step of the one operation ``op``, returning its reply."""
    reply = yield op
    return reply


class _Shape(NamedTuple):
    plan: Any  # the registry's plan of the function
    eff: tuple[str, ...]  # the keys of its effective constraints
    ids: tuple[str, ...]  # the counters an acquire takes
    text: bytes  # the shape the script reads (see lua/concurrency.lua)
    limits: bytes  # its limits


class _Concurrency:
    """The operations, written once for both client kinds (``step_*``: one call each)."""

    def __init__(
        self,
        client: Any,
        name: str,
        *,
        account_limit: int = 0,
        lease_ttl: int | str | None = None,
        clock: Clock | None = None,
    ) -> None:
        ttl = 0
        if lease_ttl is not None:
            ttl = to_ns(lease_ttl, name="lease_ttl")
            if ttl <= 0:
                raise ValueError(f"lease_ttl must be > 0, got {lease_ttl!r}")
            fit_int64(ttl, "lease_ttl")
        # The registry validates and plans exactly as the in-memory machine does; it
        # holds no lease and never reads its clock.
        self._registry = Concurrency(account_limit=account_limit)
        self.client = client
        self.clock = clock
        self.layout = KeyLayout("concurrency", name)
        self._keys = tuple(map(self.layout.tagged, _PARTS))
        # Keys and fixed arguments go as bytes: redis-py then packs them without encoding.
        self._script_keys = tuple(k.encode() for k in (self._keys if ttl else self._keys[:2]))
        self._ttl = ttl
        # The in-memory machine reads its clock once when built; so does this one, and no
        # later reading it sends is below that one.
        self._floor = clock() if clock is not None and ttl else 0
        # ARGV[1] of each op: its letter, then the ttl (lua/concurrency.lua).
        self._ops = {op: f"{op}{ttl or ''}".encode() for op in "arepxculsw"}
        self._shapes: dict[tuple[str, tuple[str, ...]], _Shape] = {}
        self._first: Step[None] | None = check_eviction(f"RedisConcurrency {name!r}")

    # -- configuration (local to this process) -------------------------------------

    def register(
        self,
        function_id: str,
        constraints: Sequence[ConcurrencyConstraint] = (),
        *,
        function_limit: int | None = None,
        account_limit: int | None = None,
        env_id: str = "",
    ) -> None:
        """register sets (or replaces) a function's limits for this process's later calls.

        Same arguments and ValueErrors as ``Concurrency.register``. Limits travel with
        each call, so processes sharing ``name`` should register the same functions.
        """
        self._registry.register(
            function_id, constraints, function_limit=function_limit,
            account_limit=account_limit, env_id=env_id,
        )
        self._shapes.clear()

    def functions(self) -> tuple[str, ...]:
        """The function ids registered in this process, in registration order."""
        return self._registry.functions()

    def counter_ids(self, function_id: str, keys: tuple[str, ...] = ()) -> tuple[str, ...]:
        """counter_ids lists the counters an acquire with these keys would take."""
        return self._registry.counter_ids(function_id, keys)

    # -- steps -----------------------------------------------------------------------

    def _argv(self, op: str, *rest: str | bytes) -> tuple[str | bytes, ...]:
        if self._ttl:
            now = b"" if self.clock is None else reading(self.clock, self._floor)
            return (self._ops[op], *rest, now)
        return (self._ops[op], *rest)

    def _call(self, op: str, *rest: str | bytes) -> Eval:
        return Eval(_SCRIPT, self._script_keys, self._argv(op, *rest))

    def _shape(self, function_id: str, keys: tuple[str, ...]) -> _Shape:
        """What an acquire with these keys sends and how its answer reads (cached)."""
        try:
            return self._shapes[function_id, keys]
        except (KeyError, TypeError):
            pass
        plan = self._registry._plan(function_id, keys)  # raises as the in-memory one
        eff = plan.eff_keys(keys)
        ids = plan.ids(eff)
        limits = [0 if limit >= _UNLIMITED else limit for limit in plan.limits]
        shape = _Shape(plan, eff, ids, _shape_text(ids), _limits_text(limits))
        if len(self._shapes) >= _SHAPES:
            self._shapes.clear()
        with suppress(TypeError):  # keys given as a list: fine, not cached
            self._shapes[function_id, keys] = shape
        return shape

    def _acquire_argv(self, shape: _Shape, lease_id: object) -> tuple[str | bytes, ...]:
        lease: str | bytes
        if lease_id is None:
            lease = b""
        elif isinstance(lease_id, str):
            lease = "1" + lease_id
        else:
            lease = b"!"  # a refusal wins over this error, as in the in-memory machine
        return self._argv("a", lease, shape.text, shape.limits)

    @staticmethod
    def _acquire_answer(
        reply: Any, shape: _Shape, function_id: str, lease_id: object
    ) -> Acquired | Refused:
        if type(reply) is int:  # granted
            lid: LeaseId
            if reply:
                lid = reply
            else:
                assert isinstance(lease_id, str)
                lid = lease_id
            # Acquired(lid, function_id), without the frozen-init cost (as in memory).
            lease = _new(Acquired)
            _set_lease_id(lease, lid)
            _set_function_id(lease, function_id)
            return lease
        tag = text(reply) if isinstance(reply, bytes | str) else text(reply[0])
        if tag == "R":
            plan, eff, ids = shape.plan, shape.eff, shape.ids
            counts = [int(c) for c in reply[1:]]
            blocking = []
            for idx in plan.order:
                n = counts[idx]
                if n >= plan.limits[idx]:
                    scope, key, expr, limit = plan.describe(idx, eff)
                    blocking.append(ConcurrencyUsage(scope, key, expr, n, limit, ids[idx]))
            return Refused(function_id, tuple(blocking))
        if tag == "D":
            raise ValueError(f"lease_id {lease_id!r} is already held")
        raise ValueError(f"lease_id must be a string, got {lease_id!r}")

    def step_acquire(
        self, function_id: str, keys: tuple[str, ...] = (), lease_id: str | None = None
    ) -> Step[Acquired | Refused]:
        """acquire takes one slot in every constraint of the function, or none at all.

        Returns ``Acquired`` (lease id ``lease_id`` if given, else the next int) or
        ``Refused`` naming the full constraint(s). Raises ``UnknownFunctionError`` and
        ValueError (wrong keys, a lease id held or not a string) as ``Concurrency`` does.
        """
        shape = self._shape(function_id, keys)
        reply = yield Eval(_SCRIPT, self._script_keys, self._acquire_argv(shape, lease_id))
        return self._acquire_answer(reply, shape, function_id, lease_id)

    def _lease_argv(self, op: str, lease: Acquired | LeaseId) -> tuple[str | bytes, ...]:
        lease_id = lease.lease_id if isinstance(lease, Acquired) else lease
        key = _lease_key(lease_id)
        return self._argv(op, b"?" if key is None else key)  # "?" names no lease

    def step_release(self, lease: Acquired | LeaseId) -> Step[bool]:
        """release gives back every slot a lease holds; True if it was held.

        Releasing an unknown, expired or already-released lease returns False.
        """
        reply = yield Eval(_SCRIPT, self._script_keys, self._lease_argv("r", lease))
        return int(reply) == 1

    def step_extend(self, lease: Acquired | LeaseId) -> Step[bool]:
        """extend renews a held lease for another ``lease_ttl`` from now; False if not held."""
        reply = yield Eval(_SCRIPT, self._script_keys, self._lease_argv("e", lease))
        return int(reply) == 1

    def step_poll(self) -> Step[tuple[LeaseId, ...]]:
        """poll returns the leases that expired since the last poll, in expiry order.

        Each expired lease is reported once, to whichever process polls first.
        """
        if not self._ttl:
            return ()
        reply = yield self._call("p")
        return tuple(_lease_id(r) for r in reply)

    def step_prune(self) -> Step[int]:
        """prune expires the leases that are due; returns how many it dropped."""
        if not self._ttl:
            return 0
        reply = yield self._call("x")
        return int(reply)

    def step_next_deadline(self) -> Step[int | None]:
        """next_deadline is when the next held lease expires (None: none will)."""
        reply = yield Command(("ZRANGE", self._keys[2], 0, 0))
        return dec(text(reply[0])[:21]) if reply else None

    def _counts(self, function_id: str, keys: tuple[str, ...]) -> Step[tuple[_Shape, list[int]]]:
        shape = self._shape(function_id, keys)
        reply = yield self._call("c", shape.text)
        return shape, [int(c) for c in reply]

    def step_in_use(
        self, function_id: str, keys: tuple[str, ...] = ()
    ) -> Step[tuple[ConcurrencyUsage, ...]]:
        """in_use reports every constraint of an acquire with these keys, in check order."""
        shape, counts = yield from self._counts(function_id, keys)
        plan, eff, ids = shape.plan, shape.eff, shape.ids
        out = []
        for idx in plan.order:
            scope, key, expr, limit = plan.describe(idx, eff)
            out.append(ConcurrencyUsage(scope, key, expr, counts[idx], limit, ids[idx]))
        return tuple(out)

    def step_capacity(self, function_id: str, keys: tuple[str, ...] = ()) -> Step[int | None]:
        """capacity is how many more leases an acquire with these keys could take now.

        None means no constraint limits it.
        """
        shape, counts = yield from self._counts(function_id, keys)
        free = _UNLIMITED
        for n, limit in zip(counts, shape.plan.limits, strict=True):
            free = min(free, limit - n)
        return None if free >= _UNLIMITED // 2 else max(free, 0)

    def step_usage(self) -> Step[dict[str, int]]:
        """usage is a copy of every non-zero counter (ids as in ``Concurrency``)."""
        reply = yield self._call("u")
        return {text(reply[i]): int(reply[i + 1]) for i in range(0, len(reply), 2)}

    def step_leases(self) -> Step[dict[LeaseId, str]]:
        """leases maps each held lease id to its function id."""
        reply = yield self._call("l")
        skip, flat = int(reply[0]) - 1, reply[1]
        return {
            _lease_id(flat[i]): _shape_ids(flat[i + 1][skip:])[0][2:]
            for i in range(0, len(flat), 2)
        }

    def step_snapshot(self) -> Step[dict[str, object]]:
        """snapshot returns the in-memory machine's snapshot of this state (leases in
        expiry order, then by id), so ``Concurrency.from_snapshot`` rebuilds it in memory.

        Like the in-memory one it moves no clock; ``functions`` are this process's.
        """
        now, seq, flat, expired = yield Eval(_SCRIPT, self._script_keys, (self._ops["s"],))
        data = self._registry.snapshot()
        leases = []
        for i in range(0, len(flat), 2):
            lid, value = _lease_id(flat[i]), flat[i + 1]
            at = dec(value[:21]) if self._ttl else None
            leases.append([lid, _shape_ids(value[21:] if self._ttl else value), at])
        leases.sort(key=lambda e: (e[2] or 0, isinstance(e[0], str), e[0]))
        data.update({
            "lease_ttl": self._ttl or None,
            "now": dec(now) if now else self._floor,
            "seq": int(seq),
            "leases": leases,
            "expired": [_lease_id(e) for e in expired],
        })
        return data

    def step_restore(self, data: Mapping[str, object]) -> Step[int]:
        """restore replaces this account's state on Redis by a snapshot (of either
        machine) and registers its functions here; returns how many leases it holds.

        Raises ValueError as ``Concurrency.from_snapshot`` does, or if the snapshot's
        ``lease_ttl`` or ``account_limit`` is not this machine's; nothing changes then.
        """
        memory = Concurrency.from_snapshot(data, clock=no_clock)
        if (memory._ttl, memory._account_limit) != (self._ttl, self._registry._account_limit):
            raise ValueError(
                f"snapshot has lease_ttl={memory._ttl or None} and account_limit="
                f"{memory._account_limit}; this machine has lease_ttl={self._ttl or None} "
                f"and account_limit={self._registry._account_limit}"
            )
        args: list[str | bytes] = [
            self._ops["w"], enc(memory._now) if self._ttl else "", str(memory._seq),
            str(len(memory._counts))]
        for cid, n in memory._counts.items():
            args += [cid, str(n)]
        args.append(str(len(memory._leases)))
        for lid, ids in memory._leases.items():
            key = _lease_key(lid)
            if key is None:
                raise ValueError(f"Concurrency snapshot: lease id {lid!r} cannot be stored")
            at = enc(memory._expiry[lid]) if self._ttl else ""
            args += [key, at.encode() + _shape_text(ids)]
        for lid in memory._expired:
            key = _lease_key(lid)
            if key is None:
                raise ValueError(f"Concurrency snapshot: lease id {lid!r} cannot be stored")
            args.append(key)
        reply = yield Eval(_SCRIPT, self._script_keys, tuple(args))
        for plan in memory._plans.values():
            self.register(plan.function_id, plan.constraints, function_limit=plan.function_limit,
                          account_limit=plan.account_limit, env_id=plan.env_id)
        return int(reply)

    def step_len(self) -> Step[int]:
        """The number of leases held (expiry is applied by calls that read the clock)."""
        reply = yield Command(("HLEN", self._keys[1]))
        return int(reply)

    def step_contains(self, lease: object) -> Step[bool]:
        """Whether a lease (an ``Acquired`` or its id) is held."""
        lease_id = lease.lease_id if isinstance(lease, Acquired) else lease
        key = _lease_key(lease_id)
        if key is None:
            return False
        reply = yield Command(("HEXISTS", self._keys[1], key))
        return int(reply) == 1


class RedisConcurrency(_Concurrency):
    """A registry of functions sharing one account's concurrency counters, on Redis.

    ``RedisConcurrency(client, name, account_limit=..., lease_ttl=..., clock=...)``
    answers as ``Concurrency(account_limit=..., lease_ttl=..., clock=...)`` would;
    ``client`` is a ``redis.Redis`` or ``redis.cluster.RedisCluster``. Without
    ``clock`` the server's ``TIME`` is the clock.
    """

    def _eval(self, argv: tuple[str | bytes, ...]) -> Any:
        """The script's reply to ``argv``: a bare ``EVALSHA`` on the hot path (what
        ``run`` would send, with less in between); ``NOSCRIPT`` is left to ``run``."""
        client = self.client
        if self._first is not None:
            first, self._first = self._first, None
            run(client, first)
        keys = self._script_keys
        try:
            return client.execute_command("EVALSHA", _SHA, len(keys), *keys, *argv)
        except NoScriptError:
            return run(client, _reply(Eval(_SCRIPT, keys, argv)))

    def acquire(
        self, function_id: str, keys: tuple[str, ...] = (), lease_id: str | None = None
    ) -> Acquired | Refused:
        shape = self._shape(function_id, keys)
        reply = self._eval(self._acquire_argv(shape, lease_id))
        return self._acquire_answer(reply, shape, function_id, lease_id)

    def release(self, lease: Acquired | LeaseId) -> bool:
        return int(self._eval(self._lease_argv("r", lease))) == 1

    def extend(self, lease: Acquired | LeaseId) -> bool:
        return int(self._eval(self._lease_argv("e", lease))) == 1

    acquire.__doc__ = _Concurrency.step_acquire.__doc__
    release.__doc__ = _Concurrency.step_release.__doc__
    extend.__doc__ = _Concurrency.step_extend.__doc__
    poll = blocking(_Concurrency.step_poll)
    prune = blocking(_Concurrency.step_prune)
    next_deadline = blocking(_Concurrency.step_next_deadline)
    in_use = blocking(_Concurrency.step_in_use)
    capacity = blocking(_Concurrency.step_capacity)
    usage = blocking(_Concurrency.step_usage)
    leases = blocking(_Concurrency.step_leases)
    snapshot = blocking(_Concurrency.step_snapshot)
    restore = blocking(_Concurrency.step_restore)
    __len__ = blocking(_Concurrency.step_len)
    __contains__ = blocking(_Concurrency.step_contains)


class AsyncRedisConcurrency(_Concurrency):
    """:class:`RedisConcurrency` for ``redis.asyncio`` clients: the same methods, awaited.

    ``len()`` and ``in`` cannot be awaited: use ``await size()`` and ``await holds(lease)``.
    """

    acquire = awaiting(_Concurrency.step_acquire)
    release = awaiting(_Concurrency.step_release)
    extend = awaiting(_Concurrency.step_extend)
    poll = awaiting(_Concurrency.step_poll)
    prune = awaiting(_Concurrency.step_prune)
    next_deadline = awaiting(_Concurrency.step_next_deadline)
    in_use = awaiting(_Concurrency.step_in_use)
    capacity = awaiting(_Concurrency.step_capacity)
    usage = awaiting(_Concurrency.step_usage)
    leases = awaiting(_Concurrency.step_leases)
    snapshot = awaiting(_Concurrency.step_snapshot)
    restore = awaiting(_Concurrency.step_restore)
    size = awaiting(_Concurrency.step_len)
    holds = awaiting(_Concurrency.step_contains)
