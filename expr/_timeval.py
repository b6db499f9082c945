"""Timestamps and durations for the ``inngest`` dialect's ``date()`` and ``duration()``.

Promise: two small immutable value types on integer nanoseconds (no clock is read, no
``datetime``): :class:`Timestamp` (UTC, since the Unix epoch) and :class:`Duration`. Parsing is
strict about ranges and returns errors as :class:`ExprEvalError`; formatting follows Go's
``time.Time.String()`` (``2020-01-01 18:35:10 +0000 UTC``) and ``time.Duration.String()``
(``6h35m10s``), which is what Go's ``%v`` prints.
"""

from __future__ import annotations

import re
from typing import Any, Final

from ._errors import ExprEvalError

__all__ = ["Duration", "Timestamp", "parse_date", "parse_duration"]

NS: Final = 1_000_000_000
DAY_NS: Final = 86_400 * NS
# CEL's timestamp range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z
MIN_NS: Final = -62135596800 * NS
MAX_NS: Final = 253402300799 * NS + 999_999_999
MAX_DURATION_NS: Final = 2**63 - 1


class Timestamp:
    """A point in time: integer nanoseconds since 1970-01-01T00:00:00Z."""

    __slots__ = ("ns",)

    ns: int

    def __init__(self, ns: int) -> None:
        if not MIN_NS <= ns <= MAX_NS:
            raise ExprEvalError("timestamp out of range")
        object.__setattr__(self, "ns", ns)

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError("Timestamp is immutable")

    def __eq__(self, other: object) -> bool:
        return type(other) is Timestamp and other.ns == self.ns

    def __hash__(self) -> int:
        return hash(("timestamp", self.ns))

    def __repr__(self) -> str:
        return f"Timestamp({self})"

    def __str__(self) -> str:
        days, rem = divmod(self.ns, DAY_NS)
        y, m, d = civil_from_days(days)
        secs, frac = divmod(rem, NS)
        hh, mm, ss = secs // 3600, secs // 60 % 60, secs % 60
        text = f"{y:04d}-{m:02d}-{d:02d} {hh:02d}:{mm:02d}:{ss:02d}"
        if frac:
            text += "." + f"{frac:09d}".rstrip("0")
        return text + " +0000 UTC"


class Duration:
    """A signed span of time in integer nanoseconds (int64 range, as Go's ``time.Duration``)."""

    __slots__ = ("ns",)

    ns: int

    def __init__(self, ns: int) -> None:
        if not -MAX_DURATION_NS - 1 <= ns <= MAX_DURATION_NS:
            raise ExprEvalError("duration out of range")
        object.__setattr__(self, "ns", ns)

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError("Duration is immutable")

    def __eq__(self, other: object) -> bool:
        return type(other) is Duration and other.ns == self.ns

    def __hash__(self) -> int:
        return hash(("duration", self.ns))

    def __repr__(self) -> str:
        return f"Duration({self})"

    def __str__(self) -> str:
        return go_duration(self.ns)


def days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(z: int) -> tuple[int, int, int]:
    """The (year, month, day) of a day count since 1970-01-01."""
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return y + (m <= 2), m, d


_DATE_RE: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
    r"\s*(Z|z|UTC|[+-]\d{2}(?::?\d{2})?)?\Z"
)
_DAYS_IN_MONTH: Final = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def parse_date(value: Any) -> Timestamp:
    """``date()``: an ISO-8601 date/time string (no zone means UTC) or Unix milliseconds."""
    if type(value) is int or type(value) is float:
        # GUESS: Inngest event timestamps (``event.ts``) are Unix milliseconds.
        if value != value or value in (float("inf"), float("-inf")):
            raise ExprEvalError("date(): invalid number")
        return Timestamp(int(value) * 1_000_000)
    if not isinstance(value, str):
        raise ExprEvalError(f"date(): cannot parse a {type(value).__name__}")
    m = _DATE_RE.match(value.strip())
    if m is None:
        raise ExprEvalError(f"date(): unrecognised date {value[:40]!r}")
    y, mo, d = int(m[1]), int(m[2]), int(m[3])
    hh, mi, ss = int(m[4] or 0), int(m[5] or 0), int(m[6] or 0)
    frac = int((m[7] or "").ljust(9, "0") or 0)
    leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    if not (1 <= mo <= 12 and 1 <= d <= _DAYS_IN_MONTH[mo - 1] and hh < 24 and mi < 60
            and ss < 60) or (mo == 2 and d == 29 and not leap):
        raise ExprEvalError(f"date(): invalid date {value[:40]!r}")
    offset = 0
    zone = m[8]
    if zone and zone not in ("Z", "z", "UTC"):
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 3600 + int(digits[2:4] or 0) * 60)
    secs = days_from_civil(y, mo, d) * 86400 + hh * 3600 + mi * 60 + ss - offset
    return Timestamp(secs * NS + frac)


_UNITS: Final = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": NS,
                 "m": 60 * NS, "h": 3600 * NS}
_DUR_PART: Final = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(value: Any) -> Duration:
    """``duration()``: Go ``time.ParseDuration`` syntax (``"1h30m"``, ``"-1.5h"``, ``"0"``)."""
    if not isinstance(value, str):
        raise ExprEvalError(f"duration(): cannot parse a {type(value).__name__}")
    s = value
    sign = 1
    if s[:1] in "+-" and s:
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return Duration(0)
    if not s:
        raise ExprEvalError(f"duration(): invalid duration {value[:40]!r}")
    total = 0
    pos = 0
    while pos < len(s):
        m = _DUR_PART.match(s, pos)
        if m is None:
            raise ExprEvalError(f"duration(): invalid duration {value[:40]!r}")
        whole, _, frac = m[1].partition(".")
        unit = _UNITS[m[2]]
        total += int(whole or 0) * unit
        if frac:
            total += int(frac) * unit // 10 ** len(frac)
        pos = m.end()
    return Duration(sign * total)


def go_duration(ns: int) -> str:
    """Go's ``time.Duration.String()``."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    u = abs(ns)
    if u < NS:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if u >= size:
                return sign + _fraction(u, size) + unit
    h, rem = divmod(u, 3600 * NS)
    m, rem = divmod(rem, 60 * NS)
    text = _fraction(rem, NS) + "s"
    if h:
        return f"{sign}{h}h{m}m{text}"
    if m:
        return f"{sign}{m}m{text}"
    return sign + text


def _fraction(value: int, size: int) -> str:
    whole, frac = divmod(value, size)
    if not frac:
        return str(whole)
    width = len(str(size)) - 1
    return f"{whole}." + f"{frac:0{width}d}".rstrip("0")


def time_add(a: Any, b: Any) -> Any:
    """``+`` on timestamps and durations, or ``NotImplemented``."""
    ta, tb = type(a), type(b)
    if ta is Timestamp and tb is Duration:
        return Timestamp(a.ns + b.ns)
    if ta is Duration and tb is Timestamp:
        return Timestamp(a.ns + b.ns)
    if ta is Duration and tb is Duration:
        return Duration(a.ns + b.ns)
    return NotImplemented


def time_sub(a: Any, b: Any) -> Any:
    """``-`` on timestamps and durations, or ``NotImplemented``."""
    ta, tb = type(a), type(b)
    if ta is Timestamp and tb is Duration:
        return Timestamp(a.ns - b.ns)
    if ta is Timestamp and tb is Timestamp:
        return Duration(a.ns - b.ns)
    if ta is Duration and tb is Duration:
        return Duration(a.ns - b.ns)
    return NotImplemented
