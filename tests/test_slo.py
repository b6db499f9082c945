"""``--slo DURATION``: per function and key, the runs that started later than that."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flowcontrol.cli.main import main
from flowcontrol.config.model import FunctionConfig
from flowcontrol.sim.report import render_json, render_text, to_document
from flowcontrol.sim.simulate import simulate
from flowcontrol.sim.stats import Stats

S = 1_000_000_000
ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "examples" / "fair_ai.json"
TRACE = ROOT / "examples" / "fair_ai_trace.jsonl"

# Concurrency 1 on key a, runs of 10 s: four runs of a at 0 s wait 0, 10, 20, 30 s;
# one run of b waits 0 s.
CFG = FunctionConfig.from_mapping({"id": "f", "triggers": [{"event": "e"}],
                                   "concurrency": [{"limit": 1, "key": "event.data.k"}]})
TRACE_AB: list[dict[str, Any]] = (
    [{"name": "e", "data": {"k": "a"}, "ts": 0, "id": f"a{i}"} for i in range(4)]
    + [{"name": "e", "data": {"k": "b"}, "ts": 0, "id": "b0"}])


def test_stats_count_runs_over_a_threshold_strictly() -> None:
    st = Stats()
    assert st.over(0) == 0
    st.latencies.extend([0, 10 * S, 20 * S, 30 * S])
    assert [st.over(t) for t in (0, 10 * S, 19 * S, 30 * S)] == [3, 2, 2, 0]


def test_the_text_report_adds_a_column_after_max() -> None:
    r = simulate([CFG], TRACE_AB, run_duration=10 * S)
    text = render_text(r, slo_ns=15 * S)
    header = next(line for line in text.splitlines() if "started" in line).split()
    assert header[header.index("max") + 1:header.index("max") + 3] == [">", "15s"]
    rows = {line.split()[0]: line for line in text.splitlines()
            if line.startswith(("total", "  a", "  b"))}
    assert "2 (40%)" in rows["total"] and "2 (50%)" in rows["a"]
    assert rows["b"].split()[-3] == "0"
    assert "> 15s = runs that started more than 15s after they were created" in text
    assert render_text(r) == render_text(r, slo_ns=None)  # no column unless asked


def test_the_document_counts_runs_over_the_slo_in_every_entry() -> None:
    r = simulate([CFG], TRACE_AB, run_duration=10 * S)
    doc = to_document(r, slo_ns=15 * S)
    assert doc["summary"]["slo_ms"] == 15_000
    (f,) = doc["summary"]["functions"]
    assert f["runs_over_slo"] == 2
    assert {k["key"]: k["runs_over_slo"] for k in f["keys"]} == {"a": 2, "b": 0}
    keys = list(f)
    assert keys.index("runs_over_slo") == keys.index("start_latency_ms") + 1
    plain = json.loads(render_json(r))
    assert "slo_ms" not in plain["summary"]
    assert "runs_over_slo" not in plain["summary"]["functions"][0]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["simulate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_takes_slo_for_reports_and_comparisons(
    capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, str(CONFIG), str(TRACE), "--slo", "5m")
    assert code == 0, err
    total = next(line for line in out.splitlines() if line.startswith("total"))
    assert "861 (28.7%)" in total
    code, out, err = _run(capsys, str(CONFIG), str(TRACE), "--slo", "5m", "--compare",
                          str(CONFIG), "--format", "json")
    assert code == 0, err
    f = json.loads(out)["functions"][0]
    assert f["baseline"]["runs_over_slo"] == f["candidate"]["runs_over_slo"] == 861
    for bad, message in (("soon", "--slo: "), ("-1s", "--slo must not be negative")):
        code, _, err = _run(capsys, str(CONFIG), str(TRACE), f"--slo={bad}")
        assert code == 2 and message in err
