"""The simulator's lean pipeline for one plain function, statistics only (internal).

``simulate`` uses it when ``plain(...)`` holds: one function whose runs are one ``run``
step, triggered by name alone, with at most a rate limit (or idempotency key), a
throttle, a function-wide concurrency limit, one keyed concurrency limit (with one
function and no account limit an ``env`` or ``account`` scope counts what ``fn`` would)
or instead of them a run limit (``concurrency.fn``: with one step per run it is the step
limit on its key; beside step limits such configs take the general path), and a priority
(no batch, debounce, singleton, cancellation, timeouts), round-robin fairness, and the
caller wants statistics only.
It promises the same ``Stats`` per group, the same peaks, the same unmatched count and
end time as the general path, number for number and in the same order
(``tests/test_fastsim.py`` checks it against the general path).

It is the controller's admission algorithm (``flowcontrol.controller.admission``: backlogs per
key, parking on the constraint that refused, waking one waiter per freed slot or
throttle ``retry_at``, passing on an unused wake-up, round robin across keys) with the
run reduced to a tuple and no decision values, rows or per-run records. The throttle is
``flowcontrol.machines.gcra.Throttle``'s exact integer GCRA inlined (same scaled instants, same
``at = TAT - lead`` per key, same ``retry_at``), with idle keys swept at most once per
``DVT`` and only past 16 keys, as the machine does, so its memory also follows the active
keys. The rate limit is the machine itself, with its idempotency marks on event ids inlined
(a repeat of an id it admitted in the last 30 minutes passes uncharged), their memory
following the live marks.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from math import gcd
from typing import Any, Final

from flowcontrol.config.model import ConcurrencyLimit, FunctionConfig
from flowcontrol.controller.fairness import RoundRobin, WaitQueuePolicy
from flowcontrol.controller.keys import ERROR, CompiledExpr, make_activation, priority_factor
from flowcontrol.controller.runtime import _ASLEEP, _IDLE, _PARKED, _READY  # backlog states
from flowcontrol.machines.gcra import _SWEEP_MIN, RateLimit
from flowcontrol.sim.stats import Stats
from flowcontrol.time import NS_PER_MS, NS_PER_S

__all__ = ["LeanResult", "plain", "read_event", "run_lean"]

_INF: Final = 1 << 126
_FLOAT_MAX: Final = 1 << 1000  # ints below this convert to float without overflow
_WINDOW: Final = 24 * 3600 * NS_PER_S  # idempotency window on event ids

_FN_GATE: Final = ("f", "")  # the gate of the function-wide limit (with a keyed one)

# Timer kinds of this module's own heap.
_T_GATE: Final = 0
_T_BACKLOG: Final = 1
_T_ENQUEUE: Final = 2


def plain(
    functions: Sequence[FunctionConfig],
    plan: tuple[tuple[str, int], ...] | None,
    *,
    group_by: str | None,
    timeline: bool,
    keep_rows: bool,
    account_concurrency: int,
    priority_range: tuple[int, int],
    fairness: WaitQueuePolicy | None,
) -> bool:
    """Whether the lean pipeline gives the general path's results for this call."""
    if keep_rows or timeline or account_concurrency != 0:
        return False
    if fairness is not None and type(fairness) is not RoundRobin:
        return False
    if len(functions) != 1 or plan is None or len(plan) != 1 or plan[0][0] != "run":
        return False
    cfg = functions[0]
    if not isinstance(cfg, FunctionConfig) or priority_range[0] > priority_range[1]:
        return False  # the general path raises the error
    if (cfg.batch is not None or cfg.debounce is not None or cfg.singleton is not None
            or cfg.cancel_on or cfg.timeouts is not None):
        return False
    if not cfg.triggers or any(
        t.event is None or t.expression or "*" in t.event for t in cfg.triggers
    ):
        return False
    conc = cfg.concurrency
    if cfg.run_concurrency is not None:
        # A run limit is taken here as the step limit it equals when the run is one step
        # and nothing else limits concurrency; beside step limits, the general path.
        return not conc
    keyed = cfg.keyed_concurrency()
    if len(keyed) > 1 or (keyed and not keyed[0].key) or any(c.limit < 1 for c in conc):
        return False  # (a limit of 0 is no limit)
    unkeyed = len(conc) - len(keyed)
    return unkeyed == 0 or (unkeyed == 1 and cfg.function_limit() is not None)


_MEMO_MAX: Final = 1 << 16
_NO_MEMO: Final = object()


class _Memo:
    """An expression's key or priority factor, remembered per value of what it reads.

    Exact when every path the expression reads is ``event.data.<name>`` and each of those
    values is a string (the activation holds strings as they are, so the result depends
    on those strings alone); anything else is evaluated on the activation.
    """

    __slots__ = ("calc", "memo", "names", "same")

    def __init__(self, ce: CompiledExpr, calc: Callable[[dict[str, Any]], Any],
                 is_key: bool = False) -> None:
        self.calc = calc
        self.memo: dict[Any, Any] = {}
        refs = getattr(getattr(ce, "_program", None), "references", None)
        names: tuple[str, ...] | None = None
        if refs and all(r.startswith("event.data.") and r.count(".") == 2 for r in refs):
            names = tuple(sorted(r[len("event.data."):] for r in refs))
        self.names = names
        # A key that is the field itself (``event.data.user_id``): a string value is its
        # own key (``CompiledExpr.key`` returns a string result as it is).
        self.same = (is_key and names is not None and len(names) == 1
                     and ce.source.strip() == "event.data." + names[0])

    def lookup(self, data: Any) -> Any:
        """The remembered result for ``data``, or ``_NO_MEMO`` (then call ``store``)."""
        names = self.names
        if names is None or type(data) is not dict:
            return _NO_MEMO
        if len(names) == 1:
            v = data.get(names[0])
            if type(v) is not str:
                return _NO_MEMO
            r = self.memo.get(v, _NO_MEMO)
            if r is _NO_MEMO and self.same:
                memo = self.memo
                if len(memo) >= _MEMO_MAX:
                    memo.clear()
                r = memo[v] = v
            return r
        vals = tuple(data.get(n) for n in names)
        for v in vals:
            if type(v) is not str:
                return _NO_MEMO
        return self.memo.get(vals, _NO_MEMO)

    def value(self, data: Any, ev: Mapping[str, Any], box: list[dict[str, Any]]) -> Any:
        """The result for event ``ev`` (its ``data``): remembered, or evaluated on its
        activation, built at most once per event into ``box``."""
        r = self.lookup(data)
        if r is _NO_MEMO:
            if not box:
                box.append(make_activation(ev))
            r = self.store(data, box[0])
        return r

    def store(self, data: Any, act: dict[str, Any]) -> Any:
        r = self.calc(act)
        names = self.names
        if names is None or type(data) is not dict:
            return r
        vals = tuple(data.get(n) for n in names)
        for v in vals:
            if type(v) is not str:
                return r
        memo = self.memo
        if len(memo) >= _MEMO_MAX:
            memo.clear()
        memo[vals[0] if len(names) == 1 else vals] = r
        return r


class _Grp:
    """One report group: its statistics and how many of its runs are running.

    The loop's common case counts into ``fast`` (events that started at once: each adds
    one to ``events_in``, ``outcomes["run"]``, ``runs`` and ``runs_started``) and ``peak``
    (the most running at once), and ends into ``done``; ``fold`` adds them to ``st`` at
    the end.
    """

    __slots__ = ("done", "fast", "peak", "running", "st")

    def __init__(self, st: Stats) -> None:
        self.st = st
        self.running = 0
        self.fast = 0
        self.peak = 0
        self.done = 0

    def fold(self) -> None:
        st = self.st
        n = self.fast
        self.fast = 0
        st.events_in += n
        st.outcomes["run"] += n
        st.runs += n
        st.runs_started += n
        st.completed += self.done
        self.done = 0
        if self.peak > st.peak_concurrency:
            st.peak_concurrency = self.peak


class _Backlog:
    __slots__ = ("ckey", "gate", "heap", "key", "live", "state", "timer_at", "tkey", "woken_by")

    def __init__(self, key: tuple[str, str], tkey: str, ckey: str) -> None:
        self.key = key
        self.tkey = tkey
        self.ckey = ckey
        self.heap: list[tuple[int, int, int, _Grp]] = []
        self.live = 0
        self.state = _IDLE
        self.gate: _Gate | None = None
        self.woken_by: _Gate | None = None
        self.timer_at = 0


class _Gate:
    __slots__ = ("id", "timer_at", "waiters")

    def __init__(self, gid: tuple[str, str]) -> None:
        self.id = gid
        self.waiters: deque[_Backlog] = deque()
        self.timer_at: int | None = None


class LeanResult:
    """What ``simulate`` needs to build its ``SimResult``."""

    __slots__ = ("end", "peak_function", "start", "stats", "unmatched")

    def __init__(self, stats: dict[tuple[str, str], Stats], peak_function: dict[str, int],
                 unmatched: int, start: int, end: int) -> None:
        self.stats = stats
        self.peak_function = peak_function
        self.unmatched = unmatched
        self.start = start
        self.end = end


def _key_memo(ce: CompiledExpr | None) -> _Memo | None:
    return None if ce is None else _Memo(ce, ce.key, is_key=True)


class _Lean:
    """The admission state and the event loop."""

    def __init__(self, cfg: FunctionConfig, duration: int, group_src: str,
                 priority_range: tuple[int, int]) -> None:
        low, high = priority_range
        self.low, self.high = low, high
        self.fn_id = cfg.id
        self.duration = duration
        t = cfg.throttle
        self.has_th = t is not None
        # The throttle, as flowcontrol.machines.gcra.Throttle computes it: instants scaled by
        # ``scale`` so that the emission interval ``step`` is a whole number; per key the
        # scaled instant ``at`` from which one more start is admitted (TAT - lead).
        lim = (t.limit or 1) if t is not None else 1
        period = t.period_ns if t is not None else 1
        cap = lim + (t.burst if t is not None else 0)
        g = gcd(period, lim)
        self.t_scale = lim // g
        self.t_step = period // g
        self.t_lead = self.t_step * (cap - 1)
        self.t_dvt = self.t_step * cap
        self.t_refill = self.t_step - self.t_lead  # snow + this: `at` after a start from idle
        self.t_at: dict[str, int] = {}
        self.t_sweep_at = 0
        self.tkey = CompiledExpr(t.key) if t is not None and t.key else None
        self.prio = CompiledExpr(cfg.priority.run) if cfg.priority and cfg.priority.run else None
        # The rate limit (or idempotency key), as the controller applies it: the machine
        # itself on this pipeline's clock; its key is ``<fn id>-<key>``, the function's id
        # without a key expression, and a false or missing key is not rate limited. The
        # event id is its idempotency key (every event here has an id), as the controller
        # passes it, with the machine's marks inlined: ``marks`` (id -> expiry), set when
        # the limiter admits an id not marked; a marked id is let through uncharged (then
        # ``seen`` skips it when its run exists). Expired marks are dropped in batches,
        # at most 16 times per window, from ``marks_q`` ((expiry, id) in order).
        rl = cfg.effective_rate_limit()
        self.now = 0
        self.rl = RateLimit(rl.limit, rl.period_ns, clock=lambda: self.now) if rl else None
        self.m_ttl = self.rl.idempotency_ttl if self.rl is not None else 0
        self.marks: dict[str, int] = {}
        self.marks_q: deque[tuple[int, str]] = deque()
        self.marks_sweep = 0
        rk = CompiledExpr(rl.key) if rl is not None and rl.key else None
        self.rl_expr = rk
        self.rl_const: Any = None if rk is None or not rk.is_constant else rk.optional_key({})
        self.rl_memo = None if rk is None or rk.is_constant else _Memo(rk, rk.optional_key)
        # Concurrency: ``counts`` per key against ``limit`` (the keyed limit, or without
        # one the function-wide limit on the one key ""); with both, the function-wide
        # ``fn_cap`` is checked against the runs in progress (``len(self.ends)``), first
        # for a keyed limit of scope fn and after it for env/account (the controller's
        # check order: its first refusal is where a backlog parks).
        keyed = cfg.keyed_concurrency()
        fn_limit = cfg.function_limit() or 0
        rc = cfg.run_concurrency
        run_key = rc.key if rc is not None else None
        if rc is not None:
            # A run of one step holds its run slot exactly while it holds a step slot: the
            # run limit is the step limit of the same key (with no step limits beside it,
            # ``plain``), parked on and woken the same way. Its key differs only in what
            # a failing key gives: "" (one shared bucket) instead of "false".
            keyed = (ConcurrencyLimit(limit=rc.limit, key=run_key),) if run_key else ()
            fn_limit = 0 if run_key else rc.limit
        self.has_conc = bool(keyed) or fn_limit > 0
        self.limit = keyed[0].limit if keyed else fn_limit
        self.fn_cap = fn_limit if keyed else 0
        self.fn_first = bool(keyed) and keyed[0].scope == "fn"
        self.ck_src = keyed[0].key if keyed else None
        self.ckey = CompiledExpr(keyed[0].key) if keyed and keyed[0].key else None
        self.group_src = group_src
        self.gexpr = CompiledExpr(group_src) if group_src else None
        self.group_is_ck = bool(group_src) and group_src == self.ck_src and run_key is None
        ck = self.ckey
        self.ck_memo = _key_memo(ck) if run_key is None or ck is None else _Memo(
            ck, lambda act: ck.key(act, on_error=""), is_key=True)
        self.g_memo = _key_memo(self.gexpr)
        self.t_memo = _key_memo(self.tkey)
        prio = self.prio
        self.p_memo = None if prio is None else _Memo(
            prio, lambda act: priority_factor(prio, act, low, high))
        self.counts: dict[str, int] = {}
        self.backlogs: dict[tuple[str, str], _Backlog] = {}
        self.gates: dict[tuple[str, str], _Gate] = {}
        self.ready: deque[_Backlog] = deque()
        self.timers: list[tuple[int, int, int, Any]] = []
        self.seq = 0
        # Runs in progress, by end time: every run lasts ``duration`` and starts no
        # earlier than the one before, so they end in the order they started (a FIFO;
        # the general path's heap, ordered by (end, seq), gives the same order).
        self.ends: deque[tuple[int, _Grp, str]] = deque()
        self.groups: dict[str, _Grp] = {}
        self.stats: dict[tuple[str, str], Stats] = {}
        self.peak_fn = 0  # the most runs at once (``len(self.ends)`` is how many now)
        # Event ids of the last 24 h (the controller's idempotency on ids): the dict to
        # look up (id -> when it expires), the deque of the same ids in the same order to
        # expire the oldest in O(1) (an id is in the dict at most once, so the deque
        # needs no instants of its own).
        self.seen: dict[str, int] = {}
        self.seen_q: deque[str] = deque()
        self.seen_next = 0
        self.t = 0  # the simulator's instant (the clock never goes below 0)

    # -- runs starting and ending ----------------------------------------------------

    def started(self, created: int, g: _Grp, ckey: str) -> None:
        t = self.t
        st = g.st
        st.runs_started += 1
        st.latencies.append(t - created)
        n = g.running + 1
        g.running = n
        if n > g.peak:
            g.peak = n
        ends = self.ends
        ends.append((t + self.duration, g, ckey))
        if len(ends) > self.peak_fn:
            self.peak_fn = len(ends)

    def timer(self, at: int, kind: int, obj: Any) -> None:
        self.seq += 1
        heapq.heappush(self.timers, (at, self.seq, kind, obj))

    # -- admission (flowcontrol.controller.admission, reduced) ---------------------------------

    def enqueue(self, score: int, created: int, g: _Grp, tkey: str, ckey: str) -> None:
        bkey = (tkey, ckey)
        b = self.backlogs.get(bkey)
        if b is None:
            b = self.backlogs[bkey] = _Backlog(bkey, tkey, ckey)
        self.seq += 1
        heapq.heappush(b.heap, (score, self.seq, created, g))
        b.live += 1
        st = b.state
        if st == _IDLE or (st == _ASLEEP and score < b.timer_at):
            b.state = _READY
            self.ready.append(b)

    def pump(self, now: int) -> None:
        ready = self.ready
        while ready:
            self.attempt(ready.popleft(), now)

    def attempt(self, b: _Backlog, now: int) -> None:
        heap = b.heap
        if not heap:
            self.retire(b)
            return
        score = heap[0][0]
        if score > now:
            b.state = _ASLEEP
            b.timer_at = score
            self.timer(score, _T_BACKLOG, b)
            self.pass_on(b)
            return
        if self.has_conc:
            full = self.counts.get(b.ckey, 0) >= self.limit
            cap = self.fn_cap
            if cap and len(self.ends) >= cap and (self.fn_first or not full):
                self.park(b, _FN_GATE, None)
                return
            if full:
                self.park(b, ("c", b.ckey), None)
                return
        if self.has_th:
            retry = self.t_acquire(b.tkey, now)
            if retry:
                self.park(b, ("t", b.tkey), retry)
                return
        if self.has_conc:
            self.counts[b.ckey] = self.counts.get(b.ckey, 0) + 1
        _, _, created, g = heapq.heappop(heap)
        b.live -= 1
        self.started(created, g, b.ckey)
        wb = b.woken_by
        b.woken_by = None
        if b.live:
            b.state = _READY
            self.ready.append(b)
        else:
            self.retire(b)
        if wb is not None:
            self.wake_one(wb)

    def t_acquire(self, tkey: str, now: int) -> int | None:
        """Take one start from throttle key ``tkey`` at ``now``: None if admitted, else the
        ``retry_at`` the machine gives (the key is unchanged then)."""
        scale = self.t_scale
        snow = now if scale == 1 else now * scale
        ats = self.t_at
        at = ats.get(tkey)
        if at is not None:
            if at > snow:
                return at if scale == 1 else -(-at // scale)
            if at > snow - self.t_lead:  # not idle
                ats[tkey] = at + self.t_step
                return None
        # A new or idle key: full capacity.
        if snow >= self.t_sweep_at and len(ats) > _SWEEP_MIN:
            self.t_sweep(snow)
        ats[tkey] = snow + self.t_refill
        return None

    def t_sweep(self, snow: int) -> None:
        """Drop the idle throttle keys (as the machine's sweep: at most once per DVT, and
        only when the table holds more than ``_SWEEP_MIN`` keys)."""
        fresh = snow - self.t_lead
        ats = self.t_at
        kept = {k: v for k, v in ats.items() if v > fresh}
        ats.clear()  # in place (the loop holds the dict); clear() frees the old table
        ats.update(kept)
        self.t_sweep_at = snow + self.t_dvt

    def park(self, b: _Backlog, gid: tuple[str, str], retry_at: int | None) -> None:
        g = self.gates.get(gid)
        if g is None:
            g = self.gates[gid] = _Gate(gid)
        b.state = _PARKED
        b.gate = g
        wb = b.woken_by
        b.woken_by = None
        if wb is not None and wb.id == gid:
            g.waiters.appendleft(b)
        else:
            g.waiters.append(b)
            if wb is not None:
                self.wake_one(wb)
        if retry_at is not None and (g.timer_at is None or retry_at < g.timer_at):
            g.timer_at = retry_at
            self.timer(retry_at, _T_GATE, g)

    def pass_on(self, b: _Backlog) -> None:
        wb = b.woken_by
        b.woken_by = None
        if wb is not None:
            self.wake_one(wb)

    def wake_one(self, g: _Gate) -> None:
        gates = self.gates
        g = gates.get(g.id, g)
        if g.waiters:
            w = g.waiters.popleft()
            w.state = _READY
            w.gate = None
            w.woken_by = g
            self.ready.append(w)
        if not g.waiters and g.timer_at is None and gates.get(g.id) is g:
            del gates[g.id]

    def retire(self, b: _Backlog) -> None:
        if b.live == 0 and self.backlogs.get(b.key) is b:
            del self.backlogs[b.key]
        b.state = _IDLE
        self.pass_on(b)

    # -- timers ----------------------------------------------------------------------

    def next_deadline(self) -> int | None:
        timers = self.timers
        while timers:
            at, _, kind, obj = timers[0]
            if (kind == _T_GATE and obj.timer_at != at) or (
                kind == _T_BACKLOG and (obj.state != _ASLEEP or obj.timer_at != at)
            ):
                heapq.heappop(timers)
                continue
            return at
        return None

    def poll(self, now: int) -> None:
        timers = self.timers
        while timers and timers[0][0] <= now:
            at, _, kind, obj = heapq.heappop(timers)
            if kind == _T_GATE:
                if obj.timer_at == at:
                    obj.timer_at = None
                    self.wake_one(obj)
            elif kind == _T_BACKLOG:
                if obj.state == _ASLEEP and obj.timer_at == at:
                    obj.state = _READY
                    self.ready.append(obj)
            else:
                self.enqueue(*obj)
        self.pump(now)

    # -- inputs ----------------------------------------------------------------------

    def expire(self, now: int) -> None:
        """Forget the event ids seen 24 h ago or earlier."""
        seen = self.seen
        q = self.seen_q
        while q:
            e = q[0]
            oldest = seen[e]
            if oldest > now:
                self.seen_next = oldest
                break
            q.popleft()
            del seen[e]

    def mark(self, eid: str, now: int) -> None:
        """The limiter admitted ``eid``: mark it for the idempotency window."""
        if self.m_ttl:
            at = now + self.m_ttl
            self.marks[eid] = at
            self.marks_q.append((at, eid))
            if now >= self.marks_sweep:
                self.expire_marks(now)

    def expire_marks(self, now: int) -> None:
        """Forget the idempotency marks expired by ``now`` (the next sweep in 1/16 of the
        window)."""
        marks = self.marks
        q = self.marks_q
        while q and q[0][0] <= now:
            at, eid = q.popleft()
            if marks.get(eid) == at:
                del marks[eid]
        self.marks_sweep = now + max(self.m_ttl >> 4, 1)

    def rate_limited(self, rkey: Any, eid: str, now: int) -> bool:
        """``RateLimit.acquire(rkey, idempotency_key=eid)`` refuses (the machine's marks
        inlined; ``rkey`` is not ``ERROR``)."""
        at = self.marks.get(eid)
        if at is not None and at > now:
            return False  # admitted within the window: let through, not charged
        assert self.rl is not None
        self.now = now
        if not self.rl.acquire(rkey).allowed:
            return True
        self.mark(eid, now)
        return False

    def group(self, key: str) -> _Grp:
        g = self.groups.get(key)
        if g is None:
            st = self.stats[(self.fn_id, key)] = Stats()
            g = self.groups[key] = _Grp(st)
        return g

    def rl_key(self, ev: Mapping[str, Any], data: Any, box: list[dict[str, Any]]) -> Any:
        """The event's rate limit key (None: not limited; ``ERROR``: refused)."""
        rk = self.rl_expr
        if rk is None:
            return self.fn_id
        if rk.is_constant:
            k = self.rl_const
        else:
            assert self.rl_memo is not None
            k = self.rl_memo.value(data, ev, box)
        return self.fn_id + "-" + k if isinstance(k, str) else k

    def event(self, ev: Mapping[str, Any], now: int) -> None:
        """One matching event: validated as the controller does, then its run scheduled."""
        name = ev.get("name")
        if type(name) is not str or not name:
            raise ValueError(f"event.name must be a non-empty string, got {name!r}")
        data = ev.get("data")
        if data is not None and type(data) is not dict and not isinstance(data, Mapping):
            raise ValueError(f"event.data must be an object, got {type(data).__name__}")
        eid = ev.get("id")
        if type(eid) is not str:
            raise ValueError(f"event.id must be a string, got {eid!r}")
        ts = ev["ts"]
        if type(ts) is int and not -_FLOAT_MAX < ts < _FLOAT_MAX:
            float(ts)  # raises OverflowError, as building the activation does
        box: list[dict[str, Any]] = []  # the activation, once built
        ck, ge, pm, tm = self.ck_memo, self.g_memo, self.p_memo, self.t_memo
        ckey = "" if ck is None else ck.value(data, ev, box)
        gkey = ckey if self.group_is_ck else "" if ge is None else ge.value(data, ev, box)
        g = self.group(gkey)
        st = g.st
        st.events_in += 1
        if self.rl is not None:
            rkey = self.rl_key(ev, data, box)
            if rkey is not None and (rkey is ERROR or self.rate_limited(rkey, eid, now)):
                st.outcomes["dropped"] += 1
                return
        seen = self.seen
        if now >= self.seen_next:
            self.expire(now)
        if eid in seen:
            st.outcomes["skipped"] += 1
            return
        if not seen:
            self.seen_next = now + _WINDOW
        seen[eid] = now + _WINDOW
        self.seen_q.append(eid)
        st.outcomes["run"] += 1
        st.runs += 1
        factor = 0 if pm is None else pm.value(data, ev, box)
        tk = self.tkey
        if tk is None:
            tkey = ""
        elif tk.is_constant:
            tkey = tk.constant_key
        else:
            assert tm is not None
            tkey = tm.value(data, ev, box)
        ts_ns = int(ts) * NS_PER_MS
        if ts_ns > now:  # created at its ts, queued from then (its latency counts from now)
            self.timer(ts_ns, _T_ENQUEUE, (ts_ns - factor * NS_PER_S, now, g, tkey, ckey))
            return
        score = now - factor * NS_PER_S
        if score <= now and not self.ready and (tkey, ckey) not in self.backlogs:
            ok = not self.has_conc or (self.counts.get(ckey, 0) < self.limit and (
                not self.fn_cap or len(self.ends) < self.fn_cap))
            if ok and (not self.has_th or not self.t_acquire(tkey, now)):
                if self.has_conc:
                    self.counts[ckey] = self.counts.get(ckey, 0) + 1
                self.started(now, g, ckey)
                return
        self.enqueue(score, now, g, tkey, ckey)
        if self.ready:
            self.pump(now)

    # -- the loop (flowcontrol.sim.simulate's, with the same order at each instant) -------

    def loop(self, it: Iterator[Mapping[str, Any]], names: set[str],
             progress: Callable[[int, int], None] | None, total: int) -> tuple[int, int, int]:
        """Replay ``it`` (events in ``ts`` order, read lazily): (unmatched, start, end).

        Events are read as ``flowcontrol.sim.simulate`` reads a presorted trace: a missing
        ``ts`` is the previous event's, a missing or empty ``id`` is ``evt-<position>``,
        and a ``ts`` going backwards is a ValueError.
        """
        ends = self.ends
        popleft = ends.popleft
        unmatched = 0
        every = max(1, total // 100) if total else 10_000
        has_conc = self.has_conc
        fn_cap = self.fn_cap
        inf, window, ns_ms, ns_s, fmax = _INF, _WINDOW, NS_PER_MS, NS_PER_S, _FLOAT_MAX
        seen = self.seen
        seen_q = self.seen_q
        groups = self.groups
        ready = self.ready
        backlogs = self.backlogs
        counts = self.counts
        gates = self.gates
        limit = self.limit
        has_th = self.has_th
        timers = self.timers
        t_scale = self.t_scale
        t_step = self.t_step
        t_lead = self.t_lead
        t_at = self.t_at
        duration = self.duration
        group_is_ck = self.group_is_ck

        def single(m: _Memo | None) -> tuple[str | None, dict[Any, Any]]:
            """The one data field an expression reads and its memo, or None."""
            if m is None or m.names is None or len(m.names) != 1:
                return None, {}
            return m.names[0], m.memo

        ck_name, ck_memo = single(self.ck_memo)
        g_name, g_memo = single(None if group_is_ck else self.g_memo)
        p_name, p_memo = single(self.p_memo)
        t_name, t_memo = single(self.t_memo)
        rl = self.rl
        rl_name, rl_memo = single(self.rl_memo)
        marks, marks_q, m_ttl = self.marks, self.marks_q, self.m_ttl
        fn_id = self.fn_id
        rl_fixed: Any = None  # the key of every event, without a key read from the event
        if rl is not None and (self.rl_expr is None or self.rl_expr.is_constant):
            rl_fixed = self.rl_key({}, {}, [])
        rk: Any = None
        tk = self.tkey
        t_const = "" if tk is None else tk.constant_key
        slow = (
            (self.ck_memo is not None and ck_name is None)
            or (not group_is_ck and self.g_memo is not None and g_name is None)
            or (self.p_memo is not None and p_name is None)
            or (tk is not None and not tk.is_constant and t_name is None)
            or (self.rl_memo is not None and rl_name is None)
        )
        ckey: Any
        gkey: Any
        factor: Any
        tkey: Any
        g: Any
        # The next arrival, read ahead: its instant ``n_t`` (``inf`` when none is left),
        # the event, its ts and id; ``pos`` events read so far.
        n_ev: Any = next(it, None)
        pos = 0
        n_ts: Any = 0
        n_eid: Any = None
        if n_ev is None:
            n_t = inf
            start = 0
        else:
            pos = 1
            n_t, n_ev, n_ts = read_event(1, n_ev, 0)
            n_eid = n_ev.get("id")
            start = n_t
        prev = n_t if n_t < inf else 0
        cur = start if start > 0 else 0
        while True:
            t_heap = ends[0][0] if ends else inf
            if timers:  # next_deadline(), with a live first timer checked inline
                t_ctl, _, kind, obj = timers[0]
                if not (kind == _T_GATE and obj.timer_at == t_ctl) and not (
                    kind == _T_BACKLOG and obj.state == _ASLEEP and obj.timer_at == t_ctl
                ) and kind != _T_ENQUEUE:
                    dl = self.next_deadline()
                    t_ctl = dl if dl is not None else inf
            else:
                t_ctl = inf
            t = n_t if n_t < t_heap else t_heap
            if t_ctl < t:
                t = t_ctl
            if t >= inf:
                break
            if t > cur:
                cur = t
            self.t = t
            if t_ctl <= t:
                self.poll(cur)
            while ends and ends[0][0] <= t:
                _, g, ckey = popleft()
                g.running -= 1
                if has_conc:  # release(ckey), inlined
                    counts[ckey] -= 1
                    if gates:
                        if fn_cap:
                            gt = gates.get(_FN_GATE)
                            if gt is not None and gt.waiters:
                                self.wake_one(gt)
                        gt = gates.get(("c", ckey))
                        if gt is not None and gt.waiters:
                            self.wake_one(gt)
                if ready:
                    self.pump(cur)
                g.done += 1
            while n_t < inf:
                if n_t > t:
                    # The next arrival comes before any end or timer (a stale first timer
                    # counts too): move on to its instant here, as the outer loop would
                    # (nothing to poll, no end due), without the outer loop's work.
                    if (ends and ends[0][0] <= n_t) or (timers and timers[0][0] <= n_t):
                        break
                    t = n_t
                    if t > cur:
                        cur = t
                    self.t = t
                ev = n_ev
                ts = n_ts
                eid = n_eid
                n_ev = next(it, None)  # read the next arrival (simulate's _in_order, inline)
                if n_ev is None:
                    n_t = inf
                else:
                    pos += 1
                    try:
                        n_ts = n_ev["ts"]
                        n_eid = n_ev["id"]
                    except (KeyError, TypeError):  # read_event says what is wrong
                        n_ts = n_eid = None
                    if type(n_ts) is int and type(n_eid) is str and n_eid:
                        n_t = n_ts * ns_ms
                    else:
                        n_t, n_ev, n_ts = read_event(pos, n_ev, ts)
                        n_eid = n_ev.get("id")
                    if n_t < prev:
                        raise ValueError(f"event {pos}: ts goes backwards in a presorted trace")
                    prev = n_t
                if progress is not None and (pos - (n_ev is not None)) % every == 0:
                    progress(pos - (n_ev is not None), total)
                name = ev.get("name")
                if name not in names:
                    unmatched += 1
                    continue
                # The common case inline: every check first, then the same changes as
                # ``event`` makes; anything unusual goes to ``event`` with nothing changed
                # (but old event ids expired, which ``event`` does first anyway).
                data = ev.get("data")
                if (slow or type(ts) is not int or type(data) is not dict
                        or type(eid) is not str or type(name) is not str
                        or not -fmax < ts < fmax or not seen):
                    self.event(ev, cur)
                    continue
                if cur >= self.seen_next:
                    self.expire(cur)
                if eid in seen or not seen:
                    self.event(ev, cur)
                    continue
                try:  # the keys from the memos (a miss, or a value not a str: ``event``)
                    ckey = "" if ck_name is None else ck_memo[data[ck_name]]
                    if g_name is not None:
                        gkey = g_memo[data[g_name]]
                    else:
                        gkey = ckey if group_is_ck else ""
                    factor = 0 if p_name is None else p_memo[data[p_name]]
                    tkey = t_const if t_name is None else t_memo[data[t_name]]
                    g = groups[gkey]  # (an int ts is never in the future: its instant is t)
                    if rl_name is not None:
                        rk = rl_memo[data[rl_name]]
                except (KeyError, TypeError):
                    self.event(ev, cur)
                    continue
                if rl is not None:
                    if rl_name is not None:
                        rk = fn_id + "-" + rk if type(rk) is str else rk
                    else:
                        rk = rl_fixed
                    if rk is not None:
                        if marks and eid in marks:  # maybe a repeat: ``event`` decides
                            self.event(ev, cur)
                            continue
                        self.now = cur
                        if rk is ERROR or not rl.acquire(rk).allowed:
                            st = g.st
                            st.events_in += 1
                            st.outcomes["dropped"] += 1
                            continue
                        if m_ttl:  # self.mark(eid, cur), inlined
                            marks[eid] = until = cur + m_ttl
                            marks_q.append((until, eid))
                            if cur >= self.marks_sweep:
                                self.expire_marks(cur)
                seen[eid] = cur + window
                seen_q.append(eid)
                score = cur - factor * ns_s
                if score <= cur and not ready and (
                    not backlogs or (tkey, ckey) not in backlogs) and (
                    not has_conc or ((running := counts.get(ckey, 0)) < limit
                                     and (not fn_cap or len(ends) < fn_cap))
                ):
                    if has_th:  # self.t_acquire(tkey, cur), inlined for a live key
                        snow = cur * t_scale
                        at = t_at.get(tkey)
                        if at is None or at <= snow - t_lead:
                            self.t_acquire(tkey, cur)  # new or idle: the sweep's turn
                        elif at > snow:
                            self.enqueued(score, cur, g, tkey, ckey)
                            continue
                        else:
                            t_at[tkey] = at + t_step
                    if has_conc:
                        counts[ckey] = running + 1
                    g.fast += 1  # events_in, outcomes["run"], runs, runs_started: fold()
                    g.st.latencies.append(t - cur)
                    n = g.running + 1
                    g.running = n
                    if n > g.peak:
                        g.peak = n
                    ends.append((t + duration, g, ckey))
                    if len(ends) > self.peak_fn:
                        self.peak_fn = len(ends)
                    continue
                self.enqueued(score, cur, g, tkey, ckey)
        if progress is not None:
            progress(pos, total or pos)
        for g in groups.values():
            g.fold()
        return unmatched, start, cur

    def enqueued(self, score: int, now: int, g: _Grp, tkey: str, ckey: str) -> None:
        """A new run that cannot start at once: counted, queued, and the line pumped."""
        st = g.st
        st.events_in += 1
        st.outcomes["run"] += 1
        st.runs += 1
        self.enqueue(score, now, g, tkey, ckey)
        if self.ready:
            self.pump(now)


def read_event(pos: int, ev: Mapping[str, Any], last: Any) -> tuple[int, Mapping[str, Any], Any]:
    """The arrival instant, event and ts of the ``pos``-th event (from 1) as the simulator
    reads a trace: a missing ``ts`` is ``last`` (the one before's), a missing or empty
    ``id`` is ``evt-<pos>``. Raises ValueError for a ``ts`` that is not a number."""
    ts = ev.get("ts")
    if ts is None:
        ev = {**ev, "ts": last}
        ts = last
    elif (type(ts) is not int and type(ts) is not float) and (
        not isinstance(ts, int | float) or isinstance(ts, bool)
    ):
        raise ValueError(f"event {pos}: ts must be a number of milliseconds, got {ts!r}")
    if ev.get("id") in (None, ""):
        ev = {**ev, "id": f"evt-{pos}"}
    return round(ts * NS_PER_MS), ev, ts


def run_lean(
    cfg: FunctionConfig,
    duration: int,
    group_src: str,
    events: Iterator[Mapping[str, Any]],
    priority_range: tuple[int, int],
    progress: Callable[[int, int], None] | None,
    total: int,
) -> LeanResult:
    """Run the lean pipeline over ``events`` (in ``ts`` order, read lazily)."""
    sim = _Lean(cfg, duration, group_src, priority_range)
    unmatched, start, end = sim.loop(events, set(cfg.events), progress, total)
    return LeanResult(sim.stats, {cfg.id: sim.peak_fn}, unmatched, start, end)
