"""Statistics and renderings of a simulation (``flowcontrol simulate``'s output).

``summarize(result)`` computes, per function and per group key (see
``flowcontrol.sim.simulate.report_key_expression``): events in, runs started, completed,
cancelled, skipped and failed, step retries, events dropped, skipped, superseded; start
latency percentiles; peak concurrency (steps holding slots at once); throughput. ``render_text`` and
``render_json`` turn it into the command's output. Both are deterministic: the same
``SimResult`` gives the same bytes.

The JSON document (``--format json``) is a contract, documented in ``docs/simulate-json.md``.
Times are milliseconds (an integer when whole, else a float with up to 6 decimals).

Definitions
    *start latency*: ``started_at - created_at`` of every run that started, where a run is
    created when its event arrives (or when its debounce fires or its batch flushes).
    Percentiles use numpy's default (linear interpolation). *throughput*: runs completed
    per second of simulated time from the first event to the last thing that happened.
    *events in*: events that reached the function (a trigger matched).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flowcontrol.sim.simulate import EventRow, Failures, RunRow, SimResult
from flowcontrol.sim.stats import RUN_STATUSES, Stats
from flowcontrol.time import NS_PER_MS, NS_PER_S, format_duration

__all__ = ["SCHEMA_VERSION", "Summary", "render_json", "render_text", "summarize", "to_document"]

SCHEMA_VERSION = 1
_STATUSES = (*RUN_STATUSES, "failed")


def ms(ns: int | None) -> float | int | None:
    """Nanoseconds to milliseconds for output (None stays None)."""
    if ns is None:
        return None
    whole, rest = divmod(ns, NS_PER_MS)
    return whole if rest == 0 else round(ns / NS_PER_MS, 6)


@dataclass(slots=True)
class Summary:
    """Per function (``functions``) and per function and key (``keys``)."""

    functions: dict[str, Stats]
    keys: dict[str, dict[str, Stats]]
    span_ns: int
    failures: dict[str, Failures]
    key_failures: dict[str, dict[str, Failures]]

    def stats_dict(self, st: Stats, f: Failures | None,
                   slo_ns: int | None = None) -> dict[str, Any]:
        """``Stats.to_dict`` with failed runs moved out of the pending ones, and retries;
        with ``slo_ns``, ``runs_over_slo`` after the latencies."""
        d = st.to_dict(self.span_ns)
        f = f or _NONE
        out: dict[str, Any] = {}
        for k, v in d.items():
            if k == "runs_pending":
                out["runs_failed"] = f.failed
                v -= f.failed
            out[k] = v
            if k == "runs_started":
                out["retries"] = f.retries
            if k == "start_latency_ms" and slo_ns is not None:
                out["runs_over_slo"] = st.over(slo_ns)
        return out

    def any_failures(self) -> bool:
        return any(f.failed or f.retries for f in self.failures.values())


_NONE = Failures()


def summarize(result: SimResult) -> Summary:
    """Gather a simulation's statistics per function and per group key."""
    keys: dict[str, dict[str, Stats]] = {f: {} for f in result.functions}
    for (fn, group), st in result.stats.items():
        keys[fn][group] = st
    functions = {}
    for fn in result.functions:
        total = Stats.merged(keys[fn].values())
        total.peak_concurrency = result.peak_function.get(fn, 0)
        functions[fn] = total
    failures = {fn: Failures() for fn in result.functions}
    key_failures: dict[str, dict[str, Failures]] = {fn: {} for fn in result.functions}
    for (fn, group), f in result.failures.items():
        failures[fn].add(f)
        key_failures[fn][group] = f
    return Summary(functions, keys, max(result.end - result.start, 0), failures, key_failures)


def _key_order(item: tuple[str, Stats]) -> tuple[int, str]:
    return (-item[1].events_in - item[1].runs, item[0])


def _run_doc(r: RunRow) -> dict[str, Any]:
    status = r.status if r.status in _STATUSES else "pending"
    return {
        "run_id": r.run_id,
        "function": r.function,
        "event_ids": list(r.event_ids),
        "created_at": ms(r.created_at),
        "started_at": ms(r.started_at),
        "ended_at": ms(r.ended_at) if status != "pending" else None,
        "status": status,
        "reason": r.reason,
        "key": r.group,
        "retries": r.retries,
    }


def _event_doc(e: EventRow) -> dict[str, Any]:
    return {
        "event_id": e.event_id,
        "function": e.function,
        "outcome": e.outcome,
        "run_id": e.run_id,
        "reason": e.reason,
        "key": e.group,
    }


def to_document(result: SimResult, summary: Summary | None = None, *,
                slo_ns: int | None = None) -> dict[str, Any]:
    """The ``--format json`` document (schema in ``docs/simulate-json.md``); with
    ``slo_ns``, every statistics entry also counts its runs that started later than that.

    Needs every row: raises ValueError for a simulation run with ``keep_rows=False``."""
    if not result.complete:
        raise ValueError("the JSON document lists every run and event: simulate with "
                         "keep_rows=True")
    s = summary or summarize(result)
    functions = []
    for fn, st in s.functions.items():
        d = s.stats_dict(st, s.failures[fn], slo_ns)
        d = {"function": fn, "key_expression": result.group_by.get(fn, ""), **d}
        d["keys"] = [
            {"key": k, **s.stats_dict(ks, s.key_failures[fn].get(k), slo_ns)}
            for k, ks in sorted(s.keys[fn].items(), key=_key_order)
        ]
        functions.append(d)
    summary_doc: dict[str, Any] = {
        "start_ms": ms(result.start),
        "end_ms": ms(result.end),
        "run_duration_ms": ms(result.run_duration),
    }
    if slo_ns is not None:
        summary_doc["slo_ms"] = ms(slo_ns)
    return {
        "schema_version": SCHEMA_VERSION,
        "runs": [_run_doc(r) for r in result.runs],
        "events": [_event_doc(e) for e in result.events],
        "summary": {
            **summary_doc,
            "unmatched_events": result.unmatched_events,
            "functions": functions,
        },
    }


def render_json(result: SimResult, *, slo_ns: int | None = None) -> str:
    """One JSON object, keys in a fixed order, ending in a newline."""
    return json.dumps(to_document(result, slo_ns=slo_ns), ensure_ascii=False,
                      separators=(",", ":")) + "\n"


def _fmt_ms(v: float | int | None) -> str:
    """Milliseconds for people: ``12ms``, ``3.25s``, ``14m47s``."""
    if v is None:
        return "-"
    if v >= 100_000:
        return format_duration(round(v / 1000) * NS_PER_S)
    if v >= 1000:
        return f"{v / 1000:.2f}s"
    return f"{v:.3g}ms"


_COLUMNS = ("events", "started", "dropped", "skipped", "cancel", "p50", "p90", "p99", "max",
            "peak", "runs/s")


_FAILURE_COLUMNS = ("failed", "retries")


def over_slo(st: Stats, slo_ns: int) -> str:
    """``n (x%)``: the runs that started later than ``slo_ns``, of those that started."""
    n = st.over(slo_ns)
    if not n:
        return "0"
    return f"{n} ({n / st.runs_started * 100:.3g}%)"


def _row(label: str, st: Stats, span_ns: int, failures: Failures | None = None,
         slo_ns: int | None = None) -> list[str]:
    """One table row; with ``failures``, its failed runs and retries after ``cancel``;
    with ``slo_ns``, the runs over it after ``max``."""
    lat = st.latency_ms()
    d = st.to_dict(span_ns)
    skipped = st.outcomes["skipped"]
    thr = d["throughput_per_s"]
    extra = [] if failures is None else [str(failures.failed), str(failures.retries)]
    return [
        label,
        str(st.events_in),
        str(st.runs_started),
        str(st.outcomes["dropped"]),
        str(skipped),
        str(st.cancelled),
        *extra,
        _fmt_ms(lat["p50"]),
        _fmt_ms(lat["p90"]),
        _fmt_ms(lat["p99"]),
        _fmt_ms(lat["max"]),
        *(() if slo_ns is None else (over_slo(st, slo_ns),)),
        str(st.peak_concurrency),
        "-" if thr is None else f"{thr:.3g}",
    ]


def _table(rows: Iterable[list[str]], header: list[str]) -> list[str]:
    rows = [header, *rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    out = []
    for r in rows:
        cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:],
                                                                        strict=True)]
        out.append("  ".join(cells).rstrip())
    return out


def render_text(result: SimResult, *, top: int = 10, slo_ns: int | None = None) -> str:
    """The human report: one table per function, its busiest ``top`` keys, then notes;
    with ``slo_ns``, a column of the runs that started later than that."""
    s = summarize(result)
    lines = [
        f"simulated {format_duration(s.span_ns)} of traffic "
        f"({sum(st.events_in for st in s.functions.values())} events in, "
        f"{result.unmatched_events} matched no function)",
    ]
    # Failed runs and retries get columns when any run failed or retried.
    fail_cols = s.any_failures()
    columns = list(_COLUMNS)
    if fail_cols:
        i = columns.index("cancel") + 1
        columns[i:i] = _FAILURE_COLUMNS
    if slo_ns is not None:
        columns.insert(columns.index("max") + 1, f"> {format_duration(slo_ns)}")
    for fn, st in s.functions.items():
        expr_src = result.group_by.get(fn, "")
        lines.append("")
        lines.append(f"function {fn}" + (f"  (keys: {expr_src})" if expr_src else ""))
        header = ["", *columns]
        rows = [_row("total", st, s.span_ns, s.failures[fn] if fail_cols else None, slo_ns)]
        ranked = sorted(s.keys[fn].items(), key=_key_order)
        if expr_src:
            for k, ks in ranked[:top]:
                kf = (s.key_failures[fn].get(k) or _NONE) if fail_cols else None
                rows.append(_row(f"  {k}", ks, s.span_ns, kf, slo_ns))
        lines.extend(_table(rows, header))
        if expr_src and len(ranked) > top:
            lines.append(f"  ... {len(ranked) - top} more keys")
        notes = []
        o = st.outcomes
        for what in ("debounced", "batched", "superseded"):
            if o[what]:
                notes.append(f"{o[what]} {what}")
        pending = st.pending - s.failures[fn].failed
        if pending:
            notes.append(f"{pending} runs still pending")
        if notes:
            lines.append("  " + ", ".join(notes))
    lines.append("")
    lines.append(
        "latency = run start - run creation; peak = most steps holding slots at once; "
        "runs/s = completed runs per simulated second"
    )
    if slo_ns is not None:
        lines.append(f"> {format_duration(slo_ns)} = runs that started more than "
                     f"{format_duration(slo_ns)} after they were created (share of started)")
    if fail_cols:
        lines.append("failed = runs whose step failed with no retries left; retries = failed "
                     "attempts retried after the backoff")
    return "\n".join(lines) + "\n"
