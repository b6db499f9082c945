"""``python -m expr --check``: the type on stdout, type errors with carets; exit 0, 1 or 2."""

from __future__ import annotations

import pytest

from expr.__main__ import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("argv", "out"), [
    (["1 + 2", "--check"], "int\n"),
    (["event.data.user_id", "--check"], "dyn\n"),
    (["event.data.n > 1 ? 'a' : 'b'", "--check"], "string\n"),
    (["1 + 'a'", "--check", "--dialect", "inngest"], "dyn\n"),
    (["[x, x]", "--check", "--var", "x=uint"], "list(uint)\n"),
    (["m[k]", "--check", "--var", "m=map(string, list(int))", "--var", "k=string"],
     "list(int)\n"),
    (["null", "--check"], "null_type\n"),
])
def test_check_prints_the_type(capsys: pytest.CaptureFixture[str], argv: list[str],
                               out: str) -> None:
    assert run(capsys, *argv) == (0, out, "")


def test_type_error_is_printed_with_caret_and_exits_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "1 + 'a'", "--check")
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        "found no matching overload for '_+_' applied to '(int, string)' (line 1, column 3)",
        "  1 + 'a'",
        "    ^",
    ]


def test_undeclared_variable_under_declared_ones(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "event.data", "--check", "--var", "x=int")
    assert code == 1
    assert err.startswith("undeclared reference to 'event' (in container '')")


def test_syntax_error_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "1 +", "--check")
    assert (code, out) == (1, "")
    assert "unexpected end of input" in err


@pytest.mark.parametrize(("argv", "message"), [
    (["x", "--check", "--var", "x=lst(int)"], "'lst' is not a type"),
    (["x", "--check", "--var", "x"], "expected NAME=TYPE"),
    (["x", "--check", "--var", "=int"], "expected NAME=TYPE"),
    (["x", "--var", "x=int"], "for --check only"),
    (["x", "--check", "--data", "{}"], "--check takes no data"),
])
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str],
                             message: str) -> None:
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert message in err


def test_check_and_key_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run(capsys, "x", "--check", "--key")
    assert code == 2
