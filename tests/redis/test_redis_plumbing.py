"""The shared Redis plumbing: exact integers in Lua, EVALSHA with NOSCRIPT reload (single
calls and batches, single server and cluster, sync and asyncio), key names, the eviction
warning."""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.cluster import RedisCluster

from flowcontrol.redis._keys import EvictionWarning, KeyLayout, check_eviction
from flowcontrol.redis._script import Batch, Eval, Script, Step, run, run_async

ARITH = Script("test-arith", """
local out = {}
for i = 1, #ARGV, 3 do
  local a, op, b = fc_parse(ARGV[i]), ARGV[i + 1], fc_parse(ARGV[i + 2])
  if op == '+' then out[#out + 1] = fc_str(fc_add(a, b))
  elseif op == '-' then out[#out + 1] = fc_str(fc_sub(a, b))
  elseif op == '*' then out[#out + 1] = fc_str(fc_mul(a, b))
  else out[#out + 1] = tostring(fc_cmp(a, b)) end
end
return out
""")
INCR = Script("test-incr", "return redis.call('INCRBY', KEYS[1], ARGV[1])", prelude=False)
NOW = Script("test-now", "return fc_str(fc_time_ns())")

BIG = st.integers(-(10**40), 10**40) | st.integers(-(2**63), 2**63) | st.sampled_from(
    [0, 1, -1, 2**53, 2**53 + 1, -(2**53) - 1, 10**7, 10**7 - 1, -(10**14), 2**62]
)


def _python(a: int, op: str, b: int) -> str:
    if op == "+":
        return str(a + b)
    if op == "-":
        return str(a - b)
    if op == "*":
        return str(a * b)
    return str((a > b) - (a < b))


@settings(max_examples=40)
@given(st.lists(st.tuples(BIG, st.sampled_from("+-*<"), BIG), min_size=1, max_size=30))
def test_lua_integers_are_exact_at_any_size(redis_server: Any, cases: list[tuple[int, str, int]]
                                            ) -> None:
    args = [x for a, op, b in cases for x in (str(a), op, str(b))]
    with redis_server.client() as client:
        got = run(client, _one(Eval(ARITH, (), args)))
    assert [g.decode() for g in got] == [_python(*c) for c in cases]


def _one(op: Any) -> Step[Any]:
    return (yield op)


def test_server_time_is_nanoseconds_since_the_epoch(redis_client: redis.Redis) -> None:
    before = time.time_ns()
    now = int(run(redis_client, _one(Eval(NOW, (), ()))))
    assert before - 10**9 < now < time.time_ns() + 10**9
    assert now % 1000 == 0  # TIME has microseconds


def _flush_then_batch(keys: list[str]) -> Step[list[Any]]:
    first = yield Eval(INCR, (keys[0],), (1,))
    replies = yield Batch([Eval(INCR, (k,), (10,)) for k in keys])
    return [first, *replies]


def test_a_flushed_script_cache_is_reloaded_for_single_calls_and_batches(
    redis_client: redis.Redis,
) -> None:
    keys = [f"k{i}" for i in range(5)]
    redis_client.script_flush()
    assert run(redis_client, _flush_then_batch(keys)) == [1, 11, 10, 10, 10, 10]
    redis_client.script_flush()
    assert run(redis_client, _flush_then_batch(keys)) == [12, 22, 20, 20, 20, 20]


def test_cluster_batches_go_to_every_node_and_survive_a_flush(cluster_client: RedisCluster
                                                               ) -> None:
    keys = [f"k{i}" for i in range(20)]
    assert len({cluster_client.get_node_from_key(k).name for k in keys}) == 3
    cluster_client.script_flush()  # SCRIPT FLUSH goes to every master
    assert run(cluster_client, _flush_then_batch(keys)) == [1, 11] + [10] * 19
    cluster_client.script_flush()  # SCRIPT FLUSH goes to every master
    assert run(cluster_client, _flush_then_batch(keys))[:3] == [12, 22, 20]


def test_asyncio_clients_run_the_same_steps(
    redis_async: Callable[..., Any], cluster_async: Callable[..., Any]
) -> None:
    async def main(make: Callable[..., Any]) -> list[Any]:
        async with make() as client:
            await client.script_flush()
            return await run_async(client, _flush_then_batch(["a", "b"]))

    assert asyncio.run(main(redis_async)) == [1, 11, 10]
    assert asyncio.run(main(cluster_async)) == [1, 11, 10]


def test_a_script_error_reaches_the_caller_and_a_step_may_catch_it(
    redis_client: redis.Redis,
) -> None:
    redis_client.set("s", "text")

    def step() -> Step[str]:
        try:
            yield Eval(INCR, ("s",), (1,))
        except redis.ResponseError as exc:
            return f"caught {type(exc).__name__}"
        return "no error"

    assert run(redis_client, step()) == "caught ResponseError"
    with pytest.raises(redis.ResponseError):
        run(redis_client, _one(Batch([Eval(INCR, ("n",), (1,)), Eval(INCR, ("s",), (1,))])))
    assert redis_client.get("n") == b"1"  # the batch's other call ran


def test_key_layout_tags_and_names() -> None:
    keys = KeyLayout("t", "openai")
    assert keys.own("user-1") == "fc:t:openai:user-1"
    assert keys.user_key(b"fc:t:openai:user-1") == "user-1"
    assert keys.tagged("lease", "x") == "{fc:t:openai}:lease:x"
    for bad in ("", "a{b", "a}b", "a:b", "a*", "a b", 3, None):
        with pytest.raises(ValueError, match="name must be"):
            KeyLayout("t", bad)


def test_a_server_that_may_evict_keys_gets_a_warning(redis_factory: Callable[..., Any]) -> None:
    lru = redis_factory(maxmemory_policy="allkeys-lru")
    with lru.client() as client, pytest.warns(EvictionWarning, match="allkeys-lru"):
        run(client, check_eviction("RedisThrottle 'x'"))


def test_a_noeviction_server_gets_no_warning(redis_client: redis.Redis) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run(redis_client, check_eviction("RedisThrottle 'x'"))


def test_every_public_name_imports_sync_and_asyncio() -> None:
    import flowcontrol.redis as sync
    import flowcontrol.redis.asyncio as aio

    for name in sync.__all__:
        assert getattr(sync, name).__name__ == name
    assert set(aio.__all__) == set(sync.__all__) - {"EvictionWarning"}
    for name in aio.__all__:
        assert getattr(aio, name).__name__ == f"Async{name}"
    with pytest.raises(AttributeError):
        _ = sync.RedisNothing  # type: ignore[attr-defined]
