"""``flowcontrol validate``: output formats, exit codes, and no traceback on any input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flowcontrol.cli.main import main
from flowcontrol.config import expressions

CORPUS = Path(__file__).parent / "configs"
VALID = CORPUS / "valid" / "seed_sync_crm_data.json"
WARNS = CORPUS / "valid" / "seed_process_order.json"  # FC203: priority without a limit
INVALID = CORPUS / "invalid" / "throttle_ranges.json"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["validate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("files", "extra", "exit_code"), [
    ([VALID], [], 0),
    ([WARNS], [], 0),
    ([WARNS], ["--strict"], 1),
    ([INVALID], [], 1),
    ([VALID, INVALID], [], 1),
    ([CORPUS / "invalid" / "syntax_error.json"], [], 2),
    ([CORPUS / "nope.json"], [], 2),
    ([INVALID, CORPUS / "invalid" / "syntax_error.yaml"], [], 2),
])
def test_exit_codes(capsys: pytest.CaptureFixture[str], files: list[Path], extra: list[str],
                    exit_code: int) -> None:
    code, _, err = run(capsys, *map(str, files), *extra)
    assert code == exit_code
    assert "Traceback" not in err


def test_text_format_is_file_line_col_code_message(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, err = run(capsys, str(INVALID))
    lines = out.splitlines()
    assert lines[0] == (f"{INVALID}:4:25: FC131 throttle limit must be at least 1, got 0 (the "
                        "platform silently treats 0 as 1) [$.throttle.limit]")
    assert len(lines) == 3
    assert "3 error(s)" in err


def test_json_format(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, str(INVALID), "--format", "json")
    rows = json.loads(out)
    assert [(r["code"], r["line"], r["column"], r["path"]) for r in rows] == [
        ("FC131", 4, 25, "$.throttle.limit"), ("FC130", 4, 38, "$.throttle.period"),
        ("FC106", 4, 56, "$.throttle.burst")]
    assert rows[0]["severity"] == "error"


def test_sarif_format(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, str(INVALID), str(WARNS), "--format", "sarif")
    log = json.loads(out)
    assert log["version"] == "2.1.0"
    run0 = log["runs"][0]
    rules = [r["id"] for r in run0["tool"]["driver"]["rules"]]
    assert rules == sorted(rules) and "FC203" in rules
    by_rule = {r["ruleId"]: r for r in run0["results"]}
    assert by_rule["FC203"]["level"] == "warning"
    region = by_rule["FC131"]["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 4, "startColumn": 25}
    assert rules[by_rule["FC131"]["ruleIndex"]] == "FC131"


def test_github_format(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, str(INVALID), str(WARNS), "--format", "github")
    lines = out.splitlines()
    assert lines[0].startswith(f"::error file={INVALID},line=4,col=25,title=FC131::FC131 ")
    assert any(line.startswith("::warning file=") for line in lines)


def test_events_option(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text('{"name": "other", "data": {}}\nnot json\n', encoding="utf-8")
    code, out, _ = run(capsys, str(VALID), "--events", str(events))
    assert "FC223" in out  # no sample triggers the function
    assert "FC002" in out and code == 2  # the broken line is reported with its position


def test_list_codes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--list-codes")
    assert code == 0 and "FC101" in out and "FC205" in out


def test_no_files_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys)
    assert code == 2 and "FILE" in err


@pytest.mark.parametrize("content", [
    b"\xff\xfe\x00", b"", b"[" * 10000, b"{\"id\": " * 3000, b"- - - - -\n" * 10, b"\x00",
    b'{"functions": [1, "x", null, {"id": {}}]}', b"[[[[]]]]", b"42",
])
def test_never_a_traceback(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                           content: bytes) -> None:
    for suffix in (".json", ".yaml", ".toml"):
        path = tmp_path / f"c{suffix}"
        path.write_bytes(content)
        code, _, err = run(capsys, str(path))
        assert code in (0, 1, 2)
        assert "internal error" not in err and "Traceback" not in err


def test_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("id: a\ntriggers: {event: e}\nretries: 99\n"))
    code, out, _ = run(capsys, "-")
    assert code == 1
    assert out.startswith("<stdin>:3:10: FC195 ")


needs_check = pytest.mark.skipif(not expressions.checker_available(),
                                 reason="expr has no type checker yet")


@needs_check
def test_the_issue_example_fails_with_both_type_errors(capsys: pytest.CaptureFixture[str],
                                                       ) -> None:
    # Accepted before the checker (exit 0); the platform refuses to register it.
    path = CORPUS / "invalid" / "typecheck_issue11.json"
    code, out, err = run(capsys, str(path))
    assert code == 1 and "2 error(s)" in err
    assert out.splitlines() == [
        f"{path}:2:77: FC113 key is invalid: found no matching overload for '_%_' applied to "
        "'(dyn, string)' [$.rateLimit.key]",
        f"{path}:3:88: FC113 conditional batch expression is invalid: expected type 'bool' but "
        "found 'int' [$.batchEvents.if]",
    ]
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[1][76] == "%" and lines[2][87] == "1"  # inside the expression strings
