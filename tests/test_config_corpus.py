"""The config corpus: every valid config has no errors; every invalid one has exactly the
diagnostics (code, path, line, column) listed in its ``.expected.json``; every config in the
shapes real applications write (``real/``) has no error and exactly the listed diagnostics,
warnings included."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flowcontrol.config import expressions
from flowcontrol.config.diagnostics import Diagnostic
from flowcontrol.config.files import validate_file
from flowcontrol.config.lint import lint

CORPUS = Path(__file__).parent / "configs"
SUFFIXES = (".json", ".yaml", ".toml")
VALID = sorted(p for p in (CORPUS / "valid").iterdir() if p.suffix in SUFFIXES)
INVALID = sorted(p for p in (CORPUS / "invalid").iterdir()
                 if p.suffix in SUFFIXES and not p.name.endswith(".expected.json"))
REAL = sorted(p for p in (CORPUS / "real").iterdir()
              if p.suffix in SUFFIXES and not p.name.endswith(".expected.json"))


def _rows(diagnostics: list[Diagnostic]) -> list[dict[str, Any]]:
    return _in_order([{"code": d.code, "path": d.path, "line": d.line, "column": d.column}
                      for d in diagnostics])


def _in_order(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (r["line"] or 0, r["column"] or 0, r["code"], r["path"]))


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
    if "typecheck" in path.stem and not expressions.checker_available():
        pytest.skip("expr has no type checker yet")
    assert expected_file.exists(), f"missing {expected_file.name}"
    expected = json.loads(expected_file.read_text(encoding="utf-8"))
    assert _rows(validate_file(path).diagnostics) == _in_order(expected)
    assert any(d["code"] != "FC002" for d in expected) or path.stem.startswith("syntax_error")


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_real_config_shapes_have_no_false_errors(path: Path) -> None:
    """SDK-shape configs as applications write them: trigger ``if``, singleton without
    ``mode``, cron ``jitter``, keys without quotes, day-long throttles, long debounces."""
    result = validate_file(path)
    diagnostics = [*result.diagnostics, *lint(result.entries)]
    assert [f"{d.code} {d.path} {d.message}" for d in diagnostics if d.is_error] == []
    expected = json.loads(path.with_name(path.name + ".expected.json").read_text("utf-8"))
    assert _rows(diagnostics) == _in_order(expected)


def test_real_configs_cover_the_shapes_that_gave_false_errors() -> None:
    text = "\n".join(p.read_text("utf-8") for p in REAL)
    for shape in ('"if":', "if: ", "if = ", '"jitter"', "period: 12h", '"period": "1d"',
                  "key: analytics-pulse"):
        assert shape in text, shape
