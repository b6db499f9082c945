"""Key names on Redis and the eviction check at machine creation (does network I/O).

Every key starts with ``fc:`` and carries the machine's ``kind`` (a short tag per class)
and ``name`` (the namespace the user chose), so several machines share one Redis:

* :meth:`KeyLayout.own` -- ``fc:<kind>:<name>:<key>``: no hash tag of ours, so on a
  cluster each user key has its own slot (GCRA keys spread over the masters). A user
  key holding ``{...}`` chooses its slot itself, which is harmless for keys that no
  script touches together with another.
* :meth:`KeyLayout.tagged` -- ``{fc:<kind>:<name>}:<part>...``: the hash tag comes
  first, so user text later in the key cannot move it, and every key of the machine
  is in one slot: what a multi-key script needs on a cluster.

``name`` must be a non-empty string without ``{ } : * ? [ ] \\`` or whitespace, so a
tag is always exactly ours and :meth:`KeyLayout.pattern` can SCAN one machine's keys
without meeting another's.
"""

from __future__ import annotations

import re
import warnings
from typing import Any, Final

from redis.exceptions import RedisError

from flowcontrol.redis._script import Command, Step

__all__ = ["EvictionWarning", "KeyLayout", "check_eviction"]

_BAD_NAME: Final = re.compile(r"[{}:*?\[\]\\\s]")


class KeyLayout:
    """The key names of one machine: ``kind`` (e.g. ``"t"``) and ``name``."""

    __slots__ = ("kind", "name", "prefix", "tag")

    def __init__(self, kind: str, name: object) -> None:
        if not isinstance(name, str) or not name or _BAD_NAME.search(name):
            raise ValueError(
                "name must be a non-empty str without braces, ':', glob characters or "
                f"whitespace, got {name!r}"
            )
        self.kind = kind
        self.name = name
        self.prefix = f"fc:{kind}:{name}:"
        self.tag = f"{{fc:{kind}:{name}}}"

    def own(self, key: str) -> str:
        """The key for user key ``key``, in a slot of its own."""
        return self.prefix + key

    def user_key(self, redis_key: bytes | str) -> str:
        """The user key of a name made by :meth:`own`."""
        text = redis_key.decode("utf-8", "surrogatepass") if isinstance(
            redis_key, bytes) else redis_key
        return text[len(self.prefix):]

    def pattern(self) -> str:
        """A SCAN pattern matching exactly the names made by :meth:`own`."""
        return self.prefix + "*"

    def tagged(self, *parts: str) -> str:
        """A key in the machine's one slot: ``{fc:<kind>:<name>}:<part>:<part>...``."""
        return ":".join((self.tag, *parts))


class EvictionWarning(UserWarning):
    """The server may evict flow-control keys, silently resetting limits."""


def _policy(reply: Any) -> str | None:
    if isinstance(reply, dict):
        values = list(reply.values())
    elif isinstance(reply, list | tuple) and len(reply) >= 2:
        values = [reply[1]]
    else:
        return None
    if not values:
        return None
    v = values[0]
    return v.decode() if isinstance(v, bytes) else str(v)


def check_eviction(what: str) -> Step[None]:
    """Warn (:class:`EvictionWarning`) when a master's ``maxmemory-policy`` is not
    ``noeviction``: once ``maxmemory`` is reached it may delete live keys of ``what``.
    A server that refuses ``CONFIG GET`` (managed services) is not checked."""
    try:
        replies = yield Command(("CONFIG GET", "maxmemory-policy"), primaries=True)
    except RedisError:
        return
    for reply in replies:
        policy = _policy(reply)
        if policy is not None and policy != "noeviction":
            warnings.warn(
                f"{what}: the Redis server's maxmemory-policy is {policy!r}; when maxmemory "
                "is reached it may evict this machine's keys and silently reset its limits "
                "(use 'noeviction' or a dedicated instance)",
                EvictionWarning,
                stacklevel=4,
            )
            return
