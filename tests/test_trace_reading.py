"""How ``flowcontrol simulate`` reads TRACE: lazily, line by line, exactly as ``json.loads``.

JSON Lines in ``ts`` order stream through the simulator (memory follows live work, not the
trace); a trace out of order is read whole and sorted, with the same report; a bad line is
named with its line and column when it is reached.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import flowcontrol.sim.simulate as simulate_mod
from flowcontrol.cli.main import main
from flowcontrol.cli.simulate import Usage, load_trace, read_trace

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "examples" / "fair_ai.json"
TRACE = ROOT / "examples" / "fair_ai_trace.jsonl"

# Lines json.loads accepts, each with something the fast scanner must not get wrong.
ODD_LINES = [
    '{"name":"e","ts":1}',
    '   {"name":"e","ts":2}',  # leading spaces
    '{"name":"e","ts":3}   \t',  # trailing spaces and a tab
    "",  # blank lines are skipped
    "   ",
    '{"name":"e","ts":4,"data":{"x":NaN,"y":-Infinity,"z":1e400}}',
    '{"name":"é\\u00e9\\ud83d\\ude00","ts":5.5,"id":"\\"q\\""}',
    '{"name":"e","ts":6,"data":{"a":[1,{"b":null}],"c":true}}',
]


def _write(tmp_path: Path, lines: list[str], name: str = "t.jsonl", end: str = "\n") -> str:
    p = tmp_path / name
    p.write_text(end.join(lines) + end, encoding="utf-8")
    return str(p)


def _expected(lines: list[str]) -> list[Any]:
    return [json.loads(line) for line in lines if line.strip()]


def _same_json(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)  # NaN-safe


@pytest.mark.parametrize("end", ["\n", "\r\n"])
def test_lines_read_as_json_loads_reads_them(tmp_path: Path, end: str) -> None:
    path = _write(tmp_path, ODD_LINES, end=end)
    assert _same_json(list(read_trace(path)), _expected(ODD_LINES))


def test_a_byte_order_mark_and_a_last_line_without_newline(tmp_path: Path) -> None:
    p = tmp_path / "t.jsonl"
    p.write_bytes(b'\xef\xbb\xbf{"name":"e","ts":1}\n{"name":"e","ts":2}')
    assert [e["ts"] for e in read_trace(str(p))] == [1, 2]


@pytest.mark.parametrize(
    ("bad", "column", "message"),
    [
        ('{"name":"e"} x', 14, "Extra data"),
        ('{"name":"e"}\u00a0', 13, "Extra data"),  # not JSON whitespace
        ('{"name":"e"', 12, "Expecting ',' delimiter"),
        ('{"name":"e","ts":1} {"name":"e"}', 21, "Extra data"),
        ("\ufeff{}", 1, "Unexpected UTF-8 BOM"),
        ('{"name":"\x01"}', 10, "Invalid control character"),
    ],
)
def test_a_bad_line_is_named_with_json_loads_column_and_message(
    tmp_path: Path, bad: str, column: int, message: str
) -> None:
    path = _write(tmp_path, ['{"name":"e","ts":1}', "", bad])
    with pytest.raises(Usage) as e:
        list(read_trace(path))
    assert str(e.value).startswith(f"{path}:3:{column}: invalid JSON: {message}")


def test_events_stream_until_the_bad_line_is_reached(tmp_path: Path) -> None:
    path = _write(tmp_path, ['{"name":"e","ts":1}', '{"name":"e","ts":2}', '{"name":3}'])
    stream = read_trace(path)
    assert [next(stream)["ts"], next(stream)["ts"]] == [1, 2]
    with pytest.raises(Usage, match=r":3: event.name must be a non-empty string"):
        next(stream)


def test_a_json_array_trace_names_lines_after_leading_blank_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, ["", "", "[", '{"name":"e"},', "oops", "]"], name="t.json")
    with pytest.raises(Usage, match=r"t.json:5:1: invalid JSON"):
        load_trace(path)
    path = _write(tmp_path, ["", '[{"name":"e","ts":1},', ' {"name":"e","ts":2}]'])
    assert [e["ts"] for e in load_trace(path)] == [1, 2]


def _simulate(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(["simulate", *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_trace_out_of_order_gives_the_report_of_the_sorted_trace(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fmt: str
) -> None:
    lines = TRACE.read_text().splitlines()
    swapped = [*lines[:100], lines[101], lines[100], *lines[102:]]  # ts 1 ms apart or more
    assert json.loads(lines[101])["ts"] > json.loads(lines[100])["ts"]
    reordered = _write(tmp_path, swapped)
    # The sorted trace with the swapped pair's ids: simulate sorts by ts, then position.
    want = _simulate(capsys, str(CONFIG), str(TRACE), "--format", fmt)
    got = _simulate(capsys, str(CONFIG), reordered, "--format", fmt)
    assert got == want


def test_a_text_report_of_a_plain_config_takes_the_lean_pipeline(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, lean_calls: list[int]
) -> None:
    text = _simulate(capsys, str(CONFIG), str(TRACE))
    assert lean_calls == [1]
    _simulate(capsys, str(CONFIG), str(TRACE), "--format", "json")
    assert lean_calls == [1]  # rows: never the lean pipeline
    monkeypatch.setattr(simulate_mod, "plain", lambda *a, **k: False)
    assert _simulate(capsys, str(CONFIG), str(TRACE)) == text  # the general path agrees


def test_a_trace_on_standard_input_is_read_whole_and_may_be_out_of_order(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    want = _simulate(capsys, str(CONFIG), str(TRACE))
    lines = TRACE.read_text().splitlines()
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(reversed(lines)) + "\n"))
    assert _simulate(capsys, str(CONFIG), "-") == want
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
    compared = _simulate(capsys, str(CONFIG), "-", "--compare", str(CONFIG))
    assert "config unchanged" in compared  # both simulations read the one copy of stdin
    assert "3000" in next(line for line in compared.splitlines() if line.startswith("total"))
    monkeypatch.setattr("sys.stdin", io.StringIO('{"name":"e"}\n{"name":\n'))
    assert main(["simulate", str(CONFIG), "-"]) == 2
    assert "<stdin>:2:9: invalid JSON" in capsys.readouterr().err
