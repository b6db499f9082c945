"""RedisConcurrency and RedisSingleton on a real server: the in-memory machines' tables,
lease expiry on the injected and on the server's clock, key layout and memory, script
cache loss, the asyncio classes, and several instances sharing one name."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster

from flowcontrol.machines.concurrency import (
    Acquired,
    Concurrency,
    ConcurrencyConstraint,
    Refused,
    UnknownFunctionError,
)
from flowcontrol.machines.singleton import Singleton, SingletonSkipped, SingletonStarted
from flowcontrol.redis._keys import EvictionWarning
from flowcontrol.redis._timers import enc
from flowcontrol.redis.concurrency import AsyncRedisConcurrency, RedisConcurrency
from flowcontrol.redis.singleton import AsyncRedisSingleton, RedisSingleton
from flowcontrol.time import DurationError, ManualClock

S = 1_000_000_000


def test_expired_leases_are_not_counted(redis_client: redis.Redis) -> None:
    # inngest lua_edge_cases_test "expired leases are not counted": limit 3 with 1
    # active and 1 expired lease -> 2 more leases (QueueLeaseDuration 30 s).
    clock = ManualClock(0)
    c = RedisConcurrency(redis_client, "acct", lease_ttl="30s", clock=clock)
    c.register("f", function_limit=3)
    stale = c.acquire("f")  # its worker dies: never released nor extended
    clock.set(20 * S)
    active = c.acquire("f")
    assert isinstance(stale, Acquired) and isinstance(active, Acquired)
    steps = [  # (time, acquire ok?)
        (29 * S, True),
        (29 * S, False),  # 3 in use: stale, active and the one just granted
        (30 * S, True),  # stale expired exactly at 0 + 30 s
        (30 * S, False),
    ]
    for i, (t, want) in enumerate(steps):
        clock.set(t)
        assert c.acquire("f").ok is want, f"step {i}: acquire at {t}"
    assert c.poll() == (stale.lease_id,)
    assert c.poll() == ()
    assert c.release(stale) is False  # expired: no longer held, nothing changes
    assert c.release(active) is True


def test_leases_expiring_together_are_polled_in_the_in_memory_order(
    redis_client: redis.Redis,
) -> None:
    clock = ManualClock(2**62)
    mem = Concurrency(lease_ttl=10, clock=clock)
    red = RedisConcurrency(redis_client, "acct", lease_ttl=10, clock=clock)
    for m in (mem, red):
        m.register("f")
        for lease_id in (None, "b", None, "a", "", "é", "Z", None):
            assert m.acquire("f", (), lease_id).ok
    clock.advance(10)
    assert red.poll() == mem.poll() == (1, 2, 3, "", "Z", "a", "b", "é")


def test_extend_keeps_a_lease_alive_at_instants_beyond_doubles(
    redis_client: redis.Redis,
) -> None:
    start = 2**62 - 50 * S  # Lua doubles are 512 ns apart here
    clock = ManualClock(start)
    c = RedisConcurrency(redis_client, "acct", lease_ttl=10 * S + 1, clock=clock)
    c.register("f", function_limit=1)
    lease = c.acquire("f")
    assert isinstance(lease, Acquired)
    assert c.next_deadline() == start + 10 * S + 1
    for t in (5, 12, 19, 26):  # the platform extends while the item is processed
        clock.set(start + t * S + 3)
        assert c.extend(lease) is True
        assert c.next_deadline() == start + (t + 10) * S + 4
    clock.set(start + 36 * S + 3)
    assert not c.acquire("f").ok and c.poll() == ()
    clock.set(start + 36 * S + 4)
    assert c.prune() == 1 and len(c) == 0 and c.usage() == {}
    assert c.poll() == (lease.lease_id,)
    assert c.extend(lease) is False  # too late
    assert c.acquire("f").ok


def test_without_a_ttl_leases_never_expire_and_no_clock_is_read(
    redis_client: redis.Redis,
) -> None:
    def no_clock() -> int:
        raise AssertionError("the clock was read")

    c = RedisConcurrency(redis_client, "acct", clock=no_clock)
    assert c.prune() == 0
    c.register("f", function_limit=1)
    lease = c.acquire("f")
    assert isinstance(lease, Acquired)
    assert c.extend(lease) is True and c.poll() == () and c.next_deadline() is None
    assert c.release(lease) is True and c.extend(lease) is False


def test_a_clock_going_backwards_counts_as_no_time_passing(redis_client: redis.Redis) -> None:
    times = iter([0, 0, 25 * S, 5 * S, 5 * S, 31 * S])
    c = RedisConcurrency(redis_client, "acct", lease_ttl=30 * S, clock=lambda: next(times))
    # reads 0, as the in-memory machine does when built
    c.register("f", function_limit=1)
    first = c.acquire("f")  # at 0: expires at 30 s
    assert isinstance(first, Acquired)
    assert not c.acquire("f").ok  # 25 s
    assert not c.acquire("f").ok  # 5 s: treated as 25 s, the lease is still held
    assert c.extend(first) is True  # 5 s -> 25 s: now expires at 55 s, not 35 s
    assert not c.acquire("f").ok  # 31 s


def test_the_clock_reading_at_construction_is_a_floor_as_in_memory(
    redis_client: redis.Redis,
) -> None:
    clock = ManualClock(100 * S)
    mem = Concurrency(lease_ttl=30 * S, clock=clock)
    red = RedisConcurrency(redis_client, "acct", lease_ttl=30 * S, clock=clock)
    clock._now = 50 * S  # behind the reading both machines took when built
    for m in (mem, red):
        m.register("f")
        assert m.acquire("f").ok
    assert red.next_deadline() == mem.next_deadline() == 130 * S


def test_the_servers_clock_when_none_is_given(redis_client: redis.Redis) -> None:
    c = RedisConcurrency(redis_client, "acct", lease_ttl="1h")
    c.register("f", function_limit=1)
    before = time.time_ns()
    assert c.acquire("f").ok
    deadline = c.next_deadline()
    assert deadline is not None
    # Unix-epoch nanoseconds from the server's TIME (microsecond resolution).
    assert before - S < deadline - 3600 * S < time.time_ns() + S
    assert deadline % 1000 == 0


def test_several_instances_of_one_name_share_the_counters(redis_client: redis.Redis) -> None:
    workers = [RedisConcurrency(redis_client, "acct", account_limit=2) for _ in range(3)]
    for w in workers:
        w.register("f", [ConcurrencyConstraint(1, "event.data.user")])
    a = workers[0].acquire("f", ("u1",))
    assert isinstance(a, Acquired) and a.lease_id == 1
    got = workers[1].acquire("f", ("u1",))
    assert isinstance(got, Refused) and (got.scope, got.key, got.in_use) == ("fn", "u1", 1)
    b = workers[2].acquire("f", ("u2",))
    assert isinstance(b, Acquired) and b.lease_id == 2
    got = workers[1].acquire("f", ("u3",))
    assert isinstance(got, Refused) and (got.scope, got.in_use, got.limit) == ("account", 2, 2)
    assert workers[1].release(a.lease_id) is True  # any process may release by id
    assert workers[0].release(a) is False
    assert workers[2].leases() == {2: "f"}


def test_the_due_index_is_read_only_when_a_lease_may_be_due(redis_client: redis.Redis) -> None:
    # "#d" in counts is a lower bound of every expiry: acquire and release compare it with
    # now and skip the index while it is above; the call that passes it rescans and raises it.
    clock = ManualClock(0)
    c = RedisConcurrency(redis_client, "acct", lease_ttl="10s", clock=clock)
    c.register("f")

    def bound() -> bytes:
        return bytes(redis_client.hget("{fc:concurrency:acct}:counts", "#d") or b"")

    first = c.acquire("f")
    assert bound() == enc(10 * S).encode()
    clock.advance(5 * S)
    second = c.acquire("f")
    assert bound() == enc(10 * S).encode()  # a later expiry leaves it
    assert c.release(first)
    assert bound() == enc(10 * S).encode()  # now too low, still true
    clock.advance(5 * S)
    assert c.prune() == 0  # passes the bound: one scan, nothing due
    assert bound() == enc(15 * S).encode()
    clock.advance(5 * S)
    assert c.release(second) is False  # due at 15 s: expired by this call, not released
    assert c.poll() == (2,) and bound() == b"~"


def test_memory_follows_active_keys(redis_client: redis.Redis) -> None:
    clock = ManualClock(0)
    c = RedisConcurrency(redis_client, "acct", lease_ttl="1m", clock=clock)
    c.register("f", [ConcurrencyConstraint(1, "event.data.user")])
    leases = [c.acquire("f", (f"user-{i}",)) for i in range(300)]
    assert len(c.usage()) == 302
    for lease in leases[:200]:
        assert c.release(lease)
    clock.advance(60 * S)
    assert c.prune() == 100
    assert len(c.poll()) == 100
    # What stays of an idle account: three fields of counts, the clock's high-water mark,
    # the expiry bound ("~": no lease) and the lease sequence.
    assert redis_client.keys("*") == [b"{fc:concurrency:acct}:counts"]
    assert redis_client.hgetall("{fc:concurrency:acct}:counts") == {
        b"#": b"%021d" % (10**20 + 60 * S), b"#d": b"~", b"#s": b"300"}


def test_every_key_of_one_account_is_in_one_cluster_slot(cluster_client: RedisCluster) -> None:
    clock = ManualClock(0)
    c = RedisConcurrency(cluster_client, "acct", lease_ttl="1s", clock=clock)
    c.register("f", [ConcurrencyConstraint(5, "event.data.user"),
                     ConcurrencyConstraint(5, '"openai"', "account")], function_limit=9)
    for i in range(4):
        assert c.acquire("f", (f"u{i}", "openai")).ok
    clock.advance(S)
    assert c.prune() == 4
    assert c.acquire("f", ("u", "openai")).ok
    keys = cluster_client.keys(target_nodes=RedisCluster.PRIMARIES)
    assert {k.split(b"}")[0] for k in keys} == {b"{fc:concurrency:acct"}
    assert len({cluster_client.keyslot(k) for k in keys}) == 1
    assert len(keys) == 4  # counts, leases, due, expired


def test_calls_survive_a_script_flush(redis_client: redis.Redis) -> None:
    c = RedisConcurrency(redis_client, "acct")
    c.register("f", function_limit=2)
    s = RedisSingleton(redis_client, "fn")
    a = c.acquire("f")
    assert s.acquire("k", "r1") == SingletonStarted("r1", "k")
    redis_client.script_flush()
    assert c.release(a) is True
    assert s.acquire("k", "r2") == SingletonSkipped("r2", "k", "r1")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"lease_ttl": 0}, ValueError, "lease_ttl must be > 0"),
        ({"lease_ttl": "-1s"}, ValueError, "lease_ttl must be > 0"),
        ({"lease_ttl": "30x"}, DurationError, "invalid duration"),
        ({"lease_ttl": 2**63}, ValueError, "signed 64-bit"),
        ({"lease_ttl": 1.5}, TypeError, "lease_ttl must be an int"),
        ({"account_limit": -1}, ValueError, "account_limit must be >= 0"),
        ({"name": "a b"}, ValueError, "name must be"),
        ({"name": ""}, ValueError, "name must be"),
    ],
)
def test_construction_is_validated(redis_client: redis.Redis, kwargs: dict[str, Any],
                                   error: type[Exception], message: str) -> None:
    name = kwargs.pop("name", "acct")
    with pytest.raises(error, match=message):
        RedisConcurrency(redis_client, name, **kwargs)


def test_bad_calls_raise_as_in_memory_and_change_nothing(redis_client: redis.Redis) -> None:
    c = RedisConcurrency(redis_client, "acct")
    c.register("f", [ConcurrencyConstraint(1, "k")])
    with pytest.raises(UnknownFunctionError, match="'g' is not registered"):
        c.acquire("g")
    with pytest.raises(ValueError, match="needs 1 evaluated key"):
        c.acquire("f", ())
    with pytest.raises(ValueError, match=r"keys\[0\] of function 'f' must be an evaluated key"):
        c.acquire("f", (42,))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lease_id must be a string"):
        c.acquire("f", ("a",), 5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="too long for Redis"):
        c.acquire("f", ("x" * 1_000_000,))  # a documented limit of this machine
    assert c.acquire("f", ("a",), "mine") == Acquired("mine", "f")
    with pytest.raises(ValueError, match="already held"):
        c.acquire("f", ("b",), "mine")
    assert c.usage() == {"F:f": 1, "A": 1, "f:1:f:1:k:a": 1} and len(c) == 1
    with pytest.raises(ValueError, match="mode must be 'skip' or 'cancel'"):
        RedisSingleton(redis_client, "fn", "drop")
    s = RedisSingleton(redis_client, "fn")
    assert s.acquire("k", "r1").started
    with pytest.raises(ValueError, match="already holds singleton key 'k'"):
        s.acquire(None, "r1")
    with pytest.raises(ValueError, match="key must be a string or None"):
        s.acquire(3, "r2")  # type: ignore[arg-type]
    assert s.active_keys() == ("k",) and s.key_of("r2") is None


def test_singleton_tables_from_the_in_memory_tests(redis_client: redis.Redis) -> None:
    skip = RedisSingleton(redis_client, "skip-fn", "skip")
    got = [skip.acquire("user-1", f"r{i}") for i in range(50)]
    assert sum(g.started for g in got) == 1  # fifty events for one key give one run
    assert skip.release("user-1", "r7") is False and skip.release("user-1", "r0") is True
    cancel = RedisSingleton(redis_client, "cancel-fn", "cancel")
    got = [cancel.acquire("k", f"r{i}") for i in range(5)]
    assert got[0] == SingletonStarted("r0", "k")
    assert got[1:] == [SingletonStarted(f"r{i}", "k", cancel=f"r{i - 1}") for i in range(1, 5)]
    assert cancel.holder("k") == "r4" and cancel.run_finished("r4") == "k"
    assert redis_client.keys("*") == []  # idle machines keep no key


def _mixed_calls() -> list[tuple[str, tuple[Any, ...]]]:
    return [
        ("acquire", ("f", ("u1",))), ("acquire", ("f", ("u1",))),
        ("acquire", ("f", ("u2",), "named")), ("advance", (10 * S,)),
        ("extend", (1,)), ("advance", (25 * S,)), ("poll", ()), ("capacity", ("f", ("u2",))),
        ("in_use", ("f", ("u1",))), ("release", (1,)), ("usage", ()), ("leases", ()),
        ("next_deadline", ()), ("prune", ()), ("advance", (60 * S,)), ("poll", ()),
    ]


def _in_memory_answers(clock: ManualClock) -> list[Any]:
    m = Concurrency(account_limit=5, lease_ttl="30s", clock=clock)
    m.register("f", [ConcurrencyConstraint(1, "event.data.user")], function_limit=3)
    out = []
    for call, args in _mixed_calls():
        if call == "advance":
            clock.advance(args[0])
        else:
            out.append(getattr(m, call)(*args))
    return out


async def _async_answers(client: Any, clock: ManualClock) -> list[Any]:
    c = AsyncRedisConcurrency(client, "acct", account_limit=5, lease_ttl="30s", clock=clock)
    c.register("f", [ConcurrencyConstraint(1, "event.data.user")], function_limit=3)
    out = []
    for call, args in _mixed_calls():
        if call == "advance":
            clock.advance(args[0])
        else:
            out.append(await getattr(c, call)(*args))
    assert await c.size() == 0 and not await c.holds(2)
    s, mem = AsyncRedisSingleton(client, "fn", "cancel"), Singleton("cancel")
    for key, run in (("k", "r1"), ("k", "r2"), (None, "r3"), ("j", "r3")):
        assert await s.acquire(key, run) == mem.acquire(key, run)
    assert await s.active_keys() == mem.active_keys() and await s.size() == 2
    assert await s.holder("k") == "r2" and await s.key_of("r3") == "j"
    assert await s.release("k", "r1") is False and await s.release("k", "r2") is True
    assert await s.run_finished("r3") == "j" and await s.size() == 0
    return out


@pytest.mark.parametrize("where", ["server", "cluster"])
def test_the_asyncio_classes_answer_as_in_memory(
    where: str, request: pytest.FixtureRequest
) -> None:
    factory: Callable[[], Any] = request.getfixturevalue(
        "redis_async" if where == "server" else "cluster_async")
    want = _in_memory_answers(ManualClock(1_765_432_101_234_567_891))

    async def main() -> list[Any]:
        client = factory()
        try:
            return await _async_answers(client, ManualClock(1_765_432_101_234_567_891))
        finally:
            await client.aclose()

    assert asyncio.run(main()) == want


def test_leases_survive_a_restart_with_appendonly_and_are_forgotten_without(
    redis_factory: Callable[..., Any],
) -> None:
    for appendonly, kept in (("yes", True), ("no", False)):
        server = redis_factory(appendonly=appendonly)
        with server.client() as client:
            c = RedisConcurrency(client, "acct")
            c.register("f", function_limit=2)
            held = [c.acquire("f"), c.acquire("f")]
            assert not c.acquire("f").ok
        server.restart()
        with server.client() as client:
            c = RedisConcurrency(client, "acct")
            c.register("f", function_limit=2)
            if kept:
                assert c.leases() == {1: "f", 2: "f"} and not c.acquire("f").ok
                assert all(c.release(lease) for lease in held)
            else:
                # A restart without persistence forgets the leases *and* the lease
                # sequence: new leases are numbered 1, 2, ... again, so an id held
                # from before the restart may now name another worker's lease.
                assert c.usage() == {} and c.leases() == {}
                assert c.acquire("f") == Acquired(1, "f")


def test_a_server_that_may_evict_keys_gets_a_warning(redis_factory: Callable[..., Any]) -> None:
    lru = redis_factory(maxmemory_policy="allkeys-lru")
    with lru.client() as client:
        c = RedisConcurrency(client, "acct")
        c.register("f")
        with pytest.warns(EvictionWarning, match="allkeys-lru"):
            assert c.acquire("f").ok
        s = RedisSingleton(client, "fn")
        with pytest.warns(EvictionWarning, match="RedisSingleton 'fn'"):
            assert s.acquire("k", "r1").started


def test_an_in_memory_registry_moves_to_redis_and_back(redis_client: redis.Redis) -> None:
    clock = ManualClock(0)
    mem = Concurrency(account_limit=3, lease_ttl="30s", clock=clock)
    mem.register("f", [ConcurrencyConstraint(1, "event.data.user")])
    assert mem.acquire("f", ("u1",)).ok and mem.acquire("f", ("u2",), "mine").ok
    clock.set(40 * S)
    assert mem.acquire("f", ("u1",)).ok  # the first two expired, not yet polled
    red = RedisConcurrency(redis_client, "acct", account_limit=3, lease_ttl="30s", clock=clock)
    assert red.restore(mem.snapshot()) == 1
    assert red.functions() == ("f",)  # its registrations come along
    assert red.poll() == (1, "mine") and red.leases() == {2: "f"}
    assert red.acquire("f", ("u3",)) == Acquired(3, "f")
    back = Concurrency.from_snapshot(red.snapshot(), clock=clock)
    assert back.leases() == red.leases() and back.usage() == red.usage()
    with pytest.raises(ValueError, match="lease_ttl=30000000000 and account_limit=3"):
        RedisConcurrency(redis_client, "other", account_limit=3).restore(mem.snapshot())
    with pytest.raises(ValueError, match="not a Concurrency snapshot"):
        red.restore({"kind": "Singleton", "version": 1})
    assert red.leases() == {2: "f", 3: "f"}  # unchanged by the refused restores
    s = RedisSingleton(redis_client, "fn", "cancel")
    with pytest.raises(ValueError, match="snapshot has mode 'skip'"):
        s.restore(Singleton("skip").snapshot())
