"""Rules for what is not flow control proper: triggers, cancellations, timeouts and steps
(our ``[{"run": "2s"}, {"sleep": "10s"}]`` list, or the registration payload's record of
step definitions with the platform's step rules).
"""

from __future__ import annotations

import re
from typing import Final

from flowcontrol.config.checker import Checker, child_path
from flowcontrol.config.model import Cancel, Step, Timeouts, Trigger
from flowcontrol.config.source import Node
from flowcontrol.time import NS_PER_S

__all__ = ["MAX_CANCELLATIONS", "MAX_RETRIES", "MAX_TRIGGERS", "cancels", "filter_key", "steps",
           "timeouts", "triggers"]

MAX_CANCELLATIONS: Final = 5
MAX_TRIGGERS: Final = 10
MAX_RETRIES: Final = 20
MIN_JITTER_NS: Final = NS_PER_S
MAX_JITTER_NS: Final = 300 * NS_PER_S


_CRON_FIELD: Final = re.compile(r"[0-9A-Za-z*/,?#-]+")
_CRON_MACROS: Final = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily",
                                 "@midnight", "@hourly"})


def _cron_ok(cron: str) -> bool:
    """A light check of a cron schedule: field count and characters, or a macro."""
    fields = cron.split()
    if fields and fields[0].startswith(("TZ=", "CRON_TZ=")):
        fields = fields[1:]
    if len(fields) == 1 and fields[0] in _CRON_MACROS:
        return True
    if len(fields) == 2 and fields[0] == "@every":
        return bool(re.fullmatch(r"[0-9hms.]+", fields[1]))
    return len(fields) in (5, 6) and all(_CRON_FIELD.fullmatch(f) for f in fields)


def triggers(c: Checker, node: Node, path: str) -> tuple[Trigger, ...]:
    """One trigger object or a list of at most ten: ``{event, if?}`` (the SDK's name for the
    filter), ``{event, expression?}`` (the registration payload's) or ``{cron, jitter?}``.
    The filter is checked as ``expressions.Validate`` checks it at registration; a trigger
    repeated exactly, or a cron schedule given twice, is refused as the platform refuses it."""
    items = [node] if node.kind == "object" else node.value if node.kind == "array" else None
    if items is None:
        c.type_error(node, path, "a trigger object or a list of triggers")
        return ()
    if node.kind == "array" and len(items) > MAX_TRIGGERS:
        c.add("FC192", f"This function exceeds the max number of triggers: {MAX_TRIGGERS} "
              f"(found {len(items)})", path, node)
    out = []
    seen: set[Trigger] = set()
    crons: set[str] = set()
    for i, item in enumerate(items):
        ipath = child_path(path, i) if node.kind == "array" else path
        members = c.obj(item, ipath, ("event", "if", "expression", "cron", "jitter"),
                        "a trigger")
        if members is None:
            continue
        has_event, has_cron = "event" in members, "cron" in members
        if has_event == has_cron:
            c.add("FC193", "a trigger needs exactly one of 'event' or 'cron'", ipath, item)
            continue
        trigger = (_cron_trigger if has_cron else _event_trigger)(c, members, ipath)
        if trigger is None:
            continue
        if trigger in seen or (trigger.cron is not None and trigger.cron in crons):
            what = (f"duplicate cron expression: {trigger.cron}" if trigger.cron is not None
                    else f"duplicate trigger event: {trigger.event}")
            c.add("FC196", what, ipath, item)
            continue
        seen.add(trigger)
        if trigger.cron is not None:
            crons.add(trigger.cron)
        out.append(trigger)
    return tuple(out)


def filter_key(members: dict[str, Node]) -> str | None:
    """Which name an event trigger's filter is given under (``if`` or ``expression``)."""
    return "if" if "if" in members else "expression" if "expression" in members else None


def _event_trigger(c: Checker, members: dict[str, Node], ipath: str) -> Trigger | None:
    for key in ("jitter",):
        if key in members:
            c.add("FC102", f"an event trigger takes no {key!r} (only a cron trigger does)",
                  child_path(ipath, key), members[key])
    if "if" in members and "expression" in members:
        c.add("FC112", "the trigger's filter is given as both 'if' (the SDK's name) and "
              "'expression' (the registration payload's); use one",
              child_path(ipath, "expression"), members["expression"])
    event = c.string(members["event"], child_path(ipath, "event"), "trigger event")
    fkey = filter_key(members)
    expr_src = None
    if fkey is not None:
        label = event if event is not None else members["event"].plain()
        expr_src = c.expression(members[fkey], child_path(ipath, fkey), f"trigger {fkey}",
                                f"invalid trigger expression on '{label}'")
    if event is None or (fkey is not None and expr_src is None):
        return None
    return Trigger(event=event, expression=expr_src)


def _cron_trigger(c: Checker, members: dict[str, Node], ipath: str) -> Trigger | None:
    for key in ("if", "expression"):
        if key in members:
            c.add("FC102", f"a cron trigger takes no {key!r}", child_path(ipath, key),
                  members[key])
    cron = c.string(members["cron"], child_path(ipath, "cron"), "trigger cron")
    if cron is not None and not _cron_ok(cron):
        c.add("FC106", f"invalid cron schedule {cron!r}: expected 5 or 6 fields "
              "(optionally after TZ=Zone/Name) or a macro such as @hourly",
              child_path(ipath, "cron"), members["cron"])
        cron = None
    jitter = members.get("jitter")
    if jitter is not None and not (jitter.kind == "string" and not jitter.value.strip()):
        jpath = child_path(ipath, "jitter")
        ns = c.duration(jitter, jpath, "cron jitter")
        if ns is not None and not (ns == 0 or MIN_JITTER_NS <= ns <= MAX_JITTER_NS):
            c.add("FC106", f"cron jitter must be 0 or between 1s and 5m, got {jitter.value!r}",
                  jpath, jitter)
            cron = None
        elif ns is None:
            cron = None
    return None if cron is None else Trigger(cron=cron)


def cancels(c: Checker, node: Node, path: str) -> tuple[Cancel, ...] | None:
    """At most five ``{event, if?, match?, timeout?}``; ``if`` under the restrictive policy."""
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
        timeout = c.positive_duration(
            members, "timeout", ipath, "cancellation timeout", "FC106",
            lambda t: f"cancellation timeout must be positive, got {t!r}")
        if event is not None:
            if match is not None:
                clause = f"event.{match} == async.{match}"
                if_expr = clause if if_expr is None else f"({if_expr}) && {clause}"
            out.append(Cancel(event=event, if_expr=if_expr, match=match, timeout_ns=timeout))
    return None if c.errors > before else tuple(out)


def timeouts(c: Checker, node: Node, path: str) -> Timeouts | None:
    """``{start?, finish?}``, positive durations."""
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


def steps(c: Checker, node: Node, path: str) -> tuple[Step, ...] | None:
    """Our ``[{"run": D, "fail"?: N} | {"sleep": D}]`` list, or the registration record
    (checked only). ``fail`` (0..MAX_RETRIES + 1) is how many first attempts fail."""
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
        members = c.obj(item, ipath, ("run", "sleep", "fail"), "a step")
        if members is None:
            ok = False
            continue
        members = dict(members)  # the node's own dict: do not change it
        fail_node = members.pop("fail", None)
        if len(members) != 1:
            c.add("FC194", 'a step is one of {"run": DURATION} or {"sleep": DURATION}', ipath,
                  item)
            ok = False
            continue
        kind, dnode = next(iter(members.items()))
        fail = 0
        if fail_node is not None:
            fpath = child_path(ipath, "fail")
            n = c.integer(fail_node, fpath, "fail (attempts that fail)")
            if n is None:
                ok = False
            elif kind != "run":
                c.add("FC194", "only a run step can fail; a sleep step has no attempts", fpath,
                      fail_node)
                ok = False
            elif not 0 <= n <= MAX_RETRIES + 1:
                c.add("FC194", f"fail must be between 0 and {MAX_RETRIES + 1} (attempts that "
                      f"fail; more than retries fails the run), got {n}", fpath, fail_node)
                ok = False
            else:
                fail = n
        ns = c.duration(dnode, child_path(ipath, kind), f"{kind} step")
        if ns is not None and ns < 0:
            c.add("FC194", f"a step duration must not be negative, got {dnode.value!r}",
                  child_path(ipath, kind), dnode)
            ns = None
        if ns is None:
            ok = False
            continue
        out.append(Step(kind=kind, duration_ns=ns, fail=fail))  # type: ignore[arg-type]
    return tuple(out) if ok else None


_URI: Final = re.compile(r"^(https?|wss?)://[^\s/?#]+[^\s]*$")


def _registration_steps(c: Checker, node: Node, path: str) -> None:
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
        if "retries" in sm:
            rpath = child_path(spath, "retries")
            rmembers = c.obj(sm["retries"], rpath, ("attempts",), "step retries")
            attempts = rmembers.get("attempts") if rmembers is not None else None
            if attempts is not None:
                n = c.integer(attempts, child_path(rpath, "attempts"), "retry attempts")
                if n is not None and not 0 <= n <= MAX_RETRIES:
                    c.add("FC195", f"retry attempts must be between 0 and {MAX_RETRIES}, got {n}",
                          child_path(rpath, "attempts"), attempts)
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
