"""Warnings: configs the platform accepts that probably do not do what their author thinks.

The rules come from the platform's documented interaction pitfalls and its code: a batch
takes its concurrency and throttle keys from its first event, and bypasses rate limits;
priority needs a limit that builds a backlog and an integer; a short debounce without a
timeout can postpone forever; a rate limit admits only ``limit // 10 + 1`` at once; a
throttle burst above the concurrency limit on the same key just queues; key expressions that
give non-strings; filters that are not boolean; account/env keys shared with different limits
or written differently (the platform hashes the expression *text*); and, with sample events,
keys that are always missing, priorities that give no integer, and values whose kind differs
from the expression's checked type. A rule fires where a reader would thank it: each one's
docstring says when it stays quiet.

For a function with errors, the rules run on what can be read (``Entry.readable``); a rule
that reasons about a setting's absence stays quiet when that setting is unreadable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

from flowcontrol.config import expressions
from flowcontrol.config.diagnostics import Diagnostic
from flowcontrol.config.model import FunctionConfig
from flowcontrol.config.source import Node
from flowcontrol.config.structure import filter_key
from flowcontrol.config.validate import Entry, child_path
from flowcontrol.time import format_duration

__all__ = ["QUIET_PERIOD_NS", "checked_type", "key_fields", "lint", "trigger_filters",
           "unreadable"]

PRIORITY_BOUND = 600
QUIET_PERIOD_NS: Final = 3600 * 10**9
"""A debounce period this long or longer is a quiet period by design (FC204 stays quiet)."""
_MISSING_MEANS = {
    "rateLimit": "the rate limit is skipped for those events",
    "singleton": "those runs are not singletons",
    "idempotency": "idempotency is skipped for those events",
}


def _at(entry: Entry, *keys: str | int) -> tuple[str, Node | None]:
    """Path and node of a field inside a function's document node."""
    node: Node | None = entry.node
    path = entry.path
    for k in keys:
        path = child_path(path, k)
        if node is None:
            continue
        if isinstance(k, int):
            node = node.value[k] if node.kind == "array" and k < len(node.value) else node
        elif node.kind == "object":
            node = node.value.get(k, node)
    return path, node


class _Out:
    def __init__(self) -> None:
        self.items: list[Diagnostic] = []

    def add(self, code: str, message: str, entry: Entry, *keys: str | int) -> None:
        path, node = _at(entry, *keys)
        line, col = (node.line, node.column) if node is not None else (None, None)
        self.items.append(Diagnostic.make(code, message, path=path, line=line, column=col,
                                          file=entry.file))


def key_fields(fn: FunctionConfig, entry_node: Node | None = None,
               ) -> list[tuple[str, tuple[str | int, ...], str]]:
    """Every key expression of ``fn``: (mechanism, path keys, source)."""
    out: list[tuple[str, tuple[str | int, ...], str]] = []
    conc_node = entry_node.value.get("concurrency") if entry_node is not None else None
    for i, c in enumerate(fn.concurrency):
        if c.key is not None:
            out.append(("concurrency", _step_keys(conc_node, i, "key"), c.key))
    rc = fn.run_concurrency
    if rc is not None and rc.key is not None:
        out.append(("concurrency.fn", ("concurrency", "fn", 0, "key"), rc.key))
    for mech, attr, field in (("throttle", fn.throttle, "throttle"),
                              ("rateLimit", fn.rate_limit, "rateLimit"),
                              ("debounce", fn.debounce, "debounce"),
                              ("singleton", fn.singleton, "singleton"),
                              ("batch", fn.batch, "batchEvents")):
        key = getattr(attr, "key", None)
        if key is not None:
            out.append((mech, (field, "key"), key))
    if fn.idempotency is not None:
        out.append(("idempotency", ("idempotency",), fn.idempotency))
    return out


def _probe(refs: Iterable[str]) -> dict[str, Any]:
    """An activation where every referenced path holds the string ``"x"``."""
    root: dict[str, Any] = {}
    for ref in sorted(refs):
        parts = ref.split(".")
        cur = root
        for p in parts[:-1]:
            nxt = cur.setdefault(p, {})
            if not isinstance(nxt, dict):
                break
            cur = nxt
        else:
            cur.setdefault(parts[-1], "x")
    return root


def _evaluate(program: Any, activation: dict[str, Any]) -> tuple[bool, Any]:
    try:
        return True, program.evaluate(activation)
    except Exception as exc:  # any evaluation failure is reported, never raised
        return False, exc


_NOWHERE: Final = Node("string", "", None, None)


def _compile(source: str) -> Any:
    compiled = expressions.compile_in(Node("string", source, None, None), source)
    return compiled.program


def _batch_rules(out: _Out, e: Entry, fn: FunctionConfig) -> None:
    """A batch takes its concurrency and throttle keys from its first event (FC201), and
    batching bypasses rate limits (FC202). FC201 stays quiet when the batch key is the same
    expression: then every event of a batch has the same key."""
    if fn.batch is None:
        return
    batch_key = (fn.batch.key or "").strip()
    keyed: list[tuple[str, str, tuple[str | int, ...]]] = [
        ("concurrency", c.key, _conc_keys(e, i, "key"))
        for i, c in enumerate(fn.concurrency) if c.key is not None]
    if fn.throttle is not None and fn.throttle.key is not None:
        keyed.append(("throttle", fn.throttle.key, ("throttle", "key")))
    for mech, key, keys in keyed:
        if key.strip() != batch_key:
            out.add("FC201", f"a batch run takes its {mech} key {key!r} from its first event "
                    f"only, and {'an unkeyed batch' if not batch_key else 'the batch key'} "
                    "can mix events with other values of it: the whole batch counts under "
                    f"one of them (use the same expression as batchEvents.key to keep them "
                    "apart)", e, *keys)
    if fn.rate_limit is not None:
        out.add("FC202", "batched events bypass the rate limit: it applies only to events "
                "that fail batchEvents.if", e, "rateLimit")
    if fn.idempotency is not None:
        out.add("FC202", "batched events bypass idempotency (it is a rate limit)", e,
                "idempotency")


def _priority_backlog(out: _Out, e: Entry, fn: FunctionConfig) -> None:
    """Priority needs a limit that builds a backlog (FC203)."""
    if fn.priority is None or fn.priority.run is None:
        return
    if not (any(c.limit > 0 for c in fn.concurrency) or fn.throttle is not None):
        out.add("FC203", "priority only reorders runs that wait; without a concurrency "
                "limit or a throttle nothing waits, so it has no effect", e, "priority")


def _priority_rules(out: _Out, e: Entry, fn: FunctionConfig) -> None:
    """Priority needs an integer: a checked type that is not (FC226), or a bare read of
    event data, which is a double for JSON numbers (FC215)."""
    if fn.priority is None or fn.priority.run is None:
        return
    src = fn.priority.run.strip()
    ctype = checked_type(src)
    if ctype is not None and ctype not in ("int", "dyn"):
        out.add("FC226", f"priority.run has type {ctype}, not int: the platform uses factor 0 "
                "for any value but an integer, so this priority never moves a run",
                e, "priority", "run")
        return
    program = _compile(src)
    if program is not None and expressions.references(program) == {src}:
        out.add("FC215", f"priority.run returns {src} directly: numbers in JSON event data "
                "are doubles and the platform uses factor 0 for non-integers; write "
                f"int({src})", e, "priority", "run")


def _debounce_rules(out: _Out, e: Entry, fn: FunctionConfig) -> None:
    """Debounce without a timeout (FC204) or with one no longer than the period (FC212).

    A period of ``QUIET_PERIOD_NS`` or more reads as "run after this much quiet": a stream
    that never pauses that long is what such a debounce means to wait out, so FC204 stays
    quiet there (a real config debounced 12 hours on purpose)."""
    d = fn.debounce
    if d is None:
        return
    if d.timeout_ns is None:
        if d.period_ns < QUIET_PERIOD_NS:
            whose = "for one key " if d.key is not None else ""
            out.add("FC204", f"debounce without a timeout: a steady stream of events {whose}"
                    f"(one at least every {format_duration(d.period_ns)}) postpones the run "
                    "forever; set timeout", e, "debounce")
    elif d.timeout_ns <= d.period_ns:
        out.add("FC212", f"debounce timeout {format_duration(d.timeout_ns)} is not longer "
                f"than the period {format_duration(d.period_ns)}: every run starts at the "
                "timeout, so the debounce period never matters", e, "debounce", "timeout")


def _rate_rules(out: _Out, e: Entry, fn: FunctionConfig) -> None:
    """Idempotency overriding the rate limit (FC214), and rate limiting ahead of debounce
    (FC217)."""
    effective = fn.effective_rate_limit()
    if effective is not None and fn.debounce is not None:
        which = "idempotency" if fn.idempotency is not None else "rateLimit"
        out.add("FC217", f"{which} is checked on every incoming event before the debounce: "
                "events it drops never reach the debounce, so the run may start with an "
                "older event than the latest one sent; it does not limit debounced runs", e,
                which)
    if fn.rate_limit is not None and fn.idempotency is not None:
        out.add("FC214", "idempotency replaces rateLimit: the platform turns it into a rate "
                "limit of 1 per 24h on its key and drops this rateLimit", e, "rateLimit")


def _rate_burst(out: _Out, e: Entry, fn: FunctionConfig) -> None:
    """The implicit burst of a rate limit the platform applies (FC205)."""
    rl = fn.rate_limit
    if rl is None:
        return
    if fn.idempotency is None and rl.limit >= 2:
        out.add("FC205", f"rateLimit {rl.limit} per {format_duration(rl.period_ns)} admits "
                f"{rl.limit // 10 + 1} at once, then one every "
                f"{format_duration(rl.period_ns // rl.limit)} (the implicit burst is "
                f"limit/10), not {rl.limit} at once", e, "rateLimit")


def _same_key_limit(fn: FunctionConfig, key: str | None) -> int | None:
    """The fn-scoped concurrency limit counted per the same key as ``key`` (the unkeyed
    function limit for ``None``), or ``None``: a limit per key only compares with a limit
    per the same key."""
    if key is None:
        return fn.function_limit()
    for c in fn.concurrency:
        if c.scope == "fn" and c.key is not None and c.key.strip() == key.strip() \
                and c.limit > 0:
            return c.limit
    return None


def _throughput_rules(out: _Out, e: Entry, fn: FunctionConfig) -> None:
    """Throttle against concurrency on the same key (FC206), singleton with concurrency
    (FC210), keyed limit 0 (FC213), sleeping runs outside the limit (FC218).

    FC206 compares a throttle only with a concurrency limit counted per the same key (a
    throttle per email against the whole function's limit says nothing). Its burst form
    fires only on an explicit ``burst``, the at-once capacity a reader asked for: a throttle
    without one (210 per day is a budget) may start ``limit`` runs at once by design. Its
    sustained form needs the run's steps to know how long slots are held."""
    th = fn.throttle
    fl = None if th is None else _same_key_limit(fn, th.key)
    per = "" if th is None or th.key is None else " per key"
    if th is not None and fl is not None and th.burst > 0 and th.limit + th.burst > fl:
        out.add("FC206", f"throttle burst {th.burst} lets up to {th.limit + th.burst} runs "
                f"start at once{per} (limit + burst), but concurrency allows {fl} steps at "
                f"once{per}: the starts beyond {fl} queue behind concurrency, so the burst "
                "adds nothing there", e, "throttle")
    busy = sum(step.duration_ns for step in fn.steps if step.kind == "run")
    if th is not None and fl is not None and busy > 0 and th.limit * busy > fl * th.period_ns:
        # Sustained: the throttle admits limit/period runs; concurrency finishes fl/busy.
        served = fl * th.period_ns // busy
        out.add("FC206", f"throttle admits {th.limit} runs per {format_duration(th.period_ns)}"
                f"{per}, but with {fl} concurrent steps{per} and {format_duration(busy)} of "
                f"running steps per run only about {served} runs finish per "
                f"{format_duration(th.period_ns)}: under sustained load the backlog grows "
                "without bound", e, "throttle")
    sleeps = any(step.kind == "sleep" for step in fn.steps)
    if sleeps and any(c.limit > 0 for c in fn.concurrency) and fn.run_concurrency is None:
        out.add("FC218", "concurrency limits executing steps, not runs: while a run sleeps it "
                "holds no slot, so more runs than the limit can be in flight at once (use "
                '{"fn": [{"limit": N}]} to limit runs in progress)', e, "concurrency")
    if fn.singleton is not None and any(c.limit > 0 for c in fn.concurrency):
        # Spec §8.3: the lock is taken at enqueue and held while the run is queued.
        then = ("new runs for the key are skipped" if fn.singleton.mode == "skip" else
                "a new event cancels a run that may not have started")
        out.add("FC210", "singleton with a concurrency limit: the singleton lock is taken when "
                "a run is queued and held while it waits for a concurrency slot, so "
                f"{then} even while nothing of that key executes (the platform's docs ask "
                "to treat this combination with care)", e, "singleton")
    for i, c in enumerate(fn.concurrency):
        if c.key is not None and c.limit == 0:
            out.add("FC213", f"keyed concurrency limit 0 on {c.key!r}: documented as no limit, "
                    "but the platform's current constraint path may block every run", e,
                    *_conc_keys(e, i, "limit"))


def _run_limit_rules(out: _Out, e: Entry, fn: FunctionConfig) -> None:
    """A run limit that makes a step limit dead weight (FC219); one held through sleeps
    that take most of a run's life (FC230)."""
    rc = fn.run_concurrency
    if rc is None:
        return
    per = "" if rc.key is None else f" per {rc.key}"
    for i, c in enumerate(fn.concurrency):
        # Each run executes one step at a time, so a run limit caps the steps of its
        # runs; an fn-scoped step limit on the same key (or any key, for an unkeyed run
        # limit) at or above it is never reached. env/account counters are shared.
        if c.scope == "fn" and c.limit >= rc.limit and rc.key in (None, c.key):
            what = "the function" if c.key is None else f"key {c.key}"
            out.add("FC219", f"step concurrency {c.limit} on {what} can never bind: run "
                    f"concurrency allows only {rc.limit} runs in progress{per}, and a run "
                    "executes one step at a time (unless it runs steps in parallel); drop "
                    "the step limit or lower it below the run limit",
                    e, *_conc_keys(e, i, "limit"))
    slept = sum(s.duration_ns for s in fn.steps if s.kind == "sleep")
    busy = sum(s.duration_ns for s in fn.steps if s.kind == "run")
    if slept > 0 and slept >= busy:
        life = slept + busy
        out.add("FC230", f"run concurrency {rc.limit}{per} is held through sleeps: each run "
                f"keeps its slot for about {format_duration(life)}, "
                f"{format_duration(slept)} of it sleeping, so at most {rc.limit} runs start "
                f"per {format_duration(life)}{per} and the queue waits on runs that are "
                "doing nothing; if the sleeps need no slot, use a step limit instead",
                e, "concurrency", "fn", 0, "limit")


def checked_type(source: str) -> str | None:
    """The cel-go type ``source`` checks to in the platform's environment (``None`` when
    unknown: no checker, or it does not check)."""
    return expressions.check_in(_NOWHERE, source).type


def _unbound(roots: set[str]) -> set[str]:
    """The variables read where only ``event`` is bound. With the checker, only the declared
    ones (``async``, ``vars``): an undeclared name is its type error (FC113/FC225)."""
    unbound = roots - {"event"}
    return unbound & expressions.DECLARED if expressions.checker_available() else unbound


def _expression_rules(out: _Out, e: Entry, fn: FunctionConfig) -> None:
    """Keys that read unbound variables (FC216) or give non-strings (FC207: boolean by the
    checked type and when run, or a constant)."""
    for mech, keys, src in key_fields(fn, e.node):
        program = _compile(src)
        if program is None:
            continue
        refs = expressions.references(program)
        unbound = _unbound({r.split(".")[0] for r in refs})
        if unbound:
            out.add("FC216", f"{mech} key reads {', '.join(sorted(unbound))}, which "
                    "is never bound when keys are evaluated (only 'event' is)"
                    f"{expressions.unquoted_hint(src)}", e, *keys)
            continue
        ctype = checked_type(src)
        ok, value = _evaluate(program, _probe(refs))
        # Checked bool, and bool when run: the platform's || and && return an operand (JS-like
        # truthiness), so the key `event.data.team || event.data.user` checks to bool but
        # gives strings.
        if ctype in ("bool", None) and ok and isinstance(value, bool):
            extra = _MISSING_MEANS.get(mech, 'the key is "false" for every such event')
            out.add("FC207", f"{mech} key gives a boolean, not a string: there are at most two "
                    f'keys ("true" and "false"), and where it is false {extra}', e, *keys)
        elif not refs and ok and not isinstance(value, str):
            out.add("FC207", f"{mech} key is the constant {value!r}, not a string: it is "
                    "stringified Go-style and every event shares that one key; write a "
                    "string literal", e, *keys)


_FILTER_MISS: Final = {
    "trigger": "the platform evaluates it as a boolean and treats any other value as an "
               "error, so this trigger never starts a run",
    "batch": "any value but true schedules the event at once, unbatched, so nothing is "
             "ever batched",
    "cancellation": "any value but true is an error or false, so it never cancels a run",
}


def _filter_type(out: _Out, e: Entry, which: str, source: str, keys: tuple[str | int, ...],
                 ) -> None:
    """A filter (trigger, batch or cancellation ``if``) whose checked type is not boolean
    (FC228)."""
    ctype = checked_type(source)
    if ctype is not None and ctype not in ("bool", "dyn"):
        out.add("FC228", f"{which} {keys[-1]} has type {ctype}, not bool: {_FILTER_MISS[which]}",
                e, *keys)


def _trigger_rules(out: _Out, e: Entry, fn: FunctionConfig) -> None:
    """Trigger filters that read unbound variables (FC216) or are not boolean (FC228)."""
    readable = {t.expression for t in fn.triggers if t.expression is not None}
    for keys, source in trigger_filters(e):
        if source not in readable:
            continue
        program = _compile(source)
        roots = {r.split(".")[0] for r in expressions.references(program)} if program else set()
        unbound = _unbound(roots)
        if unbound:
            out.add("FC216", f"trigger {keys[-1]} reads {', '.join(sorted(unbound))}"
                    ", which is never bound there (only 'event' is)", e, *keys)
        _filter_type(out, e, "trigger", source, keys)


def _filter_rules(out: _Out, e: Entry, fn: FunctionConfig) -> None:
    """Batch and cancellation filters that are not boolean (FC228)."""
    if fn.batch is not None and fn.batch.if_expr is not None:
        _filter_type(out, e, "batch", fn.batch.if_expr, ("batchEvents", "if"))
    if not fn.cancel_on:  # none, or unreadable
        return
    key = "cancelOn" if "cancelOn" in e.node.value else "cancel"
    for i, item in enumerate(e.node.value[key].value):
        source = item.value.get("if")
        if source is not None and source.kind == "string":
            _filter_type(out, e, "cancellation", source.value, (key, i, "if"))


def trigger_filters(e: Entry) -> list[tuple[tuple[str | int, ...], str]]:
    """Path keys and source of every event trigger's filter in the document (under ``if``,
    the SDK's name, or ``expression``, the registration payload's)."""
    tnode = e.node.value.get("triggers") if e.node.kind == "object" else None
    if tnode is None or tnode.kind not in ("array", "object"):
        return []
    items = tnode.value if tnode.kind == "array" else [tnode]
    out: list[tuple[tuple[str | int, ...], str]] = []
    for i, item in enumerate(items):
        if item.kind != "object" or "event" not in item.value:
            continue
        name = filter_key(item.value)
        if name is None or item.value[name].kind != "string":
            continue
        keys: tuple[str | int, ...] = ("triggers", i, name) if tnode.kind == "array" else (
            "triggers", name)
        out.append((keys, item.value[name].value))
    return out


_Rule = Callable[[_Out, Entry, FunctionConfig], None]
_RULES: tuple[tuple[frozenset[str], _Rule], ...] = (
    # (settings whose absence the rule reasons about, rule): with one of them unreadable in
    # a function that has errors, the rule cannot tell "absent" and stays quiet.
    (frozenset(), _batch_rules),
    (frozenset({"concurrency", "throttle"}), _priority_backlog),
    (frozenset(), _priority_rules),
    (frozenset(), _debounce_rules),
    (frozenset(), _rate_rules),
    (frozenset({"idempotency"}), _rate_burst),
    (frozenset(), _throughput_rules),
    (frozenset(), _run_limit_rules),
    (frozenset(), _expression_rules),
    (frozenset(), _trigger_rules),
    (frozenset(), _filter_rules),
)


def unreadable(e: Entry, needs: Iterable[str]) -> bool:
    """True when one of the settings ``needs`` (or an unknown key that may be one) could not
    be read in ``e``."""
    return bool(e.broken) and ("*" in e.broken or not e.broken.isdisjoint(needs))


def _function_rules(out: _Out, e: Entry, fn: FunctionConfig) -> None:
    for needs, rule in _RULES:
        if not unreadable(e, needs):
            rule(out, e, fn)


def _shared_keys(out: _Out, entries: Sequence[Entry]) -> None:
    """Account/env-scoped keys: shared counters need equal expression text (FC208/FC209)."""
    by_text: dict[tuple[str, str], list[tuple[Entry, int, int]]] = {}
    by_value: dict[tuple[str, str], list[tuple[Entry, int, str]]] = {}
    for e in entries:
        fn = e.readable
        if fn is None:
            continue
        for i, c in enumerate(fn.concurrency):
            if c.scope == "fn" or c.key is None:
                continue
            by_text.setdefault((c.scope, c.key), []).append((e, i, c.limit))
            program = _compile(c.key)
            if program is not None and not expressions.references(program):
                ok, value = _evaluate(program, {})
                if ok:
                    by_value.setdefault((c.scope, repr(value)), []).append((e, i, c.key))
    for (scope, key), users in by_text.items():
        limits = {limit for _, _, limit in users}
        if len(limits) > 1:
            for e, i, limit in users:
                others = ", ".join(f"{u.readable.id if u.readable else '?'}={lim}"
                                   for u, _, lim in users if u is not e)
                out.add("FC208", f"{scope}-scoped key {key!r} is shared with different limits "
                        f"({others}); each function checks the shared count against its own "
                        f"limit ({limit}), so the larger limit can starve the smaller", e,
                        *_conc_keys(e, i, "limit"))
    for (scope, value), sharers in by_value.items():
        texts = {src for _, _, src in sharers}
        if len(texts) > 1:
            for e, i, _src in sharers:
                out.add("FC209", f"{scope}-scoped keys {sorted(texts)} all evaluate to {value} "
                        "but are written differently: the platform identifies a shared limit "
                        "by the expression text, so they do not share a counter", e,
                        *_conc_keys(e, i, "key"))


def _conc_keys(e: Entry, i: int, leaf: str) -> tuple[str | int, ...]:
    node = e.node.value.get("concurrency") if e.node.kind == "object" else None
    return _step_keys(node, i, leaf)


def _step_keys(node: Node | None, i: int, leaf: str) -> tuple[str | int, ...]:
    """Path keys of step limit ``i``'s ``leaf``: in the list form, the server's
    ``{"step": [...]}`` or the single-object form."""
    if node is not None and node.kind == "array":
        return ("concurrency", i, leaf)
    if node is not None and node.kind == "object" and "step" in node.value:
        return ("concurrency", "step", i, leaf)
    return ("concurrency", leaf)


def lint(entries: Sequence[Entry], events: Sequence[dict[str, Any]] | None = None,
         ) -> list[Diagnostic]:
    """Warnings for the functions among ``entries`` (across files for shared keys): for a
    function with errors, on the settings that can still be read.

    With ``events`` (sample events as plain dicts), expressions are also evaluated on the
    events that trigger each function."""
    out = _Out()
    for e in entries:
        fn = e.readable
        if fn is not None:
            _function_rules(out, e, fn)
            if events is not None:
                from flowcontrol.config.samples import check_samples

                out.items.extend(check_samples(e, fn, events))
    _shared_keys(out, entries)
    return out.items
