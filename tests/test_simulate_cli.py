"""The commands: ``flowcontrol simulate``, ``flowcontrol trace`` and ``flowcontrol demo``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flowcontrol.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "examples" / "fair_ai.json"
TRACE = ROOT / "examples" / "fair_ai_trace.jsonl"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_simulate_text_report(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "simulate", str(CONFIG), str(TRACE))
    assert code == 0, err
    assert "function ai-image-processing  (keys: event.data.user_id)" in out
    assert out.splitlines()[4].split()[:3] == ["total", "3000", "3000"], out
    assert "  ... 183 more keys" in out  # 193 users sent events; 10 are listed


def test_simulate_json_is_byte_identical_twice(capsys: pytest.CaptureFixture[str]) -> None:
    code1, out1, _ = run(capsys, "simulate", str(CONFIG), str(TRACE), "--format", "json")
    code2, out2, _ = run(capsys, "simulate", str(CONFIG), str(TRACE), "--format", "json")
    assert code1 == code2 == 0
    assert out1 == out2
    doc = json.loads(out1)
    assert len(doc["runs"]) == len(doc["events"]) == 3000
    assert {r["status"] for r in doc["runs"]} == {"completed"}
    f = doc["summary"]["functions"][0]
    assert f["events"]["run"] == f["runs_completed"] == 3000


def test_simulate_run_duration_and_group_by(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cfg = tmp_path / "f.yaml"
    cfg.write_text("id: f\ntriggers: [{event: e}]\nconcurrency: 1\n")
    trace = tmp_path / "t.jsonl"
    trace.write_text('{"name":"e","ts":0,"data":{"k":"x"}}\n{"name":"e","ts":0,"data":{"k":"y"}}\n')
    code, out, err = run(capsys, "simulate", str(cfg), str(trace), "--run-duration", "3s",
                         "--group-by", "event.data.k", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert [(r["key"], r["started_at"]) for r in doc["runs"]] == [("x", 0), ("y", 3000)]


def test_simulate_refuses_an_invalid_config_with_diagnostics(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cfg = tmp_path / "bad.json"
    cfg.write_text('{"id": "f", "triggers": [{"event": "e"}], "throttle": {"limit": 1}}')
    code, out, err = run(capsys, "simulate", str(cfg), str(TRACE))
    assert code == 1 and out == ""
    assert f"{cfg}:1:" in err and "throttle" in err and "config refused" in err


def test_simulate_names_the_bad_trace_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    trace = tmp_path / "t.jsonl"
    trace.write_text('{"name": "e", "ts": 1}\n\n{"name": 5}\n')
    code, out, err = run(capsys, "simulate", str(CONFIG), str(trace))
    assert code == 2 and out == ""
    assert f"{trace}:3: event.name must be a non-empty string" in err
    trace.write_text('{"name": "e", "ts": 1\n')
    code, _, err = run(capsys, "simulate", str(CONFIG), str(trace))
    assert code == 2 and f"{trace}:1:" in err and "invalid JSON" in err
    code, _, err = run(capsys, "simulate", str(CONFIG), str(tmp_path / "missing.jsonl"))
    assert code == 2 and "cannot read the trace" in err


def test_simulate_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "simulate", str(CONFIG), str(TRACE), "--run-duration", "soon")
    assert code == 2 and "--run-duration" in err
    code, _, err = run(capsys, "simulate", str(CONFIG), str(TRACE), "--group-by", "event.(")
    assert code == 2 and "--group-by" in err


def test_simulate_plot_without_matplotlib_says_how_to_get_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails as if missing
    code, out, err = run(capsys, "simulate", str(CONFIG), str(TRACE),
                         "--plot", str(tmp_path / "p.png"))
    assert code == 1 and "total" in out
    assert "pip install 'flowcontrol[plot]'" in err


def test_trace_is_deterministic(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = ("trace", "--events", "200", "--pattern", "bursty", "--seed", "4", "--keys", "10")
    code, out1, _ = run(capsys, *args)
    _, out2, _ = run(capsys, *args)
    assert code == 0 and out1 == out2 and len(out1.splitlines()) == 200
    dest = tmp_path / "t.jsonl"
    code, _, err = run(capsys, *args, "-o", str(dest))
    assert code == 0 and dest.read_text() == out1 and "wrote 200 events" in err
    code, _, err = run(capsys, "trace", "--rate", "0")
    assert code == 2 and "rate must be > 0" in err


def test_bundled_trace_is_what_tracegen_makes() -> None:
    from flowcontrol.cli.demo import DEMO_CONFIG, DEMO_TRACE
    from flowcontrol.sim.tracegen import dumps_jsonl, generate

    assert TRACE.read_text() == dumps_jsonl(generate(DEMO_TRACE))
    assert json.loads(CONFIG.read_text()) == DEMO_CONFIG


def test_demo_prints_the_report_and_the_comparison(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "demo")
    assert code == 0, err
    assert "function ai-image-processing" in out
    assert "What a change does" in out
    for label in ("as shipped", "no priority", "throttle 100/min", "1 per user"):
        assert f"  {label} " in out
    # "per user" (most runs in progress for one user): a step limit lets sleeping renders
    # pile up; a run limit of 3 holds even while they wait for an upload.
    rows = {line.split("  ")[1]: line.split() for line in out.splitlines()
            if line.startswith(("  upload wait ", "  3 renders/user ")) and " 3000 " in line}
    assert int(rows["upload wait"][-2]) > 3
    assert int(rows["3 renders/user"][-2]) == 3


def test_simulate_plot_draws_a_png(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "p.png"
    code, _, err = run(capsys, "simulate", str(CONFIG), str(TRACE), "--plot", str(png))
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from flowcontrol.config.model import FunctionConfig
    from flowcontrol.sim.plot import series
    from flowcontrol.sim.simulate import simulate
    from flowcontrol.sim.tracegen import iter_jsonl

    result = simulate([FunctionConfig.from_mapping(json.loads(CONFIG.read_text()))],
                      list(iter_jsonl(TRACE.read_text())), timeline=True)
    data = series(result, top=3)
    assert len(data) == 3
    for ts, running, backlog in data.values():
        assert ts == sorted(ts) and max(running) <= 3 and min(backlog) >= 0


def test_progress_bar_draws_only_on_a_terminal() -> None:
    import io

    from flowcontrol.cli.simulate import _Progress

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    bar = _Progress(stream)
    for done in (0, 500, 500, 1000):
        bar(done, 1000)
    text = stream.getvalue()
    assert text.count("\r") == 3  # the repeated 50% is not redrawn
    assert text.endswith("100% (1000/1000 events)\n")
