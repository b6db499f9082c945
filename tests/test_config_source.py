"""Position-tracking parsers: every value knows where it starts, strings know their insides."""

from __future__ import annotations

import json

import pytest

from flowcontrol.config.source import (
    MAX_DEPTH,
    SourceError,
    parse_json,
    parse_toml,
    parse_yaml,
    plain_to_node,
)


def test_parse_json_positions_of_values_and_keys() -> None:
    root = parse_json('{\n  "a": [1, 2.5, true, null],\n  "b": {"c": "x"}\n}')
    a = root.value["a"]
    assert (a.line, a.column, a.key_line, a.key_column) == (2, 8, 2, 3)
    assert [(n.kind, n.value, n.column) for n in a.value] == [
        ("int", 1, 9), ("float", 2.5, 12), ("bool", True, 17), ("null", None, 23)]
    c = root.value["b"].value["c"]
    assert (c.kind, c.value, c.line, c.column) == ("string", "x", 3, 14)


@pytest.mark.parametrize(("raw", "index", "column"), [
    (r'"abc"', 0, 2),
    (r'"abc"', 2, 4),
    (r'"a\"c"', 2, 5),           # a two-character escape is one decoded character
    (r'"\u00e9x"', 1, 8),         # \u00e9 is six raw characters
    (r'"\ud83d\ude00x"', 1, 14),  # a surrogate pair decodes to one character
    (r'"ab"', 2, 4),              # one past the end: the closing quote
])
def test_parse_json_string_inside_positions_are_exact(raw: str, index: int, column: int) -> None:
    node = parse_json(raw)
    assert node.value == json.loads(raw)
    assert node.position_in(index) == (1, column)


@pytest.mark.parametrize(("text", "line", "column"), [
    ('{"a": 1,}', 1, 9),
    ('{"a" 1}', 1, 6),
    ("[1, 2", 1, 6),
    ('{"a": tru}', 1, 7),
    ('{"a": "x\ny"}', 1, 9),      # raw newline inside a string
    ("{}\n{}", 2, 1),
    ("", 1, 1),
    ("[1e999]", 1, 2),
])
def test_parse_json_errors_carry_positions(text: str, line: int, column: int) -> None:
    with pytest.raises(SourceError) as info:
        parse_json(text)
    assert (info.value.line, info.value.column) == (line, column)


def test_parse_json_refuses_deep_nesting_without_recursion_error() -> None:
    with pytest.raises(SourceError, match="nesting"):
        parse_json("[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5))
    assert parse_json("[" * 50 + "]" * 50).kind == "array"


def test_parse_json_records_duplicate_keys_and_keeps_the_last() -> None:
    root = parse_json('{"a": 1, "a": 2}')
    assert root.value["a"].value == 2
    assert root.duplicates == [("a", 1, 10)]


def test_parse_json_accepts_a_bom() -> None:
    assert parse_json('\ufeff{"a": 1}').value["a"].column == 8


def test_parse_yaml_positions_and_string_insides() -> None:
    root = parse_yaml('id: x\nthrottle:\n  key: "a + b"\npriority:\n  run: |\n    one\n    two x\n')
    key = root.value["throttle"].value["key"]
    assert (key.line, key.column, key.key_line, key.key_column) == (3, 8, 3, 3)
    assert key.position_in(4) == (3, 13)  # 'b' inside the double-quoted scalar
    run = root.value["priority"].value["run"]
    assert run.value == "one\ntwo x\n"
    assert run.position_in(8) == (7, 9)  # 'x' on the block's second line


def test_parse_yaml_anchors_and_merge_keys() -> None:
    root = parse_yaml("base: &b {limit: 1, period: 1s}\nthrottle:\n  <<: *b\n  limit: 2\n")
    assert root.plain()["throttle"] == {"limit": 2, "period": "1s"}


@pytest.mark.parametrize(("text", "line"), [
    ("a: [1, 2\n", 2),
    ("a: 1\n b: 2\n", 2),
    ("", 1),
    ("{1: 2}", 1),                # non-string key
    ("--- 1\n--- 2\n", 2),        # more than one document
])
def test_parse_yaml_errors_carry_positions(text: str, line: int) -> None:
    with pytest.raises(SourceError) as info:
        parse_yaml(text)
    assert info.value.line == line


def test_parse_toml_positions_by_line_scan() -> None:
    root = parse_toml('id = "x"\n\n[throttle]\nlimit = 5\nperiod = "1s"\n\n'
                      '[[functions]]\nid = "a"\n[[functions]]\nid = "b"\n')
    period = root.value["throttle"].value["period"]
    assert (period.line, period.column, period.key_column) == (5, 10, 1)
    second = root.value["functions"].value[1].value["id"]
    assert (second.line, second.column) == (10, 6)
    assert second.position_in(0) == (10, 7)


def test_parse_toml_error_position_and_dates_are_other() -> None:
    with pytest.raises(SourceError) as info:
        parse_toml('a = "x\n')
    assert info.value.line == 1
    assert parse_toml("when = 1979-05-27\n").value["when"].kind == "other"


def test_plain_to_node_has_no_positions() -> None:
    node = plain_to_node({"a": [1, "x"]})
    assert node.value["a"].value[1].position_in(0) == (None, None)
    assert node.plain() == {"a": [1, "x"]}
