"""``tracegen.jsonl_lines`` writes what ``dumps_jsonl(generate(spec))`` writes, byte for byte,
without building event dicts (``flowcontrol trace`` streams it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowcontrol.cli.main import main
from flowcontrol.sim.tracegen import TraceSpec, dumps_jsonl, generate, jsonl_lines


@given(
    name=st.text(min_size=1, max_size=8),
    field=st.text(max_size=6),
    seed=st.integers(0, 2**40),
    events=st.integers(0, 300),
    keys=st.integers(1, 40),
    pattern=st.sampled_from(["poisson", "bursty"]),
    start_ms=st.integers(-10**6, 10**12),
)
@settings(deadline=None)
def test_lines_are_the_dumped_events(name: str, field: str, seed: int, events: int, keys: int,
                                     pattern: str, start_ms: int) -> None:
    spec = TraceSpec(events=events, name=name, key_field=field, seed=seed, keys=keys,
                     pattern=pattern, start_ms=start_ms)
    assert "".join(jsonl_lines(spec)) == dumps_jsonl(generate(spec))


def test_a_key_field_named_plan_is_one_field() -> None:
    spec = TraceSpec(events=50, key_field="plan", seed=4)
    text = "".join(jsonl_lines(spec))
    assert text == dumps_jsonl(generate(spec))
    assert '"data":{"plan":"' in text and text.count('"plan"') == 50


def test_a_bad_spec_is_refused_before_any_line() -> None:
    with pytest.raises(ValueError, match="seed must be >= 0"):
        jsonl_lines(TraceSpec(events=5, seed=-1))
    with pytest.raises(ValueError, match="rate must be > 0"):
        jsonl_lines(TraceSpec(events=5, rate=0))


def test_the_command_writes_the_same_bytes(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "t.jsonl"
    argv = ["trace", "--events", "2000", "--pattern", "bursty", "--keys", "30", "--seed", "9"]
    assert main([*argv, "-o", str(out)]) == 0
    assert main(argv) == 0
    stdout = capsys.readouterr().out
    spec = TraceSpec(events=2000, pattern="bursty", keys=30, seed=9, name="app/event")
    assert out.read_text(encoding="utf-8") == stdout == dumps_jsonl(generate(spec))
    assert main(["trace", "--seed", "-2"]) == 2
    assert "seed must be >= 0" in capsys.readouterr().err
