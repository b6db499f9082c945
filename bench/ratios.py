"""Run ``bench/bench_expr.py`` once and print time ratios per expression (does I/O).

Usage: ``python bench/ratios.py [extra pytest args]``. It runs pytest-benchmark with
``--benchmark-json`` into a temporary file, then prints, for each of the three expressions, the
median and the minimum time of each contender and the ratios that matter: ours / hand-written
(the issue's goal is <= 2), compile time, and how many times faster we are than cel-python and
cel-expr-python when those are installed. Only ratios from the same run are compared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BENCH = HERE / "bench_expr.py"
CONTENDERS = ("ours", "hand", "compile", "celpy", "cel_expr")


def run(extra: list[str]) -> dict[str, Any]:
    """run executes the benchmark file and returns pytest-benchmark's JSON report."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        cmd = [sys.executable, "-m", "pytest", str(BENCH), "--benchmark-only", "-q",
               "-p", "no:cacheprovider", f"--benchmark-json={out}", *extra]
        proc = subprocess.run(cmd, cwd=HERE.parent, check=False)
        if proc.returncode != 0 or not out.exists():
            raise SystemExit(f"benchmark run failed (exit {proc.returncode})")
        report: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
        return report


def timings(report: dict[str, Any], stat: str) -> dict[str, dict[str, float]]:
    """timings maps expression -> contender -> seconds (``stat``: "median" or "min")."""
    table: dict[str, dict[str, float]] = {}
    for b in report["benchmarks"]:
        contender = b["name"].split("[")[0].removeprefix("test_")
        table.setdefault(b["group"], {})[contender] = b["stats"][stat]
    return table


def render(table: dict[str, dict[str, float]]) -> str:
    lines = [f"{'expression':<18} {'ours µs':>9} {'hand µs':>9} {'ours/hand':>10} "
             f"{'compile µs':>11} {'celpy/ours':>11} {'cel_expr/ours':>14}"]
    for name, row in table.items():
        ours = row.get("ours")

        def us(key: str, row: dict[str, float] = row) -> str:
            return f"{row[key] * 1e6:.2f}" if key in row else "-"

        def ratio(num: str, den: str, row: dict[str, float] = row) -> str:
            return f"{row[num] / row[den]:.2f}" if num in row and den in row else "-"

        lines.append(f"{name:<18} {us('ours'):>9} {us('hand'):>9} {ratio('ours', 'hand'):>10} "
                     f"{us('compile'):>11} {ratio('celpy', 'ours'):>11} "
                     f"{ratio('cel_expr', 'ours'):>14}")
        if ours is None:
            lines.append("  (no measurement of ours)")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    os.environ.setdefault("PYTHONHASHSEED", "0")
    report = run(argv)
    for stat in ("median", "min"):
        print(f"\n{stat} times (min is the steadier figure on a loaded machine)")
        print(render(timings(report, stat)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
