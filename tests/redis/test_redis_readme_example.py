"""The README's two-process example runs and keeps its promise."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from conftest import RedisServer

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shared_throttle.py"


def test_two_processes_share_one_throttle(redis_server: RedisServer) -> None:
    with redis_server.client() as c:
        c.flushall()
    out = subprocess.run([sys.executable, str(EXAMPLE), redis_server.url, "2"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    counts = [int(x) for x in re.search(r"started \[(\d+), (\d+)\]", out).groups()]  # type: ignore[union-attr]
    # At most the burst of 5, then 2 per second over the 2 s both workers share; at least
    # one start even when spawning the workers eats most of those 2 s.
    assert 1 <= sum(counts) <= 5 + 4 + 1
    assert out.count("starts a job") == sum(counts)
