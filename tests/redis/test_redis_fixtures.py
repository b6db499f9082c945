"""The test servers themselves: a single server, a three-master cluster, worker processes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import redis
from conftest import run_workers
from gcra_workers import square
from redis.cluster import RedisCluster


def test_single_server_answers_and_starts_empty(redis_client: redis.Redis) -> None:
    assert redis_client.dbsize() == 0
    redis_client.set("k", "1")
    assert redis_client.get("k") == b"1"


def test_cluster_spreads_keys_over_three_masters(cluster_client: RedisCluster) -> None:
    assert len(cluster_client.get_primaries()) == 3
    for i in range(30):
        cluster_client.set(f"k{i}", i)
    assert cluster_client.dbsize(target_nodes=RedisCluster.PRIMARIES) == 30  # summed
    owners = {cluster_client.get_node_from_key(f"k{i}").name for i in range(30)}
    assert len(owners) == 3


def test_async_client_factory(redis_async: Callable[..., Any]) -> None:
    async def main() -> bytes | None:
        async with redis_async() as r:
            await r.set("a", "b")
            value: bytes | None = await r.get("a")
            return value

    assert asyncio.run(main()) == b"b"


def test_run_workers_returns_each_result_in_order() -> None:
    assert run_workers(square, [(i,) for i in range(3)], timeout=60) == [0, 1, 4]


def _nested() -> None:  # a function of this module, which imports conftest
    return None


def test_run_workers_refuses_a_target_from_a_module_importing_conftest() -> None:
    with pytest.raises(ValueError, match="imports conftest"):
        run_workers(_nested, [()], timeout=5)


def test_run_workers_refuses_a_local_function() -> None:
    def local() -> None:
        return None

    with pytest.raises(ValueError, match="not a top-level function"):
        run_workers(local, [()], timeout=5)


def test_a_missing_server_fails_under_ci_and_skips_elsewhere(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conftest_module(), "redis_binary", lambda name="redis-server": None)
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="no redis-server"):
        conftest_module()._need_binary()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="no redis-server"):
        conftest_module()._need_binary()


def conftest_module() -> Any:
    """This directory's conftest, as pytest loaded it (its module name depends on rootdir)."""
    import sys
    return next(m for name, m in sys.modules.items()
                if name.endswith("conftest") and hasattr(m, "_need_binary"))
