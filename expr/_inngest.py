"""The ``inngest`` dialect: the expression semantics Inngest applies to user keys and conditions.

Promise: :class:`InngestCompiler` compiles the same AST as the ``cel`` dialect with these
differences, which reproduce Inngest's cel-go environment (``pkg/expressions``: partial
evaluation with unknowns, ``unknownDecorator``, truthy logical operators, disabled type guards):

* **Missing data is unknown, not an error.** An unbound variable, a missing map key, or a field
  selected through ``null`` or a non-map yields an internal *unknown*. Errors raised while
  evaluating an operand of an operator or function are treated like unknowns.
* **Operators on unknowns** (when an operand is unknown or failed): ``+`` returns the other
  operand (both unknown: unknown); ``==`` is true only against ``null``; ``!=`` is false only
  against ``null``; ``<`` and ``<=`` are true iff the *left* operand is unknown; ``>`` and ``>=``
  are true iff the left operand is known; ``in`` is false; ``size()`` is 0; every other operator
  or function (``- * / % !``, unary minus, ``contains``, ``int()``...) returns ``false``. A macro
  over an unknown target is ``false``.
* **null in an ordering** is replaced by the zero value of the other operand's type
  (``null > 0`` is ``0 > 0``); ``null`` against ``null`` orders as equal.
* **``+`` with operands of two different types** that CEL rejects concatenates their Go ``%v``
  renderings (``"a" + 9.1`` -> ``"a9.1"``, ``"x" + [1, "y"]`` -> ``"x[1 y]"``).
* **``&&`` and ``||`` use truthiness and return an operand**, left to right with short-circuit:
  ``||`` returns the first truthy operand, else the last one; ``&&`` returns the first falsy
  operand, else the last one. Falsy: unknown, error, ``null``, ``false``, ``""``, ``0``, ``0u``,
  ``0.0``; everything else (including empty lists and maps) is truthy. With bool operands this
  is plain CEL. A ternary condition and a macro predicate use the same truthiness.
* **Functions** ``lowercase(s)``, ``uppercase(s)``, ``b64decode(s)`` (standard alphabet, padding
  required; invalid UTF-8 is replaced by U+FFFD) and ``json_parse(s)`` (numbers become ``float``,
  as Go's ``encoding/json`` gives ``float64``; NaN/Infinity are rejected), ``date(v)`` (below)
  and ``duration(s)`` (cel-go's: Go duration syntax, no ``d`` or ``w``). Timestamps and
  durations add, subtract, compare and print as Go does (``_timeval``). The clock functions ``now``,
  ``now_plus`` and ``now_minus`` are not supported (the evaluator reads no clock): calling one is
  an evaluation error.
* **``date(v)``** is the platform's overload (``pkg/expressions/exprenv/overloads.go``) over
  ``pkg/dateutil``. An ``int`` below 946,684,800 (before 2000) is not a date; below
  9,999,999,999 it is Unix seconds, below 9,999,999,999,999 Unix milliseconds, else Unix
  nanoseconds. A ``string`` is tried with Go's ``time.Parse`` rules, in order, as RFC 3339
  (``2006-01-02T15:04:05Z07:00``), ``2006-01-02T15:04:05`` (UTC), RFC 1123 (``Mon, 02 Jan 2006
  15:04:05 MST``), RFC 822 (``02 Jan 06 15:04 MST``), RFC 822Z (``02 Jan 06 15:04 -0700``),
  RFC 850 (``Monday, 02-Jan-06 15:04:05 MST``), Ruby date (``Mon Jan 02 15:04:05 -0700 2006``),
  Unix date (``Mon Jan _2 15:04:05 MST 2006``), ANSI C (``Mon Jan _2 15:04:05 2006``),
  ``Stamp`` (``Jan _2 15:04:05``, year 0), ``StampMilli`` (``Jan _2 15:04:05.000``),
  ``2006-01-02`` and ``time.Time.String()`` (``2006-01-02 15:04:05.999999999 -0700 MST``).
  As Go: fractional seconds may follow the seconds anywhere (``.`` or ``,``, 9 digits count);
  names of days and months in any case, the weekday unchecked; a zone abbreviation is read as
  UTC (the server's local zone) except that a numeric offset counts unless the name is
  ``UTC``. Anything else (a double, as every JSON number is; ``uint``; ``bool``; ``null``; a
  timestamp) and a string or int that is not a date give Go's nil, which is neither null nor
  an error: it is falsy (``||``, ``&&``, ``?:``, macro predicates), ``x == date(bad)`` is
  false and ``x != date(bad)`` true for a known ``x`` (``date(bad) == null`` is false), an
  unknown compares with it as with any value, a list keeps it as ``null``; every other use
  (an operand on the left, a function argument, ``<`` or ``+`` after a timestamp, ``size``,
  a member) and a nil result make the whole evaluation fail with :class:`ExprEvalError`, as
  cel-go's panic does on the platform. (``dateutil.Parse`` would truncate a double, but the
  overload does not call it.)
* **String literals** accept unknown escapes verbatim (``'\\w'`` is the two characters ``\\w``), as
  Inngest does.
* **Numbers are taken as given.** Inngest's Go side decodes event JSON into ``float64``, so a
  concatenated ``12345678`` prints as ``1.2345678e+07`` there; here an ``int`` in the activation
  prints as ``12345678``. Decode with ``json.loads(text, parse_int=float)`` (or format with
  ``go_format(v, ints_as_float=True)``) where that parity matters.
* **The top-level result**: an unknown result is ``False`` (so a key becomes ``"false"``); an
  unknown inside a list or map literal (or a ``map()`` result) becomes ``None``. An error that
  reaches the top (``1 / 0``, ``int('x')``) raises :class:`ExprEvalError`, where Inngest's
  ``Evaluate`` returns ``(false, ErrInvalidResult)``: the caller decides (keys fall back to
  ``"false"``/``"<invalid>"``, priority to 0, per mechanism).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any, Final

from . import _ast as A
from . import _stdlib as S
from ._compiler import (
    MISSING,
    Compiler,
    Fn,
    Scope,
    _fast_path,
    _iter_items,
    guard,
    path_of,
    resolve,
)
from ._decls import Function, call_tables, function, library
from ._errors import ExprEvalError
from ._format import go_format
from ._timeval import Duration, Timestamp, date_from_int, date_from_string, parse_duration
from ._values import (
    BOOL,
    BYTES,
    DOUBLE,
    INT,
    MAP,
    STRING,
    UINT,
    UInt,
    cel_eq,
    kind,
    no_overload,
)

__all__ = ["INNGEST_LIBRARY", "UNKNOWN", "InngestCompiler", "truthy"]


class _Unknown:
    """The internal marker for a missing or failed value (never returned to callers)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN: Final = _Unknown()


class _Nil:
    """What the platform's ``date()`` returns for a value that is not a date: Go's nil
    ``ref.Val``, which is neither CEL ``null`` nor an error (see the module doc)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<nil>"


NIL: Final = _Nil()


class _NilPanic(Exception):
    """cel-go dereferenced the nil: the platform's whole evaluation fails (``prog.Eval``
    recovers the panic as an error). Not an ExprEvalError, so no operand swallows it."""


_NIL_USED: Final = ("date() gave no date (nil) and the expression used it: the platform's "
                    "evaluation fails")


def _nil_used(*values: Any) -> bool:
    return any(v is NIL for v in values)


def truthy(v: Any) -> bool:
    """Inngest's JS-like truthiness."""
    if v is True:
        return True
    if v is False or v is None or v is UNKNOWN or v is NIL:
        return False
    if type(v) is str:
        return v != ""
    k = kind(v)
    if k in (INT, UINT, DOUBLE, BOOL):
        return bool(v)
    if k == STRING:
        return str(v) != ""
    return True


def _known(v: Any) -> Any:
    """Replace an unknown (or nil) stored in a container by ``None``."""
    return None if v is UNKNOWN or v is NIL else v


def _run(fn: Fn, act: Any) -> Any:
    try:
        return fn(act)
    except ExprEvalError:
        return UNKNOWN


def _lookup(act: Any, name: str, root: bool) -> Any:
    """:func:`resolve`, with an unbound name unknown."""
    v = resolve(act, name, root)
    return UNKNOWN if v is MISSING else v


def _step(v: Any, field: str) -> Any:
    """Select ``field`` leniently: anything but a present key is unknown."""
    if type(v) is dict:
        return v.get(field, UNKNOWN)
    if kind(v) == MAP:
        try:
            return v[field]
        except Exception:
            return UNKNOWN
    return UNKNOWN


def _zero(v: Any) -> Any:
    k = kind(v)
    return {INT: 0, UINT: UInt(0), DOUBLE: 0.0, STRING: "", BYTES: b"", BOOL: False}.get(k, v)


def _order(op: str) -> Callable[[Any, Any], Any]:
    impl = S.BINARY[op]
    left_unknown_result = op in ("<", "<=")

    def compare(a: Any, b: Any) -> Any:
        if a is UNKNOWN or b is UNKNOWN:
            if a is NIL:
                raise _NilPanic
            return left_unknown_result if a is UNKNOWN else not left_unknown_result
        if a is None or b is None:
            if a is None and b is None:
                return op in ("<=", ">=")
            if a is NIL:
                raise _NilPanic
            if b is NIL:
                raise no_overload(op, a, b)
            if a is None:
                a = _zero(b)
            else:
                b = _zero(a)
        try:
            return impl(a, b)
        except ExprEvalError:
            _nil_panics(a, b, op)
            raise

    return compare


def _nil_panics(a: Any, b: Any, op: str) -> None:
    """Raise ``_NilPanic`` where cel-go would dereference a nil operand: any nil on the left;
    on the right, where the left's method reads the other's type (``Timestamp`` for
    ``+ - < <= > >=``, ``Duration`` for ``+``). Elsewhere a nil gives an error value."""
    if a is NIL:
        raise _NilPanic
    if b is NIL and ((type(a) is Timestamp and op in _TIMESTAMP_READS)
                     or (type(a) is Duration and op == "+")):
        raise _NilPanic


_TIMESTAMP_READS: Final = frozenset({"+", "-", "<", "<=", ">", ">="})


def inngest_add(a: Any, b: Any) -> Any:
    """Inngest ``+``: unknown yields the other operand; mixed types concatenate ``%v`` text."""
    if a is UNKNOWN:
        return b
    if b is UNKNOWN:
        return a
    try:
        return S.add(a, b)
    except ExprEvalError:
        _nil_panics(a, b, "+")
        if kind(a) != kind(b) and b is not NIL:
            return go_format(a) + go_format(b)
        raise


def lowercase(s: Any) -> str:
    """Inngest ``lowercase(string)``."""
    if kind(s) != STRING:
        raise no_overload("lowercase", s)
    return str(s).lower()


def uppercase(s: Any) -> str:
    """Inngest ``uppercase(string)``."""
    if kind(s) != STRING:
        raise no_overload("uppercase", s)
    return str(s).upper()


def b64decode(s: Any) -> str:
    """Inngest ``b64decode(string) -> string`` (standard alphabet, padded)."""
    if kind(s) != STRING:
        raise no_overload("b64decode", s)
    try:
        raw = base64.b64decode(str(s).encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeError):
        raise ExprEvalError("b64decode: illegal base64 data") from None
    return raw.decode("utf-8", "replace")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON constant {name}")


def json_parse(s: Any) -> Any:
    """Inngest ``json_parse(string)``: JSON to values; numbers are doubles as in Go."""
    if kind(s) != STRING:
        raise no_overload("json_parse", s)
    try:
        return json.loads(str(s), parse_int=float, parse_constant=_reject_constant)
    except (ValueError, RecursionError, OverflowError):
        raise ExprEvalError("json_parse: invalid JSON") from None


def date(v: Any) -> Any:
    """Inngest ``date(dyn) -> timestamp``, as the platform's overload
    (``pkg/expressions/exprenv/overloads.go``): a string by ``dateutil.ParseString``, an
    int by ``dateutil.ParseInt``, anything else (double, uint, bool, null, ...) and a
    string or int that is not a date give ``NIL``."""
    if kind(v) == STRING:
        t = date_from_string(str(v))
    elif kind(v) == INT:
        t = date_from_int(int(v))
    elif v is NIL:
        raise _NilPanic  # the overload asks the nil for its type
    else:
        t = None
    return NIL if t is None else t



def _loose(name: str, result: str) -> Function:
    """One of the seven operators the platform loosens: a single ``(dyn, dyn)`` overload."""
    return function(name, S.STDLIB[name].impl, f"(dyn, dyn) -> {result}")


# The platform's environment (pkg/expressions/exprenv/overloads.go at inngest 253303cd): cel-go's
# standard library with + == != < <= > >= redeclared over (dyn, dyn), plus its own functions. It
# declares those with google.protobuf.Any where this table says dyn (cel-go checks Any exactly
# like dyn; it only prints it as "any"). The clock functions are declared for the checker only.
INNGEST_LIBRARY: Final[dict[str, Function]] = library(
    _loose("_+_", "dyn"),
    _loose("_==_", "bool"),
    _loose("_!=_", "bool"),
    _loose("_<_", "bool"),
    _loose("_<=_", "bool"),
    _loose("_>_", "bool"),
    _loose("_>=_", "bool"),
    function("lowercase", lowercase, "(string) -> string"),
    function("uppercase", uppercase, "(string) -> string"),
    function("b64decode", b64decode, "(string) -> string"),
    function("json_parse", json_parse, "(string) -> dyn"),
    function("date", date, "(dyn) -> timestamp"),
    function("now", None, "() -> timestamp"),
    function("now_plus", None, "(string) -> timestamp"),
    function("now_minus", None, "(string) -> timestamp"),
    # cel-go's duration(string); the evaluator implements it for this dialect only
    function("duration", parse_duration, "(duration) -> duration", "(string) -> duration"),
    base=S.STDLIB,
)

INNGEST_FUNCTIONS, INNGEST_METHODS = call_tables(INNGEST_LIBRARY)


class InngestCompiler(Compiler):
    """Compiler for the ``inngest`` dialect (see the module docstring for the semantics)."""

    lookup = staticmethod(_lookup)

    def compile_top(self, node: A.Node) -> Fn:
        path = path_of(node)
        if self.specialise and path is not None and path[1] and not path[0].root:
            ident, fields = path
            slow = self._path_slow(ident, fields)

            def top_slow(act: Any) -> Any:
                v = slow(act)
                return False if v is UNKNOWN else v

            return _fast_path(ident.name, tuple(fields), guard(top_slow))
        fn = self.compile(node)
        if self.is_plain(fn) and not (self.is_const(fn) and self.value_of(fn) is NIL):
            return fn

        def top(act: Any) -> Any:
            try:
                v = fn(act)
            except _NilPanic:
                raise ExprEvalError(_NIL_USED) from None
            if v is UNKNOWN:
                return False
            if v is NIL:  # Evaluate: no result
                raise ExprEvalError("date() gave no date (nil), the result of the expression")
            return v

        return guard(top)

    # --- names and paths --------------------------------------------------------------------
    # ``ident`` is the base one, looking names up with this dialect's ``_lookup``.

    def _path_slow(self, ident: A.Ident, fields: list[str]) -> Fn:
        name, root = ident.name, ident.root
        names = tuple(fields)

        def slow(act: Any) -> Any:
            v = _lookup(act, name, root)
            for f in names:
                v = _step(v, f)
                if v is UNKNOWN:
                    return v
            return v

        return slow

    def path(self, ident: A.Ident, fields: list[str]) -> Fn:
        slow = self._path_slow(ident, fields)
        if ident.root or not self.specialise:
            return slow
        fn = _fast_path(ident.name, tuple(fields), guard(slow))
        self._paths[id(fn)] = (ident.name, tuple(fields))
        self._keep.append(fn)
        return fn

    def select(self, node: A.Select) -> Fn:
        operand = self.compile(node.operand)
        return self.fold(_member(operand, node.field, S.select), operand)

    def index(self, node: A.Index) -> Fn:
        operand = self.compile(node.operand)
        idx = self.compile(node.index)

        def ix(act: Any) -> Any:
            a = operand(act)
            i = idx(act)
            if a is NIL or i is NIL:
                raise _NilPanic
            if a is UNKNOWN or i is UNKNOWN or a is None:
                return UNKNOWN
            if kind(a) == MAP:
                try:
                    return S.index(a, i)
                except ExprEvalError:
                    return UNKNOWN
            return S.index(a, i)

        return self.fold(ix, operand, idx)

    def has(self, node: A.Has) -> Fn:
        operand = self.compile(node.operand)
        return self.fold(_member(operand, node.field, S.has), operand)

    # --- calls --------------------------------------------------------------------------------
    def call(self, node: A.Call) -> Fn:
        args = [self.compile(a) for a in node.args]
        if node.target is None:
            impl = INNGEST_FUNCTIONS.get(node.name, {}).get(len(args))
            parts = args
        else:
            impl = INNGEST_METHODS.get(node.name, {}).get(len(args))
            parts = [self.compile(node.target), *args]
        if impl is None:
            return self.unknown_function(node, parts)
        on_unknown: Any = 0 if node.name == "size" else False
        f = impl

        def call(act: Any) -> Any:
            values = []
            for p in parts:
                v = _run(p, act)
                if v is UNKNOWN:
                    return on_unknown
                values.append(v)
            try:
                return f(*values)
            except ExprEvalError:
                if _nil_used(*values):
                    raise _NilPanic from None
                raise

        return self.fold(call, *parts)

    # --- literals -----------------------------------------------------------------------------
    def list_lit(self, node: A.ListLit) -> Fn:
        items = [self.compile(i) for i in node.items]
        if all(self.is_const(i) and self.value_of(i) is not NIL for i in items):
            return super().list_lit(node)

        def make_list(act: Any) -> Any:
            return [_known(i(act)) for i in items]

        return make_list

    def map_lit(self, node: A.MapLit) -> Fn:
        entries = [(self.compile(k), self.compile(v)) for k, v in node.entries]
        from ._compiler import _check_key

        def make_map(act: Any) -> Any:
            out: dict[Any, Any] = {}
            for kf, vf in entries:
                k = kf(act)
                v = _known(vf(act))
                out[_check_key(out, k)] = v
            return out

        return make_map

    # --- operators ----------------------------------------------------------------------------
    def unary(self, node: A.Unary) -> Fn:
        operand = self.compile(node.operand)
        impl = S.lnot if node.op == "!" else S.neg

        def un(act: Any) -> Any:
            v = _run(operand, act)
            if v is UNKNOWN:
                return False
            if v is NIL:
                raise _NilPanic
            return impl(v)

        return self.fold(un, operand)

    def binary(self, node: A.Binary) -> Fn:
        op = node.op
        if op == "+":
            return self.plus(node)
        left = self.compile(node.left)
        right = self.compile(node.right)
        fn: Fn
        if op in ("==", "!="):
            fn = _equality(left, right, op == "!=")
        elif op in ("<", "<=", ">", ">="):
            cmp = _order(op)

            def rel(act: Any) -> Any:
                return cmp(_run(left, act), _run(right, act))

            fn = rel
        elif op == "in":

            def in_(act: Any) -> Any:
                a = _run(left, act)
                b = _run(right, act)
                if a is UNKNOWN or b is UNKNOWN:
                    return False
                if a is NIL or b is NIL:
                    raise _NilPanic
                return S.in_(a, b)

            fn = in_
        else:
            impl = S.BINARY[op]

            def arith(act: Any) -> Any:
                a = _run(left, act)
                b = _run(right, act)
                if a is UNKNOWN or b is UNKNOWN:
                    return False
                try:
                    return impl(a, b)
                except ExprEvalError:
                    _nil_panics(a, b, op)
                    raise

            fn = arith
        return self.fold(fn, left, right)

    def plus(self, node: A.Binary) -> Fn:
        from ._compiler import _plus_chain

        parts = [self.compile(p) for p in _plus_chain(node)]
        if (
            self.specialise and len(parts) == 3 and self.is_const(parts[1])
            and type(self.value_of(parts[1])) is str
        ):
            a, mid, c = parts[0], self.value_of(parts[1]), parts[2]

            def cat3(act: Any) -> Any:
                try:
                    x = a(act)
                    y = c(act)
                except ExprEvalError:
                    x = y = UNKNOWN
                if type(x) is str and type(y) is str:
                    return x + mid + y
                x = _run(a, act)
                y = _run(c, act)
                return inngest_add(inngest_add(x, mid), y)

            return self.fuse_cat3(a, mid, c, cat3)

        def cat(act: Any) -> Any:
            try:
                values = [p(act) for p in parts]
            except ExprEvalError:
                values = [_run(p, act) for p in parts]
            for v in values:
                if type(v) is not str:
                    acc = values[0]
                    for w in values[1:]:
                        acc = inngest_add(acc, w)
                    return acc
            return "".join(values)

        return self.fuse_concat(parts, self.fold(cat, *parts))

    def and_(self, node: A.And) -> Fn:
        return self._logic([self.compile(t) for t in node.terms], is_or=False)

    def or_(self, node: A.Or) -> Fn:
        return self._logic([self.compile(t) for t in node.terms], is_or=True)

    def _logic(self, terms: list[Fn], is_or: bool) -> Fn:
        last = terms[-1]
        head = terms[:-1]

        def logic(act: Any) -> Any:
            for t in head:
                v = _run(t, act)
                if truthy(v) is is_or:
                    return False if v is UNKNOWN else v
            v = _run(last, act)
            return False if v is UNKNOWN else v

        return self.fold(logic, *terms)

    def cond(self, node: A.Cond) -> Fn:
        switch = self.switch(node)
        if switch is not None:
            return switch
        c = self.compile(node.cond)
        t = self.compile(node.then)
        f = self.compile(node.other)

        def cond(act: Any) -> Any:
            return t(act) if truthy(_run(c, act)) else f(act)

        return self.fold(cond, c, t, f)

    # --- macros -------------------------------------------------------------------------------
    def comprehension(self, node: A.Comprehension) -> Fn:
        target = self.compile(node.target)
        pred = self.compile(node.pred) if node.pred is not None else None
        transform = self.compile(node.transform) if node.transform is not None else None
        kind_, var = node.kind, node.var

        def macro(act: Any) -> Any:
            t = _run(target, act)
            if t is UNKNOWN:
                return False
            if t is NIL:
                raise _NilPanic
            items = _iter_items(t, kind_)
            scope = Scope(act, var)
            if kind_ in ("all", "exists"):
                want = kind_ == "exists"
                for x in items:
                    scope.value = x
                    assert pred is not None
                    if truthy(_run(pred, scope)) is want:
                        return want
                return not want
            if kind_ == "exists_one":
                count = 0
                for x in items:
                    scope.value = x
                    assert pred is not None
                    count += truthy(_run(pred, scope))
                return count == 1
            out = []
            for x in items:
                scope.value = x
                if pred is not None and not truthy(_run(pred, scope)):
                    continue
                out.append(x if transform is None else _known(transform(scope)))
            return out

        return macro


def _member(operand: Fn, field: str, op: Callable[[Any, str], Any]) -> Fn:
    """``operand.field`` (``op`` is select) or ``has(operand.field)`` (``op`` is has):
    UNKNOWN when the operand is unknown or null."""

    def member(act: Any) -> Any:
        v = operand(act)
        if v is UNKNOWN or v is None:
            return UNKNOWN
        if v is NIL:
            raise _NilPanic
        return op(v, field)

    return member


def _equality(left: Fn, right: Fn, negate: bool) -> Fn:
    def eq(act: Any) -> Any:
        a = _run(left, act)
        b = _run(right, act)
        if a is UNKNOWN or b is UNKNOWN:
            other = b if a is UNKNOWN else a
            return (other is not None) if negate else (other is None)
        if a is NIL or b is NIL:  # cel-go: nil.Equal panics; x.Equal(nil) is false
            if a is NIL and b is not None:
                raise _NilPanic
            return negate
        r = cel_eq(a, b)
        return not r if negate else r

    return eq


