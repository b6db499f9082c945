"""The package's layers, as import rules.

1. The deterministic core imports no I/O, clock, randomness or concurrency module. Only the
   I/O modules (``IO_MODULES``: the command line, the plot writer, the config file reader,
   and the adapters' sub-packages) may, and each says so in its docstring.
2. A layer imports only the layers below it (``ALLOWED``): machines know nothing of configs,
   the controller nothing of the simulator, nothing imports the command line; ``expr``
   stands alone. No module inside the package imports the package root, whose
   ``__init__`` imports every layer (an upward import in disguise).
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
# Modules and sub-packages (a trailing '/') that talk to the outside world on purpose.
IO_MODULES = {
    "expr/__main__.py",
    "flowcontrol/__main__.py",
    "flowcontrol/cli/",
    "flowcontrol/sim/plot.py",
    "flowcontrol/config/files.py",
    "flowcontrol/redis/",
}

# Layer of a module -> the layers it may import. A layer is the first two parts of a dotted
# module name below ``flowcontrol`` (``flowcontrol.machines``), ``flowcontrol.time`` or
# ``expr``; the package root (``flowcontrol`` itself) is nobody's to import.
ALLOWED: dict[str, set[str]] = {
    "expr": {"expr"},
    "flowcontrol.time": set(),
    "flowcontrol.machines": {"flowcontrol.time", "flowcontrol.machines"},
    "flowcontrol.config": {"flowcontrol.time", "flowcontrol.config", "expr"},
    "flowcontrol.controller": {
        "flowcontrol.time", "flowcontrol.machines", "flowcontrol.config",
        "flowcontrol.controller", "expr",
    },
    "flowcontrol.sim": {
        "flowcontrol.time", "flowcontrol.machines", "flowcontrol.config",
        "flowcontrol.controller", "flowcontrol.sim", "expr",
    },
    "flowcontrol.redis": {"flowcontrol.time", "flowcontrol.machines", "flowcontrol.redis"},
    "flowcontrol.cli": {
        "flowcontrol.time", "flowcontrol.machines", "flowcontrol.config",
        "flowcontrol.controller", "flowcontrol.sim", "flowcontrol.cli", "expr",
    },
}


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def all_modules() -> list[Path]:
    return sorted((ROOT / "flowcontrol").rglob("*.py")) + sorted((ROOT / "expr").rglob("*.py"))


def is_io(path: Path) -> bool:
    r = rel(path)
    return any(r == m or (m.endswith("/") and r.startswith(m)) for m in IO_MODULES)


def core_modules() -> list[Path]:
    return [f for f in all_modules() if not is_io(f)]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str | None:
    """The layer of a dotted module name, or None for the package root and ``__main__``."""
    parts = module.split(".")
    if parts[0] == "expr":
        return "expr"
    if parts[0] != "flowcontrol" or len(parts) < 2 or parts[1] == "__main__":
        return None
    return ".".join(parts[:2])


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


def imported_modules(path: Path) -> set[str]:
    """Every module of ours that ``path`` imports, ``from a.b import c`` counting as
    ``a.b.c`` when ``a.b`` is a package (so ``from flowcontrol import x`` is caught)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module)
            pkg = ROOT.joinpath(*node.module.split("."))
            if pkg.is_dir():
                out.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {m for m in out if m.split(".")[0] in {"flowcontrol", "expr"}}


def layer_violations(path: Path, module: str) -> list[str]:
    layer = layer_of(module)
    bad = []
    for imp in sorted(imported_modules(path)):
        if imp == "flowcontrol":
            if module != "flowcontrol":
                bad.append(f"imports the package root ({imp})")
            continue
        target = layer_of(imp)
        if layer is None or target is None:
            continue
        if target not in ALLOWED[layer]:
            bad.append(f"{layer} may not import {imp}")
    return bad


@pytest.mark.parametrize("path", core_modules(), ids=rel)
def test_core_module_is_deterministic(path: Path) -> None:
    bad = imported_roots(path) & (FORBIDDEN | {f"builtin:{b}" for b in FORBIDDEN_BUILTINS})
    assert not bad, f"{rel(path)} uses {sorted(bad)}"


@pytest.mark.parametrize("path", all_modules(), ids=rel)
def test_module_imports_only_the_layers_below(path: Path) -> None:
    bad = layer_violations(path, module_name(path))
    assert not bad, f"{rel(path)}: {'; '.join(bad)}"


def test_every_layer_has_rules() -> None:
    layers = {layer_of(module_name(p)) for p in all_modules()} - {None}
    assert layers <= set(ALLOWED), sorted(layers - set(ALLOWED))


def test_io_modules_declare_themselves() -> None:
    for path in all_modules():
        if is_io(path):
            doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
            assert "I/O" in doc, f"{rel(path)} must say in its docstring that it does I/O"


def test_every_layer_says_what_it_may_import() -> None:
    for pkg in ("machines", "config", "controller", "sim", "cli"):
        doc = ast.get_docstring(ast.parse((ROOT / "flowcontrol" / pkg / "__init__.py").read_text()))
        assert doc and "import" in doc, f"flowcontrol/{pkg}/__init__.py: say what it may import"


def test_the_scan_sees_the_core() -> None:
    names = {rel(p) for p in core_modules()}
    assert "flowcontrol/time.py" in names
    assert "flowcontrol/machines/gcra.py" in names
    assert any(n.startswith("expr/") for n in names)
    assert not any(n.startswith("flowcontrol/cli/") for n in names)


def test_the_scan_catches_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import time\nfrom os import path\nopen('x')\n")
    assert {"time", "os", "builtin:open"} <= imported_roots(bad)


@pytest.mark.parametrize(
    ("module", "source", "complaint"),
    [
        ("flowcontrol.machines.x", "from flowcontrol.controller.keys import A\n",
         "flowcontrol.machines may not import flowcontrol.controller.keys"),
        ("flowcontrol.machines.x", "import expr\n", "flowcontrol.machines may not import expr"),
        ("flowcontrol.controller.x", "from flowcontrol.sim import simulate\n",
         "flowcontrol.controller may not import flowcontrol.sim"),
        ("flowcontrol.sim.x", "from flowcontrol.cli.main import run\n",
         "flowcontrol.sim may not import flowcontrol.cli.main"),
        ("flowcontrol.config.x", "from flowcontrol.machines.gcra import Throttle\n",
         "flowcontrol.config may not import flowcontrol.machines.gcra"),
        ("flowcontrol.sim.x", "from flowcontrol import Throttle\n",
         "imports the package root"),
        ("expr.x", "from flowcontrol.time import Clock\n", "expr may not import flowcontrol.time"),
    ],
)
def test_the_layer_rules_catch_an_upward_import(
    tmp_path: Path, module: str, source: str, complaint: str
) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(source)
    assert any(complaint in v for v in layer_violations(bad, module))


def test_the_layer_rules_allow_a_downward_import(tmp_path: Path) -> None:
    ok = tmp_path / "ok.py"
    ok.write_text(
        "from flowcontrol.machines.gcra import Throttle\nfrom flowcontrol.time import Clock\n"
    )
    assert layer_violations(ok, "flowcontrol.sim.x") == []
