"""Properties of the config validator.

* On any JSON document, any mutation of a valid config and any text in any format, the
  validator returns diagnostics and never raises; every code is in the code table and
  every position lies inside the text.
* The JSON parser agrees with the standard library, and positions inside strings point at
  the raw character that encodes each decoded one.
* A config the validator accepts loads into the typed model and builds a working
  ``FlowControl`` that takes a triggering event.
* A type error inside an expression string is placed on its operator in the document, in
  every format, whatever the characters (and escapes) before it.
* A stateful model: a function config edited field by field, each field valid or not; the
  validator's errors are exactly under the invalid fields, and the warnings reported beside
  errors are still reported once the invalid fields are gone.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Literal

import yaml  # type: ignore[import-untyped]
from hypothesis import assume, given, note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from flowcontrol import ManualClock
from flowcontrol.config import CODES, FunctionConfig, expressions
from flowcontrol.config.lint import lint
from flowcontrol.config.source import SourceError, parse_json
from flowcontrol.config.validate import Result, validate_text

SCALARS = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12))
KEYS = st.sampled_from(["id", "name", "triggers", "event", "concurrency", "limit", "key",
                        "scope", "throttle", "period", "burst", "rateLimit", "debounce",
                        "timeout", "priority", "run", "singleton", "mode", "batchEvents",
                        "maxSize", "if", "cancelOn", "cancel", "functions", "steps", "sleep",
                        "retries", "timeouts", "start", "idempotency", "expression", "cron",
                        "match"]) | st.text(max_size=8)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=5)
                    | st.dictionaries(KEYS, inner, max_size=6), max_leaves=40)

SEEDS: list[dict[str, Any]] = [
    {"id": "sync-crm-data", "triggers": [{"event": "crm/contact.updated"}],
     "throttle": {"limit": 10, "period": "60s", "burst": 5, "key": "event.data.customer_id"}},
    {"id": "ai-summary", "triggers": [{"event": "ai/summary.requested"}],
     "concurrency": [{"scope": "account", "key": '"openai"', "limit": 60},
                     {"key": "event.data.user_id", "limit": 3}]},
    {"id": "save-document", "triggers": {"event": "document/content.changed"},
     "debounce": {"period": "5m", "key": "event.data.document_id", "timeout": "30m"},
     "rateLimit": {"limit": 10, "period": "1h"}},
    {"id": "bulk-email-send", "triggers": [{"event": "email/send.queued"}],
     "batchEvents": {"maxSize": 100, "timeout": "30s", "key": "event.data.campaign_id"}},
    {"id": "data-sync", "triggers": [{"event": "data-sync.start"}],
     "singleton": {"key": "event.data.user_id", "mode": "cancel"}, "concurrency": 2,
     "priority": {"run": "event.data.plan == 'pro' ? 60 : 0"},
     "cancelOn": [{"event": "data-sync.stop", "match": "data.user_id"}],
     "timeouts": {"start": "1m"}, "steps": [{"run": "2s"}, {"sleep": "10s"}]},
]


def check_result(result: Result, text: str) -> None:
    lines = text.split("\n")
    for d in result.diagnostics:
        assert d.code in CODES, d
        assert d.message and d.path.startswith("$")
        if d.line is not None:
            assert 1 <= d.line <= len(lines) + 1, d
            assert d.column is not None and d.column >= 1, d


def check_accepted(result: Result) -> None:
    """Every function without errors round-trips through from_mapping and builds machines."""
    from flowcontrol.controller.flowcontrol import FlowControl

    for entry in result.entries:
        if entry.config is None:
            continue
        assert FunctionConfig.from_mapping(entry.node.plain()) == entry.config
    functions = result.functions
    if not expressions.available():  # the controller compiles keys with expr
        return
    if functions and len({f.id for f in functions}) == len(functions):
        clock = ManualClock(10**12)
        control = FlowControl(functions, clock=clock)
        for fn in functions:
            for name in fn.events:
                if "*" not in name:
                    control.receive_event({"name": name, "data": {"user_id": "u1"}})
        clock.advance("1h")
        control.poll()


@given(JSON)
def test_any_json_document_gives_diagnostics_never_an_exception(doc: Any) -> None:
    text = json.dumps(doc, indent=1)
    result = validate_text(text, "json", "doc.json")
    check_result(result, text)
    lint(result.entries)


@given(JSON)
def test_json_parser_agrees_with_the_standard_library(doc: Any) -> None:
    for text in (json.dumps(doc), json.dumps(doc, indent=2, ensure_ascii=False)):
        assert parse_json(text).plain() == json.loads(text)


@given(st.text(max_size=20), st.booleans())
def test_positions_inside_json_strings_point_at_the_encoding(s: str, ascii_only: bool) -> None:
    raw = json.dumps(s, ensure_ascii=ascii_only)
    node = parse_json(raw)
    previous = 1
    for i, ch in enumerate(s):
        line, col = node.position_in(i)
        assert line == 1 and col is not None and col > previous
        previous = col
        piece = raw[col - 1:]
        assert piece.startswith(ch) or piece.startswith("\\")
        decoded = json.loads('"' + piece)
        assert decoded.startswith(ch)


LITERALS = st.text(st.characters(codec="utf-8", exclude_characters="'\\\n\r"), max_size=8)


@given(LITERALS, st.sampled_from(["rateLimit", "concurrency", "priority"]),
       st.sampled_from(["json", "yaml", "toml"]), st.booleans())
def test_type_errors_point_at_the_operator_in_every_format(
        literal: str, field: str, fmt: str, ascii_only: bool) -> None:
    """An expression with a type error after a string literal of any characters (escaped
    in JSON, or not): the diagnostic's position is the '%' in the document."""
    assume(expressions.checker_available())
    source = f"'{literal}' + (event.data.n % 'x')"
    setting: dict[str, Any] = {
        "rateLimit": {"limit": 1, "period": "1m", "key": source},
        "concurrency": [{"limit": 1, "key": source}],
        "priority": {"run": source},
    }[field]
    doc = {"id": "fn", "triggers": [{"event": "e"}], field: setting}
    if fmt == "json":
        text = json.dumps(doc, ensure_ascii=ascii_only, indent=1)
    elif fmt == "yaml":
        text = yaml.safe_dump(doc, allow_unicode=not ascii_only, width=10**6)
    else:
        text = _toml_document(doc)
    [d] = [d for d in validate_text(text, fmt, "f").diagnostics if d.code in ("FC113", "FC225")]
    note(f"{text!r} -> {d}")
    assert d.line is not None and d.column is not None
    assert text.split("\n")[d.line - 1][d.column - 1] == "%"


@given(st.text(max_size=200), st.sampled_from(["json", "yaml", "toml"]))
def test_any_text_in_any_format_never_raises(text: str, fmt: str) -> None:
    result = validate_text(text, fmt, "f")
    check_result(result, text)
    lint(result.entries)


MUTATIONS = st.sampled_from(["replace", "delete", "insert", "tweak"])


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    doc = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        containers = _containers(doc)
        target = draw(st.sampled_from(containers))
        op = draw(MUTATIONS)
        if isinstance(target, dict):
            keys = list(target)
            if op == "insert" or not keys:
                target[draw(KEYS)] = draw(JSON)
            else:
                k = draw(st.sampled_from(keys))
                if op == "delete":
                    del target[k]
                elif op == "replace":
                    target[k] = draw(JSON)
                else:
                    target[k] = _tweak(target[k], draw)
        else:
            if op == "insert" or not target:
                target.insert(draw(st.integers(0, len(target))), draw(JSON))
            else:
                i = draw(st.integers(0, len(target) - 1))
                if op == "delete":
                    del target[i]
                else:
                    target[i] = draw(JSON) if op == "replace" else _tweak(target[i], draw)
    return doc


def _containers(x: Any) -> list[Any]:
    """Every dict and list inside ``x`` (``x`` first)."""
    if not isinstance(x, dict | list):
        return []
    out = [x]
    for v in (x.values() if isinstance(x, dict) else x):
        out.extend(_containers(v))
    return out


def _tweak(value: Any, draw: st.DrawFn) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + draw(st.integers(-3, 3))
    if isinstance(value, str):
        return draw(st.sampled_from([value + "s", value[:-1], value + " +", "1" + value,
                                     value.upper(), "0s", "7d", "25h", "1.5s", ""]))
    return value


@given(mutated(), st.sampled_from(["json", "yaml"]))
def test_mutated_valid_configs_never_raise_and_accepted_ones_work(doc: Any, fmt: str) -> None:
    text = json.dumps(doc, indent=2) if fmt == "json" else yaml.safe_dump(doc)
    note(text)
    result = validate_text(text, fmt, "m")
    check_result(result, text)
    lint(result.entries)
    check_accepted(result)


@given(st.sampled_from(SEEDS))
def test_the_seeds_are_accepted_and_build_machines(doc: dict[str, Any]) -> None:
    text = json.dumps(doc)
    result = validate_text(text, "json", "s")
    assert [d for d in result.diagnostics if d.is_error] == []
    check_accepted(result)


# --------------------------------------------------------------------------- stateful

FIELDS: dict[str, tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]] = {
    "throttle": (
        st.builds(lambda n, s, b: {"limit": n, "period": f"{s}s", "burst": b},
                  st.integers(1, 1000), st.integers(1, 7 * 86400), st.integers(0, 10)),
        st.sampled_from([{"limit": 0, "period": "1s"}, {"limit": 1, "period": "500ms"},
                         {"limit": 1, "period": "8d"}, {"limit": 1}, {"period": "1s"}]),
    ),
    "rateLimit": (
        st.builds(lambda n, s: {"limit": n, "period": f"{s}s"},
                  st.integers(1, 1000), st.integers(1, 86400)),
        st.sampled_from([{"limit": 0, "period": "1h"}, {"limit": 1, "period": "25h"},
                         {"limit": 1}, {"limit": 1, "period": "an hour"}]),
    ),
    "debounce": (
        st.builds(lambda p, extra: {"period": f"{p}s", "timeout": f"{p + extra}s"},
                  st.integers(1, 7 * 86400), st.integers(1, 3600)),
        st.sampled_from([{"period": "0s"}, {"period": "8d"}, {"period": "1.5s"},
                         {"period": "5s", "timeout": "-1s"}]),
    ),
    "concurrency": (
        st.integers(0, 100) | st.builds(lambda n: [{"limit": n, "key": "event.data.u"}],
                                        st.integers(1, 9)),
        st.sampled_from([-1, [], "5", [{"limit": 1, "scope": "account"}]]),
    ),
    "retries": (st.integers(0, 20), st.integers(21, 100) | st.integers(-100, -1)),
    "steps": (
        st.lists(st.builds(lambda k, s: {k: f"{s}s"}, st.sampled_from(["run", "sleep"]),
                           st.integers(0, 60)), max_size=4),
        st.sampled_from([[{"run": "x"}], [{"walk": "1s"}], "run"]),
    ),
    "singleton": (
        st.builds(lambda m: {"mode": m, "key": "event.data.u"}, st.sampled_from(["skip",
                                                                                 "cancel"]))
        | st.just({"key": "event.data.u"}),  # no mode: skip, as the platform decodes it
        st.sampled_from([{"mode": "queue"}, {"mode": ""}, "skip"]),
    ),
    "timeouts": (
        st.builds(lambda a, b: {"start": f"{a}s", "finish": f"{b}m"}, st.integers(1, 99),
                  st.integers(1, 99)),
        st.sampled_from([{"start": "0s"}, {"finish": "soon"}, {"begin": "1s"}]),
    ),
}


class ConfigEditing(RuleBasedStateMachine):
    """Edit one function config; the model knows which fields are invalid."""

    def __init__(self) -> None:
        super().__init__()
        self.doc: dict[str, Any] = {"id": "fn", "triggers": [{"event": "app/x"}]}
        self.invalid: set[str] = set()

    @rule(field=st.sampled_from(sorted(FIELDS)), data=st.data())
    def set_valid(self, field: str, data: st.DataObject) -> None:
        self.doc[field] = data.draw(FIELDS[field][0])
        self.invalid.discard(field)

    @rule(field=st.sampled_from(sorted(FIELDS)), data=st.data())
    def set_invalid(self, field: str, data: st.DataObject) -> None:
        self.doc[field] = data.draw(FIELDS[field][1])
        self.invalid.add(field)

    @rule(field=st.sampled_from(sorted(FIELDS)))
    def remove(self, field: str) -> None:
        self.doc.pop(field, None)
        self.invalid.discard(field)

    @invariant()
    def errors_are_exactly_under_the_invalid_fields(self) -> None:
        text = json.dumps(self.doc, indent=1)
        result = validate_text(text, "json", "f")
        errors = [d for d in result.diagnostics if d.is_error]
        fields_with_errors = {d.path.split(".")[1].split("[")[0] for d in errors}
        assert fields_with_errors == self.invalid, (errors, self.invalid)
        if not self.invalid:
            [fn] = result.functions
            assert FunctionConfig.from_mapping(self.doc) == fn
            check_accepted(result)
        else:
            # The warnings reported beside errors are true of the readable part: each one
            # is still reported once the invalid fields are gone.
            with_errors = {(d.code, d.path) for d in [*result.diagnostics, *lint(result.entries)]
                           if not d.is_error}
            clean = {k: v for k, v in self.doc.items() if k not in self.invalid}
            fixed = validate_text(json.dumps(clean, indent=1), "json", "f")
            without = {(d.code, d.path) for d in [*fixed.diagnostics, *lint(fixed.entries)]}
            assert with_errors <= without, (with_errors - without)
        assume(True)


TestConfigEditing = ConfigEditing.TestCase


def test_source_error_is_a_value_error() -> None:
    assert issubclass(SourceError, ValueError)


# --------------------------------------------------------------------------- TOML positions

NO_SURROGATES: list[Literal["Cs", "Cc"]] = ["Cs"]
NO_SURROGATES_OR_CONTROLS: list[Literal["Cs", "Cc"]] = ["Cs", "Cc"]
TOML_KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,6}", fullmatch=True) | st.text(
    st.characters(codec="utf-8", exclude_categories=NO_SURROGATES_OR_CONTROLS), max_size=4)
TOML_CHARS = st.characters(codec="utf-8", exclude_categories=NO_SURROGATES)
TOML_SCALARS = (st.booleans() | st.integers(-(2**63), 2**63 - 1)
                | st.text(TOML_CHARS, max_size=8))
TOML_VALUES = st.recursive(TOML_SCALARS, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(TOML_KEYS, inner, max_size=3), max_leaves=12)


def _toml_str(s: str) -> str:
    """A TOML basic string: JSON's escapes, no surrogate pairs, DEL escaped."""
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_key(k: str) -> str:
    import re

    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else _toml_str(k)


def _toml_inline(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, list):
        return "[\n  " + ",\n  ".join(_toml_inline(x) for x in v) + "\n]" if v else "[]"
    return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_inline(x)}" for k, x in v.items()) + " }"


def _toml_document(data: dict[str, Any]) -> str:
    """Scalars and arrays as ``key = value``, sub-tables as ``[headers]``."""
    lines: list[str] = []
    tables = []
    for k, v in data.items():
        if isinstance(v, dict) and v:
            tables.append((k, v))
        else:
            lines.append(f"{_toml_key(k)} = {_toml_inline(v)}  # comment")
    for k, v in tables:
        lines.append(f"\n[{_toml_key(k)}]")
        lines.extend(f"{_toml_key(kk)} = {_toml_inline(vv)}" for kk, vv in v.items())
    return "\n".join(lines) + "\n"


@given(st.dictionaries(TOML_KEYS, TOML_VALUES, max_size=5))
def test_toml_positions_point_at_each_value(data: dict[str, Any]) -> None:
    import tomllib

    from flowcontrol.config.source import Node, parse_toml

    text = _toml_document(data)
    note(text)
    assert tomllib.loads(text) == data
    root = parse_toml(text)
    assert root.plain() == data
    lines = text.split("\n")

    def check(node: Node) -> None:
        if node.kind == "object":
            for child in node.value.values():
                check(child)
        elif node.kind == "array":
            for child in node.value:
                check(child)
        if node is root or node.line is None or node.column is None:
            return
        at = lines[node.line - 1][node.column - 1:]
        if node.kind in ("string", "int", "bool", "array"):
            assert at.startswith(_toml_inline(node.plain())[:1]), (node, at)
        if node.kind == "string" and node.value and node.value.isascii() \
                and node.value.isprintable() and '"' not in node.value and "\\" not in node.value:
            assert node.position_in(0) == (node.line, node.column + 1)

    check(root)


# --------------------------------------------------------------------------- YAML positions

YAML_KEYS = st.text(st.characters(codec="utf-8", exclude_categories=NO_SURROGATES_OR_CONTROLS),
                    min_size=1, max_size=6)
YAML_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(YAML_KEYS, inner, max_size=3),
    max_leaves=12)


@given(st.dictionaries(YAML_KEYS, YAML_VALUES, min_size=1, max_size=4),
       st.sampled_from([False, True, None]))
def test_yaml_positions_point_at_each_value(data: dict[str, Any], flow: bool | None) -> None:
    from flowcontrol.config.source import Node, parse_yaml

    text: str = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True)
    note(text)
    root = parse_yaml(text)
    assert root.plain() == yaml.safe_load(text)
    lines = text.split("\n")

    def char_at(pos: tuple[int | None, int | None]) -> str:
        line, col = pos
        assert line is not None and col is not None
        return lines[line - 1][col - 1]

    def check(node: Node) -> None:
        if node.kind in ("object", "array"):
            for child in (node.value.values() if node.kind == "object" else node.value):
                check(child)
            return
        assert char_at((node.line, node.column)) not in " \t\r\n"
        v = node.value
        if node.kind == "string" and v and v.isascii() and v.isprintable() and v.strip() == v \
                and not any(ch in v for ch in "'\"\\"):
            assert char_at(node.position_in(0)) == v[0]
            assert char_at(node.position_in(len(v) - 1)) == v[-1]

    check(root)
