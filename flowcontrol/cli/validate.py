"""``flowcontrol validate FILE...``: check flow-control configs in CI. Does I/O (files, stdout).

Prints one line per diagnostic (``FILE:LINE:COL: CODE message``), or JSON, SARIF 2.1.0 or
GitHub workflow annotations with ``--format``. Exit status: 0 without errors, 1 with errors
(or with warnings under ``--strict``), 2 when a file cannot be read or parsed.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from flowcontrol.cli.main import guarded
from flowcontrol.config.codes import CODES, Severity
from flowcontrol.config.diagnostics import OUTPUT_FORMATS, Diagnostic, render, sort_key
from flowcontrol.config.files import detect_format, read_events, validate_file
from flowcontrol.config.lint import lint
from flowcontrol.config.validate import Entry, validate_text

__all__ = ["add_arguments", "main", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``flowcontrol validate``."""
    parser.add_argument("files", nargs="*", metavar="FILE",
                        help="config files (.json, .yaml/.yml, .toml; '-' reads stdin)")
    parser.add_argument("--format", choices=OUTPUT_FORMATS, default="text",
                        help="output format (default: text, one line per diagnostic)")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 on warnings too")
    parser.add_argument("--events", metavar="SAMPLE.jsonl",
                        help="sample events (JSON Lines) to evaluate the expressions on")
    parser.add_argument("--input-format", choices=("json", "yaml", "toml"),
                        help="parse every FILE in this format instead of guessing from suffix")
    parser.add_argument("--list-codes", action="store_true",
                        help="print the table of diagnostic codes and exit")


def run(args: Any, out: TextIO, err: TextIO) -> int:
    """Validate ``args.files``; write the report to ``out`` and a summary to ``err``."""
    if args.list_codes:
        for code, (severity, title) in CODES.items():
            out.write(f"{code}  {severity.value:<7}  {title}\n")
        return 0
    if not args.files:
        err.write("flowcontrol validate: give at least one FILE\n")
        return 2
    diagnostics: list[Diagnostic] = []
    entries: list[Entry] = []
    for name in args.files:
        if name == "-":
            text = sys.stdin.read()
            fmt = args.input_format or detect_format("-", text)
            result = validate_text(text, fmt, "<stdin>")
        else:
            result = validate_file(name, args.input_format)
        diagnostics.extend(result.diagnostics)
        entries.extend(result.entries)
    events = None
    if args.events:
        events, problems = read_events(args.events)
        diagnostics.extend(problems)
    diagnostics.extend(lint(entries, events))
    diagnostics.sort(key=sort_key)
    out.write(render(diagnostics, args.format))
    fatal = sum(d.severity is Severity.FATAL for d in diagnostics)
    errors = sum(d.severity is Severity.ERROR for d in diagnostics)
    warnings = sum(d.severity is Severity.WARNING for d in diagnostics)
    functions = sum(e.config is not None for e in entries)
    err.write(f"{len(args.files)} file(s), {functions} valid function(s): {fatal + errors} "
              f"error(s), {warnings} warning(s)\n")
    if fatal:
        return 2
    if errors or (args.strict and warnings):
        return 1
    return 0


def main(args: Any) -> int:
    """Entry point used by ``flowcontrol.cli.main``; never lets a traceback out."""
    return guarded("validate", run, args)
