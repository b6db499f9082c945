"""Queueing and admission: backlogs that wait on the constraint that refused them.

A mixin of ``FlowControl`` (internal). Work enters a backlog (``_enqueue``); ``_pump``
tries every ready backlog once: its head item starts if it is due (priority score), every
concurrency constraint has a slot and, for a start, the run-level limit has a slot and the
throttle admits it, all or nothing (checked in that order: the concurrency leases and the
run slot can be given back, a throttle token cannot; the platform's constraint API takes
them in one atomic acquire). Otherwise the backlog *parks* on the one constraint that
refused it (a gate), or sleeps until its head's score. Capacity coming back (a lease
released, a run ending and giving back its run slot, a throttle's ``retry_at``) wakes one
waiter of that gate; a waiter that does not use the capacity passes it on, so no wake-up
is lost and nothing waits that could go.

A concurrency gate is a counter *and* the limit that refused (``_Gate``): functions that
share an ``env``/``account`` key with different limits (each checks the shared counter
against its own limit, spec 2.3) wait in separate lines. A release wakes one waiter of
every gate on the counter whose limit is above the counter's usage, stricter limits
first: a stricter one that gets in leaves usage below every laxer limit, so each woken
waiter can go (the other order could use up the stricter limit's slot). A counter with
one limit (every ``fn``-scoped one) has one gate and costs what a single line did: its
waiter is woken without reading the usage (if it cannot go it keeps its place).

Fairness: a backlog that got a slot and has more work goes to the back of the ready
line; one that lost to the same constraint again keeps its place (``push_front``). The
gate's wait queue comes from the ``WaitQueuePolicy`` (round robin by default).
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import Any

from flowcontrol.controller.decisions import Decision, Hold, run_started, step_started
from flowcontrol.controller.fairness import WaitQueuePolicy
from flowcontrol.controller.runtime import (
    _ASLEEP,
    _IDLE,
    _PARKED,
    _QUEUED,
    _READY,
    _RUNNING,
    _STEP_QUEUED,
    _T_BACKLOG,
    _T_FINISH_TIMEOUT,
    _T_GATE,
    _Backlog,
    _counter_id,
    _counter_ids,
    _Gate,
    _Run,
)
from flowcontrol.machines.concurrency import Concurrency, ConcurrencyUsage
from flowcontrol.machines.semaphore import RunSemaphore
from flowcontrol.time import NS_PER_S

__all__ = ["Admission"]


class Admission:
    """The admission half of ``FlowControl``: backlogs, gates and the ready line."""

    _backlogs: dict[tuple[Any, ...], _Backlog]
    _conc: Concurrency
    _sem: RunSemaphore
    _cgates: dict[tuple[str, ...], list[_Gate]]
    _mixed: frozenset[tuple[str, ...]]
    _gates: dict[tuple[Any, ...], _Gate]
    _out: list[Decision]
    _policy: WaitQueuePolicy
    _ready: deque[_Backlog]
    _seq: int
    _timers: list[tuple[int, int, int, Any]]

    def _timer(self, at: int, kind: int, obj: Any) -> None:
        self._seq += 1
        heapq.heappush(self._timers, (at, self._seq, kind, obj))

    def _enqueue(self, run: _Run, start: bool, now: int) -> None:
        fn = run.fn
        bkey = (fn.index, True, run.tkey, run.ckeys, run.rkey) if start else (
            fn.index, False, "", run.ckeys, None)
        b = self._backlogs.get(bkey)
        if b is None:
            b = (_Backlog(bkey, fn, True, run.tkey, run.ckeys, run.rkey) if start
                 else _Backlog(bkey, fn, False, "", run.ckeys))
            self._backlogs[bkey] = b
        self._seq += 1
        heapq.heappush(b.heap, (run.score, self._seq, run))
        b.live += 1
        run.backlog = b
        st = b.state
        if st == _IDLE or (st == _ASLEEP and run.score < b.timer_at):
            b.state = _READY
            self._ready.append(b)

    def _unqueue(self, run: _Run) -> None:
        b = run.backlog
        if b is not None:
            b.live -= 1
            run.backlog = None

    def _pump(self, now: int) -> None:
        ready = self._ready
        while ready:
            b = ready.popleft()
            self._attempt(b, now)

    def _attempt(self, b: _Backlog, now: int) -> None:
        heap = b.heap
        want = _QUEUED if b.start else _STEP_QUEUED
        while heap:
            run = heap[0][2]
            if run.state == want and run.backlog is b:
                break
            heapq.heappop(heap)
        else:
            self._retire(b)
            return
        score = heap[0][0]
        if score > now:
            b.state = _ASLEEP
            b.timer_at = score
            b.hold = Hold("priority", None, None, None, now, score)
            self._timer(score, _T_BACKLOG, b)
            self._pass_on(b)
            return
        fn = b.fn
        lease: Any = None
        if fn.has_conc:
            res: Any = self._conc.acquire(fn.id, b.ckeys)
            if not res.ok:
                u = res.blocking[0]
                b.hold = Hold("concurrency", u.key, u.in_use, u.limit, now, None, u.scope)
                cid = _counter_id(fn.id, u)
                self._park(b, (*cid, u.limit), None, cid, u)
                return
            lease = res
        if b.start and fn.run_limit is not None:
            sem = self._sem.acquire(fn.id, b.rkey, run.id)
            if not sem.ok:
                if lease is not None:
                    self._conc.release(lease)
                u = sem.usage  # type: ignore[union-attr]
                b.hold = Hold("run concurrency", u.key, u.in_use, u.limit, now)
                self._park(b, ("s", u.counter), None)
                return
        if b.start and fn.throttle is not None:
            d = fn.throttle.acquire(b.tkey)
            if not d.allowed:
                if lease is not None:
                    self._conc.release(lease)
                if fn.run_limit is not None:
                    self._sem.release(run.id)
                retry = d.retry_at if d.retry_at is not None else now + NS_PER_S
                b.hold = Hold("throttle", b.tkey or None, None, fn.throttle.capacity, now, retry)
                self._park(b, ("t", fn.id, b.tkey), retry)
                return
        heapq.heappop(heap)
        b.live -= 1
        run.lease = lease
        run.backlog = None
        run.last_hold = b.hold
        run.state = _RUNNING
        if b.start:
            run.started_at = now
            self._out.append(run_started(run.id, fn.id, run.event_ids, run.created_at, now))
            if fn.finish_timeout is not None:
                self._timer(now + fn.finish_timeout, _T_FINISH_TIMEOUT, run)
        else:
            self._out.append(step_started(run.id, fn.id, now))
        wb = b.woken_by
        b.woken_by = None
        if b.live:
            b.state = _READY
            self._ready.append(b)
        else:
            self._retire(b)
        if wb is not None:
            self._wake_one(wb)

    def _start_now(self, run: _Run, now: int) -> bool:
        """The uncontended fast path of a new, due run whose backlog is empty and with
        nothing else ready: what ``_enqueue`` and ``_attempt`` would do when every
        constraint admits it, without building the backlog. False (nothing changed) if a
        constraint refuses; the caller then takes the general path."""
        fn = run.fn
        lease: Any = None
        if fn.has_conc:
            lease = self._conc.acquire(fn.id, run.ckeys)
            if not lease.ok:
                return False
        if fn.run_limit is not None and not self._sem.acquire(fn.id, run.rkey, run.id).ok:
            if lease is not None:
                self._conc.release(lease)
            return False
        if fn.throttle is not None and not fn.throttle.acquire(run.tkey).allowed:
            if lease is not None:
                self._conc.release(lease)
            if fn.run_limit is not None:
                self._sem.release(run.id)
            return False
        run.lease = lease
        run.state = _RUNNING
        run.started_at = now
        self._out.append(run_started(run.id, fn.id, run.event_ids, run.created_at, now))
        if fn.finish_timeout is not None:
            self._timer(now + fn.finish_timeout, _T_FINISH_TIMEOUT, run)
        return True

    def _park(
        self,
        b: _Backlog,
        gid: tuple[Any, ...],
        retry_at: int | None,
        cid: tuple[str, ...] | None = None,
        usage: ConcurrencyUsage | None = None,
    ) -> None:
        """Park ``b`` on gate ``gid``: a throttle key, or counter ``cid`` at the limit of
        ``usage`` (the refusing constraint)."""
        g = self._gates.get(gid)
        if g is None:
            g = _Gate(gid, self._policy.new_queue())
            self._gates[gid] = g
            if cid is not None and usage is not None:
                self._open_counter_gate(g, cid, usage, b)
        b.state = _PARKED
        b.gate = g
        wb = b.woken_by
        b.woken_by = None
        # Compare ids: an emptied gate is dropped and a new one made for the same id.
        if wb is not None and wb.id == gid:
            g.waiters.push_front(b)  # lost to the same constraint again: keeps its turn
        else:
            g.waiters.push(b)
            if wb is not None:
                self._wake_one(wb)
        if retry_at is not None and (g.timer_at is None or retry_at < g.timer_at):
            g.timer_at = retry_at
            self._timer(retry_at, _T_GATE, g)

    def _open_counter_gate(
        self, g: _Gate, cid: tuple[str, ...], u: ConcurrencyUsage, b: _Backlog
    ) -> None:
        """Index a new concurrency gate under its counter, in ascending limit order."""
        g.cid = cid
        g.limit = u.limit
        g.counter = u.counter
        g.probe = (b.fn.id, b.ckeys)
        g.mixed = cid[:-1] in self._mixed
        gl = self._cgates.get(cid)
        if gl is None:
            self._cgates[cid] = [g]
            return
        i = 0
        while i < len(gl) and gl[i].limit < g.limit:
            i += 1
        gl.insert(i, g)

    def _close_counter_gate(self, g: _Gate) -> None:
        assert g.cid is not None
        gl = self._cgates[g.cid]
        if len(gl) == 1:
            del self._cgates[g.cid]
        else:
            gl.remove(g)

    def _wake_limits(self, gl: list[_Gate]) -> None:
        """A slot of a counter with several limits freed: wake one waiter of each gate
        whose limit is above the counter's usage now, the stricter first (module doc)."""
        first = gl[0]
        fn_id, keys = first.probe
        in_use = 0
        for u in self._conc.in_use(fn_id, keys):
            if u.counter == first.counter:
                in_use = u.in_use
                break
        for g in tuple(gl):  # waking may close a gate (and change the list)
            if in_use < g.limit:
                self._wake_one(g)

    def _pass_on(self, b: _Backlog) -> None:
        """b was woken but did not use the capacity: wake the next waiter."""
        wb = b.woken_by
        b.woken_by = None
        if wb is not None:
            self._wake_one(wb)

    def _wake_one(self, g: _Gate) -> None:
        """Move the next waiter of gate ``g`` (by id: it may have been replaced) to ready."""
        g = self._gates.get(g.id, g)
        if g.waiters:
            w = g.waiters.pop()
            w.state = _READY
            w.gate = None
            w.woken_by = g
            self._ready.append(w)
        if not g.waiters and g.timer_at is None and self._gates.get(g.id) is g:
            del self._gates[g.id]
            if g.cid is not None:
                self._close_counter_gate(g)

    def _retire(self, b: _Backlog) -> None:
        if b.live == 0 and self._backlogs.get(b.key) is b:
            del self._backlogs[b.key]
        b.state = _IDLE
        self._pass_on(b)

    def _release_run_slot(self, run: _Run) -> None:
        """The run has ended: give back its run-limit slot (if it holds one) and wake
        one start waiting on that counter."""
        cid = self._sem.release(run.id)
        if cid is not None:
            g = self._gates.get(("s", cid))
            if g is not None:
                self._wake_one(g)

    def _release(self, run: _Run) -> None:
        lease = run.lease
        if lease is None:
            return
        run.lease = None
        self._conc.release(lease)
        cgates = self._cgates
        if cgates:
            for cid in _counter_ids(run.fn, run.ckeys):
                gl = cgates.get(cid)
                if gl is not None:
                    if len(gl) == 1 and not gl[0].mixed:
                        self._wake_one(gl[0])
                    else:
                        self._wake_limits(gl)

