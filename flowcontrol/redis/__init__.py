"""The flow-control machines with their state on Redis (an I/O adapter: network I/O).

``pip install 'flowcontrol[redis]'``. Each class takes ``client`` (``redis.Redis`` or
``redis.cluster.RedisCluster``) and ``name`` (a namespace), then exactly the parameters
of its in-memory machine, and answers with the same values. :mod:`flowcontrol.redis.asyncio`
has the same classes for ``redis.asyncio`` clients, with awaited methods.

Design (shared by every machine of this package):

* One body per machine. Operations are generators (``Step``, :mod:`._script`) that yield
  script calls and receive replies; ``blocking``/``awaiting`` make the sync and the
  asyncio method of each, so the two flavours share every line that decides something.
* One atomic script per decision, sent with ``EVALSHA``; ``NOSCRIPT`` (flush, restart,
  failover) loads the script and re-sends only what failed, in pipelines too.
* Exact integers (:mod:`._bigint`): Lua numbers are doubles, so instants travel and are
  stored as decimal text and scripts compute on them with base-10**7 limbs.
* Time: with ``clock=`` the machine passes its reading (never going backwards in this
  process) to each script; without it the script reads the server's ``TIME`` as ns since
  the Unix epoch, one clock for every host. Decisions compare stored instants with that
  ``now``; TTLs only garbage-collect state the machine already treats as idle.
* Keys (:mod:`._keys`): ``fc:<kind>:<name>:<key>`` for per-key state (its own cluster
  slot) and ``{fc:<kind>:<name>}:...`` for state one script must see together (one slot).
  A server whose ``maxmemory-policy`` may evict keys gets an ``EvictionWarning``.

Machines live in modules named as in :mod:`flowcontrol.machines` (``gcra``,
``concurrency``, ``singleton``, ``debounce``, ``batch``, ``priority``); each defines the
sync ``RedisX`` and the asyncio ``AsyncRedisX``. The names below import lazily.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the lazy names, typed
    from flowcontrol.redis._keys import EvictionWarning
    from flowcontrol.redis.batch import RedisBatcher
    from flowcontrol.redis.concurrency import RedisConcurrency
    from flowcontrol.redis.debounce import RedisDebounce
    from flowcontrol.redis.gcra import RedisRateLimit, RedisThrottle
    from flowcontrol.redis.priority import RedisPriorityQueue
    from flowcontrol.redis.singleton import RedisSingleton

_MACHINES = {
    "RedisThrottle": "gcra",
    "RedisRateLimit": "gcra",
    "RedisConcurrency": "concurrency",
    "RedisSingleton": "singleton",
    "RedisDebounce": "debounce",
    "RedisBatcher": "batch",
    "RedisPriorityQueue": "priority",
}


def lazy(table: dict[str, str], prefix: str = "") -> Callable[[str], Any]:
    """A module ``__getattr__`` importing ``name`` as ``prefix + name`` from the module
    ``table[name]`` of this package on first use (modules not yet written stay absent)."""

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module has no attribute {name!r}")
        return getattr(import_module(f"{__name__}.{module}"), prefix + name)

    return __getattr__


_WHERE = {"EvictionWarning": "_keys", **_MACHINES}
__all__ = [  # imported lazily by __getattr__
    "EvictionWarning",
    "RedisBatcher",
    "RedisConcurrency",
    "RedisDebounce",
    "RedisPriorityQueue",
    "RedisRateLimit",
    "RedisSingleton",
    "RedisThrottle",
]
__getattr__ = lazy(_WHERE)
