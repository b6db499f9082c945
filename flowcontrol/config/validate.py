"""The validator: a parsed document in, typed ``FunctionConfig`` values and diagnostics out.

It applies every rule of the platform's registration validator (``Function.Validate`` in
inngest's ``pkg/inngest``, with the same meaning and, where it has one, the same message),
the documented ranges the platform leaves unchecked (throttle and debounce periods 1s..7d in
whole seconds, rate-limit period up to 24h, batch ``maxSize`` >= 2 and ``timeout`` >= 1s,
priority -600..600, at most two concurrency constraints, env/account scope needs a key, at
most five cancellations, at most ten triggers), type errors, unknown keys with a
did-you-mean, and expressions that do not compile (placed inside the expression string).

A document is one function, a list of functions (also as ``{"functions": [...]}``, the
shape of TOML's ``[[functions]]``), or a registration payload (``functions`` beside the
payload's other keys, such as ``appName`` or ``url``, where every function needs steps).
Both the SDK names (``cancelOn``, a single trigger object, a trigger's ``if``, our ``steps``
list) and the registration names (``cancel``, a trigger's ``expression``, ``steps`` as a
record of step definitions) are accepted. The validator never raises on any input: problems
are values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from flowcontrol.config import rules, structure
from flowcontrol.config.checker import KIND_NAMES, Checker, child_path
from flowcontrol.config.diagnostics import Diagnostic
from flowcontrol.config.model import FunctionConfig, Trigger
from flowcontrol.config.source import Node, SourceError, parse_text, plain_to_node

__all__ = ["Entry", "Result", "build_function", "child_path", "validate_data", "validate_node",
           "validate_text"]

T = TypeVar("T")

FUNCTION_KEYS: Final = (
    "id", "name", "description", "triggers", "concurrency", "throttle", "rateLimit", "debounce",
    "priority", "singleton", "batchEvents", "cancelOn", "cancel", "idempotency", "timeouts",
    "retries", "steps", "optimizeParallelism",
)
PAYLOAD_KEYS: Final = (
    "functions", "url", "v", "deployType", "sdk", "framework", "appName", "appVersion", "hash",
    "capabilities", "deployId",
)

@dataclass(frozen=True, slots=True)
class Entry:
    """A function found in the document: its config (``None`` if it has errors), node, path.

    ``partial`` is the function as far as it can be read: built from its settings without
    errors even when others have some (equal to ``config`` when there are none; ``None`` when
    the function is not an object). ``broken`` names the top-level keys whose settings have
    errors, so the linter can tell "absent" from "unreadable"."""

    config: FunctionConfig | None
    node: Node
    path: str
    file: str
    partial: FunctionConfig | None = None
    broken: frozenset[str] = frozenset()

    @property
    def readable(self) -> FunctionConfig | None:
        """``config``, or failing that ``partial``: what the linter works on."""
        return self.config if self.config is not None else self.partial


@dataclass(slots=True)
class Result:
    """Everything the validator found in one document."""

    entries: list[Entry] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def functions(self) -> list[FunctionConfig]:
        """The configs of the functions without errors."""
        return [e.config for e in self.entries if e.config is not None]


# ------------------------------------------------------------------------- function

@dataclass(frozen=True, slots=True)
class _Read:
    """What ``_function`` read: the config (``None`` with errors), the readable part and the
    keys whose settings have errors."""

    config: FunctionConfig | None
    partial: FunctionConfig | None = None
    broken: frozenset[str] = frozenset()


def _function(c: Checker, node: Node, path: str, payload: bool) -> _Read:
    before = c.errors
    members = c.obj(node, path, FUNCTION_KEYS, "a function")
    if members is None:
        return _Read(None)
    # An unknown key may be a misspelt setting: what it meant is unreadable ("*").
    broken: set[str] = {"*"} if set(members) - set(FUNCTION_KEYS) else set()
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

    def opt(key: str, fn: Callable[[Checker, Node, str], T]) -> T | None:
        n = members.get(key)
        if n is None:
            return None
        errors = c.errors
        value = fn(c, n, child_path(path, key))
        if c.errors > errors:
            broken.add(key)
        return value

    triggers: tuple[Trigger, ...] = ()
    if "triggers" in members:
        triggers = opt("triggers", structure.triggers) or ()
    else:
        c.add("FC103", "a function needs 'triggers' (an event or cron trigger)",
              child_path(path, "triggers"), node)
    conc = opt("concurrency", rules.concurrency)
    concurrency, run_concurrency = conc if conc is not None else ((), None)
    throttle = opt("throttle", rules.throttle)
    rate_limit = opt("rateLimit", rules.rate_limit)
    debounce = opt("debounce", rules.debounce)
    priority = opt("priority", rules.priority)
    singleton = opt("singleton", rules.singleton)
    batch = opt("batchEvents", rules.batch)
    if "cancel" in members and "cancelOn" in members:
        c.add("FC112", "cancellations are given as both 'cancelOn' and 'cancel'; use one",
              child_path(path, "cancel"), members["cancel"])
    cancel_key = "cancelOn" if "cancelOn" in members else "cancel"
    cancels = opt(cancel_key, structure.cancels) or ()
    idempotency = opt("idempotency", lambda c, n, p: c.expression(
        n, p, "idempotency", "Idempotency expression is invalid"))
    timeouts = opt("timeouts", structure.timeouts)
    retries = opt("retries", _retries)
    steps = opt("steps", structure.steps) or ()
    if payload and "steps" not in members:
        c.add("FC194", "Functions must contain one step", child_path(path, "steps"), node)

    # Combinations the platform refuses.
    bnode = members.get("batchEvents")
    if bnode is not None and bnode.kind == "object":
        bpath = child_path(path, "batchEvents")
        cnode = members.get(cancel_key)
        if cnode is not None and not (cnode.kind == "array" and not cnode.value):
            c.add("FC170", "Batching and cancellation are mutually exclusive", bpath, bnode)
        if "debounce" in members:
            c.add("FC171", "Batching and debouncing are mutually exclusive", bpath, bnode)
        if "singleton" in members:
            c.add("FC172", "Batching and singletons are mutually exclusive", bpath, bnode)
        pnode = members.get("priority")
        if pnode is not None and pnode.kind == "object" and "run" in pnode.value:
            c.add("FC173", "A function cannot specify Priority.Run and Batch together", bpath,
                  bnode)

    partial = FunctionConfig(
        id=fid or "", name=name, triggers=triggers, concurrency=concurrency,
        run_concurrency=run_concurrency, throttle=throttle,
        rate_limit=rate_limit, debounce=debounce, priority=priority, singleton=singleton,
        batch=batch, cancel_on=cancels, idempotency=idempotency, timeouts=timeouts,
        retries=retries, steps=steps,
    )
    if c.errors > before or fid is None:
        return _Read(None, partial, frozenset(broken))
    return _Read(partial, partial)


def _retries(c: Checker, node: Node, path: str) -> int | None:
    retries = c.integer(node, path, "retries")
    if retries is not None and not 0 <= retries <= structure.MAX_RETRIES:
        c.add("FC195", f"retries must be between 0 and {structure.MAX_RETRIES}, got {retries}",
              path, node)
    return retries


def validate_node(root: Node, file: str = "<config>") -> Result:
    """Validate a parsed document; never raises."""
    c = Checker(file)
    result = Result(diagnostics=c.diagnostics)
    items: list[tuple[Node, str]]
    payload = False
    if root.kind == "object" and "functions" in root.value:
        # A registration payload (its steps are required) has more than ``functions``; a
        # document of ``functions`` alone is a list of functions (TOML's [[functions]]).
        payload = len(root.value) > 1
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
        read = _function(c, node, path, payload)
        result.entries.append(Entry(config=read.config, node=node, path=path, file=file,
                                    partial=read.partial, broken=read.broken))
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
    c = Checker("<config>")
    return _function(c, node, "$", payload=False).config, c.diagnostics


def validate_data(data: Any, file: str = "<config>", *, lint: bool = True) -> Result:
    """Validate plain data (one function, a list, or a payload); never raises.

    With ``lint`` (the default) the interaction warnings are added too. Paths are exact;
    lines and columns are ``None`` since the data came from no text."""
    try:
        root = plain_to_node(data)
    except Exception as exc:  # unconvertible input is a diagnostic
        return Result(diagnostics=[Diagnostic.make("FC109", f"not plain data: {exc}",
                                                   file=file)])
    result = validate_node(root, file)
    if lint:
        from flowcontrol.config.lint import lint as run_lint

        result.diagnostics.extend(run_lint(result.entries))
    return result


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
