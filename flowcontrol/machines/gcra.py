"""GCRA throttle and rate limit: one integer theoretical arrival time (TAT) per key.

Theory of operation. A key admits ``cap`` units at once from idle, then one unit every
emission interval ``T = period / limit``. The state of a key is its TAT: the instant at
which it would be back to full capacity. A request for ``n`` units at ``now`` is admitted
iff ``max(TAT, now) + n*T - now <= cap*T`` (the delay-variation tolerance ``DVT``), and
then ``TAT = max(TAT, now) + n*T``. This is the platform's ``helper/gcra.lua`` (spec
section 3.3 and Appendix A) with ``cap = limit + burst`` for :class:`Throttle` and
``cap = limit // 10 + 1`` for :class:`RateLimit`.

Exact integers. ``T`` need not be a whole number of nanoseconds (1 s / 3), so instants
are handled scaled: in units of ``1/scale`` ns with ``scale = limit / gcd(period, limit)``,
where ``T`` is the integer ``step = period / gcd(period, limit)``. No floats, no drift.
Per key the dict holds ``at = TAT - (cap - 1) * T``, the instant from which one more unit
is admitted: a single-unit request is then allowed iff ``at <= now``, leaving
``(now - at) // T`` units, which is the least arithmetic per call. Snapshots hold TATs.

Memory follows active keys. A key whose TAT is not after ``now`` is indistinguishable
from a key never seen, so it is dropped: overwritten on its next admission, and removed
by a sweep that rebuilds the dict (a dict never shrinks by deletion). The sweep runs at
most once per ``DVT``, on a call that meets a new or idle key or computes a fresh refusal
(so a plain hit on an active key pays nothing for it), and only when the dict holds more
than 16 keys (so a key that falls idle between every two calls, a ``DVT`` shorter than
the gap between them, does not pay a sweep per call; at most 16 idle keys linger). Every
key that survives a sweep was touched since the sweep before, so its cost is amortised
O(1) per call. ``prune()`` sweeps on demand.

Speed. The result is a frozen dataclass, yet nothing is allocated on the common paths,
at any capacity. An admission returns a shared ``GcraDecision(True, None, remaining)``:
built at import for ``remaining < 1024``, kept per machine for a key at full capacity,
and kept as they occur beyond that (up to 65,536 of them, shared by all machines). A
single-unit refusal depends on nothing but the key's stored ``at`` (``retry_at`` is
``ceil(at / scale)``, ``remaining`` 0), so it is built once per ``at`` and then served
from a dict by ``at`` (the last one also by identity, the cheapest test); that dict holds
at most twice as many entries as keys plus 16 and is swept with them. What must be built
is built through ``_base.builder``, half the cost of the dataclass's ``__init__``.
An empty machine holds no decisions of its own (about 0.6 KiB).

``bench/bench_gcra.py`` measures ``acquire(key)`` against a ten-line dict-of-floats GCRA
returning a bool, both on one ``ManualClock``: 0.74x to 1.6x at capacities 1 to 100,000
on a hot key, 10,000 keys in turn and new keys, admissions and refusals alike. A burst
drained on one key at capacity 100,000 (a new ``remaining`` every call, kept after its
first use) runs at 0.68x, and 0.54x for a rate limit whose ``T`` is 60,000.6 ns (its
scaled instants need a multiplication and a two-digit long division per call).

Platform fidelity versus our extensions:

* ``limit == 0`` is treated as 1, as the platform does (throttle ``UnmarshalJSON``; the
  rate-limit Lua's ``max(limit, 1)``).
* The platform truncates a throttle period (and the Constraint API's rate-limit period)
  to whole seconds; the constructors keep full nanosecond precision (ours), and the
  ``platform(...)`` constructors apply the truncation.
* The platform computes in milliseconds (throttle) or nanoseconds (rate limit) with Lua
  doubles; for whole-second periods and millisecond instants the decisions are the same.
* The platform keeps a TAT in Redis with a TTL of ``floor((TAT - now) / 1 s)`` (at
  least 1 s), so state may vanish up to a second early or linger a second late; we keep
  the TAT exactly and use ``max(TAT, now)``, the spec's recommended model (section 3.5).
* ``n > cap`` can never be admitted: refused with ``retry_at=None`` (the Lua reports a
  meaningless ``now + T`` there).
* ``RateLimit(burst=b)`` (ours) admits ``b + 1`` at once; the platform always uses
  ``b = limit // 10``. Note this differs from ``Throttle``'s ``burst``, which is counted
  on top of ``limit``.

Idempotency (:class:`RateLimit` only). ``acquire(key, idempotency_key=k)`` is the
platform's ``ratelimit.WithIdempotency(k, ttl)`` (``lua/ratelimit.lua``): if ``k`` was
admitted within the last ``idempotency_ttl`` (the executor's ``RateLimitIdempotencyTTL``,
30 minutes) the answer is "allowed, idempotent" and nothing is consumed, whatever the
rate-limit key; an admission sets the mark for ``idempotency_ttl``; a refusal sets none,
so a repeat of a refused request is judged afresh. Marks are kept in order of expiry and
dropped once expired (on the next idempotent call, or by ``prune()``), so their memory
follows the marks alive. This window is the rate limiter's own; the 24-hour dedupe of
event ids that creates no second run is the caller's (``flowcontrol.controller``). The
Constraint API path (what the dev server uses) skips the GCRA for a repeated key for
``ConstraintCheckIdempotencyTTL``, 5 minutes (``pkg/constraintapi/redis.go``): build the
machine with ``idempotency_ttl="5m"`` to model that path.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from math import gcd
from typing import Any, ClassVar, Final, Self

from flowcontrol.machines._base import builder, expect_header
from flowcontrol.time import NS_PER_S, Clock, to_ns

__all__ = ["IDEMPOTENCY_TTL", "GcraDecision", "RateLimit", "Throttle"]

IDEMPOTENCY_TTL: Final = 30 * 60 * NS_PER_S
"""How long an admitted idempotency key bypasses the rate limit (the platform's
``RateLimitIdempotencyTTL``, ``pkg/execution/executor/executor.go``)."""

_ONE: Final = 1
_OK_CACHE_MAX: Final = 1024  # the admissions leaving less than this are built at import
_OK_LARGE_MAX: Final = 1 << 16  # at most this many more are kept, as they occur
_NEVER: Final = -1  # below any (scaled) instant: the refusal cache before any refusal
_SWEEP_MIN: Final = 16  # a table of at most this many keys is not swept (see the docstring)


@dataclass(frozen=True, slots=True)
class GcraDecision:
    """The answer to ``acquire``/``peek``.

    ``allowed``: the units were (acquire) or would be (peek) admitted now.
    ``retry_at``: for a refusal, the first instant (ns) at which the same request would
    be admitted if nothing else happens; ``None`` when allowed, or when the request is
    larger than the key can ever admit at once.
    ``remaining``: how many units the key could admit right now, after this decision.
    ``idempotent``: allowed because the request's idempotency key was admitted within
    the idempotency window; nothing was consumed (the platform's ``IdempotencyHit``).
    """

    allowed: bool
    retry_at: int | None
    remaining: int
    idempotent: bool = False


_GcraDecisionBuilder = builder(GcraDecision)


def _decision(allowed: bool, retry_at: int | None, remaining: int) -> GcraDecision:
    """``GcraDecision(allowed, retry_at, remaining)`` at about half the cost."""
    d = _GcraDecisionBuilder()
    d.allowed = allowed
    d.retry_at = retry_at
    d.remaining = remaining
    d.idempotent = False
    d.__class__ = GcraDecision
    dec: GcraDecision = d
    return dec


# The admissions, shared by every machine (equal values): one per `remaining` below
# _OK_CACHE_MAX, and the larger ones as they occur, up to _OK_LARGE_MAX of them.
_OK: Final = tuple(GcraDecision(True, None, r) for r in range(_OK_CACHE_MAX))
_OK_LARGE: Final[dict[int, GcraDecision]] = {}


def _admitted(remaining: int) -> GcraDecision:
    """``GcraDecision(True, None, remaining)``, from the shared ones when it can be."""
    if remaining < _OK_CACHE_MAX:
        return _OK[remaining]
    dec = _OK_LARGE.get(remaining)
    if dec is None:
        dec = _decision(True, None, remaining)
        if len(_OK_LARGE) < _OK_LARGE_MAX:
            _OK_LARGE[remaining] = dec
    return dec


def _int_arg(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value}")
    return value


def _period_arg(value: object) -> int:
    try:
        ns = to_ns(value, name="period")  # type: ignore[arg-type]
    except TypeError as exc:
        raise ValueError(str(exc)) from None
    if ns <= 0:
        raise ValueError(f"period must be positive, got {value!r} ({ns} ns)")
    return ns


def _whole_seconds(value: object) -> int:
    ns = _period_arg(value)
    whole = ns - ns % NS_PER_S
    if whole == 0:
        raise ValueError(
            f"period {value!r} truncates to 0 s on the platform (whole seconds only); "
            "use at least 1s"
        )
    return whole


class _Gcra:
    """Shared GCRA engine; subclasses only decide the per-key capacity."""

    __slots__ = (
        "_at",
        "_cap",
        "_clock",
        "_dvt",
        "_full",
        "_lead",
        "_now",
        "_rat",
        "_rdec",
        "_refill",
        "_refused",
        "_scale",
        "_step",
        "_sweep_at",
        "_top",
        "burst",
        "limit",
        "period",
    )

    _KIND: ClassVar[str] = "_Gcra"

    limit: int
    """Emission rate numerator: ``limit`` units per ``period`` (0 was normalised to 1)."""
    period: int
    """The period in nanoseconds."""
    burst: int
    """The configured burst (meaning differs between Throttle and RateLimit)."""

    def _setup(self, limit: int, period: int, burst: int, cap: int, clock: Clock) -> None:
        if not callable(clock):
            raise ValueError(f"clock must be a zero-argument callable returning ns, got {clock!r}")
        self.limit = limit
        self.period = period
        self.burst = burst
        g = gcd(period, limit)
        scale = limit // g  # all instants are handled in units of 1/scale ns
        self._scale = scale  # the clock's reading times this is the scaled instant
        self._step = period // g  # the emission interval T in those units
        self._cap = cap
        self._dvt = self._step * cap
        self._lead = self._dvt - self._step  # TAT - lead: when one more unit is admitted
        self._refill = self._step - self._lead  # now + this: `at` after one unit from idle
        self._top = cap - 1  # `remaining` after admitting one unit to an idle key
        self._clock: Clock = clock
        self._now = 0  # high-water mark of the (scaled) clock
        # key -> the (scaled) instant from which one more unit is admitted: TAT - lead.
        # Storing this rather than the TAT saves arithmetic on every call.
        self._at: dict[str, int] = {}
        self._full = _admitted(cap - 1)  # the answer to a key at full capacity
        # The single-unit refusals: a key whose stored value is `at` (> now) is refused
        # with retry_at = ceil(at / scale) and nothing else, so the decision is built
        # once per `at` and kept by `at` (the last one also by identity, the cheapest test).
        self._refused: dict[int, GcraDecision] = {}
        self._rat = _NEVER
        self._rdec = GcraDecision(False, None, 0)
        self._sweep_at = 0

    # -- the hot path --------------------------------------------------------------

    def acquire(self, key: str, n: int = 1, idempotency_key: str | None = None
                ) -> GcraDecision:
        """Admit ``n`` units for ``key`` now, all or nothing; a refusal changes nothing.

        ``idempotency_key`` (:class:`RateLimit` only): see the module doc, "Idempotency".
        Pass it by name. (It is not keyword-only because a keyword-only default keeps
        CPython 3.11 from specialising the call: the hot path would cost 12% more.)
        """
        if n is not _ONE or idempotency_key is not None:  # identity: True and 1.0 validate
            if idempotency_key is not None:
                return self._acquire_idempotent(key, n, idempotency_key)
            return self._acquire_n(key, n)
        # The clock read is inlined on this hot path (not _read: a call costs more).
        now = self._clock()
        if self._scale != 1:
            now *= self._scale
        if now > self._now:
            self._now = now
        else:
            now = self._now
        ats = self._at
        at = ats.get(key)
        if at is not None:
            if at > now:
                if at is self._rat:
                    return self._rdec
                dec = self._refused.get(at)
                if dec is None:
                    return self._refuse_one(at)
                self._rat = at  # the last refusal, which snapshots hold
                self._rdec = dec
                return dec
            since = now - at
            if since < self._lead:  # not idle
                ats[key] = at + self._step
                r = since // self._step
                if r < _OK_CACHE_MAX:
                    return _OK[r]
                dec = _OK_LARGE.get(r)
                if dec is None:
                    return _admitted(r)
                return dec
        # A new or idle key: full capacity.
        if now >= self._sweep_at and len(ats) > _SWEEP_MIN:
            self._sweep(now)
            ats = self._at
        ats[key] = now + self._refill
        return self._full

    def _refuse_one(self, at: int) -> GcraDecision:
        dec = _decision(False, -(-at // self._scale), 0)
        now = self._now
        refused = self._refused
        if len(refused) > 2 * len(self._at) + _SWEEP_MIN:  # mostly for bygone `at`s
            refused = self._refused = {a: d for a, d in refused.items() if a > now}
        refused[at] = dec
        self._rat = at
        self._rdec = dec
        if now >= self._sweep_at and len(self._at) > _SWEEP_MIN:
            self._sweep(now)  # a saturated key still gives the sweep a turn
        return dec

    def _acquire_n(self, key: str, n: int) -> GcraDecision:
        _int_arg("n", n, 1)
        now = self._read()
        if now >= self._sweep_at and len(self._at) > _SWEEP_MIN:
            self._sweep(now)
        at = self._at.get(key)
        fresh = now - self._lead
        if at is None or at < fresh:
            at = fresh
        last = at + (n - 1) * self._step  # when the n-th unit is admitted
        if last > now:
            return self._refusal(at, now, n)
        self._at[key] = last + self._step
        return _admitted((now - last) // self._step)

    def _acquire_idempotent(self, key: str, n: int, idempotency_key: str) -> GcraDecision:
        raise TypeError(f"{self._KIND}.acquire takes no idempotency_key (only RateLimit has one)")

    def peek(self, key: str, n: int = 1) -> GcraDecision:
        """What ``acquire(key, n)`` would answer now, without consuming anything.

        ``remaining`` is the capacity now (nothing is consumed), so
        ``peek(key).remaining`` is how many units an ``acquire`` may take at once.
        """
        _int_arg("n", n, 1)
        now = self._read()
        fresh = now - self._lead
        at = self._at.get(key)
        if at is None:
            at = fresh
        elif at <= fresh:
            del self._at[key]  # idle: carries no information
            at = fresh
        if at + (n - 1) * self._step > now:
            return self._refusal(at, now, n)
        return _admitted((now - at) // self._step + 1)

    def _refusal(self, at: int, now: int, n: int) -> GcraDecision:
        remaining = (now - at) // self._step + 1
        if n > self._cap:
            return GcraDecision(False, None, remaining)
        return GcraDecision(False, -(-(at + (n - 1) * self._step) // self._scale), remaining)

    def _read(self) -> int:
        """The scaled clock, never going backwards (a reading below the high-water mark
        counts as no time passing)."""
        now = self._clock() * self._scale
        if now > self._now:
            self._now = now
            return now
        return self._now

    # -- memory ----------------------------------------------------------------------

    def _sweep(self, now: int) -> int:
        before = self._at
        fresh = now - self._lead
        self._at = {k: v for k, v in before.items() if v > fresh}
        self._refused = {a: d for a, d in self._refused.items() if a > now}
        self._sweep_at = now + self._dvt
        return len(before) - len(self._at)

    def prune(self) -> int:
        """Drop every idle key now (compacting the table); return how many were dropped."""
        return self._sweep(self._read())

    def __len__(self) -> int:
        """Stored keys, including idle ones not yet swept."""
        return len(self._at)

    def reset_at(self, key: str) -> int:
        """The instant (ns) at which ``key`` is back to full capacity (now if idle)."""
        now = self._read()
        at = self._at.get(key)
        tat = now if at is None else max(now, at + self._lead)
        return -(-tat // self._scale)

    @property
    def capacity(self) -> int:
        """Units an idle key admits at once."""
        return self._cap

    @property
    def emission_interval(self) -> tuple[int, int]:
        """``T`` as an exact fraction of nanoseconds ``(numerator, denominator)``."""
        return (self._step, self._scale)

    # -- persistence -------------------------------------------------------------------

    def snapshot(self) -> dict[str, object]:
        """Plain JSON-able state: config, clock high-water mark, TATs of active keys.

        TATs are integers in units of ``1/scale`` ns (``scale`` is recorded).
        """
        s = self._now
        return {
            "kind": self._KIND,
            "version": 1,
            "limit": self.limit,
            "period": self.period,
            "burst": self.burst,
            "now": self._now // self._scale,
            "scale": self._scale,
            "tat": {k: v + self._lead for k, v in sorted(self._at.items()) if v + self._lead > s},
        }

    @classmethod
    def from_snapshot(cls, data: dict[str, object], *, clock: Clock) -> Self:
        """Rebuild a machine from :meth:`snapshot` output; ValueError if it is not one."""
        d = _check_snapshot(data, cls._KIND)
        # Both subclasses take (limit, period, burst, *, clock); the base has no __init__.
        m = cls(d["limit"], d["period"], d["burst"], clock=clock)  # type: ignore[call-arg]
        m._restore(d)
        return m

    def _restore(self, data: dict[str, Any]) -> None:
        now = data.get("now")
        if isinstance(now, bool) or not isinstance(now, int):
            raise ValueError(f"{self._KIND} snapshot: 'now' must be an int, got {now!r}")
        if data.get("scale") != self._scale:
            raise ValueError(
                f"{self._KIND} snapshot: 'scale' is {data.get('scale')!r}, expected {self._scale}"
            )
        tats = data.get("tat")
        if not isinstance(tats, dict):
            raise ValueError(f"{self._KIND} snapshot: 'tat' must be an object of key -> int")
        s = now * self._scale
        restored: dict[str, int] = {}
        for key, tat in tats.items():
            if not isinstance(key, str) or isinstance(tat, bool) or not isinstance(tat, int):
                raise ValueError(f"{self._KIND} snapshot: bad entry 'tat'[{key!r}] = {tat!r}")
            if tat - s > self._dvt:
                raise ValueError(
                    f"{self._KIND} snapshot: 'tat'[{key!r}] is beyond what the limit allows"
                )
            if tat > s:
                restored[key] = tat - self._lead
        self._now = s
        self._at = restored


def _check_snapshot(data: object, kind: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError(f"{kind} snapshot must be a dict, got {type(data).__name__}")
    expect_header(data, kind)
    for field in ("limit", "period", "burst"):
        if field not in data:
            raise ValueError(f"{kind} snapshot: missing {field!r}")
    return data


class Throttle(_Gcra):
    """The platform's throttle: ``limit + burst`` starts at once, then one per ``period/limit``.

    ``acquire(key, n=1)`` consumes, ``peek(key, n=1)`` does not. A throttled start is not
    dropped: the caller queues it and retries at ``retry_at``.
    """

    __slots__ = ()
    _KIND = "Throttle"

    def __init__(self, limit: int, period: int | str, burst: int = 0, *, clock: Clock) -> None:
        lim = _int_arg("limit", limit, 0) or 1
        b = _int_arg("burst", burst, 0)
        self._setup(lim, _period_arg(period), b, lim + b, clock)

    @classmethod
    def platform(
        cls, limit: int, period: int | str, burst: int = 0, *, clock: Clock
    ) -> Throttle:
        """As the platform builds it: the period truncated to whole seconds (at least 1 s)."""
        return cls(limit, _whole_seconds(period), burst, clock=clock)

    def __repr__(self) -> str:
        return f"Throttle(limit={self.limit}, period={self.period}, burst={self.burst})"


class RateLimit(_Gcra):
    """The platform's rate limit: GCRA with the implicit burst ``limit // 10``.

    ``limit=10, period="1h"`` admits 2 at once, then one every 6 minutes. ``burst`` (ours)
    overrides the implicit one: ``burst + 1`` events are admitted at once. Refused events
    are dropped by the caller. ``acquire(key, idempotency_key=k)`` lets a repeat of an
    admitted ``k`` through for ``idempotency_ttl`` (ns or a duration string; default 30
    minutes, the platform's; 0 turns it off) without consuming anything.
    """

    __slots__ = ("_mark_sweep", "_marks", "idempotency_ttl")
    _KIND = "RateLimit"

    idempotency_ttl: int
    """How long (ns) an admitted idempotency key bypasses the limit; 0: never."""

    def __init__(
        self, limit: int, period: int | str, burst: int | None = None, *, clock: Clock,
        idempotency_ttl: int | str = IDEMPOTENCY_TTL,
    ) -> None:
        lim = _int_arg("limit", limit, 0)
        b = lim // 10 if burst is None else _int_arg("burst", burst, 0)
        lim = lim or 1
        self._setup(lim, _period_arg(period), b, b + 1, clock)
        try:
            ttl = to_ns(idempotency_ttl, name="idempotency_ttl")
        except TypeError as exc:
            raise ValueError(str(exc)) from None
        if ttl < 0:
            raise ValueError(f"idempotency_ttl must be >= 0, got {idempotency_ttl!r}")
        self.idempotency_ttl = ttl
        # idempotency key -> the instant (ns) its mark expires, in order of expiry; expired
        # marks are swept from the front at most 16 times per window (at ``_mark_sweep``).
        self._marks: OrderedDict[str, int] = OrderedDict()
        self._mark_sweep = 0

    @classmethod
    def platform(cls, limit: int, period: int | str, *, clock: Clock) -> RateLimit:
        """As the Constraint API (the dev server) builds it: whole-second period."""
        return cls(limit, _whole_seconds(period), clock=clock)

    def __repr__(self) -> str:
        return f"RateLimit(limit={self.limit}, period={self.period}, burst={self.burst})"

    # -- idempotency -------------------------------------------------------------------

    def _acquire_idempotent(self, key: str, n: int, idempotency_key: str) -> GcraDecision:
        if type(idempotency_key) is not str:
            raise ValueError(f"idempotency_key must be a str, got {idempotency_key!r}")
        ttl = self.idempotency_ttl
        if not ttl:
            return self.acquire(key, n)
        now = self._read() // self._scale
        marks = self._marks
        at = marks.get(idempotency_key)
        if at is not None:
            if at > now:
                return GcraDecision(True, None, self.peek(key, n).remaining, True)
            del marks[idempotency_key]  # expired: judged afresh (and kept in expiry order)
        d = self.acquire(key, n)
        if d.allowed:
            marks[idempotency_key] = now + ttl
            if now >= self._mark_sweep:
                self._expire_marks(now)
        return d

    def _expire_marks(self, now: int) -> None:
        marks = self._marks
        while marks and next(iter(marks.values())) <= now:
            marks.popitem(last=False)
        self._mark_sweep = now + max(self.idempotency_ttl >> 4, 1)

    def idempotency_marks(self) -> int:
        """Idempotency keys marked (expired ones not yet swept included: at most 1/16 of
        the window late)."""
        return len(self._marks)

    def prune(self) -> int:
        """Drop every idle key and every expired idempotency mark; return how many keys
        were dropped (marks not counted)."""
        dropped = super().prune()
        self._expire_marks(self._now // self._scale)
        return dropped

    def snapshot(self) -> dict[str, object]:
        """:meth:`_Gcra.snapshot` plus ``idempotency_ttl`` and the live ``marks``
        (idempotency key -> expiry ns, in order of expiry)."""
        data = super().snapshot()
        now = self._now // self._scale
        data["idempotency_ttl"] = self.idempotency_ttl
        data["marks"] = {k: t for k, t in self._marks.items() if t > now}
        return data

    def _restore(self, data: dict[str, Any]) -> None:
        super()._restore(data)
        ttl = data.get("idempotency_ttl", IDEMPOTENCY_TTL)  # absent in older snapshots
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0:
            raise ValueError(f"RateLimit snapshot: 'idempotency_ttl' must be an int >= 0, "
                             f"got {ttl!r}")
        marks = data.get("marks", {})
        if not isinstance(marks, dict):
            raise ValueError("RateLimit snapshot: 'marks' must be an object of key -> int")
        now = self._now // self._scale
        restored: OrderedDict[str, int] = OrderedDict()
        last = now
        for k, t in marks.items():
            if not isinstance(k, str) or isinstance(t, bool) or not isinstance(t, int):
                raise ValueError(f"RateLimit snapshot: bad entry 'marks'[{k!r}] = {t!r}")
            if t <= now:
                continue  # expired
            if t - now > ttl or t < last:
                raise ValueError(f"RateLimit snapshot: 'marks'[{k!r}] is out of order or "
                                 "beyond the idempotency window")
            last = restored[k] = t
        self.idempotency_ttl = ttl
        self._marks = restored
        self._mark_sweep = 0
