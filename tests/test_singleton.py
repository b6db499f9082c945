"""Singleton: the spec's section 8 and the seed pages, as step tables."""

from __future__ import annotations

import json

import pytest

from flowcontrol import Singleton, SingletonSkipped, SingletonStarted

# A step: ("arrive", key, run) -> expected decision, or ("finish", run) / ("release", key, run)
# -> expected return value.
Step = tuple[object, ...]


def run_steps(s: Singleton, steps: list[Step]) -> None:
    for i, step in enumerate(steps):
        op, *args, want = step
        if op == "arrive":
            got: object = s.acquire(args[0], args[1])  # type: ignore[arg-type]
        elif op == "finish":
            got = s.run_finished(args[0])  # type: ignore[arg-type]
        else:
            got = s.release(args[0], args[1])  # type: ignore[arg-type]
        assert got == want, f"step {i}: {op}{tuple(args)} = {got}, want {want}"
        s._check_invariants()


def test_Singleton_skip_mode_skips_while_held() -> None:
    # data-backup, mode skip: skip new backups while one runs for this database.
    run_steps(Singleton("skip"), [
        ("arrive", "db1", "r1", SingletonStarted("r1", "db1")),
        ("arrive", "db1", "r2", SingletonSkipped("r2", "db1", "r1")),
        ("arrive", "db2", "r3", SingletonStarted("r3", "db2")),  # different keys both run
        ("finish", "r1", "db1"),
        ("arrive", "db1", "r4", SingletonStarted("r4", "db1")),
        ("finish", "r2", None),  # a skipped run holds nothing
    ])


def test_Singleton_skip_fifty_events_for_one_key_give_one_run() -> None:
    # tests/golang/singleton_test.go: 50 events with key 42, fn runs 10 s -> exactly 1 run.
    s = Singleton("skip")
    outcomes = [s.acquire("42", f"r{i}") for i in range(50)]
    assert sum(o.started for o in outcomes) == 1
    assert all(o == SingletonSkipped(f"r{i}", "42", "r0") for i, o in enumerate(outcomes[1:], 1))
    assert outcomes[1].reason == "singleton key '42' is held by run r0"  # type: ignore[union-attr]


def test_Singleton_key_resolving_to_false_is_not_a_singleton() -> None:
    # TestSingletonFunctionWithKeyResolvingToFalse: both runs proceed, no lock taken.
    s = Singleton("skip")
    assert s.acquire(None, "r1") == SingletonStarted("r1", None)
    assert s.acquire(None, "r2") == SingletonStarted("r2", None)
    assert len(s) == 0
    assert s.run_finished("r1") is None


def test_Singleton_cancel_mode_cancels_the_holder_and_starts_the_newcomer() -> None:
    # realtime-sync, mode cancel: cancel the previous sync and start with the latest data.
    run_steps(Singleton("cancel"), [
        ("arrive", "u1", "r1", SingletonStarted("r1", "u1")),
        ("arrive", "u1", "r2", SingletonStarted("r2", "u1", cancel="r1")),
        # The cancelled run's last item leaves the queue later: the runID check keeps r2's lock.
        ("release", "u1", "r1", False),
        ("finish", "r1", None),
        ("arrive", "u1", "r3", SingletonStarted("r3", "u1", cancel="r2")),
        ("release", "u1", "r3", True),
        ("arrive", "u1", "r4", SingletonStarted("r4", "u1")),
    ])


def test_Singleton_cancel_mode_burst_leaves_one_run_to_finish() -> None:
    # TestSingletonCancelMode: 50 events for one key -> exactly 1 finishes, >= 1 cancelled.
    s = Singleton("cancel")
    outcomes = [s.acquire("42", f"r{i}") for i in range(50)]
    assert all(isinstance(o, SingletonStarted) for o in outcomes)
    cancelled = [o.cancel for o in outcomes if isinstance(o, SingletonStarted) and o.cancel]
    assert cancelled == [f"r{i}" for i in range(49)]
    assert s.holder("42") == "r49"
    finished = [r for r in (f"r{i}" for i in range(50)) if s.run_finished(r)]
    assert finished == ["r49"]


def test_Singleton_a_run_holds_its_lock_until_the_host_says_it_is_gone() -> None:
    # Held while queued, sleeping, waiting or retrying: only release/run_finished free it.
    s = Singleton("skip")
    s.acquire("k", "r1")
    for i in range(5):  # say, five retries later
        assert s.acquire("k", f"n{i}") == SingletonSkipped(f"n{i}", "k", "r1")
    assert s.holder("k") == "r1" and s.key_of("r1") == "k"
    assert s.release("k", "someone-else") is False
    assert s.release("other-key", "r1") is False
    assert s.release("k", "r1") is True
    assert s.holder("k") is None and s.active_keys() == ()


def test_Singleton_misuse_raises_and_changes_nothing() -> None:
    s = Singleton("cancel")
    s.acquire("k", "r1")
    before = s.snapshot()
    with pytest.raises(ValueError, match="already holds singleton key 'k'"):
        s.acquire("k", "r1")
    with pytest.raises(ValueError, match="already holds"):
        s.acquire("other", "r1")
    with pytest.raises(ValueError, match="key must be a string or None"):
        s.acquire(42, "r2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="run_id must be a string"):
        s.acquire("k", None)  # type: ignore[arg-type]
    assert s.snapshot() == before
    with pytest.raises(ValueError, match="mode must be 'skip' or 'cancel'"):
        Singleton("drop")
    assert Singleton().mode == "skip"  # an absent mode is skip (enum value 0)


def test_Singleton_snapshot_round_trip() -> None:
    s = Singleton("cancel")
    s.acquire("a", "r1")
    s.acquire("b", "r2")
    s2 = Singleton.from_snapshot(json.loads(json.dumps(s.snapshot())))
    s2._check_invariants()
    for m in (s, s2):
        assert m.acquire("a", "r3") == SingletonStarted("r3", "a", cancel="r1")
        assert m.run_finished("r2") == "b"
    assert s.snapshot() == s2.snapshot()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "must be a mapping"),
        ({"kind": "Debounce", "version": 1}, "not a Singleton snapshot"),
        ({"kind": "Singleton", "version": 9}, "unsupported version"),
        ({"kind": "Singleton", "version": 1, "mode": "x", "holders": {}}, "mode must be"),
        ({"kind": "Singleton", "version": 1, "mode": "skip", "holders": []}, "holders must be"),
        ({"kind": "Singleton", "version": 1, "mode": "skip", "holders": {"a": 1}}, "not str"),
        ({"kind": "Singleton", "version": 1, "mode": "skip", "holders": {"a": "r", "b": "r"}},
         "holds two keys"),
    ],
)
def test_Singleton_bad_snapshots_are_refused(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Singleton.from_snapshot(data)  # type: ignore[arg-type]
