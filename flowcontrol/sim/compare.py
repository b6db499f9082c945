"""Two simulations of one trace side by side: what a config change does, per function and key.

``compare(baseline, candidate)`` pairs two ``SimResult`` of the same trace (and options)
function by function (by id) and key by key, and ``config_changes`` lists what differs
between two ``FunctionConfig`` in the config's own terms (``throttle.limit: 50 -> 20``).
``render_compare_text`` is the human report of ``flowcontrol simulate --compare``: per
function its config changes, its total and the keys whose start latency changed most, each
metric shown as ``before -> after``; ``compare_document`` is its ``--format json`` form
(``docs/simulate-compare.md``). Both are deterministic.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from flowcontrol.config.model import FunctionConfig
from flowcontrol.sim.report import Summary, _fmt_ms, _table, over_slo, summarize
from flowcontrol.sim.simulate import Failures, SimResult
from flowcontrol.sim.stats import Stats
from flowcontrol.time import format_duration

__all__ = ["COMPARE_SCHEMA_VERSION", "Change", "Comparison", "compare", "compare_document",
           "config_changes", "render_compare_text"]

COMPARE_SCHEMA_VERSION = 1

# Config names of model fields that do not follow snake_case -> camelCase.
_NAMES = {"rate_limit": "rateLimit", "batch": "batchEvents", "cancel_on": "cancelOn",
          "if_expr": "if", "kind": "step"}


@dataclass(frozen=True, slots=True)
class Change:
    """One config difference: ``path`` in config terms, values as the config would say."""

    path: str
    before: Any
    after: Any

    def text(self) -> str:
        return f"{self.path}: {_say(self.before)} -> {_say(self.after)}"


def _name(field: str) -> tuple[str, bool]:
    """The config name of a model field, and whether its value is a duration in ns."""
    if field in _NAMES:
        return _NAMES[field], False
    ns = field.endswith("_ns")
    if ns:
        field = field[:-3]
    head, *rest = field.split("_")
    return head + "".join(p.title() for p in rest), ns


def _plain(value: Any, ns: bool = False) -> Any:
    """A model value in config terms: durations as text, objects as dicts."""
    if value is None:
        return None
    if ns and type(value) is int:
        return format_duration(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            v = getattr(value, f.name)
            if v is not None and v != () and v != f.default:  # (defaults go without saying)
                name, is_ns = _name(f.name)
                out[name] = _plain(v, is_ns)
        return out
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _say(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_say(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_say(v) for v in value) + "]"
    return str(value)


def config_changes(before: FunctionConfig, after: FunctionConfig) -> list[Change]:
    """What differs between two configs of one function, field by field, in config order."""
    out: list[Change] = []
    _diff(before, after, "", False, out)
    return out


def _diff(a: Any, b: Any, path: str, ns: bool, out: list[Change]) -> None:
    if a == b:
        return
    if (dataclasses.is_dataclass(a) and type(a) is type(b) and not isinstance(a, type)):
        for f in dataclasses.fields(a):
            name, is_ns = _name(f.name)
            _diff(getattr(a, f.name), getattr(b, f.name), f"{path}.{name}" if path else name,
                  is_ns, out)
        return
    if isinstance(a, tuple) and isinstance(b, tuple):
        for i in range(max(len(a), len(b))):
            _diff(a[i] if i < len(a) else None, b[i] if i < len(b) else None, f"{path}[{i}]",
                  ns, out)
        return
    out.append(Change(path, _plain(a, ns), _plain(b, ns)))


@dataclass(slots=True)
class FunctionComparison:
    """One function in both simulations (a side is None if the function is not in it)."""

    function: str
    key_expression: str
    changes: list[Change]
    before: Stats | None
    after: Stats | None
    keys: list[tuple[str, Stats | None, Stats | None]]  # most changed first


@dataclass(slots=True)
class Comparison:
    """Two simulations of one trace, paired by function and key."""

    functions: list[FunctionComparison]
    summaries: tuple[Summary, Summary]
    unmatched: tuple[int, int]

    def failures(self, side: int, fn: str, key: str | None = None) -> Failures | None:
        """Failed runs and retries of a function (or one of its keys) on one side."""
        s = self.summaries[side]
        if key is None:
            return s.failures.get(fn)
        return s.key_failures.get(fn, {}).get(key)


def compare(
    baseline: SimResult,
    candidate: SimResult,
    configs: tuple[list[FunctionConfig], list[FunctionConfig]] | None = None,
) -> Comparison:
    """Pair ``baseline`` and ``candidate`` (with ``configs``, also their config changes)."""
    sa, sb = summarize(baseline), summarize(candidate)
    cfg_a = {c.id: c for c in configs[0]} if configs else {}
    cfg_b = {c.id: c for c in configs[1]} if configs else {}
    fns = list(baseline.functions) + [f for f in candidate.functions
                                      if f not in baseline.functions]
    out = []
    for fn in fns:
        ka, kb = sa.keys.get(fn, {}), sb.keys.get(fn, {})
        names = list(ka) + [k for k in kb if k not in ka]
        keys = [(k, ka.get(k), kb.get(k)) for k in names]
        keys.sort(key=lambda r: (_change_order(r[1], r[2]), r[0]))
        changes = (config_changes(cfg_a[fn], cfg_b[fn])
                   if fn in cfg_a and fn in cfg_b else [])
        expr = baseline.group_by.get(fn) or candidate.group_by.get(fn) or ""
        out.append(FunctionComparison(fn, expr, changes, sa.functions.get(fn),
                                      sb.functions.get(fn), keys))
    return Comparison(out, (sa, sb), (baseline.unmatched_events, candidate.unmatched_events))


def _lat(st: Stats | None, which: str) -> float:
    if st is None:
        return 0.0
    v = st.latency_ms()[which]
    return float(v) if v is not None else 0.0


def _counts(st: Stats | None) -> tuple[int, ...]:
    if st is None:
        return (0, 0, 0, 0)
    return (st.runs_started, st.outcomes["dropped"], st.outcomes["skipped"], st.cancelled)


def _change_order(a: Stats | None, b: Stats | None) -> tuple[float, float, int]:
    """Most changed first: by the change in p99 start latency, then in p50 and max, then
    in the counts."""
    return (
        -abs(_lat(b, "p99") - _lat(a, "p99")),
        -abs(_lat(b, "p50") - _lat(a, "p50")) - abs(_lat(b, "max") - _lat(a, "max")),
        -sum(abs(x - y) for x, y in zip(_counts(a), _counts(b), strict=True)),
    )


def _changed(a: Stats | None, b: Stats | None) -> bool:
    return _cells(a) != _cells(b)


_METRICS = ("started", "dropped", "skipped", "cancel", "p50", "p99", "max", "peak")
_FAILURE_METRICS = ("failed", "retries")


def _cells(st: Stats | None, f: Failures | None = None, failures: bool = False,
           slo_ns: int | None = None) -> list[str]:
    n = len(_METRICS) + (len(_FAILURE_METRICS) if failures else 0) + (slo_ns is not None)
    if st is None:
        return ["-"] * n
    lat = st.latency_ms()
    out = [str(st.runs_started), str(st.outcomes["dropped"]), str(st.outcomes["skipped"]),
           str(st.cancelled), _fmt_ms(lat["p50"]), _fmt_ms(lat["p99"]), _fmt_ms(lat["max"]),
           str(st.peak_concurrency)]
    if failures:
        out += [str(f.failed if f else 0), str(f.retries if f else 0)]
    if slo_ns is not None:
        out.append(over_slo(st, slo_ns))
    return out


def _pair_row(label: str, a: Stats | None, b: Stats | None,
              fails: tuple[Failures | None, Failures | None] | None = None,
              slo_ns: int | None = None) -> list[str]:
    row = [label]
    fa, fb = fails or (None, None)
    with_f = fails is not None
    for x, y in zip(_cells(a, fa, with_f, slo_ns), _cells(b, fb, with_f, slo_ns),
                    strict=True):
        row.append(x if x == y else f"{x} -> {y}")
    pa, pb = _lat(a, "p99"), _lat(b, "p99")
    row.append("-" if pa == pb else ("new" if pa == 0 else f"{(pb - pa) / pa * 100:+.0f}%"))
    return row


def render_compare_text(cmp: Comparison, *, top: int = 10, slo_ns: int | None = None) -> str:
    """The human report: per function its config changes, total and most changed keys
    (with ``slo_ns``, also the runs that started later than that)."""
    sa, sb = (s.span_ns for s in cmp.summaries)
    with_failures = any(s.any_failures() for s in cmp.summaries)
    lines = [f"baseline -> candidate: simulated {format_duration(sa)} -> "
             f"{format_duration(sb)} of traffic"]
    for f in cmp.functions:
        lines.append("")
        lines.append(f"function {f.function}" + (f"  (keys: {f.key_expression})"
                                                 if f.key_expression else ""))
        if f.before is None or f.after is None:
            lines.append("  only in the " + ("candidate" if f.before is None else "baseline"))
        for c in f.changes:
            lines.append(f"  config {c.text()}")
        if not f.changes and f.before is not None and f.after is not None:
            lines.append("  config unchanged")
        def fails(key: str | None, fn: str = f.function) -> tuple[Any, Any] | None:
            if not with_failures:
                return None
            return (cmp.failures(0, fn, key), cmp.failures(1, fn, key))

        rows = [_pair_row("total", f.before, f.after, fails(None), slo_ns)]
        changed = [k for k in f.keys if _changed(k[1], k[2])] if f.key_expression else []
        rows.extend(_pair_row(f"  {k}", a, b, fails(k), slo_ns) for k, a, b in changed[:top])
        header = [*_METRICS, *(_FAILURE_METRICS if with_failures else ()),
                  *(() if slo_ns is None else (f"> {format_duration(slo_ns)}",))]
        lines.extend(_table(rows, ["", *header, "p99 change"]))
        if f.key_expression:
            if len(changed) > top:
                lines.append(f"  ... {len(changed) - top} more keys changed")
            lines.append(f"  {len(f.keys) - len(changed)} of {len(f.keys)} keys unchanged")
    lines.append("")
    lines.append("each cell: baseline -> candidate (one value: unchanged); keys ordered by "
                 "the change in p99 start latency")
    return "\n".join(lines) + "\n"


def compare_document(cmp: Comparison, *, slo_ns: int | None = None) -> dict[str, Any]:
    """The ``--compare --format json`` document (``docs/simulate-compare.md``)."""
    sa, sb = cmp.summaries

    def side(st: Stats | None, s: Summary, f: Failures | None) -> dict[str, Any] | None:
        return None if st is None else s.stats_dict(st, f, slo_ns)

    return {
        "schema_version": COMPARE_SCHEMA_VERSION,
        "kind": "comparison",
        "unmatched_events": {"baseline": cmp.unmatched[0], "candidate": cmp.unmatched[1]},
        "functions": [
            {
                "function": f.function,
                "key_expression": f.key_expression,
                "config_changes": [{"path": c.path, "baseline": c.before, "candidate": c.after}
                                   for c in f.changes],
                "baseline": side(f.before, sa, cmp.failures(0, f.function)),
                "candidate": side(f.after, sb, cmp.failures(1, f.function)),
                "keys": [{"key": k,
                          "baseline": side(a, sa, cmp.failures(0, f.function, k)),
                          "candidate": side(b, sb, cmp.failures(1, f.function, k))}
                         for k, a, b in f.keys],
            }
            for f in cmp.functions
        ],
    }
