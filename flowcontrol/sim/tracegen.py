"""Synthetic event traces from a seed, so policies can be tried without production data.

``generate(TraceSpec(...))`` returns events in the platform's shape
(``{"name", "data", "id", "ts"}`` with ``ts`` in integer milliseconds), sorted by ``ts``.
Arrivals follow one of two patterns:

* ``poisson``: exponential gaps at ``rate`` events per second;
* ``bursty``: an on/off process: quiet stretches at ``rate`` alternate with bursts at
  ``rate * burst_factor``; stretch lengths are exponential with the given means.

Each event belongs to one of ``keys`` users drawn from a finite Zipf distribution
(``P(k) ∝ 1 / k**zipf``; ``zipf=0`` is uniform), written to ``data[key_field]`` as
``"user-<k>"``; a fixed fraction of users is on the ``pro`` plan (``data.plan``).

Randomness comes only from ``numpy.random.default_rng(seed)``: the same spec gives the same
events, byte for byte, on every machine with the same numpy major version.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = ["PATTERNS", "TraceSpec", "dumps_jsonl", "generate", "iter_jsonl", "iterate",
           "jsonl_lines"]

PATTERNS = ("poisson", "bursty")


@dataclass(frozen=True, slots=True, kw_only=True)
class TraceSpec:
    """What to generate; every field has a sensible default."""

    events: int = 1000
    pattern: Literal["poisson", "bursty"] = "poisson"
    rate: float = 1.0  # events per second (the quiet rate for ``bursty``)
    burst_factor: float = 10.0
    mean_quiet_s: float = 60.0
    mean_burst_s: float = 10.0
    keys: int = 100
    zipf: float = 1.1
    pro_fraction: float = 0.2
    name: str = "app/event"
    key_field: str = "user_id"
    start_ms: int = 0
    seed: int = 0

    def problems(self) -> list[str]:
        """Say what is wrong with this spec (empty when it is usable)."""
        out: list[str] = []
        if self.events < 0:
            out.append(f"events must be >= 0, got {self.events}")
        if self.pattern not in PATTERNS:
            out.append(f"pattern must be one of {', '.join(PATTERNS)}, got {self.pattern!r}")
        if not self.rate > 0:
            out.append(f"rate must be > 0 events per second, got {self.rate}")
        if not self.burst_factor >= 1:
            out.append(f"burst factor must be >= 1, got {self.burst_factor}")
        if not (self.mean_quiet_s > 0 and self.mean_burst_s > 0):
            out.append("mean quiet and burst lengths must be > 0 seconds")
        if self.keys < 1:
            out.append(f"keys must be >= 1, got {self.keys}")
        if not self.zipf >= 0:
            out.append(f"zipf exponent must be >= 0, got {self.zipf}")
        if not 0 <= self.pro_fraction <= 1:
            out.append(f"pro fraction must be within 0..1, got {self.pro_fraction}")
        if not self.name:
            out.append("event name must not be empty")
        if self.seed < 0:
            out.append(f"seed must be >= 0, got {self.seed}")
        return out


def _arrivals_s(spec: TraceSpec, rng: np.random.Generator) -> np.ndarray[Any, Any]:
    n = spec.events
    if spec.pattern == "poisson":
        return np.cumsum(rng.exponential(1.0 / spec.rate, size=n))
    # bursty: walk alternating quiet/burst stretches, drawing gaps at each stretch's rate.
    out = np.empty(n, dtype=np.float64)
    t, i, bursting = 0.0, 0, False
    while i < n:
        mean = spec.mean_burst_s if bursting else spec.mean_quiet_s
        end = t + float(rng.exponential(mean))
        rate = spec.rate * (spec.burst_factor if bursting else 1.0)
        # Enough gaps to cover the stretch in one draw, most of the time.
        want = min(n - i, int((end - t) * rate * 1.5) + 8)
        gaps = rng.exponential(1.0 / rate, size=want)
        times = t + np.cumsum(gaps)
        inside = times[times < end]
        take = min(len(inside), n - i)
        out[i : i + take] = inside[:take]
        i += take
        t = end
        bursting = not bursting
    return out


def _zipf_keys(spec: TraceSpec, rng: np.random.Generator) -> np.ndarray[Any, Any]:
    ranks = np.arange(1, spec.keys + 1, dtype=np.float64)
    weights = ranks ** (-spec.zipf)
    return rng.choice(spec.keys, size=spec.events, p=weights / weights.sum())


def iterate(spec: TraceSpec) -> Iterator[dict[str, Any]]:
    """Yield the events ``spec`` describes one at a time, in ``ts`` order.

    The random draws are made up front as numpy arrays (16 bytes per event); the event
    dicts are built lazily, so a million-event trace can stream into ``simulate``.
    Raises ``ValueError`` on a bad spec (before yielding anything).
    """
    ts, keys, pro = _draws(spec)
    return _events(spec, ts, keys, pro)


def _draws(spec: TraceSpec) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], list[bool]]:
    """The arrival times (ms), users and plans ``spec`` describes (raises ValueError)."""
    bad = spec.problems()
    if bad:
        raise ValueError("; ".join(bad))
    rng = np.random.default_rng(spec.seed)
    arrivals = _arrivals_s(spec, rng)
    keys = _zipf_keys(spec, rng)
    pro = rng.random(spec.keys) < spec.pro_fraction
    return spec.start_ms + np.floor(arrivals * 1000.0).astype(np.int64), keys, pro.tolist()


def jsonl_lines(spec: TraceSpec) -> Iterator[str]:
    """The lines of ``dumps_jsonl(generate(spec))``, one event each, made lazily from
    per-user pieces (no event dicts, no ``json.dumps`` per event). Raises ``ValueError``
    on a bad spec (before yielding anything)."""
    ts, keys, pro = _draws(spec)
    if spec.key_field == "plan":  # one field in data, not two: the general way
        return (dumps_jsonl([e]) for e in _events(spec, ts, keys, pro))
    return _lines(spec, ts, keys, pro)


def _lines(
    spec: TraceSpec, ts: np.ndarray[Any, Any], keys: np.ndarray[Any, Any], pro: list[bool]
) -> Iterator[str]:
    def text(v: str) -> str:
        return json.dumps(v, ensure_ascii=False)

    head = f'{{"name":{text(spec.name)},"data":{{{text(spec.key_field)}:'
    heads = [f'{head}{text(f"user-{k + 1}")},"plan":"{"pro" if p else "free"}"}},"id":"evt-'
             f'{spec.seed}-' for k, p in enumerate(pro)]
    for start in range(0, len(ts), _CHUNK):
        chunk_ts = ts[start : start + _CHUNK].tolist()
        chunk_keys = keys[start : start + _CHUNK].tolist()
        for j, (t, k) in enumerate(zip(chunk_ts, chunk_keys, strict=True), start):
            yield f'{heads[k]}{j:07d}","ts":{t}}}\n'


_CHUNK = 1 << 16


def _events(
    spec: TraceSpec,
    ts: np.ndarray[Any, Any],
    keys: np.ndarray[Any, Any],
    pro: list[bool],
) -> Iterator[dict[str, Any]]:
    name, field, seed = spec.name, spec.key_field, spec.seed
    users = [f"user-{k + 1}" for k in range(spec.keys)]
    plans = ["pro" if p else "free" for p in pro]
    for start in range(0, len(ts), _CHUNK):  # a chunk at a time: no list of all events
        chunk_ts = ts[start : start + _CHUNK].tolist()
        chunk_keys = keys[start : start + _CHUNK].tolist()
        for j, (t, k) in enumerate(zip(chunk_ts, chunk_keys, strict=True)):
            yield {
                "name": name,
                "data": {field: users[k], "plan": plans[k]},
                "id": f"evt-{seed}-{start + j:07d}",
                "ts": t,
            }


def generate(spec: TraceSpec) -> list[dict[str, Any]]:
    """Generate the events ``spec`` describes (raises ``ValueError`` on a bad spec)."""
    return list(iterate(spec))


def dumps_jsonl(events: list[dict[str, Any]]) -> str:
    """Serialise events as JSON Lines, one compact object per line, ending in a newline."""
    return "".join(json.dumps(e, separators=(",", ":"), ensure_ascii=False) + "\n" for e in events)


def iter_jsonl(text: str) -> Iterator[dict[str, Any]]:
    """Parse JSON Lines produced by ``dumps_jsonl`` (blank lines skipped)."""
    for line in text.splitlines():
        if line.strip():
            yield json.loads(line)
