"""Counters and start latencies of one function or one key, filled in as a simulation runs.

Latencies are kept as 8-byte integers (``array('q')``, nanoseconds) and summarised with
numpy (``numpy.percentile``'s default linear interpolation), so a million runs cost 8 MB,
not a million Python objects.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from flowcontrol.time import NS_PER_MS, NS_PER_S

__all__ = ["EVENT_OUTCOMES", "RUN_STATUSES", "Stats", "number"]

EVENT_OUTCOMES = ("run", "dropped", "skipped", "debounced", "batched", "superseded")
RUN_STATUSES = ("completed", "cancelled", "skipped", "pending")


def number(x: float) -> float | int:
    """A JSON-stable number: an int when whole, else rounded to 6 decimals."""
    if x == int(x) and abs(x) < 2**53:
        return int(x)
    return round(x, 6)


@dataclass(slots=True)
class Stats:
    """Counts and latencies of one function, or of one key of a function."""

    events_in: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EVENT_OUTCOMES, 0))
    runs: int = 0
    runs_started: int = 0
    completed: int = 0
    cancelled: int = 0
    skipped_runs: int = 0
    latencies: array[int] = field(default_factory=lambda: array("q"))
    peak_concurrency: int = 0

    @property
    def pending(self) -> int:
        """Runs that neither completed, nor were cancelled or skipped."""
        return self.runs - self.completed - self.cancelled - self.skipped_runs

    @classmethod
    def merged(cls, parts: Iterable[Stats]) -> Stats:
        """The sum of several key's stats (peak concurrency is not additive: left 0)."""
        out = cls()
        for p in parts:
            out.events_in += p.events_in
            for k, v in p.outcomes.items():
                out.outcomes[k] += v
            out.runs += p.runs
            out.runs_started += p.runs_started
            out.completed += p.completed
            out.cancelled += p.cancelled
            out.skipped_runs += p.skipped_runs
            out.latencies.extend(p.latencies)
        return out

    def latency_ms(self) -> dict[str, float | int | None]:
        """p50, p90, p99, max and mean start latency in ms (None when nothing started)."""
        if not self.latencies:
            return {"p50": None, "p90": None, "p99": None, "max": None, "mean": None}
        a = np.frombuffer(self.latencies, dtype=np.int64).astype(np.float64) / NS_PER_MS
        p50, p90, p99 = np.percentile(a, [50.0, 90.0, 99.0])
        return {
            "p50": number(float(p50)),
            "p90": number(float(p90)),
            "p99": number(float(p99)),
            "max": number(float(a.max())),
            "mean": number(float(a.mean())),
        }

    def over(self, threshold_ns: int) -> int:
        """How many runs started more than ``threshold_ns`` after they were created."""
        if not self.latencies:
            return 0
        a = np.frombuffer(self.latencies, dtype=np.int64)
        return int(np.count_nonzero(a > threshold_ns))

    def to_dict(self, span_ns: int) -> dict[str, Any]:
        """The JSON form (``docs/simulate-json.md``)."""
        span_s = span_ns / NS_PER_S
        return {
            "events_in": self.events_in,
            "events": dict(self.outcomes),
            "runs": self.runs,
            "runs_started": self.runs_started,
            "runs_completed": self.completed,
            "runs_cancelled": self.cancelled,
            "runs_skipped": self.skipped_runs,
            "runs_pending": self.pending,
            "start_latency_ms": self.latency_ms(),
            "peak_concurrency": self.peak_concurrency,
            "throughput_per_s": number(self.completed / span_s) if span_s > 0 else None,
        }
