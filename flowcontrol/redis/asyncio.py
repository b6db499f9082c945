"""The Redis machines for ``redis.asyncio`` clients, methods awaited (network I/O).

Same names, parameters and answers as :mod:`flowcontrol.redis`; each is the
``AsyncRedisX`` class of the machine's module. A machine's first awaited call also runs
the checks the sync classes run at construction (the ``maxmemory-policy`` warning).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowcontrol.redis import _MACHINES, lazy

if TYPE_CHECKING:  # the lazy names, typed
    from flowcontrol.redis.batch import AsyncRedisBatcher as RedisBatcher
    from flowcontrol.redis.concurrency import AsyncRedisConcurrency as RedisConcurrency
    from flowcontrol.redis.debounce import AsyncRedisDebounce as RedisDebounce
    from flowcontrol.redis.gcra import AsyncRedisRateLimit as RedisRateLimit
    from flowcontrol.redis.gcra import AsyncRedisThrottle as RedisThrottle
    from flowcontrol.redis.priority import AsyncRedisPriorityQueue as RedisPriorityQueue
    from flowcontrol.redis.singleton import AsyncRedisSingleton as RedisSingleton

__all__ = [  # imported lazily by __getattr__
    "RedisBatcher",
    "RedisConcurrency",
    "RedisDebounce",
    "RedisPriorityQueue",
    "RedisRateLimit",
    "RedisSingleton",
    "RedisThrottle",
]
__getattr__ = lazy(_MACHINES, "Async")
