"""Time for the state machines: integer nanoseconds, duration strings and clocks.

Every machine takes ``clock=``, any zero-argument callable returning nanoseconds
(``time.monotonic_ns`` works as is). Nothing here reads the wall clock.

Durations follow the two Go parsers the platform uses:

* ``parse_duration`` mirrors ``github.com/xhit/go-str2duration/v2`` (throttle,
  rate limit, debounce, timeouts): units ns, us/µs/μs, ms, s, m, h, d (24h) and
  w (168h), decimals, an optional sign, and a bare ``"0"``.
* ``parse_duration_strict`` mirrors Go's ``time.ParseDuration`` (batch timeout):
  the same without ``d`` and ``w``.

Fractions follow Go's arithmetic (``int64(float64(f) * (unit / scale))``), which
equals exact truncation for up to 15 fractional digits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

__all__ = [
    "NS_PER_MS",
    "NS_PER_S",
    "Clock",
    "DurationError",
    "ManualClock",
    "format_duration",
    "parse_duration",
    "parse_duration_strict",
    "to_ns",
]

Clock = Callable[[], int]
"""A zero-argument callable returning the current time in integer nanoseconds."""

NS_PER_US: Final = 1_000
NS_PER_MS: Final = 1_000_000
NS_PER_S: Final = 1_000_000_000
_NS_PER_M: Final = 60 * NS_PER_S
_NS_PER_H: Final = 60 * _NS_PER_M

_GO_UNITS: Final[dict[str, int]] = {
    "ns": 1,
    "us": NS_PER_US,
    "µs": NS_PER_US,  # U+00B5 micro sign
    "μs": NS_PER_US,  # U+03BC Greek small letter mu
    "ms": NS_PER_MS,
    "s": NS_PER_S,
    "m": _NS_PER_M,
    "h": _NS_PER_H,
}
_STR2DURATION_UNITS: Final[dict[str, int]] = {
    **_GO_UNITS,
    "d": 24 * _NS_PER_H,
    "w": 7 * 24 * _NS_PER_H,
}
_INT64_MAX: Final = (1 << 63) - 1


class DurationError(ValueError):
    """A duration string that does not parse; ``.text`` holds the input."""

    def __init__(self, text: object, reason: str) -> None:
        self.text = text
        self.reason = reason
        super().__init__(f"invalid duration {text!r}: {reason}")


def _parse(text: object, units: dict[str, int]) -> int:
    if not isinstance(text, str):
        raise DurationError(text, "expected a string such as '1h30m'")
    s = text
    i, n = 0, len(s)
    negative = False
    if i < n and s[i] in "+-":
        negative = s[i] == "-"
        i += 1
    if s[i:] == "0":
        return 0
    if i == n:
        raise DurationError(text, "empty duration")
    total = 0
    while i < n:
        start = i
        while i < n and s[i].isascii() and s[i].isdigit():
            i += 1
        whole = s[start:i]
        frac = ""
        if i < n and s[i] == ".":
            i += 1
            fstart = i
            while i < n and s[i].isascii() and s[i].isdigit():
                i += 1
            frac = s[fstart:i]
        if not whole and not frac:
            raise DurationError(text, f"expected a number at position {start + 1}")
        ustart = i
        while i < n and not (s[i] == "." or (s[i].isascii() and s[i].isdigit())):
            i += 1
        unit = s[ustart:i]
        if not unit:
            raise DurationError(text, f"missing unit after {s[start:i]!r}")
        scale = units.get(unit)
        if scale is None:
            allowed = ", ".join(units)
            raise DurationError(text, f"unknown unit {unit!r} (allowed: {allowed})")
        value = int(whole or "0") * scale
        if frac:
            value += _go_fraction(frac, scale)
        total += value
        if total > _INT64_MAX:
            raise DurationError(text, "overflows a 64-bit count of nanoseconds")
    return -total if negative else total


def _go_fraction(digits: str, unit: int) -> int:
    """The nanoseconds of ``.digits`` of ``unit``, computed as Go does.

    Go accumulates at most the digits that fit in an int64 (later ones are
    ignored) and then computes ``int64(float64(f) * (float64(unit) / scale))``.
    For fractions of up to 15 digits this equals exact truncation; beyond that
    the float rounding shows (``"0.99999999999999999999s"`` is one second).
    """
    f = 0
    scale = 1.0
    for ch in digits:
        nxt = f * 10 + ord(ch) - 48
        if nxt > _INT64_MAX:
            break
        f = nxt
        scale *= 10
    return int(float(f) * (float(unit) / scale))


def parse_duration(text: str) -> int:
    """Parse a str2duration string (``"1h30m"``, ``"7d"``, ``"1.5s"``) to nanoseconds."""
    return _parse(text, _STR2DURATION_UNITS)


def parse_duration_strict(text: str) -> int:
    """Parse a Go ``time.ParseDuration`` string (no ``d``/``w``) to nanoseconds."""
    return _parse(text, _GO_UNITS)


def to_ns(value: int | str, *, name: str = "duration") -> int:
    """Accept an int of nanoseconds or a str2duration string; return nanoseconds."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int of nanoseconds or a duration string, not bool")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return parse_duration(value)
    raise TypeError(
        f"{name} must be an int of nanoseconds or a duration string, not {type(value).__name__}"
    )


def format_duration(ns: int) -> str:
    """Format nanoseconds like Go's ``Duration.String`` (``"1h30m0s"``, ``"1.5s"``)."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    u = abs(ns)
    if u < NS_PER_S:
        for unit, scale in (("ms", NS_PER_MS), ("µs", NS_PER_US), ("ns", 1)):
            if u >= scale:
                return sign + _decimal(u, scale) + unit
    hours, rest = divmod(u, _NS_PER_H)
    minutes, rest = divmod(rest, _NS_PER_M)
    out = sign
    if hours:
        out += f"{hours}h"
    if hours or minutes:
        out += f"{minutes}m"
    return out + _decimal(rest, NS_PER_S) + "s"


def _decimal(value: int, scale: int) -> str:
    whole, frac = divmod(value, scale)
    if not frac:
        return str(whole)
    digits = len(str(scale)) - 1
    return f"{whole}." + f"{frac:0{digits}d}".rstrip("0")


class ManualClock:
    """A clock that moves only when told to, and never backwards."""

    __slots__ = ("_now",)

    def __init__(self, start: int = 0) -> None:
        self._now = int(start)

    def __call__(self) -> int:
        return self._now

    @property
    def now(self) -> int:
        return self._now

    def advance(self, ns: int | str) -> int:
        """Move forward by ``ns`` (int or duration string); return the new time."""
        step = to_ns(ns, name="step")
        if step < 0:
            raise ValueError(f"a ManualClock never goes backwards (advance by {step})")
        self._now += step
        return self._now

    def set(self, ns: int) -> int:
        """Jump to ``ns``, which must not be earlier than now; return it."""
        if ns < self._now:
            raise ValueError(f"a ManualClock never goes backwards ({ns} < {self._now})")
        self._now = ns
        return self._now

    def __repr__(self) -> str:
        return f"ManualClock({self._now})"
