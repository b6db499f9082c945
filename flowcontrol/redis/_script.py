"""Running Lua scripts from one machine body on sync and asyncio clients (does network I/O).

A machine's operations are written once, as generators (:data:`Step`) that yield
operations and receive their replies:

* :class:`Eval` -- one script call; the reply is the script's reply;
* :class:`Batch` -- several script calls sent together (one round trip per node: a
  non-transactional pipeline); the reply is the list of their replies, in order;
* :class:`Command` -- a plain command (``primaries=True``: sent to every master of a
  cluster, the reply is then a list with one reply per master);
* :class:`Scan` -- every key matching a pattern (on every master of a cluster).

:func:`run` drives a step on ``redis.Redis`` / ``redis.cluster.RedisCluster``,
:func:`run_async` on their ``redis.asyncio`` twins, and :func:`blocking` /
:func:`awaiting` turn a step-returning method into a plain or an ``async`` method, so
the sync and asyncio classes share every line that decides something::

    class _Body(Machine):
        def step_acquire(self, key: str) -> Step[bool]:
            reply = yield Eval(SCRIPT, (self.keys.own("x", key),), ("1",))
            return reply == 1

    class RedisX(_Body):
        acquire = blocking(_Body.step_acquire)

    class AsyncRedisX(_Body):
        acquire = awaiting(_Body.step_acquire)

A client error raised by an operation is thrown into the step at its ``yield`` (so a
step may catch it) and otherwise propagates to the caller.

Scripts are sent with ``EVALSHA``; a ``NOSCRIPT`` answer (after ``SCRIPT FLUSH``, a
restart, a failover, a new cluster node) loads the script with ``SCRIPT LOAD`` (on every
master of a cluster) and re-sends the calls that failed, in pipelines too: a call that
got ``NOSCRIPT`` did not run, so re-sending it changes nothing twice. Within one
:class:`Batch`, calls that touch the same keys must share one :class:`Eval` when their
order matters (a retried call runs after the calls that succeeded).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Generator, Sequence
from dataclasses import dataclass, field
from hashlib import sha1
from typing import Any, Concatenate, Final, ParamSpec, Protocol, TypeVar

from redis.exceptions import NoScriptError

from flowcontrol.redis._bigint import BIGINT_LUA

__all__ = [
    "Batch",
    "Command",
    "Eval",
    "Machine",
    "Scan",
    "Script",
    "Step",
    "awaiting",
    "blocking",
    "is_cluster",
    "run",
    "run_async",
    "send",
]

T = TypeVar("T")
P = ParamSpec("P")


@dataclass(frozen=True, slots=True)
class Script:
    """A Lua script declared once: ``source`` (with the exact-integer prelude of
    :mod:`flowcontrol.redis._bigint` in front unless ``prelude=False``) and its SHA1."""

    name: str
    body: str
    prelude: bool = True
    source: str = field(init=False)
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        source = (BIGINT_LUA + self.body) if self.prelude else self.body
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "sha", sha1(source.encode("utf-8")).hexdigest())


Arg = str | bytes | int


@dataclass(frozen=True, slots=True)
class Eval:
    """Call ``script`` with ``keys`` and ``args`` (ints are sent as exact decimal text)."""

    script: Script
    keys: Sequence[str | bytes]
    args: Sequence[Arg]


@dataclass(frozen=True, slots=True)
class Batch:
    """Several script calls in one round trip per node; the reply is their replies."""

    calls: Sequence[Eval]


@dataclass(frozen=True, slots=True)
class Command:
    """A plain command; with ``primaries`` on every master of a cluster (a list reply).

    A two-word command goes as one string (``("CONFIG GET", "maxmemory-policy")``), as
    redis-py's own commands do, so cluster clients route it by its name."""

    args: Sequence[Arg]
    primaries: bool = False


@dataclass(frozen=True, slots=True)
class Scan:
    """The keys matching ``match`` (a SCAN pattern), from every master of a cluster."""

    match: str


Op = Eval | Batch | Command | Scan
Step = Generator[Op, Any, T]
"""A machine operation: yields :data:`Op` values, receives their replies, returns the answer."""


def is_cluster(client: Any) -> bool:
    """True for ``redis.cluster.RedisCluster`` and ``redis.asyncio.cluster.RedisCluster``."""
    return hasattr(client, "get_primaries") and hasattr(client, "get_node_from_key")


def _evalsha(e: Eval) -> tuple[Arg, ...]:
    return ("EVALSHA", e.script.sha, len(e.keys), *e.keys, *e.args)


# -- the NOSCRIPT-aware expansion of each operation into client calls (shared) -------

@dataclass(frozen=True, slots=True)
class _Exec:
    args: Sequence[Arg]
    primaries: bool = False


@dataclass(frozen=True, slots=True)
class _Pipe:
    commands: Sequence[Sequence[Arg]]


@dataclass(frozen=True, slots=True)
class _Keys:
    match: str


_Prim = _Exec | _Pipe | _Keys
_Expansion = Generator[_Prim, Any, Any]
_RETRIES: Final = 2  # SCRIPT LOAD + re-send, at most this many times per operation


def _load(scripts: Sequence[Script]) -> _Expansion:
    done: set[str] = set()
    for s in scripts:
        if s.sha not in done:
            done.add(s.sha)
            yield _Exec(("SCRIPT LOAD", s.source), primaries=True)


def _expand(op: Op) -> _Expansion:
    """Carry out ``op`` as client calls; returns its reply (or raises its error)."""
    if isinstance(op, Eval):
        for attempt in range(_RETRIES + 1):
            try:
                return (yield _Exec(_evalsha(op)))
            except NoScriptError:
                if attempt == _RETRIES:
                    raise
                yield from _load((op.script,))
        raise AssertionError("unreachable")
    if isinstance(op, Batch):
        replies: list[Any] = [None] * len(op.calls)
        todo = list(range(len(op.calls)))
        for attempt in range(_RETRIES + 1):
            got = yield _Pipe([_evalsha(op.calls[i]) for i in todo])
            missing = []
            for i, reply in zip(todo, got, strict=True):
                replies[i] = reply
                if isinstance(reply, NoScriptError):
                    missing.append(i)
            if not missing or attempt == _RETRIES:
                break
            yield from _load([op.calls[i].script for i in missing])
            todo = missing
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies
    if isinstance(op, Command):
        return (yield _Exec(op.args, op.primaries))
    return (yield _Keys(op.match))


# -- drivers ----------------------------------------------------------------------------

def _exec_sync(client: Any, cluster: bool, p: _Prim) -> Any:
    if isinstance(p, _Exec):
        if p.primaries:
            if cluster:
                reply = client.execute_command(*p.args, target_nodes=client.get_primaries())
                return list(reply.values()) if isinstance(reply, dict) else [reply]
            return [client.execute_command(*p.args)]
        return client.execute_command(*p.args)
    if isinstance(p, _Pipe):
        pipe = client.pipeline() if cluster else client.pipeline(transaction=False)
        for args in p.commands:
            pipe.execute_command(*args)
        return pipe.execute(raise_on_error=False)
    return list(client.scan_iter(match=p.match, count=1000))


async def _exec_async(client: Any, cluster: bool, p: _Prim) -> Any:
    if isinstance(p, _Exec):
        if p.primaries:
            if cluster:
                reply = await client.execute_command(
                    *p.args, target_nodes=client.get_primaries())
                return list(reply.values()) if isinstance(reply, dict) else [reply]
            return [await client.execute_command(*p.args)]
        return await client.execute_command(*p.args)
    if isinstance(p, _Pipe):
        pipe = client.pipeline() if cluster else client.pipeline(transaction=False)
        for args in p.commands:
            pipe.execute_command(*args)
        return await pipe.execute(raise_on_error=False)
    return [k async for k in client.scan_iter(match=p.match, count=1000)]


def _finish(gen: Generator[Any, Any, T], value: Any, error: BaseException | None
            ) -> tuple[bool, Any]:
    """Resume ``gen`` with ``value`` (or throw ``error``): (True, result) when it
    returned, (False, next yielded item) otherwise."""
    try:
        if error is not None:
            return False, gen.throw(error)
        return False, gen.send(value)
    except StopIteration as stop:
        return True, stop.value


def _flatten(step: Step[T]) -> Generator[_Prim, Any, T]:
    """``step`` with each operation expanded into client calls: the one thing a driver
    runs. A client error goes to the expansion first (NOSCRIPT), then to the step."""
    try:
        op = next(step)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    while True:
        try:
            value, error = (yield from _expand(op)), None
        except Exception as exc:
            value, error = None, exc
        done, op = _finish(step, value, error)
        if done:
            return op  # type: ignore[no-any-return]


def run(client: Any, step: Step[T]) -> T:
    """Drive ``step`` on a sync client; return its answer."""
    cluster = is_cluster(client)
    calls = _flatten(step)
    done, call = _finish(calls, None, None)
    while not done:
        try:
            value, error = _exec_sync(client, cluster, call), None
        except Exception as exc:
            value, error = None, exc
        done, call = _finish(calls, value, error)
    return call  # type: ignore[no-any-return]


async def run_async(client: Any, step: Step[T]) -> T:
    """Drive ``step`` on an asyncio client; return its answer."""
    cluster = is_cluster(client)
    calls = _flatten(step)
    done, call = _finish(calls, None, None)
    while not done:
        try:
            value, error = await _exec_async(client, cluster, call), None
        except Exception as exc:
            value, error = None, exc
        done, call = _finish(calls, value, error)
    return call  # type: ignore[no-any-return]


def _only(op: Op) -> Step[Any]:
    return (yield op)


def send(client: Any, script: Script, keys: Sequence[str | bytes], args: Sequence[Arg]) -> Any:
    """One script call on a sync client, for hot paths: a bare ``EVALSHA`` (no
    :class:`Eval` made), and on ``NOSCRIPT`` the reload-and-resend of :func:`run`."""
    try:
        return client.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
    except NoScriptError:
        return run(client, _only(Eval(script, keys, args)))


# -- one body, two flavours ---------------------------------------------------------------

class Machine(Protocol):
    """What :func:`blocking` and :func:`awaiting` need: the client, and a step to run
    once before the first operation (e.g. a configuration check), or None."""

    client: Any
    _first: Step[None] | None


M = TypeVar("M", bound=Machine)


def blocking(f: Callable[Concatenate[M, P], Step[T]]) -> Callable[Concatenate[M, P], T]:
    """The step method ``f`` as a plain method running on a sync client."""

    def method(self: M, /, *args: P.args, **kwargs: P.kwargs) -> T:
        if self._first is not None:
            first, self._first = self._first, None
            run(self.client, first)
        return run(self.client, f(self, *args, **kwargs))

    method.__name__ = f.__name__.removeprefix("step_")
    method.__doc__ = f.__doc__
    return method


def awaiting(
    f: Callable[Concatenate[M, P], Step[T]],
) -> Callable[Concatenate[M, P], Coroutine[Any, Any, T]]:
    """The step method ``f`` as an ``async`` method running on an asyncio client."""

    async def method(self: M, /, *args: P.args, **kwargs: P.kwargs) -> T:
        if self._first is not None:
            first, self._first = self._first, None
            await run_async(self.client, first)
        return await run_async(self.client, f(self, *args, **kwargs))

    method.__name__ = f.__name__.removeprefix("step_")
    method.__doc__ = f.__doc__
    return method
