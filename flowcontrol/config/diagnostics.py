"""Diagnostics and their renderings: text (flake8 style), JSON, SARIF 2.1.0, GitHub annotations.

A ``Diagnostic`` names one problem: a stable code (see ``codes.CODES``), its severity, the
path into the document (``$.functions[0].throttle.period``), the 1-based line and column
where the offending value starts (``None`` when the config came from plain data), and a
message saying what is wrong and what is allowed. Renderers return strings; printing is the
command line's job.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from flowcontrol.config.codes import CODES, Severity, severity_of

__all__ = ["OUTPUT_FORMATS", "Diagnostic", "has_errors", "render", "render_github",
           "render_json", "render_sarif", "render_text", "sort_key"]

OUTPUT_FORMATS: Final = ("text", "json", "sarif", "github")


@dataclass(frozen=True, slots=True, kw_only=True)
class Diagnostic:
    """One problem found in one file."""

    code: str
    message: str
    path: str = "$"
    line: int | None = None
    column: int | None = None
    file: str = "<config>"
    severity: Severity = field(default=Severity.ERROR)

    @classmethod
    def make(cls, code: str, message: str, *, path: str = "$", line: int | None = None,
             column: int | None = None, file: str = "<config>") -> Diagnostic:
        """Build a diagnostic whose severity comes from the code table."""
        return cls(code=code, message=message, path=path, line=line, column=column, file=file,
                   severity=severity_of(code))

    @property
    def is_error(self) -> bool:
        """True for errors and fatal (parse/read) failures."""
        return self.severity is not Severity.WARNING

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form."""
        return {"file": self.file, "line": self.line, "column": self.column,
                "code": self.code, "severity": self.severity.value, "path": self.path,
                "message": self.message}


def sort_key(d: Diagnostic) -> tuple[str, int, int, str, str]:
    """Order by file, position, code."""
    return (d.file, d.line or 0, d.column or 0, d.code, d.path)


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    """True when any diagnostic is an error (warnings do not count)."""
    return any(d.is_error for d in diagnostics)


def render_text(diagnostics: Sequence[Diagnostic]) -> str:
    """``FILE:LINE:COL: CODE message`` per line (line/column 1 when unknown)."""
    return "".join(
        f"{d.file}:{d.line or 1}:{d.column or 1}: {d.code} {d.message} [{d.path}]\n"
        for d in diagnostics
    )


def render_json(diagnostics: Sequence[Diagnostic]) -> str:
    """A JSON array of diagnostic objects."""
    return json.dumps([d.to_dict() for d in diagnostics], indent=2, ensure_ascii=False) + "\n"


def _escape_github(text: str, *, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def render_github(diagnostics: Sequence[Diagnostic]) -> str:
    """GitHub Actions workflow commands (``::error file=...,line=...,col=...::msg``)."""
    out = []
    for d in diagnostics:
        level = "warning" if d.severity is Severity.WARNING else "error"
        props = [f"file={_escape_github(d.file, prop=True)}"]
        if d.line is not None:
            props.append(f"line={d.line}")
        if d.column is not None:
            props.append(f"col={d.column}")
        props.append(f"title={_escape_github(d.code, prop=True)}")
        out.append(f"::{level} {','.join(props)}::{_escape_github(f'{d.code} {d.message}')}\n")
    return "".join(out)


def render_sarif(diagnostics: Sequence[Diagnostic], *, tool_version: str = "0.1.0") -> str:
    """A SARIF 2.1.0 log with one run (columns counted in Unicode code points)."""
    used = sorted({d.code for d in diagnostics})
    rules = [
        {"id": code, "name": code, "shortDescription": {"text": CODES[code][1]},
         "defaultConfiguration": {"level": _sarif_level(CODES[code][0])}}
        for code in used if code in CODES
    ]
    index = {code: i for i, code in enumerate(c for c in used if c in CODES)}
    results = []
    for d in diagnostics:
        region: dict[str, int] = {}
        if d.line is not None:
            region["startLine"] = d.line
        if d.column is not None:
            region["startColumn"] = d.column
        location: dict[str, Any] = {"artifactLocation": {"uri": d.file}}
        if region:
            location["region"] = region
        result: dict[str, Any] = {
            "ruleId": d.code,
            "level": _sarif_level(d.severity),
            "message": {"text": d.message},
            "locations": [{"physicalLocation": location,
                           "logicalLocations": [{"fullyQualifiedName": d.path,
                                                 "kind": "member"}]}],
        }
        if d.code in index:
            result["ruleIndex"] = index[d.code]
        results.append(result)
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "flowcontrol", "version": tool_version,
                                "rules": rules}},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


def _sarif_level(severity: Severity) -> str:
    return "warning" if severity is Severity.WARNING else "error"


def render(diagnostics: Sequence[Diagnostic], fmt: str) -> str:
    """Render in one of ``OUTPUT_FORMATS``."""
    if fmt == "text":
        return render_text(diagnostics)
    if fmt == "json":
        return render_json(diagnostics)
    if fmt == "sarif":
        return render_sarif(diagnostics)
    if fmt == "github":
        return render_github(diagnostics)
    raise ValueError(f"unknown output format {fmt!r} (expected one of {', '.join(OUTPUT_FORMATS)})")
