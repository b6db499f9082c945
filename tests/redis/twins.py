"""Helpers for the tests that drive an in-memory machine and its Redis twin side by side."""

from __future__ import annotations

import itertools
from typing import Any

S = 1_000_000_000
STARTS = (0, 2**53 - 3 * S, 1_765_432_101_234_567_891, 2**62)
"""Clock starts: zero, just below where doubles stop being exact, today in Unix ns, 2**62."""

_names = itertools.count()


def fresh_name() -> str:
    """A machine name not used before in this process (one per Hypothesis example)."""
    return f"eq{next(_names)}"


class Clock:
    """One clock for both machines; the test moves it anywhere, backwards too."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def same(call: str, a: Any, b: Any, *args: Any, **kwargs: Any) -> Any:
    """Call ``call`` on both machines; the answers (or exception types) must be equal."""
    results = []
    for m in (a, b):
        try:
            results.append(("ok", getattr(m, call)(*args, **kwargs)))
        except (LookupError, TypeError, ValueError) as e:
            results.append(("raised", type(e)))
    assert results[0] == results[1], (call, args, kwargs, results)
    return results[0][1]
