"""The code table is complete: every code the package emits is in it, and each entry is used."""

from __future__ import annotations

import re
from pathlib import Path

from flowcontrol.config.codes import CODES, Severity, severity_of

PACKAGE = Path(__file__).resolve().parent.parent / "flowcontrol"


def emitted_codes() -> set[str]:
    found: set[str] = set()
    for path in [*(PACKAGE / "config").glob("*.py"), PACKAGE / "cli" / "validate.py"]:
        if path.name == "codes.py":
            continue
        found |= set(re.findall(r'"(FC\d{3})"', path.read_text(encoding="utf-8")))
    return found


def test_every_emitted_code_is_in_the_table() -> None:
    assert emitted_codes() - set(CODES) == set()


def test_every_code_in_the_table_is_emitted() -> None:
    assert set(CODES) - emitted_codes() == set()


def test_code_ranges_match_severities() -> None:
    for code, (severity, title) in CODES.items():
        assert re.fullmatch(r"FC\d{3}", code) and title
        expected = {"0": Severity.FATAL, "1": Severity.ERROR, "2": Severity.WARNING}[code[2]]
        assert severity is expected == severity_of(code), code
