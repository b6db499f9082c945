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
(so a plain hit on an active key pays nothing for it); every key that survives a sweep
was touched since the sweep before, so its cost is amortised O(1) per call. ``prune()``
sweeps on demand.

Speed. The result is a frozen dataclass, yet nothing is allocated on the common paths:
admissions return one of the precomputed ``GcraDecision(True, None, remaining)`` (for
``remaining < 1024``), and a key refused again before its TAT moves gets the very same
refusal object back. ``acquire(key)`` costs about 0.75x (one hot key) and 0.5x (10,000
keys in turn) of a bare dict-of-floats GCRA returning a bool (``bench/bench_gcra.py``).

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
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd
from typing import Any, ClassVar, Final, Self

from flowcontrol.machines._base import advance_clock, expect_header
from flowcontrol.time import NS_PER_S, Clock, to_ns

__all__ = ["GcraDecision", "RateLimit", "Throttle"]

_ONE: Final = 1
_OK_CACHE_MAX: Final = 1024  # allowed decisions are cached per `remaining` up to this cap
_NEVER: Final = -(1 << 126)  # below any instant minus any DVT: "no state" for a key and
# for the refusal cache (-(2**64) was not: a key never seen looked busy when DVT > 2**64)


@dataclass(frozen=True, slots=True)
class GcraDecision:
    """The answer to ``acquire``/``peek``.

    ``allowed``: the units were (acquire) or would be (peek) admitted now.
    ``retry_at``: for a refusal, the first instant (ns) at which the same request would
    be admitted if nothing else happens; ``None`` when allowed, or when the request is
    larger than the key can ever admit at once.
    ``remaining``: how many units the key could admit right now, after this decision.
    """

    allowed: bool
    retry_at: int | None
    remaining: int


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
        "_lead",
        "_now",
        "_ok",
        "_rat",
        "_rdec",
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
        self._scale = scale
        self._step = period // g  # the emission interval T in those units
        self._cap = cap
        self._dvt = self._step * cap
        self._lead = self._dvt - self._step  # TAT - lead: when one more unit is admitted
        self._top = cap - 1  # `remaining` after admitting one unit to an idle key
        # With scale 1 (T a whole number of ns, the usual case) the clock is used as is.
        self._clock: Clock = clock if scale == 1 else (lambda: clock() * scale)
        self._now = 0  # high-water mark of the (scaled) clock
        # key -> the (scaled) instant from which one more unit is admitted: TAT - lead.
        # Storing this rather than the TAT saves arithmetic on every call.
        self._at: dict[str, int] = {}
        self._ok = tuple(GcraDecision(True, None, r) for r in range(min(cap, _OK_CACHE_MAX)))
        # The last single-unit refusal, valid for any key whose stored value is this very
        # int object (a refusal depends on nothing else).
        self._rat = _NEVER
        self._rdec = GcraDecision(False, None, 0)
        self._sweep_at = 0

    # -- the hot path --------------------------------------------------------------

    def acquire(self, key: str, n: int = 1) -> GcraDecision:
        """Admit ``n`` units for ``key`` now, all or nothing; a refusal changes nothing."""
        if n is not _ONE:  # identity: True and 1.0 go the validating way
            return self._acquire_n(key, n)
        # The clock read is inlined on this hot path (not _read: a call costs more).
        clock = self._clock  # (a slot read, then a call: faster than a method-style call)
        now = clock()
        if now > self._now:
            self._now = now
        else:
            now = self._now
        ats = self._at
        at = ats.get(key, _NEVER)
        if at > now:
            if at is self._rat:
                return self._rdec
            return self._refuse_one(at)
        r = (now - at) // self._step
        if r >= self._top:  # a new or idle key: full capacity
            r = self._top
            at = now - self._lead
            if now >= self._sweep_at:
                self._sweep(now)
                ats = self._at
        ats[key] = at + self._step
        try:
            return self._ok[r]
        except IndexError:  # capacity beyond the cache
            return GcraDecision(True, None, r)

    def _refuse_one(self, at: int) -> GcraDecision:
        dec = GcraDecision(False, -(-at // self._scale), 0)
        self._rat = at
        self._rdec = dec
        if self._now >= self._sweep_at:  # a saturated key still gives the sweep a turn
            self._sweep(self._now)
        return dec

    def _acquire_n(self, key: str, n: int) -> GcraDecision:
        _int_arg("n", n, 1)
        now = self._read()
        if now >= self._sweep_at:
            self._sweep(now)
        at = max(self._at.get(key, _NEVER), now - self._lead)
        last = at + (n - 1) * self._step  # when the n-th unit is admitted
        if last > now:
            return self._refusal(at, now, n)
        self._at[key] = last + self._step
        return GcraDecision(True, None, (now - last) // self._step)

    def peek(self, key: str, n: int = 1) -> GcraDecision:
        """What ``acquire(key, n)`` would answer now, without consuming anything.

        ``remaining`` is the capacity now (nothing is consumed), so
        ``peek(key).remaining`` is how many units an ``acquire`` may take at once.
        """
        _int_arg("n", n, 1)
        now = self._read()
        fresh = now - self._lead
        at = self._at.get(key, _NEVER)
        if at <= fresh:
            if at != _NEVER:
                del self._at[key]  # idle: carries no information
            at = fresh
        if at + (n - 1) * self._step > now:
            return self._refusal(at, now, n)
        return GcraDecision(True, None, (now - at) // self._step + 1)

    def _refusal(self, at: int, now: int, n: int) -> GcraDecision:
        remaining = (now - at) // self._step + 1
        if n > self._cap:
            return GcraDecision(False, None, remaining)
        return GcraDecision(False, -(-(at + (n - 1) * self._step) // self._scale), remaining)

    _read = advance_clock  # the scaled clock, never going backwards

    # -- memory ----------------------------------------------------------------------

    def _sweep(self, now: int) -> int:
        before = self._at
        fresh = now - self._lead
        self._at = {k: v for k, v in before.items() if v > fresh}
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
        tat = self._at.get(key, _NEVER) + self._lead
        return -(-max(now, tat) // self._scale)

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
    are dropped by the caller.
    """

    __slots__ = ()
    _KIND = "RateLimit"

    def __init__(
        self, limit: int, period: int | str, burst: int | None = None, *, clock: Clock
    ) -> None:
        lim = _int_arg("limit", limit, 0)
        b = lim // 10 if burst is None else _int_arg("burst", burst, 0)
        lim = lim or 1
        self._setup(lim, _period_arg(period), b, b + 1, clock)

    @classmethod
    def platform(cls, limit: int, period: int | str, *, clock: Clock) -> RateLimit:
        """As the Constraint API (the dev server) builds it: whole-second period."""
        return cls(limit, _whole_seconds(period), clock=clock)

    def __repr__(self) -> str:
        return f"RateLimit(limit={self.limit}, period={self.period}, burst={self.burst})"
