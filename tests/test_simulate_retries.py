"""Failing steps in the simulator: ``{"run": D, "fail": N}`` replayed through the
controller's retries, with fixed instants, rows and counts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from flowcontrol.config.model import ConfigError, FunctionConfig
from flowcontrol.sim.report import render_json, render_text, summarize, to_document
from flowcontrol.sim.simulate import SimResult, simulate

S = 1_000_000_000


def fn(fid: str = "f", **cfg: Any) -> FunctionConfig:
    return FunctionConfig.from_mapping({"id": fid, "triggers": [{"event": "e"}], **cfg})


def ev(eid: str, t_ms: int, **data: Any) -> dict[str, Any]:
    return {"name": "e", "id": eid, "ts": t_ms, "data": data}


def rows(result: SimResult) -> dict[str, tuple[float | None, float | None, str, int]]:
    """first event id -> (started s, ended s, status, retries)."""
    return {
        r.event_ids[0]: (
            None if r.started_at is None else r.started_at / S,
            None if r.ended_at is None else r.ended_at / S,
            r.status,
            r.retries,
        )
        for r in result.runs
    }


def test_a_queued_run_takes_the_slot_during_the_backoff() -> None:
    """Concurrency 1, one 2 s step whose first attempt fails: a's step fails at 2 s and
    retries at 17 s (the platform's first backoff, 15 s); b runs in between (2-4 s, its
    own first attempt fails too, retry at 19 s); a's retry runs 17-19 s, then b's 19-21 s."""
    cfg = fn(concurrency=1, steps=[{"run": "2s", "fail": 1}])
    r = simulate([cfg], [ev("a", 0), ev("b", 0)])
    assert rows(r) == {
        "a": (0, 19, "completed", 1),
        "b": (2, 21, "completed", 1),
    }
    s = summarize(r)
    assert (s.failures["f"].retries, s.failures["f"].failed) == (2, 0)
    assert r.peak_function["f"] == 1


def test_the_retry_waits_for_the_slot() -> None:
    """f and g share account key "k" (limit 1). f's step fails at 2 s (retry due 17 s);
    g's 10 s step starts at 10 s and holds the slot until 20 s: f's retry runs 20-22 s."""
    shared = [{"scope": "account", "key": '"k"', "limit": 1}]
    f = FunctionConfig.from_mapping({"id": "f", "triggers": [{"event": "a"}], "retries": 1,
                                     "concurrency": shared, "steps": [{"run": "2s", "fail": 1}]})
    g = FunctionConfig.from_mapping({"id": "g", "triggers": [{"event": "b"}],
                                     "concurrency": shared, "steps": [{"run": "10s"}]})
    trace = [{"name": "a", "id": "a1", "ts": 0}, {"name": "b", "id": "b1", "ts": 10_000}]
    r = simulate([f, g], trace)
    assert rows(r) == {"a1": (0, 22, "completed", 1), "b1": (10, 20, "completed", 0)}


def test_retries_exhausted_the_run_fails() -> None:
    """retries 2, a step that fails 5 times: attempts at 0, 16 and 47 s fail (backoff 15 s,
    then 30 s); the third failure at 48 s ends the run failed."""
    cfg = fn(retries=2, steps=[{"run": "1s", "fail": 5}, {"run": "1s"}])
    r = simulate([cfg], [ev("a", 0)])
    (row,) = r.runs
    assert (row.status, row.started_at, row.ended_at, row.retries) == ("failed", 0, 48 * S, 2)
    assert "last attempt (3 of 3)" in row.reason
    doc = to_document(r)
    assert doc["runs"][0]["status"] == "failed" and doc["runs"][0]["retries"] == 2
    f = doc["summary"]["functions"][0]
    assert (f["runs_failed"], f["runs_pending"], f["runs_completed"], f["retries"]) == (1, 0, 0, 2)
    assert f["runs_completed"] + f["runs_cancelled"] + f["runs_skipped"] + f["runs_failed"] \
        + f["runs_pending"] == f["runs"]


def test_default_retries_are_four() -> None:
    """No ``retries``: 5 attempts. fail 4 succeeds on the 5th; fail 5 fails the run."""
    ok = simulate([fn(steps=[{"run": "1s", "fail": 4}])], [ev("a", 0)])
    bad = simulate([fn(steps=[{"run": "1s", "fail": 5}])], [ev("a", 0)])
    # attempts end at 1, 17, 48, 109, 230 s (backoff 15, 30, 60, 120 s after each)
    assert rows(ok) == {"a": (0, 230, "completed", 4)}
    assert rows(bad) == {"a": (0, 230, "failed", 4)}


def test_attempts_count_per_step() -> None:
    """retries 1: each of two steps may fail once and the run still completes."""
    cfg = fn(retries=1, steps=[{"run": "1s", "fail": 1}, {"sleep": "5s"},
                               {"run": "1s", "fail": 1}])
    r = simulate([cfg], [ev("a", 0)])
    # step 1: 0-1 fails, 16-17 ok; sleep 17-22; step 2: 22-23 fails, 38-39 ok
    assert rows(r) == {"a": (0, 39, "completed", 2)}


def test_the_singleton_is_held_during_the_backoff() -> None:
    cfg = fn(singleton={"mode": "skip"}, retries=1, steps=[{"run": "1s", "fail": 1}])
    r = simulate([cfg], [ev("a", 0), ev("b", 5_000), ev("c", 20_000)])
    assert rows(r) == {
        "a": (0, 17, "completed", 1),  # fails at 1 s, retried 16-17 s
        "b": (None, 5, "skipped", 0),  # a still holds the lock while waiting to retry
        "c": (20, 37, "completed", 1),  # the lock is free again; c fails once too
    }


def test_text_report_counts_failed_runs_and_retries() -> None:
    cfg = fn(retries=0, steps=[{"run": "1s", "fail": 1}], concurrency=[
        {"key": "event.data.u", "limit": 1}])
    r = simulate([cfg], [ev("a", 0, u="x"), ev("b", 0, u="y"), ev("c", 5000, u="x")])
    text = render_text(r)
    header = next(line for line in text.splitlines() if "events" in line and "failed" in line)
    assert header.split()[:8] == ["events", "started", "dropped", "skipped", "cancel", "failed",
                                  "retries", "p50"]
    total = next(line for line in text.splitlines() if line.startswith("total"))
    assert total.split()[1:8] == ["3", "3", "0", "0", "0", "3", "0"]
    assert "failed = runs whose step failed" in text
    plain = render_text(simulate([fn()], [ev("a", 0)]))
    assert "failed" not in plain and "retries" not in plain  # columns only when needed


def test_failing_steps_take_the_general_path_and_output_is_byte_identical() -> None:
    cfg = fn(concurrency=[{"key": "event.data.u", "limit": 2}], throttle={
        "limit": 3, "period": "10s"}, steps=[{"run": "3s", "fail": 2}])
    trace = [ev(f"e{i}", 700 * i, u=f"u{i % 3}") for i in range(30)]
    full = simulate([cfg], trace)
    lean = simulate([cfg], trace, keep_rows=False)  # would be the lean path without fail
    assert summarize(full).failures == summarize(lean).failures
    assert summarize(full).failures["f"].retries == 60
    assert render_text(full) == render_text(lean)
    assert render_json(full) == render_json(simulate([cfg], trace))
    doc = json.loads(render_json(full))
    assert all(row["retries"] == 2 and row["status"] == "completed" for row in doc["runs"])


@pytest.mark.parametrize(
    ("steps", "code", "path"),
    [
        ([{"sleep": "1s", "fail": 1}], "FC194", "$.steps[0].fail"),
        ([{"run": "1s", "fail": -1}], "FC194", "$.steps[0].fail"),
        ([{"run": "1s", "fail": 22}], "FC194", "$.steps[0].fail"),
        ([{"run": "1s", "fail": "2"}], "FC101", "$.steps[0].fail"),
        ([{"run": "1s", "fail": 1.5}], "FC101", "$.steps[0].fail"),
        ([{"fail": 1}], "FC194", "$.steps[0]"),
    ],
)
def test_fail_is_validated(steps: list[dict[str, Any]], code: str, path: str) -> None:
    with pytest.raises(ConfigError) as err:
        fn(steps=steps)
    assert [(d.code, d.path) for d in err.value.diagnostics] == [(code, path)]


def test_fail_is_kept_on_the_step() -> None:
    cfg = fn(steps=[{"run": "2s", "fail": 2}, {"sleep": "1s"}, {"run": "1s"}])
    assert [(s.kind, s.fail) for s in cfg.steps] == [("run", 2), ("sleep", 0), ("run", 0)]
    assert fn(steps=[{"run": "2s", "fail": 21}]).steps[0].fail == 21
