"""Reading config and sample-event files. Does I/O (the only module of the package that does).

``load_functions(path)`` is the entry point for embedders and the simulator: it reads one
file (JSON, YAML or TOML, chosen by suffix, else sniffed), validates it and returns the
configs of the functions without errors plus every diagnostic.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flowcontrol.config.diagnostics import Diagnostic
from flowcontrol.config.model import FunctionConfig
from flowcontrol.config.validate import Result, validate_text

__all__ = ["detect_format", "load_functions", "read_events", "validate_file"]

SUFFIXES = {".json": "json", ".yaml": "yaml", ".yml": "yaml", ".toml": "toml"}


def detect_format(path: str | Path, text: str = "") -> str:
    """``json``/``yaml``/``toml`` from the suffix; otherwise JSON if it looks like JSON."""
    fmt = SUFFIXES.get(Path(path).suffix.lower())
    if fmt is not None:
        return fmt
    return "json" if text.lstrip()[:1] in ("{", "[") else "yaml"


def _read(path: str | Path, name: str) -> tuple[str | None, Diagnostic | None]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return None, Diagnostic.make("FC001", f"cannot read {name}: {reason}", file=name)
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        return None, Diagnostic.make("FC001", f"cannot read {name}: not UTF-8 text "
                                     f"(byte {exc.start})", file=name)


def validate_file(path: str | Path, fmt: str | None = None) -> Result:
    """Read and validate one config file; never raises."""
    name = str(path)
    text, problem = _read(path, name)
    if text is None:
        assert problem is not None
        return Result(diagnostics=[problem])
    return validate_text(text, fmt or detect_format(path, text), name)


def load_functions(path: str | Path) -> tuple[list[FunctionConfig], list[Diagnostic]]:
    """Read, validate and build the functions of one config file.

    Returns the configs of the functions that have no errors, and all diagnostics
    (errors and warnings, sorted by position)."""
    from flowcontrol.config.lint import lint

    result = validate_file(path)
    diagnostics = result.diagnostics + lint(result.entries)
    diagnostics.sort(key=lambda d: (d.line or 0, d.column or 0, d.code))
    return result.functions, diagnostics


def read_events(path: str | Path) -> tuple[list[dict[str, Any]], list[Diagnostic]]:
    """Read sample events: JSON Lines (one event object per line) or one JSON array."""
    name = str(path)
    text, problem = _read(path, name)
    if text is None:
        assert problem is not None
        return [], [problem]
    events: list[dict[str, Any]] = []
    problems: list[Diagnostic] = []
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            return [], [Diagnostic.make("FC002", f"cannot parse events: {exc.msg}",
                                        line=exc.lineno, column=exc.colno, file=name)]
        rows = [(i + 1, e) for i, e in enumerate(data)] if isinstance(data, list) else []
    else:
        rows = []
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append((lineno, json.loads(line)))
            except json.JSONDecodeError as exc:
                problems.append(Diagnostic.make("FC002", f"cannot parse event: {exc.msg}",
                                                line=lineno, column=exc.colno, file=name))
    for lineno, event in rows:
        if isinstance(event, dict):
            events.append(event)
        else:
            problems.append(Diagnostic.make("FC002", "an event must be a JSON object",
                                            line=lineno, column=1, file=name))
    return events, problems
