"""Snapshot and restore of a whole FlowControl against the original, as the oracle.

For random configs (one to three functions: throttle, keyed and shared concurrency, run
limits, priority, rate limit, idempotency, debounce, batch with ``if``, singleton skip/cancel,
cancelOn, timeouts, retries, trigger filters and wildcards, custom account limit, fairness policy,
``record``) and random host inputs (events with and without ids and with future ``ts``,
time passing and poll, step_ready, step_finished, step_failed with and without
``retry_at``, run_finished/failed, cancel), the
original is snapshotted at a random point, the snapshot goes through ``json.dumps`` and
``json.loads`` and is restored on a fresh clock at the same instant. From then on both get
the same inputs and must give equal answers: every output list (decisions compared with
==), every exception, ``next_deadline()``, ``explain(id)`` (== and its text) for every
run and event id, ``run_status`` and ``backlog_sizes``. The restored controller's own
snapshot equals the original's, right after restoring and again at the end (the two
internal states never drift apart).

``RestartingMachine`` runs the controller's brute-force model (``test_controller_props``:
limits, the reference GCRA, no lost wake-ups, priority order) with one more host input,
a restart: the controller is replaced by its restored snapshot, and every invariant must
keep holding.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

from hypothesis import assume, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from flowcontrol import ManualClock
from flowcontrol.config.model import ConfigError, FunctionConfig
from flowcontrol.controller.decisions import Decision
from flowcontrol.controller.fairness import OldestFirst, RoundRobin
from flowcontrol.controller.flowcontrol import FlowControl
from flowcontrol.controller.persist import restore, snapshot

MS = 1_000_000
KEYS = ("a", "b", "c")


@st.composite
def function_config(draw: st.DrawFn, fid: str) -> dict[str, Any]:
    cfg: dict[str, Any] = {"id": fid, "triggers": [{"event": f"e{fid}"}]}
    trig = draw(st.sampled_from(["shared", "filter", "wild", "none"]))
    if trig == "shared":
        cfg["triggers"].append({"event": "x"})
    elif trig == "filter":
        cfg["triggers"].append({"event": "x", "expression": "event.data.p != -2"})
    elif trig == "wild":
        cfg["triggers"].append({"event": "app/*"})
    conc: list[dict[str, Any]] = []
    if draw(st.booleans()):
        conc.append({"limit": draw(st.integers(1, 3))})
    if draw(st.booleans()):
        conc.append({"limit": draw(st.integers(1, 3)), "key": "event.data.k",
                     "scope": draw(st.sampled_from(["fn", "account", "env"]))})
    run_limit = draw(st.sampled_from([0, 0, 1, 2]))  # concurrency.fn: runs in progress
    if run_limit:
        fn_part: dict[str, Any] = {"limit": run_limit}
        if draw(st.booleans()):
            fn_part["key"] = "event.data.k"
        cfg["concurrency"] = {"fn": [fn_part], "step": conc} if conc else {"fn": [fn_part]}
    elif conc:
        cfg["concurrency"] = conc
    if draw(st.booleans()):
        cfg["throttle"] = {"limit": draw(st.integers(1, 3)),
                           "period": draw(st.sampled_from(["1s", "2s", "3s"])),
                           "burst": draw(st.integers(0, 1))}
        if draw(st.booleans()):
            cfg["throttle"]["key"] = "event.data.k"
    intake = draw(st.sampled_from(["none", "rate", "idem", "debounce", "batch", "batch_if"]))
    if not intake.startswith("batch") and draw(st.booleans()):
        cfg["priority"] = {"run": "int(event.data.p)"}
    if intake == "rate":
        cfg["rateLimit"] = {"limit": draw(st.integers(1, 20)), "period": "1m",
                            "key": "event.data.k"}
    elif intake == "idem":
        cfg["idempotency"] = "event.data.u"
    elif intake == "debounce":
        cfg["debounce"] = {"period": "2s", "timeout": draw(st.sampled_from(["3s", "1m"]))}
        if draw(st.booleans()):
            cfg["debounce"]["key"] = "event.data.k"
    elif intake in ("batch", "batch_if"):
        cfg["batchEvents"] = {"maxSize": draw(st.integers(2, 4)), "timeout": "3s"}
        if draw(st.booleans()):
            cfg["batchEvents"]["key"] = "event.data.k"
        if intake == "batch_if":
            cfg["batchEvents"]["if"] = "event.data.p == 3"
    if not intake.startswith("batch"):
        if draw(st.booleans()):
            cfg["singleton"] = {"mode": draw(st.sampled_from(["skip", "cancel"]))}
            if draw(st.booleans()):
                cfg["singleton"]["key"] = "event.data.u"
        if draw(st.booleans()):
            c: dict[str, Any] = {"event": "stop", "match": "data.u"}
            if draw(st.booleans()):
                c["timeout"] = "5s"
            cfg["cancelOn"] = [c]
    if draw(st.booleans()):
        cfg["retries"] = draw(st.integers(0, 2))
    if draw(st.booleans()):
        cfg["timeouts"] = draw(st.sampled_from(
            [{"start": "4s"}, {"finish": "6s"}, {"start": "2s", "finish": "9s"}]))
    return cfg


@st.composite
def setups(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 3))
    return {
        "functions": [draw(function_config(fid)) for fid in "fgh"[:n]],
        "account_concurrency": draw(st.sampled_from([0, 0, 2, 4])),
        "fairness": draw(st.sampled_from(["round-robin", "oldest-first"])),
        "record": draw(st.booleans()),
    }


event_op = st.tuples(
    st.just("event"),
    st.sampled_from(["fn0", "fn0", "fn1", "fn2", "x", "app/y", "stop"]),
    st.sampled_from(KEYS), st.sampled_from([0, 0, 3, -2]), st.integers(1, 2),
    st.sampled_from(["none", "fresh", "fresh", "repeat", "future"]),
)
_OTHER_OPS = {
    "tick": st.tuples(st.just("tick"), st.integers(0, 3000)),
    "step_finished": st.tuples(st.just("step_finished"), st.integers(0, 50)),
    "step_ready": st.tuples(st.just("step_ready"), st.integers(0, 50)),
    "run_finished": st.tuples(st.just("run_finished"), st.integers(0, 50), st.booleans()),
    "cancel": st.tuples(st.just("cancel"), st.integers(0, 50)),
    "step_failed": st.tuples(st.just("step_failed"), st.integers(0, 50),
                             st.none() | st.integers(0, 4000)),
}
# Half of the inputs are events, a fifth is time passing, the rest the host's run calls.
op = st.sampled_from(
    ["event"] * 10 + ["tick"] * 4 + ["step_finished"] * 2 + ["step_ready"] * 2
    + ["run_finished", "cancel", "step_failed", "step_failed"]
).flatmap(lambda k: event_op if k == "event" else _OTHER_OPS[k])


class Host:
    """Drives two controllers with the same inputs and compares every answer."""

    def __init__(self, fc: FlowControl, clock: ManualClock) -> None:
        self.pairs: list[tuple[FlowControl, ManualClock]] = [(fc, clock)]
        self.n = 0
        self.run_ids: list[str] = []
        self.event_ids: list[str] = []

    @property
    def fc(self) -> FlowControl:
        return self.pairs[0][0]

    def call(self, name: str, *args: Any, **kw: Any) -> None:
        results = []
        for fc, _ in self.pairs:
            try:
                out: Any = getattr(fc, name)(*args, **kw)
            except Exception as e:  # the same refusal from both is part of the contract
                out = (type(e).__name__, str(e))
            results.append(out)
        assert all(r == results[0] for r in results), (name, args, results)
        if isinstance(results[0], list):
            for d in results[0]:
                assert isinstance(d, Decision)
                rid = getattr(d, "run_id", None)
                if rid is not None and rid not in self.run_ids:
                    self.run_ids.append(rid)

    def runs_in(self, *states: str) -> list[str]:
        out = []
        for r in self.run_ids:
            try:
                if self.fc.run_status(r) in states:
                    out.append(r)
            except LookupError:
                pass
        return out

    def apply(self, o: tuple[Any, ...]) -> None:
        kind = o[0]
        if kind == "event":
            _, name, k, p, u, idm = o
            if name.startswith("fn"):  # the trigger of one of the functions
                fns = self.fc.functions
                name = "e" + fns[int(name[2:]) % len(fns)].id
            self.n += 1
            ev: dict[str, Any] = {"name": name, "data": {"k": k, "p": p, "u": u}}
            if idm == "fresh":
                ev["id"] = f"i{self.n}"
            elif idm == "repeat":
                ev["id"] = f"i{max(1, self.n - 2)}"
            elif idm == "future":
                ev["id"] = f"i{self.n}"
                ev["ts"] = self.pairs[0][1].now // MS + 1500
            if "id" in ev and ev["id"] not in self.event_ids:
                self.event_ids.append(ev["id"])
            self.call("receive_event", ev)
        elif kind == "tick":
            for _, clock in self.pairs:
                clock.advance(o[1] * MS)
            self.call("poll")
        else:
            states = {"step_finished": ("running",), "step_ready": ("sleeping",),
                      "step_failed": ("running",),
                      "run_finished": ("running", "sleeping", "queued", "retrying"),
                      "cancel": ("queued", "running", "sleeping", "retrying")}[kind]
            cands = self.runs_in(*states)
            if not cands:
                return
            rid = cands[o[1] % len(cands)]
            if kind == "run_finished":
                self.call("run_finished", rid, failed=o[2])
            elif kind == "step_failed":
                at = None if o[2] is None else self.pairs[0][1].now + o[2] * MS
                self.call("step_failed", rid, retry_at=at)
            else:
                self.call(kind, rid)

    def compare_queries(self) -> None:
        self.call("next_deadline")
        self.call("backlog_sizes")
        ids = self.run_ids + self.event_ids + [f"evt-{i}" for i in range(1, self.n + 1)]
        for i in ids:
            self.call("explain", i)
            texts = set()
            for fc, _ in self.pairs:
                try:
                    texts.add(str(fc.explain(i)))
                except KeyError:
                    texts.add("unknown")
            assert len(texts) == 1, (i, texts)
        for r in self.run_ids:
            self.call("run_status", r)


def build(setup: dict[str, Any], clock: ManualClock) -> FlowControl:
    try:
        cfgs = [FunctionConfig.from_mapping(c) for c in setup["functions"]]
    except ConfigError:
        assume(False)
        raise
    policy = RoundRobin() if setup["fairness"] == "round-robin" else OldestFirst()
    return FlowControl(cfgs, clock=clock, account_concurrency=setup["account_concurrency"],
                       fairness=policy, record=setup["record"])


def round_trip(
    fc: FlowControl, clock: ManualClock, sort_keys: bool = False
) -> tuple[FlowControl, ManualClock, Any]:
    data = json.loads(json.dumps(snapshot(fc), allow_nan=False, sort_keys=sort_keys))
    clock2 = ManualClock(clock.now)
    fc2 = restore(fc.functions, data, clock=clock2)
    return fc2, clock2, data


@settings(max_examples=150, deadline=None)
@given(setup=setups(), ops=st.lists(op, min_size=30, max_size=100), cut=st.integers(0, 100))
def test_restored_controller_decides_exactly_like_the_original(
    setup: dict[str, Any], ops: list[tuple[Any, ...]], cut: int
) -> None:
    clock = ManualClock(5_000 * MS)
    host = Host(build(setup, clock), clock)
    cut = len(ops) * cut // 100
    for o in ops[:cut]:
        host.apply(o)
    fc2, clock2, data = round_trip(host.fc, clock)
    sizes = host.fc.backlog_sizes()
    event(f"queued at the cut: {'yes' if any(sizes.values()) else 'no'}")
    event(f"runs at the cut: {min(len(host.run_ids), 10) // 5 * 5}+")
    event(f"timers at the cut: {'yes' if host.fc.next_deadline() is not None else 'no'}")
    event(f"retrying at the cut: {'yes' if host.runs_in('retrying') else 'no'}")
    assert json.loads(json.dumps(snapshot(fc2))) == data  # the round trip is a fixed point
    host.pairs.append((fc2, clock2))
    host.compare_queries()
    for o in ops[cut:]:
        host.apply(o)
        host.call("next_deadline")
    host.compare_queries()
    assert snapshot(fc2) == snapshot(host.fc)  # and the states never drift apart


@settings(max_examples=40, deadline=None)
@given(setup=setups(), ops=st.lists(op, min_size=20, max_size=60),
       cuts=st.lists(st.integers(0, 40), min_size=2, max_size=3))
def test_a_chain_of_restores_stays_equal(
    setup: dict[str, Any], ops: list[tuple[Any, ...]], cuts: list[int]
) -> None:
    """Restore, run, snapshot the restored one, restore again: still the original's twin
    (every other snapshot is stored with sorted object keys)."""
    clock = ManualClock(0)
    host = Host(build(setup, clock), clock)
    for i, o in enumerate(ops):
        if i in cuts:
            last, last_clock = host.pairs[-1]
            fc2, clock2, _ = round_trip(last, last_clock, sort_keys=len(host.pairs) % 2 == 1)
            host.pairs.append((fc2, clock2))
        host.apply(o)
    host.compare_queries()
    first = snapshot(host.fc)
    assert all(snapshot(fc) == first for fc, _ in host.pairs[1:])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 100_000) | st.floats(allow_nan=False)
    | st.sampled_from(["", "run-1", "f", "clock", "policy", "ERROR", "o", "r", "inf"]),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["r", "o", "v", "i", "m", "d", "t", "x", "c", "F", "q",
                                       "s", "dq", "n", "S", "od"]), inner, max_size=2),
    max_leaves=6,
)


def slots_of(v: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) place in the JSON data."""
    out: list[tuple[Any, Any]] = []
    stack = [v]
    while stack:
        x = stack.pop()
        items = x.items() if isinstance(x, dict) else enumerate(x) if isinstance(x, list) else ()
        for k, y in items:
            out.append((x, k))
            stack.append(y)
    return out


@settings(max_examples=100, deadline=None)
@given(setup=setups(), ops=st.lists(op, min_size=5, max_size=40), data=st.data())
def test_a_tampered_snapshot_is_refused_with_a_ValueError_or_restored(
    setup: dict[str, Any], ops: list[tuple[Any, ...]], data: st.DataObject
) -> None:
    """Whatever one value of the data is replaced by, restore raises ValueError (naming a
    place) or builds a controller; never another exception."""
    clock = ManualClock(0)
    host = Host(build(setup, clock), clock)
    for o in ops:
        host.apply(o)
    saved = json.loads(json.dumps(snapshot(host.fc)))
    places = slots_of(saved)
    for _ in range(data.draw(st.integers(1, 3))):
        where, key = data.draw(st.sampled_from(places))
        where[key] = data.draw(json_values)
    try:
        restore(host.fc.functions, saved, clock=ManualClock(clock.now))
        event("tampered: restored")
    except ValueError as e:
        assert str(e)
        event("tampered: refused")


# The model's module is a test file of its own (imported, not type-checked from here).
model: Any = importlib.import_module("test_controller_props")


class RestartingMachine(model.ControllerMachine):  # type: ignore[misc]
    """The controller's model machine, with restarts through a JSON snapshot."""

    fc: FlowControl
    clock: ManualClock

    @precondition(lambda self: hasattr(self, "fc"))
    @rule(sort_keys=st.booleans())
    def restart(self, sort_keys: bool) -> None:
        text = json.dumps(self.fc.snapshot(), sort_keys=sort_keys)  # the public methods
        self.fc = FlowControl.restore(self.fc.functions, json.loads(text), clock=self.clock)


RestartingMachine.TestCase.settings = settings(
    RestartingMachine.TestCase.settings, stateful_step_count=40, max_examples=60
)
TestRestarting = RestartingMachine.TestCase
