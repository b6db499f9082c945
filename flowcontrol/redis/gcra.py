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
instant (one clock reading; with the server's clock, one ``TIME`` per script, so one per
slot on a cluster) in one round trip per node: one script call for a single server, one
per slot in a pipeline per node on a cluster. Its ``n`` values are all checked before
anything is sent. The keys of one script are decided in one run of it, which blocks the
server meanwhile (about 3 us a key): pass batches of hundreds, not millions.

Idempotency (:class:`RedisRateLimit`, as :class:`~flowcontrol.machines.gcra.RateLimit`).
``acquire(key, n, idempotency_key=k)`` is one script: it reads ``k``'s mark, decides,
and on an admission writes the mark (``now + idempotency_ttl`` in ns, as decimal text);
a mark is honoured iff that stored instant is after the decision's ``now`` (so the answer
never depends on when Redis expires it), and its PEXPIRE (``idempotency_ttl`` rounded up
to ms, plus the grace) only removes marks already expired by that rule. The mark is a key
of its own, ``fc:ri:<name>:<k>``, on one server: the machine's, whatever the rate-limit
key, as in memory. On a cluster one script touches one slot, so the mark goes in the
rate-limit key's slot, ``fc:ri:<name>:{<tag>}<k>`` with ``<tag>`` the text that key's slot
is hashed from: there a mark binds the rate-limit keys sharing that text (the same key,
or keys sharing a ``{tag}`` of the user's), not the whole machine. The platform keeps
marks and rate-limit keys under one ``{ratelimit}`` tag (``ratelimit.lua``), which is
that choice with every key tagged alike. A single-unit idempotent acquire runs the
straight-line GCRA_ONE (mark instants as two exact halves, below 4e24 ns), others the limb
script (exact at any size). ``acquire_many`` takes no idempotency keys. ``idempotency_marks()``
counts live marks (the in-memory machine also counts expired ones not yet swept: equal
after ``prune()``, which deletes expired marks with a compare-and-delete). A snapshot
carries the live marks; restoring one with marks needs a single server.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Final, Self

from flowcontrol.machines.gcra import (
    _ONE,
    IDEMPOTENCY_TTL,
    GcraDecision,
    RateLimit,
    Throttle,
    _Gcra,
    _int_arg,
)
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
    send,
)
from flowcontrol.time import Clock

__all__ = ["AsyncRedisRateLimit", "AsyncRedisThrottle", "RedisRateLimit", "RedisThrottle"]

# ARGV: 1 now ('' = server TIME), 2 "scale lead grace T" (grace: TTL ms beyond full), 3 mode
# ('a' acquire, 'p' peek, 'x' prune, 'i' idempotent acquire); per key i: ARGV[3 + i] =
# "(n - 1) * T  n * T", or '' for n = 1.
# Mode 'i' (one rate-limit key, KEYS[2] the idempotency mark): ARGV[5] now in ns unscaled
# ('' with the server's TIME), ARGV[6] the idempotency TTL (ns), ARGV[7] the mark's PX
# (ms). A mark whose stored expiry instant is after now is a hit: nothing is written and
# the flag is 'h'; otherwise an acquire, and an admission stores now + TTL in the mark.
# Reply, one string: now, then per key the stored value read ('' when none) and 1 or 0
# (admitted or not) or h (idempotent hit), separated by single spaces.
GCRA: Final = Script("gcra", """
local c_scale, c_lead, c_grace, c_step = string.match(ARGV[2], '^(%S+) (%S+) (%S+) (%S+)$')
local scale = fc_parse(c_scale)
local now, now_ns
if ARGV[1] == '' then
  now_ns = fc_time_ns()
  now = fc_mul(now_ns, scale)
else
  now = fc_parse(ARGV[1])
end
local nkeys = #KEYS
local mode = ARGV[3]
if mode == 'i' then
  nkeys = 1
  if now_ns == nil then now_ns = fc_parse(ARGV[5]) end
  local mark = redis.call('GET', KEYS[2])
  if mark and fc_cmp(fc_parse(mark), now_ns) > 0 then mode = 'h' end
end
local lead = fc_parse(c_lead)
local fresh = fc_sub(now, lead)
local grace = tonumber(c_grace)
local per_ms = fc_approx(scale) * 1000000
local out = {fc_str(now)}
for i = 1, nkeys do
  local raw = redis.call('GET', KEYS[i])
  local at = fresh
  if raw then
    local stored = fc_parse(raw)
    if fc_cmp(stored, fresh) > 0 then at = stored
    elseif mode == 'x' then redis.call('DEL', KEYS[i]) end
  end
  local need, stride = '0', c_step
  if ARGV[3 + i] ~= '' then need, stride = string.match(ARGV[3 + i], '^(%S+) (%S+)$') end
  local ok = fc_cmp(fc_add(at, fc_parse(need)), now) <= 0
  if ok and (mode == 'a' or mode == 'i') then
    local new = fc_add(at, fc_parse(stride))
    local ms = math.ceil(fc_approx(fc_sub(fc_add(new, lead), now)) / per_ms) + grace
    if ms > 70368744177664 then ms = 70368744177664 end
    redis.call('SET', KEYS[i], fc_str(new), 'PX', string.format('%d', ms))
    if mode == 'i' then
      redis.call('SET', KEYS[2], fc_str(fc_add(now_ns, fc_parse(ARGV[6]))), 'PX', ARGV[7])
    end
  end
  out[2 * i] = raw or ''
  if mode == 'h' then out[2 * i + 1] = 'h'
  elseif ok then out[2 * i + 1] = '1' else out[2 * i + 1] = '0' end
end
return table.concat(out, ' ')
""")

# The same contract as GCRA, faster: instants as two exact doubles (hi * 10**9 + lo), the
# decision on the exact double ``stored - now`` (used while every duration is below 2**52
# and every instant below 4e24 in magnitude, so each step stays below 2**53; a key idle
# for longer than 2**53 units only compares as far in the past, which it is).
GCRA_FAST: Final = Script("gcra-fast", """
local E9 = 1000000000
local function split(s)
  if #s <= 10 then return 0, tonumber(s) end
  local hi, lo = tonumber(string.sub(s, 1, -10)), tonumber(string.sub(s, -9))
  if string.byte(s, 1) == 45 then return hi, -lo end
  return hi, lo
end
local function text(hi, lo)
  local carry = math.floor(lo / E9)
  hi, lo = hi + carry, lo - carry * E9
  if hi >= 0 then
    if hi == 0 then return string.format('%d', lo) end
    return string.format('%d%09d', hi, lo)
  end
  if lo > 0 then hi, lo = hi + 1, E9 - lo end
  if hi == 0 then return '-' .. string.format('%d', lo) end
  return '-' .. string.format('%d%09d', -hi, lo)
end
local c_scale, c_lead, c_grace, c_step = string.match(ARGV[2], '^(%S+) (%S+) (%S+) (%S+)$')
local scale = tonumber(c_scale)
local now, nhi, nlo = ARGV[1], 0, 0
if now == '' then
  local t = redis.call('TIME')
  nhi, nlo = tonumber(t[1]) * scale, tonumber(t[2]) * 1000 * scale
  now = text(nhi, nlo)
else
  nhi, nlo = split(now)
end
local lead, grace, step = tonumber(c_lead), tonumber(c_grace), tonumber(c_step)
local mode = ARGV[3]
local per_ms = scale * 1000000
local out = {now}
for i = 1, #KEYS do
  local raw = redis.call('GET', KEYS[i])
  local at = -lead
  if raw then
    local shi, slo = split(raw)
    local d = (shi - nhi) * E9 + (slo - nlo)
    if d > at then at = d
    elseif mode == 'x' then redis.call('DEL', KEYS[i]) end
  end
  local need, stride = 0, step
  if ARGV[3 + i] ~= '' then
    local a, b = string.match(ARGV[3 + i], '^(%S+) (%S+)$')
    need, stride = tonumber(a), tonumber(b)
  end
  local ok = at + need <= 0
  if ok and mode == 'a' then
    local new = at + stride
    local ms = math.ceil((new + lead) / per_ms) + grace
    redis.call('SET', KEYS[i], text(nhi, nlo + new), 'PX', string.format('%d', ms))
  end
  out[2 * i] = raw or ''
  if ok then out[2 * i + 1] = '1' else out[2 * i + 1] = '0' end
end
if #KEYS == 1 then return now .. ' ' .. out[2] .. ' ' .. out[3] end
return table.concat(out, ' ')
""", prelude=False)
_FAST_DURATION: Final = 1 << 52
_FAST_TTL: Final = 10**24  # an idempotency TTL GCRA_ONE takes: now + TTL stays below 4e24

# GCRA_FAST for the hot path, ``acquire(key)`` of one unit, with the fewest Lua steps: one
# key, one argument "now scale lead grace T" (now '' = server TIME), straight-line code
# (no closures, no loop, no table). Used within GCRA_FAST's bounds; the same decisions,
# the same stored text and TTL, the same reply.
# With KEYS[2], an idempotency mark (as GCRA's mode 'i'), ARGV[2] is "now_ns E ttl_hi
# ttl_lo px": now in ns unscaled and E = now + TTL, both '' with the server's TIME (then
# E is built from TIME and the TTL's two halves, ttl = ttl_hi * 10**9 + ttl_lo); px is the
# mark's PEXPIRE. Instants and E below 4e24 in magnitude: every half exact.
GCRA_ONE: Final = Script("gcra-one", """
local E9 = 1000000000
local now, c_scale, c_lead, c_grace, c_step = string.match(ARGV[1],
  '^(%S*) (%S+) (%S+) (%S+) (%S+)$')
local scale = tonumber(c_scale)
local nhi, nlo = 0, 0
local m_now, m_exp, m_thi, m_tlo, m_px
if #KEYS == 2 then
  m_now, m_exp, m_thi, m_tlo, m_px = string.match(ARGV[2], '^(%S*) (%S*) (%S+) (%S+) (%S+)$')
end
if now == '' then
  local t = redis.call('TIME')
  if m_px then
    local hi, lo = tonumber(t[1]) + tonumber(m_thi), tonumber(t[2]) * 1000 + tonumber(m_tlo)
    if lo >= E9 then hi, lo = hi + 1, lo - E9 end
    m_now = string.format('%d%09d', tonumber(t[1]), tonumber(t[2]) * 1000)
    m_exp = string.format('%d%09d', hi, lo)
  end
  nhi, nlo = tonumber(t[1]) * scale, tonumber(t[2]) * 1000 * scale
  local carry = math.floor(nlo / E9)
  nhi, nlo = nhi + carry, nlo - carry * E9
  if nhi == 0 then now = string.format('%d', nlo) else now = string.format('%d%09d', nhi, nlo) end
elseif #now <= 10 then nlo = tonumber(now)
else
  nhi, nlo = tonumber(string.sub(now, 1, -10)), tonumber(string.sub(now, -9))
  if nhi < 0 then nlo = -nlo end
end
local lead = tonumber(c_lead)
local raw = redis.call('GET', KEYS[1])
if m_px then
  local mark = redis.call('GET', KEYS[2])
  if mark then
    local a, b = 0, tonumber(mark)
    if #mark > 10 then
      a, b = tonumber(string.sub(mark, 1, -10)), tonumber(string.sub(mark, -9))
      if a < 0 then b = -b end
    end
    local c, d = 0, tonumber(m_now)
    if #m_now > 10 then
      c, d = tonumber(string.sub(m_now, 1, -10)), tonumber(string.sub(m_now, -9))
      if c < 0 then d = -d end
    end
    if (a - c) * E9 + (b - d) > 0 then return now .. ' ' .. (raw or '') .. ' h' end
  end
end
local at = -lead
if raw then
  local d
  if #raw <= 10 then d = (0 - nhi) * E9 + (tonumber(raw) - nlo)
  else
    local shi, slo = tonumber(string.sub(raw, 1, -10)), tonumber(string.sub(raw, -9))
    if shi < 0 then slo = -slo end
    d = (shi - nhi) * E9 + (slo - nlo)
  end
  if d > at then at = d end
end
if at > 0 then return now .. ' ' .. raw .. ' 0' end
local new = at + tonumber(c_step)
local hi, lo = nhi, nlo + new
local carry = math.floor(lo / E9)
hi, lo = hi + carry, lo - carry * E9
local text
if hi > 0 then text = string.format('%d%09d', hi, lo)
elseif hi == 0 then text = string.format('%d', lo)
else
  if lo > 0 then hi, lo = hi + 1, E9 - lo end
  if hi == 0 then text = '-' .. string.format('%d', lo)
  else text = '-' .. string.format('%d%09d', -hi, lo) end
end
redis.call('SET', KEYS[1], text, 'PX',
  string.format('%d', math.ceil((new + lead) / (scale * 1000000)) + tonumber(c_grace)))
if m_px then redis.call('SET', KEYS[2], m_exp, 'PX', m_px) end
return now .. ' ' .. (raw or '') .. ' 1'
""", prelude=False)
_FAST_INSTANT: Final = 4 * 10**24

# ARGV per key i: the stored value, its TTL in ms. Used by from_snapshot.
PUT: Final = Script("gcra-put", """
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[2 * i - 1], 'PX', ARGV[2 * i])
end
return #KEYS
""", prelude=False)

# The idempotency marks (RedisRateLimit): MARKS reads them with the server's TIME (reply:
# seconds, microseconds, then each mark's value or ''); UNMARK deletes each KEYS[i] whose
# value is still ARGV[i] (an expired mark, unless an admission has renewed it meanwhile).
MARKS: Final = Script("gcra-marks", """
local t = redis.call('TIME')
local out = {t[1], t[2]}
for i = 1, #KEYS do out[i + 2] = redis.call('GET', KEYS[i]) or '' end
return out
""", prelude=False)
UNMARK: Final = Script("gcra-unmark", """
local n = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[i] then n = n + redis.call('DEL', KEYS[i]) end
end
return n
""", prelude=False)

_NS_PER_MS: Final = 1_000_000
_MAX_PX: Final = 70368744177664  # the longest TTL the scripts set (ms, about 2,230 years)
_YES: Final = (b"1", "1")
_OK_CACHE: Final = 1024  # allowed decisions made once per `remaining` below this
_ACQUIRE: Final = b"a"
_PEEK: Final = b"p"
_PRUNE: Final = b"x"
_IDEMPOTENT: Final = b"i"
_HIT: Final = (b"h", "h")


def _split(reply: bytes | str) -> list[bytes] | list[str]:
    """The fields of a GCRA reply (bytes, or str from a decode_responses client)."""
    if isinstance(reply, bytes):
        return reply.split(b" ")
    return reply.split(" ")


def _text(key: bytes | str) -> str:
    return key.decode("utf-8", "surrogatepass") if isinstance(key, bytes) else key


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
        self._cluster = is_cluster(client)
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
        self._memory = memory  # validated the parameters; snapshot() writes its format
        # The fast script's bounds (see GCRA_FAST): durations below 2**52, instants below
        # 4e24 in magnitude (with the server's clock: up to 2**63 ns, scaled).
        self._dvt_fast = memory._dvt < _FAST_DURATION
        self._fast_until = _FAST_INSTANT - memory._dvt
        self._fast_time = (1 << 63) * self._scale < self._fast_until
        self._ok = tuple(GcraDecision(True, None, r) for r in range(min(self._cap, _OK_CACHE)))
        self._unit = b""  # n = 1: the script takes T from the machine's constants
        self._conf = b""
        self._conf_grace = -1
        self._one = ""  # GCRA_ONE's argument after "now" (see _one_call)
        self._one_grace = -1
        self._one_until = self._fast_until if self._dvt_fast else 0
        self._first = check_eviction(f"{type(self).__name__} {self.name!r}")
        self._created()

    def _created(self) -> None:
        """Called at the end of construction: the asyncio classes check on first use."""

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

    def _one_call(self) -> str | None:
        """GCRA_ONE's argument for a single-unit acquire now, or None when this instant
        (or this machine's ``T``) is beyond the fast scripts' bounds."""
        grace = 1 if self._clock is None else self.expiry_grace_ms
        if grace != self._one_grace:
            self._one = f" {self._scale} {self._lead} {grace} {self._step}"
            self._one_grace = grace
        clock = self._clock
        if clock is None:
            return self._one if self._fast_time and self._dvt_fast else None
        now = clock() * self._scale
        if now > self._now:
            self._now = now
        else:
            now = self._now
        if -self._one_until < now < self._one_until:
            return f"{now}{self._one}"
        return None

    def _eval(self, now: str, mode: bytes, pairs: Sequence[tuple[str, int]]) -> Eval:
        return Eval(*self._call(now, mode, pairs))

    def _call(self, now: str, mode: bytes, pairs: Sequence[tuple[str, int]]
              ) -> tuple[Script, list[str], list[str | bytes]]:
        """The script, keys and arguments deciding ``pairs`` at ``now``."""
        step = self._step
        grace = 1 if self._clock is None else self.expiry_grace_ms
        if grace != self._conf_grace:
            self._conf = f"{self._scale} {self._lead} {grace} {self._step}".encode()
            self._conf_grace = grace
        args: list[str | bytes] = [now, self._conf, mode]
        most = 1
        for _, n in pairs:
            if n == 1:
                args.append(self._unit)
            else:
                args.append(f"{(n - 1) * step} {n * step}".encode())
                if n > most:
                    most = n
        script = GCRA
        if self._dvt_fast and most * step < _FAST_DURATION and (
                abs(int(now)) < self._fast_until if now else self._fast_time):
            script = GCRA_FAST
        return script, [self.keys.own(k) for k, _ in pairs], args

    def _decisions(self, text: bytes | str, ns: Sequence[int]) -> list[GcraDecision]:
        reply = _split(text)
        now = int(reply[0])
        decide = self._decide
        return [decide(now, reply[1 + 2 * i], reply[2 + 2 * i], n) for i, n in enumerate(ns)]

    def _decide(self, now: int, raw: bytes | str, flag: bytes | str, n: int) -> GcraDecision:
        """The in-memory machine's answer from what the script read and decided."""
        fresh = now - self._lead
        at = int(raw) if raw else fresh
        if at < fresh:
            at = fresh
        step = self._step
        last = at + (n - 1) * step
        if flag in _YES:
            r = (now - last) // step
            return self._ok[r] if r < _OK_CACHE else GcraDecision(True, None, r)
        if flag in _HIT:  # an idempotent repeat: allowed, nothing consumed
            return GcraDecision(True, None, (now - at) // step + 1, True)
        if n > self._cap:
            return GcraDecision(False, None, (now - at) // step + 1)
        return GcraDecision(False, -(-last // self._scale), (now - at) // step + 1)

    # -- operations -------------------------------------------------------------------

    def step_acquire(self, key: str, n: int = 1, idempotency_key: str | None = None
                     ) -> Step[GcraDecision]:
        """Admit ``n`` units for ``key`` now, all or nothing; a refusal changes nothing.

        ``idempotency_key`` (:class:`RedisRateLimit` only): as the in-memory machine's."""
        if idempotency_key is not None:
            return (yield from self._step_idempotent(key, n, idempotency_key))
        _int_arg("n", n, 1)
        arg = self._one_call() if n == 1 else None
        if arg is not None:
            reply = _split((yield Eval(GCRA_ONE, (self.keys.prefix + key,), (arg,))))
            return self._decide(int(reply[0]), reply[1], reply[2], 1)
        reply = yield self._eval(self._reading(), _ACQUIRE, ((key, n),))
        return self._decisions(reply, (n,))[0]

    def _step_idempotent(self, key: str, n: int, idempotency_key: str
                         ) -> Step[GcraDecision]:
        call = self._idempotent_call(key, n, idempotency_key)
        if call is None:
            return (yield from self.step_acquire(key, n))
        reply = _split((yield Eval(*call)))
        return self._decide(int(reply[0]), reply[1], reply[2], n)

    def _idempotent_call(self, key: str, n: int, idempotency_key: str
                         ) -> tuple[Script, list[str], list[str | bytes]] | None:
        raise TypeError(f"{self._MEMORY._KIND}.acquire takes no idempotency_key "
                        "(only RateLimit has one)")

    def _marks_snapshot(self, memory: Any, now: int) -> Step[None]:
        """Load the live idempotency marks into ``memory`` (scaled ``now``): none here."""
        return
        yield  # pragma: no cover

    def _marks_prune(self, now: str) -> Step[None]:
        """Delete the expired idempotency marks: none here."""
        return
        yield  # pragma: no cover

    def _marks_restore(self, memory: Any, now_ns: int, data: dict[str, object]
                       ) -> list[Eval]:
        """The calls writing ``memory``'s idempotency marks: none here."""
        return []

    def step_peek(self, key: str, n: int = 1) -> Step[GcraDecision]:
        """What ``acquire(key, n)`` would answer now, without consuming anything.

        ``remaining`` is the capacity now (nothing is consumed)."""
        _int_arg("n", n, 1)
        reply = yield self._eval(self._reading(), _PEEK, ((key, n),))
        d = self._decisions(reply, (n,))[0]
        return GcraDecision(True, None, d.remaining + n) if d.allowed else d

    def step_acquire_many(self, requests: Iterable[tuple[str, int]]
                          ) -> Step[list[GcraDecision]]:
        """``acquire(key, n)`` for each pair in order at one instant, in one round trip
        per node; every ``n`` is checked before anything is sent."""
        pairs = list(requests)
        for request in pairs:
            if not isinstance(request, tuple | list) or len(request) != 2:
                raise ValueError(f"acquire_many takes (key, n) pairs, got {request!r} "
                                 "(an idempotency key needs acquire)")
            _int_arg("n", request[1], 1)
        if not pairs:
            return []
        now = self._reading()
        if not is_cluster(self.client):
            reply = yield self._eval(now, _ACQUIRE, pairs)
            return self._decisions(reply, [n for _, n in pairs])
        groups: dict[int, list[int]] = {}
        for i, (key, _) in enumerate(pairs):
            groups.setdefault(self.client.keyslot(self.keys.own(key)), []).append(i)
        members = list(groups.values())
        replies = yield Batch([self._eval(now, _ACQUIRE, [pairs[i] for i in g])
                              for g in members])
        out: list[GcraDecision | None] = [None] * len(pairs)
        for g, reply in zip(members, replies, strict=True):
            for i, d in zip(g, self._decisions(reply, [pairs[i][1] for i in g]), strict=True):
                out[i] = d
        return out  # type: ignore[return-value]

    def step_reset_at(self, key: str) -> Step[int]:
        """The instant (ns) at which ``key`` is back to full capacity (now if idle)."""
        reply = _split((yield self._eval(self._reading(), _PEEK, ((key, 1),))))
        now = int(reply[0])
        tat = int(reply[1]) + self._lead if reply[1] else now
        return -(-max(now, tat) // self._scale)

    def _each_key(self, mode: bytes, now: str) -> Step[tuple[list[str], list[Any]]]:
        """Each stored key's user key and split reply (mode peek or prune), by name."""
        keys = yield Scan(self.keys.pattern())
        names = sorted(self.keys.user_key(k) for k in keys)
        if not names:
            return [], []
        replies = yield Batch([self._eval(now, mode, ((k, 1),)) for k in names])
        return names, [_split(r) for r in replies]

    def step_prune(self) -> Step[int]:
        """Delete every idle key now (expiry does it too); return how many were deleted.

        Walks the machine's keys with SCAN: a maintenance call, not a hot path."""
        now = self._reading()
        _, replies = yield from self._each_key(_PRUNE, now)
        yield from self._marks_prune(now)
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
        names, replies = yield from self._each_key(_PEEK, now)
        if not replies:
            if self._clock is None:
                reply = yield self._eval("", _PEEK, (("", 1),))
                now = str(int(_split(reply)[0]))
            s = int(now)
        else:
            s = int(replies[0][0])
        memory = self._memory  # the in-memory machine's own snapshot of this state
        memory._now = s
        memory._at = {name: int(r[1]) for name, r in zip(names, replies, strict=True) if r[1]}
        yield from self._marks_snapshot(memory, s)
        return memory.snapshot()

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
        calls = self._marks_restore(memory, int(data["now"]), data)  # type: ignore[call-overload]
        if not items and not calls:
            return 0
        scale_ms = self._scale * _NS_PER_MS
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
                 burst: int | None = None, *, clock: Clock | None = None,
                 idempotency_ttl: int | str = IDEMPOTENCY_TTL) -> None:
        memory = RateLimit(limit, period, burst, clock=clock or _no_clock,
                           idempotency_ttl=idempotency_ttl)
        self.idempotency_ttl: int = memory.idempotency_ttl
        """How long (ns) an admitted idempotency key bypasses the limit; 0: never."""
        self.marks = KeyLayout("ri", name)
        self._setup(client, name, memory, clock)

    # -- idempotency (see the module docstring, "Idempotency") ---------------------------

    def _mark_key(self, gcra_key: str, idempotency_key: str) -> str:
        """The mark's Redis key: per machine on one server; on a cluster in the slot of
        the rate-limit key ``gcra_key`` (tagged with the text that key's slot hashes)."""
        if not self._cluster:
            return self.marks.own(idempotency_key)
        tag = gcra_key
        start = gcra_key.find("{")
        if start >= 0:
            end = gcra_key.find("}", start + 1)
            if end > start + 1:
                tag = gcra_key[start + 1:end]
        if "}" in tag:
            raise ValueError(
                f"rate-limit key {gcra_key!r}: on a cluster an idempotent acquire needs a key "
                "whose hash slot can be named (no '}' outside a '{...}' hash tag)")
        return f"{self.marks.prefix}{{{tag}}}{idempotency_key}"

    def _idempotency_key_of(self, mark: bytes | str) -> str:
        text = self.marks.user_key(mark)
        return text[text.index("}") + 1:] if self._cluster else text

    def _idempotent_call(self, key: str, n: int, idempotency_key: str
                         ) -> tuple[Script, list[str], list[str | bytes]] | None:
        """The one script call of an idempotent acquire (None: ``idempotency_ttl`` is 0,
        a plain acquire); raises ValueError for bad arguments, as in memory."""
        if type(idempotency_key) is not str:
            raise ValueError(f"idempotency_key must be a str, got {idempotency_key!r}")
        ttl = self.idempotency_ttl
        if not ttl:
            return None
        _int_arg("n", n, 1)
        grace = 1 if self._clock is None else self.expiry_grace_ms
        px = str(min(-(-ttl // _NS_PER_MS) + grace, _MAX_PX))
        gcra_key = self.keys.prefix + key
        mark = self._mark_key(gcra_key, idempotency_key)
        one = self._one_call() if n == 1 and ttl < _FAST_TTL else None
        if one is not None:  # GCRA_ONE's bounds hold for now; E and now_ns below 4e24
            hi, lo = divmod(ttl, 1_000_000_000)
            if self._clock is None:
                marks = f"  {hi} {lo} {px}"
            else:
                now_ns = self._now // self._scale
                marks = f"{now_ns} {now_ns + ttl} {hi} {lo} {px}"
            return GCRA_ONE, [gcra_key, mark], [one, marks]
        now = self._reading()
        _, keys, args = self._call(now, _IDEMPOTENT, ((key, n),))
        keys.append(mark)
        args += [str(int(now) // self._scale) if now else "", str(ttl), px]
        return GCRA, keys, args  # exact at any size, marks included

    def _mark_values(self) -> Step[tuple[int, list[str], list[int]]]:
        """The server's TIME (ns), and each stored mark's idempotency key and expiry."""
        found = sorted(_text(k) for k in (yield Scan(self.marks.pattern())))
        if not found:
            return 0, [], []
        if self._cluster:
            replies = yield Batch([Eval(MARKS, (k,), ()) for k in found])
            values = [r[2] for r in replies]
        else:
            reply = yield Eval(MARKS, found, ())
            replies, values = [reply], reply[2:]
        sec, usec = replies[0][0], replies[0][1]
        kept = [(k, int(v)) for k, v in zip(found, values, strict=True) if v]
        return (int(sec) * 1_000_000_000 + int(usec) * 1000, [k for k, _ in kept],
                [v for _, v in kept])

    def _live_marks(self, now: str) -> Step[dict[str, int]]:
        """Idempotency key -> expiry (ns) of every live mark at ``now`` (scaled; "" =
        the server's TIME), in order of expiry; on a cluster the latest per key."""
        server_ns, keys, values = yield from self._mark_values()
        now_ns = int(now) // self._scale if now else server_ns
        live: dict[str, int] = {}
        for k, v in zip(keys, values, strict=True):
            if v > now_ns:
                name = self._idempotency_key_of(k)
                live[name] = max(v, live.get(name, v))
        return dict(sorted(live.items(), key=lambda kv: (kv[1], kv[0])))

    def step_idempotency_marks(self) -> Step[int]:
        """Idempotency keys with a live mark now (SCAN: not a hot path). The in-memory
        machine also counts expired marks it has not yet swept; after ``prune()`` both
        count the live ones."""
        return len((yield from self._live_marks(self._reading())))

    def _marks_snapshot(self, memory: Any, now: int) -> Step[None]:
        memory._marks = OrderedDict((yield from self._live_marks(str(now))))

    def _marks_prune(self, now: str) -> Step[None]:
        server_ns, keys, values = yield from self._mark_values()
        now_ns = int(now) // self._scale if now else server_ns
        dead = [(k, v) for k, v in zip(keys, values, strict=True) if v <= now_ns]
        if not dead:
            return
        if self._cluster:
            yield Batch([Eval(UNMARK, (k,), (v,)) for k, v in dead])
        else:
            yield Eval(UNMARK, [k for k, _ in dead], [v for _, v in dead])

    def _marks_restore(self, memory: Any, now_ns: int, data: dict[str, object]
                       ) -> list[Eval]:
        # A snapshot from before idempotency keys records no TTL (and no marks): any fits.
        if "idempotency_ttl" in data and memory.idempotency_ttl != self.idempotency_ttl:
            raise ValueError(f"snapshot idempotency_ttl {memory.idempotency_ttl} does not "
                             f"match {self!r} (idempotency_ttl={self.idempotency_ttl})")
        marks = memory._marks
        if marks and self._cluster:
            raise ValueError(
                "a snapshot with idempotency marks cannot be restored on a cluster: a mark "
                "lives in the slot of the rate-limit key that set it, which a snapshot does "
                "not record")
        grace = 1 if self._clock is None else self.expiry_grace_ms
        return [Eval(PUT, (self.marks.own(k),),
                     (e, min(-(-(e - now_ns) // _NS_PER_MS) + grace, _MAX_PX)))
                for k, e in marks.items()]

    @classmethod
    def platform(cls, client: Any, name: str, limit: int, period: int | str, *,
                 clock: Clock | None = None) -> Self:
        """As the Constraint API (the dev server) builds it: whole-second period."""
        memory = RateLimit.platform(limit, period, clock=clock or _no_clock)
        return cls(client, name, memory.limit, memory.period, clock=clock)


class _Blocking(_GcraBody):
    """The sync classes' methods; ``acquire`` is the hot path: the same call and the same
    reading of its reply as ``step_acquire``, sent as one bare EVALSHA (no step driver)."""

    def _created(self) -> None:
        first, self._first = self._first, None
        if first is not None:
            run(self.client, first)  # the eviction check, at construction

    def acquire(self, key: str, n: int = 1, idempotency_key: str | None = None
                ) -> GcraDecision:
        """Admit ``n`` units for ``key`` now, all or nothing; a refusal changes nothing.

        ``idempotency_key`` (:class:`RedisRateLimit` only): as the in-memory machine's."""
        if idempotency_key is not None:
            call = self._idempotent_call(key, n, idempotency_key)
            if call is None:
                return self.acquire(key, n)
            reply = _split(send(self.client, *call))
            return self._decide(int(reply[0]), reply[1], reply[2], n)
        if n is _ONE:  # identity: True and 1.0 go the validating way
            arg = self._one_call()
            if arg is not None:
                reply = _split(send(self.client, GCRA_ONE, (self.keys.prefix + key,), (arg,)))
                return self._decide(int(reply[0]), reply[1], reply[2], 1)
        else:
            _int_arg("n", n, 1)
        reply = _split(send(self.client, *self._call(self._reading(), _ACQUIRE, ((key, n),))))
        return self._decide(int(reply[0]), reply[1], reply[2], n)

    peek = blocking(_GcraBody.step_peek)
    acquire_many = blocking(_GcraBody.step_acquire_many)
    reset_at = blocking(_GcraBody.step_reset_at)
    prune = blocking(_GcraBody.step_prune)
    __len__ = blocking(_GcraBody.step_len)
    snapshot = blocking(_GcraBody.step_snapshot)
    restore = blocking(_GcraBody.step_restore)


class RedisThrottle(_Blocking, _ThrottleBody):
    """:class:`~flowcontrol.machines.gcra.Throttle` on a ``redis.Redis`` or
    ``redis.cluster.RedisCluster`` client (see the module docstring)."""


class RedisRateLimit(_Blocking, _RateLimitBody):
    """:class:`~flowcontrol.machines.gcra.RateLimit` on a ``redis.Redis`` or
    ``redis.cluster.RedisCluster`` client (see the module docstring)."""

    idempotency_marks = blocking(_RateLimitBody.step_idempotency_marks)


class _Awaiting(_GcraBody):
    """The asyncio classes' methods: every one awaited (``size()`` stands for ``len()``)."""

    acquire = awaiting(_GcraBody.step_acquire)
    peek = awaiting(_GcraBody.step_peek)
    acquire_many = awaiting(_GcraBody.step_acquire_many)
    reset_at = awaiting(_GcraBody.step_reset_at)
    prune = awaiting(_GcraBody.step_prune)
    size = awaiting(_GcraBody.step_len)
    snapshot = awaiting(_GcraBody.step_snapshot)
    restore = awaiting(_GcraBody.step_restore)


class AsyncRedisThrottle(_Awaiting, _ThrottleBody):
    """:class:`RedisThrottle` for ``redis.asyncio`` clients: every method is awaited
    (``size()`` stands for ``len()``); the first call also checks ``maxmemory-policy``."""


class AsyncRedisRateLimit(_Awaiting, _RateLimitBody):
    """:class:`RedisRateLimit` for ``redis.asyncio`` clients: every method is awaited
    (``size()`` stands for ``len()``); the first call also checks ``maxmemory-policy``."""

    idempotency_marks = awaiting(_RateLimitBody.step_idempotency_marks)
