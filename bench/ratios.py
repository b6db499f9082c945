"""Run ``bench/bench_expr.py`` once and print time ratios per expression (does I/O).

Usage: ``python bench/ratios.py [--runs N] [extra pytest args]``. It runs pytest-benchmark with
``--benchmark-json`` into a temporary file, then prints, for each of the three expressions, the
median and the minimum time of each contender and the ratios that matter: ours / hand-written
(the issue's goal is <= 2), compile time, and how many times faster we are than cel-python and
cel-expr-python when those are installed. Only ratios from the same run are compared; with
``--runs N`` the benchmark runs N times and the median of the per-run ratios is printed too,
which damps the drift of a shared machine (contenders run one after another, not interleaved).
Last, ours and hand are timed interleaved with ``timeit`` in this process, the steadiest
ours/hand ratio on a busy machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import timeit
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


def median_ratios(tables: list[dict[str, dict[str, float]]]) -> str:
    """median_ratios: per expression, the median over runs of each run's ours/hand ratio."""
    lines = [f"{'expression':<18} {'ours/hand per run':<28} {'median':>7}"]
    for name in tables[0]:
        ratios = sorted(t[name]["ours"] / t[name]["hand"] for t in tables
                        if "ours" in t.get(name, {}) and "hand" in t.get(name, {}))
        if ratios:
            per_run = " ".join(f"{r:.2f}" for r in ratios)
            lines.append(f"{name:<18} {per_run:<28} {ratios[len(ratios) // 2]:>7.2f}")
    return "\n".join(lines)


def interleaved(rounds: int = 7, number: int = 20_000) -> str:
    """interleaved times ours and hand alternately in this process: robust to machine drift."""
    sys.path.insert(0, str(HERE))
    import bench_expr as b

    import expr

    lines = [f"{'expression':<18} {'ours µs':>9} {'hand µs':>9} {'ours/hand':>10}"]
    for name in b.NAMES:
        ours = timeit.Timer("f(a)", globals={"f": expr.compile(b.EXPRESSIONS[name]).evaluate,
                                             "a": b.ACTIVATION})
        hand = timeit.Timer("f(a)", globals={"f": b.HAND[name], "a": b.ACTIVATION})
        best_ours = best_hand = float("inf")
        for _ in range(rounds):
            best_ours = min(best_ours, ours.timeit(number) / number)
            best_hand = min(best_hand, hand.timeit(number) / number)
        lines.append(f"{name:<18} {best_ours * 1e6:>9.3f} {best_hand * 1e6:>9.3f} "
                     f"{best_ours / best_hand:>10.2f}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    os.environ.setdefault("PYTHONHASHSEED", "0")
    runs = 1
    if argv[:1] == ["--runs"] and len(argv) > 1:
        runs, argv = int(argv[1]), argv[2:]
    mins: list[dict[str, dict[str, float]]] = []
    for i in range(runs):
        report = run(argv)
        mins.append(timings(report, "min"))
        for stat in ("median", "min"):
            print(f"\nrun {i + 1}: {stat} times (min is the steadier figure on a loaded machine)")
            print(render(timings(report, stat)))
    if runs > 1:
        print(f"\nours/hand from min times over {runs} runs")
        print(median_ratios(mins))
    print("\ninterleaved timeit (ours and hand alternate; best of 7 x 20,000 calls each)")
    print(interleaved())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
