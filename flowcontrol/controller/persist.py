"""Snapshot and restore of a whole ``FlowControl``: persist it, rebuild it, carry on.

``snapshot(fc)`` returns plain JSON data (``json.dumps`` needs no custom encoder; ints may
be big; no NaN); ``restore(functions, data, clock=...)`` rebuilds a controller whose later
decisions, ``next_deadline()`` and ``explain(...)`` are exactly the original's from that
instant on, and whose own snapshot equals ``data`` (the round trip is a fixed point).

Design: a whitelisted object graph over a freshly built controller
-------------------------------------------------------------------
The controller's internals change often (new run fields, new gate layouts), so the state
is not restated field by field here. Instead:

* ``restore`` first builds a fresh controller from the given configs and the snapshot's
  options. Everything derived from configs (compiled expressions, trigger tables, the
  concurrency plans, each machine's clock wiring) comes from that build, never from the
  data, and a fingerprint of every config (its id and a SHA-256 of its canonical JSON,
  fields at their default left out) refuses a snapshot taken with different configs.
* The state is then *overlaid* on it: the controller's attributes, and the slots of its
  functions and their machines (throttle, rate limit, debounce, batcher, singleton,
  concurrency registry), except a short list of slots known to be derived. Everything
  else is walked generically: dicts (any keys), lists, tuples, deques, sets,
  ``OrderedDict``, atoms, and instances of a fixed whitelist of our own classes (every
  class of the controller's modules, found at import time, so a new run field or record
  class needs no change here). Object identity is kept: each mutable value and record
  gets a number in walk order and later occurrences are references, so a run held by a
  backlog heap, a timer and ``_runs`` comes back as one object, cycles included. Tuples
  are values (nothing compares them by identity; derived tables share them).
* Placeholders stand for what cannot be data: the clock (the new one is wired in), the
  fairness policy (built-in by name, or passed in again), a ``FunctionConfig`` (by
  index), a compiled expression (its source, recompiled) and the key-error marker.
* Each class's field list is recorded, so a snapshot read by a version of the code whose
  classes differ is refused instead of misread.

Validation
    Restoring never runs code named by the data (no pickle, no import by name: class tags
    map to a table built from our modules), and anything malformed raises ``ValueError``
    naming the path inside the data (``state._fns[0].live['run-3'].state: must be int,
    got str``) before any controller is returned. Checked: every value form, reference
    and class tag; field types (overlaid fields keep their fresh type, records have
    ``_FIELD_TYPES``, frozen values their annotations); the tables' members and keys,
    heap order, lease counts against counters, run ids. Values that are well formed but
    false (an instant, a count) cannot be told from real ones: protect snapshots at rest
    (checksum or signature) if they cross a trust boundary.

Cost
    The walk pauses the cyclic garbage collector (it allocates much and frees nothing,
    which made collections the larger half of the time). 10,000 queued runs: about 3 MB
    of JSON (300 bytes a run, its event records included); ``snapshot`` about 0.2-0.4 s
    and ``restore`` 0.2-0.3 s here (two shared cores), about as long as feeding the
    10,000 events again (``tests/test_controller_snapshot.py`` prints the figures).

Limits (documented, not hidden)
    A custom ``WaitQueuePolicy`` must be passed to ``restore`` again (same ``name``); its
    queues are data only if they are built-in queue classes, so a snapshot with custom
    queues in use is refused at snapshot time. Event payloads must be JSON-like values
    (dicts, lists, strings, numbers, booleans, null; tuples and non-finite floats are
    kept too). The per-call output buffer is not state and is not saved. ``restore``
    builds ``cls`` with ``FlowControl.__init__``: a subclass's own ``__init__`` state is
    not rebuilt.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import hashlib
import json
import math
import operator
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from enum import Enum
from typing import Any, Final, TypeVar, overload

from flowcontrol.config.model import FunctionConfig
from flowcontrol.controller import admission as _admission
from flowcontrol.controller import decisions, fairness, keys
from flowcontrol.controller import flowcontrol as controller
from flowcontrol.controller import runtime as _runtime
from flowcontrol.controller.fairness import OldestFirst, RoundRobin, WaitQueuePolicy
from flowcontrol.controller.flowcontrol import FlowControl
from flowcontrol.machines import batch, concurrency, debounce, gcra, semaphore, singleton
from flowcontrol.time import Clock

__all__ = ["KIND", "VERSION", "config_digest", "restore", "snapshot"]

_FC = TypeVar("_FC", bound=FlowControl)

KIND: Final = "FlowControl"
# 2: run-level concurrency (the controller's run semaphore, runs' and backlogs' run keys).
VERSION: Final = 2

# Attributes of the controller that are not saved: the clock and policy (placeholders are
# rebound), tables derived from the configs (rebuilt by the fresh controller) and the
# per-call output buffer.
_ROOT_SKIP: Final = frozenset(
    {"_clock", "_policy", "_by_name", "_wild", "_cancel_by_name", "_mixed", "_out"}
)
# Slots of the overlaid objects that are derived from the config or the clock.
_FUNCTION_SKIP: Final = frozenset(
    {
        "config", "id", "index", "triggers", "batch_key", "batch_if", "rl_key", "deb_key",
        "priority", "keyed", "ckey_exprs", "cid_static", "cid_prefixes", "has_conc", "tkey",
        "skey", "start_timeout", "finish_timeout", "cancel_on", "plain", "trigger_free",
        "retries", "run_limit", "rkey_expr",
    }
)
# The throttle's and rate limit's clock, and the values and decision caches derived from
# the config (a fresh machine's empty caches are as good as any).
_GCRA_SKIP: Final = frozenset({"_clock", "_full", "_refill", "_refused"})
_OVERLAY_SKIP: Final[dict[type, frozenset[str]]] = {
    _runtime._Function: _FUNCTION_SKIP,
    concurrency.Concurrency: frozenset({"_clock", "_plans"}),
    gcra.Throttle: _GCRA_SKIP,
    gcra.RateLimit: _GCRA_SKIP,
    debounce.Debounce: frozenset({"_clock"}),
    batch.Batcher: frozenset({"_clock"}),
    singleton.Singleton: frozenset(),
    semaphore.RunSemaphore: frozenset({"_plans"}),
}
_MODULES: Final = (
    _runtime, _admission, controller, decisions, concurrency, gcra, debounce, batch,
    singleton, fairness, keys, semaphore,
)
# A class's tag in the data is "<prefix>.<qualname>"; the prefixes are the module names from
# before the layer sub-packages, so snapshots saved then still restore.
_TAG_PREFIX: Final = {
    _runtime.__name__: "_runtime", _admission.__name__: "_admission",
    controller.__name__: "controller", decisions.__name__: "decisions",
    concurrency.__name__: "concurrency", gcra.__name__: "gcra", debounce.__name__: "debounce",
    batch.__name__: "batch", singleton.__name__: "singleton", fairness.__name__: "fairness",
    keys.__name__: "keys", semaphore.__name__: "semaphore",
}
_BUILTIN_POLICIES: Final[dict[str, type]] = {"round-robin": RoundRobin, "oldest-first": OldestFirst}


class _Spec:
    """How one whitelisted class is saved: ``mode`` and the fields, in a fixed order."""

    __slots__ = ("cls", "fields", "get", "mode", "tag")

    def __init__(self, cls: type, mode: str, fields: tuple[str, ...]) -> None:
        self.cls = cls
        self.mode = mode  # new | overlay | frozen | queue | expr | enum
        self.fields = fields
        # All fields at once, as a tuple (raises AttributeError for an unset slot).
        self.get: Callable[[Any], tuple[Any, ...]] = (
            operator.attrgetter(*fields) if len(fields) > 1
            else (lambda o: (getattr(o, fields[0]),)) if fields else (lambda o: ())
        )
        self.tag = f"{_TAG_PREFIX[cls.__module__]}.{cls.__qualname__}"


def _slots(cls: type) -> tuple[str, ...] | None:
    """Every slot of ``cls`` (None if its instances have a ``__dict__``)."""
    out: list[str] = []
    for c in reversed(cls.__mro__):
        if c is object:
            continue
        if "__slots__" not in c.__dict__:
            return None
        s = c.__dict__["__slots__"]
        for name in (s,) if isinstance(s, str) else s:
            if name not in out and name != "__weakref__":
                out.append(name)
    return tuple(out)


def _discover() -> dict[type, _Spec]:
    """The whitelist: our own classes, by mode. Built from our modules, never from data."""
    specs: dict[type, _Spec] = {}
    for mod in _MODULES:
        for obj in vars(mod).values():
            if (
                not isinstance(obj, type)
                or obj.__module__ != mod.__name__
                or "<" in obj.__qualname__
                or obj in specs
                or issubclass(obj, FlowControl | _admission.Admission | BaseException)
                or getattr(obj, "_is_protocol", False)
            ):
                continue
            spec = _spec_for(obj)
            if spec is not None:
                specs[obj] = spec
    return specs


_PLAIN_TYPES: Final[dict[str, type]] = {
    "int": int, "str": str, "bool": bool, "float": float, "None": type(None), "tuple": tuple,
    "list": list, "dict": dict,
}


def _annotated(cls: type, annotation: object) -> tuple[type, ...] | None:
    """The types a dataclass field annotation such as ``int | None`` or ``tuple[str, ...]``
    allows, or None when it names anything else (then the field is not checked)."""
    if not isinstance(annotation, str):
        return None
    module = next((m for m in _MODULES if m.__name__ == cls.__module__), None)
    out: list[type] = []
    for part in annotation.split("|"):
        name = part.strip().split("[", 1)[0]
        t = _PLAIN_TYPES.get(name)
        if t is None and module is not None:
            found = vars(module).get(name)
            t = found if isinstance(found, type) else None
        if t is None:
            return None
        out.append(t)
    return tuple(out)


def _spec_for(cls: type) -> _Spec | None:
    if cls is fairness._RoundRobinQueue:
        return _Spec(cls, "queue", ())
    if cls is keys.CompiledExpr:
        return _Spec(cls, "expr", ())
    if issubclass(cls, Enum):
        return _Spec(cls, "enum", ())
    if dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        fields = dataclasses.fields(cls)
        types_ = {f.name: _annotated(cls, f.type) for f in fields}
        _FIELD_TYPES[cls] = {k: v for k, v in types_.items() if v is not None}
        return _Spec(cls, "frozen", tuple(f.name for f in fields))
    slots = _slots(cls)
    if slots is None or cls is keys._Error or cls is concurrency._Plan:
        return None
    skip = _OVERLAY_SKIP.get(cls)
    if skip is not None:
        return _Spec(cls, "overlay", tuple(s for s in slots if s not in skip))
    return _Spec(cls, "new", slots)


_NONE = type(None)
_ATOMS: Final = frozenset({str, int, bool, _NONE})
_JSON_ATOMS: Final = frozenset({str, int, bool, _NONE, float})
_Run, _Backlog, _Gate = _runtime._Run, _runtime._Backlog, _runtime._Gate
_Function = _runtime._Function
_Hold, _Acquired = decisions.Hold, concurrency.Acquired
# Known field types, checked on restore (fields not listed here are taken as they come);
# frozen dataclasses get theirs from their annotations (``_annotated``).
_FIELD_TYPES: Final[dict[type, dict[str, tuple[type, ...]]]] = {
    debounce._Open: {
        "cap": (int,), "count": (int,), "done": (bool,), "event_id": (str,),
        "fire_at": (int,), "first_at": (int,), "id": (int,), "key": (str,),
        "last_at": (int,), "ts": (int,),
    },
    batch._Open: {
        "deadline": (int,), "done": (bool,), "event_ids": (list,), "first_at": (int,),
        "id": (int,), "key": (str,), "nbytes": (int,),
    },
    fairness._OldestFirstQueue: {"_h": (list,), "_seq": (int,)},
    _Run: {
        "act": (dict, _NONE), "backlog": (_Backlog, _NONE), "cancel_pending": (bool,),
        "ckeys": (tuple,), "created_at": (int,), "ended_at": (int, _NONE),
        "event_ids": (tuple,), "factor": (int,), "first_hold": (_Hold, _NONE),
        "fn": (_Function,), "id": (str,), "last_hold": (_Hold, _NONE),
        "lease": (_Acquired, _NONE), "reason": (str,), "score": (int,),
        "started_at": (int, _NONE), "state": (int,), "tkey": (str,), "attempt": (int,),
        "retries": (int,), "retry_hold": (_Hold, _NONE), "rkey": (str, _NONE),
    },
    _Backlog: {
        "ckeys": (tuple,), "fn": (_Function,), "gate": (_Gate, _NONE), "heap": (list,),
        "hold": (_Hold, _NONE), "key": (tuple,), "live": (int,), "start": (bool,),
        "state": (int,), "timer_at": (int,), "tkey": (str,), "woken_by": (_Gate, _NONE),
        "rkey": (str, _NONE),
    },
    _Gate: {
        "cid": (tuple, _NONE), "counter": (str,), "id": (tuple,), "limit": (int,),
        "mixed": (bool,), "probe": (tuple,), "timer_at": (int, _NONE),
    },
    gcra.RateLimit: {"_marks": (OrderedDict,), "_mark_sweep": (int,), "idempotency_ttl": (int,)},
    _Function: {
        "batch_armed": (int, _NONE), "batch_events": (dict,), "deb_armed": (int, _NONE),
        "live": (dict,), "seen": (OrderedDict,), "seen_next": (int,),
        "batcher": (batch.Batcher, _NONE), "debounce": (debounce.Debounce, _NONE),
        "rl": (gcra.RateLimit, _NONE), "throttle": (gcra.Throttle, _NONE),
        "singleton": (singleton.Singleton, _NONE),
    },
}
_HEAPS: Final = frozenset({"heap", "_heap", "_timers", "_exp_heap", "_h"})
_SPECS: Final = _discover()
_BY_TAG: Final = {s.tag: s for s in _SPECS.values()}


class _Bad(Exception):
    """A malformed snapshot; ``parts`` collects the path on the way out."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.parts: list[str] = []

    def at(self, part: object) -> _Bad:
        """Prefix a field name (str) or a list index (int)."""
        self.parts.append(f".{part}" if type(part) is str else f"[{part!r}]")
        return self

    def key(self, key: object) -> _Bad:
        """Prefix a mapping key."""
        self.parts.append(f"[{key!r}]")
        return self

    def path(self, root: str) -> str:
        return root + "".join(reversed(self.parts))


# -- fingerprints ----------------------------------------------------------------------


def _canonical(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            v = getattr(value, f.name)
            if f.default is not dataclasses.MISSING and v == f.default:
                continue  # a field added later with a default keeps old fingerprints
            out[f.name] = _canonical(v)
        return out
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    return value


def config_digest(cfg: FunctionConfig) -> str:
    """A SHA-256 of the config's canonical JSON (fields at their default left out)."""
    text = json.dumps(_canonical(cfg), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# -- snapshot ----------------------------------------------------------------------------


class _Encoder:
    __slots__ = ("classes", "cls_index", "memo", "n", "policy", "specials")

    def __init__(self, fc: FlowControl) -> None:
        self.policy = getattr(fc._policy, "name", type(fc._policy).__name__)
        self.memo: dict[int, int] = {id(fc): 0}
        self.n = 1
        self.classes: list[list[Any]] = []
        self.cls_index: dict[type, int] = {}
        self.specials: dict[int, Any] = {
            id(fc._clock): {"x": "clock"},
            id(fc._policy): {"x": "policy"},
            id(keys.ERROR): {"x": "ERROR"},
        }
        for i, fn in enumerate(fc._fns):
            self.specials[id(fn.config)] = {"c": i}

    def node(self, cls: type, spec: _Spec) -> int:
        i = self.cls_index.get(cls)
        if i is None:
            i = self.cls_index[cls] = len(self.classes)
            self.classes.append([spec.tag, list(spec.fields)])
        return i

    def enc(self, v: Any) -> Any:
        t = type(v)
        if t in _ATOMS:
            return v
        if t is float:
            return v if math.isfinite(v) else {"F": repr(v)}
        if t is tuple:  # a value: identity is never used, and derived tables share them
            return {"t": self.seq(v)}
        i = self.memo.get(id(v))
        if i is not None:
            return {"r": i}
        sp = self.specials.get(id(v))
        if sp is not None:
            return sp
        self.memo[id(v)] = self.n
        self.n += 1
        try:
            if t is list:
                return self.seq(v)
            if t is dict:
                return {"d": self.pairs(v)}
            if t is OrderedDict:
                return {"od": self.pairs(v)}
            if t is deque:
                out: dict[str, Any] = {"dq": self.seq(v)}
                if v.maxlen is not None:
                    out["n"] = v.maxlen
                return out
            if t is set or t is frozenset:
                items = list(v)
                with contextlib.suppress(TypeError):  # not orderable: iteration order
                    items.sort()
                return {"S" if t is set else "FS": self.seq(items)}
            return self.obj(v, t)
        except RecursionError:
            raise _Bad("nested too deeply to save") from None

    def seq(self, v: Iterable[Any], names: tuple[str, ...] | None = None) -> list[Any]:
        """Each item encoded; an error names the item by position (or by ``names``)."""
        enc = self.enc
        atoms = _ATOMS
        out: list[Any] = []
        add = out.append
        try:
            for x in v:
                add(x if type(x) in atoms else enc(x))
        except _Bad as e:
            raise e.at(len(out) if names is None else names[len(out)]) from None
        return out

    def pairs(self, d: Mapping[Any, Any]) -> list[Any]:
        """Key, value, key, value, ...: a list keeps its order in every JSON store (object
        keys may be sorted or reordered, which would renumber the references)."""
        enc = self.enc
        atoms = _ATOMS
        out: list[Any] = []
        add = out.append
        k: Any = None
        try:
            for k, x in d.items():
                add(k if type(k) in atoms else enc(k))
                add(x if type(x) in atoms else enc(x))
        except _Bad as e:
            raise (e.at("<key>") if len(out) % 2 == 0 else e.key(k)) from None
        return out

    def obj(self, v: Any, t: type) -> dict[str, Any]:
        spec = _SPECS.get(t)
        if spec is None:
            if hasattr(v, "push_front") and hasattr(v, "pop"):
                raise _Bad(
                    f"cannot save a {t.__module__}.{t.__qualname__}, a wait queue of the "
                    f"fairness policy {self.policy!r} (only built-in policies' queues are data)"
                )
            raise _Bad(f"cannot save a {t.__module__}.{t.__qualname__} (not whitelisted)")
        k = self.node(t, spec)
        mode = spec.mode
        if mode == "queue":
            return {"o": k, "q": self.seq(v._d)}
        if mode == "expr":
            return {"o": k, "s": v.source}
        if mode == "enum":
            return {"o": k, "s": v.value}
        try:
            raw = spec.get(v)
        except AttributeError:  # an unset slot
            raw = tuple(getattr(v, f, _UNSET) for f in spec.fields)
        vals = self.seq(raw, spec.fields)
        if t is _Function:
            return {"o": k, "i": v.index, "v": vals}
        return {"o": k, "v": vals}


class _Unset:
    __slots__ = ()


_UNSET: Final = _Unset()


def _options(fc: FlowControl) -> dict[str, Any]:
    policy = fc._policy
    return {
        "account_concurrency": fc._conc._account_limit,
        "priority_range": list(fc._prio),
        "record": fc._record,
        "fairness": getattr(policy, "name", type(policy).__name__),
    }


def snapshot(fc: FlowControl) -> dict[str, Any]:
    """The controller's whole state as plain JSON data (see the module doc).

    Raises ValueError, naming the place, if some part cannot be saved (a value in an
    event that is not JSON-like, the queues of a custom fairness policy).
    """
    with _gc_paused():
        return _snapshot(fc)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic collector: the walk allocates much and frees nothing (2x faster)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _snapshot(fc: FlowControl) -> dict[str, Any]:
    if not isinstance(fc, FlowControl):
        raise ValueError(f"snapshot needs a FlowControl, got {type(fc).__name__}")
    e = _Encoder(fc)
    e.specials[id(_UNSET)] = {"x": "unset"}
    state: dict[str, Any] = {}
    for name, value in sorted(vars(fc).items()):  # sorted: JSON stores may reorder keys
        if name in _ROOT_SKIP:
            continue
        try:
            state[name] = e.enc(value)
        except _Bad as err:
            raise ValueError(
                f"cannot snapshot the controller: {err.message} at {err.path('state.' + name)}"
            ) from None
    return {
        "kind": KIND,
        "version": VERSION,
        "functions": [{"id": fn.id, "digest": config_digest(fn.config)} for fn in fc._fns],
        "options": _options(fc),
        "now": fc._now,
        "classes": e.classes,
        "state": state,
    }


# -- restore -------------------------------------------------------------------------------


class _Decoder:
    __slots__ = ("classes", "fresh", "table", "used")

    def __init__(self, fresh: FlowControl, classes: list[_Spec]) -> None:
        self.fresh = fresh
        self.classes = classes
        self.table: list[Any] = [fresh]
        self.used: set[int] = {id(fresh)}

    def dec(self, v: Any, cp: Any = None) -> Any:
        t = type(v)
        if t in _JSON_ATOMS:
            return v
        if t is list:
            out: list[Any] = []
            self.table.append(out)
            self.many(v, out.append)
            return out
        if t is not dict or not v:
            raise _Bad(f"expected a value, got {type(v).__name__} {v!r:.60}")
        # One-field forms by their key; the others whatever the order of their keys.
        tag = next(iter(v)) if len(v) == 1 else "o" if "o" in v else "dq" if "dq" in v else "?"
        if tag == "r" and len(v) == 1:  # the common reference, checked in full by _ref
            n = v["r"]
            table = self.table
            if type(n) is int and 0 <= n < len(table) and table[n] is not _BUILDING:
                return table[n]
            return self._ref(v)
        try:
            if tag == "d" or tag == "od":
                return self.mapping(self._only(v, tag, list), tag == "od")
            if tag == "t":
                items: list[Any] = []
                self.many(self._only(v, "t", list), items.append)
                return tuple(items)
            if tag == "dq":
                if set(v) - {"dq", "n"}:
                    raise _Bad(f"unknown fields {sorted(set(v) - {'dq', 'n'})}")
                maxlen = v.get("n")
                if maxlen is not None and (type(maxlen) is not int or maxlen < 0):
                    raise _Bad(f"deque maxlen must be an int >= 0, got {maxlen!r}")
                q: deque[Any] = deque(maxlen=maxlen)
                self.table.append(q)
                if type(v["dq"]) is not list:
                    raise _Bad("dq must be a list")
                self.many(v["dq"], q.append)
                return q
            if tag == "S" or tag == "FS":
                raw = self._only(v, tag, list)
                slot = len(self.table)
                self.table.append(_BUILDING)
                vals: list[Any] = []
                self.many(raw, vals.append)
                try:
                    s: set[Any] | frozenset[Any] = set(vals) if tag == "S" else frozenset(vals)
                except TypeError:
                    raise _Bad("a set holds an unhashable value") from None
                self.table[slot] = s
                return s
            if tag == "x":
                return self._placeholder(self._only(v, "x", str))
            if tag == "c":
                i = self._only(v, "c", int)
                fns = self.fresh._fns
                if not 0 <= i < len(fns):
                    raise _Bad(f"function index {i} is out of range")
                return fns[i].config
            if tag == "F":
                text = self._only(v, "F", str)
                if text not in ("inf", "-inf", "nan"):
                    raise _Bad(f"a float must be 'inf', '-inf' or 'nan', got {text!r}")
                return float(text)
            if tag == "o":
                return self._object(v, cp)
            if tag == "r":
                return self._ref(v)
        except RecursionError:
            raise _Bad("nested too deeply") from None
        raise _Bad(f"unknown value form {tag!r}")

    def many(self, v: list[Any], add: Callable[[Any], Any]) -> None:
        """Read the encoded values ``v`` in order, passing each to ``add``."""
        dec = self.dec
        atoms = _JSON_ATOMS
        j = 0
        try:
            for j, x in enumerate(v):  # noqa: B007 (j names the failing entry)
                add(x if type(x) in atoms else dec(x))
        except _Bad as e:
            raise e.at(j) from None

    def mapping(self, flat: list[Any], ordered: bool) -> dict[Any, Any]:
        n = len(flat)
        if n % 2:
            raise _Bad("a mapping needs key, value pairs (odd length)")
        d: dict[Any, Any] = OrderedDict() if ordered else {}
        self.table.append(d)
        dec = self.dec
        atoms = _JSON_ATOMS
        k: Any = _UNSET
        j = 0
        try:
            for j in range(0, n, 2):
                k = _UNSET
                raw = flat[j]
                k = raw if type(raw) in atoms else dec(raw)
                x = flat[j + 1]
                d[k] = x if type(x) in atoms else dec(x)
        except _Bad as e:
            raise (e.at(j) if k is _UNSET else e.key(k)) from None
        except TypeError:
            raise _Bad(f"unhashable key {k!r:.60}").at(j) from None
        return d

    def _at(self, x: Any, part: object, cp: Any = None) -> Any:
        try:
            return self.dec(x, cp)
        except _Bad as e:
            raise e.at(part) from None

    @staticmethod
    def _only(v: dict[str, Any], tag: str, typ: type) -> Any:
        if len(v) != 1:
            raise _Bad(f"{tag!r} form has unknown fields {sorted(set(v) - {tag})}")
        x = v[tag]
        if type(x) is not typ:
            raise _Bad(f"{tag!r} must hold a {typ.__name__}, got {type(x).__name__}")
        return x

    def _ref(self, v: dict[str, Any]) -> Any:
        n = self._only(v, "r", int)
        if not 0 <= n < len(self.table):
            raise _Bad(f"reference {n} points past the {len(self.table)} values read so far")
        x = self.table[n]
        if x is _BUILDING:
            raise _Bad(f"reference {n} points into a value that is still being read")
        return x

    def _placeholder(self, name: str) -> Any:
        fresh = self.fresh
        if name == "clock":
            return fresh._clock
        if name == "policy":
            return fresh._policy
        if name == "ERROR":
            return keys.ERROR
        if name == "unset":
            return _UNSET
        raise _Bad(f"unknown placeholder {name!r}")

    def _object(self, v: dict[str, Any], cp: Any) -> Any:
        k = v["o"]
        if type(k) is not int or not 0 <= k < len(self.classes):
            raise _Bad(f"class index {k!r} is not in the snapshot's classes table")
        spec = self.classes[k]
        mode = spec.mode
        if mode in ("queue", "expr", "enum"):
            body = "q" if mode == "queue" else "s"
            if set(v) != {"o", body}:
                raise _Bad(f"a {spec.tag} needs exactly the fields 'o' and {body!r}")
            return self._leaf(spec, v[body])
        if len(v) != (3 if spec.cls is _Function else 2) or "v" not in v or (
            len(v) == 3 and "i" not in v
        ):
            need = "'o', 'i' and 'v'" if spec.cls is _Function else "'o' and 'v'"
            raise _Bad(f"a {spec.tag} needs exactly the fields {need}")
        vals = v["v"]
        if type(vals) is not list or len(vals) != len(spec.fields):
            raise _Bad(f"a {spec.tag} needs a list of {len(spec.fields)} field values")
        if mode == "frozen":
            slot = len(self.table)
            self.table.append(_BUILDING)
            kw = {f: self._at(x, f) for f, x in zip(spec.fields, vals, strict=True)}
            try:
                obj = spec.cls(**kw)
            except (TypeError, ValueError) as e:
                raise _Bad(f"bad {spec.tag}: {e}") from None
            self.table[slot] = obj
            return obj
        new = object.__new__
        target = self._counterpart(spec, v, cp) if mode == "overlay" else new(spec.cls)
        self.table.append(target)
        types_ = _FIELD_TYPES.get(spec.cls)
        overlay = mode == "overlay"
        dec = self.dec
        atoms = _JSON_ATOMS
        f = ""
        try:
            for f, x in zip(spec.fields, vals, strict=True):
                if type(x) in atoms:
                    val = x
                else:
                    val = dec(x, getattr(target, f, None) if overlay else None)
                    if val is _UNSET:
                        continue
                if overlay:
                    _like_fresh(val, getattr(target, f, None))
                if types_ is not None:
                    want = types_.get(f)
                    if want is not None and (
                        not isinstance(val, want) or (type(val) is bool and bool not in want)
                    ):
                        names = " or ".join("None" if w is _NONE else w.__name__ for w in want)
                        raise _Bad(f"must be {names}, got {type(val).__name__}")
                setattr(target, f, val)
        except _Bad as e:
            raise e.at(f) from None
        return target

    def _leaf(self, spec: _Spec, body: Any) -> Any:
        slot = len(self.table)
        self.table.append(_BUILDING)
        obj: Any
        if spec.mode == "queue":
            if type(body) is not list:
                raise _Bad("a wait queue needs a list of items")
            obj = spec.cls()
            self.table[slot] = obj
            for j, x in enumerate(body):
                obj.push(self._at(x, j))
            return obj
        if spec.mode == "expr":
            if type(body) is not str:
                raise _Bad("an expression needs its source string")
            try:
                obj = spec.cls(body)
            except Exception as e:  # any compile failure of the stored source
                raise _Bad(f"expression {body!r:.60} does not compile: {e}") from None
        else:
            try:
                obj = spec.cls(body)
            except ValueError:
                raise _Bad(f"{body!r:.60} is not a {spec.tag}") from None
        self.table[slot] = obj
        return obj

    def _counterpart(self, spec: _Spec, v: dict[str, Any], cp: Any) -> Any:
        if spec.cls is _Function:
            i = v["i"]
            fns = self.fresh._fns
            if type(i) is not int or not 0 <= i < len(fns):
                raise _Bad(f"function index {i!r} is out of range")
            cp = fns[i]
        if type(cp) is not spec.cls:
            raise _Bad(f"a {spec.tag} has no counterpart here in the controller built from the "
                       "functions")
        if id(cp) in self.used:
            raise _Bad(f"the {spec.tag} appears twice")
        self.used.add(id(cp))
        return cp


def _like_fresh(val: Any, cur: Any) -> None:
    """An overlaid field keeps the type it has in a freshly built controller (None there
    says nothing: such fields are typed in ``_FIELD_TYPES``)."""
    if cur is not None and type(val) is not type(cur):
        raise _Bad(f"must be {type(cur).__name__}, got {type(val).__name__}")


class _Building:
    __slots__ = ()


_BUILDING: Final = _Building()


def _header(data: object, functions: list[FunctionConfig]) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ValueError(f"snapshot must be a mapping, got {type(data).__name__}")
    if data.get("kind") != KIND:
        raise ValueError(f"not a {KIND} snapshot (kind={data.get('kind')!r})")
    if data.get("version") != VERSION:
        if data.get("version") == 1:
            raise ValueError(
                f"{KIND} snapshot: version 1 was written before run-level concurrency and "
                f"cannot be restored by this version of flowcontrol (which writes version "
                f"{VERSION}); restore it with the version that wrote it, drain, and start afresh"
            )
        raise ValueError(f"{KIND} snapshot: unsupported version {data.get('version')!r}")
    fns = data.get("functions")
    if not isinstance(fns, list) or not all(
        isinstance(f, Mapping) and isinstance(f.get("id"), str) for f in fns
    ):
        raise ValueError("snapshot.functions must be a list of {id, digest}")
    have = [f["id"] for f in fns]
    given = [cfg.id for cfg in functions]
    if have != given:
        raise ValueError(
            f"snapshot was taken with functions {have}, restore was given {given} "
            "(same ids, same order)"
        )
    for f, cfg in zip(fns, functions, strict=True):
        if f.get("digest") != config_digest(cfg):
            raise ValueError(
                f"function {cfg.id!r}: its config differs from the one the snapshot was taken "
                "with (digest mismatch)"
            )
    return data


def _read_options(data: Mapping[str, Any]) -> tuple[int, tuple[int, int], bool, str]:
    opts = data.get("options")
    if not isinstance(opts, Mapping):
        raise ValueError("snapshot.options must be an object")
    acct = opts.get("account_concurrency")
    prio = opts.get("priority_range")
    record = opts.get("record")
    name = opts.get("fairness")
    if type(acct) is not int or acct < 0:
        raise ValueError(f"snapshot.options.account_concurrency must be an int >= 0, got {acct!r}")
    if not (isinstance(prio, list) and len(prio) == 2 and all(type(p) is int for p in prio)):
        raise ValueError(f"snapshot.options.priority_range must be [low, high], got {prio!r}")
    if type(record) is not bool:
        raise ValueError(f"snapshot.options.record must be a bool, got {record!r}")
    if type(name) is not str:
        raise ValueError(f"snapshot.options.fairness must be a policy name, got {name!r}")
    return acct, (prio[0], prio[1]), record, name


def _read_classes(data: Mapping[str, Any]) -> list[_Spec]:
    raw = data.get("classes")
    if not isinstance(raw, list):
        raise ValueError("snapshot.classes must be a list of [tag, [fields]]")
    out: list[_Spec] = []
    for i, entry in enumerate(raw):
        if not (isinstance(entry, list) and len(entry) == 2 and type(entry[0]) is str
                and isinstance(entry[1], list)):
            raise ValueError(f"snapshot.classes[{i}] must be [tag, [fields]]")
        spec = _BY_TAG.get(entry[0])
        if spec is None:
            raise ValueError(f"snapshot.classes[{i}]: unknown class tag {entry[0]!r}")
        if entry[1] != list(spec.fields):
            raise ValueError(
                f"snapshot.classes[{i}]: {entry[0]} has fields {entry[1]} in the snapshot but "
                f"{list(spec.fields)} in this version of flowcontrol"
            )
        out.append(spec)
    return out


def _policy(name: str, given: WaitQueuePolicy | None) -> WaitQueuePolicy:
    if given is not None:
        got = getattr(given, "name", type(given).__name__)
        if got != name:
            raise ValueError(
                f"snapshot was taken with fairness policy {name!r}, restore was given {got!r}"
            )
        return given
    cls = _BUILTIN_POLICIES.get(name)
    if cls is None:
        raise ValueError(
            f"snapshot was taken with the custom fairness policy {name!r}: pass it as fairness="
        )
    policy: WaitQueuePolicy = cls()
    return policy


@overload
def restore(
    functions: Iterable[FunctionConfig],
    data: Mapping[str, Any],
    *,
    clock: Clock,
    fairness: WaitQueuePolicy | None = None,
) -> FlowControl: ...


@overload
def restore(
    functions: Iterable[FunctionConfig],
    data: Mapping[str, Any],
    *,
    clock: Clock,
    fairness: WaitQueuePolicy | None = None,
    cls: type[_FC],
) -> _FC: ...


def restore(
    functions: Iterable[FunctionConfig],
    data: Mapping[str, Any],
    *,
    clock: Clock,
    fairness: WaitQueuePolicy | None = None,
    cls: type[FlowControl] = FlowControl,
) -> FlowControl:
    """Rebuild the controller ``data`` (from ``snapshot``) describes, reading ``clock``.

    ``functions`` are the same configs, in the same order, the snapshot was taken with;
    ``fairness`` is needed only for a custom policy (built-ins are restored by name).
    ``cls`` picks the class built (``FunctionController`` for one). ``clock`` should read
    the snapshot's ``now`` or later (an earlier reading counts as no time passing, as
    always). Raises ValueError, naming the place in ``data``, if the snapshot does not fit
    or is malformed; nothing is returned then.
    """
    fns = list(functions)
    for cfg in fns:
        if not isinstance(cfg, FunctionConfig):
            raise ValueError(f"functions must be FunctionConfig objects, got {cfg!r}")
    _header(data, fns)
    acct, prio, record, name = _read_options(data)
    classes = _read_classes(data)
    state = data.get("state")
    if not isinstance(state, Mapping):
        raise ValueError("snapshot.state must be an object")
    fc = cls.__new__(cls)
    FlowControl.__init__(
        fc, fns, clock=clock, account_concurrency=acct, priority_range=prio,
        fairness=_policy(name, fairness), record=record,
    )
    expected = [n for n in vars(fc) if n not in _ROOT_SKIP]
    if sorted(state) != sorted(expected):
        missing = sorted(set(expected) - set(state))
        extra = sorted(set(state) - set(expected))
        raise ValueError(
            f"snapshot.state does not fit this version of flowcontrol: missing {missing}, "
            f"unknown {extra}"
        )
    fresh_fns = list(fc._fns)
    dec = _Decoder(fc, classes)
    where = "state"
    try:
        with _gc_paused():
            for attr, raw in sorted(state.items()):  # the order snapshot walked them
                where = f"state.{attr}"
                cur = getattr(fc, attr)
                val = dec.dec(raw, cur)
                _like_fresh(val, cur)
                setattr(fc, attr, val)
            where = "state"
            _check(fc, fresh_fns, dec.table)
    except _Bad as e:
        raise ValueError(f"snapshot is malformed at {e.path(where)}: {e.message}") from None
    except RecursionError:
        raise ValueError(f"snapshot is malformed at {where}: nested too deeply") from None
    except Exception as e:  # any other failure is a malformed snapshot, never a crash
        raise ValueError(f"snapshot is malformed at {where}: {type(e).__name__}: {e}") from None
    return fc


# -- consistency -----------------------------------------------------------------------------


def _check(fc: FlowControl, fresh_fns: list[_runtime._Function], table: list[Any]) -> None:
    """Cross-checks of the restored graph that field types cannot express."""
    if len(fc._fns) != len(fresh_fns) or any(
        a is not b for a, b in zip(fc._fns, fresh_fns, strict=False)
    ):
        raise _Bad("must list every function, in order").at("_fns")
    n_states = len(_runtime._STATE_NAMES)
    runs = fc._runs
    if type(runs) is not dict:
        raise _Bad("must be a mapping").at("_runs")
    for rid, run in runs.items():
        if not isinstance(run, _Run) or run.id != rid:
            raise _Bad("is not the run of that id").key(rid).at("_runs")
        if not 0 <= run.state < n_states:
            raise _Bad(f"state {run.state} is out of range").at("state").key(rid).at("_runs")
    for i, fn in enumerate(fc._fns):
        for rid, run in fn.live.items():
            if not isinstance(run, _Run) or run.id != rid or run.fn is not fn:
                raise _Bad("is not a live run of this function").key(rid).at("live").at(
                    i).at("_fns")
    _check_heaps(fc, table)
    _check_members(fc, table)
    conc = fc._conc
    counts: dict[str, int] = {}
    for lid, ids in conc._leases.items():
        if not isinstance(ids, tuple) or not all(type(c) is str for c in ids):
            raise _Bad("must be a tuple of counter ids").key(lid).at("_leases").at("_conc")
        for c in ids:
            counts[c] = counts.get(c, 0) + 1
    if counts != conc._counts:
        raise _Bad("counters do not add up to the leases held").at("_counts").at("_conc")
    for rid, run in runs.items():
        if run.lease is not None and run.lease.lease_id not in conc._leases:
            raise _Bad("holds a lease the registry does not know").at("lease").key(rid).at(
                "_runs")
    _check_run_slots(fc)


def _check_run_slots(fc: FlowControl) -> None:
    """The run semaphore's counters add up, and each slot is held by a started, live run
    of a function with a run limit, under that run's key."""
    sem = fc._sem
    counts: dict[str, int] = {}
    by_id = {fn.id: fn for fn in fc._fns}
    for holder, entry in sem._held.items():
        if not (type(entry) is tuple and len(entry) == 3 and type(entry[0]) is str
                and type(entry[1]) is str and (entry[2] is None or type(entry[2]) is str)):
            raise _Bad("must be (counter id, function id, key)").key(holder).at("_held").at(
                "_sem")
        cid, fn_id, key = entry
        fn = by_id.get(fn_id)
        run = fn.live.get(holder) if fn is not None else None
        if fn is None or fn.run_limit is None or run is None or run.started_at is None:
            raise _Bad("is not a started, live run of a function with a run limit").key(
                holder).at("_held").at("_sem")
        if run.rkey != key or sem.counter_id(fn_id, key) != cid:
            raise _Bad("does not match the run's key").key(holder).at("_held").at("_sem")
        counts[cid] = counts.get(cid, 0) + 1
    if counts != sem._counts:
        raise _Bad("counters do not add up to the slots held").at("_counts").at("_sem")


def _check_members(fc: FlowControl, table: list[Any]) -> None:
    """The members of the controller's and the machines' tables have the right classes."""
    records = (_Run, _Backlog, _Gate, _Function)
    for b in fc._ready:
        if not isinstance(b, _Backlog):
            raise _Bad(f"holds a {type(b).__name__}, not a backlog").at("_ready")
    for k, x in fc._backlogs.items():
        if not isinstance(x, _Backlog) or x.key != k:
            raise _Bad("is not the backlog of that key").key(k).at("_backlogs")
    for k, g in fc._gates.items():
        if not isinstance(g, _Gate) or g.id != k:
            raise _Bad("is not the gate of that key").key(k).at("_gates")
    for j, entry in enumerate(fc._timers):
        if (type(entry) is not tuple or len(entry) != 4 or type(entry[2]) is not int
                or not isinstance(entry[3], records)):
            raise _Bad("a timer must be (at, seq, kind, record)").at(j).at("_timers")
    for obj in table:
        if type(obj) in (debounce.Debounce, batch.Batcher):
            open_cls = debounce._Open if type(obj) is debounce.Debounce else batch._Open
            for k, x in obj._active.items():
                if type(x) is not open_cls or x.key != k:
                    raise _Bad(f"{type(obj).__name__}._active[{k!r}] is not its open item")
            for entry in obj._heap:
                if type(entry) is not tuple or len(entry) != 3 or type(entry[2]) is not open_cls:
                    raise _Bad(f"{type(obj).__name__}._heap holds a bad entry {entry!r:.60}")


def _check_heaps(fc: FlowControl, table: list[Any]) -> None:
    """Every list kept as a heap (known by its field name) is in heap order."""
    for obj in table:
        spec = _SPECS.get(type(obj))
        if obj is fc:
            fields: Iterable[str] = [n for n in vars(fc) if n in _HEAPS]
            tag = "controller"
        elif spec is not None and spec.mode in ("new", "overlay"):
            fields = [f for f in spec.fields if f in _HEAPS]
            tag = spec.tag
        else:
            continue
        for f in fields:
            h = getattr(obj, f, None)
            if type(h) is list:
                _heap_order(h, f"{tag}.{f}")


def _heap_order(h: list[Any], where: str) -> None:
    try:
        for j in range(1, len(h)):
            a, b = h[(j - 1) // 2], h[j]
            if type(a) is not tuple or type(b) is not tuple or len(a) < 2 or len(b) < 2:
                raise _Bad(f"the entries of {where} must be tuples")
            if a[:2] > b[:2]:
                raise _Bad(f"{where} is out of heap order at entry {j}")
    except TypeError:
        raise _Bad(f"the entries of {where} do not compare") from None
