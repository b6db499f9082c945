"""The deterministic core imports no I/O, clock, randomness or concurrency module.

Only the command-line modules (listed in ``CLI_MODULES``) may, and each says so
in its docstring.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "time", "random", "os", "threading", "asyncio", "socket", "subprocess", "io",
    "multiprocessing", "concurrent", "secrets", "datetime", "select", "selectors",
    "signal", "shutil", "tempfile", "pathlib", "glob", "urllib", "http", "sys",
    "uuid", "sched", "queue", "fileinput", "mmap", "ctypes", "importlib",
}
FORBIDDEN_BUILTINS = {"open", "__import__", "eval", "exec", "input", "print"}
# Modules that talk to the outside world on purpose; each states it in its docstring.
CLI_MODULES = {
    "expr/__main__.py",
    "flowcontrol/__main__.py",
    "flowcontrol/cli.py",
    "flowcontrol/cli_validate.py",
    "flowcontrol/cli_simulate.py",
    "flowcontrol/cli_trace.py",
    "flowcontrol/cli_demo.py",
    "flowcontrol/plot.py",
    "flowcontrol/config/files.py",
}


def core_modules() -> list[Path]:
    files = sorted((ROOT / "flowcontrol").rglob("*.py")) + sorted((ROOT / "expr").rglob("*.py"))
    return [f for f in files if f.relative_to(ROOT).as_posix() not in CLI_MODULES]


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in FORBIDDEN_BUILTINS
        ):
            roots.add(f"builtin:{node.func.id}")
    return roots


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_core_module_is_deterministic(path: Path) -> None:
    bad = imported_roots(path) & (FORBIDDEN | {f"builtin:{b}" for b in FORBIDDEN_BUILTINS})
    assert not bad, f"{path.relative_to(ROOT)} uses {sorted(bad)}"


def test_cli_modules_declare_themselves() -> None:
    for rel in CLI_MODULES:
        path = ROOT / rel
        if path.exists():
            doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
            assert "I/O" in doc, f"{rel} must say in its docstring that it does I/O"


def test_the_scan_sees_the_core() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in core_modules()}
    assert "flowcontrol/_time.py" in names
    assert any(n.startswith("expr/") for n in names)


def test_the_scan_catches_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import time\nfrom os import path\nopen('x')\n")
    assert {"time", "os", "builtin:open"} <= imported_roots(bad)
