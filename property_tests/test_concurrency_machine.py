"""Concurrency against a brute-force model: a plain list of held leases.

The model recounts every constraint from the list of leases on each decision, so
sharing, all-or-nothing and exact releases are checked rather than assumed.
"""

from __future__ import annotations

import json

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    rule,
)

from flowcontrol import Acquired, Concurrency, ConcurrencyConstraint, Refused

FUNCTIONS = ("f1", "f2", "f3")
KEYS = ("k1", "k2", "k3")
constraints = st.builds(
    ConcurrencyConstraint,
    limit=st.integers(0, 3),
    key_expr=st.sampled_from(("x", "y")),
    scope=st.sampled_from(("fn", "env", "account")),
)
function_configs = st.fixed_dictionaries({
    "constraints": st.lists(constraints, max_size=2),
    "function_limit": st.integers(0, 4),
    "account_limit": st.none() | st.integers(0, 6),
    "env_id": st.sampled_from(("e1", "e2")),
})

Ident = tuple[str, ...]


class BackwardsClock:
    """A clock a test can move anywhere, even backwards."""

    def __init__(self) -> None:
        self.t = 0

    def __call__(self) -> int:
        return self.t

Entry = tuple[str, Ident, str | None, str | None, int]  # scope, identity, key, expr, limit


class ConcurrencyMachine(RuleBasedStateMachine):
    leases = Bundle("leases")

    @initialize(account_limit=st.integers(0, 6), configs=st.lists(
        function_configs, min_size=len(FUNCTIONS), max_size=len(FUNCTIONS)),
        ttl=st.sampled_from((None, None, 10, 30)))
    def setup(self, account_limit: int, configs: list[dict[str, object]], ttl: int | None) -> None:
        self.clock = BackwardsClock()
        self.now = 0  # the high-water mark of the clock, as the machine keeps it
        self.ttl = ttl
        self.c = Concurrency(account_limit=account_limit, lease_ttl=ttl, clock=self.clock)
        self.expiry: dict[object, int] = {}  # lease id -> expiry (with a ttl)
        self.expired: list[object] = []  # expired and not yet polled
        self.account_limit = account_limit
        self.configs = dict(zip(FUNCTIONS, configs, strict=True))
        for fn, cfg in self.configs.items():
            self.c.register(fn, **cfg)  # type: ignore[arg-type]
        self.held: dict[object, tuple[Ident, ...]] = {}  # lease id -> identities it counts in
        self.released: set[object] = set()

    def entries(self, fn: str, keys: tuple[str, ...]) -> list[Entry]:
        """Every constraint of an acquire, in the platform's check order (the spec's rules)."""
        cfg = self.configs[fn]
        acct = cfg["account_limit"]
        out: list[Entry] = [
            ("account", ("A",), None, None, self.account_limit if acct is None else acct),  # type: ignore[list-item]
        ]
        cons: list[ConcurrencyConstraint] = cfg["constraints"]  # type: ignore[assignment]
        keyed: list[Entry] = []
        env_id = str(cfg["env_id"])
        for c, k in zip(cons, keys, strict=True):
            ident: Ident = {
                "account": ("a", c.key_expr, k),
                "env": ("e", env_id, c.key_expr, k),
                "fn": ("f", fn, c.key_expr, k),
            }[c.scope]
            keyed.append((c.scope, ident, k, c.key_expr, c.limit))
        if len(keyed) == 2 and (keyed[0][0], keyed[0][3]) == (keyed[1][0], keyed[1][3]):
            # One scope and expression: one counter, keyed by the first key; the lease
            # counts once and the stricter limit applies.
            a, b = keyed[0][4], keyed[1][4]
            keyed = [(*keyed[0][:4], min(a, b) if a and b else a or b)]
        rank = {"account": 0, "env": 1, "fn": 2}
        out += [e for e in keyed if e[0] == "account"] + [e for e in keyed if e[0] == "env"]
        out.append(("fn", ("F", fn), None, None, cfg["function_limit"]))  # type: ignore[arg-type]
        out += [e for e in keyed if rank[e[0]] == 2]
        return out

    def expire(self) -> None:
        """The model's expiry: leases whose time has come stop counting."""
        now = self.now = max(self.now, self.clock.t)
        order = sorted(self.expiry.items(), key=lambda e: (e[1], isinstance(e[0], str), e[0]))
        for lid, at in order:
            if at <= now:
                del self.expiry[lid]
                del self.held[lid]
                self.expired.append(lid)

    def count(self, ident: Ident) -> int:
        return sum(ident in ids for ids in self.held.values())

    def keys_for(self, fn: str, pick: tuple[str, str]) -> tuple[str, ...]:
        n = len(self.configs[fn]["constraints"])  # type: ignore[arg-type]
        return pick[:n]

    @rule(target=leases, fn=st.sampled_from(FUNCTIONS),
          pick=st.tuples(st.sampled_from(KEYS), st.sampled_from(KEYS)),
          named=st.booleans())
    def acquire(self, fn: str, pick: tuple[str, str], named: bool) -> object:
        keys = self.keys_for(fn, pick)
        self.expire()
        entries = self.entries(fn, keys)
        full = [e for e in entries if e[4] and self.count(e[1]) >= e[4]]
        lease_id = f"n{len(self.held) + len(self.released)}" if named else None
        if lease_id in self.held or lease_id in self.released:
            lease_id = None
        got = self.c.acquire(fn, keys, lease_id)
        if full:
            assert isinstance(got, Refused), (fn, keys, got)
            want = [(e[0], e[2], e[3], self.count(e[1]), e[4]) for e in full]
            assert [(u.scope, u.key, u.key_expr, u.in_use, u.limit) for u in got.blocking] == want
            return multiple()
        assert isinstance(got, Acquired), (fn, keys, got)
        assert lease_id is None or got.lease_id == lease_id
        assert got.lease_id not in self.held
        self.held[got.lease_id] = tuple(e[1] for e in entries)
        if self.ttl is not None:
            self.expiry[got.lease_id] = self.now + self.ttl
        return got

    @rule(lease=consumes(leases), by_id=st.booleans())
    def release(self, lease: Acquired, by_id: bool) -> None:
        self.expire()
        held = lease.lease_id in self.held
        assert self.c.release(lease.lease_id if by_id else lease) is held
        if held:
            del self.held[lease.lease_id]
            self.expiry.pop(lease.lease_id, None)
        self.released.add(lease.lease_id)

    @rule(step=st.sampled_from((1, 5, 10, 29)))
    def advance(self, step: int) -> None:
        self.clock.t += step

    @rule(step=st.sampled_from((1, 10, 40)))
    def clock_goes_backwards(self, step: int) -> None:
        self.clock.t -= step

    @rule(lease=leases)
    def extend(self, lease: Acquired) -> None:
        self.expire()
        held = lease.lease_id in self.held
        assert self.c.extend(lease) is held
        if held and self.ttl is not None:
            self.expiry[lease.lease_id] = self.now + self.ttl

    @rule()
    def poll(self) -> None:
        self.expire()
        assert self.c.poll() == tuple(self.expired)
        self.expired.clear()
        want = min(self.expiry.values()) if self.expiry else None
        assert self.c.next_deadline() == want

    @rule(lease_id=st.sampled_from(("n0", "n1", 1, 2, "nope")))
    def release_unknown(self, lease_id: object) -> None:
        if lease_id in self.held:
            return
        before = self.c.usage()
        assert self.c.release(lease_id) is False  # type: ignore[arg-type]
        assert self.c.usage() == before

    @rule(fn=st.sampled_from(FUNCTIONS),
          pick=st.tuples(st.sampled_from(KEYS), st.sampled_from(KEYS)))
    def capacity(self, fn: str, pick: tuple[str, str]) -> None:
        keys = self.keys_for(fn, pick)
        self.expire()
        free = [e[4] - self.count(e[1]) for e in self.entries(fn, keys) if e[4]]
        want = max(min(free), 0) if free else None
        assert self.c.capacity(fn, keys) == want
        usages = self.c.in_use(fn, keys)
        assert [u.in_use for u in usages] == [self.count(e[1]) for e in self.entries(fn, keys)]

    @rule()
    def snapshot_and_restore(self) -> None:
        data = json.loads(json.dumps(self.c.snapshot()))
        restored = Concurrency.from_snapshot(data, clock=self.clock)
        assert restored.snapshot() == self.c.snapshot()
        self.c = restored

    @invariant()
    def counts_match_the_leases(self) -> None:
        if not hasattr(self, "c"):
            return
        self.expire()
        assert set(self.c.leases()) == set(self.held)  # leases() expires what is due
        self.c._check_invariants()
        assert len(self.c) == len(self.held)
        # Never above any limit: each counter stays within the largest limit any function
        # sharing it checks against (each acquire checked its own).
        caps: dict[Ident, int] = {}
        for fn in FUNCTIONS:
            n = len(self.configs[fn]["constraints"])  # type: ignore[arg-type]
            for keys in {(a, b)[:n] for a in KEYS for b in KEYS}:
                for _, ident, _, _, limit in self.entries(fn, keys):
                    caps[ident] = max(caps.get(ident, 0), limit or 10**9)
        for ids in self.held.values():
            for ident in ids:
                assert self.count(ident) <= caps[ident]


ConcurrencyMachine.TestCase.settings = settings(
    ConcurrencyMachine.TestCase.settings, stateful_step_count=40
)
TestConcurrency = ConcurrencyMachine.TestCase
