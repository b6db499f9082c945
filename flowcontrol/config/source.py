"""Position-tracking parsers: JSON, YAML and TOML text to a tree of ``Node`` values.

Every node knows the 1-based line and column where its value starts (and, for object
members, where its key starts), so a diagnostic about ``$.throttle.period`` can point
at the file. String nodes keep their raw source text so that a position *inside* the
decoded string (an expression's syntax error) can be mapped back onto the document.

Precision by format:

* JSON: exact. The parser is a small recursive-descent scanner over the text (strings are
  decoded by the standard library's ``json.decoder.scanstring``); positions inside strings
  account for every escape, ``\\uXXXX`` surrogate pairs included.
* YAML: node positions are exact (from the character index of PyYAML's composer marks, so
  lines end at ``\n`` only, as everywhere in the package). Positions inside a string are
  exact for plain and quoted one-line scalars and literal blocks without escapes; for folded
  blocks and escaped or multi-line quoted scalars the decoded text is aligned greedily with
  the raw text (it lands on the right token, whitespace may be off).
* TOML: ``tomllib`` parses and checks the text; it keeps no positions, so a structural
  scanner over the accepted text recovers where every key and value starts (table headers,
  ``[[array]]`` elements, dotted keys, inline tables and arrays, all exact). Inside strings
  the same greedy alignment as YAML applies (exact for strings without escapes).

Parse failures raise ``SourceError`` with the line and column of the problem.
"""

from __future__ import annotations

import bisect
import json
import json.decoder
import math
import re
import tomllib
from collections.abc import Callable
from typing import Any, Final

import yaml  # type: ignore[import-untyped]

__all__ = ["MAX_DEPTH", "Node", "SourceError", "parse_json", "parse_text", "parse_toml",
           "parse_yaml", "plain_to_node"]

_scanstring: Callable[[str, int, bool], tuple[str, int]] = (
    json.decoder.scanstring  # type: ignore[attr-defined]
)

MAX_DEPTH: Final = 200
"""Deepest nesting of objects and arrays accepted (deeper documents are refused, not crashed)."""


class SourceError(ValueError):
    """A document that cannot be parsed; ``line`` and ``column`` are 1-based."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"{message} (line {line}, column {column})")
        self.message = message
        self.line = line
        self.column = column


class Node:
    """One value of a parsed document with its position.

    ``kind`` is one of ``object``, ``array``, ``string``, ``int``, ``float``, ``bool``,
    ``null`` or ``other`` (TOML dates). Objects hold ``dict[str, Node]`` in document order,
    arrays ``list[Node]``, scalars their Python value. ``line``/``column`` are 1-based, or
    ``None`` when the value did not come from a text (``plain_to_node``).
    """

    __slots__ = ("_locate", "column", "duplicates", "key_column", "key_line", "kind", "line",
                 "value")

    def __init__(self, kind: str, value: Any, line: int | None, column: int | None) -> None:
        self.kind = kind
        self.value = value
        self.line = line
        self.column = column
        self.key_line: int | None = None
        self.key_column: int | None = None
        self.duplicates: list[tuple[str, int | None, int | None]] = []
        # (function, *arguments): called with the index appended; None outside strings.
        self._locate: tuple[Any, ...] | None = None

    def position_in(self, index: int) -> tuple[int | None, int | None]:
        """Return the document position of character ``index`` of this string node's value."""
        loc = self._locate
        if loc is None:
            return self.line, self.column
        result: tuple[int, int] = loc[0](*loc[1:], index)
        return result

    def plain(self) -> Any:
        """Return the value as plain Python data (dicts, lists, scalars)."""
        if self.kind == "object":
            return {k: v.plain() for k, v in self.value.items()}
        if self.kind == "array":
            return [v.plain() for v in self.value]
        return self.value

    def __repr__(self) -> str:
        return f"Node({self.kind}, {self.value!r}, {self.line}:{self.column})"


def kind_of(value: Any) -> str:
    """Return the ``Node.kind`` name for a plain Python value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return "other"


def plain_to_node(value: Any, _depth: int = 0) -> Node:
    """Wrap plain Python data (no positions) in a ``Node`` tree."""
    if _depth > MAX_DEPTH:
        raise SourceError(f"nesting deeper than {MAX_DEPTH} levels", 1, 1)
    kind = kind_of(value)
    if kind == "object":
        members = {str(k): plain_to_node(v, _depth + 1) for k, v in value.items()}
        return Node(kind, members, None, None)
    if kind == "array":
        return Node(kind, [plain_to_node(v, _depth + 1) for v in value], None, None)
    return Node(kind, value, None, None)


class _Lines:
    """Offset to (line, column) conversion for one text."""

    __slots__ = ("starts", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def at(self, offset: int) -> tuple[int, int]:
        i = bisect.bisect_right(self.starts, offset) - 1
        return i + 1, offset - self.starts[i] + 1


# --------------------------------------------------------------------------- JSON

_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_LITERALS = {"true": ("bool", True), "false": ("bool", False), "null": ("null", None)}


def _json_locate(lines: _Lines, start: int, index: int) -> tuple[int, int]:
    """Exact position of decoded character ``index`` of the JSON string opening at ``start``."""
    text = lines.text
    i = start + 1  # past the opening quote
    n = 0
    while n < index and i < len(text) and text[i] != '"':
        if text[i] == "\\":
            if text[i + 1 : i + 2] == "u":
                code = text[i + 2 : i + 6]
                i += 6
                high = code[:2].lower() in ("d8", "d9", "da", "db")
                if high and text[i : i + 2] == "\\u":
                    i += 6  # a surrogate pair decodes to one character
            else:
                i += 2
        else:
            i += 1
        n += 1
    return lines.at(i)


def parse_json(text: str) -> Node:
    """Parse JSON text (RFC 8259) into a ``Node`` tree with exact positions."""
    lines = _Lines(text)
    starts = lines.starts
    find_line = bisect.bisect_right

    def fail(message: str, pos: int) -> SourceError:
        line, col = lines.at(min(pos, len(text)))
        return SourceError(message, line, col)

    def value(pos: int, depth: int) -> tuple[Node, int]:
        pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
        if pos >= len(text):
            raise fail("expected a value, found the end of the file", pos)
        line = find_line(starts, pos)
        col = pos - starts[line - 1] + 1
        ch = text[pos]
        if ch == "{" or ch == "[":
            if depth >= MAX_DEPTH:
                raise fail(f"nesting deeper than {MAX_DEPTH} levels", pos)
            return (obj if ch == "{" else arr)(pos, depth + 1, line, col)
        if ch == '"':
            try:
                s, end = _scanstring(text, pos + 1, True)
            except json.JSONDecodeError as exc:
                raise fail(exc.msg.lower(), exc.pos) from None
            node = Node("string", s, line, col)
            node._locate = (_json_locate, lines, pos)
            return node, end
        m = _NUMBER.match(text, pos)
        if m and m.end() > pos:
            raw = m.group()
            if m.group(1) or m.group(2):
                f = float(raw)
                if math.isinf(f):
                    raise fail(f"number {raw} is too large", pos)
                return Node("float", f, line, col), m.end()
            return Node("int", int(raw), line, col), m.end()
        for word, (kind, val) in _LITERALS.items():
            if text.startswith(word, pos):
                return Node(kind, val, line, col), pos + len(word)
        snippet = text[pos : pos + 12].split("\n")[0]
        raise fail(f"expected a value, found {snippet!r}", pos)

    def obj(pos: int, depth: int, line: int, col: int) -> tuple[Node, int]:
        members: dict[str, Node] = {}
        node = Node("object", members, line, col)
        pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
        if text.startswith("}", pos):
            return node, pos + 1
        while True:
            if not text.startswith('"', pos):
                raise fail("expected a property name in double quotes", pos)
            kline = find_line(starts, pos)
            kcol = pos - starts[kline - 1] + 1
            try:
                key, pos = _scanstring(text, pos + 1, True)
            except json.JSONDecodeError as exc:
                raise fail(exc.msg.lower(), exc.pos) from None
            pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
            if not text.startswith(":", pos):
                raise fail("expected ':' after a property name", pos)
            child, pos = value(pos + 1, depth)
            child.key_line, child.key_column = kline, kcol
            if key in members:
                node.duplicates.append((key, kline, kcol))
            members[key] = child
            pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
            if text.startswith(",", pos):
                pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
                continue
            if text.startswith("}", pos):
                return node, pos + 1
            raise fail("expected ',' or '}' after a property value", pos)

    def arr(pos: int, depth: int, line: int, col: int) -> tuple[Node, int]:
        items: list[Node] = []
        node = Node("array", items, line, col)
        pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
        if text.startswith("]", pos):
            return node, pos + 1
        while True:
            child, pos = value(pos, depth)
            items.append(child)
            pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
            if text.startswith(",", pos):
                pos += 1
                continue
            if text.startswith("]", pos):
                return node, pos + 1
            raise fail("expected ',' or ']' after an array element", pos)

    start = 1 if text.startswith("\ufeff") else 0
    root, end = value(start, 0)
    end = _WS.match(text, end).end()  # type: ignore[union-attr]
    if end != len(text):
        raise fail("extra data after the document", end)
    return root


# --------------------------------------------------------------------------- alignment

def _aligned_locate(lines: _Lines, raw_start: int, raw_end: int, decoded: str, index: int,
                    ) -> tuple[int, int]:
    """Greedy map from decoded index to raw position: each decoded character is matched
    with the next equal raw character (best effort for escapes and folding). A character
    written as an escape (``\x1F`` in YAML) has no equal raw character: it is skipped, and
    the characters after it are still matched."""
    text = lines.text
    i = raw_start
    best = raw_start
    for ch in decoded[: index + 1]:
        j = text.find(ch, i, raw_end)
        if j < 0:
            continue
        best = j
        i = j + 1
    return lines.at(best)


# --------------------------------------------------------------------------- YAML

def _yaml_scalar_kind(value: Any) -> str:
    kind = kind_of(value)
    return "other" if kind in ("object", "array") else kind


def _mark_at(lines: _Lines, mark: Any) -> tuple[int, int]:
    """A PyYAML mark as a line/column counted like the rest of the package: lines end at
    ``\n`` only (PyYAML also breaks lines at NEL, LS and PS; editors and CI do not)."""
    if mark is None:
        return 1, 1
    index = getattr(mark, "index", None)
    if isinstance(index, int) and 0 <= index <= len(lines.text):
        return lines.at(index)
    return mark.line + 1, mark.column + 1


def parse_yaml(text: str) -> Node:
    """Parse one YAML document (safe subset) into a ``Node`` tree with positions."""
    lines = _Lines(text)
    try:
        loader = yaml.SafeLoader(text)  # composed by hand to keep node marks
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        position = getattr(exc, "position", None)
        if mark is None and isinstance(position, int):
            line, col = lines.at(min(position, len(text)))
        else:
            line, col = _mark_at(lines, mark)
        raise SourceError(str(getattr(exc, 'reason', exc)), line, col) from None
    try:
        root = loader.get_single_node()
        if root is None:
            raise SourceError("the document is empty", 1, 1)
        seen: dict[int, Node] = {}

        def build(node: yaml.Node, depth: int) -> Node:
            if depth > MAX_DEPTH:
                raise SourceError(f"nesting deeper than {MAX_DEPTH} levels",
                                  *_mark_at(lines, node.start_mark))
            if id(node) in seen:  # an alias: reuse the anchored value
                return seen[id(node)]
            line, col = _mark_at(lines, node.start_mark)
            if isinstance(node, yaml.MappingNode):
                loader.flatten_mapping(node)
                members: dict[str, Node] = {}
                out = Node("object", members, line, col)
                seen[id(node)] = out
                for key_node, value_node in node.value:
                    key = loader.construct_object(key_node, deep=True)
                    if not isinstance(key, str):
                        raise SourceError(f"keys must be strings, not {key!r}",
                                          *_mark_at(lines, key_node.start_mark))
                    child = build(value_node, depth + 1)
                    kline, kcol = _mark_at(lines, key_node.start_mark)
                    if key in members:
                        out.duplicates.append((key, kline, kcol))
                    if child.key_line is None:
                        child.key_line, child.key_column = kline, kcol
                    members[key] = child
                return out
            if isinstance(node, yaml.SequenceNode):
                items: list[Node] = []
                out = Node("array", items, line, col)
                seen[id(node)] = out
                items.extend(build(v, depth + 1) for v in node.value)
                return out
            value = loader.construct_object(node, deep=True)
            if isinstance(value, float) and not math.isfinite(value):
                value_kind = "float"
            else:
                value_kind = _yaml_scalar_kind(value)
            out = Node(value_kind, value, line, col)
            if isinstance(value, str):
                out._locate = (_aligned_locate, lines, node.start_mark.index,
                               node.end_mark.index, value)
            seen[id(node)] = out
            return out

        return build(root, 0)
    except yaml.MarkedYAMLError as exc:
        line, col = _mark_at(lines, exc.problem_mark or exc.context_mark)
        raise SourceError(str(exc.problem or exc.context or "invalid YAML"), line, col) from None
    except yaml.YAMLError as exc:
        raise SourceError(f"invalid YAML: {exc}", 1, 1) from None
    except RecursionError:
        raise SourceError("the document nests too deeply", 1, 1) from None
    finally:
        loader.dispose()


# --------------------------------------------------------------------------- TOML

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR = re.compile(r"[^,\]}\s#]+")
_TPath = tuple[str | int, ...]
_TPos = tuple[int, int, int, int, int]


class _TomlScanner:
    """Walks text that ``tomllib`` has accepted and records where each key's value starts.

    Handles table headers (``[a.b]``, ``[[a]]`` with the index of the current element),
    dotted keys, inline tables and arrays (also across lines), strings of all four kinds
    and comments. The input is known to be valid TOML, so errors only cut the scan short.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = _Lines(text)
        self.pos = 0
        self.out: dict[_TPath, _TPos] = {}
        self.arrays: dict[_TPath, int] = {}

    def skip(self, newlines: bool) -> None:
        text, n = self.text, len(self.text)
        while self.pos < n:
            ch = text[self.pos]
            if ch in " \t\r" or (newlines and ch == "\n"):
                self.pos += 1
            elif ch == "#":
                end = text.find("\n", self.pos)
                self.pos = n if end < 0 else end
            else:
                return

    def key(self) -> list[str]:
        parts: list[str] = []
        text = self.text
        while True:
            self.skip(False)
            ch = text[self.pos]
            if ch in "\"'":
                end = self.pos + 1
                while text[end] != ch:
                    end += 2 if ch == '"' and text[end] == "\\" else 1
                raw = text[self.pos:end + 1]
                parts.append(tomllib.loads(f"k = {raw}")["k"])
                self.pos = end + 1
            else:
                m = _BARE.match(text, self.pos)
                if m is None:
                    raise ValueError("expected a key")
                parts.append(m.group())
                self.pos = m.end()
            self.skip(False)
            if text.startswith(".", self.pos):
                self.pos += 1
                continue
            return parts

    def resolve(self, keys: list[str], base: _TPath = ()) -> _TPath:
        path: _TPath = base
        for k in keys:
            path = (*path, k)
            if path in self.arrays:
                path = (*path, self.arrays[path])
        return path

    def record(self, path: _TPath, key_at: int, value_at: int) -> None:
        kline, kcol = self.lines.at(key_at)
        vline, vcol = self.lines.at(value_at)
        self.out[path] = (kline, kcol, vline, vcol, value_at)

    def value(self, path: _TPath) -> None:
        text = self.text
        ch = text[self.pos]
        if ch == "{":
            self.pos += 1
            while True:
                self.skip(False)
                if text[self.pos] == "}":
                    self.pos += 1
                    return
                key_at = self.pos
                sub = (*path, *self.key())
                self.pos += 1  # '='
                self.skip(False)
                self.record(sub, key_at, self.pos)
                self.value(sub)
                self.skip(False)
                if text[self.pos] == ",":
                    self.pos += 1
        elif ch == "[":
            self.pos += 1
            index = 0
            while True:
                self.skip(True)
                if text[self.pos] == "]":
                    self.pos += 1
                    return
                self.record((*path, index), self.pos, self.pos)
                self.value((*path, index))
                self.skip(True)
                if text[self.pos] == ",":
                    self.pos += 1
                    index += 1
        elif text.startswith(('"""', "'''"), self.pos):
            quote = text[self.pos:self.pos + 3]
            end = self.pos + 3
            while True:
                end = text.index(quote, end)
                if quote == '"""' and _escaped(text, end):
                    end += 1
                    continue
                break
            while text.startswith(quote[0], end + 3):  # up to two quotes may end the body
                end += 1
            self.pos = end + 3
        elif ch in "\"'":
            end = self.pos + 1
            while text[end] != ch:
                end += 2 if ch == '"' and text[end] == "\\" else 1
            self.pos = end + 1
        else:
            m = _SCALAR.match(text, self.pos)
            self.pos = m.end() if m else self.pos + 1

    def scan(self) -> dict[_TPath, _TPos]:
        text, n = self.text, len(self.text)
        table: _TPath = ()
        while True:
            self.skip(True)
            if self.pos >= n:
                return self.out
            at = self.pos
            if text[self.pos] == "[":
                double = text.startswith("[[", self.pos)
                self.pos += 2 if double else 1
                keys = self.key()
                self.pos += 2 if double else 1
                if double:
                    array = (*self.resolve(keys[:-1]), keys[-1])
                    self.arrays[array] = self.arrays.get(array, -1) + 1
                    self.out.setdefault(array, (*self.lines.at(at), *self.lines.at(at), at))
                table = self.resolve(keys)
                self.record(table, at, at)
                continue
            path = (*table, *self.key())
            self.pos += 1  # '='
            self.skip(False)
            self.record(path, at, self.pos)
            self.value(path)


def _escaped(text: str, index: int) -> bool:
    """True when the character at ``index`` is preceded by an odd number of backslashes."""
    count = 0
    while index - count - 1 >= 0 and text[index - count - 1] == "\\":
        count += 1
    return count % 2 == 1


def _toml_positions(text: str) -> dict[_TPath, _TPos]:
    """Map key paths to (key line, key col, value line, value col, value offset)."""
    scanner = _TomlScanner(text)
    try:
        return scanner.scan()
    except (ValueError, IndexError, tomllib.TOMLDecodeError):
        return scanner.out  # what was found before the scanner lost its way


def parse_toml(text: str) -> Node:
    """Parse TOML with ``tomllib``; positions come from ``_TomlScanner``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        if m:
            line, col = int(m.group(1)), int(m.group(2))
        else:  # "(at end of document)": point after the last character
            last = text.rstrip("\n").split("\n")
            line, col = len(last), len(last[-1]) + 1
        raise SourceError(re.sub(r"\s*\(at (line .*|end of document)\)$", "", msg)
                          or "invalid TOML", line, col) from None
    positions = _toml_positions(text)
    lines = _Lines(text)

    def build(value: Any, path: tuple[str | int, ...], inherited: tuple[int, int, int, int, int],
              depth: int) -> Node:
        pos = positions.get(path, inherited)
        kline, kcol, line, col, off = pos
        kind = kind_of(value)
        if kind == "object":
            members: dict[str, Node] = {}
            node = Node("object", members, line, col)
            for k, v in value.items():
                members[k] = build(v, (*path, k), pos, depth + 1)
        elif kind == "array":
            node = Node("array", [build(v, (*path, i), pos, depth + 1)
                                  for i, v in enumerate(value)], line, col)
        else:
            node = Node(kind, value, line, col)
            if isinstance(value, str) and path in positions:
                end = text.find("\n", off)
                if value.count("\n"):
                    end = len(text)
                node._locate = (_aligned_locate, lines, off, len(text) if end < 0 else end,
                                value)
        if path and path in positions:
            node.key_line, node.key_column = kline, kcol
        return node

    return build(data, (), (1, 1, 1, 1, 0), 0)


# --------------------------------------------------------------------------- dispatch

FORMATS: Final = ("json", "yaml", "toml")


def parse_text(text: str, fmt: str) -> Node:
    """Parse ``text`` in format ``json``, ``yaml`` or ``toml``."""
    if fmt == "json":
        return parse_json(text)
    if fmt == "yaml":
        return parse_yaml(text)
    if fmt == "toml":
        return parse_toml(text)
    raise ValueError(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")

