"""Benchmarks: reading and validating a large config document.

The document is a registration payload with ``FUNCTIONS`` functions shaped like the seed
examples (throttle, keyed concurrency, debounce, priority, batching...). Contenders, all
on the same text in the same run:

* ``stdlib_json``: ``json.loads`` (the C decoder): the floor for turning text into data;
* ``stdlib_pure``: the standard library's own pure-Python decoder (``py_make_scanner`` with
  ``py_scanstring``): the floor for a decoder written in Python, without positions;
* ``parse_json``: our position-tracking parser (every value with its line and column);
* ``validate``: parse plus every rule (expressions compile through expr's cache);
* ``validate_lint``: the above plus the interaction warnings.

Only ratios from one run mean anything. Run ``python bench/bench_config.py`` for the ratios
(interleaved runs, best of each),
or ``pytest bench/bench_config.py --benchmark-only``.
"""

from __future__ import annotations

import json
import json.decoder
import json.scanner
import timeit
from collections.abc import Callable
from typing import Any

import pytest

from flowcontrol.config.lint import lint
from flowcontrol.config.source import parse_json
from flowcontrol.config.validate import validate_text

FUNCTIONS = 200


def document(n: int = FUNCTIONS) -> str:
    """A registration payload with ``n`` functions cycling through the seed shapes."""
    shapes: list[dict[str, Any]] = [
        {"throttle": {"limit": 10, "period": "60s", "burst": 5, "key": "event.data.customer_id"}},
        {"concurrency": [{"key": "event.data.user_id", "limit": 3}],
         "priority": {"run": "event.data.plan == 'pro' ? 60 : 0"}},
        {"debounce": {"period": "5m", "key": "event.data.document_id", "timeout": "30m"}},
        {"batchEvents": {"maxSize": 100, "timeout": "30s", "key": "event.data.campaign_id"}},
        {"singleton": {"key": "event.data.user_id", "mode": "cancel"},
         "rateLimit": {"limit": 1, "period": "4h", "key": "event.data.webhook_id"}},
    ]
    functions = []
    for i in range(n):
        fn: dict[str, Any] = {"id": f"app-fn-{i}", "name": f"fn {i}",
                              "triggers": [{"event": f"app/event.{i % 17}"}],
                              "steps": {"step": {"id": "step", "name": "step", "runtime": {
                                  "type": "http", "url": f"https://app.example/api?fnId={i}"}}}}
        fn.update(shapes[i % len(shapes)])
        functions.append(fn)
    return json.dumps({"appName": "app", "functions": functions}, indent=2)


TEXT = document()


def _pure_python_decoder() -> json.JSONDecoder:
    decoder = json.JSONDecoder()
    decoder.parse_string = json.decoder.py_scanstring  # type: ignore[attr-defined]
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]
    return decoder


PURE = _pure_python_decoder()


def _validate_lint() -> None:
    lint(validate_text(TEXT, "json", "bench.json").entries)


CASES: dict[str, Callable[[], object]] = {
    "stdlib_json": lambda: json.loads(TEXT),
    "stdlib_pure": lambda: PURE.decode(TEXT),
    "parse_json": lambda: parse_json(TEXT),
    "validate": lambda: validate_text(TEXT, "json", "bench.json"),
    "validate_lint": _validate_lint,
}


@pytest.mark.parametrize("case", list(CASES))
def test_config(benchmark: Any, case: str) -> None:
    benchmark.group = "config"
    benchmark.extra_info["functions"] = FUNCTIONS
    benchmark(CASES[case])


def test_the_baselines_agree() -> None:
    assert PURE.decode(TEXT) == json.loads(TEXT) == parse_json(TEXT).plain()


def test_the_document_is_valid() -> None:
    result = validate_text(TEXT, "json", "bench.json")
    assert [d for d in result.diagnostics if d.is_error] == []
    assert len(result.functions) == FUNCTIONS


def main(rounds: int = 30) -> None:
    """Print the best time per case and its ratios to both baselines. The cases run
    interleaved, ``rounds`` times each, and the minimum is kept: on a busy machine that is
    the figure least disturbed by other load."""
    best = dict.fromkeys(CASES, float("inf"))
    for fn in CASES.values():
        fn()  # warm caches
    for _ in range(rounds):
        for name, fn in CASES.items():
            best[name] = min(best[name], timeit.timeit(fn, number=1))
    base, pure = best["stdlib_json"], best["stdlib_pure"]
    print(f"{FUNCTIONS} functions, {len(TEXT)} characters, best of {rounds} interleaved runs")
    for name, t in best.items():
        print(f"{name:>14}: {t * 1e3:8.2f} ms  {t / base:6.1f}x json.loads  "
              f"{t / pure:5.2f}x pure-Python json")


if __name__ == "__main__":
    main()
