"""RedisThrottle and RedisRateLimit: the GCRA machines with their TATs on Redis (network I/O).

Same parameters, validation, methods and answers as :class:`~flowcontrol.machines.gcra.Throttle`
and :class:`~flowcontrol.machines.gcra.RateLimit`, after ``client`` and ``name``; ``clock``
may be omitted to use the server's ``TIME`` (ns since the Unix epoch).

State. One string per key, ``fc:t:<name>:<key>`` (throttle) or ``fc:r:<name>:<key>``
(rate limit), each in a cluster slot of its own, holding the in-memory machine's value
exactly: ``at = TAT - (cap - 1) * T`` in units of ``1/scale`` ns, as decimal text. One
script decides: ``at = max(stored, now - lead)``; admit iff ``at + (n - 1) * T <= now``,
then store ``at + n * T``. The script works on exact integers of any size (instants up to
and beyond 2**62 ns, scaled by ``limit / gcd(period, limit)`` when ``T`` is not a whole
number of ns) and replies with ``now`` and the stored value it read, from which Python
computes ``remaining`` and ``retry_at`` with the in-memory machine's formulas.

Expiry. A key is idle once ``TAT <= now``: the same as absent. Each admission sets a TTL
of the time left until then (rounded up to ms) plus a grace (``expiry_grace_ms``, 1 s, for
an injected clock whose rate may differ from the server's wall clock; 1 ms with the
server's clock), so expiry only removes keys the machine already treats as idle.

``acquire_many([(key, n), ...])`` answers as ``acquire`` on each pair in order at one
instant (one clock reading; with the server's clock, one reading per node) in one round
trip per node: one script call for a single server, one per slot in a pipeline per node on
a cluster. Its ``n`` values are all checked before anything is sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Final, Self

from flowcontrol.machines.gcra import GcraDecision, RateLimit, Throttle, _Gcra, _int_arg
from flowcontrol.redis._keys import KeyLayout, check_eviction
from flowcontrol.redis._script import (
    Batch,
    Eval,
    Scan,
    Script,
    Step,
    awaiting,
    blocking,
    is_cluster,
    run,
)
from flowcontrol.time import Clock

__all__ = ["AsyncRedisRateLimit", "AsyncRedisThrottle", "RedisRateLimit", "RedisThrottle"]

# ARGV: 1 now ('' = server TIME), 2 scale, 3 lead, 4 mode ('a' acquire, 'p' peek,
# 'x' prune), 5 TTL grace (ms); per key i: ARGV[4 + 2i] = (n - 1) * T, ARGV[5 + 2i] = n * T.
# Reply: now, then per key the stored value read ('' when none) and 1/0 (admitted or not).
GCRA: Final = Script("gcra", """
local scale = fc_parse(ARGV[2])
local now
if ARGV[1] == '' then now = fc_mul(fc_time_ns(), scale) else now = fc_parse(ARGV[1]) end
local lead = fc_parse(ARGV[3])
local fresh = fc_sub(now, lead)
local mode = ARGV[4]
local grace = tonumber(ARGV[5])
local per_ms = fc_approx(scale) * 1000000
local out = {fc_str(now)}
for i = 1, #KEYS do
  local raw = redis.call('GET', KEYS[i])
  local at = fresh
  if raw then
    local stored = fc_parse(raw)
    if fc_cmp(stored, fresh) > 0 then at = stored
    elseif mode == 'x' then redis.call('DEL', KEYS[i]) end
  end
  local ok = fc_cmp(fc_add(at, fc_parse(ARGV[4 + 2 * i])), now) <= 0
  if ok and mode == 'a' then
    local new = fc_add(at, fc_parse(ARGV[5 + 2 * i]))
    local ms = math.ceil(fc_approx(fc_sub(fc_add(new, lead), now)) / per_ms) + grace
    if ms > 70368744177664 then ms = 70368744177664 end
    redis.call('SET', KEYS[i], fc_str(new), 'PX', string.format('%d', ms))
  end
  out[2 * i] = raw or ''
  if ok then out[2 * i + 1] = 1 else out[2 * i + 1] = 0 end
end
return out
""")

# ARGV per key i: the stored value, its TTL in ms. Used by from_snapshot.
PUT: Final = Script("gcra-put", """
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[2 * i - 1], 'PX', ARGV[2 * i])
end
return #KEYS
""", prelude=False)

_NS_PER_MS: Final = 1_000_000


def _no_clock() -> int:
    return 0


class _GcraBody:
    """The machine, written once: every operation is a step (see ``_script``)."""

    _KIND: ClassVar[str] = "t"
    _MEMORY: ClassVar[type[_Gcra]] = Throttle

    expiry_grace_ms: int = 1000
    """TTL added beyond the time left to full capacity, with an injected clock (ms)."""

    client: Any
    _first: Step[None] | None
    _scale: int
    _step: int
    _cap: int
    _lead: int
    _now: int

    def _setup(self, client: Any, name: object, memory: _Gcra, clock: Clock | None) -> None:
        if clock is not None and not callable(clock):
            raise ValueError(f"clock must be a zero-argument callable returning ns, got {clock!r}")
        self.client = client
        self.keys = KeyLayout(self._KIND, name)
        self.name: str = self.keys.name
        self._clock = clock
        self.limit = memory.limit
        self.period = memory.period
        self.burst = memory.burst
        self._scale = memory._scale
        self._step = memory._step
        self._cap = memory._cap
        self._lead = memory._lead
        self._now = 0
        self._first = check_eviction(f"{type(self).__name__} {self.name!r}")

    # -- the script call and the reading of its reply ----------------------------------

    def _reading(self) -> str:
        """This call's instant (scaled), never going backwards; "" = the server's TIME."""
        clock = self._clock
        if clock is None:
            return ""
        now = clock() * self._scale
        if now > self._now:
            self._now = now
        return str(self._now)

    def _eval(self, now: str, mode: str, pairs: Sequence[tuple[str, int]]) -> Eval:
        step = self._step
        args: list[str | int] = [now, self._scale, self._lead, mode,
                                 1 if self._clock is None else self.expiry_grace_ms]
        for _, n in pairs:
            args.append((n - 1) * step)
            args.append(n * step)
        return Eval(GCRA, [self.keys.own(k) for k, _ in pairs], args)

    def _decisions(self, reply: Sequence[Any], ns: Sequence[int]) -> list[GcraDecision]:
        now = int(reply[0])
        fresh = now - self._lead
        step, scale = self._step, self._scale
        out = []
        for i, n in enumerate(ns):
            raw = reply[1 + 2 * i]
            at = int(raw) if raw else fresh
            if at < fresh:
                at = fresh
            last = at + (n - 1) * step
            if int(reply[2 + 2 * i]):
                out.append(GcraDecision(True, None, (now - last) // step))
            elif n > self._cap:
                out.append(GcraDecision(False, None, (now - at) // step + 1))
            else:
                out.append(GcraDecision(False, -(-last // scale), (now - at) // step + 1))
        return out

    # -- operations -------------------------------------------------------------------

    def step_acquire(self, key: str, n: int = 1) -> Step[GcraDecision]:
        """Admit ``n`` units for ``key`` now, all or nothing; a refusal changes nothing."""
        _int_arg("n", n, 1)
        reply = yield self._eval(self._reading(), "a", ((key, n),))
        return self._decisions(reply, (n,))[0]

    def step_peek(self, key: str, n: int = 1) -> Step[GcraDecision]:
        """What ``acquire(key, n)`` would answer now, without consuming anything.

        ``remaining`` is the capacity now (nothing is consumed)."""
        _int_arg("n", n, 1)
        reply = yield self._eval(self._reading(), "p", ((key, n),))
        d = self._decisions(reply, (n,))[0]
        return GcraDecision(True, None, d.remaining + n) if d.allowed else d

    def step_acquire_many(self, requests: Iterable[tuple[str, int]]
                          ) -> Step[list[GcraDecision]]:
        """``acquire(key, n)`` for each pair in order at one instant, in one round trip
        per node; every ``n`` is checked before anything is sent."""
        pairs = list(requests)
        for _, n in pairs:
            _int_arg("n", n, 1)
        if not pairs:
            return []
        now = self._reading()
        if not is_cluster(self.client):
            reply = yield self._eval(now, "a", pairs)
            return self._decisions(reply, [n for _, n in pairs])
        groups: dict[int, list[int]] = {}
        for i, (key, _) in enumerate(pairs):
            groups.setdefault(self.client.keyslot(self.keys.own(key)), []).append(i)
        members = list(groups.values())
        replies = yield Batch([self._eval(now, "a", [pairs[i] for i in g]) for g in members])
        out: list[GcraDecision | None] = [None] * len(pairs)
        for g, reply in zip(members, replies, strict=True):
            for i, d in zip(g, self._decisions(reply, [pairs[i][1] for i in g]), strict=True):
                out[i] = d
        return out  # type: ignore[return-value]

    def step_reset_at(self, key: str) -> Step[int]:
        """The instant (ns) at which ``key`` is back to full capacity (now if idle)."""
        reply = yield self._eval(self._reading(), "p", ((key, 1),))
        now = int(reply[0])
        tat = int(reply[1]) + self._lead if reply[1] else now
        return -(-max(now, tat) // self._scale)

    def _each_key(self, mode: str, now: str) -> Step[tuple[list[str], list[Any]]]:
        keys = yield Scan(self.keys.pattern())
        names = sorted(self.keys.user_key(k) for k in keys)
        if not names:
            return [], []
        replies = yield Batch([self._eval(now, mode, ((k, 1),)) for k in names])
        return names, replies

    def step_prune(self) -> Step[int]:
        """Delete every idle key now (expiry does it too); return how many were deleted.

        Walks the machine's keys with SCAN: a maintenance call, not a hot path."""
        _, replies = yield from self._each_key("x", self._reading())
        fresh = [int(r[0]) - self._lead for r in replies]
        return sum(1 for r, f in zip(replies, fresh, strict=True) if r[1] and int(r[1]) <= f)

    def step_len(self) -> Step[int]:
        """Stored keys, including idle ones not yet expired (SCAN: not a hot path)."""
        keys = yield Scan(self.keys.pattern())
        return len(keys)

    def step_snapshot(self) -> Step[dict[str, object]]:
        """The in-memory machine's snapshot of the same state: config, the clock's
        high-water mark (with the server's clock: its ``TIME``), TATs of active keys."""
        now = "" if self._clock is None else str(self._now)
        names, replies = yield from self._each_key("p", now)
        if not replies:
            if self._clock is None:
                reply = yield self._eval("", "p", (("", 1),))
                now = str(reply[0], "ascii") if isinstance(reply[0], bytes) else str(reply[0])
            s = int(now)
        else:
            s = int(replies[0][0])
        tats = {}
        for name, r in zip(names, replies, strict=True):
            if r[1] and int(r[1]) + self._lead > s:
                tats[name] = int(r[1]) + self._lead
        return {
            "kind": self._MEMORY._KIND,
            "version": 1,
            "limit": self.limit,
            "period": self.period,
            "burst": self.burst,
            "now": s // self._scale,
            "scale": self._scale,
            "tat": tats,
        }

    def step_restore(self, data: dict[str, object]) -> Step[int]:
        """Write the TATs of a snapshot (validated as the in-memory machine does) with
        their TTLs; return how many keys were written. Other keys are left as they are."""
        memory = self._MEMORY.from_snapshot(data, clock=_no_clock)
        if memory.limit != self.limit or memory.period != self.period or (
                memory.burst != self.burst):
            raise ValueError(f"{memory!r} snapshot does not match {self!r}")
        now = int(data["now"]) * self._scale  # type: ignore[call-overload]
        if self._clock is not None and now > self._now:
            self._now = now
        items = sorted(memory._at.items())
        if not items:
            return 0
        scale_ms = self._scale * _NS_PER_MS
        calls = []
        for key, at in items:
            ms = -(-(at + self._lead - now) // scale_ms) + self.expiry_grace_ms
            calls.append(Eval(PUT, (self.keys.own(key),), (at, ms)))
        yield Batch(calls)
        return len(items)

    @property
    def capacity(self) -> int:
        """Units an idle key admits at once."""
        return self._cap

    @property
    def emission_interval(self) -> tuple[int, int]:
        """``T`` as an exact fraction of nanoseconds ``(numerator, denominator)``."""
        return (self._step, self._scale)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, limit={self.limit}, "
                f"period={self.period}, burst={self.burst})")


class _ThrottleBody(_GcraBody):
    _KIND = "t"
    _MEMORY = Throttle

    def __init__(self, client: Any, name: str, limit: int, period: int | str,
                 burst: int = 0, *, clock: Clock | None = None) -> None:
        self._setup(client, name, Throttle(limit, period, burst, clock=clock or _no_clock),
                    clock)

    @classmethod
    def platform(cls, client: Any, name: str, limit: int, period: int | str,
                 burst: int = 0, *, clock: Clock | None = None) -> Self:
        """As the platform builds it: the period truncated to whole seconds (at least 1 s)."""
        memory = Throttle.platform(limit, period, burst, clock=clock or _no_clock)
        return cls(client, name, memory.limit, memory.period, memory.burst, clock=clock)


class _RateLimitBody(_GcraBody):
    _KIND = "r"
    _MEMORY = RateLimit

    def __init__(self, client: Any, name: str, limit: int, period: int | str,
                 burst: int | None = None, *, clock: Clock | None = None) -> None:
        self._setup(client, name, RateLimit(limit, period, burst, clock=clock or _no_clock),
                    clock)

    @classmethod
    def platform(cls, client: Any, name: str, limit: int, period: int | str, *,
                 clock: Clock | None = None) -> Self:
        """As the Constraint API (the dev server) builds it: whole-second period."""
        memory = RateLimit.platform(limit, period, clock=clock or _no_clock)
        return cls(client, name, memory.limit, memory.period, clock=clock)


def _check_now(machine: _GcraBody) -> None:
    if machine._first is not None:
        first, machine._first = machine._first, None
        run(machine.client, first)


class RedisThrottle(_ThrottleBody):
    """:class:`~flowcontrol.machines.gcra.Throttle` on a ``redis.Redis`` or
    ``redis.cluster.RedisCluster`` client (see the module docstring)."""

    def __init__(self, client: Any, name: str, limit: int, period: int | str,
                 burst: int = 0, *, clock: Clock | None = None) -> None:
        super().__init__(client, name, limit, period, burst, clock=clock)
        _check_now(self)

    acquire = blocking(_GcraBody.step_acquire)
    peek = blocking(_GcraBody.step_peek)
    acquire_many = blocking(_GcraBody.step_acquire_many)
    reset_at = blocking(_GcraBody.step_reset_at)
    prune = blocking(_GcraBody.step_prune)
    __len__ = blocking(_GcraBody.step_len)
    snapshot = blocking(_GcraBody.step_snapshot)
    restore = blocking(_GcraBody.step_restore)


class RedisRateLimit(_RateLimitBody):
    """:class:`~flowcontrol.machines.gcra.RateLimit` on a ``redis.Redis`` or
    ``redis.cluster.RedisCluster`` client (see the module docstring)."""

    def __init__(self, client: Any, name: str, limit: int, period: int | str,
                 burst: int | None = None, *, clock: Clock | None = None) -> None:
        super().__init__(client, name, limit, period, burst, clock=clock)
        _check_now(self)

    acquire = blocking(_GcraBody.step_acquire)
    peek = blocking(_GcraBody.step_peek)
    acquire_many = blocking(_GcraBody.step_acquire_many)
    reset_at = blocking(_GcraBody.step_reset_at)
    prune = blocking(_GcraBody.step_prune)
    __len__ = blocking(_GcraBody.step_len)
    snapshot = blocking(_GcraBody.step_snapshot)
    restore = blocking(_GcraBody.step_restore)


class AsyncRedisThrottle(_ThrottleBody):
    """:class:`RedisThrottle` for ``redis.asyncio`` clients: every method is awaited
    (``size()`` stands for ``len()``)."""

    acquire = awaiting(_GcraBody.step_acquire)
    peek = awaiting(_GcraBody.step_peek)
    acquire_many = awaiting(_GcraBody.step_acquire_many)
    reset_at = awaiting(_GcraBody.step_reset_at)
    prune = awaiting(_GcraBody.step_prune)
    size = awaiting(_GcraBody.step_len)
    snapshot = awaiting(_GcraBody.step_snapshot)
    restore = awaiting(_GcraBody.step_restore)


class AsyncRedisRateLimit(_RateLimitBody):
    """:class:`RedisRateLimit` for ``redis.asyncio`` clients: every method is awaited
    (``size()`` stands for ``len()``)."""

    acquire = awaiting(_GcraBody.step_acquire)
    peek = awaiting(_GcraBody.step_peek)
    acquire_many = awaiting(_GcraBody.step_acquire_many)
    reset_at = awaiting(_GcraBody.step_reset_at)
    prune = awaiting(_GcraBody.step_prune)
    size = awaiting(_GcraBody.step_len)
    snapshot = awaiting(_GcraBody.step_snapshot)
    restore = awaiting(_GcraBody.step_restore)
