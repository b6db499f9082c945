"""The official CEL conformance tests, CORE subset, run against ``expr`` (cel dialect).

Data: ``tests/cel_conformance/*.json``, a verbatim JSON export of google/cel-spec's
``tests/simple/testdata`` (Apache-2.0; see the README there). Every test tagged ``CORE`` becomes
one pytest case whose id is ``file/section/name``.

How a case is judged:

* Expected value: ``compile`` and ``evaluate`` must return a value *identical* under strict
  comparison: same kind (``bool`` is not ``int``, ``UInt`` is not ``int``, ``float`` is not
  ``int``), same value; any NaN matches any NaN; a zero double must carry the expected sign;
  maps compare order-independently, lists element-wise; a type value is an ``expr.Type`` whose
  ``str()`` is the expected type name.
* Expected error: ``evaluate`` must raise ``expr.ExprEvalError``. ``compile`` may instead raise
  ``expr.ExprSyntaxError`` only where a compile-time rejection is legitimate: the test is marked
  ``disable_check`` (a type checker would reject it) or the error is a repeated map key. Anything
  else, including other exceptions, fails the case. The error text is not compared.
* ``bindings`` become the activation; ``container`` is not used (no CORE test needs it).
* Type checking: every CORE test not marked ``disable_check`` must pass ``expr.check`` under its
  ``type_env`` declarations, with a result type that fits the expected value (``dyn`` fits
  anything; an expected error fits any type).

Tests the evaluator does not pass yet are listed in ``cel_conformance/expected_failures.txt``
(``file/section/name: reason``) and run as ``xfail(strict=True)``: a listed test that starts
passing fails the run until its line is removed. Run this file as a script
(``python tests/test_cel_conformance.py``) to print what currently fails, with a draft reason.
"""

from __future__ import annotations

import base64
import json
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import expr
from expr._types import CelType, parse_type

DATA = Path(__file__).resolve().parent / "cel_conformance"
EXPECTED_FAILURES_FILE = DATA / "expected_failures.txt"
# Per-file CORE counts from the export's README and the spec notes; 992 in all.
CORE_COUNTS = {
    "basic": 43, "plumbing": 5, "logic": 30, "fields": 55, "integer_math": 64, "fp_math": 30,
    "string": 51, "lists": 39, "macros": 44, "comparisons": 332, "conversions": 106, "parse": 193,
}
CORE_TOTAL = 992


@dataclass(frozen=True, slots=True)
class Case:
    """One conformance test as read from the JSON export."""

    file: str
    section: str
    name: str
    source: str
    bindings: Mapping[str, Any]
    expect: Mapping[str, Any]
    disable_check: bool
    tags: tuple[str, ...]
    type_env: Mapping[str, str]

    @property
    def id(self) -> str:
        return f"{self.file}/{self.section}/{self.name}"


@dataclass(frozen=True, slots=True)
class TypeName:
    """An expected CEL type value, known by its name."""

    name: str


@dataclass(frozen=True, slots=True)
class MapPairs:
    """An expected map as its (key, value) pairs; compared order-independently."""

    pairs: tuple[tuple[Any, Any], ...]


def load_cases(tag: str = "CORE") -> list[Case]:
    """load_cases reads every test carrying ``tag`` from the vendored files."""
    cases = []
    for file in CORE_COUNTS:
        doc = json.loads((DATA / f"{file}.json").read_text(encoding="utf-8"))
        for t in doc["tests"]:
            if tag in t["tags"]:
                cases.append(Case(
                    file=file, section=t["section"], name=t["name"], source=t["expr"],
                    bindings=t.get("bindings", {}), expect=t["expect"],
                    disable_check=bool(t.get("disable_check", False)), tags=tuple(t["tags"]),
                    type_env={d["name"][0]: declared_type(d["ident"][0]["type"][0])
                              for d in t.get("type_env", ())},
                ))
    return cases


_PRIMITIVES = {"INT64": "int", "UINT64": "uint", "DOUBLE": "double", "BOOL": "bool",
               "STRING": "string", "BYTES": "bytes"}


def declared_type(t: Mapping[str, Any]) -> str:
    """declared_type turns an exported ``cel.expr.Type`` declaration into cel-go's notation."""
    if "primitive" in t:
        return _PRIMITIVES[t["primitive"][0]]
    if "null" in t:
        return "null_type"
    if "list_type" in t:
        return f"list({declared_type(t['list_type'][0]['elem_type'][0])})"
    if "map_type" in t:
        m = t["map_type"][0]
        return f"map({declared_type(m['key_type'][0])}, {declared_type(m['value_type'][0])})"
    raise ValueError(f"unsupported declared type {t!r}")


def load_expected_failures() -> dict[str, str]:
    """load_expected_failures maps test id to its one-line reason (``#`` starts a comment)."""
    out: dict[str, str] = {}
    if not EXPECTED_FAILURES_FILE.exists():
        return out
    text = EXPECTED_FAILURES_FILE.read_text(encoding="utf-8")
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        test_id, sep, reason = line.partition(": ")
        if not sep or not reason.strip():
            raise ValueError(f"expected_failures.txt:{lineno}: want 'file/section/name: reason'")
        if test_id in out:
            raise ValueError(f"expected_failures.txt:{lineno}: {test_id} listed twice")
        out[test_id] = reason.strip()
    return out


def decode(tagged: Mapping[str, Any], *, as_expected: bool) -> Any:
    """decode turns an export value into ours; expected maps and types stay comparable markers."""
    ((kind, v),) = tagged.items()
    if kind == "int":
        return int(v)
    if kind == "uint":
        return expr.UInt(v)
    if kind == "double":
        return float(v)  # float("NaN"), float("Infinity") and float("-Infinity") all parse
    if kind == "string":
        return str(v)
    if kind == "bytes":
        return base64.b64decode(v)
    if kind == "bool":
        return bool(v)
    if kind == "null":
        return None
    if kind == "list":
        return [decode(e, as_expected=as_expected) for e in v]
    if kind == "map":
        pairs = tuple((decode(k, as_expected=as_expected), decode(x, as_expected=as_expected))
                      for k, x in v)
        return MapPairs(pairs) if as_expected else dict(pairs)
    if kind == "type":
        if not as_expected:
            raise ValueError("type values as bindings are not supported")
        return TypeName(v)
    raise ValueError(f"unknown value tag {kind!r}")


def kind_of(value: Any) -> str:
    """kind_of names the CEL kind of one of our values, for strict comparison and messages."""
    if value is None:
        return "null"
    if type(value) is bool:
        return "bool"
    if isinstance(value, expr.UInt):
        return "uint"
    if type(value) is int:
        return "int"
    if type(value) is float:
        return "double"
    if type(value) is str:
        return "string"
    if type(value) is bytes:
        return "bytes"
    if isinstance(value, list | MapPairs):
        return "list" if isinstance(value, list) else "map"
    if isinstance(value, dict):
        return "map"
    if isinstance(value, expr.Type | TypeName):
        return "type"
    return f"python:{type(value).__name__}"


def same(actual: Any, expected: Any) -> bool:
    """same is strict equality: same kind and value, NaN matches NaN, zero signs must agree."""
    kind = kind_of(expected)
    if kind_of(actual) != kind:
        return False
    if kind == "double":
        if math.isnan(expected):
            return math.isnan(actual)
        if expected == 0.0:
            sign = math.copysign(1.0, expected)
            return bool(actual == 0.0 and math.copysign(1.0, actual) == sign)
        return bool(actual == expected)
    if kind == "list":
        return len(actual) == len(expected) and all(map(same, actual, expected))
    if kind == "map":
        exp_pairs = expected.pairs if isinstance(expected, MapPairs) else tuple(expected.items())
        act_pairs = list(actual.items())
        if len(act_pairs) != len(exp_pairs):
            return False
        for ek, ev in exp_pairs:
            match = [av for ak, av in act_pairs if same(ak, ek)]
            if len(match) != 1 or not same(match[0], ev):
                return False
        return True
    if kind == "type":
        want = expected.name if isinstance(expected, TypeName) else str(expected)
        return str(actual) == want
    if kind == "uint":
        return int(actual) == int(expected)
    return bool(actual == expected)


def show(value: Any) -> str:
    """show renders a value with its kind, e.g. ``1 (int)`` versus ``1u (uint)``."""
    return f"{value!r} ({kind_of(value)})"


def compile_error_allowed(case: Case) -> bool:
    """compile_error_allowed: a checker would reject this test, so a compile error counts."""
    messages = " ".join(case.expect.get("error", ()))
    return case.disable_check or "repeated key" in messages


def outcome(case: Case) -> str | None:
    """outcome runs one case; None when it passes, otherwise what went wrong."""
    activation = {k: decode(v, as_expected=False) for k, v in case.bindings.items()}
    want_error = "error" in case.expect
    try:
        program = expr.compile(case.source)
    except expr.ExprSyntaxError as exc:
        if want_error and compile_error_allowed(case):
            return None
        return f"compile raised ExprSyntaxError: {str(exc).splitlines()[0]}"
    except Exception as exc:
        return f"compile raised {type(exc).__name__}: {exc}"
    try:
        result = program.evaluate(activation)
    except expr.ExprEvalError as exc:
        if want_error:
            return None
        return f"evaluate raised ExprEvalError: {exc}"
    except Exception as exc:
        return f"evaluate raised {type(exc).__name__}: {exc}"
    if want_error:
        return f"returned {show(result)}, expected an error {case.expect['error']}"
    expected = decode(case.expect["value"], as_expected=True)
    if same(result, expected):
        return None
    return f"returned {show(result)}, expected {show(expected)}"


CASES = load_cases()
EXPECTED_FAILURES = load_expected_failures()


def _params() -> list[Any]:
    params = []
    for case in CASES:
        marks = []
        if case.id in EXPECTED_FAILURES:
            marks.append(pytest.mark.xfail(reason=EXPECTED_FAILURES[case.id], strict=True))
        params.append(pytest.param(case, id=case.id, marks=marks))
    return params


@pytest.mark.parametrize("case", _params())
def test_conformance(case: Case) -> None:
    problem = outcome(case)
    assert problem is None, f"{case.id}: {case.source!r} {problem}"


def fits(type_text: str, value: Any) -> bool:
    """fits: a value of the expected kind for a checked type (``dyn`` fits anything)."""
    return _fits(parse_type(type_text), value)


def _fits(t: CelType, value: Any) -> bool:
    if t.name == "dyn":
        return True
    kind = kind_of(value)
    if t.name == "null":
        return kind == "null"
    if t.name in ("list", "map", "type") and kind != t.name:
        return False
    if t.name == "list":
        return all(_fits(t.params[0], v) for v in value)
    if t.name == "map":
        return all(_fits(t.params[0], k) and _fits(t.params[1], v) for k, v in value.pairs)
    return t.name == "type" or kind == t.name


CHECKED = [c for c in CASES if not c.disable_check]
CHECKED_TOTAL = 932  # CORE tests the checker must accept (the other 60 are marked disable_check)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CHECKED])
def test_conformance_type_checks(case: Case) -> None:
    checked = expr.check(case.source, variables=case.type_env)
    if "value" in case.expect:
        expected = decode(case.expect["value"], as_expected=True)
        assert fits(checked, expected), f"{case.source!r}: {checked} but expected {show(expected)}"


def test_conformance_type_checked_count_cannot_shrink() -> None:
    assert len(CHECKED) == CHECKED_TOTAL


@pytest.mark.parametrize(("type_text", "value", "want"), [
    ("dyn", "x", True), ("int", 1, True), ("int", 1.0, False), ("uint", expr.UInt(1), True),
    ("int", expr.UInt(1), False), ("null_type", None, True), ("bool", None, False),
    ("list(int)", [1, 2], True), ("list(int)", [1, "a"], False), ("list(dyn)", [1, "a"], True),
    ("map(string, int)", MapPairs((("a", 1),)), True),
    ("map(string, int)", MapPairs((("a", "b"),)), False), ("type(int)", TypeName("int"), True),
    ("string", TypeName("string"), False), ("list(list(int))", [[1], [2]], True),
])
def test_fits_is_strict(type_text: str, value: Any, want: bool) -> None:
    assert fits(type_text, value) is want


def test_conformance_core_count_cannot_shrink() -> None:
    assert len(CASES) == CORE_TOTAL
    assert Counter(c.file for c in CASES) == CORE_COUNTS
    assert len({c.id for c in CASES}) == CORE_TOTAL, "test ids must be unique"


def test_conformance_expected_failures_name_real_tests() -> None:
    ids = {c.id for c in CASES}
    stale = sorted(set(EXPECTED_FAILURES) - ids)
    assert not stale, f"expected_failures.txt names tests that do not exist: {stale}"


# The comparison itself must be strict, or the suite proves little.
SAME_TABLE = [
    (1, 1, True),
    (True, 1, False),
    (1, True, False),
    (True, True, True),
    (1, 1.0, False),
    (1.0, 1, False),
    (1, "UINT1", False),
    ("UINT1", "UINT1", True),
    (float("nan"), float("nan"), True),
    (1.0, float("nan"), False),
    (0.0, -0.0, False),
    (-0.0, -0.0, True),
    (float("inf"), float("inf"), True),
    (float("-inf"), float("inf"), False),
    (b"a", "a", False),
    (None, False, False),
    (None, None, True),
    ([1, 2], [1, 2], True),
    ([1, 2], [2, 1], False),
    ([1], [True], False),
    ([[1.0]], [[1]], False),
    ({"a": 1, "b": 2}, MapPairs((("b", 2), ("a", 1))), True),
    ({"a": 1}, MapPairs((("a", 1.0),)), False),
    ({"a": 1}, MapPairs((("a", 1), ("b", 2))), False),
    ({1: "x"}, MapPairs((("UINT1", "x"),)), False),
]


@pytest.mark.parametrize(("actual", "expected", "want"), SAME_TABLE)
def test_same_is_strict(actual: Any, expected: Any, want: bool) -> None:
    def fix(v: Any) -> Any:
        return expr.UInt(1) if v == "UINT1" else v

    actual, expected = fix(actual), fix(expected)
    if isinstance(expected, MapPairs):
        expected = MapPairs(tuple((fix(k), fix(v)) for k, v in expected.pairs))
    assert same(actual, expected) is want


def test_decode_tagged_values() -> None:
    assert decode({"uint": 7}, as_expected=False) == 7
    assert isinstance(decode({"uint": 7}, as_expected=False), expr.UInt)
    assert decode({"bytes": "AP8="}, as_expected=False) == b"\x00\xff"
    assert math.isnan(decode({"double": "NaN"}, as_expected=False))
    assert decode({"double": "-Infinity"}, as_expected=False) == float("-inf")
    assert decode({"map": [[{"string": "k"}, {"int": 1}]]}, as_expected=False) == {"k": 1}
    assert decode({"type": "int"}, as_expected=True) == TypeName("int")
    with pytest.raises(ValueError):
        decode({"object": {}}, as_expected=True)


if __name__ == "__main__":  # pragma: no cover - maintenance helper
    failing = [(c, p) for c in CASES if (p := outcome(c)) is not None]
    for c, p in failing:
        print(f"{c.id}: {p}")
    print(f"# {CORE_TOTAL - len(failing)} of {CORE_TOTAL} CORE tests pass")
