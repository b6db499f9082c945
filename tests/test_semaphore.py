"""RunSemaphore: the run-level semaphore of function concurrency.

Tables ported from inngest/inngest (at 253303cd) ``pkg/constraintapi/semaphore_test.go``:
``TestSemaphoreAcquire``, ``TestSemaphoreEvaluatedKeyHashIsolation``,
``TestSemaphoreSameEvaluatedKeyHashShared`` and ``TestSemaphoreManager`` ("release
semaphore idempotency"); the naming rules from ``pkg/constraintapi/semaphore.go``
(``SemaphoreIDFn``, ``SemaphoreIDFnKey``).
"""

from __future__ import annotations

import json

import pytest

from flowcontrol.machines.semaphore import (
    RunSemaphore,
    SemaphoreAcquired,
    SemaphoreRefused,
    SemaphoreUsage,
)


def test_acquire_until_the_capacity_is_exhausted() -> None:
    # TestSemaphoreAcquire: capacity 2; two acquires succeed, the third gets nothing.
    s = RunSemaphore()
    s.register("fn", 2)
    assert s.acquire("fn", None, "acq1").ok
    assert s.in_use("fn").in_use == 1
    assert s.acquire("fn", None, "acq2").ok
    assert s.in_use("fn").in_use == 2
    got = s.acquire("fn", None, "acq3")
    assert got == SemaphoreRefused("acq3", SemaphoreUsage("fn", None, 2, 2, "s:2:fn"))
    assert got.reason == "run concurrency: 2/2 runs in progress"
    assert len(s) == 2


# TestSemaphoreEvaluatedKeyHashIsolation (capacity 2 per evaluated key, customers A and B)
# and TestSemaphoreSameEvaluatedKeyHashShared (capacity 1, one customer twice):
# (capacity, [(key, granted)]) in order.
KEYED: list[tuple[str, int, list[tuple[str, bool]]]] = [
    ("isolation", 2, [("customer-a", True), ("customer-b", True), ("customer-a", True),
                      ("customer-a", False), ("customer-b", True)]),
    ("same key shared", 1, [("same-customer", True), ("same-customer", False)]),
]


@pytest.mark.parametrize(("capacity", "steps"), [r[1:] for r in KEYED],
                         ids=[r[0] for r in KEYED])
def test_each_evaluated_key_has_its_own_counter(capacity: int,
                                                steps: list[tuple[str, bool]]) -> None:
    s = RunSemaphore()
    s.register("fn", capacity, "event.data.customer")
    for i, (key, granted) in enumerate(steps):
        assert s.acquire("fn", key, f"run-{i}").ok is granted, (i, key)


def test_release_is_idempotent_per_run() -> None:
    # TestSemaphoreManager "release semaphore idempotency": the run id is the
    # idempotency key, so a repeated release does not decrement twice.
    s = RunSemaphore()
    s.register("fn", 5)
    for i in range(5):
        assert s.acquire("fn", None, f"run-{i}").ok
    assert s.release("run-0") == "s:2:fn"
    assert s.release("run-0") is None
    assert s.in_use("fn").in_use == 4
    assert s.release("never-started") is None
    assert s.in_use("fn").in_use == 4


def test_counters_belong_to_one_function_even_with_the_same_key_text() -> None:
    # SemaphoreIDFnKey hashes the function id with the expression text.
    s = RunSemaphore()
    s.register("f", 1, "event.data.user")
    s.register("g", 1, "event.data.user")
    assert s.acquire("f", "u1", "r1").ok
    assert s.acquire("g", "u1", "r2").ok
    assert s.counter_id("f", "u1") != s.counter_id("g", "u1")
    assert s.counter_id("f", "u1") == "s:1:f:15:event.data.user:u1"


def test_a_freed_slot_admits_the_next_run() -> None:
    s = RunSemaphore()
    s.register("fn", 1, "event.data.user")
    assert s.acquire("fn", "u", "r1") == SemaphoreAcquired("r1", "fn", s.counter_id("fn", "u"))
    assert not s.acquire("fn", "u", "r2").ok
    s.release("r1")
    assert s.acquire("fn", "u", "r2").ok


def test_redeploy_changes_the_limit_for_later_acquires_only() -> None:
    s = RunSemaphore()
    s.register("fn", 2)
    assert s.acquire("fn", None, "r1").ok and s.acquire("fn", None, "r2").ok
    s.register("fn", 1)  # held slots stay held
    assert s.in_use("fn") == SemaphoreUsage("fn", None, 2, 1, "s:2:fn")
    s.release("r1")
    assert not s.acquire("fn", None, "r3").ok
    s.release("r2")
    assert s.acquire("fn", None, "r3").ok


@pytest.mark.parametrize(("call", "message"), [
    (lambda s: s.register("fn", 0), "function concurrency limit must be > 0"),
    (lambda s: s.register("", 1), "function_id must be a non-empty string"),
    (lambda s: s.acquire("fn", "k", "r"), "takes no key as its key"),
    (lambda s: s.acquire("fn", None, ""), "holder must be a non-empty string"),
])
def test_misuse_raises_value_error(call: object, message: str) -> None:
    s = RunSemaphore()
    s.register("fn", 1)
    with pytest.raises(ValueError, match=message):
        call(s)  # type: ignore[operator]


def test_a_holder_holds_one_slot_and_unknown_functions_are_lookup_errors() -> None:
    s = RunSemaphore()
    s.register("fn", 3)
    s.acquire("fn", None, "r1")
    with pytest.raises(ValueError, match="already holds"):
        s.acquire("fn", None, "r1")
    with pytest.raises(LookupError, match="not registered"):
        s.acquire("nope", None, "r2")


def test_snapshot_round_trips_and_bad_snapshots_name_the_place() -> None:
    s = RunSemaphore()
    s.register("fn", 2, "event.data.user")
    s.acquire("fn", "u1", "r1")
    data = json.loads(json.dumps(s.snapshot()))
    again = RunSemaphore.from_snapshot(data)
    assert again.snapshot() == s.snapshot()
    assert again.in_use("fn", "u1").in_use == 1
    bad = {**data, "held": [["r1", "fn", "u1"], ["r1", "fn", "u2"]]}
    with pytest.raises(ValueError, match=r"held\[1\]: 'r1' holds two slots"):
        RunSemaphore.from_snapshot(bad)
    with pytest.raises(ValueError, match=r"held\[0\]: function 'other' is not registered"):
        RunSemaphore.from_snapshot({**data, "held": [["r1", "other", None]]})
    with pytest.raises(ValueError, match=r"functions\[0\]: function concurrency limit"):
        RunSemaphore.from_snapshot({**data, "functions": [
            {"function_id": "fn", "limit": 0, "key_expr": None}]})
