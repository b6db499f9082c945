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
import itertools
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO, cast

from flowcontrol.cli.main import guarded
from flowcontrol.config.codes import Severity
from flowcontrol.config.diagnostics import render
from flowcontrol.config.files import load_functions
from flowcontrol.config.model import FunctionConfig
from flowcontrol.controller.fairness import OldestFirst, RoundRobin, WaitQueuePolicy
from flowcontrol.sim.compare import compare, compare_document, render_compare_text
from flowcontrol.sim.report import render_json, render_text
from flowcontrol.sim.simulate import SimResult, simulate
from flowcontrol.time import DurationError, parse_duration

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
    parser.add_argument("trace", metavar="TRACE",
                        help="events, JSON Lines (ts in ms); - reads standard input")
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
    parser.add_argument("--slo", metavar="DURATION",
                        help="also count, per function and key, the runs that started more "
                             "than DURATION after they were created")
    parser.add_argument("--compare", metavar="CONFIG2",
                        help="also simulate CONFIG2 on the same trace and report, per function "
                             "and key, what changes (config differences, before -> after)")


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
    """Read TRACE whole; raise ``Usage`` naming the line of the first bad event."""
    return list(read_trace(path))


class _Unsorted(Exception):
    """The trace is not in ``ts`` order (``read_trace(..., in_order=True)``)."""


def read_trace(path: str, *, in_order: bool = False) -> Iterator[dict[str, Any]]:
    """Yield TRACE's events one at a time (JSON Lines are read lazily, a JSON array whole).

    Raises ``Usage`` naming the line of the first bad event, when it is reached. With
    ``in_order``, raises ``_Unsorted`` at the first event whose ``ts`` is below the one
    before (a missing ``ts`` is the one before's), before yielding it.
    """
    try:
        f = open(path, encoding="utf-8-sig")  # noqa: SIM115 (closed below; a generator)
    except OSError as exc:
        raise Usage(f"{path}: cannot read the trace: {exc}") from None
    with f:
        try:
            yield from _events(path, f, in_order)
        except UnicodeDecodeError as exc:
            raise Usage(f"{path}: cannot read the trace: {exc}") from None


def _events(path: str, f: TextIO, in_order: bool) -> Iterator[dict[str, Any]]:
    lineno = 0
    first = ""
    for first in f:
        lineno += 1
        if first.strip():
            break
    else:
        return
    rows: Iterable[tuple[int, Any]]
    if first.lstrip().startswith("["):
        text = first + f.read()
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            at = exc.lineno + lineno - 1
            raise Usage(f"{path}:{at}:{exc.colno}: invalid JSON: {exc.msg}") from None
        rows = enumerate(data if isinstance(data, list) else (), start=1)
    else:
        rows = _lines(path, itertools.chain((first,), f), lineno)
    last: Any = None
    for n, ev in rows:
        if type(ev) is not dict:
            raise Usage(f"{path}:{n}: an event must be a JSON object")
        name = ev.get("name")
        if type(name) is not str or not name:
            raise Usage(f"{path}:{n}: event.name must be a non-empty string")
        data = ev.get("data")
        if data is not None and type(data) is not dict:
            raise Usage(f"{path}:{n}: event.data must be an object")
        ts = ev.get("ts")
        if ts is not None:
            if type(ts) is not int and type(ts) is not float:
                raise Usage(f"{path}:{n}: event.ts must be a number of milliseconds")
            if in_order and last is not None and ts < last:
                raise _Unsorted
            last = ts
        eid = ev.get("id")
        if eid is not None and type(eid) is not str:
            raise Usage(f"{path}:{n}: event.id must be a string")
        yield ev


# json.loads' own C scanner (the decoder's ``scan_once``), without its wrapping.
_SCAN: Callable[[str, int], tuple[Any, int]] = cast(Any, json.JSONDecoder()).scan_once


def _lines(path: str, lines: Iterable[str], first: int) -> Iterator[tuple[int, Any]]:
    """(line number, value) for each non-blank line, numbered from ``first``: what
    ``json.loads(line)`` gives (it also says what is wrong with a bad line)."""
    scan = _SCAN
    for n, line in enumerate(lines, start=first):
        try:
            value, end = scan(line, 0)
        except (StopIteration, ValueError):
            end = -1
        if end < 0 or (end != len(line) and line[end:] != "\n"):  # blank, spaced, bad, more
            if not line.strip():
                continue
            try:
                value = json.loads(line[:-1] if line.endswith("\n") else line)
            except json.JSONDecodeError as exc:
                raise Usage(f"{path}:{n}:{exc.colno}: invalid JSON: {exc.msg}") from None
        yield n, value


def _stdin_events(args: Any) -> list[dict[str, Any]]:
    """TRACE ``-``: standard input, read whole once (it cannot be read twice, and a trace
    out of order must be sorted) and kept on ``args`` for a second simulation."""
    events: list[dict[str, Any]] | None = getattr(args, "_stdin_events", None)
    if events is None:
        try:
            events = list(_events("<stdin>", sys.stdin, False))
        except UnicodeDecodeError as exc:
            raise Usage(f"<stdin>: cannot read the trace: {exc}") from None
        args._stdin_events = events
    return events


def _count_events(path: str) -> int:
    """How many events TRACE holds (its non-blank lines; for the progress bar only)."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)
        if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"["):
            return len(load_trace(path))
        n = 0
        f.seek(0)
        for line in f:
            if line.strip():
                n += 1
        return n


class _Sized:
    """An event stream that knows its length (so ``simulate`` reports progress)."""

    def __init__(self, events: Iterator[dict[str, Any]], n: int) -> None:
        self.events = events
        self.n = n

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self.events

    def __len__(self) -> int:
        return self.n


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


def run_simulation(args: Any, functions: list[FunctionConfig], err: TextIO, *,
                   keep_rows: bool | None = None) -> SimResult:
    """Simulate TRACE through ``functions``.

    JSON Lines in ``ts`` order stream through ``simulate`` (memory follows the live work
    and keys, not the trace; text reports keep statistics only); a trace out of order is
    then read whole and sorted, which gives the same result.
    """
    try:
        run_duration = parse_duration(args.run_duration)
    except DurationError as exc:
        raise Usage(f"--run-duration: {exc}") from None
    if run_duration < 0:
        raise Usage("--run-duration must not be negative")
    group_by = getattr(args, "group_by", None)
    if group_by:
        try:
            from flowcontrol.controller.keys import CompiledExpr

            CompiledExpr(group_by)
        except Exception as exc:
            raise Usage(f"--group-by: {exc}") from None
    policy: WaitQueuePolicy = FAIRNESS[getattr(args, "fairness", "round-robin")]()
    stdin = args.trace == "-"
    if stdin:
        events = _stdin_events(args)
        total = len(events)
    else:
        total = _count_events(args.trace) if err.isatty() else 0
    progress = _Progress(err) if total >= 10_000 and err.isatty() else None

    def replay(events: Iterable[dict[str, Any]], presorted: bool) -> SimResult:
        if progress is not None:
            progress.last = -1
        return simulate(
            functions,
            events,
            run_duration=run_duration,
            group_by=group_by or None,
            timeline=bool(getattr(args, "plot", None)),
            keep_rows=(getattr(args, "format", "text") == "json" if keep_rows is None
                       else keep_rows),
            presorted=presorted,
            progress=progress,
            account_concurrency=max(0, getattr(args, "account_concurrency", 0)),
            fairness=policy,
        )

    try:
        if stdin:
            return replay(events, False)
        try:
            return replay(_Sized(read_trace(args.trace, in_order=True), total), True)
        except _Unsorted:
            return replay(load_trace(args.trace), False)
    except ValueError as exc:
        raise Usage(f"{args.trace}: {exc}") from None


def run(args: Any, out: TextIO, err: TextIO) -> int:
    """Run ``flowcontrol simulate``; return the exit status."""
    if getattr(args, "compare", None):
        return run_compare(args, out, err)
    try:
        slo = slo_option(args)
        functions = load_config(args.config, err)
        result = run_simulation(args, functions, err)
    except Usage as exc:
        err.write(f"flowcontrol simulate: {exc}\n")
        return exc.status
    if args.format == "json":
        out.write(render_json(result, slo_ns=slo))
    else:
        out.write(render_text(result, top=max(1, args.top), slo_ns=slo))
    if args.plot:
        from flowcontrol.sim.plot import PlotUnavailable, save_plot

        try:
            save_plot(result, args.plot)
        except PlotUnavailable as exc:
            err.write(f"flowcontrol simulate: --plot: {exc}\n")
            return 1
        err.write(f"wrote {args.plot}\n")
    return 0


def slo_option(args: Any) -> int | None:
    """``--slo`` in ns (None when not given); raises ``Usage`` if it is not a duration."""
    text = getattr(args, "slo", None)
    if text is None:
        return None
    try:
        slo = parse_duration(text)
    except DurationError as exc:
        raise Usage(f"--slo: {exc}") from None
    if slo < 0:
        raise Usage("--slo must not be negative")
    return slo


def run_compare(args: Any, out: TextIO, err: TextIO) -> int:
    """``simulate CONFIG TRACE --compare CONFIG2``: both on the same trace, side by side."""
    try:
        slo = slo_option(args)
        if args.plot:
            raise Usage("--plot cannot be combined with --compare")
        before = load_config(args.config, err)
        after = load_config(args.compare, err)
        a = run_simulation(args, before, err, keep_rows=False)
        b = run_simulation(args, after, err, keep_rows=False)
    except Usage as exc:
        err.write(f"flowcontrol simulate: {exc}\n")
        return exc.status
    cmp = compare(a, b, (before, after))
    if args.format == "json":
        out.write(json.dumps(compare_document(cmp, slo_ns=slo), ensure_ascii=False,
                             separators=(",", ":")) + "\n")
    else:
        out.write(render_compare_text(cmp, top=max(1, args.top), slo_ns=slo))
    return 0


def main(args: Any) -> int:
    """Entry point used by ``flowcontrol.cli.main``; never lets a traceback out."""
    return guarded("simulate", run, args)
