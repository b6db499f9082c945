"""``flowcontrol simulate CONFIG TRACE --compare CONFIG2``: what a config change does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flowcontrol.cli.main import main
from flowcontrol.config.model import FunctionConfig
from flowcontrol.sim.compare import (
    Change,
    compare,
    compare_document,
    config_changes,
    render_compare_text,
)
from flowcontrol.sim.simulate import simulate

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "examples" / "fair_ai.json"
TRACE = ROOT / "examples" / "fair_ai_trace.jsonl"
BASE: dict[str, Any] = {"id": "f", "triggers": [{"event": "e"}],
                        "concurrency": [{"limit": 1, "key": "event.data.k"}]}
S = 1_000_000_000


def fc(**change: Any) -> FunctionConfig:
    return FunctionConfig.from_mapping({k: v for k, v in {**BASE, **change}.items()
                                        if v is not None})


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, []),
        ({"concurrency": [{"limit": 2, "key": "event.data.k"}]},
         [Change("concurrency[0].limit", 1, 2)]),
        ({"concurrency": [{"limit": 1, "key": "event.data.k"}, {"limit": 5}]},
         [Change("concurrency[1]", None, {"limit": 5})]),
        ({"throttle": {"limit": 20, "period": "1m", "key": "'gpu'"}},
         [Change("throttle", None, {"limit": 20, "period": "1m0s", "key": "'gpu'"})]),
        ({"debounce": {"period": "5s", "timeout": "1m"}},
         [Change("debounce", None, {"period": "5s", "timeout": "1m0s"})]),
        ({"batchEvents": {"maxSize": 5, "timeout": "10s", "if": "event.data.x == 1"},
          "concurrency": None},
         [Change("concurrency[0]", {"limit": 1, "key": "event.data.k"}, None),
          Change("batchEvents", None, {"maxSize": 5, "timeout": "10s",
                                       "if": "event.data.x == 1"})]),
        ({"rateLimit": {"limit": 10, "period": "1h"}, "steps": [{"run": "2s"}]},
         [Change("rateLimit", None, {"limit": 10, "period": "1h0m0s"}),
          Change("steps[0]", None, {"step": "run", "duration": "2s"})]),
    ],
)
def test_config_changes_in_config_terms(change: dict[str, Any], expected: list[Change]) -> None:
    got = config_changes(fc(), fc(**change))
    assert [(c.path, c.before, c.after) for c in got][:len(expected)] == [
        (c.path, c.before, c.after) for c in expected]
    assert len(got) == len(expected)


def test_a_change_says_before_and_after() -> None:
    c = config_changes(fc(), fc(concurrency=[{"limit": 3, "key": "event.data.user"}]))
    assert [x.text() for x in c] == ['concurrency[0].limit: 1 -> 3',
                                     'concurrency[0].key: "event.data.k" -> "event.data.user"']


def _trace() -> list[dict[str, Any]]:
    # Four events of key a at 0 s, one of key b at 1 s; runs last 10 s.
    return ([{"name": "e", "data": {"k": "a"}, "ts": 0, "id": f"a{i}"} for i in range(4)]
            + [{"name": "e", "data": {"k": "b"}, "ts": 1000, "id": "b0"}])


def _pair() -> tuple[Any, Any, tuple[list[FunctionConfig], list[FunctionConfig]]]:
    before = [fc()]
    after = [fc(concurrency=[{"limit": 2, "key": "event.data.k"}])]
    a = simulate(before, _trace(), run_duration=10 * S, keep_rows=False)
    b = simulate(after, _trace(), run_duration=10 * S, keep_rows=False)
    return a, b, (before, after)


def test_raising_a_key_limit_halves_the_wait_of_the_busy_key_only() -> None:
    a, b, configs = _pair()
    cmp = compare(a, b, configs)
    (f,) = cmp.functions
    assert [k for k, _, _ in f.keys] == ["a", "b"]  # most changed first
    (_, ka_b, ka_a), (_, kb_b, kb_a) = f.keys
    assert ka_b is not None and ka_a is not None and kb_b is not None and kb_a is not None
    assert sorted(ka_b.latencies) == [0, 10 * S, 20 * S, 30 * S]
    assert sorted(ka_a.latencies) == [0, 0, 10 * S, 10 * S]
    assert list(kb_b.latencies) == list(kb_a.latencies) == [0]
    text = render_compare_text(cmp)
    assert "  config concurrency[0].limit: 1 -> 2" in text
    rows = {line.split()[0]: line for line in text.splitlines() if line.startswith("  a ")
            or line.startswith("total")}
    assert "30.00s -> 10.00s" in rows["a"] and "1 -> 2" in rows["a"]
    assert "1 of 2 keys unchanged" in text


def test_the_document_pairs_every_key_and_is_stable() -> None:
    a, b, configs = _pair()
    doc = compare_document(compare(a, b, configs))
    assert doc["kind"] == "comparison" and doc["schema_version"] == 1
    (f,) = doc["functions"]
    assert f["config_changes"] == [{"path": "concurrency[0].limit", "baseline": 1,
                                    "candidate": 2}]
    assert [k["key"] for k in f["keys"]] == ["a", "b"]
    assert f["baseline"]["runs_started"] == f["candidate"]["runs_started"] == 5
    assert f["keys"][0]["baseline"]["start_latency_ms"]["max"] == 30_000
    assert f["keys"][0]["candidate"]["start_latency_ms"]["max"] == 10_000
    assert json.dumps(doc) == json.dumps(compare_document(compare(a, b, configs)))


def test_a_function_in_one_config_only() -> None:
    other = FunctionConfig.from_mapping({"id": "g", "triggers": [{"event": "e"}]})
    a = simulate([fc()], _trace(), keep_rows=False)
    b = simulate([fc(), other], _trace(), keep_rows=False)
    cmp = compare(a, b, ([fc()], [fc(), other]))
    assert [f.function for f in cmp.functions] == ["f", "g"]
    assert cmp.functions[1].before is None and cmp.functions[1].after is not None
    assert "only in the candidate" in render_compare_text(cmp)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["simulate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_compares_two_configs(capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    cfg = json.loads(CONFIG.read_text())
    cfg["throttle"]["limit"] = 20
    slower = tmp_path / "slower.json"
    slower.write_text(json.dumps(cfg))
    code, out, err = _run(capsys, str(CONFIG), str(TRACE), "--compare", str(slower))
    assert code == 0, err
    assert "  config throttle.limit: 50 -> 20" in out
    total = next(line for line in out.splitlines() if line.startswith("total"))
    assert total.split()[1] == "3000"  # every run still starts, later
    code, out, err = _run(capsys, str(CONFIG), str(TRACE), "--compare", str(slower),
                          "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["functions"][0]["config_changes"] == [
        {"path": "throttle.limit", "baseline": 50, "candidate": 20}]
    same = _run(capsys, str(CONFIG), str(TRACE), "--compare", str(CONFIG))[1]
    assert "config unchanged" in same and "193 of 193 keys unchanged" in same


def test_the_command_refuses_what_it_cannot_do(capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    code, _, err = _run(capsys, str(CONFIG), str(TRACE), "--compare", str(CONFIG),
                        "--plot", str(tmp_path / "x.png"))
    assert code == 2 and "--plot cannot be combined with --compare" in err
    bad = tmp_path / "bad.json"
    bad.write_text('{"id": "f", "triggers": [{"event": "e"}], "throttle": {"limit": 0}}')
    code, _, err = _run(capsys, str(CONFIG), str(TRACE), "--compare", str(bad))
    assert code == 1 and "config refused" in err


def test_failed_runs_and_retries_get_columns_when_any_side_has_them() -> None:
    before = [fc(steps=[{"run": "1s", "fail": 1}], retries=0)]  # every run fails, no retry
    after = [fc(steps=[{"run": "1s", "fail": 1}])]  # one retry each, then it completes
    a = simulate(before, _trace(), keep_rows=False)
    b = simulate(after, _trace(), keep_rows=False)
    cmp = compare(a, b, (before, after))
    text = render_compare_text(cmp)
    header = next(line for line in text.splitlines() if "started" in line)
    assert header.split()[-3:] == ["retries", "p99", "change"]
    total = next(line for line in text.splitlines() if line.startswith("total"))
    assert "5 -> 0" in total and "0 -> 5" in total  # failed, retries
    doc = compare_document(cmp)
    f = doc["functions"][0]
    assert (f["baseline"]["runs_failed"], f["candidate"]["runs_failed"]) == (5, 0)
    assert (f["baseline"]["retries"], f["candidate"]["retries"]) == (0, 5)
    assert f["config_changes"] == [{"path": "retries", "baseline": 0, "candidate": None}]
