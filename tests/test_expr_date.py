"""``date()`` in the ``inngest`` dialect, as the platform parses it (issue 12, part 3).

Sources (inngest/inngest at 253303cd): ``pkg/expressions/exprenv/overloads.go`` (the
``date`` overload: a ``string`` goes to ``dateutil.ParseString``, an ``int`` to
``dateutil.ParseInt``, anything else, and any failure, returns a nil ``ref.Val``),
``pkg/dateutil/dateutil.go`` (``strFormats``, tried in order with Go's ``time.Parse``;
``ParseInt``'s ranges), and what cel-go v0.27.0 (vendored there) and the platform's
decorators (``pkg/expressions/unknown.go``, ``cel.go``) do with that nil. One table per
layout and per integer range; ``None`` in a table is "not a date" (the nil). Timestamps
are written as Go's ``time.Time.String()`` in UTC, which is how ours print.
"""

from __future__ import annotations

from typing import Any

import pytest

import expr
from expr import ExprEvalError
from expr._inngest import NIL, date
from expr._timeval import LAYOUT_NAMES
from expr._values import UInt

UTC = " +0000 UTC"


def show(v: Any) -> str | None:
    return None if v is NIL else str(v)


# -- integers: dateutil.go ParseInt --------------------------------------------------------
INTS = [
    # (value, want) -- `if input < 946_684_800` (before 2000): not a date
    (-1, None),
    (0, None),
    (946_684_799, None),
    # `if input < 9999999999`: time.Unix(input, 0), seconds
    (946_684_800, "2000-01-01 00:00:00" + UTC),
    (1_577_836_800, "2020-01-01 00:00:00" + UTC),
    (9_999_999_998, "2286-11-20 17:46:38" + UTC),
    # `if input < 9999999999999`: time.Unix(0, input*1_000_000), milliseconds ("a JS value")
    (9_999_999_999, "1970-04-26 17:46:39.999" + UTC),
    (1_577_836_800_000, "2020-01-01 00:00:00" + UTC),
    (1_577_836_800_123, "2020-01-01 00:00:00.123" + UTC),
    (9_999_999_999_998, "2286-11-20 17:46:39.998" + UTC),
    # otherwise time.Unix(0, input), nanoseconds
    (9_999_999_999_999, "1970-01-01 02:46:39.999999999" + UTC),
    (1_577_836_800_000_000_000, "2020-01-01 00:00:00" + UTC),
    (2**63 - 1, "2262-04-11 23:47:16.854775807" + UTC),
]


@pytest.mark.parametrize(("value", "want"), INTS)
def test_integers_by_range(value: int, want: str | None) -> None:
    assert show(date(value)) == want


OTHER_TYPES = [
    # overloads.go switches on the CEL type name: "string" and "int" only. A double is not
    # truncated there (dateutil.Parse would, but the overload does not call it): JSON
    # numbers in event data are doubles, so date(event.data.ts) is nil on the platform.
    1_577_836_800.0,
    1_577_836_800_000.0,
    UInt(1_577_836_800),
    True,
    None,
    [1_577_836_800],
    {"ts": 1_577_836_800},
    b"2020-01-01",
]


@pytest.mark.parametrize("value", OTHER_TYPES, ids=repr)
def test_other_types_are_not_dates(value: Any) -> None:
    assert date(value) is NIL


# -- strings: dateutil.go strFormats, in order, with Go's time.Parse -----------------------
LAYOUT_ROWS: dict[str, list[tuple[str, str | None]]] = {
    "RFC3339": [  # time.RFC3339 "2006-01-02T15:04:05Z07:00"
        ("2020-01-01T12:00:00Z", "2020-01-01 12:00:00" + UTC),
        ("2020-01-01T12:00:00+02:00", "2020-01-01 10:00:00" + UTC),
        ("2020-01-01T12:00:00.123456789-07:30", "2020-01-01 19:30:00.123456789" + UTC),
        ("2020-01-01T12:00:00,5Z", "2020-01-01 12:00:00.5" + UTC),  # a fraction, either mark
        ("2020-01-01T12:00:00.1234567891Z", "2020-01-01 12:00:00.123456789" + UTC),  # 9 count
        ("2020-01-01T1:00:00Z", "2020-01-01 01:00:00" + UTC),  # "15" reads 1 or 2 digits
        ("2020-01-01T12:00:00+24:00", "2019-12-31 12:00:00" + UTC),  # offsets up to 24:60
        ("2016-02-29T00:00:00Z", "2016-02-29 00:00:00" + UTC),
        ("2020-02-30T00:00:00Z", None),  # day out of range
        ("2020-13-01T00:00:00Z", None),  # month out of range
        ("2020-01-01T24:00:00Z", None),  # hour out of range
        ("2020-01-01T12:60:00Z", None),
        ("2020-01-01T12:00:60Z", None),  # no leap second
        ("2020-01-01t12:00:00Z", None),  # the T is literal
        ("2020-01-01T12:00:00z", None),  # so is the Z
        ("2020-01-01T12:00:00+0200", None),  # Z07:00 needs the colon
        (" 2020-01-01T12:00:00Z", None),
    ],
    "2006-01-02T15:04:05": [  # no zone: UTC
        ("2020-01-01T12:00:00", "2020-01-01 12:00:00" + UTC),
        ("2020-01-01T12:00:00.25", "2020-01-01 12:00:00.25" + UTC),
        ("2020-01-01T12:00", None),
    ],
    "RFC1123": [  # "Mon, 02 Jan 2006 15:04:05 MST"
        ("Wed, 01 Jan 2020 12:00:00 UTC", "2020-01-01 12:00:00" + UTC),
        ("Mon, 01 Jan 2020 12:00:00 UTC", "2020-01-01 12:00:00" + UTC),  # weekday not checked
        ("wed, 01 JAN 2020 12:00:00 UTC", "2020-01-01 12:00:00" + UTC),  # names: any case
        ("Wed, 01 Jan 2020 12:00:00 GMT", "2020-01-01 12:00:00" + UTC),
        ("Wed, 01 Jan 2020 12:00:00 EST", "2020-01-01 12:00:00" + UTC),  # a name: read as UTC
        ("Wed, 01 Jan 2020 12:00:00 GMT+2", "2020-01-01 12:00:00" + UTC),  # labelled, not moved
        ("Wed, 01 Jan 2020 12:00:00 GMT+24", None),
        ("Wed,  01 Jan 2020 12:00:00 UTC", "2020-01-01 12:00:00" + UTC),  # spaces: 1 or more
        ("Wed, 1 Jan 2020 12:00:00 UTC", None),  # "02" wants two digits
        ("Wed, 01 Jan 2020 12:00:00 +0200", None),  # RFC1123Z is not in the list
        ("Wed, 01 Jan 2020 12:00:00 utc", None),
    ],
    "RFC822": [  # "02 Jan 06 15:04 MST"
        ("01 Jan 20 12:00 UTC", "2020-01-01 12:00:00" + UTC),
        ("01 Jan 69 12:00 UTC", "1969-01-01 12:00:00" + UTC),  # "06": 69..99 are 19xx
        ("01 Jan 68 12:00 UTC", "2068-01-01 12:00:00" + UTC),
        ("01 Jan 20 12:00:30 UTC", None),
    ],
    "RFC822Z": [  # "02 Jan 06 15:04 -0700"
        ("01 Jan 20 12:00 +0130", "2020-01-01 10:30:00" + UTC),
        ("01 Jan 20 12:00 -0000", "2020-01-01 12:00:00" + UTC),
        ("01 Jan 20 12:00 +01:30", None),
    ],
    "RFC850": [  # "Monday, 02-Jan-06 15:04:05 MST"
        ("Wednesday, 01-Jan-20 12:00:00 UTC", "2020-01-01 12:00:00" + UTC),
        ("Wednesday, 01-Jan-20 12:00:00.5 UTC", "2020-01-01 12:00:00.5" + UTC),
        ("Wed, 01-Jan-20 12:00:00 UTC", None),
    ],
    "RubyDate": [  # "Mon Jan 02 15:04:05 -0700 2006"
        ("Wed Jan 01 12:00:00 +0100 2020", "2020-01-01 11:00:00" + UTC),
        ("Wed Jan 1 12:00:00 +0100 2020", None),
    ],
    "UnixDate": [  # "Mon Jan _2 15:04:05 MST 2006"
        ("Wed Jan  1 12:00:00 UTC 2020", "2020-01-01 12:00:00" + UTC),
        ("Wed Jan 1 12:00:00 UTC 2020", "2020-01-01 12:00:00" + UTC),
        ("Wed Jan 01 12:00:00 UTC 2020", "2020-01-01 12:00:00" + UTC),
        ("Wed Jan 11 12:00:00 PST 2020", "2020-01-11 12:00:00" + UTC),
    ],
    "ANSIC": [  # "Mon Jan _2 15:04:05 2006"
        ("Wed Jan  1 12:00:00 2020", "2020-01-01 12:00:00" + UTC),
        ("Wed Jan 11 12:00:00 2020", "2020-01-11 12:00:00" + UTC),
    ],
    "Stamp": [  # "Jan _2 15:04:05": no year, so year 0 (outside CEL's timestamp range)
        ("Jan  1 12:00:00", "0000-01-01 12:00:00" + UTC),
        ("Feb 29 12:00:00", "0000-02-29 12:00:00" + UTC),  # year 0 is a leap year
        ("Feb 30 12:00:00", None),
    ],
    "StampMilli": [  # "Jan _2 15:04:05.000": Stamp, tried first, already reads any fraction
        ("Jan  1 12:00:00.123", "0000-01-01 12:00:00.123" + UTC),
        ("Jan  1 12:00:00.1", "0000-01-01 12:00:00.1" + UTC),
    ],
    "2006-01-02": [
        ("2020-01-01", "2020-01-01 00:00:00" + UTC),
        ("2020-1-01", None),
        ("2020-01-01 ", None),
        ("2020-01-01 12:00:00", None),  # neither this nor an ISO week or ordinal date
    ],
    "time.Time.String()": [  # "2006-01-02 15:04:05.999999999 -0700 MST"
        ("2020-01-01 12:00:00 +0000 UTC", "2020-01-01 12:00:00" + UTC),
        ("2020-01-01 12:00:00.5 +0200 CEST", "2020-01-01 10:00:00.5" + UTC),
        ("2020-01-01 12:00:00 +0200 UTC", "2020-01-01 12:00:00" + UTC),  # "UTC" wins
        ("2020-01-01 12:00:00 +0000 UTC m=+0.000000001", None),  # the monotonic reading
        ("2020-01-01 12:00:00 +0200", None),
    ],
    "none": [
        ("", None),
        ("yesterday", None),
        ("2020", None),
        ("1577836800", None),  # a string of digits is not read as a number
    ],
}


def test_the_layouts_are_the_platforms_in_order() -> None:
    assert list(LAYOUT_NAMES) == [k for k in LAYOUT_ROWS if k != "none"]


@pytest.mark.parametrize(("text", "want"), [
    pytest.param(text, want, id=f"{layout}: {text!r}")
    for layout, rows in LAYOUT_ROWS.items() for text, want in rows
])
def test_strings_by_layout(text: str, want: str | None) -> None:
    assert show(date(text)) == want


# -- what an expression sees of the nil ----------------------------------------------------
# The overload returns a Go nil ref.Val: not CEL null, not an error value. cel-go calls
# methods on it (nil.Equal, nil.Type(), ...) and panics; prog.Eval recovers the panic as an
# error with no result, and Evaluate (cel.go eval) returns (false, ErrNoResult): the whole
# expression fails, whatever operator or function surrounds the use. Where cel-go never
# touches it, it passes: isTruthy(nil) is false (unknown.go), x.Equal(nil) is false, and
# types.Equal checks null first.
ERROR = ExprEvalError
NIL_ROWS: list[tuple[str, Any]] = [
    ("date('yesterday')", ERROR),  # cel.go eval: `if result == nil` -> ErrNoResult
    ("date(1.5e9)", ERROR),
    ("date(5) == null", False),  # types.Equal: null checked first
    ("date(5) != null", True),
    ("date('2020-01-01') == date(5)", False),  # Timestamp.Equal(nil): not a Timestamp
    ("date('2020-01-01') != date(5)", True),
    ("'x' == date(5)", False),
    ("date(5) == date('2020-01-01')", ERROR),  # nil.Equal: panic
    ("date(5) == date(5)", ERROR),
    ("date(5) || 'fallback'", "fallback"),  # isTruthy(nil) is false
    ("date(5) ? 'y' : 'n'", "n"),
    ("true && date(5)", ERROR),  # the nil itself is the result
    ("date(5) > date('2020-01-01')", ERROR),  # evalBinary: nil.Type() panics
    ("date('2020-01-01') > date(5)", ERROR),  # Timestamp.Compare reads other.Type()
    ("(date('2020-01-01') > date(5)) || true", ERROR),  # a panic is not an error value
    ("(5 < date(5)) || true", True),  # Int.Compare(nil): an error value, then falsy
    ("event.data.missing < date(5)", True),  # unknown.go: unknown is less than anything
    ("date(5) < event.data.missing", ERROR),  # handleUnknownCall reads a[0].Type()
    ("date(5) + duration('1h')", ERROR),
    ("('k-' + date(5)) || 'z'", "z"),  # String.Add(nil): an error value
    ("size(date(5))", ERROR),
    ("date(date(5))", ERROR),  # the overload asks the nil its type name
    ("date(event.data.missing) == null", False),  # unknown argument: the call is false
    ("[date(5)]", [None]),  # a list keeps the nil (printed <nil>)
    ("date(int(1577836800.0)) == date('2020-01-01T00:00:00Z')", True),
]


@pytest.mark.parametrize(("source", "want"), NIL_ROWS)
def test_what_an_expression_sees_of_a_non_date(source: str, want: Any) -> None:
    program = expr.compile(source, dialect="inngest")
    if want is ERROR:
        with pytest.raises(ExprEvalError):
            program.evaluate({"event": {"data": {}}})
    else:
        got = program.evaluate({"event": {"data": {}}})
        assert (type(got), got) == (type(want), want)


def test_the_platforms_own_date_case() -> None:
    # pkg/expressions/expressions_test.go TestEvaluateExpression, "Event data time
    # manipulation"
    program = expr.compile(
        "date(event.from) + duration('6h35m10s') == date('2020-01-01T18:35:10')",
        dialect="inngest")
    assert program.evaluate({"event": {"from": "2020-01-01T12:00:00"}}) is True


def test_the_rfc3339_fast_path_agrees_with_the_general_parse() -> None:
    # Go's time.Parse tries parseRFC3339 (format_rfc3339.go) before the general parse;
    # ours does too, and where it answers the general parse gives the same instant.
    from expr._timeval import _LAYOUTS, _go_parse, _rfc3339_fast

    answered = 0
    for text, _ in LAYOUT_ROWS["RFC3339"]:
        fast = _rfc3339_fast(text)
        if fast is not None:
            answered += 1
            assert fast == _go_parse(_LAYOUTS[0][1], text), text
    assert answered >= 5
