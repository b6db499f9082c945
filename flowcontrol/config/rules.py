"""Rules for the flow-control settings: concurrency, throttle, rateLimit, debounce, priority,
singleton and batchEvents.

Each rule reads one setting's node, reports every problem through the ``Checker`` (with the
platform's message where it has one) and returns the typed value, or ``None`` when the
setting has errors. Ranges are the platform's validator plus its documented ranges.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from flowcontrol.config import expressions
from flowcontrol.config.checker import Checker, child_path, fmt_ns
from flowcontrol.config.model import (
    Batch,
    ConcurrencyLimit,
    Debounce,
    Priority,
    RateLimit,
    RunConcurrency,
    Singleton,
    Throttle,
)
from flowcontrol.config.source import Node
from flowcontrol.time import NS_PER_S, DurationError, parse_duration_strict

__all__ = ["batch", "concurrency", "debounce", "priority", "rate_limit", "singleton", "throttle"]

H: Final = 3600 * NS_PER_S
MIN_PERIOD: Final = NS_PER_S
MAX_PERIOD: Final = 7 * 24 * H
MAX_RATE_PERIOD: Final = 24 * H
PRIORITY_BOUND: Final = 600
MAX_CONCURRENCY: Final = 2

# What a type error does at run time in the expressions registration only parses (spec §1.2
# and §6.1: the platform's key-evaluation conventions and RunPriorityFactor). Keys are then
# evaluated without types, where an error (or a missing value) becomes false.
_UNTYPED: Final = "at run time it is evaluated untyped, and where that fails (or gives false) "
CONCURRENCY_KEY_ERROR: Final = _UNTYPED + 'the run counts under the one key "false"'
RUN_CONCURRENCY_KEY_ERROR: Final = ("at run time it is evaluated untyped, and where that fails "
                                    "the run counts in the one bucket of every failing key")
THROTTLE_KEY_ERROR: Final = _UNTYPED + 'the run shares the one throttle key "false"'
SINGLETON_KEY_ERROR: Final = _UNTYPED + "the run is not a singleton"
PRIORITY_ERROR: Final = ("the platform type-checks it when it schedules each run, fails, and "
                         "uses priority factor 0 for every run")


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



def _concurrency_item(c: Checker, node: Node, path: str) -> ConcurrencyLimit | None:
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
                           if key_node.kind == "string" else "Invalid concurrency key",
                           runtime=CONCURRENCY_KEY_ERROR)
        if key is None and c.errors > before:
            return None
    if scope in ("env", "account") and key is None:
        c.add("FC121", f"A concurrency key must be specified for {scope} scoped limits", path,
              node)
        return None
    if limit is None:
        return None
    return ConcurrencyLimit(limit=limit, key=key, scope=scope)  # type: ignore[arg-type]


def _step_list(c: Checker, node: Node, path: str) -> tuple[ConcurrencyLimit, ...] | None:
    """A list of at most two step limits (``concurrency`` as a list, or ``step``)."""
    if not node.value:
        c.add("FC106", "the concurrency list needs at least one constraint", path, node)
        return None
    if len(node.value) > MAX_CONCURRENCY:
        c.add("FC120", "There are more concurrency limits specified than the allowed max "
              f"of: {MAX_CONCURRENCY} (found {len(node.value)})", path, node)
    items = [_concurrency_item(c, n, child_path(path, i)) for i, n in enumerate(node.value)]
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


def _run_limit(c: Checker, node: Node, path: str) -> RunConcurrency | None:
    """One ``fn`` item: ``{limit > 0, key?, scope?: "fn"}`` (platform ``FnConcurrency``)."""
    members = c.obj(node, path, ("limit", "key", "scope", "id"), "a function concurrency limit")
    if members is None:
        return None
    before = c.errors
    if "scope" in members:
        s = c.string(members["scope"], child_path(path, "scope"), "function concurrency scope",
                     empty_ok=True)
        if s == "app":
            c.add("FC126", "app-scoped function concurrency cannot be set by users",
                  child_path(path, "scope"), members["scope"])
        elif s is not None and s not in ("", "fn"):
            c.add("FC126", f"invalid function concurrency scope: {s}", child_path(path, "scope"),
                  members["scope"])
    if "id" in members:  # set by the server at registration (a hash of the key); not used
        c.string(members["id"], child_path(path, "id"), "function concurrency id",
                 empty_ok=True)
    limit = 0
    if "limit" in members:
        n = c.integer(members["limit"], child_path(path, "limit"), "function concurrency limit")
        if n is None:
            return None
        limit = n
    if limit <= 0:  # a missing limit decodes as 0 on the platform
        c.add("FC125", "function concurrency limit must be > 0",
              child_path(path, "limit"), members.get("limit", node))
    key = None
    key_node = members.get("key")
    if key_node is not None:
        key = c.expression(key_node, child_path(path, "key"), "function concurrency key",
                           f"invalid function concurrency key '{key_node.value}'"
                           if key_node.kind == "string" else "invalid function concurrency key",
                           runtime=RUN_CONCURRENCY_KEY_ERROR)
    if c.errors > before:
        return None
    return RunConcurrency(limit=limit, key=key)


ConcurrencySetting = tuple[tuple[ConcurrencyLimit, ...], RunConcurrency | None]
"""What ``concurrency`` gives: the step limits and the run-level limit (or None)."""


def _server_shape(c: Checker, node: Node, path: str) -> ConcurrencySetting | None:
    """``{"fn": [...], "step": [...]}`` (platform ``ConcurrencyLimits.UnmarshalJSON`` and
    ``Validate``): ``step`` as the list form, ``fn`` at most one run-level limit."""
    members = c.obj(node, path, ("fn", "step"), "concurrency")
    if members is None:
        return None
    before = c.errors
    lists: dict[str, list[Node]] = {}
    for name in ("fn", "step"):
        n = members.get(name)
        if n is None:
            lists[name] = []
        elif n.kind != "array":
            c.type_error(n, child_path(path, name), f"a list for concurrency.{name}")
        else:
            lists[name] = n.value
    if c.errors > before:
        return None
    if not lists["fn"] and not lists["step"]:
        c.add("FC106", 'concurrency {"fn": [...], "step": [...]} needs at least one limit (the '
              "platform reads empty lists as no limit at all); remove it or give a limit",
              path, node)
        return None
    steps: tuple[ConcurrencyLimit, ...] | None = ()
    if lists["step"]:
        steps = _step_list(c, members["step"], child_path(path, "step"))
    fpath = child_path(path, "fn")
    if len(lists["fn"]) > 1:
        c.add("FC124", "Only one function concurrency limit is allowed", fpath, members["fn"])
    run = None
    for i, item in enumerate(lists["fn"]):
        run = _run_limit(c, item, child_path(fpath, i))
    if c.errors > before or steps is None:
        return None
    return steps, run


def concurrency(c: Checker, node: Node, path: str) -> ConcurrencySetting | None:
    """A number, one ``{limit, key?, scope?}``, a list of at most two (platform §2.2), or
    the server's ``{"fn": [...], "step": [...]}``: (step limits, run-level limit)."""
    if node.kind == "array":
        steps = _step_list(c, node, path)
        return None if steps is None else (steps, None)
    if node.kind == "object" and ("fn" in node.value or "step" in node.value):
        return _server_shape(c, node, path)
    if node.kind in ("int", "object"):
        item = _concurrency_item(c, node, path)
        return None if item is None else ((item,), None)
    c.type_error(node, path, "a number, a constraint object, a list of constraints or "
                 '{"fn": [...], "step": [...]}')
    return None


def _period(c: Checker, members: dict[str, Node], parent: Node, path: str, what: str,
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
                     f"period must be less than {fmt_ns(max_ns)}" if what == "rateLimit" else
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


def throttle(c: Checker, node: Node, path: str) -> Throttle | None:
    """``{limit >= 1, period 1s..7d whole seconds, burst >= 0, key?}``."""
    members = c.obj(node, path, ("limit", "period", "burst", "key"), "throttle")
    if members is None:
        return None
    before = c.errors
    limit = c.required_int(members, "limit", node, path, "throttle", "throttle limit", 1,
                           "FC131",
                           lambda v: f"throttle limit must be at least 1, got {v} (the platform "
                           "silently treats 0 as 1)")
    period = _period(c, members, node, path, "throttle", "FC130", MAX_PERIOD)
    burst = 0
    if "burst" in members:
        b = c.integer(members["burst"], child_path(path, "burst"), "throttle burst")
        if b is not None and b < 0:
            c.add("FC106", f"throttle burst must be >= 0, got {b}", child_path(path, "burst"),
                  members["burst"])
        burst = b or 0
    key = c.optional_key(members, path, "throttle", "Throttle key is invalid",
                         runtime=THROTTLE_KEY_ERROR)
    if c.errors > before or limit is None or period is None:
        return None
    return Throttle(limit=limit, period_ns=period, burst=burst, key=key)


def rate_limit(c: Checker, node: Node, path: str) -> RateLimit | None:
    """``{limit > 0, period 1s..24h, key?}`` (platform ``RateLimit.IsValid``)."""
    members = c.obj(node, path, ("limit", "period", "key"), "rateLimit")
    if members is None:
        return None
    before = c.errors
    limit = c.required_int(members, "limit", node, path, "rateLimit", "rateLimit limit", 1,
                           "FC140",
                           lambda v: f"limit must be greater than 0, got {v}")
    period = _period(c, members, node, path, "rateLimit", "FC141", MAX_RATE_PERIOD,
                     message=lambda t, r: f"failed to parse time duration: {t!r}: {r}",
                     whole=False)
    key = c.optional_key(members, path, "rateLimit", "key is invalid")
    if c.errors > before or limit is None or period is None:
        return None
    return RateLimit(limit=limit, period_ns=period, key=key)


def debounce(c: Checker, node: Node, path: str) -> Debounce | None:
    """``{period 1s..7d whole seconds, key?, timeout?}`` (platform messages)."""
    members = c.obj(node, path, ("period", "key", "timeout"), "debounce")
    if members is None:
        return None
    before = c.errors
    period = _period(c, members, node, path, "debounce", "FC150", MAX_PERIOD,
                     message=lambda t, r: f"The debounce period of '{t}' is invalid: {r}")
    timeout = c.positive_duration(
        members, "timeout", path, "debounce timeout", "FC151",
        lambda t: f"debounce timeout must be a positive duration, got {t!r}")
    key = c.optional_key(members, path, "debounce", "Debounce expression is invalid")
    if c.errors > before or period is None:
        return None
    return Debounce(period_ns=period, key=key, timeout_ns=timeout)


def priority(c: Checker, node: Node, path: str) -> Priority | None:
    """``{run?}``: an expression; literal results outside -600..600 are errors."""
    members = c.obj(node, path, ("run",), "priority")
    if members is None:
        return None
    run_node = members.get("run")
    if run_node is None:
        return Priority()
    rpath = child_path(path, "run")
    run = c.expression(run_node, rpath, "priority run", "Priority.Run expression is invalid",
                       runtime=PRIORITY_ERROR)
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


def singleton(c: Checker, node: Node, path: str) -> Singleton | None:
    """``{mode: "skip" | "cancel", key?}``, as the platform decodes it: a missing ``mode``
    is ``skip`` (a warning, FC229: the SDK's types and docs require it), and the mode's
    case does not matter (its enum decoder also tries the lowercased name)."""
    members = c.obj(node, path, ("key", "mode"), "singleton")
    if members is None:
        return None
    before = c.errors
    mode_node = members.get("mode")
    mode: str | None = "skip"
    if mode_node is None:
        c.add("FC229", "singleton has no 'mode': the SDK's types and docs require one, and "
              "the platform decodes a missing mode as 'skip' (a new run is skipped while one "
              "holds the key); write mode: 'skip' or 'cancel'", child_path(path, "mode"),
              node)
    else:
        mpath = child_path(path, "mode")
        mode = c.string(mode_node, mpath, "singleton mode", empty_ok=True)
        if mode is not None:
            mode = mode.lower() if mode.lower() in ("skip", "cancel") else None
            if mode is None:
                c.add("FC108", f"singleton mode must be 'skip' or 'cancel', got "
                      f"{mode_node.value!r}", mpath, mode_node)
    key = c.optional_key(members, path, "singleton", "Singleton key is invalid",
                         runtime=SINGLETON_KEY_ERROR)
    if c.errors > before or mode is None:
        return None
    return Singleton(mode=mode, key=key)  # type: ignore[arg-type]


def batch(c: Checker, node: Node, path: str) -> Batch | None:
    """``{maxSize >= 2, timeout >= 1s (Go duration), key?, if?}`` (platform messages)."""
    members = c.obj(node, path, ("maxSize", "timeout", "key", "if"), "batchEvents")
    if members is None:
        return None
    before = c.errors
    size = c.required_int(members, "maxSize", node, path, "batchEvents", "batch maxSize", 2,
                          "FC160",
                          lambda v: f"batch size cannot be smaller than 2: {v}")
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
