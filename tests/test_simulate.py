"""The simulator, its report and the trace generator: determinism, accounting, the schema."""

from __future__ import annotations

import json
from typing import Any

import pytest

from flowcontrol.config.model import FunctionConfig
from flowcontrol.sim.report import render_json, render_text, summarize, to_document
from flowcontrol.sim.simulate import simulate
from flowcontrol.sim.tracegen import TraceSpec, dumps_jsonl, generate, iter_jsonl

S = 1_000_000_000


def fn(fid: str = "f", **cfg: Any) -> FunctionConfig:
    return FunctionConfig.from_mapping({"id": fid, "triggers": [{"event": "e"}], **cfg})


def events(n: int, gap_ms: int = 100, name: str = "e") -> list[dict[str, Any]]:
    return [{"name": name, "id": f"e{i}", "ts": i * gap_ms, "data": {}} for i in range(n)]


def test_tracegen_is_deterministic_and_sorted() -> None:
    for pattern in ("poisson", "bursty"):
        spec = TraceSpec(events=500, pattern=pattern, seed=3, keys=20)  # type: ignore[arg-type]
        a, b = generate(spec), generate(spec)
        assert dumps_jsonl(a) == dumps_jsonl(b)
        ts = [e["ts"] for e in a]
        assert ts == sorted(ts) and len(a) == 500
        assert list(iter_jsonl(dumps_jsonl(a))) == a
    assert generate(TraceSpec(events=50, seed=1)) != generate(TraceSpec(events=50, seed=2))


def test_tracegen_zipf_is_skewed_and_bursty_is_burstier() -> None:
    ev = generate(TraceSpec(events=5000, keys=100, zipf=1.2, seed=0))
    top = sum(e["data"]["user_id"] == "user-1" for e in ev)
    assert top > 5000 / 100 * 5  # the first user is far above the uniform share
    uniform = generate(TraceSpec(events=5000, keys=100, zipf=0.0, seed=0))
    assert sum(e["data"]["user_id"] == "user-1" for e in uniform) < top / 3


def test_tracegen_rejects_bad_specs() -> None:
    with pytest.raises(ValueError, match="rate must be > 0"):
        generate(TraceSpec(rate=0))
    assert TraceSpec(keys=0, zipf=-1).problems() == [
        "keys must be >= 1, got 0", "zipf exponent must be >= 0, got -1",
    ]


def test_simulate_same_inputs_same_bytes() -> None:
    cfgs = [fn(throttle={"limit": 3, "period": "10s"}, concurrency=2,
               steps=[{"run": "2s"}, {"sleep": "5s"}, {"run": "1s"}])]
    trace = generate(TraceSpec(events=400, rate=2.0, name="e", seed=11))
    one = simulate(cfgs, trace)
    two = simulate(cfgs, [dict(e) for e in trace])
    assert render_json(one) == render_json(two)
    assert render_text(one) == render_text(two)


def test_simulate_every_event_has_exactly_one_outcome() -> None:
    cfgs = [
        fn("thr", throttle={"limit": 2, "period": "5s"}),
        fn("rl", rateLimit={"limit": 10, "period": "1m"}),
        fn("deb", debounce={"period": "2s"}),
        fn("bat", batchEvents={"maxSize": 4, "timeout": "3s"}),
        fn("one", singleton={"mode": "skip"}),
    ]
    trace = [*events(300, gap_ms=250), {"name": "nobody", "ts": 5}]
    result = simulate(cfgs, trace)
    seen = [(e.event_id, e.function) for e in result.events]
    assert len(seen) == len(set(seen)) == 300 * len(cfgs)
    assert result.unmatched_events == 1
    runs = {r.run_id: r for r in result.runs}
    for e in result.events:
        assert e.outcome in ("run", "dropped", "skipped", "debounced", "batched", "superseded")
        if e.outcome in ("run", "debounced", "batched"):
            assert e.event_id in runs[e.run_id].event_ids  # type: ignore[index]
    assert all(r.status in ("completed", "cancelled", "skipped") for r in result.runs)


def test_report_counts_add_up() -> None:
    cfgs = [fn(rateLimit={"limit": 30, "period": "1m"}, throttle={"limit": 5, "period": "1m"})]
    result = simulate(cfgs, events(200, gap_ms=200))
    s = summarize(result).functions["f"]
    assert s.events_in == 200 == sum(s.outcomes.values())
    assert s.outcomes["dropped"] > 0
    assert s.runs == s.outcomes["run"] == s.runs_started == s.completed
    assert len(s.latencies) == s.runs_started
    doc = to_document(result)
    f = doc["summary"]["functions"][0]
    assert f["events_in"] == sum(f["events"].values())
    assert f["runs_completed"] + f["runs_cancelled"] + f["runs_skipped"] + f["runs_pending"] \
        == f["runs"]


def test_report_json_schema_fields() -> None:
    result = simulate([fn(concurrency=1)], events(3, gap_ms=0), run_duration=2 * S)
    doc = json.loads(render_json(result))
    assert list(doc) == ["schema_version", "runs", "events", "summary"]
    assert doc["runs"][1] == {
        "run_id": "run-2", "function": "f", "event_ids": ["e1"], "created_at": 0,
        "started_at": 2000, "ended_at": 4000, "status": "completed", "reason": "", "key": "",
        "retries": 0,
    }
    assert doc["events"][0] == {
        "event_id": "e0", "function": "f", "outcome": "run", "run_id": "run-1", "reason": "",
        "key": "",
    }
    f = doc["summary"]["functions"][0]
    assert list(f) == [
        "function", "key_expression", "events_in", "events", "runs", "runs_started", "retries",
        "runs_completed", "runs_cancelled", "runs_skipped", "runs_failed", "runs_pending",
        "start_latency_ms", "peak_concurrency", "throughput_per_s", "keys",
    ]
    assert (f["retries"], f["runs_failed"]) == (0, 0)
    assert f["start_latency_ms"] == {"p50": 2000, "p90": 3600, "p99": 3960, "max": 4000,
                                     "mean": 2000}
    assert f["peak_concurrency"] == 1
    assert doc["summary"]["end_ms"] == 6000


def test_simulate_peak_concurrency_never_exceeds_limits() -> None:
    result = simulate([fn(concurrency=3)], events(100, gap_ms=10), run_duration=1 * S,
                      timeline=True)
    assert result.peak_function["f"] == 3
    assert max(running for _, _, _, running, _ in result.timeline) == 3
    assert max(backlog for _, _, _, _, backlog in result.timeline) == 97


def test_simulate_rejects_bad_ts() -> None:
    with pytest.raises(ValueError, match="event 1: ts"):
        simulate([fn()], [{"name": "e", "ts": "soon"}])


def test_simulate_events_without_ts_or_id() -> None:
    result = simulate([fn()], [{"name": "e", "ts": 1000}, {"name": "e"}])
    assert [(r.event_ids, r.created_at) for r in result.runs] == [
        (("evt-1",), 1 * S), (("evt-2",), 1 * S),
    ]


def test_simulate_stats_only_streaming_gives_the_same_summary() -> None:
    cfgs = [fn(throttle={"limit": 2, "period": "5s"}, concurrency=2,
               debounce={"period": "1s"}, steps=[{"run": "1s"}, {"sleep": "2s"}])]
    trace = generate(TraceSpec(events=300, rate=3.0, name="e", seed=5))
    full = simulate(cfgs, trace)
    lean = simulate(cfgs, iter(trace), keep_rows=False, presorted=True)
    assert lean.runs == [] and lean.events == []
    assert render_text(lean) == render_text(full)
    with pytest.raises(ValueError, match="keep_rows=True"):
        render_json(lean)


def test_simulate_presorted_refuses_time_going_backwards() -> None:
    with pytest.raises(ValueError, match="event 2: ts goes backwards"):
        simulate([fn()], iter([{"name": "e", "ts": 5}, {"name": "e", "ts": 4}]),
                 presorted=True)
