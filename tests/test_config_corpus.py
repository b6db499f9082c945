"""The config corpus: every valid config has no errors; every invalid one has exactly the
diagnostics (code, path, line, column) listed in its ``.expected.json``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flowcontrol.config import expressions
from flowcontrol.config.files import validate_file

CORPUS = Path(__file__).parent / "configs"
SUFFIXES = (".json", ".yaml", ".toml")
VALID = sorted(p for p in (CORPUS / "valid").iterdir() if p.suffix in SUFFIXES)
INVALID = sorted(p for p in (CORPUS / "invalid").iterdir()
                 if p.suffix in SUFFIXES and not p.name.endswith(".expected.json"))


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_config_has_no_errors(path: Path) -> None:
    result = validate_file(path)
    errors = [f"{d.code} {d.path} {d.message}" for d in result.diagnostics if d.is_error]
    assert errors == []
    assert result.functions, "a valid file must yield at least one function"


def test_every_seed_example_is_in_the_corpus() -> None:
    seeds = {p.stem for p in VALID if p.stem.startswith("seed_")}
    assert len(seeds) == 14  # 12 flow-control sheet examples + 2 singleton reference examples


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_config_has_the_expected_diagnostics(path: Path) -> None:
    expected_file = path.with_name(path.name + ".expected.json")
    if "expressions" in path.stem and not expressions.available():
        pytest.skip("the expr package has not landed yet")
    assert expected_file.exists(), f"missing {expected_file.name}"
    expected = json.loads(expected_file.read_text(encoding="utf-8"))
    got = [{"code": d.code, "path": d.path, "line": d.line, "column": d.column}
           for d in validate_file(path).diagnostics]
    key = lambda r: (r["line"] or 0, r["column"] or 0, r["code"], r["path"])  # noqa: E731
    assert sorted(got, key=key) == sorted(expected, key=key)
    assert any(d["code"] != "FC002" for d in expected) or path.stem.startswith("syntax_error")
