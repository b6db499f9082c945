"""The public names survive the package's layout: ``from flowcontrol import X`` for every
name in ``__all__``, each defined in a layer module, and the README's Python examples run."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

import flowcontrol
import flowcontrol.config

LAYERS = ("flowcontrol.time", "flowcontrol.machines.", "flowcontrol.controller.")
README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.mark.parametrize("name", flowcontrol.__all__)
def test_every_public_name_imports_from_the_root(name: str) -> None:
    obj = getattr(importlib.import_module("flowcontrol"), name)
    home = getattr(obj, "__module__", "")
    if home.startswith("flowcontrol"):  # (Clock is an alias of a collections.abc type)
        assert home.startswith(LAYERS), f"{name} lives in {home}, outside the layers"


@pytest.mark.parametrize("name", flowcontrol.config.__all__)
def test_every_config_name_imports(name: str) -> None:
    assert getattr(flowcontrol.config, name) is not None


def readme_python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_the_readme_has_python_examples() -> None:
    assert len(readme_python_blocks()) >= 3


@pytest.mark.parametrize("index", range(len(readme_python_blocks())))
def test_a_readme_python_example_runs(index: int) -> None:
    exec(compile(readme_python_blocks()[index], f"README.md block {index}", "exec"), {})
