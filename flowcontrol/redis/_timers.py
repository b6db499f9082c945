"""What the Redis debounce, batch and priority-queue machines share (private; I/O adapter).

Instants on these machines are kept in *ordered* structures (lexicographic sorted
sets: due times, deadlines, scores), so they need a text form whose string order is
numeric order. That form is :func:`enc`: ``n + 10**20`` zero-padded to 21 digits, for
any int64 ``n`` (sums of two int64 values stay within it). Index members are that text
followed by fixed-width ids, scanned with ``ZRANGEBYLEX``; sorted-set scores (doubles)
are never used.

* instants and durations must fit the platform's int64 (``ValueError`` otherwise);
* strings (keys, event ids, item ids) go as UTF-8 bytes, lone surrogates included;
* debounce payloads are JSON values (``None``, ``bool``, ``int``, ``float``, ``str``,
  ``list``, ``dict`` with ``str`` keys), stored as compact JSON text and never parsed
  in Lua; they come back ``==`` to what was pushed. Anything else is a ``TypeError``
  (a tuple would come back as a list), a NaN or an infinity a ``ValueError``.

``lua/timers.lua`` (the Lua side of this module, the only prelude of these scripts: the
general one of :mod:`._bigint` is not needed) holds ``ns_add`` (two fixed-width limbs),
``tick`` (the clock's high-water mark) and ``upto`` (an index bound).
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any, Final

from flowcontrol.redis._script import Script
from flowcontrol.time import Clock

__all__ = [
    "INT64_MAX",
    "arg",
    "dec",
    "dumps_payload",
    "enc",
    "fit_int64",
    "loads_payload",
    "no_clock",
    "pairs",
    "raw_bytes",
    "reading",
    "text",
    "timer_script",
]

_OFFSET: Final = 10**20
INT64_MAX: Final = (1 << 63) - 1
_INT64_MIN: Final = -(1 << 63)


def fit_int64(n: int, what: str, unit: str = "") -> int:
    """``n``, or a ValueError naming ``what`` if it does not fit a signed 64-bit integer
    (what Redis stores and its scripts read exactly)."""
    if not _INT64_MIN <= n <= INT64_MAX:
        raise ValueError(f"{what} must fit in a signed 64-bit integer on Redis, got {n}{unit}")
    return n


def enc(n: int, what: str = "instant") -> str:
    """The stored form of instant ``n``: 21 digits whose string order is numeric order."""
    return f"{fit_int64(n, what) + _OFFSET:021d}"


def dec(raw: bytes | str) -> int:
    """The instant stored as ``raw`` (the inverse of :func:`enc`)."""
    return int(raw) - _OFFSET


def reading(clock: Clock | None, floor: int = 0) -> str:
    """A call's clock reading as its script takes it: ``enc(max(floor, clock()))``, or
    "" (the script reads the server's ``TIME``) without a clock."""
    if clock is None:
        return ""
    now = clock()
    return enc(now if now > floor else floor, "clock reading")


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


def no_clock() -> int:
    """A stand-in clock for validating arguments when the server's TIME is the clock."""
    return 0


def pairs(reply: Any) -> list[tuple[Any, Any]]:
    """An HGETALL reply as pairs, whether the client gives a dict or a flat list."""
    if isinstance(reply, dict):
        return list(reply.items())
    return list(zip(reply[::2], reply[1::2], strict=True))


def _lua(name: str) -> str:
    return (files("flowcontrol.redis") / "lua" / name).read_text(encoding="utf-8")


def timer_script(name: str) -> Script:
    """The script ``lua/<name>.lua`` after ``timers.lua`` (and no other prelude)."""
    return Script(name, _lua("timers.lua") + _lua(f"{name}.lua"), prelude=False)
