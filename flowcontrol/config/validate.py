"""The validator: a parsed document in, typed ``FunctionConfig`` values and diagnostics out.

It applies every rule of the platform's registration validator (``Function.Validate`` in
inngest's ``pkg/inngest``, with the same meaning and, where it has one, the same message),
the documented ranges the platform leaves unchecked (throttle and debounce periods 1s..7d in
whole seconds, rate-limit period up to 24h, batch ``maxSize`` >= 2 and ``timeout`` >= 1s,
priority -600..600, at most two concurrency constraints, env/account scope needs a key, at
most five cancellations, at most ten triggers), type errors, unknown keys with a
did-you-mean, and expressions that do not compile (placed inside the expression string).

A document is one function, a list of functions, or a registration payload
``{"functions": [...]}``. Both the SDK names (``cancelOn``, a single trigger object, our
``steps`` list) and the registration names (``cancel``, ``steps`` as a record of step
definitions) are accepted. The validator never raises on any input: problems are values.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from flowcontrol._time import NS_PER_S, DurationError, parse_duration, parse_duration_strict
from flowcontrol.config import expressions
from flowcontrol.config.diagnostics import Diagnostic
from flowcontrol.config.model import (
    Batch,
    Cancel,
    ConcurrencyLimit,
    Debounce,
    FunctionConfig,
    Priority,
    RateLimit,
    Singleton,
    Step,
    Throttle,
    Timeouts,
    Trigger,
)
from flowcontrol.config.source import Node, SourceError, parse_text, plain_to_node

__all__ = ["Entry", "Result", "build_function", "validate_node", "validate_text"]

T = TypeVar("T")

H: Final = 3600 * NS_PER_S
MIN_PERIOD: Final = NS_PER_S
MAX_PERIOD: Final = 7 * 24 * H
MAX_RATE_PERIOD: Final = 24 * H
PRIORITY_BOUND: Final = 600
MAX_CONCURRENCY: Final = 2
MAX_CANCELLATIONS: Final = 5
MAX_TRIGGERS: Final = 10
MAX_RETRIES: Final = 20

FUNCTION_KEYS: Final = (
    "id", "name", "description", "triggers", "concurrency", "throttle", "rateLimit", "debounce",
    "priority", "singleton", "batchEvents", "cancelOn", "cancel", "idempotency", "timeouts",
    "retries", "steps", "optimizeParallelism",
)
PAYLOAD_KEYS: Final = (
    "functions", "url", "v", "deployType", "sdk", "framework", "appName", "appVersion", "hash",
    "capabilities", "deployId",
)
ALIASES: Final = {
    "rate_limit": "rateLimit", "ratelimit": "rateLimit", "batch_events": "batchEvents",
    "batch": "batchEvents", "cancel_on": "cancelOn", "max_size": "maxSize",
    "maxsize": "maxSize", "trigger": "triggers", "event_batch": "batchEvents",
}
KIND_NAMES: Final = {
    "object": "an object", "array": "a list", "string": "a string", "int": "an integer",
    "float": "a decimal number", "bool": "a boolean", "null": "null", "other": "a date/time",
}


@dataclass(frozen=True, slots=True)
class Entry:
    """A function found in the document: its config (``None`` if it has errors), node, path."""

    config: FunctionConfig | None
    node: Node
    path: str
    file: str


@dataclass(slots=True)
class Result:
    """Everything the validator found in one document."""

    entries: list[Entry] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def functions(self) -> list[FunctionConfig]:
        """The configs of the functions without errors."""
        return [e.config for e in self.entries if e.config is not None]


def child_path(path: str, key: str | int) -> str:
    """``$.a`` + ``b`` -> ``$.a.b``; ints become ``[i]``; odd keys are quoted."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key):
        return f"{path}.{key}"
    return f"{path}[{key!r}]"


def _fmt_ns(ns: int) -> str:
    from flowcontrol._time import format_duration

    return format_duration(ns)


class _Checker:
    """Collects diagnostics for one document."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.diagnostics: list[Diagnostic] = []
        self.errors = 0

    # -- reporting ---------------------------------------------------------------------

    def add(self, code: str, message: str, path: str, node: Node | None,
            at: tuple[int | None, int | None] | None = None) -> None:
        line, column = at if at is not None else (
            (node.line, node.column) if node is not None else (None, None))
        d = Diagnostic.make(code, message, path=path, line=line, column=column, file=self.file)
        if d.is_error:
            self.errors += 1
        self.diagnostics.append(d)

    def type_error(self, node: Node, path: str, expected: str) -> None:
        self.add("FC101", f"expected {expected}, got {KIND_NAMES.get(node.kind, node.kind)}",
                 path, node)

    # -- structure ---------------------------------------------------------------------

    def obj(self, node: Node, path: str, known: tuple[str, ...], what: str,
            ) -> dict[str, Node] | None:
        """Check an object: its type, duplicate keys and unknown keys."""
        if node.kind != "object":
            self.type_error(node, path, f"an object for {what}")
            return None
        for key, line, col in node.duplicates:
            self.add("FC104", f"key {key!r} appears more than once; the last one wins",
                     child_path(path, key), None, at=(line, col))
        members: dict[str, Node] = node.value
        for key, child in members.items():
            if key in known:
                continue
            hint = ALIASES.get(key) or ALIASES.get(key.lower())
            if hint not in known:
                close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
                hint = close[0] if close else None
            msg = f"unknown key {key!r} in {what}"
            msg += f"; did you mean {hint!r}?" if hint else f" (allowed: {', '.join(known)})"
            self.add("FC102", msg, child_path(path, key), child,
                     at=(child.key_line or child.line, child.key_column or child.column))
        return members

    def required(self, members: dict[str, Node], key: str, parent: Node, path: str,
                 what: str, message: str | None = None) -> Node | None:
        child = members.get(key)
        if child is None:
            self.add("FC103", message or f"{what} needs {key!r}", child_path(path, key), parent)
        return child

    def string(self, node: Node, path: str, what: str, *, empty_ok: bool = False,
               ) -> str | None:
        if node.kind != "string":
            self.type_error(node, path, f"a string for {what}")
            return None
        if not empty_ok and not node.value.strip():
            self.add("FC110" if what.endswith(("id", "name")) else "FC106",
                     f"{what} must not be empty", path, node)
            return None
        value: str = node.value
        return value

    def integer(self, node: Node, path: str, what: str) -> int | None:
        if node.kind != "int":
            self.type_error(node, path, f"an integer for {what}")
            return None
        value: int = node.value
        return value

    def duration(self, node: Node, path: str, what: str, *, strict: bool = False,
                 message: Callable[[str, str], str] | None = None) -> int | None:
        """Parse a duration string (str2duration, or Go ParseDuration when ``strict``)."""
        if node.kind != "string":
            self.type_error(node, path, f"a duration string such as \"30s\" for {what}")
            return None
        try:
            return (parse_duration_strict if strict else parse_duration)(node.value)
        except DurationError as exc:
            reason = exc.reason
            if strict and re.search(r"\d[dw]\b", node.value):
                reason += "; this field uses Go durations, which have no 'd' or 'w'"
            text = message(node.value, reason) if message else \
                f"invalid duration {node.value!r} for {what}: {reason}"
            self.add("FC105", text, path, node)
            return None

    def expression(self, node: Node, path: str, what: str, prefix: str, *,
                   cancel: bool = False) -> str | None:
        """Check an expression string; report a compile error inside the string."""
        source = self.string(node, path, what)
        if source is None:
            return None
        compiled = expressions.compile_in(node, source)
        if compiled.error is not None:
            self.add("FC107", f"{prefix}: {compiled.error}", path, node,
                     at=(compiled.line, compiled.column))
            return None
        if cancel:
            for name, index in expressions.calls_in(source):
                if name not in expressions.CANCEL_ALLOWED_CALLS:
                    self.add("FC191", f"{prefix}: {name}() is not allowed in cancellation "
                             "expressions (only operators, field access, 'in' and "
                             "int/uint/double)", path, node, at=node.position_in(index))
                    return None
        return source

    def optional_key(self, members: dict[str, Node], path: str, what: str, prefix: str,
                     ) -> str | None:
        key = members.get("key")
        if key is None or (key.kind == "string" and key.value == ""):
            return None
        return self.expression(key, child_path(path, "key"), f"{what} key", prefix)


def _priority_literals(source: str) -> list[tuple[int, int]]:
    """Integer literals used as results of a priority expression (after ``?``/``:``/start)."""
    blanked = expressions._STRING.sub(lambda m: " " * len(m.group()), source)
    out = []
    for m in re.finditer(r"(?:^|[?:(])\s*(-?\s*\d+)\s*(?=$|[?:)]|\s*$)", blanked):
        text = m.group(1).replace(" ", "")
        try:
            out.append((int(text), m.start(1)))
        except ValueError:  # pragma: no cover - the regex only matches digits
            continue
    return out


# ------------------------------------------------------------------------- per field

def _triggers(c: _Checker, node: Node, path: str) -> tuple[Trigger, ...]:
    items = [node] if node.kind == "object" else node.value if node.kind == "array" else None
    if items is None:
        c.type_error(node, path, "a trigger object or a list of triggers")
        return ()
    if node.kind == "array" and len(items) > MAX_TRIGGERS:
        c.add("FC192", f"This function exceeds the max number of triggers: {MAX_TRIGGERS} "
              f"(found {len(items)})", path, node)
    out = []
    for i, item in enumerate(items):
        ipath = child_path(path, i) if node.kind == "array" else path
        members = c.obj(item, ipath, ("event", "expression", "cron"), "a trigger")
        if members is None:
            continue
        has_event, has_cron = "event" in members, "cron" in members
        if has_event == has_cron:
            c.add("FC193", "a trigger needs exactly one of 'event' or 'cron'", ipath, item)
            continue
        if has_cron:
            if "expression" in members:
                c.add("FC102", "a cron trigger takes no 'expression'",
                      child_path(ipath, "expression"), members["expression"])
            cron = c.string(members["cron"], child_path(ipath, "cron"), "trigger cron")
            if cron is not None:
                out.append(Trigger(cron=cron))
            continue
        event = c.string(members["event"], child_path(ipath, "event"), "trigger event")
        expr_src = None
        if "expression" in members:
            expr_src = c.expression(members["expression"], child_path(ipath, "expression"),
                                    "trigger expression", "Trigger expression is invalid")
        if event is not None:
            out.append(Trigger(event=event, expression=expr_src))
    return tuple(out)


def _concurrency_item(c: _Checker, node: Node, path: str) -> ConcurrencyLimit | None:
    if node.kind == "int":
        if node.value < 0:
            c.add("FC122", f"concurrency limit must be >= 0 (0 means no limit), got {node.value}",
                  path, node)
            return None
        return ConcurrencyLimit(limit=node.value)
    members = c.obj(node, path, ("limit", "key", "scope"), "a concurrency constraint")
    if members is None:
        return None
    limit_node = c.required(members, "limit", node, path, "a concurrency constraint")
    limit = None if limit_node is None else c.integer(limit_node, child_path(path, "limit"),
                                                      "concurrency limit")
    if limit is not None and limit < 0:
        c.add("FC122", f"concurrency limit must be >= 0 (0 means no limit), got {limit}",
              child_path(path, "limit"), limit_node)
        limit = None
    scope = "fn"
    if "scope" in members:
        s = c.string(members["scope"], child_path(path, "scope"), "concurrency scope")
        if s is not None and s not in ("fn", "env", "account"):
            c.add("FC108", f"concurrency scope must be 'fn', 'env' or 'account', got {s!r}",
                  child_path(path, "scope"), members["scope"])
            s = None
        if s is None:
            return None
        scope = s
    key_node = members.get("key")
    key = None
    if key_node is not None:
        before = c.errors
        key = c.expression(key_node, child_path(path, "key"), "concurrency key",
                           f"Invalid concurrency key '{key_node.value}'"
                           if key_node.kind == "string" else "Invalid concurrency key")
        if key is None and c.errors > before:
            return None
    if scope in ("env", "account") and key is None:
        c.add("FC121", f"A concurrency key must be specified for {scope} scoped limits", path,
              node)
        return None
    if limit is None:
        return None
    return ConcurrencyLimit(limit=limit, key=key, scope=scope)  # type: ignore[arg-type]


def _concurrency(c: _Checker, node: Node, path: str) -> tuple[ConcurrencyLimit, ...] | None:
    if node.kind == "array":
        if not node.value:
            c.add("FC106", "the concurrency list needs at least one constraint", path, node)
            return None
        if len(node.value) > MAX_CONCURRENCY:
            c.add("FC120", "There are more concurrency limits specified than the allowed max "
                  f"of: {MAX_CONCURRENCY} (found {len(node.value)})", path, node)
        items = [_concurrency_item(c, n, child_path(path, i)) for i, n in enumerate(node.value)]
    elif node.kind in ("int", "object"):
        items = [_concurrency_item(c, node, path)]
    else:
        c.type_error(node, path, "a number, a constraint object or a list of constraints")
        return None
    if any(i is None for i in items):
        return None
    out = tuple(i for i in items if i is not None)
    seen: set[tuple[str, str | None]] = set()
    for i, item in enumerate(out):
        ident = (item.scope, item.key)
        if ident in seen:
            what = f"key {item.key!r}" if item.key is not None else "no key"
            c.add("FC123", f"two concurrency constraints with scope {item.scope!r} and {what}: "
                  "they would count on one counter; keep one (the platform uses the smaller "
                  "limit)", child_path(path, i), node.value[i])
            return None
        seen.add(ident)
    return out


def _period(c: _Checker, members: dict[str, Node], parent: Node, path: str, what: str,
            code: str, max_ns: int, *, message: Callable[[str, str], str] | None = None,
            whole: bool = True) -> int | None:
    node = c.required(members, "period", parent, path, what,
                      "period must be specified" if what == "rateLimit" else None)
    if node is None:
        return None
    ppath = child_path(path, "period")
    ns = c.duration(node, ppath, f"{what} period", message=message)
    if ns is None:
        return None
    text = node.value
    if ns < MIN_PERIOD:
        c.add(code, (f"The debounce period of '{text}' is less than the min of: 1s"
                     if what == "debounce" else
                     f"{what} period {text!r} is below the documented minimum of 1s"),
              ppath, node)
        return None
    if ns > max_ns:
        c.add(code, (f"The debounce period of '{text}' is greater than the max of: 168h0m0s"
                     if what == "debounce" else
                     f"period must be less than {_fmt_ns(max_ns)}" if what == "rateLimit" else
                     f"{what} period {text!r} is above the documented maximum of 7d"),
              ppath, node)
        return None
    if ns % NS_PER_S:
        if whole:
            c.add(code, f"{what} period {text!r} must be a whole number of seconds "
                  "(the platform truncates it)", ppath, node)
            return None
        c.add("FC211", f"rateLimit period {text!r} is not a whole number of seconds; the "
              f"platform's constraint path truncates it to {ns // NS_PER_S}s", ppath, node)
    return ns


def _throttle(c: _Checker, node: Node, path: str) -> Throttle | None:
    members = c.obj(node, path, ("limit", "period", "burst", "key"), "throttle")
    if members is None:
        return None
    before = c.errors
    limit_node = c.required(members, "limit", node, path, "throttle")
    limit = None if limit_node is None else c.integer(limit_node, child_path(path, "limit"),
                                                      "throttle limit")
    if limit is not None and limit < 1:
        c.add("FC131", f"throttle limit must be at least 1, got {limit} (the platform "
              "silently treats 0 as 1)", child_path(path, "limit"), limit_node)
    period = _period(c, members, node, path, "throttle", "FC130", MAX_PERIOD)
    burst = 0
    if "burst" in members:
        b = c.integer(members["burst"], child_path(path, "burst"), "throttle burst")
        if b is not None and b < 0:
            c.add("FC106", f"throttle burst must be >= 0, got {b}", child_path(path, "burst"),
                  members["burst"])
        burst = b or 0
    key = c.optional_key(members, path, "throttle", "Throttle key is invalid")
    if c.errors > before or limit is None or period is None:
        return None
    return Throttle(limit=limit, period_ns=period, burst=burst, key=key)


def _rate_limit(c: _Checker, node: Node, path: str) -> RateLimit | None:
    members = c.obj(node, path, ("limit", "period", "key"), "rateLimit")
    if members is None:
        return None
    before = c.errors
    limit_node = c.required(members, "limit", node, path, "rateLimit")
    limit = None if limit_node is None else c.integer(limit_node, child_path(path, "limit"),
                                                      "rateLimit limit")
    if limit is not None and limit <= 0:
        c.add("FC140", f"limit must be greater than 0, got {limit}", child_path(path, "limit"),
              limit_node)
    period = _period(c, members, node, path, "rateLimit", "FC141", MAX_RATE_PERIOD,
                     message=lambda t, r: f"failed to parse time duration: {t!r}: {r}",
                     whole=False)
    key = c.optional_key(members, path, "rateLimit", "key is invalid")
    if c.errors > before or limit is None or period is None:
        return None
    return RateLimit(limit=limit, period_ns=period, key=key)


def _debounce(c: _Checker, node: Node, path: str) -> Debounce | None:
    members = c.obj(node, path, ("period", "key", "timeout"), "debounce")
    if members is None:
        return None
    before = c.errors
    period = _period(c, members, node, path, "debounce", "FC150", MAX_PERIOD,
                     message=lambda t, r: f"The debounce period of '{t}' is invalid: {r}")
    timeout = None
    if "timeout" in members:
        tnode = members["timeout"]
        timeout = c.duration(tnode, child_path(path, "timeout"), "debounce timeout")
        if timeout is not None and timeout <= 0:
            c.add("FC151", f"debounce timeout must be a positive duration, got {tnode.value!r}",
                  child_path(path, "timeout"), tnode)
    key = c.optional_key(members, path, "debounce", "Debounce expression is invalid")
    if c.errors > before or period is None:
        return None
    return Debounce(period_ns=period, key=key, timeout_ns=timeout)


def _priority(c: _Checker, node: Node, path: str) -> Priority | None:
    members = c.obj(node, path, ("run",), "priority")
    if members is None:
        return None
    run_node = members.get("run")
    if run_node is None:
        return Priority()
    rpath = child_path(path, "run")
    run = c.expression(run_node, rpath, "priority run", "Priority.Run expression is invalid")
    if run is None:
        return None
    bad = False
    for value, index in _priority_literals(run):
        if abs(value) > PRIORITY_BOUND:
            c.add("FC180", f"priority value {value} is outside the documented range "
                  f"-{PRIORITY_BOUND}..{PRIORITY_BOUND} seconds (the platform clamps it)",
                  rpath, run_node, at=run_node.position_in(index))
            bad = True
    return None if bad else Priority(run=run)


def _singleton(c: _Checker, node: Node, path: str) -> Singleton | None:
    members = c.obj(node, path, ("key", "mode"), "singleton")
    if members is None:
        return None
    before = c.errors
    mode_node = c.required(members, "mode", node, path, "singleton",
                           "singleton needs 'mode' ('skip' or 'cancel')")
    mode = None
    if mode_node is not None:
        mode = c.string(mode_node, child_path(path, "mode"), "singleton mode")
        if mode is not None and mode not in ("skip", "cancel"):
            c.add("FC108", f"singleton mode must be 'skip' or 'cancel', got {mode!r}",
                  child_path(path, "mode"), mode_node)
    key = c.optional_key(members, path, "singleton", "Singleton key is invalid")
    if c.errors > before or mode is None:
        return None
    return Singleton(mode=mode, key=key)  # type: ignore[arg-type]


def _batch(c: _Checker, node: Node, path: str) -> Batch | None:
    members = c.obj(node, path, ("maxSize", "timeout", "key", "if"), "batchEvents")
    if members is None:
        return None
    before = c.errors
    size_node = c.required(members, "maxSize", node, path, "batchEvents")
    size = None if size_node is None else c.integer(size_node, child_path(path, "maxSize"),
                                                    "batch maxSize")
    if size is not None and size < 2:
        c.add("FC160", f"batch size cannot be smaller than 2: {size}",
              child_path(path, "maxSize"), size_node)
    timeout_node = c.required(members, "timeout", node, path, "batchEvents")
    timeout = None
    if timeout_node is not None:
        tpath = child_path(path, "timeout")
        if timeout_node.kind == "string":
            try:
                timeout = parse_duration_strict(timeout_node.value)
            except DurationError as exc:
                hint = "; Go durations have no 'd' or 'w'" if re.search(
                    r"\d[dw]\b", timeout_node.value) else ""
                c.add("FC161", f"invalid timeout string: {timeout_node.value!r} "
                      f"({exc.reason}{hint})", tpath, timeout_node)
            else:
                if timeout < NS_PER_S:
                    c.add("FC161", f"batch timeout should be more than 1s, got "
                          f"{timeout_node.value!r}", tpath, timeout_node)
        else:
            c.type_error(timeout_node, tpath, 'a duration string such as "30s" for batch timeout')
    key = c.optional_key(members, path, "batch", "batch key expression is invalid")
    if_expr = None
    if "if" in members:
        if_expr = c.expression(members["if"], child_path(path, "if"), "batch if",
                               "conditional batch expression is invalid")
    if c.errors > before or size is None or timeout is None:
        return None
    return Batch(max_size=size, timeout_ns=timeout, key=key, if_expr=if_expr)


def _cancels(c: _Checker, node: Node, path: str) -> tuple[Cancel, ...] | None:
    if node.kind != "array":
        c.type_error(node, path, "a list of cancellations")
        return None
    before = c.errors
    if len(node.value) > MAX_CANCELLATIONS:
        c.add("FC190", "This function exceeds the max number of cancellation events: "
              f"{MAX_CANCELLATIONS} (found {len(node.value)})", path, node)
    out = []
    for i, item in enumerate(node.value):
        ipath = child_path(path, i)
        members = c.obj(item, ipath, ("event", "if", "match", "timeout"), "a cancellation")
        if members is None:
            continue
        ev_node = c.required(members, "event", item, ipath, "a cancellation")
        event = None if ev_node is None else c.string(ev_node, child_path(ipath, "event"),
                                                      "cancellation event")
        if_expr = None
        if "if" in members:
            if_expr = c.expression(members["if"], child_path(ipath, "if"), "cancellation if",
                                   "Cancellation expression is invalid", cancel=True)
        match = None
        if "match" in members:
            match = c.string(members["match"], child_path(ipath, "match"), "cancellation match")
            if match is not None and not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*",
                                                      match):
                c.add("FC106", f"cancellation match must be a field path such as "
                      f"'data.user_id', got {match!r}", child_path(ipath, "match"),
                      members["match"])
                match = None
        timeout = None
        if "timeout" in members:
            tnode = members["timeout"]
            timeout = c.duration(tnode, child_path(ipath, "timeout"), "cancellation timeout")
            if timeout is not None and timeout <= 0:
                c.add("FC106", f"cancellation timeout must be positive, got {tnode.value!r}",
                      child_path(ipath, "timeout"), tnode)
        if event is not None:
            if match is not None:
                clause = f"event.{match} == async.{match}"
                if_expr = clause if if_expr is None else f"({if_expr}) && {clause}"
            out.append(Cancel(event=event, if_expr=if_expr, match=match, timeout_ns=timeout))
    return None if c.errors > before else tuple(out)


def _timeouts(c: _Checker, node: Node, path: str) -> Timeouts | None:
    members = c.obj(node, path, ("start", "finish"), "timeouts")
    if members is None:
        return None
    values: dict[str, int | None] = {"start": None, "finish": None}
    ok = True
    for name in values:
        if name in members:
            n = members[name]
            ns = c.duration(n, child_path(path, name), f"timeouts.{name}")
            if ns is not None and ns <= 0:
                c.add("FC106", f"timeouts.{name} must be positive, got {n.value!r}",
                      child_path(path, name), n)
                ns = None
            ok = ok and ns is not None
            values[name] = ns
    return Timeouts(start_ns=values["start"], finish_ns=values["finish"]) if ok else None


def _steps(c: _Checker, node: Node, path: str) -> tuple[Step, ...] | None:
    if node.kind == "object":
        _registration_steps(c, node, path)
        return ()
    if node.kind != "array":
        c.type_error(node, path, 'a list of steps such as [{"run": "2s"}, {"sleep": "10s"}]')
        return None
    out = []
    ok = True
    for i, item in enumerate(node.value):
        ipath = child_path(path, i)
        members = c.obj(item, ipath, ("run", "sleep"), "a step")
        if members is None:
            ok = False
            continue
        if len(members) != 1:
            c.add("FC194", 'a step is one of {"run": DURATION} or {"sleep": DURATION}', ipath,
                  item)
            ok = False
            continue
        kind, dnode = next(iter(members.items()))
        ns = c.duration(dnode, child_path(ipath, kind), f"{kind} step")
        if ns is not None and ns < 0:
            c.add("FC194", f"a step duration must not be negative, got {dnode.value!r}",
                  child_path(ipath, kind), dnode)
            ns = None
        if ns is None:
            ok = False
            continue
        out.append(Step(kind=kind, duration_ns=ns))  # type: ignore[arg-type]
    return tuple(out) if ok else None


_URI: Final = re.compile(r"^(https?|wss?)://[^\s/?#]+[^\s]*$")


def _registration_steps(c: _Checker, node: Node, path: str) -> None:
    """The registration payload's ``steps`` record: the platform's step rules."""
    members = c.obj(node, path, tuple(node.value), "steps")
    if members is None:
        return
    if not members:
        c.add("FC194", "Functions must contain one step", path, node)
    for sid, step in members.items():
        spath = child_path(path, sid)
        sm = c.obj(step, spath, ("id", "name", "runtime", "retries"), "a step definition")
        if sm is None:
            continue
        name = sm.get("name")
        if name is None or name.kind != "string" or not name.value:
            c.add("FC194", "All steps must have a name", child_path(spath, "name"),
                  name or step)
        runtime = sm.get("runtime")
        if runtime is None:
            c.add("FC194", "Steps must have a valid URI", child_path(spath, "runtime"), step)
            continue
        rm = c.obj(runtime, child_path(spath, "runtime"), ("type", "url"), "a step runtime")
        if rm is None:
            continue
        rtype = rm.get("type")
        if rtype is not None and (rtype.kind != "string" or rtype.value not in ("http", "ws")):
            c.add("FC194", f"Non-supported step schema: {rtype.plain()!r}",
                  child_path(child_path(spath, "runtime"), "type"), rtype)
        url = rm.get("url")
        if url is None or url.kind != "string" or not _URI.match(url.value):
            c.add("FC194", "Steps must have a valid URI",
                  child_path(child_path(spath, "runtime"), "url"), url or runtime)


# ------------------------------------------------------------------------- function

def _function(c: _Checker, node: Node, path: str, payload: bool) -> FunctionConfig | None:
    before = c.errors
    members = c.obj(node, path, FUNCTION_KEYS, "a function")
    if members is None:
        return None
    fid = None
    id_node = c.required(members, "id", node, path, "a function", "a function needs an 'id'")
    if id_node is not None:
        fid = c.string(id_node, child_path(path, "id"), "function id")
    name = None
    if "name" in members:
        name_node = members["name"]
        if name_node.kind == "string" and not name_node.value.strip():
            c.add("FC110", "A function name is required", child_path(path, "name"), name_node)
        else:
            name = c.string(name_node, child_path(path, "name"), "function name")
    if "description" in members:
        c.string(members["description"], child_path(path, "description"), "description",
                 empty_ok=True)
    if "optimizeParallelism" in members and members["optimizeParallelism"].kind != "bool":
        c.type_error(members["optimizeParallelism"], child_path(path, "optimizeParallelism"),
                     "a boolean for optimizeParallelism")

    def opt(key: str, fn: Callable[[_Checker, Node, str], T]) -> T | None:
        n = members.get(key)
        return None if n is None else fn(c, n, child_path(path, key))

    triggers: tuple[Trigger, ...] = ()
    if "triggers" in members:
        triggers = _triggers(c, members["triggers"], child_path(path, "triggers"))
    else:
        c.add("FC103", "a function needs 'triggers' (an event or cron trigger)",
              child_path(path, "triggers"), node)
    concurrency = opt("concurrency", _concurrency) or ()
    throttle = opt("throttle", _throttle)
    rate_limit = opt("rateLimit", _rate_limit)
    debounce = opt("debounce", _debounce)
    priority = opt("priority", _priority)
    singleton = opt("singleton", _singleton)
    batch = opt("batchEvents", _batch)
    if "cancel" in members and "cancelOn" in members:
        c.add("FC112", "cancellations are given as both 'cancelOn' and 'cancel'; use one",
              child_path(path, "cancel"), members["cancel"])
    cancel_key = "cancelOn" if "cancelOn" in members else "cancel"
    cancels = opt(cancel_key, _cancels) or ()
    idempotency = None
    if "idempotency" in members:
        idempotency = c.expression(members["idempotency"], child_path(path, "idempotency"),
                                   "idempotency", "Idempotency expression is invalid")
    timeouts = opt("timeouts", _timeouts)
    retries = None
    if "retries" in members:
        retries = c.integer(members["retries"], child_path(path, "retries"), "retries")
        if retries is not None and not 0 <= retries <= MAX_RETRIES:
            c.add("FC195", f"retries must be between 0 and {MAX_RETRIES}, got {retries}",
                  child_path(path, "retries"), members["retries"])
    steps = opt("steps", _steps) or ()
    if payload and "steps" not in members:
        c.add("FC194", "Functions must contain one step", child_path(path, "steps"), node)

    # Combinations the platform refuses.
    bnode = members.get("batchEvents")
    if bnode is not None and bnode.kind == "object":
        bpath = child_path(path, "batchEvents")
        if cancels or members.get(cancel_key) is not None:
            c.add("FC170", "Batching and cancellation are mutually exclusive", bpath, bnode)
        if "debounce" in members:
            c.add("FC171", "Batching and debouncing are mutually exclusive", bpath, bnode)
        if "singleton" in members:
            c.add("FC172", "Batching and singletons are mutually exclusive", bpath, bnode)
        pnode = members.get("priority")
        if pnode is not None and pnode.kind == "object" and "run" in pnode.value:
            c.add("FC173", "A function cannot specify Priority.Run and Batch together", bpath,
                  bnode)

    if c.errors > before or fid is None:
        return None
    return FunctionConfig(
        id=fid, name=name, triggers=triggers, concurrency=concurrency, throttle=throttle,
        rate_limit=rate_limit, debounce=debounce, priority=priority, singleton=singleton,
        batch=batch, cancel_on=cancels, idempotency=idempotency, timeouts=timeouts,
        retries=retries, steps=steps,
    )


def validate_node(root: Node, file: str = "<config>") -> Result:
    """Validate a parsed document; never raises."""
    c = _Checker(file)
    result = Result(diagnostics=c.diagnostics)
    items: list[tuple[Node, str]]
    payload = False
    if root.kind == "object" and "functions" in root.value:
        payload = True
        members = c.obj(root, "$", PAYLOAD_KEYS, "a registration payload")
        fnode = root.value["functions"]
        if fnode.kind != "array":
            c.type_error(fnode, "$.functions", "a list of functions")
            items = []
        else:
            items = [(n, f"$.functions[{i}]") for i, n in enumerate(fnode.value)]
        del members
    elif root.kind == "object":
        items = [(root, "$")]
    elif root.kind == "array":
        items = [(n, f"$[{i}]") for i, n in enumerate(root.value)]
    else:
        c.add("FC109", "expected a function object, a list of functions or a registration "
              f"payload {{\"functions\": [...]}}, got {KIND_NAMES.get(root.kind, root.kind)}",
              "$", root)
        items = []
    seen: dict[str, str] = {}
    for node, path in items:
        config = _function(c, node, path, payload)
        result.entries.append(Entry(config=config, node=node, path=path, file=file))
        if node.kind == "object":
            id_node = node.value.get("id")
            if id_node is not None and id_node.kind == "string" and id_node.value:
                if id_node.value in seen:
                    c.add("FC111", f"function id {id_node.value!r} is also used at "
                          f"{seen[id_node.value]}", child_path(path, "id"), id_node)
                else:
                    seen[id_node.value] = path
    return result


def build_function(data: Mapping[str, Any]) -> tuple[FunctionConfig | None, list[Diagnostic]]:
    """Validate one function given as plain data; return its config and the diagnostics."""
    try:
        node = plain_to_node(dict(data))
    except Exception as exc:  # bad input is a diagnostic
        return None, [Diagnostic.make("FC101", f"not a plain mapping: {exc}")]
    c = _Checker("<config>")
    config = _function(c, node, "$", payload=False)
    return config, c.diagnostics


def validate_text(text: str, fmt: str, file: str = "<config>") -> Result:
    """Parse ``text`` (``json``, ``yaml`` or ``toml``) and validate it; never raises.

    A document that does not parse gives a single ``FC002`` diagnostic at the parse error."""
    try:
        root = parse_text(text, fmt)
    except SourceError as exc:
        return Result(diagnostics=[Diagnostic.make("FC002", f"cannot parse {fmt.upper()}: "
                                                   f"{exc.message}", line=exc.line,
                                                   column=exc.column, file=file)])
    except RecursionError:
        return Result(diagnostics=[Diagnostic.make("FC002", "the document nests too deeply",
                                                   line=1, column=1, file=file)])
    return validate_node(root, file)
