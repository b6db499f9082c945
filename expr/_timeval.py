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

__all__ = ["Duration", "Timestamp", "date_from_int", "date_from_string", "parse_duration"]

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

    @classmethod
    def unchecked(cls, ns: int) -> Timestamp:
        """A timestamp outside CEL's range too (Go's ``time.Time`` has year 0, which the
        platform's ``date()`` gives a layout without a year)."""
        t = object.__new__(cls)
        object.__setattr__(t, "ns", ns)
        return t

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
    era = y // 400  # (floor division: the C original's adjustment for negatives is built in)
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(z: int) -> tuple[int, int, int]:
    """The (year, month, day) of a day count since 1970-01-01."""
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return y + (m <= 2), m, d


# -- date(): the platform's pkg/dateutil ----------------------------------------------------
# inngest/inngest pkg/dateutil/dateutil.go: ParseInt, and ParseString trying Go layouts in
# this order with time.Parse. Each layout is spelled as the elements Go's Parse reads
# (time/format.go): Y4 "2006", Y2 "06", M2 "01", Mon "Jan", D2 "02", D_ "_2", Wk "Mon",
# Weekday "Monday", h "15", m2 "04", s2 "05", F3 ".000", F9 ".999999999", Zc "Z07:00",
# Zn "-0700", TZ "MST"; anything else is literal text.
_LAYOUTS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("RFC3339", ("Y4", "-", "M2", "-", "D2", "T", "h", ":", "m2", ":", "s2", "Zc")),
    ("2006-01-02T15:04:05", ("Y4", "-", "M2", "-", "D2", "T", "h", ":", "m2", ":", "s2")),
    ("RFC1123", ("Wk", ", ", "D2", " ", "Mon", " ", "Y4", " ", "h", ":", "m2", ":", "s2", " ",
                 "TZ")),
    ("RFC822", ("D2", " ", "Mon", " ", "Y2", " ", "h", ":", "m2", " ", "TZ")),
    ("RFC822Z", ("D2", " ", "Mon", " ", "Y2", " ", "h", ":", "m2", " ", "Zn")),
    ("RFC850", ("Weekday", ", ", "D2", "-", "Mon", "-", "Y2", " ", "h", ":", "m2", ":", "s2",
                " ", "TZ")),
    ("RubyDate", ("Wk", " ", "Mon", " ", "D2", " ", "h", ":", "m2", ":", "s2", " ", "Zn", " ",
                  "Y4")),
    ("UnixDate", ("Wk", " ", "Mon", " ", "D_", " ", "h", ":", "m2", ":", "s2", " ", "TZ", " ",
                  "Y4")),
    ("ANSIC", ("Wk", " ", "Mon", " ", "D_", " ", "h", ":", "m2", ":", "s2", " ", "Y4")),
    ("Stamp", ("Mon", " ", "D_", " ", "h", ":", "m2", ":", "s2")),
    ("StampMilli", ("Mon", " ", "D_", " ", "h", ":", "m2", ":", "s2", "F3")),
    ("2006-01-02", ("Y4", "-", "M2", "-", "D2")),
    ("time.Time.String()", ("Y4", "-", "M2", "-", "D2", " ", "h", ":", "m2", ":", "s2", "F9",
                            " ", "Zn", " ", "TZ")),
)
LAYOUT_NAMES: Final = tuple(name for name, _ in _LAYOUTS)
_MONTHS: Final = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                  "dec")
_DAYS: Final = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_LONG_DAYS: Final = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday",
                     "saturday")
_DAYS_IN_MONTH: Final = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_DIGITS: Final = frozenset("0123456789")
_UNIX_MIN: Final = 946_684_800  # 2000-01-01: smaller integers are not dates (dateutil.go)


class _Bad(Exception):
    """A layout does not match (Go's ``time.Parse`` error; the next layout is tried)."""


def _num(v: str, fixed: bool) -> tuple[int, str]:
    """Go's ``getnum``: one or two digits (exactly two when ``fixed``)."""
    if not v or v[0] not in _DIGITS:
        raise _Bad
    if len(v) < 2 or v[1] not in _DIGITS:
        if fixed:
            raise _Bad
        return int(v[0]), v[1:]
    return int(v[:2]), v[2:]


def _atoi(v: str) -> int:
    """Go's ``atoi`` in the time package: an optional sign, then only digits."""
    d = v[1:] if v[:1] in ("+", "-") else v
    if not d or not all(c in _DIGITS for c in d):
        raise _Bad
    return -int(d) if v[:1] == "-" else int(d)


def _fraction_digits(v: str) -> tuple[int, str]:
    """A separator (``.`` or ``,``) and all the digits after it (Go keeps 9): ns, rest."""
    n = 1
    while n < len(v) and v[n] in _DIGITS:
        n += 1
    return _nanos(v, n), v[n:]


def _nanos(v: str, n: int) -> int:
    """Go's ``parseNanoseconds``: ``v[:n]`` is a separator and digits (9 of them count)."""
    if v[0] not in ".,":
        raise _Bad
    n = min(n, 10)
    ns = _atoi(v[1:n])
    if ns < 0:
        raise _Bad
    scale: int = 10 ** (10 - n)
    return ns * scale


def _name(v: str, names: tuple[str, ...]) -> tuple[int, str]:
    """Go's ``lookup``: the first name ``v`` starts with, ASCII case-insensitively."""
    for i, n in enumerate(names):
        if v[:len(n)].lower() == n:
            return i, v[len(n):]
    raise _Bad


def _skip(v: str, lit: str) -> str:
    """Go's ``skip``: literal text; a space matches one or more spaces."""
    while lit:
        if lit[0] == " ":
            if v and v[0] != " ":
                raise _Bad
            lit = lit.lstrip(" ")
            v = v.lstrip(" ")
            continue
        if not v or v[0] != lit[0]:
            raise _Bad
        lit, v = lit[1:], v[1:]
    return v


def _signed_offset(v: str) -> int:
    """Go's ``parseSignedOffset``: how much of ``v`` a ``+h``/``-h`` offset takes (0: none)."""
    if not v or v[0] not in "+-":
        return 0
    n = 1
    while n < len(v) and v[n] in _DIGITS:
        n += 1
    if n == 1 or int(v[1:n]) > 23:
        return 0
    return n


def _zone_name(v: str) -> int:
    """Go's ``parseTimeZone``: the length of a zone abbreviation at the start of ``v``, or 0."""
    if len(v) < 3:
        return 0
    if v[:4] in ("ChST", "MeST"):
        return 4
    if v[:3] == "GMT":
        return 3 + _signed_offset(v[3:])
    if v[0] in "+-":
        return _signed_offset(v)
    upper = 0
    while upper < min(len(v), 6) and "A" <= v[upper] <= "Z":
        upper += 1
    if upper == 3:
        return 3
    if upper == 4 and (v[3] == "T" or v[:4] == "WITA"):
        return 4
    if upper == 5 and v[4] == "T":
        return 5
    return 0


def _go_parse(layout: tuple[str, ...], v: str) -> int:
    """Go's ``time.Parse(layout, v)`` for our layouts: Unix nanoseconds, or ``_Bad``.

    As Go: fractional seconds may follow the seconds in any layout; a weekday is read and
    not checked; a zone abbreviation other than ``UTC`` only names the zone, the clock is
    read as UTC (``GMT+2`` too: Go labels the time, it does not shift it), as on a server
    whose local zone is UTC; with ``UTC`` a numeric offset before it is ignored; the day
    must exist in its month (year 0 when the layout has none).
    """
    year, month, day, hour, minute, sec, nsec = 0, 1, 1, 0, 0, 0, 0
    utc = False
    offset: int | None = None
    last = len(layout) - 1
    for i, el in enumerate(layout):
        if el == "Y4":
            if len(v) < 4 or v[0] not in _DIGITS:
                raise _Bad
            year, v = _atoi(v[:4]), v[4:]
        elif el == "Y2":
            if len(v) < 2:
                raise _Bad
            year, v = _atoi(v[:2]), v[2:]
            year += 1900 if year >= 69 else 2000
        elif el == "M2":
            month, v = _num(v, True)
            if not 1 <= month <= 12:
                raise _Bad
        elif el == "Mon":
            month, v = _name(v, _MONTHS)
            month += 1
        elif el in ("D2", "D_"):
            if el == "D_" and v[:1] == " ":
                v = v[1:]
            day, v = _num(v, el == "D2")
        elif el == "Wk":
            v = _name(v, _DAYS)[1]
        elif el == "Weekday":
            v = _name(v, _LONG_DAYS)[1]
        elif el == "h":
            hour, v = _num(v, False)
            if hour >= 24:
                raise _Bad
        elif el == "m2":
            minute, v = _num(v, True)
            if minute >= 60:
                raise _Bad
        elif el == "s2":
            sec, v = _num(v, True)
            if sec >= 60:
                raise _Bad
            fraction_next = i < last and layout[i + 1] in ("F3", "F9")
            if not fraction_next and len(v) >= 2 and v[0] in ".," and v[1] in _DIGITS:
                nsec, v = _fraction_digits(v)
        elif el == "F3":
            if len(v) < 4:
                raise _Bad
            nsec, v = _nanos(v, 4), v[4:]
        elif el == "F9":
            if len(v) >= 2 and v[0] in ".," and v[1] in _DIGITS:
                nsec, v = _fraction_digits(v)
        elif el == "Zc" and v[:1] == "Z":
            utc, v = True, v[1:]
        elif el in ("Zc", "Zn"):
            width = 6 if el == "Zc" else 5
            if len(v) < width or (el == "Zc" and v[3] != ":"):
                raise _Bad
            sign, hh, mm, v = v[0], v[1:3], v[width - 2:width], v[width:]
            oh, om = _num(hh, True)[0], _num(mm, True)[0]
            if oh > 24 or om > 60 or sign not in "+-":
                raise _Bad
            offset = (oh * 60 + om) * 60 * (-1 if sign == "-" else 1)
        elif el == "TZ":
            if v[:3] == "UTC":
                utc, v = True, v[3:]
                continue
            n = _zone_name(v)
            if not n:
                raise _Bad
            v = v[n:]
        else:
            v = _skip(v, el)
    if v:
        raise _Bad  # extra text
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if not 1 <= day <= _DAYS_IN_MONTH[month - 1] + (month == 2 and leap):
        raise _Bad  # day out of range
    secs = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + sec
    if not utc and offset is not None:
        secs -= offset
    return secs * NS + nsec


_RFC3339: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})"
)


def _rfc3339_fast(text: str) -> int | None:
    """Go's own fast path for RFC 3339 (``parseRFC3339``): the strict common form, in
    range, else None (then the general parse decides, with the same result when both do)."""
    m = _RFC3339.fullmatch(text)
    if m is None:
        return None
    y, mo, d, h, mi, sec = (int(g) for g in m.groups()[:6])
    leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    if not (1 <= mo <= 12 and 1 <= d <= _DAYS_IN_MONTH[mo - 1] + (mo == 2 and leap)
            and h < 24 and mi < 60 and sec < 60):
        return None
    frac, zone = m[7], m[8]
    secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec
    if zone != "Z":
        oh, om = int(zone[1:3]), int(zone[4:6])
        if oh > 23 or om > 59:
            return None
        secs -= (oh * 60 + om) * 60 * (-1 if zone[0] == "-" else 1)
    return secs * NS + (_nanos(frac, len(frac)) if frac else 0)


def date_from_string(text: str) -> Timestamp | None:
    """The platform's ``dateutil.ParseString``: the first layout that parses, else None."""
    fast = _rfc3339_fast(text)
    if fast is not None:
        return Timestamp.unchecked(fast)
    for _, layout in _LAYOUTS:
        try:
            return Timestamp.unchecked(_go_parse(layout, text))
        except _Bad:
            continue
    return None


def date_from_int(value: int) -> Timestamp | None:
    """The platform's ``dateutil.ParseInt``: below 946,684,800 (2000) not a date (None);
    below 9,999,999,999 Unix seconds; below 9,999,999,999,999 Unix milliseconds; else
    Unix nanoseconds."""
    if value < _UNIX_MIN:
        return None
    if value < 9_999_999_999:
        return Timestamp.unchecked(value * NS)
    if value < 9_999_999_999_999:
        return Timestamp.unchecked(value * 1_000_000)
    return Timestamp.unchecked(value)


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
