"""AST -> Python closures for the ``cel`` dialect.

Promise: :class:`Compiler` turns an AST into one closure ``fn(activation) -> value`` that has
CEL semantics exactly and raises only :class:`ExprEvalError` for runtime errors (internally,
errors are exceptions caught only by ``&&``, ``||``, ``?:`` and the macros, which is free on the
non-error path). No ``eval``/``exec``. Constant sub-expressions are folded at compile time
(unless they fail, in which case the failure is kept for run time); hot shapes are specialised:
field-select chains (``event.data.user_id``) become one closure doing consecutive dict lookups,
``x == 'lit'`` compares strings directly, a ``?:`` ladder testing one path against string
literals becomes a dict dispatch, and string concatenation chains become a single join (with
the path lookups inlined when every operand is a literal or a short path). Each specialised
closure falls back to the general one on anything unusual; ``Compiler(specialise=False)``
compiles everything the general way, and tests check both agree. Closures that can raise
nothing but :class:`ExprEvalError` are "plain" and run unguarded at the top level.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from . import _ast as A
from . import _stdlib as S
from ._errors import ExprEvalError
from ._values import (
    BOOL,
    INT,
    LIST,
    MAP,
    STRING,
    TYPES,
    UINT,
    BoolKey,
    cel_eq,
    kind,
    map_find,
    no_overload,
)

__all__ = ["Compiler", "Fn", "Scope", "guard"]

Fn = Callable[[Any], Any]

_MISSING: Final = object()


class Scope:
    """The activation inside a macro body: one bound variable over a parent activation."""

    __slots__ = ("parent", "root", "value", "var")

    def __init__(self, parent: Any, var: str) -> None:
        self.parent = parent
        self.root: Any = parent.root if type(parent) is Scope else parent
        self.var = var
        self.value: Any = None

    def __getitem__(self, key: str) -> Any:
        if key == self.var:
            return self.value
        return self.parent[key]


def guard(fn: Fn) -> Fn:
    """Wrap a closure so that only :class:`ExprEvalError` can escape it."""

    def guarded(act: Any) -> Any:
        try:
            return fn(act)
        except ExprEvalError:
            raise
        except RecursionError:
            raise ExprEvalError("evaluation nested too deeply") from None
        except Exception as e:  # a bug or a hostile activation object: never leak it
            raise ExprEvalError(f"evaluation failed: {type(e).__name__}") from None

    return guarded


MISSING: Any = object()
"""What :func:`resolve` returns for a name that is neither bound nor a type name."""


def resolve(act: Any, name: str, root: bool) -> Any:
    """Resolve a name the fast path missed: activation, then type names, else ``MISSING``.

    Raises for an activation that is not a mapping (``root``: skip comprehension scopes).
    """
    if root and type(act) is Scope:
        act = act.root
    if type(act) is not Scope and not isinstance(act, Mapping):
        raise ExprEvalError(
            f"the activation must be a mapping of names to values, not {type(act).__name__}"
        )
    try:
        return act[name]
    except KeyError:
        pass
    return TYPES.get(name, MISSING)


def lookup_slow(act: Any, name: str, root: bool) -> Any:
    """:func:`resolve`, with an unbound name an error."""
    v = resolve(act, name, root)
    if v is MISSING:
        raise ExprEvalError(f"undeclared reference to '{name}'")
    return v


def path_of(node: A.Node) -> tuple[A.Ident, list[str]] | None:
    """If ``node`` is ``ident(.field | ['lit'])*``, return the ident and the field names."""
    fields: list[str] = []
    while True:
        if isinstance(node, A.Select):
            fields.append(node.field)
            node = node.operand
        elif (
            isinstance(node, A.Index)
            and isinstance(node.index, A.Lit)
            and type(node.index.value) is str
        ):
            fields.append(node.index.value)
            node = node.operand
        else:
            break
    if isinstance(node, A.Ident):
        fields.reverse()
        return node, fields
    return None


def _same_path(a: tuple[A.Ident, list[str]], b: tuple[A.Ident, list[str]]) -> bool:
    return a[0].name == b[0].name and a[0].root == b[0].root and a[1] == b[1]


class Compiler:
    """Compiles an AST (``cel`` dialect); subclasses override node handlers for dialects."""

    #: ``lookup(act, name, root)``: a variable not found the fast way (``act[name]``).
    lookup: staticmethod[[Any, str, bool], Any] = staticmethod(lookup_slow)

    def __init__(self, specialise: bool = True) -> None:
        # specialise=False compiles every node the general way (tests compare both ways)
        self.specialise = specialise
        self._consts: dict[int, Any] = {}
        self._keep: list[Fn] = []
        # closures that raise only ExprEvalError and never return an internal marker
        self._plain: set[int] = set()
        # fast path closures: id -> (root name, fields)
        self._paths: dict[int, tuple[str, tuple[str, ...]]] = {}

    def mark_plain(self, fn: Fn) -> Fn:
        self._plain.add(id(fn))
        self._keep.append(fn)
        return fn

    def is_plain(self, fn: Fn) -> bool:
        return id(fn) in self._plain or id(fn) in self._consts

    def path_info(self, fn: Fn) -> tuple[str, tuple[str, ...]] | None:
        return self._paths.get(id(fn))

    # --- constants ----------------------------------------------------------------------------
    def const(self, value: Any) -> Fn:
        def fn(act: Any) -> Any:
            return value

        self._consts[id(fn)] = value
        self._keep.append(fn)
        return fn

    def is_const(self, fn: Fn) -> bool:
        return id(fn) in self._consts

    def value_of(self, fn: Fn) -> Any:
        return self._consts[id(fn)]

    def fold(self, fn: Fn, *parts: Fn) -> Fn:
        """Replace ``fn`` by a constant if all ``parts`` are constants and it succeeds."""
        if all(self.is_const(p) for p in parts):
            try:
                value = fn(None)
            except Exception:
                return fn
            if kind(value) not in (LIST, MAP):
                return self.const(value)
        return fn

    # --- entry points ---------------------------------------------------------------------------
    def compile_top(self, node: A.Node) -> Fn:
        """The program's closure: the whole expression, guarded."""
        fn = self.compile(node)
        if self.is_plain(fn):
            return fn
        return guard(fn)

    def compile(self, node: A.Node) -> Fn:
        if isinstance(node, A.Lit):
            return self.const(node.value)
        if isinstance(node, A.Ident):
            return self.ident(node)
        if isinstance(node, A.Select | A.Index):
            path = path_of(node)
            if path is not None and path[1]:
                return self.path(path[0], path[1])
            if isinstance(node, A.Select):
                return self.select(node)
            return self.index(node)
        if isinstance(node, A.Has):
            return self.has(node)
        if isinstance(node, A.Call):
            return self.call(node)
        if isinstance(node, A.ListLit):
            return self.list_lit(node)
        if isinstance(node, A.MapLit):
            return self.map_lit(node)
        if isinstance(node, A.Unary):
            return self.unary(node)
        if isinstance(node, A.Binary):
            return self.binary(node)
        if isinstance(node, A.And):
            return self.and_(node)
        if isinstance(node, A.Or):
            return self.or_(node)
        if isinstance(node, A.Cond):
            return self.cond(node)
        return self.comprehension(node)

    # --- names and paths ------------------------------------------------------------------------
    def ident(self, node: A.Ident) -> Fn:
        name = node.name
        lookup = self.lookup  # a closure cell: no slower than the global it replaces
        if node.root:

            def root_ident(act: Any) -> Any:
                return lookup(act, name, True)

            return root_ident

        def ident(act: Any) -> Any:
            try:
                return act[name]
            except Exception:
                return lookup(act, name, False)

        return ident

    def path_slow(self, ident: A.Ident, fields: list[str]) -> Fn:
        name, root = ident.name, ident.root
        names = tuple(fields)

        # Qualified names: ``a.b.c`` may be a variable named "a.b.c" (or "a.b" with field c);
        # the longest bound dotted prefix wins (checked here, off the fast path).
        qualified = tuple(
            (".".join((name, *names[:k])), names[k:]) for k in range(len(names), 0, -1)
        )

        def slow(act: Any) -> Any:
            scope = act.root if root and type(act) is Scope else act
            if type(scope) is dict or type(scope) is Scope or isinstance(scope, Mapping):
                for qname, rest in qualified:
                    try:
                        v = scope[qname]
                    except Exception:
                        continue
                    for f in rest:
                        v = S.select(v, f)
                    return v
            v = lookup_slow(act, name, root)
            for f in names:
                v = S.select(v, f)
            return v

        return slow

    def path(self, ident: A.Ident, fields: list[str]) -> Fn:
        slow = self.path_slow(ident, fields)
        if ident.root or not self.specialise:
            return slow
        fn = _fast_path(ident.name, tuple(fields), guard(slow))
        self._paths[id(fn)] = (ident.name, tuple(fields))
        return self.mark_plain(fn)

    def select(self, node: A.Select) -> Fn:
        operand = self.compile(node.operand)
        field = node.field
        select = S.select

        def sel(act: Any) -> Any:
            v = operand(act)
            if type(v) is dict:
                try:
                    return v[field]
                except KeyError:
                    raise ExprEvalError(f"no such key: '{field}'") from None
            return select(v, field)

        return self.fold(sel, operand)

    def index(self, node: A.Index) -> Fn:
        operand = self.compile(node.operand)
        idx = self.compile(node.index)
        index = S.index

        def ix(act: Any) -> Any:
            a = operand(act)
            i = idx(act)
            if type(a) is list and type(i) is int and 0 <= i < len(a):
                return a[i]
            return index(a, i)

        return self.fold(ix, operand, idx)

    def has(self, node: A.Has) -> Fn:
        operand = self.compile(node.operand)
        field = node.field
        has = S.has

        def h(act: Any) -> Any:
            v = operand(act)
            if type(v) is dict:
                return field in v
            return has(v, field)

        return self.fold(h, operand)

    # --- calls ------------------------------------------------------------------------------------
    def call(self, node: A.Call) -> Fn:
        args = [self.compile(a) for a in node.args]
        if node.target is None:
            impl = S.FUNCTIONS.get(node.name, {}).get(len(args))
            parts = args
        else:
            target = self.compile(node.target)
            impl = S.METHODS.get(node.name, {}).get(len(args))
            parts = [target, *args]
        if impl is None:
            return self.unknown_function(node, parts)
        return self.fold(_apply(impl, parts), *parts)

    def unknown_function(self, node: A.Call, parts: list[Fn]) -> Fn:
        name, n, receiver = node.name, len(node.args), node.target is not None

        def unknown(act: Any) -> Any:
            for p in parts:
                p(act)
            what = "receiver call" if receiver else "function"
            raise ExprEvalError(f"no such {what} '{name}' with {n} argument(s)")

        return unknown

    # --- literals ---------------------------------------------------------------------------------
    def list_lit(self, node: A.ListLit) -> Fn:
        items = [self.compile(i) for i in node.items]
        if all(self.is_const(i) for i in items):
            values = tuple(self.value_of(i) for i in items)

            def const_list(act: Any) -> Any:
                return list(values)

            return const_list

        def make_list(act: Any) -> Any:
            return [i(act) for i in items]

        return make_list

    def map_lit(self, node: A.MapLit) -> Fn:
        entries = [(self.compile(k), self.compile(v)) for k, v in node.entries]

        def make_map(act: Any) -> Any:
            out: dict[Any, Any] = {}
            for kf, vf in entries:
                k = kf(act)
                v = vf(act)
                out[_check_key(out, k)] = v
            return out

        return make_map

    # --- operators --------------------------------------------------------------------------------
    def unary(self, node: A.Unary) -> Fn:
        operand = self.compile(node.operand)
        impl = S.lnot if node.op == "!" else S.neg

        def un(act: Any) -> Any:
            return impl(operand(act))

        return self.fold(un, operand)

    def binary(self, node: A.Binary) -> Fn:
        op = node.op
        if op == "+" and self.specialise:
            parts = _plus_chain(node)
            if any(isinstance(p, A.Lit) and type(p.value) is str for p in parts):
                return self.concat([self.compile(p) for p in parts])
        left = self.compile(node.left)
        right = self.compile(node.right)
        fn: Fn
        if not self.specialise:
            impl = S.BINARY[op]

            def plain(act: Any) -> Any:
                return impl(left(act), right(act))

            fn = plain
        elif op in ("==", "!="):
            fn = self.equality(left, right, op == "!=")
        elif op in ("<", "<=", ">", ">="):
            fn = _relation(op, left, right)
        elif op == "in" and self.is_const(right) is False and isinstance(node.right, A.ListLit):
            fn = self.in_list(node.right, left, right)
        else:
            impl = S.BINARY[op]

            def bin_(act: Any) -> Any:
                return impl(left(act), right(act))

            fn = bin_
        return self.fold(fn, left, right)

    def equality(self, left: Fn, right: Fn, negate: bool) -> Fn:
        for a, b in ((left, right), (right, left)):
            if self.is_const(b) and type(self.value_of(b)) is str:
                return _eq_str(a, self.value_of(b), negate)
        if negate:

            def ne(act: Any) -> Any:
                return not cel_eq(left(act), right(act))

            return ne

        def eq(act: Any) -> Any:
            return cel_eq(left(act), right(act))

        return eq

    def in_list(self, lst: A.ListLit, left: Fn, right: Fn) -> Fn:
        if lst.items and all(
            isinstance(i, A.Lit) and type(i.value) is str for i in lst.items
        ):
            members = frozenset(i.value for i in lst.items if isinstance(i, A.Lit))
            in_ = S.in_

            def in_strings(act: Any) -> Any:
                v = left(act)
                if type(v) is str:
                    return v in members
                return in_(v, right(act))

            return in_strings
        impl = S.in_

        def in_gen(act: Any) -> Any:
            return impl(left(act), right(act))

        return in_gen

    def concat(self, parts: list[Fn]) -> Fn:
        """A ``+`` chain containing a string literal: all operands must be strings."""
        add = S.add
        if len(parts) == 3 and self.is_const(parts[1]) and not self.is_const(parts[0]):
            a, mid, c = parts[0], self.value_of(parts[1]), parts[2]

            def cat3(act: Any) -> Any:
                x = a(act)
                y = c(act)
                if type(x) is str and type(y) is str:
                    return x + mid + y
                return add(add(x, mid), y)

            return self.fuse_cat3(a, mid, c, cat3)

        def cat(act: Any) -> Any:
            values = [p(act) for p in parts]
            for v in values:
                if type(v) is not str:
                    acc = values[0]
                    for w in values[1:]:
                        acc = add(acc, w)
                    return acc
            return "".join(values)

        return self.fuse_concat(parts, self.fold(cat, *parts))

    def fuse_cat3(self, a: Fn, mid: str, c: Fn, general: Fn) -> Fn:
        """``p + 'lit' + q`` with two 2-field paths: one closure, no nested calls."""
        pa, pc = self.path_info(a), self.path_info(c)
        if not self.specialise or pa is None or pc is None or len(pa[1]) != 2 or len(pc[1]) != 2:
            return general
        (n1, (a1, a2)), (n2, (c1, c2)) = pa, pc
        slow = guard(general)

        def cat_paths(act: Any) -> Any:
            try:
                x = act[n1][a1][a2]
                y = act[n2][c1][c2]
            except Exception:
                return slow(act)
            if type(x) is str and type(y) is str:
                return x + mid + y
            return slow(act)

        return self.mark_plain(cat_paths)

    def fuse_concat(self, parts: list[Fn], general: Fn) -> Fn:
        """A concatenation of literals and 1- or 2-field paths: lookups inline, one join."""
        if not self.specialise or not any(
            self.is_const(p) and type(self.value_of(p)) is str for p in parts
        ):
            return general  # (a string literal also guarantees the inngest result is known)
        spec: list[tuple[str | None, Any, str | None]] = []
        for p in parts:
            info = self.path_info(p)
            if self.is_const(p) and type(self.value_of(p)) is str:
                spec.append((None, self.value_of(p), None))
            elif info is not None and len(info[1]) in (1, 2):
                spec.append((info[0], info[1][0], info[1][1] if len(info[1]) == 2 else None))
            else:
                return general
        slow = guard(general)
        steps = tuple(spec)

        def cat_fused(act: Any) -> Any:
            out = []
            try:
                for root, f1, f2 in steps:
                    if root is None:
                        out.append(f1)
                    elif f2 is None:
                        out.append(act[root][f1])
                    else:
                        out.append(act[root][f1][f2])
            except Exception:
                return slow(act)
            for v in out:
                if type(v) is not str:
                    return slow(act)
            return "".join(out)

        return self.mark_plain(cat_fused)

    def and_(self, node: A.And) -> Fn:
        terms = [self.compile(t) for t in node.terms]
        for t in terms:
            if self.is_const(t) and self.value_of(t) is False:
                return self.const(False)
        terms = [t for t in terms if not (self.is_const(t) and self.value_of(t) is True)]
        if not terms:
            return self.const(True)
        return self.fold(_logic(terms, False), *terms)

    def or_(self, node: A.Or) -> Fn:
        terms = [self.compile(t) for t in node.terms]
        for t in terms:
            if self.is_const(t) and self.value_of(t) is True:
                return self.const(True)
        terms = [t for t in terms if not (self.is_const(t) and self.value_of(t) is False)]
        if not terms:
            return self.const(False)
        return self.fold(_logic(terms, True), *terms)

    def cond(self, node: A.Cond) -> Fn:
        switch = self.switch(node)
        if switch is not None:
            return switch
        c = self.compile(node.cond)
        t = self.compile(node.then)
        f = self.compile(node.other)
        if self.is_const(c):
            v = self.value_of(c)
            if v is True:
                return t
            if v is False:
                return f

        def cond(act: Any) -> Any:
            x = c(act)
            if x is True:
                return t(act)
            if x is False:
                return f(act)
            raise no_overload("_?_:_", x)

        return cond

    def switch(self, node: A.Cond) -> Fn | None:
        """``p == 'a' ? x : p == 'b' ? y : z`` (same path ``p``) -> one lookup and a dict."""
        if not self.specialise:
            return None
        arms: list[tuple[str, A.Node]] = []
        subject: tuple[A.Ident, list[str]] | None = None
        cur: A.Node = node
        while isinstance(cur, A.Cond):
            test = cur.cond
            if not (isinstance(test, A.Binary) and test.op == "=="):
                break
            if isinstance(test.right, A.Lit) and type(test.right.value) is str:
                lit, other = test.right.value, test.left
            elif isinstance(test.left, A.Lit) and type(test.left.value) is str:
                lit, other = test.left.value, test.right
            else:
                break
            p = path_of(other)
            if p is None or (subject is not None and not _same_path(subject, p)):
                break
            subject = p
            arms.append((lit, cur.then))
            cur = cur.other
        if subject is None or len(arms) < 2:
            return None
        get = self.path(subject[0], subject[1]) if subject[1] else self.ident(subject[0])
        default = self.compile(cur)
        branches: dict[str, Fn] = {}
        for lit, branch in arms:
            if lit not in branches:
                branches[lit] = self.compile(branch)
        if all(self.is_const(b) for b in branches.values()):
            values = {k: self.value_of(b) for k, b in branches.items()}
            if self.is_const(default):
                dv = self.value_of(default)
                info = self.path_info(get)
                if info is not None and len(info[1]) == 2:
                    root, (g1, g2) = info[0], info[1]

                    def switch_path2(act: Any) -> Any:
                        try:
                            v = act[root][g1][g2]
                        except Exception:
                            v = get(act)
                        if type(v) is str:
                            return values.get(v, dv)
                        if isinstance(v, str):
                            return values.get(str(v), dv)
                        return dv

                    return self.mark_plain(switch_path2)

                def switch_consts(act: Any) -> Any:
                    v = get(act)
                    if type(v) is str:
                        return values.get(v, dv)
                    if isinstance(v, str):
                        return values.get(str(v), dv)
                    return dv

                return switch_consts

            def switch_values(act: Any) -> Any:
                v = get(act)
                if type(v) is not str:
                    if not isinstance(v, str):
                        return default(act)
                    v = str(v)
                r = values.get(v, _MISSING)
                return default(act) if r is _MISSING else r

            return switch_values

        def switch(act: Any) -> Any:
            v = get(act)
            if type(v) is not str:
                if not isinstance(v, str):
                    return default(act)
                v = str(v)
            b = branches.get(v)
            return default(act) if b is None else b(act)

        return switch

    # --- macros -----------------------------------------------------------------------------------
    def comprehension(self, node: A.Comprehension) -> Fn:
        target = self.compile(node.target)
        pred = self.compile(node.pred) if node.pred is not None else None
        transform = self.compile(node.transform) if node.transform is not None else None
        return _comprehension(node.kind, node.var, target, pred, transform)


def _fast_path(name: str, fields: tuple[str, ...], slow: Fn) -> Fn:
    """Consecutive lookups with a single try; any miss re-runs the checked slow path."""
    if len(fields) == 1:
        (f1,) = fields

        def path1(act: Any) -> Any:
            try:
                return act[name][f1]
            except Exception:
                return slow(act)

        return path1
    if len(fields) == 2:
        f1, f2 = fields

        def path2(act: Any) -> Any:
            try:
                return act[name][f1][f2]
            except Exception:
                return slow(act)

        return path2
    if len(fields) == 3:
        f1, f2, f3 = fields

        def path3(act: Any) -> Any:
            try:
                return act[name][f1][f2][f3]
            except Exception:
                return slow(act)

        return path3

    def path_n(act: Any) -> Any:
        try:
            v = act[name]
            for f in fields:
                v = v[f]
            return v
        except Exception:
            return slow(act)

    return path_n


def _eq_str(other: Fn, lit: str, negate: bool) -> Fn:
    """``x == 'lit'`` / ``x != 'lit'``: a direct string comparison when ``x`` is a str."""
    if negate:

        def ne_lit(act: Any) -> Any:
            v = other(act)
            if type(v) is str:
                return v != lit
            return not cel_eq(v, lit)

        return ne_lit

    def eq_lit(act: Any) -> Any:
        v = other(act)
        if type(v) is str:
            return v == lit
        return cel_eq(v, lit)

    return eq_lit


def _apply(impl: Callable[..., Any], parts: list[Fn]) -> Fn:
    if len(parts) == 1:
        (p1,) = parts

        def call1(act: Any) -> Any:
            return impl(p1(act))

        return call1
    if len(parts) == 2:
        p1, p2 = parts

        def call2(act: Any) -> Any:
            return impl(p1(act), p2(act))

        return call2

    def call_n(act: Any) -> Any:
        return impl(*[p(act) for p in parts])

    return call_n


def _check_key(out: dict[Any, Any], k: Any) -> Any:
    """Validate a map-literal key; returns the key to store (a ``BoolKey`` on a collision)."""
    kk = kind(k)
    if kk not in (BOOL, INT, UINT, STRING):
        raise ExprEvalError(f"unsupported map key type: {kind_name(k)}")
    if map_find(out, k)[0]:
        raise ExprEvalError("Failed with repeated key in map literal")
    if k in out:  # a bool and an equal int/uint: Python dicts cannot hold both
        if kk == BOOL:
            return BoolKey(bool(k))
        for existing in list(out):
            if existing == k and type(existing) is bool:
                out[BoolKey(existing)] = out.pop(existing)
                break
    return k


def kind_name(v: Any) -> str:
    k = kind(v)
    return type(v).__name__ if k > 9 else ("null_type", "bool", "int", "uint", "double", "string",
                                             "bytes", "list", "map", "type")[k]


def _plus_chain(node: A.Binary) -> list[A.Node]:
    parts: list[A.Node] = []
    cur: A.Node = node
    while isinstance(cur, A.Binary) and cur.op == "+":
        parts.append(cur.right)
        cur = cur.left
    parts.append(cur)
    parts.reverse()
    return parts


def _relation(op: str, left: Fn, right: Fn) -> Fn:
    impl = S.BINARY[op]
    if op == "<":

        def lt(act: Any) -> Any:
            a = left(act)
            b = right(act)
            if type(a) is type(b) and (type(a) is int or type(a) is str):
                return a < b
            return impl(a, b)

        return lt
    if op == "<=":

        def le(act: Any) -> Any:
            a = left(act)
            b = right(act)
            if type(a) is type(b) and (type(a) is int or type(a) is str):
                return a <= b
            return impl(a, b)

        return le
    if op == ">":

        def gt(act: Any) -> Any:
            a = left(act)
            b = right(act)
            if type(a) is type(b) and (type(a) is int or type(a) is str):
                return a > b
            return impl(a, b)

        return gt

    def ge(act: Any) -> Any:
        a = left(act)
        b = right(act)
        if type(a) is type(b) and (type(a) is int or type(a) is str):
            return a >= b
        return impl(a, b)

    return ge


def _logic(terms: list[Fn], is_or: bool) -> Fn:
    """Commutative ``&&``/``||``: a deciding value wins over errors and non-bools elsewhere."""
    decide = is_or  # the value that decides the result
    name = "_||_" if is_or else "_&&_"

    def logic(act: Any) -> Any:
        err: ExprEvalError | None = None
        for t in terms:
            try:
                v = t(act)
            except ExprEvalError as e:
                if err is None:
                    err = e
                continue
            if v is decide:
                return decide
            if v is not (not decide) and err is None:
                err = no_overload(name, v)
        if err is not None:
            raise err
        return not decide

    return logic


def _iter_items(target: Any, macro: str) -> list[Any]:
    k = kind(target)
    if k == LIST:
        return list(target)
    if k == MAP:
        return [bool(x) if type(x) is BoolKey else x for x in target]
    raise ExprEvalError(f"{macro}() applies to a list or map, not {kind_name(target)}")


def _comprehension(kind_: str, var: str, target: Fn, pred: Fn | None, transform: Fn | None) -> Fn:
    if kind_ in ("all", "exists"):
        assert pred is not None
        p = pred
        decide = kind_ == "exists"

        # The same decide-or-remember-the-error loop as _logic, kept inline on purpose: a
        # shared helper would cost a call or a generator per evaluation.
        def quantifier(act: Any) -> Any:
            items = _iter_items(target(act), kind_)
            scope = Scope(act, var)
            err: ExprEvalError | None = None
            for x in items:
                scope.value = x
                try:
                    v = p(scope)
                except ExprEvalError as e:
                    if err is None:
                        err = e
                    continue
                if v is decide:
                    return decide
                if v is not (not decide) and err is None:
                    err = no_overload(kind_, v)
            if err is not None:
                raise err
            return not decide

        return quantifier
    if kind_ == "exists_one":
        assert pred is not None
        p1 = pred

        def exists_one(act: Any) -> Any:
            items = _iter_items(target(act), kind_)
            scope = Scope(act, var)
            count = 0
            for x in items:
                scope.value = x
                v = p1(scope)
                if v is True:
                    count += 1
                elif v is not False:
                    raise no_overload("exists_one", v)
            return count == 1

        return exists_one
    if kind_ == "filter":
        assert pred is not None
        p2 = pred

        def filter_(act: Any) -> Any:
            items = _iter_items(target(act), kind_)
            scope = Scope(act, var)
            out = []
            for x in items:
                scope.value = x
                v = p2(scope)
                if v is True:
                    out.append(x)
                elif v is not False:
                    raise no_overload("filter", v)
            return out

        return filter_
    assert transform is not None
    t = transform
    p3 = pred

    def map_(act: Any) -> Any:
        items = _iter_items(target(act), "map")
        scope = Scope(act, var)
        out = []
        for x in items:
            scope.value = x
            if p3 is not None:
                v = p3(scope)
                if v is False:
                    continue
                if v is not True:
                    raise no_overload("map", v)
            out.append(t(scope))
        return out

    return map_
