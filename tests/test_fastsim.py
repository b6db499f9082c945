"""The lean pipeline (``flowcontrol.sim.lean``) changes speed only: for every plain
config and trace, ``simulate(keep_rows=False)`` gives the same statistics, latencies (in
order), peaks, counts and report bytes with it as the general path gives without it."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flowcontrol.sim.simulate as simulate_mod
from flowcontrol.config.model import FunctionConfig
from flowcontrol.controller.fairness import OldestFirst, RoundRobin
from flowcontrol.sim.report import render_text, summarize
from flowcontrol.sim.simulate import SimResult, simulate
from flowcontrol.sim.tracegen import TraceSpec, generate

S = 1_000_000_000
NAME = "ai/image.generate"

DEMO = {
    "id": "ai-image-processing",
    "triggers": [{"event": NAME}],
    "throttle": {"limit": 50, "period": "60s", "key": '"gpu-cluster"'},
    "concurrency": [{"key": "event.data.user_id", "limit": 3}],
    "priority": {"run": "event.data.plan == 'pro' ? 60 : 0"},
    "steps": [{"run": "20s"}],
}


def _general(monkeypatch: pytest.MonkeyPatch, *args: Any, **kw: Any) -> SimResult:
    with monkeypatch.context() as m:
        m.setattr(simulate_mod, "plain", lambda *a, **k: False)
        return simulate(*args, **kw)


def _lean(monkeypatch: pytest.MonkeyPatch, *args: Any, **kw: Any) -> SimResult:
    """``simulate`` that fails unless the lean pipeline ran."""
    calls: list[int] = []
    real = simulate_mod.run_lean

    def spy(*a: Any, **k: Any) -> Any:
        calls.append(1)
        return real(*a, **k)

    with monkeypatch.context() as m:
        m.setattr(simulate_mod, "run_lean", spy)
        r = simulate(*args, **kw)
    assert calls == [1], "the lean pipeline did not run"
    return r


def _same(a: SimResult, b: SimResult) -> None:
    assert render_text(a) == render_text(b)
    sa_, sb_ = summarize(a), summarize(b)
    assert sa_.span_ns == sb_.span_ns
    for fn in sa_.functions:
        assert sa_.functions[fn].to_dict(sa_.span_ns) == sb_.functions[fn].to_dict(sb_.span_ns)
    assert list(a.stats) == list(b.stats)
    for k in a.stats:
        sa, sb = a.stats[k], b.stats[k]
        assert sa.latencies.tolist() == sb.latencies.tolist(), k
        assert sa.to_dict(1) == sb.to_dict(1), k
        assert (sa.events_in, sa.outcomes, sa.runs, sa.runs_started, sa.completed,
                sa.peak_concurrency) == (sb.events_in, sb.outcomes, sb.runs, sb.runs_started,
                                         sb.completed, sb.peak_concurrency), k
    assert (a.unmatched_events, a.start, a.end, a.peak_function, a.runs, a.events) == (
        b.unmatched_events, b.start, b.end, b.peak_function, b.runs, b.events)


def _both(monkeypatch: pytest.MonkeyPatch, cfg: dict[str, Any], trace: list[dict[str, Any]],
          **kw: Any) -> SimResult:
    fc = FunctionConfig.from_mapping(cfg)
    lean = _lean(monkeypatch, [fc], [dict(e) for e in trace], keep_rows=False, **kw)
    general = _general(monkeypatch, [fc], [dict(e) for e in trace], keep_rows=False, **kw)
    _same(lean, general)
    return lean


# -- which calls take the lean pipeline ---------------------------------------------------

ELIGIBILITY = [
    # (config change, simulate options, lean?)
    ({}, {}, True),
    ({}, {"keep_rows": True}, False),
    ({}, {"timeline": True}, False),
    ({}, {"group_by": "event.data.plan"}, True),
    ({}, {"group_by": ""}, True),
    ({}, {"account_concurrency": 5}, False),
    ({}, {"fairness": OldestFirst()}, False),
    ({}, {"fairness": RoundRobin()}, True),
    ({"steps": [{"run": "1s"}, {"sleep": "1s"}, {"run": "1s"}]}, {}, False),
    ({"steps": []}, {}, True),
    ({"rateLimit": {"limit": 1, "period": "1m"}}, {}, True),
    ({"idempotency": "event.data.user_id"}, {}, True),
    ({"debounce": {"period": "5s"}}, {}, False),
    ({"batchEvents": {"maxSize": 5, "timeout": "5s"}, "priority": None}, {}, False),
    ({"singleton": {"mode": "skip"}}, {}, False),
    ({"cancelOn": [{"event": "ai/cancel"}]}, {}, False),
    ({"timeouts": {"start": "1m"}}, {}, False),
    ({"concurrency": [{"limit": 3}]}, {}, True),
    ({"concurrency": [{"key": "event.data.user_id", "limit": 3, "scope": "account"}]}, {},
     True),
    ({"concurrency": [{"key": "event.data.user_id", "limit": 3, "scope": "env"}]}, {}, True),
    ({"concurrency": [{"key": "event.data.user_id", "limit": 3, "scope": "account"}]},
     {"account_concurrency": 5}, False),
    ({"concurrency": [{"limit": 3}, {"key": "event.data.user_id", "limit": 2}]}, {}, True),
    ({"concurrency": [{"key": "event.data.plan", "limit": 3},
                      {"key": "event.data.user_id", "limit": 2}]}, {}, False),
    ({"concurrency": [{"limit": 0}, {"key": "event.data.user_id", "limit": 2}]}, {}, False),
    ({"concurrency": None}, {}, True),
    # A run limit (concurrency.fn) alone is the step limit on its key when runs are one step.
    ({"concurrency": {"fn": [{"limit": 3, "key": "event.data.user_id"}]}}, {}, True),
    ({"concurrency": {"fn": [{"limit": 3}]}}, {}, True),
    ({"concurrency": {"fn": [{"limit": 3}], "step": [{"limit": 5}]}}, {}, False),
    ({"concurrency": {"fn": [{"limit": 3}]}, "steps": [{"run": "1s"}, {"sleep": "9s"}]}, {},
     False),
    ({"triggers": [{"event": NAME, "expression": "event.data.plan == 'pro'"}]}, {}, False),
    ({"triggers": [{"event": "ai/*"}]}, {}, False),
]


@pytest.mark.parametrize(("change", "opts", "lean"), ELIGIBILITY)
def test_eligibility(change: dict[str, Any], opts: dict[str, Any], lean: bool,
                     lean_calls: list[int]) -> None:
    fc = FunctionConfig.from_mapping({k: v for k, v in {**DEMO, **change}.items()
                                      if v is not None})
    ev = [{"name": NAME, "data": {"user_id": "u", "plan": "pro"}, "ts": 0}]
    simulate([fc], ev, **{"keep_rows": False, **opts})
    assert lean_calls == ([1] if lean else [])


def test_two_functions_take_the_general_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(simulate_mod, "run_lean", None)  # would fail if called
    fcs = [FunctionConfig.from_mapping(DEMO),
           FunctionConfig.from_mapping({**DEMO, "id": "other"})]
    simulate(fcs, [{"name": NAME, "data": {}, "ts": 0}], keep_rows=False)


# -- fixed traces -------------------------------------------------------------------------


def test_demo_config_on_a_seeded_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    trace = generate(TraceSpec(events=3000, rate=2.0, keys=40, zipf=1.1, name=NAME, seed=3))
    r = _both(monkeypatch, DEMO, trace)
    assert sum(s.runs_started for s in r.stats.values()) == 3000


def test_throttle_scenario_of_the_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    """Throttle 2 per 6 s, burst 1, six events 0.5 s apart: starts at 0, 0.5, 1, 3, 6, 9 s."""
    cfg = {"id": "t", "triggers": [{"event": NAME}],
           "throttle": {"limit": 2, "period": "6s", "burst": 1}}
    trace = [{"name": NAME, "data": {}, "ts": 500 * i} for i in range(6)]
    r = _both(monkeypatch, cfg, trace)
    assert sorted(r.stats[("t", "")].latencies.tolist()) == sorted(
        [0, 0, 0, 1_500_000_000, 4_000_000_000, 6_500_000_000])


def test_odd_events(monkeypatch: pytest.MonkeyPatch) -> None:
    """Duplicate ids, missing ts and ids, other names, keys of other types, negative and
    fractional ts, all in one trace."""
    trace: list[dict[str, Any]] = [
        {"name": NAME, "data": {"user_id": "a"}, "ts": -2500.5, "id": "x"},
        {"name": NAME, "data": {"user_id": "a"}, "ts": -1000, "id": "x"},
        {"name": NAME, "data": {"user_id": 7, "plan": "pro"}},
        {"name": "other", "data": {}, "ts": 10},
        {"name": NAME, "data": None, "ts": 10.7},
        {"name": NAME, "data": {"user_id": None}, "ts": 10.7, "id": ""},
        *({"name": NAME, "data": {"user_id": "a", "plan": "pro" if i % 2 else "free"},
           "ts": 20 + i} for i in range(12)),
        {"name": NAME, "data": {"user_id": "a"}, "ts": 100, "id": "x"},
    ]
    r = _both(monkeypatch, DEMO, trace)
    assert r.unmatched_events == 1
    _both(monkeypatch, DEMO, trace[::-1])  # unsorted: simulate sorts it


def test_bad_events_give_the_same_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    fc = FunctionConfig.from_mapping(DEMO)
    for bad in ({"name": NAME, "data": [1], "ts": 0}, {"name": NAME, "id": 5, "ts": 0},
                {"name": NAME, "ts": "soon"}):
        errors = []
        for run in (_lean, _general):
            with pytest.raises(ValueError) as e:
                run(monkeypatch, [fc], [bad], keep_rows=False) if run is _general else \
                    simulate([fc], [bad], keep_rows=False)
            errors.append(str(e.value))
        assert errors[0] == errors[1]


def test_presorted_traces_are_read_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lean pipeline reads a presorted trace itself: the same errors, at the same
    event, as the general path (ts going backwards, a bool or text ts), and the same
    filling of missing ts and ids."""
    fc = FunctionConfig.from_mapping(DEMO)
    ok = {"name": NAME, "data": {"user_id": "a"}, "ts": 5}
    for bad in ([ok, {**ok, "ts": 4}], [ok, {**ok, "ts": True}], [ok, ok, {**ok, "ts": "x"}],
                [{**ok, "ts": 5.5}, {**ok, "ts": 5.25}]):
        errors = []
        for run in (_lean, _general):
            with pytest.raises(ValueError) as e:
                if run is _general:
                    _general(monkeypatch, [fc], iter(bad), keep_rows=False, presorted=True)
                else:
                    simulate([fc], iter(bad), keep_rows=False, presorted=True)
            errors.append(str(e.value))
        assert errors[0] == errors[1]
    filled: list[dict[str, Any]] = [{"name": NAME, "data": {"user_id": "a"}, "ts": 7},
              {"name": NAME, "data": {"user_id": "a"}},
              {"name": NAME, "data": {"user_id": "a"}, "ts": 7.4, "id": ""},
              {"name": NAME, "data": {"user_id": "a"}, "ts": 9, "id": "evt-2"}]
    r = _both(monkeypatch, DEMO, filled, presorted=True)
    assert r.stats[("ai-image-processing", "a")].outcomes["skipped"] == 1
    assert r.start == 7_000_000


# -- random plain configs and traces ------------------------------------------------------

KEYS = ['"gpu"', "event.data.user_id", "event.data.plan", None]
# Rate limit keys: none, a constant, fields (a missing one is not limited), a failing one.
RL_KEYS = [None, '"all"', "event.data.user_id", "event.data.plan", "event.data.nope",
           "event.data.user_id + event.data.plan", "int(event.data.plan)"]
PRIORITIES = [None, "event.data.plan == 'pro' ? 60 : 0", "event.data.p", "event.data.p * 3"]


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    cfg: dict[str, Any] = {"id": "f", "triggers": [{"event": NAME}]}
    if draw(st.booleans()):
        th: dict[str, Any] = {"limit": draw(st.integers(1, 4)),
                              "period": f"{draw(st.integers(1, 20))}s"}
        if draw(st.booleans()):
            th["burst"] = draw(st.integers(0, 3))
        key = draw(st.sampled_from(KEYS))
        if key is not None:
            th["key"] = key
        cfg["throttle"] = th
    limits = draw(st.sampled_from(["step", "step", "run", "none"]))
    if limits == "run":  # concurrency.fn; a failing key ("free") puts runs in bucket ""
        fn_limit: dict[str, Any] = {"limit": draw(st.integers(1, 3))}
        key = draw(st.sampled_from(
            [*KEYS, "event.data.plan == 'pro' ? false : int(event.data.plan)"]))
        if key is not None:
            fn_limit["key"] = key
        cfg["concurrency"] = {"fn": [fn_limit]}
    if limits == "step":
        c: dict[str, Any] = {"limit": draw(st.integers(1, 3))}
        key = draw(st.sampled_from(KEYS[1:]))
        if key is not None:
            c["key"] = key
            c["scope"] = draw(st.sampled_from(["fn", "env", "account"]))
        cfg["concurrency"] = [c]
        if key is not None and draw(st.booleans()):  # and a function-wide limit
            whole = {"limit": draw(st.integers(1, 4))}
            cfg["concurrency"] = draw(st.sampled_from([[whole, c], [c, whole]]))
    prio = draw(st.sampled_from(PRIORITIES))
    if prio is not None:
        cfg["priority"] = {"run": prio}
    limiter = draw(st.sampled_from([None, None, "rateLimit", "idempotency"]))
    if limiter == "rateLimit":
        rl: dict[str, Any] = {"limit": draw(st.integers(1, 12)),
                              "period": f"{draw(st.integers(1, 30))}s"}
        key = draw(st.sampled_from(RL_KEYS))
        if key is not None:
            rl["key"] = key
        cfg["rateLimit"] = rl
    elif limiter == "idempotency":
        cfg["idempotency"] = draw(st.sampled_from(RL_KEYS[1:]))
    if draw(st.booleans()):
        cfg["steps"] = [{"run": f"{draw(st.integers(0, 8000))}ms"}]
    return cfg


EVENTS = st.fixed_dictionaries(
    {
        "name": st.sampled_from([NAME, NAME, NAME, "other"]),
        "data": st.fixed_dictionaries({
            "user_id": st.sampled_from(["a", "b", "c", "d", 1]),
            "plan": st.sampled_from(["pro", "free"]),
            "p": st.integers(-3, 3),
        }),
        "ts": st.integers(0, 30_000) | st.none(),
    },
    optional={"id": st.sampled_from(["e1", "e2", "e3"])},
)


@given(cfg=configs(), trace=st.lists(EVENTS, max_size=60),
       run_s=st.integers(0, 10), presort=st.booleans(),
       group_by=st.sampled_from([None, None, "", "event.data.plan", "event.data.user_id",
                                 " event.data.user_id", "event.data.p * 2"]))
@settings(deadline=None)
def test_random_plain_configs_and_traces(
    cfg: dict[str, Any], trace: list[dict[str, Any]], run_s: int, presort: bool,
    group_by: str | None,
) -> None:
    if presort:
        last = 0
        for e in trace:  # presorted traces need ts in order (a missing ts takes the last)
            if e["ts"] is not None:
                e["ts"] = last = max(last, e["ts"])
    with pytest.MonkeyPatch.context() as mp:
        _both(mp, cfg, trace, run_duration=run_s * S, presorted=presort,
              priority_range=(-2, 5), group_by=group_by)


@pytest.mark.parametrize("seed", range(4))
def test_seeded_tracegen_traces(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = TraceSpec(events=1500, pattern="bursty" if seed % 2 else "poisson", rate=1.5,
                     keys=25, zipf=1.2, name=NAME, seed=seed)
    cfg = {**DEMO, "throttle": {"limit": 10, "period": "20s", "burst": seed,
                                "key": "event.data.plan"},
           "concurrency": [{"key": "event.data.user_id", "limit": 1 + seed % 3}],
           "steps": [{"run": f"{5 + 5 * seed}s"}]}
    _both(monkeypatch, cfg, generate(spec), presorted=True)


# (run limit key, peak runs in progress): one bucket; one per user; and a key that fails
# for "free" events (their bucket is "") and is false for "pro" ones (bucket "false").
RUN_LIMITS = [(None, 2), ("event.data.user_id", 24),
              ("event.data.plan == 'pro' ? false : int(event.data.plan)", 4)]


@pytest.mark.parametrize(("key", "peak"), RUN_LIMITS)
def test_a_run_limit_alone_gives_the_same_numbers(key: str | None, peak: int,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """``concurrency: {"fn": [{"limit": 2, ...}]}`` with one-step runs on the lean
    pipeline, against the general path's RunSemaphore."""
    spec = TraceSpec(events=600, pattern="bursty", rate=1.5, keys=12, zipf=1.2, name=NAME,
                     seed=7)
    fn_limit: dict[str, Any] = {"limit": 2}
    if key is not None:
        fn_limit["key"] = key
    cfg = {**DEMO, "concurrency": {"fn": [fn_limit]}, "steps": [{"run": "15s"}]}
    r = _both(monkeypatch, cfg, generate(spec), presorted=True)
    assert r.peak_function["ai-image-processing"] == peak


@pytest.mark.parametrize("seed", range(40))
def test_seeded_random_contended_traces(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Longer traces than the Hypothesis test: several throttle keys per concurrency key
    (wake-ups passed on between gates), negative priorities (sleeping backlogs)."""
    r = random.Random(seed)
    cfg: dict[str, Any] = {
        "id": "f", "triggers": [{"event": NAME}],
        "throttle": {"limit": r.randint(1, 4), "period": f"{r.randint(1, 20)}s",
                     "burst": r.randint(0, 2), "key": r.choice(KEYS[:3])},
        "concurrency": [{"key": r.choice(KEYS[1:3]), "limit": r.randint(1, 3),
                         "scope": r.choice(["fn", "env", "account"])}],
        "steps": [{"run": f"{r.randint(0, 8000)}ms"}],
    }
    if seed % 5 == 4:  # one limit for the whole function
        cfg["concurrency"] = [{"limit": r.randint(1, 3)}]
    elif seed % 5 in (1, 2):  # and one for the whole function
        cfg["concurrency"].append({"limit": r.randint(1, 6)})
    if seed % 3 == 1:
        cfg["rateLimit"] = {"limit": r.randint(1, 30), "period": f"{r.randint(1, 60)}s"}
        key = r.choice(RL_KEYS)
        if key is not None:
            cfg["rateLimit"]["key"] = key
    elif seed % 3 == 2 and seed % 2:
        cfg["idempotency"] = r.choice(RL_KEYS[1:])
    if r.random() < 0.5:
        cfg["priority"] = {"run": r.choice(PRIORITIES[1:])}
    trace = [{"name": NAME, "data": {"user_id": r.choice("abcd"),
                                     "plan": r.choice(["pro", "free"]), "p": r.randint(-3, 3)},
              "ts": r.randint(0, 60_000)} for _ in range(r.randint(10, 300))]
    _both(monkeypatch, cfg, trace)


@pytest.mark.parametrize("seed", range(12))
def test_seeded_repeated_ids_under_a_rate_limit(seed: int,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Event ids repeated (same or other payload) over hours, so the rate limiter's 30-min
    idempotency marks are hit, expire and are set again (issue 12): the lean path's
    inlined marks decide as the machine does on the general path."""
    r = random.Random(1000 + seed)
    cfg: dict[str, Any] = {"id": "f", "triggers": [{"event": NAME}],
                           "steps": [{"run": f"{r.randint(0, 600)}s"}]}
    if seed % 3 == 2:
        cfg["idempotency"] = r.choice(RL_KEYS[1:])
    else:
        cfg["rateLimit"] = {"limit": r.randint(1, 12), "period": r.choice(["1m", "20m", "1h"])}
        key = r.choice(RL_KEYS)
        if key is not None:
            cfg["rateLimit"]["key"] = key
    if seed % 2:
        cfg["concurrency"] = [{"key": "event.data.user_id", "limit": r.randint(1, 3)}]
    t = 0
    trace = []
    for _ in range(r.randint(50, 400)):
        t += r.choice([0, 1000, 60_000, 10 * 60_000, 29 * 60_000, 31 * 60_000])
        trace.append({"name": NAME, "id": f"e{r.randint(0, 15)}", "ts": t,
                      "data": {"user_id": r.choice("abcd"), "plan": r.choice(["pro", "free"]),
                               "p": r.randint(-3, 3)}})
    result = _both(monkeypatch, cfg, trace, presorted=True)
    assert summarize(result).functions["f"].outcomes["skipped"] > 0


@pytest.mark.parametrize(("key", "dropped"), [(None, 19), ("event.data.user_id", 18),
                                               ("event.data.nope", 0)])
def test_rate_limit_drops_the_same_events(key: str | None, dropped: int,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """rateLimit 6 per minute (implicit burst 6 // 10 = 0: one at once, then one every
    10 s); users a and b send an event every second, a from 0 to 10 s, b to 9 s. Keyed
    by user: a passes at 0 and 10 s, b at 0 s (18 of 21 dropped); function-wide only
    a's at 0 and 10 s pass (19 dropped); a missing key is not limited."""
    rl: dict[str, Any] = {"limit": 6, "period": "1m"}
    if key is not None:
        rl["key"] = key
    cfg = {**DEMO, "rateLimit": rl}
    trace = [{"name": NAME, "data": {"user_id": u, "plan": "free"}, "ts": 1000 * i}
             for i in range(0, 11) for u in ("a", "b") if (i, u) != (10, "b")]
    r = _both(monkeypatch, cfg, trace, presorted=True)
    got = sum(st.outcomes["dropped"] for st in r.stats.values())
    assert got == dropped
    assert sum(st.events_in for st in r.stats.values()) == 21


def test_event_ids_are_forgotten_after_24_hours(monkeypatch: pytest.MonkeyPatch) -> None:
    """An id seen again within 24 h is skipped; 24 h after it made a run, it makes a run
    again (``a`` at 2 h and ``b`` at 30 h are skipped)."""
    h = 3600 * 1000
    ids = ["a", "b", "a", "c", "a", "b", "b", "a"]
    times = [0, 1, 2 * h, 23 * h, 24 * h, 24 * h + 1, 30 * h, 49 * h]
    trace = [{"name": NAME, "data": {"user_id": "u", "plan": "free"}, "id": i, "ts": t}
             for i, t in zip(ids, times, strict=True)]
    r = _both(monkeypatch, DEMO, trace, presorted=True)
    assert r.stats[("ai-image-processing", "u")].outcomes["skipped"] == 2


def test_progress_is_reported_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    trace = generate(TraceSpec(events=450, rate=2.0, keys=10, name=NAME, seed=5))
    fc = FunctionConfig.from_mapping(DEMO)
    for presorted in (False, True):
        seen: list[list[tuple[int, int]]] = []
        for run in (_lean, _general):
            calls: list[tuple[int, int]] = []
            run(monkeypatch, [fc], iter(trace) if presorted else trace, keep_rows=False,
                presorted=presorted, progress=lambda d, t, c=calls: c.append((d, t)))
            seen.append(calls)
        assert seen[0] == seen[1]
        assert seen[0][-1] == (450, 450)


@pytest.mark.parametrize(("limit", "period", "burst"), [
    (7, "1s", 0),        # T = 142,857,142.857... ns: instants scaled by 7
    (3, "10s", 2),       # T = 3.333... s
    (13, "17s", 1),      # gcd 1: scale 13
    (4, "2s", 0),        # T a whole number of ns: no scaling
])
def test_inline_throttle_is_exact_for_fractional_emission_intervals(
    limit: int, period: str, burst: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The inlined GCRA refuses, and gives retry instants, exactly as ``Throttle`` does,
    also when ``period / limit`` is not a whole number of nanoseconds (events land on and
    around the emission instants, several throttle keys, contention on concurrency)."""
    r = random.Random(limit * 1000 + burst)
    cfg = {"id": "f", "triggers": [{"event": NAME}],
           "throttle": {"limit": limit, "period": period, "burst": burst,
                        "key": "event.data.plan"},
           "concurrency": [{"key": "event.data.user_id", "limit": 2}],
           "steps": [{"run": f"{r.randint(100, 3000)}ms"}]}
    trace: list[dict[str, Any]] = [{"name": NAME, "data": {"user_id": r.choice("abcdef"),
                                     "plan": r.choice(["pro", "free"])},
              "ts": r.choice([r.randint(0, 40_000), 1000 * r.randint(0, 40) // 7])}
             for _ in range(400)]
    _both(monkeypatch, cfg, trace)
    trace.sort(key=lambda e: e["ts"])
    _both(monkeypatch, cfg, trace, presorted=True)


@pytest.mark.parametrize(("limit", "period", "burst"), [
    (3, "1s", 1997),      # capacity 2000, T = 1/3 s: instants scaled by 3
    (1000, "1s", 1000),   # capacity 2000, issue 9's example
    (7, "1s", 99_993),    # capacity 100,000, T = 1/7 s
])
def test_inline_throttle_is_exact_at_high_capacities(
    limit: int, period: str, burst: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the 1,024 decisions the machine builds in advance: bursts larger than the
    capacity on two throttle keys, and keys that fall idle, give the same statistics
    on the lean pipeline as on the general path."""
    cap = limit + burst
    r = random.Random(cap)
    cfg = {"id": "f", "triggers": [{"event": NAME}],
           "throttle": {"limit": limit, "period": period, "burst": burst,
                        "key": "event.data.plan"},
           "steps": [{"run": "50ms"}]}
    n = min(cap + 600, 2600)  # per key, within 4 ms: 600 over a capacity of 2000
    trace: list[dict[str, Any]] = [
        {"name": NAME, "data": {"user_id": "u", "plan": plan}, "ts": r.randint(0, 3)}
        for plan in ("pro", "free") for _ in range(n)]
    trace += [{"name": NAME, "data": {"user_id": "u", "plan": f"p{i}"}, "ts": 10**7 + i}
              for i in range(300)]
    stats = _both(monkeypatch, cfg, trace).stats
    throttled = max(stats[("f", "pro")].latencies) > 3 * S // 1000
    assert throttled == (cap == 2000)


def test_throttle_keys_that_fall_idle_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    """Thousands of throttle keys used once each, far apart: the lean throttle's table is
    swept as the machine's is, and the statistics still match the general path."""
    cfg = {"id": "f", "triggers": [{"event": NAME}],
           "throttle": {"limit": 1, "period": "2s", "key": "event.data.user_id"},
           "steps": [{"run": "1s"}]}
    trace = [{"name": NAME, "data": {"user_id": f"u{i}", "plan": "free"}, "ts": 500 * i}
             for i in range(3000)]
    from flowcontrol.sim import lean as _fastsim

    sizes: list[int] = []
    real = _fastsim._Lean.t_sweep

    def spy(self: Any, snow: int) -> None:
        real(self, snow)
        sizes.append(len(self.t_at))

    monkeypatch.setattr(_fastsim._Lean, "t_sweep", spy)
    _both(monkeypatch, cfg, trace, presorted=True)
    assert len(sizes) > 100 and max(sizes) <= 10
