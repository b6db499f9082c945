"""``python -m expr``: results as JSON on stdout, errors on stderr, exit 0 / 1 / 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import expr
from expr.__main__ import main, render, to_json

EVENT = {"event": {"data": {"user_id": "u_1", "account_id": "acc_9", "severity": "high"},
                   "user": {"email": "a@b.c"}}}
DATA = json.dumps(EVENT)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# (argv, exit code, stdout)
TABLE = [
    (["event.data.user_id", "--data", DATA], 0, '"u_1"\n'),
    (["event.data.account_id + '-' + event.user.email", "--data", DATA], 0, '"acc_9-a@b.c"\n'),
    (["event.data.severity == 'critical' ? 300 : event.data.severity == 'high' ? 120 : 0",
      "--data", DATA], 0, "120\n"),
    (["1 + 2"], 0, "3\n"),
    (["1u + 2u"], 0, "3\n"),
    (["2.5 * 2.0"], 0, "5.0\n"),
    (["[1, 'a', true, null]"], 0, '[1, "a", true, null]\n'),
    (["{'k': [1u]}"], 0, '{"k": [1]}\n'),
    (["b'hi'"], 0, '"aGk="\n'),
    (["type(1)"], 0, '"int"\n'),
    (["0.0 / 0.0"], 0, '"NaN"\n'),
    (["-1.0 / 0.0"], 0, '"-Infinity"\n'),
    (["'ünï'"], 0, '"ünï"\n'),
    (["event.data.user_id", "--raw", "--data", DATA], 0, "u_1\n"),
    (["event.data.missing", "--dialect", "inngest", "--data", DATA], 0, "false\n"),
    (["event.data.missing", "--dialect", "inngest", "--key", "--data", DATA], 0, "false\n"),
    (["1e6", "--key"], 0, "1e+06\n"),
]


@pytest.mark.parametrize(("argv", "code", "out"), TABLE, ids=[t[0][0] for t in TABLE])
def test_cli_prints_result_as_json(capsys: pytest.CaptureFixture[str], argv: list[str],
                                   code: int, out: str) -> None:
    got_code, got_out, got_err = run(capsys, *argv)
    assert (got_code, got_out, got_err) == (code, out, "")


def test_cli_map_keys_become_strings(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "{1: 'a', true: 'b', 2u: 'c'}")
    assert code == 0
    assert json.loads(out) == {"1": "a", "true": "b", "2": "c"}


def test_cli_syntax_error_shows_caret_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "event.data.user_id +")
    assert (code, out) == (1, "")
    assert "^" in err
    assert "event.data.user_id +" in err


def test_cli_eval_error_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "event.data.nope", "--data", DATA)
    assert (code, out) == (1, "")
    assert err.startswith("error: ")


def test_cli_division_by_zero_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "1 / 0")
    assert (code, out) == (1, "")
    assert err.startswith("error: ")


@pytest.mark.parametrize("argv", [
    [],
    ["x", "--dialect", "python"],
    ["x", "--data", "{", ],
    ["x", "--data", "[1, 2]"],
    ["x", "--data", "{}", "--data-file", "f.json"],
    ["x", "--raw", "--key"],
])
def test_cli_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err


def test_cli_deeply_nested_data_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "x", "--data", "[" * 100_000 + "]" * 100_000)
    assert (code, out) == (2, "")
    assert "error" in err


def test_cli_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "--events" in out


def test_cli_data_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = tmp_path / "act.json"
    f.write_text(DATA, encoding="utf-8")
    assert run(capsys, "event.user.email", "--data-file", str(f)) == (0, '"a@b.c"\n', "")


def test_cli_missing_data_file_exits_2(capsys: pytest.CaptureFixture[str],
                                       tmp_path: Path) -> None:
    code, out, err = run(capsys, "x", "--data-file", str(tmp_path / "nope.json"))
    assert (code, out) == (2, "")
    assert "nope.json" in err


def test_cli_events_one_result_per_line(capsys: pytest.CaptureFixture[str],
                                        tmp_path: Path) -> None:
    f = tmp_path / "events.jsonl"
    f.write_text('{"data": {"n": 1}}\n\n{"data": {"n": 2}}\n{"data": {"n": 40}}\n',
                 encoding="utf-8")
    assert run(capsys, "event.data.n + 2", "--events", str(f)) == (0, "3\n4\n42\n", "")


def test_cli_events_error_keeps_lines_aligned(capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path) -> None:
    f = tmp_path / "events.jsonl"
    f.write_text('{"data": {"n": 1}}\n{"data": {}}\n{"data": {"n": 3}}\n', encoding="utf-8")
    code, out, err = run(capsys, "event.data.n", "--events", str(f))
    assert (code, out) == (1, "1\n\n3\n")
    assert err.startswith(f"{f}:2: error: ")


def test_cli_events_with_base_data(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = tmp_path / "events.jsonl"
    f.write_text('{"id": "e1"}\n{"id": "e2"}\n', encoding="utf-8")
    code, out, _ = run(capsys, "event.id + '@' + region", "--events", str(f),
                       "--data", '{"region": "eu", "event": "ignored"}')
    assert (code, out) == (0, '"e1@eu"\n"e2@eu"\n')


def test_cli_events_invalid_line_exits_2(capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    f = tmp_path / "events.jsonl"
    f.write_text('{"id": 1}\n{oops\n', encoding="utf-8")
    code, out, err = run(capsys, "event.id", "--events", str(f))
    assert (code, out) == (2, "")
    assert f"{f}:2:" in err


def test_cli_bundled_example_events(capsys: pytest.CaptureFixture[str]) -> None:
    events = Path(__file__).resolve().parent.parent / "examples" / "events.jsonl"
    code, out, err = run(capsys, "--dialect", "inngest", "--events", str(events),
                         "event.data.severity == 'critical' ? 300 : "
                         "event.data.severity == 'high' ? 120 : 0")
    lines = out.splitlines()
    assert (code, err) == (0, "")
    assert len(lines) == len(events.read_text(encoding="utf-8").splitlines()) >= 25
    assert set(lines) <= {"300", "120", "0"}
    assert {"300", "120", "0"} <= set(lines)


def test_to_json_and_render() -> None:
    assert to_json({"a": [expr.UInt(5), b"\x00", float("inf")]}) == {"a": [5, "AA==", "Infinity"]}
    assert render("x", raw=True) == "x"
    assert render(["x"], raw=True) == '["x"]'
    assert render(-0.0) == "-0.0"
