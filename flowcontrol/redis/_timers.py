"""Plumbing shared by the Redis debounce, batch and priority-queue machines (private).

Each machine's logic is written once, as generators that yield one :class:`Call` (a
script call or a plain read command) and receive its reply; :func:`run` drives them
on a ``redis.Redis``/``RedisCluster`` and :func:`run_async` on their asyncio twins,
so the sync and asyncio classes share every line that decides something.

Encodings (all exact, whatever the server version):

* instants travel and are stored as 21-character decimal strings, ``n + 10**20``
  zero-padded (:func:`enc`), so string order is numeric order and Lua never turns
  an instant into a double; the scripts add durations with two base-10**9 limbs;
* instants and durations must fit the platform's int64 (``ValueError`` otherwise);
* strings (keys, event ids, item ids) go as UTF-8 bytes, lone surrogates included;
* debounce payloads are JSON values (``None``, ``bool``, ``int``, ``float``, ``str``,
  ``list``, ``dict`` with ``str`` keys), stored as compact JSON text and never parsed
  in Lua; they come back ``==`` to what was pushed. Anything else is a ``TypeError``
  (a tuple would come back as a list), a NaN or infinity a ``ValueError``.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, Final, TypeVar

from flowcontrol.time import Clock

__all__ = [
    "INT64_MAX",
    "Call",
    "Step",
    "TimerMachine",
    "dec",
    "dumps_payload",
    "enc",
    "loads_payload",
    "no_clock",
    "pairs",
    "raw_bytes",
    "run",
    "run_async",
    "text",
]

_OFFSET: Final = 10**20
INT64_MAX: Final = (1 << 63) - 1
_INT64_MIN: Final = -(1 << 63)

T = TypeVar("T")


def enc(n: int, what: str = "instant") -> str:
    """The stored form of instant ``n``: 21 digits whose string order is numeric order."""
    if not _INT64_MIN <= n <= INT64_MAX:
        raise ValueError(f"{what} must fit in a signed 64-bit integer on Redis, got {n}")
    return f"{n + _OFFSET:021d}"


def dec(raw: bytes | str) -> int:
    """The instant stored as ``raw`` (the inverse of :func:`enc`)."""
    return int(raw) - _OFFSET


def text(raw: bytes | str) -> str:
    """A reply as ``str`` (clients with ``decode_responses=True`` already give one)."""
    return raw if isinstance(raw, str) else raw.decode("utf-8", "surrogatepass")


def raw_bytes(raw: bytes | str) -> bytes:
    """A reply as ``bytes``, for byte-length framing."""
    return raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")


def arg(s: str) -> bytes:
    """A string argument as UTF-8 bytes (lone surrogates kept, so any ``str`` works)."""
    return s.encode("utf-8", "surrogatepass")


def _check_json(value: object, where: str) -> None:
    t = type(value)
    if value is None or t is bool or t is int or t is str:
        return
    if t is float:
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{where} must be a finite float on Redis, got {value!r}")
        return
    if t is list and isinstance(value, list):
        for i, item in enumerate(value):
            _check_json(item, f"{where}[{i}]")
        return
    if t is dict and isinstance(value, dict):
        for k, item in value.items():
            if type(k) is not str:
                raise TypeError(f"{where} keys must be str on Redis, got {k!r}")
            _check_json(item, f"{where}[{k!r}]")
        return
    raise TypeError(
        f"{where} must be a JSON value (None, bool, int, float, str, list, dict) on Redis, "
        f"got {t.__name__}"
    )


def dumps_payload(value: object) -> bytes:
    """``value`` as compact JSON; refuses what would not come back equal."""
    _check_json(value, "payload")
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8", "surrogatepass"
    )


def loads_payload(raw: bytes | str) -> object:
    """The payload stored by :func:`dumps_payload`."""
    return json.loads(text(raw))


@dataclass(frozen=True, slots=True)
class Call:
    """One round trip: the machine's script with ``args`` (``script=True``), or the
    plain command ``args`` (a read of one key of the machine's slot)."""

    args: tuple[str | bytes | int, ...]
    script: bool = True


Step = Generator[Call, Any, T]
"""A machine operation: yields its one :class:`Call`, returns the decoded answer."""


def _lua(name: str) -> str:
    return (files("flowcontrol.redis") / "lua" / name).read_text(encoding="utf-8")


class TimerMachine:
    """Keys, script and clock of one machine (``kind`` and ``name`` make its hash tag).

    Every key is ``{fc:<kind>:<name>}:<part>``: one hash tag, so every script touches
    one Redis Cluster slot.
    """

    def __init__(
        self, client: Any, name: str, kind: str, script: str, parts: Sequence[str],
        clock: Clock | None,
    ) -> None:
        if type(name) is not str or not name:
            raise ValueError(f"name must be a non-empty str, got {name!r}")
        self.client = client
        self.name = name
        self.clock = clock
        self.keys = tuple(f"{{fc:{kind}:{name}}}:{part}" for part in parts)
        self._script = client.register_script(_lua("timers_prelude.lua") + _lua(script))

    def reading(self, floor: int = 0) -> str:
        """This call's clock reading as sent to the script ("" = the server's TIME)."""
        if self.clock is None:
            return ""
        now = self.clock()
        return enc(now if now > floor else floor, "clock reading")

    def key(self, part: int) -> str:
        """The name of key ``part`` (an index into the machine's parts)."""
        return self.keys[part]


def run(m: TimerMachine, step: Step[T]) -> T:
    """Drive ``step`` on a synchronous client."""
    call = next(step)
    while True:
        if call.script:
            reply = m._script(keys=m.keys, args=call.args)
        else:
            reply = m.client.execute_command(*call.args)
        try:
            call = step.send(reply)
        except StopIteration as done:
            result: T = done.value
            return result


async def run_async(m: TimerMachine, step: Step[T]) -> T:
    """Drive ``step`` on an asyncio client."""
    call = next(step)
    while True:
        if call.script:
            reply = await m._script(keys=m.keys, args=call.args)
        else:
            reply = await m.client.execute_command(*call.args)
        try:
            call = step.send(reply)
        except StopIteration as done:
            result: T = done.value
            return result


def no_clock() -> int:
    """A stand-in clock for validating arguments when the server's TIME is the clock."""
    return 0


def pairs(reply: Any) -> list[tuple[Any, Any]]:
    """An HGETALL reply as pairs, whether the client gives a dict or a flat list."""
    if isinstance(reply, dict):
        return list(reply.items())
    return list(zip(reply[::2], reply[1::2], strict=True))
