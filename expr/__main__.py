"""``python -m expr``: evaluate one expression against JSON data and print the result (does I/O).

This is the command-line edge of ``expr``; it reads files and writes to stdout/stderr, which is
why it is exempt from the purity test. It is how a user debugs a key or priority expression
against a real event::

    python -m expr 'event.data.user_id' --data '{"event": {"data": {"user_id": "u1"}}}'
    python -m expr 'event.data.account_id + "-" + event.user.email' --data-file act.json
    python -m expr --dialect inngest --events events.jsonl 'event.data.user_id'
    python -m expr --check --dialect inngest 'event.data.n + 1 > 2'
    python -m expr --check --var 'tags=list(string)' 'tags.exists(t, t == "vip")'

Input: ``--data JSON`` or ``--data-file F.json`` is the activation, a JSON object whose keys are
the variables (``{"event": ...}``); without either it is ``{}``. ``--events F.jsonl`` evaluates
once per non-blank line of a JSON Lines file, binding that line's value as ``event`` (on top of
``--data`` if given). JSON integral numbers arrive as ``int``, others as ``float``.

Output: the result as one line of JSON. CEL values without a JSON form are encoded as follows:
uint is a plain number; bytes are a base64 string; a type value is its name (``"int"``); NaN,
+inf and -inf are the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``; map keys (int,
uint, bool, string) become JSON strings (``1``, ``true``). ``--raw`` prints a string result
without quotes; ``--key`` prints the result as the flow-control key the platform derives from it
(Go ``%v`` formatting, ``expr.go_format``), with no JSON quoting.

Type checking: ``--check`` type-checks the expression as cel-go does (``expr.check``) and prints
its type (``int``, ``list(string)``, ``dyn``...) instead of evaluating it. ``--var NAME=TYPE``
(repeatable) declares a variable with a type in the same notation; without any, ``event``,
``async`` and ``vars`` are declared as ``map(string, dyn)``, as the platform does. A type error
is printed on stderr like a syntax error (each error's line with a caret) and exits 1.

Errors: a syntax error is printed on stderr with the source line and a caret under the column;
an evaluation error as ``error: message``. With ``--events``, a failing event prints an empty
line on stdout (so output lines stay aligned with events) and ``FILE:LINE: error: message`` on
stderr. Exit status: 0 success, 1 an expression error (syntax, or evaluation of any event),
2 usage error or unreadable/invalid data.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import expr

EXIT_OK = 0
EXIT_EXPR_ERROR = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad command line or unreadable data; exits with status 2."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m expr",
        description="Evaluate a CEL expression against JSON data and print the result as JSON"
                    " (or, with --check, type-check it and print its type).",
    )
    p.add_argument("expression", help="the expression, e.g. 'event.data.user_id'")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--data", metavar="JSON", help="activation as a JSON object")
    src.add_argument("--data-file", metavar="FILE", help="activation read from a JSON file")
    p.add_argument("--events", metavar="FILE",
                   help="JSON Lines file: evaluate once per line with the line bound as `event`")
    p.add_argument("--dialect", choices=("cel", "inngest"), default="cel",
                   help="cel (strict, default) or inngest (lenient, as Inngest evaluates keys)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--raw", action="store_true", help="print a string result without quotes")
    out.add_argument("--key", action="store_true",
                     help="print the key string the platform derives (Go %%v formatting)")
    out.add_argument("--check", action="store_true",
                     help="type-check instead of evaluating, and print the expression's type")
    p.add_argument("--var", action="append", default=None, metavar="NAME=TYPE",
                   help="with --check: declare a variable, e.g. 'tags=list(string)' "
                        "(default: event, async and vars as map(string, dyn))")
    return p


def _variables(specs: list[str] | None) -> dict[str, str] | None:
    if specs is None:
        return None
    out: dict[str, str] = {}
    for spec in specs:
        name, sep, type_text = spec.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--var {spec!r}: expected NAME=TYPE")
        out[name.strip()] = type_text
    return out


def _check(args: argparse.Namespace) -> int:
    if args.data is not None or args.data_file is not None or args.events is not None:
        raise UsageError("--check takes no data (--data, --data-file, --events)")
    try:
        checked = expr.check(args.expression, dialect=args.dialect,
                             variables=_variables(args.var))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except expr.ExprError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_EXPR_ERROR
    print(checked)
    return EXIT_OK


def to_json(value: Any) -> Any:
    """to_json maps an ``expr`` value onto plain JSON-serialisable Python (see module doc)."""
    if value is None or type(value) is bool or type(value) is str:
        return value
    if isinstance(value, expr.UInt):
        return int(value)
    if type(value) is int:
        return value
    if type(value) is float:
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {_key(k): to_json(v) for k, v in value.items()}
    if isinstance(value, expr.Type):
        return str(value)
    return str(value)


def _key(k: Any) -> str:
    if type(k) is bool:
        return "true" if k else "false"
    if isinstance(k, int):
        return str(int(k))
    return str(k)


def render(value: Any, *, raw: bool = False, key: bool = False) -> str:
    """render turns one result into its output line (JSON, raw string, or key string)."""
    if key:
        return expr.go_format(value)
    if raw and type(value) is str:
        return value
    return json.dumps(to_json(value), ensure_ascii=False)


def _load_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise UsageError(f"{where}: JSON nested too deeply") from None
    except ValueError as exc:
        raise UsageError(f"{where}: invalid JSON: {exc}") from None


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None


def _activation(args: argparse.Namespace) -> dict[str, Any]:
    if args.data is not None:
        data = _load_json(args.data, "--data")
    elif args.data_file is not None:
        data = _load_json(_read_text(args.data_file), args.data_file)
    else:
        return {}
    if not isinstance(data, dict):
        raise UsageError("the data must be a JSON object mapping variable names to values")
    return data


def _events(path: str) -> list[tuple[int, Any]]:
    text = _read_text(path)
    return [(n, _load_json(line, f"{path}:{n}"))
            for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def _evaluate(program: Any, activation: dict[str, Any], args: argparse.Namespace) -> str:
    value = program.evaluate(activation)
    try:
        return render(value, raw=args.raw, key=args.key)
    except RecursionError:
        raise expr.ExprEvalError("result nested too deeply to print") from None


def main(argv: Sequence[str] | None = None) -> int:
    """main runs the tool with ``argv`` (default: the process arguments); returns the exit code."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed usage or help already
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        if args.check:
            return _check(args)
        if args.var is not None:
            raise UsageError("--var declares variables for --check only")
        activation = _activation(args)
        events = _events(args.events) if args.events is not None else None
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        program = expr.compile(args.expression, dialect=args.dialect)
    except expr.ExprError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_EXPR_ERROR
    if events is None:
        try:
            print(_evaluate(program, activation, args))
        except expr.ExprError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_EXPR_ERROR
        return EXIT_OK
    status = EXIT_OK
    for lineno, event in events:
        try:
            line = _evaluate(program, {**activation, "event": event}, args)
        except expr.ExprError as exc:
            print(f"{args.events}:{lineno}: error: {exc}", file=sys.stderr)
            line, status = "", EXIT_EXPR_ERROR
        print(line)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
