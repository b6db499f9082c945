"""``matches``: RE2 syntax, substring semantics, linear time, clear errors for the unsupported."""

from __future__ import annotations

import pytest

import expr
from expr import ExprEvalError
from expr._regex import search, search_cost


@pytest.mark.parametrize(
    ("pattern", "text", "want"),
    [
        ("", "", True),
        ("abc", "xxabcxx", True),
        ("abd", "xxabcxx", False),
        ("^abc", "abcd", True),
        ("^abc$", "abcd", False),
        ("a.c", "abc", True),
        ("a.c", "a\nc", False),
        ("(?s)a.c", "a\nc", True),
        ("a+b", "aaab", True),
        ("a*b", "b", True),
        ("colou?r", "color", True),
        ("x{2,3}", "axxb", True),
        ("x{3}", "axxb", False),
        ("x{2,}", "xxxx", True),
        ("a{,2}", "a{,2}", True),  # a malformed brace is a literal, as in RE2
        ("(a|b)*c", "ababc", True),
        ("(?:ab)+$", "xabab", True),
        ("[a-c]+", "zzb", True),
        ("[^a-c]", "abc", False),
        ("[^a-c]", "abcd", True),
        ("[\\d]+", "x12", True),
        ("\\d\\d", "a1b", False),
        ("\\w+@\\w+", "me@host", True),
        ("\\s", "a b", True),
        ("\\S", "   ", False),
        ("\\bfoo\\b", "a foo b", True),
        ("\\bfoo\\b", "afoob", False),
        ("\\Bfoo", "afoo", True),
        ("[[:digit:]]+", "ab7", True),
        ("[[:^alpha:]]", "abc", False),
        ("(?i)HELLO", "say hello", True),
        ("(?i:h)ELLO", "hELLO", True),
        ("(?i:h)ELLO", "hello", False),
        ("(?m)^b$", "a\nb\nc", True),
        ("^b$", "a\nb\nc", False),
        ("\\x41", "A", True),
        ("\\x{1F600}", "😀", True),
        ("\\.", "a.b", True),
        ("\\.", "ab", False),
        ("(?P<name>a)b", "ab", True),
        ("a*?b", "aab", True),
        ("^[a-z\\d]{0,10}$", "nope", True),
        ("π+", "ππ", True),
        ("\\A\\z", "", True),
    ],
)
def test_matches_table(pattern: str, text: str, want: bool) -> None:
    assert search(pattern, text) is want
    program = expr.compile("t.matches(p)")
    assert program.evaluate({"t": text, "p": pattern}) is want


@pytest.mark.parametrize(
    "pattern",
    ["(", ")", "[a", "a**", "*a", "\\1", "(?=a)", "(?!a)", "(?<=a)", "x{1001}", "a{2,1}",
     "\\pL", "[b-a]", "\\"],
)
def test_rejected_patterns_are_eval_errors(pattern: str) -> None:
    with pytest.raises(ExprEvalError):
        expr.compile("'abc'.matches(p)").evaluate({"p": pattern})


def test_oversized_programs_are_refused() -> None:
    with pytest.raises(ExprEvalError):
        search("(a{1000}){1000}", "a")
    with pytest.raises(ExprEvalError):
        search("(" * 500 + ")" * 500, "a")


@pytest.mark.parametrize(
    "pattern", ["(a*)*b", "(a|a)*b", "(a+)+$b", "(x+x+)+y", "(a|aa)*c$", "((a?){20})a{20}b"]
)
def test_no_catastrophic_backtracking(pattern: str) -> None:
    """The NFA does O(program size) work per input character, whatever the pattern."""
    for n in (10, 100, 1000, 4000):
        matched, steps, size = search_cost(pattern, "a" * n)
        assert matched is False
        assert steps <= 3 * size * (n + 1), (n, steps, size)
