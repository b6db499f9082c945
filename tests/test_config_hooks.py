"""``validate`` in the tools CI users run: the pre-commit hook and the README's CI snippets."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

from flowcontrol.cli.main import main
from flowcontrol.config.diagnostics import OUTPUT_FORMATS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
[HOOK] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
FILES = re.compile(HOOK["files"])


def yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", README, re.S)


def test_the_hook_runs_the_installed_command() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["scripts"]
    assert HOOK["id"] == "flowcontrol-validate" and HOOK["language"] == "python"
    command, subcommand = shlex.split(HOOK["entry"])
    assert command in scripts and subcommand == "validate"
    assert HOOK["require_serial"] is True  # one run compares shared keys across files


@pytest.mark.parametrize(("path", "checked"), [
    ("inngest.json", True), ("functions.yaml", True), ("config/functions.yml", True),
    ("flowcontrol.toml", True), ("flow-control.yaml", True), ("inngest-functions.toml", True),
    ("inngest/billing.json", True), ("src/inngest/fns/digest.yaml", True),
    ("package.json", False), ("tsconfig.json", False), ("myfunctions.yaml", False),
    ("src/inngest/functions.ts", False), (".github/workflows/ci.yml", False),
    ("flowcontrol/config/rules.py", False), ("docker-compose.yaml", False),
])
def test_the_hook_picks_the_usual_config_names(path: str, checked: bool) -> None:
    assert bool(FILES.search(path)) is checked


def test_the_readme_names_what_the_hook_checks() -> None:
    for name in ("inngest.json", "config/functions.yaml", "inngest-functions.toml"):
        assert f"`{name}`" in README and FILES.search(name)


def test_the_readme_pre_commit_snippet_uses_the_hook() -> None:
    [config] = [yaml.safe_load(b) for b in yaml_blocks() if "pre-commit" in b or "repos:" in b]
    [repo] = config["repos"]
    assert [h["id"] for h in repo["hooks"]] == [HOOK["id"]]


def test_the_readme_github_actions_step_uses_github_annotations() -> None:
    [steps] = [yaml.safe_load(b) for b in yaml_blocks() if "actions/setup-python" in b]
    [command] = [s["run"] for s in steps if "validate" in s.get("run", "")]
    argv = shlex.split(command)
    assert argv[:2] == ["flowcontrol", "validate"]
    assert argv[argv.index("--format") + 1] == "github" and "github" in OUTPUT_FORMATS


def test_the_hook_command_annotates_for_github(capsys: pytest.CaptureFixture[str]) -> None:
    real = sorted(str(p) for p in (ROOT / "tests" / "configs" / "real").glob("*.json")
                  if not p.name.endswith(".expected.json"))
    assert main(["validate", "--format", "github", *real]) == 0  # warnings only
    out = capsys.readouterr().out
    assert out and all(line.startswith("::warning file=") for line in out.splitlines())
