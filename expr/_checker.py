"""Static type checking of an AST, with cel-go's checker rules.

Promise: :func:`check_ast` gives the result type of an expression under declared variables and a
function library (``_decls``), or the list of type errors, each at the source offset cel-go
reports it at and worded as cel-go words it. The rules are cel-go's defaults (checker/checker.go
and checker/types.go at cel-go 14f6746a): gradual typing (``dyn`` is assignable to and from
everything), overloads with type parameters resolved by unification, every matching overload
contributing its result type (different results give ``dyn``), list and map literals whose
element types join to ``dyn`` when they differ, macros typed through the comprehensions cel-go
expands them to (so their type variables are numbered as cel-go numbers them), qualified names
resolved longest prefix first, no cross-type numeric comparisons. The walk is an explicit
recursion over the parser's bounded-depth AST; it reads no clock and does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from . import _ast as A
from ._decls import Function, Overload
from ._errors import ExprError, ExprTypeError, position, syntax_error_at
from ._inngest import INNGEST_LIBRARY
from ._parser import parse
from ._stdlib import OPERATORS, STDLIB, UNARY_OPERATORS
from ._types import (
    BOOL,
    BYTES,
    DOUBLE,
    DURATION,
    DYN,
    ERROR,
    INT,
    K_ANY,
    K_DURATION,
    K_DYN,
    K_ERROR,
    K_LIST,
    K_MAP,
    K_NULL,
    K_PARAM,
    K_TIMESTAMP,
    K_TYPE,
    NULL,
    STRING,
    TIMESTAMP,
    TYPE,
    UINT,
    WILDCARDS,
    CelType,
    format_type,
    ground,
    list_of,
    map_of,
    param,
    parse_type,
    render_type,
    type_of_type,
)
from ._values import UInt

__all__ = [
    "DEFAULT_ENV", "PLATFORM_VARIABLES", "TYPE_IDENTS", "TypeProblem", "check", "check_ast",
    "check_uncached",
]

#: Names that denote type values (cel-go's type registry: ``int`` has type ``type(int)``).
TYPE_IDENTS: Final[dict[str, CelType]] = {
    name: type_of_type(t)
    for name, t in (
        ("bool", BOOL), ("bytes", BYTES), ("double", DOUBLE), ("int", INT),
        ("list", list_of(DYN)), ("map", map_of(DYN, DYN)), ("null_type", NULL),
        ("string", STRING), ("type", TYPE), ("uint", UINT),
        ("google.protobuf.Duration", DURATION), ("google.protobuf.Timestamp", TIMESTAMP),
    )
}

_LITERAL_TYPES: Final[dict[type, CelType]] = {
    bool: BOOL, int: INT, UInt: UINT, float: DOUBLE, str: STRING, bytes: BYTES,
    type(None): NULL,
}
_DYNLIKE: Final = frozenset((K_DYN, K_ANY))
_LIBRARIES: Final[dict[str, Mapping[str, Function]]] = {"cel": STDLIB, "inngest": INNGEST_LIBRARY}
# Overload resolutions of ground argument types: (function id, member, *args) -> (result or None,
# type variables consumed, the function: held so that its id is not reused while memoised).
_MEMO: dict[tuple[object, ...], tuple[CelType | None, int, Function]] = {}
_MEMO_SIZE: Final = 20_000


@dataclass(frozen=True, slots=True)
class TypeProblem:
    """One type error: the source offset cel-go reports it at, and its message."""

    pos: int
    message: str


def check_ast(
    root: A.Node, functions: Mapping[str, Function], variables: Mapping[str, CelType],
    dotted: frozenset[str] | None = None,
) -> tuple[CelType, list[TypeProblem]]:
    """The type of ``root`` (type parameters left unbound become ``dyn``) and the errors found,
    sorted by position (stable, as cel-go sorts them). ``dotted`` (the first segments of the
    dotted variable names, see :func:`dotted_roots`) may be passed precomputed."""
    if dotted is None:
        dotted = dotted_roots(variables)
    c = _Checker(functions, variables, dotted)
    t = c.check(root)
    result = c.substitute(t, True)
    if len(c.problems) > 1:
        c.problems.sort(key=lambda p: p.pos)
    return result, c.problems


def dotted_roots(variables: Mapping[str, CelType]) -> frozenset[str]:
    """First segments of the dotted global names: only a path starting so can be a qualified
    name (``a.b.c`` naming a variable ``a.b``)."""
    return frozenset(n.split(".", 1)[0] for n in (*variables, *TYPE_IDENTS) if "." in n)


class _Checker:
    __slots__ = ("counter", "dotted", "functions", "problems", "scope", "subs", "variables")

    def __init__(
        self, functions: Mapping[str, Function], variables: Mapping[str, CelType],
        dotted: frozenset[str],
    ) -> None:
        self.functions = functions
        self.variables = variables
        self.subs: dict[str, CelType] = {}
        self.counter = 0
        self.problems: list[TypeProblem] = []
        self.scope: list[tuple[str, CelType]] = []  # comprehension variables, innermost last
        self.dotted = dotted

    # --- errors -------------------------------------------------------------------------------
    def error(self, pos: int, message: str) -> CelType:
        self.problems.append(TypeProblem(pos, message))
        return ERROR

    def no_overload(self, pos: int, name: str, args: list[CelType], member: bool) -> CelType:
        shown = [format_type(self.substitute(a, True)) for a in args]
        signature = f"({', '.join(shown)})"
        if member:
            signature = f"{shown[0]}.({', '.join(shown[1:])})"
        return self.error(pos, f"found no matching overload for '{name}' applied to '{signature}'")

    def mismatch(self, pos: int, expected: CelType, actual: CelType) -> None:
        self.error(
            pos, f"expected type '{format_type(expected)}' but found '{format_type(actual)}'"
        )

    # --- the walk -----------------------------------------------------------------------------
    def check(self, node: A.Node) -> CelType:
        return _DISPATCH[type(node)](self, node)

    def lit(self, node: A.Lit) -> CelType:
        t = _LITERAL_TYPES.get(type(node.value))
        return t if t is not None else DYN

    def binary(self, node: A.Binary) -> CelType:
        args = [self.check(node.left), self.check(node.right)]
        return self.call(node.pos, OPERATORS[node.op], args, False)

    def cond(self, node: A.Cond) -> CelType:
        args = [self.check(node.cond), self.check(node.then), self.check(node.other)]
        return self.call(node.pos, "_?_:_", args, False)

    def logic_node(self, node: A.And | A.Or) -> CelType:
        return self.logic([(t.pos, self.check(t)) for t in node.terms])

    def index(self, node: A.Index) -> CelType:
        args = [self.check(node.operand), self.check(node.index)]
        return self.call(node.pos, "_[_]", args, False)

    def unary(self, node: A.Unary) -> CelType:
        return self.call(node.pos, UNARY_OPERATORS[node.op], [self.check(node.operand)], False)

    def has(self, node: A.Has) -> CelType:
        self.select_field(node.pos, self.check(node.operand))
        return BOOL

    def list_lit(self, node: A.ListLit) -> CelType:
        return list_of(self.join([self.check(i) for i in node.items]))

    def map_lit(self, node: A.MapLit) -> CelType:
        keys: list[CelType] = []
        values: list[CelType] = []
        for k, v in node.entries:
            keys.append(self.check(k))
            values.append(self.check(v))
        if not node.entries:
            return map_of(self.new_var(), self.new_var())
        return map_of(self.join(keys), self.join(values))

    def ident(self, node: A.Ident) -> CelType:
        if not node.root and self.scope:
            local = self.local(node.name)
            if local is not None:
                return local
        t = self.global_ident(node.name)
        if t is None:
            name = "." + node.name if node.root else node.name
            return self.error(node.pos, f"undeclared reference to '{name}' (in container '')")
        return t

    def local(self, name: str) -> CelType | None:
        for n, t in reversed(self.scope):
            if n == name:
                return t
        return None

    def global_ident(self, name: str) -> CelType | None:
        t = self.variables.get(name)
        if t is None:
            t = TYPE_IDENTS.get(name)
        return t

    def select(self, node: A.Select) -> CelType:
        # A chain a.b.c may name a global variable "a.b.c" or "a.b": the longest prefix wins,
        # unless "a" is a comprehension variable (then the chain is field selections).
        chain: list[A.Select] = [node]
        cur: A.Node = node.operand
        while isinstance(cur, A.Select):
            chain.append(cur)
            cur = cur.operand
        if (
            isinstance(cur, A.Ident) and cur.name in self.dotted
            and (cur.root or self.local(cur.name) is None)
        ):
            names = [cur.name] + [s.field for s in reversed(chain)]
            for k in range(len(names), 1, -1):
                t = self.global_ident(".".join(names[:k]))
                if t is not None:
                    for s in reversed(chain[: len(names) - k]):
                        t = self.select_field(s.pos, t)
                    return t
        t = self.check(cur)
        for s in reversed(chain):
            t = self.select_field(s.pos, t)
        return t

    def select_field(self, pos: int, operand: CelType) -> CelType:
        t = self.substitute(operand, False) if self.subs else operand
        k = t.kind
        if k == K_MAP:
            return t.params[1]
        if k == K_PARAM:
            self.assignable(DYN, t)
            return DYN
        if k not in WILDCARDS:
            self.error(pos, f"type '{format_type(t)}' does not support field selection")
        return DYN

    def call_node(self, node: A.Call) -> CelType:
        args = [self.check(a) for a in node.args]
        if node.target is None:
            if node.name not in self.functions:
                for_error = f"undeclared reference to '{node.name}' (in container '')"
                return self.error(node.pos, for_error)
            return self.call(node.pos, node.name, args, False)
        target = self.check(node.target)
        if node.name not in self.functions:
            return self.error(node.pos, f"undeclared reference to '{node.name}' (in container '')")
        return self.call(node.pos, node.name, [target, *args], True)

    def logic(self, terms: list[tuple[int, CelType]]) -> CelType:
        """``&&`` and ``||``: every operand must be assignable to bool."""
        ok = True
        for pos, t in terms:
            if not self.assignable(t, BOOL):
                self.mismatch(pos, BOOL, t)
                ok = False
        return BOOL if ok else ERROR

    def call(self, pos: int, name: str, args: list[CelType], member: bool) -> CelType:
        """Resolve an overload of ``name`` for ``args`` (the receiver first for a member call)."""
        fn = self.functions[name]
        key: tuple[object, ...] | None = (id(fn), member, *args)
        for a in args:
            if a.kind == K_PARAM or (a.params and not ground(a)):
                key = None
                break
        if key is not None:
            # Ground arguments: the outcome depends on nothing else (bindings made are of fresh
            # variables only), so it is memoised with the number of variables it consumes.
            hit = _MEMO.get(key)
            if hit is not None:
                self.counter += hit[1]
                if hit[0] is None:
                    return self.no_overload(pos, name, args, member)
                return hit[0]
        first_var = self.counter
        result = self.resolve(fn, args, member)
        if key is not None and (result is None or ground(result)):
            if len(_MEMO) >= _MEMO_SIZE:
                _MEMO.clear()
            _MEMO[key] = (result, self.counter - first_var, fn)
        if result is None:
            return self.no_overload(pos, name, args, member)
        return result

    def resolve(self, fn: Function, args: list[CelType], member: bool) -> CelType | None:
        result: CelType | None = None
        n = len(args)
        for ov in fn.overloads:
            if ov.member != member:
                continue
            params, ret = self.instantiate(ov)  # (fresh type variables even for a wrong arity)
            if len(params) != n:
                continue
            trial = dict(self.subs)
            if all(self.assign(trial, a, p) for a, p in zip(args, params, strict=True)):
                self.subs = trial
                r = self.substitute(ret, False)
                if result is None:
                    result = r
                elif result.kind not in _DYNLIKE and r != result:
                    result = DYN
        return result

    def instantiate(self, ov: Overload) -> tuple[tuple[CelType, ...], CelType]:
        if not ov.params:
            return ov.args, ov.result
        fresh = {p: self.new_var() for p in ov.params}
        return (
            tuple(_rename(a, fresh) for a in ov.args),
            _rename(ov.result, fresh),
        )

    def new_var(self) -> CelType:
        t = param(f"_var{self.counter}")
        self.counter += 1
        return t

    def join(self, types: list[CelType]) -> CelType:
        """The element type of a literal: the most general of equal types, else ``dyn``."""
        if not types:
            return self.new_var()
        joined = types[0]
        for t in types[1:]:
            joined = _most_general(joined, t) if self.assignable(joined, t) else DYN
        return joined

    def comprehension(self, node: A.Comprehension) -> CelType:
        range_t = self.substitute(self.check(node.target), False)
        kind = node.kind
        if kind in ("all", "exists"):
            accu: CelType = BOOL
        elif kind == "exists_one":
            accu = INT
        else:
            accu = list_of(self.new_var())
        k = range_t.kind
        if k in (K_LIST, K_MAP):
            var = range_t.params[0]
        elif k in (K_DYN, K_ERROR, K_PARAM):
            self.assignable(DYN, range_t)
            var = DYN
        else:
            self.error(
                node.target.pos,
                f"expression of type '{format_type(range_t)}' cannot be range of a comprehension"
                " (must be list, map, or dynamic)",
            )
            var = ERROR
        self.scope.append((node.var, var))
        try:
            pos = node.pos
            if kind in ("all", "exists"):
                assert node.pred is not None
                self.logic([(pos, BOOL), (node.pred.pos, self.check(node.pred))])
                return BOOL
            if kind == "exists_one":
                assert node.pred is not None
                pred = self.check(node.pred)
                step = self.call(pos, "_?_:_", [pred, self.call(pos, "_+_", [INT, INT], False),
                                                INT], False)
                self.assert_type(pos, INT, step)
                return self.call(pos, "_==_", [INT, INT], False)
            pred_t = self.check(node.pred) if node.pred is not None else None
            item = self.check(node.transform) if node.transform is not None else var
            step = self.call(pos, "_+_", [accu, list_of(item)], False)
            if pred_t is not None:
                step = self.call(pos, "_?_:_", [pred_t, step, accu], False)
            self.assert_type(pos, accu, step)
            return self.substitute(accu, False)
        finally:
            self.scope.pop()

    def assert_type(self, pos: int, expected: CelType, actual: CelType) -> None:
        if not self.assignable(expected, actual):
            self.mismatch(pos, expected, actual)

    # --- unification ----------------------------------------------------------------------------
    def assignable(self, t1: CelType, t2: CelType) -> bool:
        """Whether ``t1`` is assignable to ``t2``; on success the bindings found are kept."""
        trial = dict(self.subs)
        if self.assign(trial, t1, t2):
            self.subs = trial
            return True
        return False

    def assign(self, m: dict[str, CelType], t1: CelType, t2: CelType) -> bool:
        k1, k2 = t1.kind, t2.kind
        if k2 == K_PARAM:
            valid, bound = self.substitution(m, t1, t2)
            if valid:
                return True
            if bound:
                return False
        if k1 == K_PARAM:
            return self.substitution(m, t2, t1)[0]
        if k1 in WILDCARDS or k2 in WILDCARDS:
            return True
        if k1 == K_NULL:
            return _nullable(t2)
        if k2 == K_NULL:
            return _nullable(t1)
        if k1 == K_TYPE:
            return k2 == K_TYPE
        if k1 != k2:
            return False
        if k1 in (K_LIST, K_MAP):
            return all(self.assign(m, a, b) for a, b in zip(t1.params, t2.params, strict=True))
        return True

    def substitution(self, m: dict[str, CelType], t1: CelType, t2: CelType) -> tuple[bool, bool]:
        """Whether the parameter ``t2`` can stand for ``t1`` (binding it in ``m`` if needed), and
        whether ``t2`` was already bound."""
        if t1 == t2:
            return True, True
        bound = m.get(t2.name)
        if bound is not None:
            if t1 == bound:
                return True, True
            if self.assign(m, t1, bound):
                general = _most_general(t1, bound)
                if _not_referenced_in(m, t2, general):
                    m[t2.name] = general
                return True, True
            return False, True
        if _not_referenced_in(m, t2, t1):
            m[t2.name] = t1
            return True, False
        return False, False

    def substitute(self, t: CelType, to_dyn: bool) -> CelType:
        if not t.params and t.kind != K_PARAM:
            return t
        if not self.subs and not to_dyn:
            return t
        return _substitute(self.subs, t, to_dyn)


_DISPATCH: Final[dict[type, Callable[[_Checker, Any], CelType]]] = {
    A.Lit: _Checker.lit, A.Ident: _Checker.ident, A.Select: _Checker.select,
    A.Has: _Checker.has, A.Index: _Checker.index, A.Call: _Checker.call_node,
    A.ListLit: _Checker.list_lit, A.MapLit: _Checker.map_lit, A.Unary: _Checker.unary,
    A.Binary: _Checker.binary, A.And: _Checker.logic_node, A.Or: _Checker.logic_node,
    A.Cond: _Checker.cond, A.Comprehension: _Checker.comprehension,
}


def _substitute(m: Mapping[str, CelType], t: CelType, to_dyn: bool) -> CelType:
    if t.kind == K_PARAM:
        bound = m.get(t.name)
        if bound is not None:
            return _substitute(m, bound, to_dyn)
        return DYN if to_dyn else t
    if not t.params:
        return t
    return CelType(t.kind, t.name, tuple(_substitute(m, p, to_dyn) for p in t.params))


def _rename(t: CelType, fresh: Mapping[str, CelType]) -> CelType:
    if t.kind == K_PARAM:
        return fresh.get(t.name, t)
    if not t.params:
        return t
    return CelType(t.kind, t.name, tuple(_rename(p, fresh) for p in t.params))


def _nullable(t: CelType) -> bool:
    # cel-go keeps the legacy checker's nullness: null goes to timestamps, durations and dyn
    return t.kind in (K_NULL, K_TIMESTAMP, K_DURATION, K_ANY, K_DYN, K_PARAM)


def _less_specific(t1: CelType, t2: CelType) -> bool:
    """Whether ``t1`` is equal to or less specific than ``t2`` (dyn is least specific)."""
    if t1.kind in _DYNLIKE or t1.kind == K_PARAM:
        return True
    if t2.kind in _DYNLIKE or t2.kind == K_PARAM:
        return False
    if t1.kind != t2.kind:
        return False
    if t1.kind in (K_LIST, K_MAP):
        return all(_less_specific(a, b) for a, b in zip(t1.params, t2.params, strict=True))
    if t1.kind == K_TYPE:
        return True
    return t1 == t2


def _most_general(t1: CelType, t2: CelType) -> CelType:
    return t1 if _less_specific(t1, t2) else t2


def _not_referenced_in(m: Mapping[str, CelType], t: CelType, within: CelType) -> bool:
    """The occurs check: ``t`` does not appear in ``within`` (following bindings)."""
    if t == within:
        return False
    if within.kind == K_PARAM:
        bound = m.get(within.name)
        return True if bound is None else _not_referenced_in(m, t, bound)
    return all(_not_referenced_in(m, t, p) for p in within.params)


# --- the public entry point ----------------------------------------------------------------------

PLATFORM_VARIABLES: Final[dict[str, str]] = {
    "event": "map(string, dyn)", "async": "map(string, dyn)", "vars": "map(string, dyn)",
}
"""What ``check`` declares when given no variables: the platform's three top-level names."""

DEFAULT_ENV: Final[tuple[tuple[str, CelType], ...]] = tuple(
    (name, parse_type(t)) for name, t in PLATFORM_VARIABLES.items()
)


def check(source: str, *, dialect: str = "cel", variables: Mapping[str, str] | None = None) -> str:
    """Type-check ``source`` as cel-go would and return its result type in cel-go's notation
    (``int``, ``list(string)``, ``map(string, dyn)``, ``null_type``, ``type(int)``, ``dyn``...).

    ``dialect`` selects the function library: ``"cel"`` is cel-go's standard library,
    ``"inngest"`` the platform's (``+ == != < <= > >=`` over ``(dyn, dyn)``, plus ``lowercase``,
    ``uppercase``, ``b64decode``, ``json_parse``, ``date``, ``now``, ``now_plus``,
    ``now_minus``). ``variables`` maps names to type strings; ``None`` declares ``event``,
    ``async`` and ``vars`` as ``map(string, dyn)``. Raises :class:`ExprSyntaxError` for a syntax
    error, :class:`ExprTypeError` for type errors, ``ValueError`` for a bad type string and
    :class:`ExprError` for a bad argument.
    """
    if not isinstance(source, str):
        raise ExprError(f"expression source must be a str, not {type(source).__name__}")
    if dialect not in _LIBRARIES:
        raise ExprError(f"unknown dialect {dialect!r}; expected one of {tuple(_LIBRARIES)}")
    if variables is None:
        env = DEFAULT_ENV
    else:
        if not isinstance(variables, Mapping):
            raise ExprError(f"variables must be a mapping, not {type(variables).__name__}")
        env = tuple(sorted((_name(n), _parse_declared(n, t)) for n, t in variables.items()))
    return _check(str(source), dialect, env)


def _name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"a variable name must be a non-empty string, not {name!r}")
    return name


def _parse_declared(name: object, text: object) -> CelType:
    try:
        return parse_type(text)  # type: ignore[arg-type]
    except ValueError as e:
        raise ValueError(f"variable {name!r}: {e}") from None


@lru_cache(maxsize=4096)
def _check(source: str, dialect: str, env: tuple[tuple[str, CelType], ...]) -> str:
    return check_uncached(source, dialect, env)


def check_uncached(source: str, dialect: str, env: tuple[tuple[str, CelType], ...]) -> str:
    """:func:`check` without the cache, for an already parsed environment."""
    node = parse(source, lenient_escapes=dialect == "inngest")
    variables, dotted = _environment(env)
    try:
        t, problems = check_ast(node, _LIBRARIES[dialect], variables, dotted)
    except RecursionError:
        raise syntax_error_at("expression too complex to check", source, 0) from None
    if problems:
        raise ExprTypeError([(*position(source, p.pos), p.message) for p in problems], source)
    return render_type(t)


@lru_cache(maxsize=64)
def _environment(
    env: tuple[tuple[str, CelType], ...],
) -> tuple[dict[str, CelType], frozenset[str]]:
    variables = dict(env)
    return variables, dotted_roots(variables)
