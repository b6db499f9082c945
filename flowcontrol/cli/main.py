"""The ``flowcontrol`` command: dispatches to its subcommands. Does I/O (argv, stdout, exit codes).

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and
``main(args) -> int``; modules are imported only when their subcommand runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("flowcontrol.cli.validate", "check flow-control configs (exit 1 on errors)"),
    "simulate": ("flowcontrol.cli.simulate", "replay an event trace through a config"),
    "trace": ("flowcontrol.cli.trace", "generate a synthetic event trace"),
    "demo": ("flowcontrol.cli.demo", "run the bundled demonstration"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowcontrol",
        description="Validate, simulate and explore flow-control configs.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            sp.set_defaults(_module=None)
            continue
        module.add_arguments(sp)
        sp.set_defaults(_module=module)
    return parser


def guarded(name: str, run: Callable[[Any, TextIO, TextIO], int], args: Any) -> int:
    """Run a subcommand's ``run(args, stdout, stderr)``; never let a traceback out.

    An unexpected exception is reported on stderr as ``flowcontrol NAME: internal error``
    and gives exit code 2; ``KeyboardInterrupt`` and ``BrokenPipeError`` pass through to
    ``main``, which maps them to 130 and 0.
    """
    try:
        return run(args, sys.stdout, sys.stderr)
    except (KeyboardInterrupt, BrokenPipeError):
        raise
    except Exception as exc:  # last resort: report, exit 2
        sys.stderr.write(f"flowcontrol {name}: internal error: {type(exc).__name__}: {exc}\n")
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    module = args._module
    if module is None:
        print(f"flowcontrol: '{args.command}' is not available in this build", file=sys.stderr)
        return 2
    try:
        return int(module.main(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def run() -> None:
    """Console-script entry point."""
    raise SystemExit(main())
