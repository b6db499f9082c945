"""Plots of a simulation: concurrency and backlog over time per key. Does I/O (writes an
image file).

matplotlib is an optional extra (``pip install 'flowcontrol[plot]'``); without it
``save_plot`` raises ``PlotUnavailable`` with that advice instead of a traceback.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from flowcontrol.sim.simulate import SimResult
from flowcontrol.time import NS_PER_S

__all__ = ["PlotUnavailable", "save_plot", "series"]


class PlotUnavailable(RuntimeError):
    """Plotting is not possible here (matplotlib missing or the file cannot be written)."""


def series(result: SimResult, top: int = 8) -> dict[tuple[str, str], tuple[list[float],
                                                                           list[int], list[int]]]:
    """Step series per (function, key) for the ``top`` busiest keys: (seconds, running,
    backlog), from the simulation's timeline samples."""
    weight: Counter[tuple[str, str]] = Counter()
    for _, fn, group, _running, _backlog in result.timeline:
        weight[(fn, group)] += 1
    keep = {k for k, _ in sorted(weight.items(), key=lambda kv: (-kv[1], kv[0]))[:top]}
    out: dict[tuple[str, str], tuple[list[float], list[int], list[int]]] = {}
    for t, fn, group, running, backlog in result.timeline:
        k = (fn, group)
        if k in keep:
            ts, rs, bs = out.setdefault(k, ([], [], []))
            ts.append((t - result.start) / NS_PER_S)
            rs.append(running)
            bs.append(backlog)
    return out


def save_plot(result: SimResult, path: str, top: int = 8) -> None:
    """Draw running steps and queued runs over time for the busiest keys into ``path``."""
    try:
        import matplotlib  # type: ignore[import-not-found, unused-ignore]

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise PlotUnavailable(
            "matplotlib is not installed; install it with: pip install 'flowcontrol[plot]'"
        ) from None
    data = series(result, top)
    fig: Any
    fig, (ax1, ax2) = plt.subplots(2, 1, sharex=True, figsize=(10, 6))
    for (fn, group), (ts, rs, bs) in data.items():
        label = f"{fn} {group}".strip() if len(result.functions) > 1 else (group or fn)
        ax1.step(ts, rs, where="post", label=label)
        ax2.step(ts, bs, where="post", label=label)
    ax1.set_ylabel("running steps")
    ax2.set_ylabel("queued runs")
    ax2.set_xlabel("seconds since the first event")
    if data:
        ax1.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    try:
        fig.savefig(path)
    except OSError as exc:
        raise PlotUnavailable(f"cannot write {path}: {exc.strerror}") from None
    finally:
        plt.close(fig)
