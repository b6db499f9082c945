"""``flowcontrol trace``: write a synthetic event trace. Does I/O (stdout or a file).

Poisson or bursty arrivals, users drawn from a Zipf distribution, all from ``--seed``
(``flowcontrol.sim.tracegen``): the same options give the same bytes. Output is JSON Lines in
the platform's event shape, ready for ``flowcontrol simulate``.
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from flowcontrol.cli.main import guarded
from flowcontrol.sim.tracegen import PATTERNS, TraceSpec, jsonl_lines
from flowcontrol.time import NS_PER_S, DurationError, parse_duration

__all__ = ["add_arguments", "main", "run", "spec_from_args"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``flowcontrol trace``."""
    parser.add_argument("--events", type=int, default=1000, metavar="N",
                        help="how many events (default 1000)")
    parser.add_argument("--pattern", choices=PATTERNS, default="poisson",
                        help="arrival pattern (default poisson)")
    parser.add_argument("--rate", type=float, default=1.0, metavar="PER_S",
                        help="events per second (bursty: the quiet rate; default 1)")
    parser.add_argument("--burst-factor", type=float, default=10.0, metavar="X",
                        help="bursty: rate multiplier during bursts (default 10)")
    parser.add_argument("--mean-quiet", default="60s", metavar="DURATION",
                        help="bursty: mean length of quiet stretches (default 60s)")
    parser.add_argument("--mean-burst", default="10s", metavar="DURATION",
                        help="bursty: mean length of bursts (default 10s)")
    parser.add_argument("--keys", type=int, default=100, metavar="K",
                        help="distinct users (default 100)")
    parser.add_argument("--zipf", type=float, default=1.1, metavar="S",
                        help="Zipf exponent of the user distribution; 0 is uniform (default 1.1)")
    parser.add_argument("--pro-fraction", type=float, default=0.2, metavar="P",
                        help="fraction of users on the pro plan (default 0.2)")
    parser.add_argument("--name", default="app/event", help="event name (default app/event)")
    parser.add_argument("--key-field", default="user_id",
                        help="data field holding the user (default user_id)")
    parser.add_argument("--start-ms", type=int, default=0, metavar="MS",
                        help="ts of time zero, in ms (default 0)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")


def spec_from_args(args: Any) -> TraceSpec:
    """Build the TraceSpec; raise ValueError with a message naming the bad option."""
    try:
        quiet = parse_duration(args.mean_quiet) / NS_PER_S
        burst = parse_duration(args.mean_burst) / NS_PER_S
    except DurationError as exc:
        raise ValueError(f"--mean-quiet/--mean-burst: {exc}") from None
    spec = TraceSpec(
        events=args.events, pattern=args.pattern, rate=args.rate,
        burst_factor=args.burst_factor, mean_quiet_s=quiet, mean_burst_s=burst,
        keys=args.keys, zipf=args.zipf, pro_fraction=args.pro_fraction, name=args.name,
        key_field=args.key_field, start_ms=args.start_ms, seed=args.seed,
    )
    problems = spec.problems()
    if problems:
        raise ValueError("; ".join(problems))
    return spec


def run(args: Any, out: TextIO, err: TextIO) -> int:
    """Generate the trace; return the exit status."""
    try:
        spec = spec_from_args(args)
    except ValueError as exc:
        err.write(f"flowcontrol trace: {exc}\n")
        return 2
    lines = jsonl_lines(spec)  # streamed: memory does not grow with --events
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8", newline="\n") as f:
                f.writelines(lines)
        except OSError as exc:
            err.write(f"flowcontrol trace: cannot write {args.output}: {exc.strerror}\n")
            return 2
        err.write(f"wrote {spec.events} events to {args.output}\n")
    else:
        out.writelines(lines)
    return 0


def main(args: Any) -> int:
    """Entry point used by ``flowcontrol.cli.main``; never lets a traceback out."""
    return guarded("trace", run, args)
