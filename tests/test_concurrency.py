"""Concurrency: the spec's section 2 and seed examples, as step tables.

Each step is (function, keys, expected): ``"ok"`` for a granted lease, or the
(scope, key, in_use, limit) of the constraint the refusal names first.
"""

from __future__ import annotations

import json

import pytest

from flowcontrol import (
    Acquired,
    Concurrency,
    ConcurrencyConstraint,
    ConcurrencyUsage,
    ManualClock,
    Refused,
    UnknownFunctionError,
)

S = 1_000_000_000

Step = tuple[str, tuple[str, ...], object]


def run_steps(c: Concurrency, steps: list[Step]) -> list[Acquired]:
    held = []
    for i, (fn, keys, want) in enumerate(steps):
        got = c.acquire(fn, keys)
        if want == "ok":
            assert isinstance(got, Acquired), f"step {i}: acquire({fn}, {keys}) = {got}, want ok"
            held.append(got)
        else:
            assert isinstance(got, Refused), f"step {i}: acquire({fn}, {keys}) = {got}, want {want}"
            assert (got.scope, got.key, got.in_use, got.limit) == want, f"step {i}: {got}"
        c._check_invariants()
    return held


def test_Concurrency_basic_function_limit_from_the_seed() -> None:
    # concurrency: 5 -> only 5 steps execute at once.
    c = Concurrency()
    c.register("process-images", function_limit=5)
    held = run_steps(c, [("process-images", (), "ok")] * 5 + [
        ("process-images", (), ("fn", None, 5, 5)),
    ])
    assert c.release(held[0]) is True
    run_steps(c, [("process-images", (), "ok"), ("process-images", (), ("fn", None, 5, 5))])


def test_Concurrency_keyed_per_user_from_the_seed() -> None:
    # concurrency: [{key: "event.data.user_id", limit: 1}]
    c = Concurrency()
    c.register("user-sync", [ConcurrencyConstraint(1, "event.data.user_id")])
    run_steps(c, [
        ("user-sync", ("u1",), "ok"),
        ("user-sync", ("u1",), ("fn", "u1", 1, 1)),
        ("user-sync", ("u2",), "ok"),
        ("user-sync", ("u2",), ("fn", "u2", 1, 1)),
    ])


def test_Concurrency_account_scope_is_shared_across_functions() -> None:
    # The seed's 60 concurrent OpenAI calls across all functions.
    c = Concurrency()
    openai = ConcurrencyConstraint(60, '"openai"', "account")
    c.register("ai-summary", [openai])
    c.register("ai-chat", [openai])
    for _ in range(40):
        assert c.acquire("ai-summary", ("openai",)).ok
    for _ in range(20):
        assert c.acquire("ai-chat", ("openai",)).ok
    got = c.acquire("ai-summary", ("openai",))
    assert isinstance(got, Refused)
    assert (got.scope, got.key, got.in_use, got.limit) == ("account", "openai", 60, 60)
    assert not c.acquire("ai-chat", ("openai",)).ok


def test_Concurrency_each_function_checks_the_shared_count_against_its_own_limit() -> None:
    c = Concurrency()
    c.register("big", [ConcurrencyConstraint(60, '"openai"', "account")])
    c.register("small", [ConcurrencyConstraint(30, '"openai"', "account")])
    for _ in range(25):
        assert c.acquire("big", ("openai",)).ok
    run_steps(c, [("small", ("openai",), "ok")] * 5 + [
        ("small", ("openai",), ("account", "openai", 30, 30)),
        ("big", ("openai",), "ok"),
    ])


@pytest.mark.parametrize(
    ("a", "b", "shared"),
    [
        (("account", '"openai"'), ("account", '"openai"'), True),
        # The Constraint API hashes the expression text into the counter (spec 2.3).
        (("account", '"openai"'), ("account", '\'openai\''), False),
        (("env", "event.data.x"), ("env", "event.data.x"), True),
        (("fn", "event.data.x"), ("fn", "event.data.x"), False),  # fn keys are per function
        (("account", "event.data.x"), ("env", "event.data.x"), False),
    ],
)
def test_Concurrency_key_identity(
    a: tuple[str, str], b: tuple[str, str], shared: bool
) -> None:
    c = Concurrency()
    c.register("f1", [ConcurrencyConstraint(1, a[1], a[0])])
    c.register("f2", [ConcurrencyConstraint(1, b[1], b[0])])
    assert c.acquire("f1", ("k",)).ok
    assert c.acquire("f2", ("k",)).ok is not shared


def test_Concurrency_env_scope_is_shared_within_one_env_only() -> None:
    c = Concurrency()
    con = ConcurrencyConstraint(1, "event.data.x", "env")
    c.register("prod-a", [con], env_id="prod")
    c.register("prod-b", [con], env_id="prod")
    c.register("staging-a", [con], env_id="staging")
    run_steps(c, [
        ("prod-a", ("k",), "ok"),
        ("prod-b", ("k",), ("env", "k", 1, 1)),
        ("staging-a", ("k",), "ok"),
    ])


def test_Concurrency_limit_zero_means_no_limit_as_documented() -> None:
    # Docs: "A value of 0 or undefined sets no concurrency limit". The current Constraint
    # API would grant 0 leases for FunctionConcurrency 0 (spec 2.5); we follow the docs.
    c = Concurrency(account_limit=0)
    c.register("f", [ConcurrencyConstraint(0, "event.data.k")], function_limit=0)
    for _ in range(1000):
        assert c.acquire("f", ("k",)).ok
    assert c.capacity("f", ("k",)) is None
    assert len(c) == 1000


def test_Concurrency_account_limit_caps_every_function() -> None:
    # Constraint API "account 10": the 11th lease anywhere in the account is refused.
    c = Concurrency(account_limit=10)
    c.register("f1")
    c.register("f2", function_limit=100)
    run_steps(c, [("f1", (), "ok")] * 6 + [("f2", (), "ok")] * 4 + [
        ("f1", (), ("account", None, 10, 10)),
        ("f2", (), ("account", None, 10, 10)),
    ])


def test_Concurrency_register_may_override_the_account_limit() -> None:
    c = Concurrency(account_limit=10)
    c.register("f1", account_limit=3)
    c.register("f2")
    run_steps(c, [("f2", (), "ok")] * 3 + [("f1", (), ("account", None, 3, 3)), ("f2", (), "ok")])


def test_Concurrency_is_all_or_nothing() -> None:
    c = Concurrency()
    c.register("f", [ConcurrencyConstraint(1, "event.data.user")], function_limit=10)
    assert c.acquire("f", ("u1",)).ok
    before = c.usage()
    for _ in range(3):
        assert not c.acquire("f", ("u1",)).ok
    assert c.usage() == before
    assert c.in_use("f", ("u2",))[1] == ConcurrencyUsage("fn", None, None, 1, 10, "F:f")


def test_Concurrency_refusal_lists_every_full_constraint_in_check_order() -> None:
    # Checked as the platform sorts: account < env < fn, unkeyed before keyed.
    c = Concurrency(account_limit=2)
    c.register(
        "f",
        [ConcurrencyConstraint(1, "event.data.u"), ConcurrencyConstraint(2, '"g"', "env")],
        function_limit=2,
    )
    c.acquire("f", ("u", "g"))
    c.acquire("f", ("v", "g"))
    got = c.acquire("f", ("u", "g"))
    assert isinstance(got, Refused)
    assert [(u.scope, u.key) for u in got.blocking] == [
        ("account", None), ("env", "g"), ("fn", None), ("fn", "u"),
    ]
    assert got.function_id == "f"
    assert got.reason == (
        "account concurrency: 2/2 in use; env concurrency key 'g' (\"g\"): 2/2 in use; "
        "fn concurrency: 2/2 in use; fn concurrency key 'u' (event.data.u): 1/1 in use"
    )
    assert c.in_use("f", ("w", "h"))[1].describe() == "env concurrency key 'h' (\"g\"): 0/2 in use"


def test_Concurrency_counter_ids_name_the_shared_counters() -> None:
    c = Concurrency()
    cons = [ConcurrencyConstraint(1, "event.data.u"), ConcurrencyConstraint(5, '"g"', "account")]
    c.register("fn1", cons, env_id="prod")
    c.register("fn2", [ConcurrencyConstraint(1, "event.data.u", "env")], env_id="prod")
    assert c.counter_ids("fn1", ("u1", "g")) == (
        "F:fn1", "A", "f:3:fn1:12:event.data.u:u1", "a:3:\"g\":g",
    )
    assert c.counter_ids("fn2", ("u1",)) == ("F:fn2", "A", "e:4:prod:12:event.data.u:u1")
    lease = c.acquire("fn1", ("u1", "g"))
    assert set(c.usage()) == set(c.counter_ids("fn1", ("u1", "g")))
    got = c.acquire("fn1", ("u1", "g"))
    assert isinstance(got, Refused) and got.blocking[0].counter == "f:3:fn1:12:event.data.u:u1"
    assert isinstance(lease, Acquired) and c.release(lease)


@pytest.mark.parametrize(("a", "b", "admitted"), [(2, 3, 2), (3, 2, 2), (0, 2, 2), (0, 0, 5)])
def test_Concurrency_two_constraints_on_one_counter_act_as_the_stricter(
    a: int, b: int, admitted: int
) -> None:
    # Same scope and expression: one counter (a lease counts once), both limits checked.
    c = Concurrency()
    same = [ConcurrencyConstraint(a, "event.data.k"), ConcurrencyConstraint(b, "event.data.k")]
    c.register("f", same)
    got = [c.acquire("f", ("x", "x")).ok for _ in range(5)]
    assert got == [True] * admitted + [False] * (5 - admitted)
    assert c.usage()["f:1:f:12:event.data.k:x"] == admitted
    assert c.counter_ids("f", ("x", "x")) == ("F:f", "A", "f:1:f:12:event.data.k:x")
    assert [u.limit for u in c.in_use("f", ("x", "x"))] == [0, 0, min(a, b) if a and b else a or b]
    c2 = Concurrency.from_snapshot(json.loads(json.dumps(c.snapshot())))
    assert c2.snapshot() == c.snapshot()
    c2._check_invariants()
    c.register("f", same, function_limit=1)  # a refusal by the function limit explains too
    got2 = c.acquire("f", ("y", "y"))
    assert isinstance(got2, Refused) and got2.scope == "fn" and got2.key is None


def test_Concurrency_three_parallel_steps_hold_three_slots() -> None:
    c = Concurrency()
    c.register("f", function_limit=3)
    leases = [c.acquire("f", lease_id=f"run1/step{i}") for i in range(3)]
    assert all(isinstance(x, Acquired) for x in leases)
    assert c.in_use("f")[1].in_use == 3
    assert not c.acquire("f").ok


def test_Concurrency_release_is_exactly_once() -> None:
    c = Concurrency()
    c.register("f", [ConcurrencyConstraint(2, "k")], function_limit=2)
    a = c.acquire("f", ("x",))
    b = c.acquire("f", ("x",))
    assert isinstance(a, Acquired) and isinstance(b, Acquired)
    assert c.release(a) is True
    before = c.usage()
    assert c.release(a) is False  # twice
    assert c.release(a.lease_id) is False
    assert c.release("no-such-lease") is False
    assert c.release(12345) is False
    assert c.usage() == before
    assert b in c and a not in c
    assert c.release(b.lease_id) is True
    assert c.usage() == {}  # counts of zero are dropped
    assert len(c) == 0


def test_Concurrency_named_leases() -> None:
    c = Concurrency()
    c.register("f", function_limit=5)
    a = c.acquire("f", lease_id="item-1")
    assert isinstance(a, Acquired) and a.lease_id == "item-1"
    before = c.usage()
    with pytest.raises(ValueError, match="already held"):
        c.acquire("f", lease_id="item-1")
    with pytest.raises(ValueError, match="must be a string"):
        c.acquire("f", lease_id=7)  # type: ignore[arg-type]
    assert c.usage() == before
    assert c.leases() == {"item-1": "f"}


def test_Concurrency_capacity() -> None:
    c = Concurrency(account_limit=100)
    c.register("f", [ConcurrencyConstraint(3, "k")], function_limit=5)
    assert c.capacity("f", ("a",)) == 3
    c.acquire("f", ("a",))
    c.acquire("f", ("b",))
    c.acquire("f", ("b",))
    assert c.capacity("f", ("a",)) == 2  # the function limit: 5 - 3
    assert c.capacity("f", ("b",)) == 1
    c.register("g")
    c.register("h", account_limit=0)
    assert c.capacity("g") == 97
    assert c.capacity("h") is None


def test_Concurrency_reregistering_changes_later_acquires_only() -> None:
    c = Concurrency()
    c.register("f", function_limit=2)
    a = c.acquire("f")
    c.acquire("f")
    c.register("f", function_limit=1)
    assert not c.acquire("f").ok
    c.register("f", [ConcurrencyConstraint(1, "new")], function_limit=5)
    assert c.acquire("f", ("x",)).ok
    assert isinstance(a, Acquired) and c.release(a)
    c._check_invariants()


def test_Concurrency_unknown_function_and_wrong_keys_raise_and_change_nothing() -> None:
    c = Concurrency()
    c.register("f", [ConcurrencyConstraint(1, "k")])
    with pytest.raises(UnknownFunctionError, match="'g' is not registered"):
        c.acquire("g")
    with pytest.raises(ValueError, match="needs 1 evaluated key"):
        c.acquire("f", ())
    with pytest.raises(ValueError, match="needs 1 evaluated key"):
        c.acquire("f", ("a", "b"))
    with pytest.raises(UnknownFunctionError):
        c.capacity("g")
    with pytest.raises(ValueError, match=r"keys\[0\] of function 'f' must be an evaluated key"):
        c.acquire("f", (42,))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be an evaluated key string"):
        c.in_use("f", (None,))  # type: ignore[arg-type]
    assert c.usage() == {} and len(c) == 0


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: ConcurrencyConstraint(-1, "k"), "limit must be >= 0"),
        (lambda: ConcurrencyConstraint(True, "k"), "limit must be an int"),
        (lambda: ConcurrencyConstraint(1, "k", "app"), "scope must be one of"),
        (lambda: ConcurrencyConstraint(1, "", "env"),
         "A concurrency key must be specified for env scoped limits"),
        (lambda: ConcurrencyConstraint(1, None, "account"),  # type: ignore[arg-type]
         "A concurrency key must be specified for account scoped limits"),
        (lambda: Concurrency().register("f", [ConcurrencyConstraint(1, k) for k in "abc"]),
         "more concurrency limits specified than the allowed max of: 2"),
        (lambda: Concurrency().register("f", function_limit=-5), "function_limit must be >= 0"),
        (lambda: Concurrency().register("f", account_limit=-1), "account_limit must be >= 0"),
        (lambda: Concurrency().register(""), "function_id must be a non-empty string"),
        (lambda: Concurrency(account_limit=-1), "account_limit must be >= 0"),
    ],
)
def test_Concurrency_validation(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()  # type: ignore[operator]


def test_Concurrency_snapshot_round_trip_changes_no_later_decision() -> None:
    c = Concurrency(account_limit=4)
    c.register("f", [ConcurrencyConstraint(2, "k"), ConcurrencyConstraint(3, '"g"', "env")],
               function_limit=3, env_id="prod")
    c.register("g", function_limit=1)
    a = c.acquire("f", ("x", "g"))
    assert isinstance(a, Acquired)
    c.acquire("f", ("x", "g"))
    c.acquire("g", lease_id="named")
    c2 = Concurrency.from_snapshot(json.loads(json.dumps(c.snapshot())))
    c2._check_invariants()
    assert c2.usage() == c.usage() and c2.leases() == c.leases()
    for m in (c, c2):
        assert (m.acquire("f", ("x", "g")).ok, m.acquire("f", ("y", "g")).ok) == (False, True)
        assert m.release(a) and m.release("named") and not m.release("named")
        assert m.acquire("g").ok
    assert c.snapshot() == c2.snapshot()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(kind="Throttle"), "not a Concurrency snapshot"),
        (lambda d: d.update(version=2), "unsupported version"),
        (lambda d: d.pop("leases"), "missing field 'leases'"),
        (lambda d: d.update(seq=-1), "seq must be an int >= 0"),
        (lambda d: d["functions"][0].update(function_limit=-1), r"functions\[0\]"),
        (lambda d: d["functions"][0].update(constraints=[1]), r"functions\[0\]"),
        (lambda d: d["leases"].append(["x"]), r"leases\[1\] must be"),
        (lambda d: d["leases"].append([1, [["f"]]]), r"leases\[1\]"),
        (lambda d: d["leases"].append([2, ["A", "F:f"]]), r"must start with the fn and account"),
        (lambda d: d["leases"].append(d["leases"][0]), "duplicate lease id"),
    ],
)
def test_Concurrency_bad_snapshots_are_refused(mutate: object, message: str) -> None:
    c = Concurrency()
    c.register("f", function_limit=2)
    c.acquire("f")
    data = json.loads(json.dumps(c.snapshot()))
    mutate(data)  # type: ignore[operator]
    with pytest.raises(ValueError, match=message):
        Concurrency.from_snapshot(data)
    with pytest.raises(ValueError, match="must be a mapping"):
        Concurrency.from_snapshot([])  # type: ignore[arg-type]


def test_Concurrency_memory_follows_active_keys() -> None:
    c = Concurrency()
    c.register("f", [ConcurrencyConstraint(1, "event.data.user")])
    leases = [c.acquire("f", (f"user-{i}",)) for i in range(1000)]
    assert len(c.usage()) == 1002
    for lease in leases:
        assert isinstance(lease, Acquired) and c.release(lease)
    assert c.usage() == {}


def test_Concurrency_expired_leases_are_not_counted() -> None:
    # lua_edge_cases_test "expired leases are not counted": limit 3 with 1 active and
    # 1 expired lease -> 2 more leases. QueueLeaseDuration is 30 s.
    clock = ManualClock(0)
    c = Concurrency(lease_ttl="30s", clock=clock)
    c.register("f", function_limit=3)
    stale = c.acquire("f")  # its worker dies: never released nor extended
    clock.set(20 * S)
    active = c.acquire("f")
    assert isinstance(stale, Acquired) and isinstance(active, Acquired)
    steps = [  # (time, acquire ok?)
        (29 * S, True),
        (29 * S, False),  # 3 in use: stale, active and the one just granted
        (30 * S, True),  # stale expired exactly at 0 + 30 s
        (30 * S, False),
    ]
    for i, (t, want) in enumerate(steps):
        clock.set(t)
        assert c.acquire("f").ok is want, f"step {i}: acquire at {t}"
    assert c.poll() == (stale.lease_id,)
    assert c.poll() == ()
    assert c.prune() == 0
    assert c.release(stale) is False  # expired: no longer held, nothing changes
    assert c.release(active) is True
    c._check_invariants()


def test_Concurrency_extend_keeps_a_lease_alive() -> None:
    clock = ManualClock(0)
    c = Concurrency(lease_ttl=10 * S, clock=clock)
    c.register("f", function_limit=1)
    lease = c.acquire("f")
    assert isinstance(lease, Acquired)
    assert c.next_deadline() == 10 * S
    for t in (5, 12, 19, 26):  # the platform extends while the item is processed
        clock.set(t * S)
        assert c.extend(lease) is True
        assert c.next_deadline() == (t + 10) * S
    for t in (27, 28, 29):
        clock.set(t * S)
        c.extend(lease)  # each leaves a stale index entry...
    assert len(c._exp_heap) == 4
    assert c.prune() == 0 and len(c._exp_heap) == 1  # ...until a prune
    clock.set(39 * S - 1)
    assert not c.acquire("f").ok and c.poll() == ()
    clock.set(100 * S)
    assert c.prune() == 1 and len(c) == 0 and c.usage() == {}
    assert c.poll() == (lease.lease_id,)
    lease = c.acquire("f")
    assert isinstance(lease, Acquired)
    clock.set(110 * S)
    assert c.extend(lease) is False  # too late
    assert c.poll() == (lease.lease_id,) and c.next_deadline() is None
    assert c.acquire("f").ok


def test_Concurrency_without_a_ttl_leases_never_expire_and_no_clock_is_read() -> None:
    def no_clock() -> int:
        raise AssertionError("the clock was read")

    c = Concurrency(clock=no_clock)
    assert c.prune() == 0
    c.register("f", function_limit=1)
    lease = c.acquire("f")
    assert isinstance(lease, Acquired)
    assert c.extend(lease) is True and c.poll() == () and c.next_deadline() is None
    assert c.release(lease) is True and c.extend(lease) is False


def test_Concurrency_clock_going_backwards_counts_as_no_time_passing() -> None:
    times = iter([0, 0, 25 * S, 5 * S, 5 * S, 31 * S])
    c = Concurrency(lease_ttl=30 * S, clock=lambda: next(times))  # reads 0
    c.register("f", function_limit=1)
    first = c.acquire("f")  # at 0: expires at 30 s
    assert isinstance(first, Acquired)
    assert not c.acquire("f").ok  # 25 s
    assert not c.acquire("f").ok  # 5 s: treated as 25 s, the lease is still held
    assert c.extend(first) is True  # 5 s -> 25 s: now expires at 55 s, not 35 s
    assert not c.acquire("f").ok  # 31 s


def test_Concurrency_snapshot_keeps_expiries() -> None:
    clock = ManualClock(0)
    c = Concurrency(lease_ttl=30 * S, clock=clock)
    c.register("f", function_limit=2)
    c.acquire("f")
    clock.set(10 * S)
    c.acquire("f", lease_id="b")
    data = json.loads(json.dumps(c.snapshot()))
    with pytest.raises(ValueError, match="pass clock="):
        Concurrency.from_snapshot(data)
    clock2 = ManualClock(10 * S)
    c2 = Concurrency.from_snapshot(data, clock=clock2)
    c2._check_invariants()
    for m, clk in ((c, clock), (c2, clock2)):
        clk.set(30 * S)
        assert m.acquire("f").ok and not m.acquire("f").ok
        assert m.poll() == (1,)
    assert c.snapshot() == c2.snapshot()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lease_ttl": "30s"}, "lease_ttl needs clock="),
        ({"lease_ttl": 0, "clock": lambda: 0}, "lease_ttl must be > 0"),
        ({"lease_ttl": "-1s", "clock": lambda: 0}, "lease_ttl must be > 0"),
        ({"lease_ttl": "30x", "clock": lambda: 0}, "invalid duration"),
    ],
)
def test_Concurrency_lease_ttl_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Concurrency(**kwargs)  # type: ignore[arg-type]
