"""RE2-syntax regular expressions matched in linear time (for CEL ``matches``).

Promise: :func:`search` answers "does ``pattern`` match anywhere in ``text``" with RE2 semantics
for the supported syntax, in O(len(pattern) * len(text)) time, whatever the pattern: no
catastrophic backtracking from an untrusted config. Patterns outside the supported syntax raise
:class:`ExprEvalError` (so does anything RE2 itself rejects, e.g. back-references and
look-arounds).

Choice (documented as the issue asks): instead of Python's backtracking ``re`` or the
``google-re2`` wheel, this module is a small Thompson-NFA / Pike-VM simulation (no captures
are needed for a boolean match). Pure-literal patterns take a fast path (``in``). Compiled
programs are cached per pattern.

Supported: literals and escapes (``\\n \\t \\r \\f \\v \\a \\xHH \\x{H..}`` and
escaped punctuation), ``.``, classes ``[...]`` / ``[^...]`` with ranges, ``\\d \\D \\w \\W \\s
\\S`` (ASCII, as RE2), POSIX ``[[:alpha:]]``-style classes, anchors ``^ $ \\A \\z \\b \\B``,
groups ``(...)``, ``(?:...)``, ``(?P<n>...)``, ``(?<n>...)``, flags ``(?i) (?s) (?m) (?U)`` (also
scoped ``(?i:...)``), alternation, and the quantifiers ``* + ? {n} {n,} {n,m}`` (greedy or
lazy; equal for a boolean match). Limits: pattern length 20,000, repeat counts 1,000 (as RE2),
50,000 NFA instructions, group nesting 200.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, Final

from ._errors import ExprEvalError

__all__ = ["compile_pattern", "search"]

MAX_PATTERN: Final = 20_000
MAX_REPEAT: Final = 1_000
MAX_PROGRAM: Final = 50_000
MAX_NESTING: Final = 200

CharTest = Callable[[str], bool]

_META: Final = set("\\.+*?()|[]{}^$")
_WORD: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_DIGIT: Final = frozenset("0123456789")
_SPACE: Final = frozenset("\t\n\f\r ")
_POSIX: Final[dict[str, Callable[[str], bool]]] = {
    "alnum": lambda c: c.isascii() and c.isalnum(),
    "alpha": lambda c: c.isascii() and c.isalpha(),
    "ascii": lambda c: c.isascii(),
    "blank": lambda c: c in " \t",
    "cntrl": lambda c: ord(c) < 32 or ord(c) == 127,
    "digit": lambda c: c in _DIGIT,
    "graph": lambda c: 33 <= ord(c) <= 126,
    "lower": lambda c: "a" <= c <= "z",
    "print": lambda c: 32 <= ord(c) <= 126,
    "punct": lambda c: 33 <= ord(c) <= 126 and not c.isalnum(),
    "space": lambda c: c in "\t\n\v\f\r ",
    "upper": lambda c: "A" <= c <= "Z",
    "word": lambda c: c in _WORD,
    "xdigit": lambda c: c in "0123456789abcdefABCDEF",
}
_SIMPLE: Final = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "a": "\a"}

# Instructions
_CHAR: Final = 0
_SPLIT: Final = 1
_JMP: Final = 2
_ASSERT: Final = 3
_MATCH: Final = 4


class _Err(Exception):
    pass


class _Parser:
    """Recursive-descent parser for RE2 syntax into a small tuple tree."""

    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0
        self.depth = 0

    def error(self, msg: str) -> _Err:
        return _Err(f"invalid regex {self.p[:60]!r}: {msg}")

    def parse(self) -> Any:
        flags = {"i": False, "s": False, "m": False}
        node = self.alternation(flags)
        if self.i < len(self.p):
            raise self.error("unmatched ')'")
        return node

    def alternation(self, flags: dict[str, bool]) -> Any:
        branches = [self.concat(flags)]
        while self.i < len(self.p) and self.p[self.i] == "|":
            self.i += 1
            branches.append(self.concat(flags))
        return branches[0] if len(branches) == 1 else ("alt", branches)

    def concat(self, flags: dict[str, bool]) -> Any:
        items: list[Any] = []
        p = self.p
        while self.i < len(p) and p[self.i] not in "|)":
            if p.startswith("(?", self.i) and self._try_flags(flags):
                continue
            atom = self.atom(flags)
            atom = self.quantifiers(atom)
            items.append(atom)
        return ("cat", items)

    def _try_flags(self, flags: dict[str, bool]) -> bool:
        """Consume a bare ``(?flags)`` group, updating ``flags``; False if not one."""
        j = self.i + 2
        p = self.p
        on = True
        new = dict(flags)
        while j < len(p) and p[j] in "imsU-":
            if p[j] == "-":
                on = False
            elif p[j] != "U":
                new[p[j]] = on
            j += 1
        if j < len(p) and p[j] == ")" and j > self.i + 2:
            flags.update(new)
            self.i = j + 1
            return True
        return False

    def quantifiers(self, atom: Any) -> Any:
        p = self.p
        seen = False
        while self.i < len(p):
            c = p[self.i]
            if c in "*+?":
                lo, hi = {"*": (0, None), "+": (1, None), "?": (0, 1)}[c]
                self.i += 1
            elif c == "{":
                parsed = self._braces()
                if parsed is None:
                    break
                lo, hi = parsed
            else:
                break
            if seen:
                raise self.error("bad repetition operator")
            seen = True
            if atom[0] in ("assert_only",):
                raise self.error("missing argument to repetition operator")
            if self.i < len(p) and p[self.i] == "?":
                self.i += 1  # lazy: same answer for a boolean match
            atom = ("rep", atom, lo, hi)
        return atom

    def _braces(self) -> tuple[int, int | None] | None:
        p = self.p
        j = p.find("}", self.i)
        if j < 0:
            return None
        body = p[self.i + 1 : j]
        lo_s, comma, hi_s = body.partition(",")
        if not lo_s.isdigit() or not (hi_s == "" or hi_s.isdigit()) or not lo_s.isascii():
            return None  # RE2 treats a malformed brace as a literal
        if hi_s and not hi_s.isascii():
            return None
        lo = int(lo_s)
        hi: int | None = lo if not comma else (int(hi_s) if hi_s else None)
        if lo > MAX_REPEAT or (hi is not None and (hi > MAX_REPEAT or hi < lo)):
            raise self.error("bad repetition count")
        self.i = j + 1
        return lo, hi

    def atom(self, flags: dict[str, bool]) -> Any:
        p = self.p
        c = p[self.i]
        if c == "(":
            return self.group(flags)
        if c in "*+?":
            raise self.error("missing argument to repetition operator")
        if c == "[":
            return ("char", self.char_class(flags))
        self.i += 1
        if c == ".":
            if flags["s"]:
                return ("char", _any)
            return ("char", _not_nl)
        if c == "^":
            return ("assert", "bol" if flags["m"] else "bot")
        if c == "$":
            return ("assert", "eol" if flags["m"] else "eot")
        if c == "\\":
            return self.escape(flags, in_class=False)
        if c == "{":
            return ("char", _literal(c, flags["i"]))
        return ("char", _literal(c, flags["i"]))

    def group(self, flags: dict[str, bool]) -> Any:
        p = self.p
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error("groups nested too deeply")
        inner = dict(flags)
        if p.startswith("(?", self.i):
            j = self.i + 2
            if p.startswith("P<", j) or p.startswith("<", j):
                k = p.find(">", j)
                if k < 0:
                    raise self.error("invalid named capture")
                name = p[j + (2 if p[j] == "P" else 1) : k]
                if not name or not all(ch in _WORD for ch in name):
                    raise self.error("invalid named capture")
                self.i = k + 1
            else:
                on = True
                while j < len(p) and p[j] in "imsU-":
                    if p[j] == "-":
                        on = False
                    elif p[j] != "U":
                        inner[p[j]] = on
                    j += 1
                if j >= len(p) or p[j] != ":":
                    raise self.error("invalid or unsupported group syntax")
                self.i = j + 1
        else:
            self.i += 1
        node = self.alternation(inner)
        if self.i >= len(p) or p[self.i] != ")":
            raise self.error("missing ')'")
        self.i += 1
        self.depth -= 1
        return node

    def escape(self, flags: dict[str, bool], in_class: bool) -> Any:
        p = self.p
        if self.i >= len(p):
            raise self.error("trailing backslash")
        c = p[self.i]
        self.i += 1
        if c in "dDwWsS":
            base = {"d": _DIGIT, "w": _WORD, "s": _SPACE}[c.lower()]
            if c.islower():
                return ("char", base.__contains__)
            return ("char", lambda ch, b=base: ch not in b)
        if not in_class:
            if c == "A":
                return ("assert", "bot")
            if c == "z":
                return ("assert", "eot")
            if c == "b":
                return ("assert", "word")
            if c == "B":
                return ("assert", "nonword")
        if c in _SIMPLE:
            return ("char", _literal(_SIMPLE[c], flags["i"]))
        if c == "x":
            if p.startswith("{", self.i):
                k = p.find("}", self.i)
                digits = p[self.i + 1 : k] if k > 0 else ""
                self.i = k + 1 if k > 0 else self.i
            else:
                digits = p[self.i : self.i + 2]
                self.i += 2
            if not digits or len(digits) > 8 or not all(
                ch in "0123456789abcdefABCDEF" for ch in digits
            ):
                raise self.error("invalid \\x escape")
            code = int(digits, 16)
            if code > 0x10FFFF:
                raise self.error("invalid \\x escape")
            return ("char", _literal(chr(code), flags["i"]))
        if c == "0" and not in_class:
            return ("char", _literal("\0", flags["i"]))
        if c.isascii() and not c.isalnum():
            return ("char", _literal(c, flags["i"]))
        raise self.error(f"unsupported escape '\\{c}'")

    def char_class(self, flags: dict[str, bool]) -> CharTest:
        p = self.p
        self.i += 1
        negate = False
        if self.i < len(p) and p[self.i] == "^":
            negate = True
            self.i += 1
        ranges: list[tuple[str, str]] = []
        tests: list[CharTest] = []
        first = True
        while True:
            if self.i >= len(p):
                raise self.error("missing ']'")
            c = p[self.i]
            if c == "]" and not first:
                self.i += 1
                break
            first = False
            if p.startswith("[:", self.i):
                k = p.find(":]", self.i + 2)
                name = p[self.i + 2 : k] if k > 0 else ""
                neg = name.startswith("^")
                key = name[1:] if neg else name
                if k < 0 or key not in _POSIX:
                    raise self.error("invalid character class")
                fn = _POSIX[key]
                tests.append(_negated(fn) if neg else fn)
                self.i = k + 2
                continue
            lo = self._class_char(flags, tests)
            if lo is None:
                continue
            if p.startswith("-", self.i) and self.i + 1 < len(p) and p[self.i + 1] != "]":
                self.i += 1
                hi = self._class_char(flags, tests)
                if hi is None or hi < lo:
                    raise self.error("invalid character class range")
                ranges.append((lo, hi))
            else:
                ranges.append((lo, lo))
        fold = flags["i"]
        frozen = tuple(ranges)
        extra = tuple(tests)

        def test(ch: str) -> bool:
            hit = _in_ranges(ch, frozen, extra)
            if not hit and fold:
                hit = _in_ranges(ch.lower(), frozen, extra) or _in_ranges(ch.upper(), frozen, extra)
            return hit != negate

        return test

    def _class_char(self, flags: dict[str, bool], tests: list[CharTest]) -> str | None:
        p = self.p
        c = p[self.i]
        if c == "\\":
            self.i += 1
            node = self.escape(flags, in_class=True)
            if self.p[self.i - 1] in "dDwWsS":
                tests.append(node[1])
                return None
            esc = self.p[self.i - 1]
            if esc in _SIMPLE:
                return _SIMPLE[esc]
            if self.p[self.i - 2] == "\\" and not esc.isalnum():
                return esc
            # \x escapes: recover the character from the literal test
            return _literal_char(node[1])
        self.i += 1
        return c


def _negated(fn: CharTest) -> CharTest:
    def test(ch: str) -> bool:
        return not fn(ch)

    return test


def _in_ranges(ch: str, ranges: tuple[tuple[str, str], ...], tests: tuple[CharTest, ...]) -> bool:
    for lo, hi in ranges:
        if lo <= ch <= hi:
            return True
    return any(t(ch) for t in tests)


class _Lit:
    __slots__ = ("ch", "fold")

    def __init__(self, ch: str, fold: bool) -> None:
        self.ch = ch
        self.fold = fold

    def __call__(self, c: str) -> bool:
        if c == self.ch:
            return True
        return self.fold and c.lower() == self.ch.lower()


def _literal(ch: str, fold: bool) -> CharTest:
    return _Lit(ch, fold)


def _literal_char(test: CharTest) -> str:
    assert isinstance(test, _Lit)
    return test.ch


def _any(c: str) -> bool:
    return True


def _not_nl(c: str) -> bool:
    return c != "\n"


class _Program:
    __slots__ = ("arg", "literal", "op", "x", "y")

    def __init__(self) -> None:
        self.op: list[int] = []
        self.arg: list[Any] = []
        self.x: list[int] = []
        self.y: list[int] = []
        self.literal: str | None = None

    def emit(self, op: int, arg: Any = None, x: int = 0, y: int = 0) -> int:
        if len(self.op) >= MAX_PROGRAM:
            raise _Err("regex too large")
        self.op.append(op)
        self.arg.append(arg)
        self.x.append(x)
        self.y.append(y)
        return len(self.op) - 1


def _emit(prog: _Program, node: Any) -> None:
    tag = node[0]
    if tag == "char":
        prog.emit(_CHAR, node[1])
    elif tag == "assert":
        prog.emit(_ASSERT, node[1])
    elif tag == "cat":
        for item in node[1]:
            _emit(prog, item)
    elif tag == "alt":
        branches = node[1]
        jumps: list[int] = []
        for k, branch in enumerate(branches):
            if k < len(branches) - 1:
                split = prog.emit(_SPLIT)
                prog.x[split] = split + 1
                _emit(prog, branch)
                jumps.append(prog.emit(_JMP))
                prog.y[split] = len(prog.op)
            else:
                _emit(prog, branch)
        for j in jumps:
            prog.x[j] = len(prog.op)
    elif tag == "rep":
        _, body, lo, hi = node
        for _ in range(lo):
            _emit(prog, body)
        if hi is None:
            split = prog.emit(_SPLIT)
            prog.x[split] = split + 1
            _emit(prog, body)
            prog.emit(_JMP, None, split)
            prog.y[split] = len(prog.op)
        else:
            splits: list[int] = []
            for _ in range(hi - lo):
                split = prog.emit(_SPLIT)
                prog.x[split] = split + 1
                splits.append(split)
                _emit(prog, body)
            for s in splits:
                prog.y[s] = len(prog.op)
    else:  # pragma: no cover - the parser produces no other tags
        raise _Err("internal regex error")


def _size(node: Any) -> int:
    """Instruction count estimate, to refuse huge programs before emitting them."""
    tag = node[0]
    if tag in ("char", "assert"):
        return 1
    if tag == "cat":
        return sum(_size(n) for n in node[1])
    if tag == "alt":
        return sum(_size(n) + 2 for n in node[1])
    _, body, lo, hi = node
    n: int = _size(body)
    reps: int = lo + (1 if hi is None else hi - lo)
    return n * reps + 2 * (1 + int(hi or 0))


@lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> _Program:
    """Compile an RE2 pattern (cached), or raise :class:`ExprEvalError`."""
    prog = _Program()
    if not any(ch in _META for ch in pattern):
        prog.literal = pattern
        return prog
    if len(pattern) > MAX_PATTERN:
        raise ExprEvalError("regex pattern too long")
    try:
        tree = _Parser(pattern).parse()
        if _size(tree) > MAX_PROGRAM:
            raise _Err("regex too large")
        _emit(prog, tree)
        prog.emit(_MATCH)
    except _Err as e:
        raise ExprEvalError(str(e)) from None
    except RecursionError:
        raise ExprEvalError("regex too complex") from None
    return prog


def _is_word(text: str, i: int) -> bool:
    return 0 <= i < len(text) and text[i] in _WORD


def _assert_ok(kind: str, text: str, i: int) -> bool:
    if kind == "bot":
        return i == 0
    if kind == "eot":
        return i == len(text)
    if kind == "bol":
        return i == 0 or text[i - 1] == "\n"
    if kind == "eol":
        return i == len(text) or text[i] == "\n"
    boundary = _is_word(text, i - 1) != _is_word(text, i)
    return boundary if kind == "word" else not boundary


def search(pattern: str, text: str) -> bool:
    """True iff ``pattern`` (RE2 syntax) matches a substring of ``text``; linear time."""
    prog = compile_pattern(pattern)
    if prog.literal is not None:
        return prog.literal in text
    return _simulate(prog, text)[0]


def search_cost(pattern: str, text: str) -> tuple[bool, int, int]:
    """(matched, NFA steps taken, program size): the step count is at most about
    ``2 * size * (len(text) + 1)`` whatever the pattern, which is the linear-time guarantee."""
    prog = compile_pattern(pattern)
    if prog.literal is not None:
        return prog.literal in text, len(text), len(prog.literal)
    matched, steps = _simulate(prog, text)
    return matched, steps, len(prog.op)


def _simulate(prog: _Program, text: str) -> tuple[bool, int]:
    op, arg, xs, ys = prog.op, prog.arg, prog.x, prog.y
    steps = 0
    n = len(text)
    current: list[int] = []
    for i in range(n + 1):
        # add a thread starting here (unanchored search), then take the epsilon closure
        seen: set[int] = set()
        ready: list[int] = []
        stack = [*reversed(current), 0]
        steps += len(stack)
        while stack:
            pc = stack.pop()
            if pc in seen:
                continue
            steps += 1
            seen.add(pc)
            o = op[pc]
            if o == _CHAR:
                ready.append(pc)
            elif o == _MATCH:
                return True, steps
            elif o == _JMP:
                stack.append(xs[pc])
            elif o == _SPLIT:
                stack.append(ys[pc])
                stack.append(xs[pc])
            elif _assert_ok(arg[pc], text, i):
                stack.append(pc + 1)
        if i == n:
            break
        ch = text[i]
        current = [pc + 1 for pc in ready if arg[pc](ch)]
    return False, steps
