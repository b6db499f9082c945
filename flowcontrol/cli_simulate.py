"""``flowcontrol simulate CONFIG TRACE``: replay a trace through a config. Does I/O (files,
stdout, stderr).

CONFIG is any file ``flowcontrol validate`` accepts; a config with errors is refused with
the validator's diagnostics (exit 1; exit 2 if it cannot be read or parsed). TRACE is JSON
Lines, one event per line in the platform's shape (``{"name", "data", "id"?, "ts"?}``,
``ts`` in ms), or one JSON array. The report goes to stdout (``--format text`` or ``json``,
see ``docs/simulate-json.md``); warnings and the progress bar (only when stderr is a
terminal) go to stderr. Same inputs, same bytes out.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, TextIO

from flowcontrol._time import DurationError, parse_duration
from flowcontrol.cli import guarded
from flowcontrol.config.codes import Severity
from flowcontrol.config.diagnostics import render
from flowcontrol.config.files import load_functions
from flowcontrol.config.model import FunctionConfig
from flowcontrol.fairness import OldestFirst, RoundRobin, WaitQueuePolicy
from flowcontrol.report import render_json, render_text
from flowcontrol.simulate import SimResult, simulate

__all__ = ["Usage", "add_arguments", "load_trace", "main", "run"]

FAIRNESS: dict[str, type[RoundRobin] | type[OldestFirst]] = {
    "round-robin": RoundRobin,
    "oldest-first": OldestFirst,
}


class Usage(Exception):
    """A problem with the command's inputs: a message for stderr and an exit status."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``flowcontrol simulate``."""
    parser.add_argument("config", metavar="CONFIG", help="function config (.json/.yaml/.toml)")
    parser.add_argument("trace", metavar="TRACE", help="events, JSON Lines (ts in ms)")
    parser.add_argument("--run-duration", default="1s", metavar="DURATION",
                        help="length of one run for functions without `steps` (default 1s)")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="report format (default text)")
    parser.add_argument("--plot", metavar="OUT.png",
                        help="draw concurrency and backlog over time (needs matplotlib)")
    parser.add_argument("--group-by", metavar="EXPR",
                        help="expression to group runs by in the report "
                             "(default: the function's first key)")
    parser.add_argument("--top", type=int, default=10, metavar="N",
                        help="keys listed per function in the text report (default 10)")
    parser.add_argument("--account-concurrency", type=int, default=0, metavar="N",
                        help="account-wide concurrency limit (default 0: none)")
    parser.add_argument("--fairness", choices=tuple(FAIRNESS), default="round-robin",
                        help="order of keys waiting on one constraint (default round-robin)")


def load_config(path: str, err: TextIO) -> list[FunctionConfig]:
    """Load and validate CONFIG; raise ``Usage`` (after printing diagnostics) if invalid."""
    functions, diagnostics = load_functions(path)
    errors = [d for d in diagnostics if d.severity in (Severity.ERROR, Severity.FATAL)]
    if diagnostics:
        err.write(render(diagnostics, "text"))
    if errors:
        fatal = any(d.severity is Severity.FATAL for d in errors)
        raise Usage(f"{path}: config refused: {len(errors)} error(s)", 2 if fatal else 1)
    if not functions:
        raise Usage(f"{path}: the config holds no function", 1)
    return functions


def load_trace(path: str) -> list[dict[str, Any]]:
    """Read TRACE; raise ``Usage`` naming the line of the first bad event."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise Usage(f"{path}: cannot read the trace: {exc}") from None
    rows: list[tuple[int, Any]] = []
    if text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise Usage(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
        rows = [(i + 1, e) for i, e in enumerate(data)] if isinstance(data, list) else []
    else:
        for lineno, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append((lineno, json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise Usage(f"{path}:{lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    events = []
    for lineno, ev in rows:
        where = f"{path}:{lineno}"
        if not isinstance(ev, dict):
            raise Usage(f"{where}: an event must be a JSON object")
        if not isinstance(ev.get("name"), str) or not ev["name"]:
            raise Usage(f"{where}: event.name must be a non-empty string")
        if "data" in ev and ev["data"] is not None and not isinstance(ev["data"], dict):
            raise Usage(f"{where}: event.data must be an object")
        ts = ev.get("ts")
        if ts is not None and (isinstance(ts, bool) or not isinstance(ts, int | float)):
            raise Usage(f"{where}: event.ts must be a number of milliseconds")
        if "id" in ev and ev["id"] is not None and not isinstance(ev["id"], str):
            raise Usage(f"{where}: event.id must be a string")
        events.append(ev)
    return events


class _Progress:
    """A one-line progress bar on a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.last = -1

    def __call__(self, done: int, total: int) -> None:
        pct = 100 if total == 0 else done * 100 // total
        if pct == self.last:
            return
        self.last = pct
        bar = "#" * (pct // 4)
        self.stream.write(f"\rsimulating [{bar:<25}] {pct:3d}% ({done}/{total} events)")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def run_simulation(args: Any, functions: list[FunctionConfig], events: list[dict[str, Any]],
                   err: TextIO) -> SimResult:
    try:
        run_duration = parse_duration(args.run_duration)
    except DurationError as exc:
        raise Usage(f"--run-duration: {exc}") from None
    if run_duration < 0:
        raise Usage("--run-duration must not be negative")
    group_by = getattr(args, "group_by", None)
    if group_by:
        try:
            from flowcontrol.keys import CompiledExpr

            CompiledExpr(group_by)
        except Exception as exc:
            raise Usage(f"--group-by: {exc}") from None
    policy: WaitQueuePolicy = FAIRNESS[getattr(args, "fairness", "round-robin")]()
    progress = _Progress(err) if err.isatty() and len(events) >= 10_000 else None
    try:
        return simulate(
            functions,
            events,
            run_duration=run_duration,
            group_by=group_by or None,
            timeline=bool(getattr(args, "plot", None)),
            progress=progress,
            account_concurrency=max(0, getattr(args, "account_concurrency", 0)),
            fairness=policy,
        )
    except ValueError as exc:
        raise Usage(f"{args.trace}: {exc}") from None


def run(args: Any, out: TextIO, err: TextIO) -> int:
    """Run ``flowcontrol simulate``; return the exit status."""
    try:
        functions = load_config(args.config, err)
        events = load_trace(args.trace)
        result = run_simulation(args, functions, events, err)
    except Usage as exc:
        err.write(f"flowcontrol simulate: {exc}\n")
        return exc.status
    if args.format == "json":
        out.write(render_json(result))
    else:
        out.write(render_text(result, top=max(1, args.top)))
    if args.plot:
        from flowcontrol.plot import PlotUnavailable, save_plot

        try:
            save_plot(result, args.plot)
        except PlotUnavailable as exc:
            err.write(f"flowcontrol simulate: --plot: {exc}\n")
            return 1
        err.write(f"wrote {args.plot}\n")
    return 0


def main(args: Any) -> int:
    """Entry point used by ``flowcontrol.cli``; never lets a traceback out."""
    return guarded("simulate", run, args)
