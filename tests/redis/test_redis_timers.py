"""RedisDebounce, RedisBatcher and RedisPriorityQueue: flavours, clocks, keys, refusals.

The answers themselves are compared with the in-memory machines by the Hypothesis
tests in ``test_redis_timers_equivalence.py``; here: the asyncio classes give the same
answers, the server's clock, what stays on Redis (deleted when handed out, no TTLs,
one Cluster slot per machine), a flushed script cache, clients that decode replies,
and the arguments Redis cannot hold exactly being refused before anything is written.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster

from flowcontrol.machines.batch import Batcher
from flowcontrol.machines.debounce import Debounce
from flowcontrol.machines.priority import PriorityQueue
from flowcontrol.redis.batch import AsyncRedisBatcher, RedisBatcher
from flowcontrol.redis.debounce import AsyncRedisDebounce, RedisDebounce
from flowcontrol.redis.priority import AsyncRedisPriorityQueue, RedisPriorityQueue
from flowcontrol.time import ManualClock

S = 1_000_000_000
T0 = 1_765_432_101_234_567_891  # an instant no double holds exactly


def debounce_script(d: Any, clock: ManualClock) -> list[Any]:
    """A fixed run through every method; each answer as returned."""
    out = [d.push("k", "e1", payload={"n": [1, 2.5, None]}), d.push("j", "e2")]
    clock.advance(3 * S)
    out += [d.push("k", "e3", ts=T0 - 1), d.push("k", "e4", payload="p"), d.fire_at("k"),
            d.next_deadline(), d.active_keys()]
    clock.advance(12 * S)
    out += [d.push("j", "e5"), d.snapshot(), d.poll(), d.cancel("j"), d.cancel("k"),
            d.active_keys(), d.snapshot()]
    return out


def batch_script(b: Any, clock: ManualClock) -> list[Any]:
    out = [b.add("k", "e1", 3), b.add("j", "e2"), b.add("k", "e1"), b.add("k", "e3", 99)]
    clock.advance(3 * S)
    out += [b.add("k", "e4"), b.pending("k"), b.next_deadline(), b.active_keys(),
            b.dedupe_size()]
    clock.advance(10 * S)
    out += [b.add("j", "e5"), b.snapshot(), b.poll(), b.flush("j"), b.prune(),
            b.dedupe_size(), b.snapshot()]
    return out


def priority_script(q: Any, clock: ManualClock) -> list[Any]:
    out = [q.push("a"), q.push("b", factor=700), q.push("c", T0 - 10 * S, -5),
           q.push("d", at=T0 + 5 * S, kind="sleep"), q.peek(), q.next_deadline()]
    out += [q.pop(), q.remove("c"), q.prune(), q.get("d"), q.items()]
    clock.advance(10 * S)
    out += [q.snapshot(), q.poll(), q.pop(), q.snapshot()]
    return out


class Awaited:
    """Calls an asyncio machine's methods synchronously inside one running loop."""

    def __init__(self, machine: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.machine, self.loop = machine, loop

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.machine, name)
        return lambda *a, **k: self.loop.run_until_complete(method(*a, **k))


SCRIPTS = {
    "debounce": (debounce_script, lambda c: Debounce("10s", "25s", clock=c),
                 AsyncRedisDebounce, ("10s", "25s")),
    "batch": (batch_script, lambda c: Batcher(3, "10s", 100, clock=c),
              AsyncRedisBatcher, (3, "10s", 100)),
    "priority": (priority_script, lambda c: PriorityQueue(clock=c),
                 AsyncRedisPriorityQueue, ()),
}


@pytest.mark.parametrize("machine", sorted(SCRIPTS))
@pytest.mark.parametrize("where", ["server", "cluster"])
def test_asyncio_classes_answer_as_in_memory(
    machine: str, where: str, request: pytest.FixtureRequest
) -> None:
    script, memory, cls, args = SCRIPTS[machine]
    clock = ManualClock(T0)
    expected = script(memory(clock), clock)
    make = request.getfixturevalue("redis_async" if where == "server" else "cluster_async")
    clock = ManualClock(T0)
    loop = asyncio.new_event_loop()
    try:
        client = make()
        got = script(Awaited(cls(client, "m", *args, clock=clock), loop), clock)
        loop.run_until_complete(client.aclose())
    finally:
        loop.close()
    assert got == expected


def test_without_a_clock_the_servers_time_is_the_clock(redis_client: redis.Redis) -> None:
    d = RedisDebounce(redis_client, "srv", "1s")
    before = time.time_ns()
    fire_at = d.push("k", "e").fire_at
    assert before + S - S // 2 < fire_at < time.time_ns() + S + S // 2
    q = RedisPriorityQueue(redis_client, "srv")
    assert abs(q.push("i").created_at - time.time_ns()) < S // 2
    b = RedisBatcher(redis_client, "srv", 2, "1s")
    assert abs(b.add("k", "e").deadline - S - time.time_ns()) < S // 2  # type: ignore[operator]


def test_handed_out_state_is_deleted_and_nothing_has_a_ttl(redis_client: redis.Redis) -> None:
    clock = ManualClock(T0)
    d = RedisDebounce(redis_client, "m", "10s", clock=clock)
    b = RedisBatcher(redis_client, "m", 2, "10s", clock=clock, dedupe_window=5 * S)
    q = RedisPriorityQueue(redis_client, "m", clock=clock)
    for i in range(20):
        d.push(f"k{i % 4}", f"e{i}", payload={"i": i})
        b.add(f"k{i % 3}", f"e{i}", 10)
        q.push(f"i{i}", factor=i % 5)
    q.remove("i3")
    assert all(redis_client.ttl(k) == -1 for k in redis_client.scan_iter())
    clock.advance(20 * S)
    assert len(d.poll()) == 4 and len(b.poll()) == 2 and len(q.poll()) == 19
    assert b.prune() == 20 and q.prune() == 0
    left = sorted(k.decode() for k in redis_client.scan_iter())
    assert left == sorted(f"{{fc:{kind}:m}}:{part}" for kind in ("debounce", "batch", "priority")
                          for part in ("now", "seq"))


def test_every_key_of_a_machine_is_in_one_cluster_slot(cluster_client: RedisCluster) -> None:
    clock = ManualClock(T0)
    d = RedisDebounce(cluster_client, "m", "10s", clock=clock)
    b = RedisBatcher(cluster_client, "m", 5, "10s", clock=clock)
    q = RedisPriorityQueue(cluster_client, "m", clock=clock)
    for i in range(10):
        d.push(f"k{i}", f"e{i}")
        b.add(f"k{i}", f"e{i}")
        q.push(f"i{i}")
    q.remove("i0")
    for kind, n in (("debounce", 5), ("batch", 8), ("priority", 4)):
        keys = [k for k in cluster_client.keys(target_nodes=RedisCluster.ALL_NODES)
                if k.decode().startswith(f"{{fc:{kind}:m}}")]
        assert len(keys) == n
        assert len({cluster_client.keyslot(k) for k in keys}) == 1


def test_a_flushed_script_cache_is_reloaded(redis_client: redis.Redis) -> None:
    clock = ManualClock(T0)
    d, mem = RedisDebounce(redis_client, "m", "10s", clock=clock), Debounce("10s", clock=clock)
    assert d.push("k", "e1") == mem.push("k", "e1")
    redis_client.script_flush()
    assert d.push("k", "e2") == mem.push("k", "e2")
    clock.advance(10 * S)
    redis_client.script_flush()
    assert d.poll() == mem.poll()


def test_clients_that_decode_replies_get_the_same_answers(redis_server: Any) -> None:
    for decode in (False, True):
        with redis_server.client(decode_responses=decode) as client:
            client.flushall()
            clock = ManualClock(T0)
            for script, memory, cls, args in SCRIPTS.values():
                sync_cls = {AsyncRedisDebounce: RedisDebounce, AsyncRedisBatcher: RedisBatcher,
                            AsyncRedisPriorityQueue: RedisPriorityQueue}[cls]
                mem_clock = ManualClock(T0)
                clock = ManualClock(T0)
                want = script(memory(mem_clock), mem_clock)
                assert script(sync_cls(client, f"d{decode}", *args, clock=clock), clock) == want
            b = RedisBatcher(client, "utf", 3, "1s", clock=clock)
            # Ids are framed by their UTF-8 length; lone surrogates need bytes replies.
            event_id = "é" if decode else "é\ud800x"
            b.add("ключ", event_id)
            assert b.pending("ключ") == (event_id,)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda d, b, q: d.push("k", "e", payload=(1, 2)), TypeError),  # back as a list
        (lambda d, b, q: d.push("k", "e", payload={1: "x"}), TypeError),
        (lambda d, b, q: d.push("k", "e", payload=[float("nan")]), ValueError),
        (lambda d, b, q: d.push("k", "e", ts=2**63), ValueError),
        (lambda d, b, q: b.add("k", "e", 2**63), ValueError),
        (lambda d, b, q: q.push("i", created_at=-(2**63) - 1), ValueError),
        (lambda d, b, q: q.push("i", at=2**64), ValueError),
    ],
)
def test_what_redis_cannot_hold_exactly_is_refused_before_anything_is_written(
    redis_client: redis.Redis, call: Callable[..., Any], error: type[Exception]
) -> None:
    clock = ManualClock(T0)
    machines = (RedisDebounce(redis_client, "m", "10s", clock=clock),
                RedisBatcher(redis_client, "m", 3, "10s", clock=clock),
                RedisPriorityQueue(redis_client, "m", clock=clock))
    with pytest.raises(error):
        call(*machines)
    assert redis_client.dbsize() == 0


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda c: RedisDebounce(c, "m", "500ms"), ValueError),
        (lambda c: RedisDebounce(c, "m", "1s", timeout=2**63), ValueError),
        (lambda c: RedisDebounce(c, "m", 3.5), ValueError),
        (lambda c: RedisBatcher(c, "m", 1, "1s"), ValueError),
        (lambda c: RedisBatcher(c, "m", 2, "1d"), ValueError),
        (lambda c: RedisBatcher(c, "m", 2, "1s", dedupe_window=-1), ValueError),
        (lambda c: RedisPriorityQueue(c, "m", min_factor=5), ValueError),
        (lambda c: RedisPriorityQueue(c, "m", max_factor=2**62), ValueError),
        (lambda c: RedisDebounce(c, "a:b", "1s"), ValueError),
        (lambda c: RedisBatcher(c, "", 2, "1s"), ValueError),
    ],
)
def test_bad_parameters_are_refused_as_in_memory(
    redis_client: redis.Redis, make: Callable[[Any], Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        make(redis_client)


def test_instants_at_the_ends_of_int64_are_exact(redis_client: redis.Redis) -> None:
    lo, hi = -(2**63), 2**63 - 1
    clock = ManualClock(2**62)
    mem, red = PriorityQueue(clock=clock), RedisPriorityQueue(redis_client, "q", clock=clock)
    for i, (created, factor, at, kind) in enumerate([
        (lo, 600, None, "start"), (hi, -600, None, "edge"), (lo, -600, None, "start"),
        (hi, 600, None, "start"), (0, 0, hi, "sleep"), (0, 0, lo, "system"),
        (lo + 1, 0, lo, "pause"),
    ]):
        assert red.push(f"i{i}", created, factor, at=at, kind=kind) == mem.push(
            f"i{i}", created, factor, at=at, kind=kind)
    assert red.items() == mem.items() and red.poll() == mem.poll()
    d, dm = RedisDebounce(redis_client, "d", "1s", clock=clock), Debounce("1s", clock=clock)
    for i, ts in enumerate((hi, lo, hi - 1, hi)):
        assert d.push("k", f"e{i}", ts=ts) == dm.push("k", f"e{i}", ts=ts)


def test_state_survives_a_restart_with_appendonly_and_is_forgotten_without(
    redis_factory: Callable[..., Any],
) -> None:
    for appendonly, kept in (("yes", True), ("no", False)):
        server = redis_factory(appendonly=appendonly)
        clock = ManualClock(T0)
        with server.client() as client:
            RedisDebounce(client, "m", "10s", clock=clock).push("k", "e1", payload=[1])
            RedisBatcher(client, "m", 3, "10s", clock=clock).add("k", "e1")
            RedisPriorityQueue(client, "m", clock=clock).push("i")
        server.restart()
        clock.advance(10 * S)
        with server.client() as client:
            d = RedisDebounce(client, "m", "10s", clock=clock)
            b = RedisBatcher(client, "m", 3, "10s", clock=clock)
            q = RedisPriorityQueue(client, "m", clock=clock)
            if kept:
                assert [f.event_id for f in d.poll()] == ["e1"]
                assert [x.event_ids for x in b.poll()] == [("e1",)]
                assert [i.item_id for i in q.poll()] == ["i"]
            else:
                # Without persistence a restart forgets open debounces and batches,
                # queued items, dedupe ids and the id sequences (ids start at 1 again).
                assert d.poll() == () and b.poll() == () and q.poll() == ()
                assert d.push("k", "e2").debounce_id == 1


def test_restore_takes_an_in_memory_snapshot_and_refuses_another_configuration(
    redis_client: redis.Redis,
) -> None:
    clock = ManualClock(T0)
    mem = Batcher(3, "10s", clock=clock)
    mem.add("k", "e1")
    red = RedisBatcher(redis_client, "m", 3, "10s", clock=clock)
    red.add("other", "x")
    red.restore(mem.snapshot())  # replaces what was there
    assert red.snapshot() == mem.snapshot() and red.active_keys() == ("k",)
    with pytest.raises(ValueError, match="does not match"):
        RedisBatcher(redis_client, "m", 4, "10s", clock=clock).restore(mem.snapshot())
    with pytest.raises(ValueError, match="snapshot"):
        red.restore({**mem.snapshot(), "next_id": 0})
    with pytest.raises(ValueError, match="does not match"):
        RedisDebounce(redis_client, "m", "2s", clock=clock).restore(
            Debounce("1s", clock=clock).snapshot())
    with pytest.raises(ValueError, match="does not match"):
        RedisPriorityQueue(redis_client, "m", clock=clock).restore(
            PriorityQueue(clock=clock, max_factor=5).snapshot())
    assert red.snapshot() == mem.snapshot()


def _call_arguments(source: str) -> list[str]:
    """The top-level arguments of every ``redis.call(...)`` in Lua ``source``."""
    out = []
    for start in [i for i in range(len(source)) if source.startswith("redis.call(", i)]:
        depth, quote, arg, i = 0, "", "", start + len("redis.call(")
        while True:
            ch = source[i]
            if quote:
                quote = "" if ch == quote else quote
            elif ch in "'\"":
                quote = ch
            elif ch == "(":
                depth += 1
            elif ch == ")" and depth == 0:
                out.append(arg.strip())
                break
            elif ch == ")":
                depth -= 1
            elif ch == "," and depth == 0:
                out.append(arg.strip())
                arg = ""
                i += 1
                continue
            arg += ch
            i += 1
    return out


@pytest.mark.parametrize("script", ["timers", "debounce", "batch", "priority"])
def test_no_script_hands_a_lua_number_to_a_command(script: str) -> None:
    """Servers have turned Lua numbers into command text in three different ways (the
    7.2.0-7.2.4 one wrote 1e8); every argument here is a string or an expression."""
    from flowcontrol.redis._timers import _lua

    args = _call_arguments(_lua(f"{script}.lua"))
    assert args, "no redis.call found"
    numbers = [a for a in args if a.lstrip("-").replace(".", "").isdigit()]
    assert numbers == []
