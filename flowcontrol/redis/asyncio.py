"""The Redis machines for ``redis.asyncio`` clients, methods awaited (network I/O).

Same names, parameters and answers as :mod:`flowcontrol.redis`; each is the
``AsyncRedisX`` class of the machine's module. A machine's first awaited call also runs
the checks the sync classes run at construction (the ``maxmemory-policy`` warning).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_WHERE = {
    "RedisThrottle": "gcra",
    "RedisRateLimit": "gcra",
    "RedisConcurrency": "concurrency",
    "RedisSingleton": "singleton",
    "RedisDebounce": "debounce",
    "RedisBatcher": "batch",
    "RedisPriorityQueue": "priority",
}

__all__ = sorted(_WHERE)  # imported lazily by __getattr__


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"flowcontrol.redis.{module}"), f"Async{name}")
