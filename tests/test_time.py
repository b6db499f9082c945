"""Durations and clocks: parity with Go's str2duration / time.ParseDuration, ManualClock.

Expected values are those of the Go parsers (``github.com/xhit/go-str2duration/v2``, a copy
of Go's ``time.ParseDuration`` plus ``d`` and ``w``) and of Go's ``Duration.String``.
"""

from __future__ import annotations

import pytest

from flowcontrol.time import (
    DurationError,
    ManualClock,
    format_duration,
    parse_duration,
    parse_duration_strict,
    to_ns,
)

NS, US, MS, S = 1, 1_000, 1_000_000, 1_000_000_000
M, H = 60 * S, 3600 * S
D, W = 24 * H, 7 * 24 * H
MAX = (1 << 63) - 1

BOTH = [
    # Go's time.ParseDuration table (shared by both parsers)
    ("0", 0), ("+0", 0), ("-0", 0),
    ("5s", 5 * S), ("30s", 30 * S), ("1478s", 1478 * S),
    ("-5s", -5 * S), ("+5s", 5 * S), ("-0s", 0), ("+0s", 0),
    ("5.0s", 5 * S), ("5.6s", 5 * S + 600 * MS), ("5.s", 5 * S), (".5s", 500 * MS),
    ("1.0s", S), ("1.00s", S), ("1.004s", S + 4 * MS), ("1.0040s", S + 4 * MS),
    ("100.00100s", 100 * S + MS),
    ("10ns", 10), ("11us", 11 * US), ("12µs", 12 * US), ("12μs", 12 * US),
    ("13ms", 13 * MS), ("14s", 14 * S), ("15m", 15 * M), ("16h", 16 * H),
    ("3h30m", 3 * H + 30 * M), ("10.5s4m", 4 * M + 10 * S + 500 * MS),
    ("-2m3.4s", -(2 * M + 3 * S + 400 * MS)),
    ("1h2m3s4ms5us6ns", H + 2 * M + 3 * S + 4 * MS + 5 * US + 6),
    ("39h9m14.425s", 39 * H + 9 * M + 14 * S + 425 * MS),
    ("52763797000ns", 52763797000), ("0.3333333333333333333h", 20 * M),
    ("9007199254740993ns", (1 << 53) + 1),
    ("9223372036854775807ns", MAX), ("9223372036854775.807us", MAX),
    ("9223372036s854ms775us807ns", MAX),
    ("-9223372036854775807ns", -MAX),
    # fractions longer than an int64 are cut short and multiplied in float64, as in Go
    ("0.100000000000000000000h", 6 * M),
    ("0.830103483285477580700h", 49 * M + 48 * S + 372539827),
    ("0.99999999999999999999s", S),
    # str2duration's own test table
    ("4.000000001s", 4 * S + 1), ("1h0m4.000000001s", H + 4 * S + 1),
    ("1h1m0.01s", 61 * M + 10 * MS), ("1h1m0.123456789s", 61 * M + 123456789),
    ("1.00002ms", MS + 20), ("1.00000002s", S + 20), ("693ns", 693),
    ("10s1us693ns", 10 * S + US + 693), ("1ms1ns", MS + 1), ("1s20ns", S + 20),
    ("60h8ms", 60 * H + 8 * MS), ("96h63s", 96 * H + 63 * S),
]
STR2DURATION_ONLY = [
    ("2d3s96ns", 2 * D + 3 * S + 96), ("1w2d3s96ns", W + 2 * D + 3 * S + 96),
    ("1w2d3s3µs96ns", W + 2 * D + 3 * S + 3 * US + 96),
    ("7d", 7 * D), ("1w", W), ("1.5d", 36 * H), ("0.5w", 84 * H),
]
INVALID = [
    "", "3", "-", "+", "s", ".", "-.", ".s", "+.s", "1.2.3s", " 1s", "1s ", "1 s",
    "1S", "1H", "1sec", "1x", "5m-3s", "--1s", "1e3s", "١s", "０s", "00",
    "3000000h", "9223372036854775808ns", "9223372036854775.808us",
    "9223372036s854ms775us808ns", "-9223372036854775808ns", "15250w2d",
]


@pytest.mark.parametrize(("text", "ns"), BOTH + STR2DURATION_ONLY)
def test_parse_duration(text: str, ns: int) -> None:
    assert parse_duration(text) == ns


@pytest.mark.parametrize(("text", "ns"), BOTH)
def test_parse_duration_strict(text: str, ns: int) -> None:
    assert parse_duration_strict(text) == ns


@pytest.mark.parametrize(("text", "_ns"), STR2DURATION_ONLY)
def test_strict_has_no_days_or_weeks(text: str, _ns: int) -> None:
    with pytest.raises(DurationError, match="unknown unit"):
        parse_duration_strict(text)


@pytest.mark.parametrize("text", INVALID)
def test_invalid_strings_raise_a_value_error_naming_the_input(text: str) -> None:
    for parse in (parse_duration, parse_duration_strict):
        with pytest.raises(ValueError, match="invalid duration") as info:
            parse(text)
        assert isinstance(info.value, DurationError) and info.value.text == text
        assert repr(text) in str(info.value)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("1sec", "unknown unit 'sec' (allowed: ns, us, µs, μs, ms, s, m, h, d, w)"),
        ("3", "missing unit"),
        (".s", "expected a number at position 1"),
        ("3000000h", "overflows"),
    ],
)
def test_error_reasons(text: str, reason: str) -> None:
    with pytest.raises(DurationError) as info:
        parse_duration(text)
    assert reason in info.value.reason


@pytest.mark.parametrize("value", [None, 5, 1.5, b"1s"])
def test_parse_rejects_non_strings(value: object) -> None:
    with pytest.raises(DurationError, match="expected a string"):
        parse_duration(value)  # type: ignore[arg-type]


def test_to_ns() -> None:
    assert to_ns(1500) == 1500
    assert to_ns("1h30m") == 90 * M
    assert to_ns(-5) == -5
    with pytest.raises(TypeError, match="timeout must be"):
        to_ns(True, name="timeout")
    with pytest.raises(TypeError, match="not float"):
        to_ns(1.5)  # type: ignore[arg-type]
    with pytest.raises(DurationError):
        to_ns("1 hour")


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        # Go's Duration.String table
        (0, "0s"), (1, "1ns"), (1100, "1.1µs"), (2200 * US, "2.2ms"), (3300 * MS, "3.3s"),
        (4 * M + 5 * S, "4m5s"), (4 * M + 5001 * MS, "4m5.001s"),
        (5 * H + 6 * M + 7001 * MS, "5h6m7.001s"), (8 * M + 1, "8m0.000000001s"),
        (MAX, "2562047h47m16.854775807s"), (-MAX, "-2562047h47m16.854775807s"),
        (-1, "-1ns"), (H, "1h0m0s"), (90 * S, "1m30s"), (999, "999ns"),
    ],
)
def test_format_duration_matches_go(ns: int, text: str) -> None:
    assert format_duration(ns) == text
    assert parse_duration_strict(text) == ns


def test_manual_clock() -> None:
    clock = ManualClock()
    assert clock() == clock.now == 0
    assert clock.advance(5) == 5
    assert clock.advance("1.5s") == 5 + 1500 * MS
    assert clock.set(10 * S) == 10 * S
    assert clock.set(10 * S) == 10 * S  # staying put is fine
    assert clock() == 10 * S
    assert repr(clock) == f"ManualClock({10 * S})"
    assert ManualClock(7)() == 7


def test_manual_clock_never_goes_backwards() -> None:
    clock = ManualClock(100)
    with pytest.raises(ValueError, match="never goes backwards"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="never goes backwards"):
        clock.advance("-1s")
    with pytest.raises(ValueError, match="never goes backwards"):
        clock.set(99)
    assert clock() == 100
