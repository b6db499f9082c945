"""``expr``: a compiled evaluator for a subset of CEL (Common Expression Language).

Promise: ``expr.compile(source, dialect="cel"|"inngest")`` returns a cached, immutable
:class:`Program`; ``program.evaluate(activation)`` returns a native Python value. ``compile`` raises
only :class:`ExprSyntaxError` (or :class:`ExprError` for a bad argument); ``evaluate`` raises only
:class:`ExprEvalError`. Values: int -> ``int``, uint -> :class:`UInt`, double -> ``float``,
string -> ``str``, bytes -> ``bytes``, bool -> ``bool``, null -> ``None``, list -> ``list``,
map -> ``dict``, type -> :class:`Type`. See ``_program`` for the dialects. The one exception to
native values: a map literal holding both ``true`` and an equal int key (``{1: 'a', true: 'b'}``)
stores the bool key as a :class:`BoolKey`, because a Python dict cannot hold both.

``expr.check(source, dialect=..., variables=...)`` type-checks an expression as cel-go does and
returns its type (``"int"``, ``"list(string)"``...), or raises :class:`ExprTypeError` (or
:class:`ExprSyntaxError`); see ``_checker``.
"""

from __future__ import annotations

from . import _program
from ._checker import check
from ._errors import ExprError, ExprEvalError, ExprSyntaxError, ExprTypeError
from ._format import go_format
from ._program import DIALECTS, Program, compile
from ._values import BoolKey, Type, UInt

_compile_uncached = _program.compile_uncached  # compilation without the cache, for benchmarks

__all__ = [
    "DIALECTS",
    "BoolKey",
    "ExprError",
    "ExprEvalError",
    "ExprSyntaxError",
    "ExprTypeError",
    "Program",
    "Type",
    "UInt",
    "check",
    "compile",
    "go_format",
]
