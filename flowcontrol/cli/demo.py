"""``flowcontrol demo`` (``make demo``): the seed's "Fair AI processing" function on a bundled
trace, then what changes when you change the config. Does I/O (reads the example files,
writes to stdout).

The function throttles all starts to 50 per minute on one shared key, lets each user run
at most 3 steps at once, and moves ``pro`` users 60 s ahead in the queue. The last two
variants make each render wait for an upload, then limit renders in progress per user
with a run limit (``concurrency: {"fn": [...]}``). The trace is
``examples/fair_ai_trace.jsonl`` (made by ``flowcontrol trace`` with ``DEMO_TRACE``'s
options); both files are regenerated in memory when the package runs without them.
"""

from __future__ import annotations

import argparse
import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from flowcontrol.cli.main import guarded
from flowcontrol.config.model import FunctionConfig
from flowcontrol.controller.fairness import OldestFirst, RoundRobin
from flowcontrol.sim.report import render_text, summarize
from flowcontrol.sim.simulate import SimResult, simulate
from flowcontrol.sim.stats import Stats
from flowcontrol.sim.tracegen import TraceSpec, generate
from flowcontrol.time import NS_PER_MS, NS_PER_S, format_duration

__all__ = ["DEMO_CONFIG", "DEMO_TRACE", "VARIANTS", "add_arguments", "main", "run"]

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

DEMO_CONFIG: dict[str, Any] = {
    "id": "ai-image-processing",
    "name": "Fair AI processing",
    "triggers": [{"event": "ai/image.generate"}],
    "throttle": {"limit": 50, "period": "60s", "key": '"gpu-cluster"'},
    "concurrency": [{"key": "event.data.user_id", "limit": 3}],
    "priority": {"run": "event.data.plan == 'pro' ? 60 : 0"},
    "steps": [{"run": "20s"}],
}

DEMO_TRACE = TraceSpec(
    events=3000,
    pattern="bursty",
    rate=0.5,
    burst_factor=8.0,
    mean_quiet_s=300.0,
    mean_burst_s=90.0,
    keys=200,
    zipf=1.1,
    pro_fraction=0.2,
    name="ai/image.generate",
    key_field="user_id",
    seed=7,
)
"""The options ``examples/fair_ai_trace.jsonl`` was generated with:
``flowcontrol trace --events 3000 --pattern bursty --rate 0.5 --burst-factor 8
--mean-quiet 300s --mean-burst 90s --keys 200 --zipf 1.1 --pro-fraction 0.2
--name ai/image.generate --seed 7``."""


def _no_priority(c: dict[str, Any]) -> None:
    c.pop("priority", None)


def _throttle_100(c: dict[str, Any]) -> None:
    c["throttle"] = {**c["throttle"], "limit": 100}


def _burst_20(c: dict[str, Any]) -> None:
    c["throttle"] = {**c["throttle"], "burst": 20}


def _user_limit_1(c: dict[str, Any]) -> None:
    c["concurrency"] = [{**c["concurrency"][0], "limit": 1}]


UPLOAD_STEPS: list[dict[str, Any]] = [{"run": "5s"}, {"sleep": "2m"}, {"run": "15s"}]
"""The render waits two minutes for the user's upload between its two steps."""


def _upload_wait(c: dict[str, Any]) -> None:
    c["steps"] = copy.deepcopy(UPLOAD_STEPS)


def _runs_per_user(c: dict[str, Any]) -> None:
    _upload_wait(c)
    c["concurrency"] = {"fn": [{**c["concurrency"][0], "limit": 3}]}


VARIANTS: tuple[tuple[str, str, Callable[[dict[str, Any]], None] | None, str], ...] = (
    ("as shipped", "", None, "round-robin"),
    ("no priority", 'remove "priority"', _no_priority, "round-robin"),
    ("throttle 100/min", '"throttle": {"limit": 100, ...}', _throttle_100, "round-robin"),
    ("burst 20", '"throttle": {..., "burst": 20}', _burst_20, "round-robin"),
    ("1 per user", '"concurrency": [{"key": ..., "limit": 1}]', _user_limit_1, "round-robin"),
    ("oldest-first", "simulate --fairness oldest-first (not a config field)", None,
     "oldest-first"),
    ("upload wait", '"steps": [{"run": "5s"}, {"sleep": "2m"}, {"run": "15s"}]',
     _upload_wait, "round-robin"),
    ("3 renders/user", 'upload wait, and "concurrency": {"fn": [{"key": ..., "limit": 3}]}',
     _runs_per_user, "round-robin"),
)
"""(label, what to change, how, fairness policy) of each column of the comparison."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``flowcontrol demo``."""
    parser.add_argument("--top", type=int, default=8, metavar="N",
                        help="users listed in the report (default 8)")


def _load() -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    cfg_path = EXAMPLES / "fair_ai.json"
    trace_path = EXAMPLES / "fair_ai_trace.jsonl"
    if cfg_path.is_file() and trace_path.is_file():
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
        events = [json.loads(line) for line in
                  trace_path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return config, events, "examples/fair_ai.json on examples/fair_ai_trace.jsonl"
    return copy.deepcopy(DEMO_CONFIG), generate(DEMO_TRACE), "the built-in copy of the example"


def _by_plan(result: SimResult) -> dict[str, Stats]:
    """Stats per plan (pro/free), regrouping the runs by their first event's plan."""
    return summarize(result).keys[result.functions[0]]


def _lat(st: Stats | None, q: str) -> str:
    if st is None:
        return "-"
    v = st.latency_ms()[q]
    if v is None:
        return "-"
    ns = int(v * NS_PER_MS)
    return format_duration(ns // NS_PER_S * NS_PER_S) if ns >= 10 * NS_PER_S else f"{v:.0f}ms"


def _peak_per_user(result: SimResult, user_of: dict[Any, Any]) -> int:
    """The most runs one user had in progress at once (started, not ended: sleeping
    runs count too)."""
    moves: list[tuple[int, int, Any]] = []
    for x in result.runs:
        if x.started_at is not None:
            user = user_of.get(x.event_ids[0])
            moves.append((x.started_at, 1, user))
            if x.ended_at is not None:
                moves.append((x.ended_at, -1, user))
    moves.sort(key=lambda m: (m[0], m[1]))  # an end before a start at the same instant
    now: dict[Any, int] = {}
    peak = 0
    for _, d, user in moves:
        now[user] = now.get(user, 0) + d
        peak = max(peak, now[user])
    return peak


def run(args: Any, out: TextIO, err: TextIO) -> int:
    """Run the demo; return the exit status."""
    config, events, source = _load()
    fn = FunctionConfig.from_mapping(config)
    w = out.write
    w("Fair AI processing: the seed's example of combined flow control\n")
    w(f"  throttle {fn.throttle.limit if fn.throttle else '-'} starts per minute on one shared "
      "key, at most 3 running steps per user,\n  pro users 60 s ahead in the queue; "
      f"{len(events)} bursty events from 200 users; {source}.\n\n")
    result = simulate([fn], events, keep_rows=False)  # the report needs statistics only
    w(render_text(result, top=max(1, args.top)))
    w("\nWhat a change does (same trace; latency = time from event to start):\n\n")
    header = ["variant", "started", "pro p50", "pro p99", "free p50", "free p99", "peak",
              "per user", "last start"]
    user_of = {e.get("id"): (e.get("data") or {}).get("user_id") for e in events}
    rows = [header]
    for label, _change, apply, fairness in VARIANTS:
        c = copy.deepcopy(config)
        if apply is not None:
            apply(c)
        policy = OldestFirst() if fairness == "oldest-first" else RoundRobin()
        r = simulate([FunctionConfig.from_mapping(c)], events, group_by="event.data.plan",
                     fairness=policy)
        plans = _by_plan(r)
        total = summarize(r).functions[fn.id]
        last = max((x.started_at for x in r.runs if x.started_at is not None), default=r.start)
        rows.append([
            label, str(total.runs_started),
            _lat(plans.get("pro"), "p50"), _lat(plans.get("pro"), "p99"),
            _lat(plans.get("free"), "p50"), _lat(plans.get("free"), "p99"),
            str(total.peak_concurrency), str(_peak_per_user(r, user_of)),
            format_duration((last - r.start) // NS_PER_S * NS_PER_S),
        ])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        w("  " + row[0].ljust(widths[0]) + "  "
          + "  ".join(c.rjust(x) for c, x in zip(row[1:], widths[1:], strict=True)) + "\n")
    w("\nEach variant is one edit to examples/fair_ai.json:\n")
    for label, change, _, _ in VARIANTS[1:]:
        w(f"  {label:<18} {change}\n")
    w("\nWhy \"no priority\" changes nothing here: each user has a queue of their own (the\n"
      "concurrency key) and the priority factor orders runs within one queue; across users\n"
      "the next throttle slot goes round robin (the platform picks at random). Under\n"
      "oldest-first every waiting run is ordered by score, so pro runs overtake free runs\n"
      "up to 60 s younger, but light users lose the head start round robin gave them.\n")
    w("\nWhy \"3 renders/user\": when a render waits for an upload, the step limit (3 running\n"
      "steps per user) lets the user's next renders start while it sleeps, so one user\n"
      "can have many renders in progress (\"per user\"). A run limit, concurrency\n"
      "{\"fn\": [...]}, counts runs from start to end, sleeps included: at most 3 renders\n"
      "in progress per user, even while they wait for an upload. The price: a slot that\n"
      "sleeps serves no one, so the queue waits longer (validate warns about it, FC230).\n")
    w("\nTry your own: edit a copy of the config, then\n"
      "  flowcontrol simulate my_fair_ai.json examples/fair_ai_trace.jsonl\n"
      "  flowcontrol simulate examples/fair_ai.json examples/fair_ai_trace.jsonl"
      " --compare my_fair_ai.json --slo 5m\n"
      "  flowcontrol simulate my_fair_ai.json examples/fair_ai_trace.jsonl --format json\n"
      "  flowcontrol trace --pattern bursty --events 5000 --seed 1 --name ai/image.generate"
      " > my_trace.jsonl\n")
    return 0


def main(args: Any) -> int:
    """Entry point used by ``flowcontrol.cli.main``; never lets a traceback out."""
    return guarded("demo", run, args)
