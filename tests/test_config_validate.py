"""The validator's rules, one table row per rule: a config fragment and the codes it gets."""

from __future__ import annotations

from typing import Any

import pytest

from flowcontrol.config import (
    Batch,
    Cancel,
    ConcurrencyLimit,
    ConfigError,
    Debounce,
    FunctionConfig,
    RateLimit,
    Singleton,
    Step,
    Throttle,
    Timeouts,
    Trigger,
    expressions,
)
from flowcontrol.config.codes import CODES, Severity
from flowcontrol.config.validate import build_function, validate_text

S = 1_000_000_000
BASE: dict[str, Any] = {"id": "fn", "triggers": [{"event": "app/x"}]}


def codes(**fields: Any) -> list[str]:
    _, diagnostics = build_function({**BASE, **fields})
    return sorted(d.code for d in diagnostics)


RULES: list[tuple[str, dict[str, Any], list[str]]] = [
    # concurrency (platform §2.2)
    ("number", {"concurrency": 5}, []),
    ("zero means no limit", {"concurrency": 0}, []),
    ("negative", {"concurrency": -1}, ["FC122"]),
    ("three constraints", {"concurrency": [{"limit": 1}, {"limit": 2, "key": "event.data.a"},
                                           {"limit": 3, "key": "event.data.b"}]}, ["FC120"]),
    ("empty list", {"concurrency": []}, ["FC106"]),
    ("account needs key", {"concurrency": {"limit": 1, "scope": "account"}}, ["FC121"]),
    ("env needs key", {"concurrency": [{"limit": 1, "scope": "env"}]}, ["FC121"]),
    ("bad scope", {"concurrency": {"limit": 1, "scope": "app"}}, ["FC108"]),
    ("limit required", {"concurrency": {"key": "event.data.x"}}, ["FC103"]),
    ("float limit", {"concurrency": {"limit": 1.5}}, ["FC101"]),
    ("bool is not a number", {"concurrency": True}, ["FC101"]),
    ("same key twice", {"concurrency": [{"limit": 1, "key": "event.data.a"},
                                        {"limit": 2, "key": "event.data.a"}]}, ["FC123"]),
    ("server shape (tests/test_run_concurrency_config.py)",
     {"concurrency": {"fn": [{"limit": 1}], "step": []}}, []),
    ("two unkeyed limits", {"concurrency": [{"limit": 1}, {"limit": 2}]}, ["FC123"]),
    ("same key, other scope", {"concurrency": [{"limit": 1, "key": "event.data.a"},
                                               {"limit": 2, "key": "event.data.a",
                                                "scope": "env"}]}, []),
    # throttle (docs: 1s..7d, whole seconds)
    ("throttle ok", {"throttle": {"limit": 1, "period": "7d", "burst": 2}}, []),
    ("throttle 0 limit", {"throttle": {"limit": 0, "period": "1s"}}, ["FC131"]),
    ("throttle sub-second", {"throttle": {"limit": 1, "period": "999ms"}}, ["FC130"]),
    ("throttle fraction", {"throttle": {"limit": 1, "period": "1500ms"}}, ["FC130"]),
    ("throttle over 7d", {"throttle": {"limit": 1, "period": "169h"}}, ["FC130"]),
    ("throttle bad duration", {"throttle": {"limit": 1, "period": "1 minute"}}, ["FC105"]),
    ("throttle negative burst", {"throttle": {"limit": 1, "period": "1s", "burst": -2}},
     ["FC106"]),
    # rate limit (platform IsValid)
    ("rate ok at 24h", {"rateLimit": {"limit": 5, "period": "24h"}}, []),
    ("rate over 24h", {"rateLimit": {"limit": 5, "period": "24h1s"}}, ["FC141"]),
    ("rate zero", {"rateLimit": {"limit": 0, "period": "1h"}}, ["FC140"]),
    ("rate no period", {"rateLimit": {"limit": 1}}, ["FC103"]),
    ("rate sub-second", {"rateLimit": {"limit": 1, "period": "500ms"}}, ["FC141"]),
    ("rate fraction warns", {"rateLimit": {"limit": 1, "period": "1500ms"}}, ["FC211"]),
    # debounce (platform §5.1)
    ("debounce ok", {"debounce": {"period": "1s", "timeout": "1m"}}, []),
    ("debounce short", {"debounce": {"period": "0.5s"}}, ["FC150"]),
    ("debounce long", {"debounce": {"period": "8d"}}, ["FC150"]),
    ("debounce bad timeout", {"debounce": {"period": "5s", "timeout": "never"}}, ["FC105"]),
    ("debounce zero timeout", {"debounce": {"period": "5s", "timeout": "0"}}, ["FC151"]),
    # batch (platform §7.1)
    ("batch ok", {"batchEvents": {"maxSize": 2, "timeout": "1s"}}, []),
    ("batch size 1", {"batchEvents": {"maxSize": 1, "timeout": "1s"}}, ["FC160"]),
    ("batch 1d is not Go", {"batchEvents": {"maxSize": 5, "timeout": "1d"}}, ["FC161"]),
    ("batch 10ss", {"batchEvents": {"maxSize": 5, "timeout": "10ss"}}, ["FC161"]),
    ("batch 100ms", {"batchEvents": {"maxSize": 5, "timeout": "100ms"}}, ["FC161"]),
    ("batch + cancel", {"batchEvents": {"maxSize": 5, "timeout": "5s"},
                        "cancelOn": [{"event": "stop"}]}, ["FC170"]),
    ("batch + no cancels", {"batchEvents": {"maxSize": 5, "timeout": "5s"}, "cancel": []}, []),
    ("batch + debounce", {"batchEvents": {"maxSize": 5, "timeout": "5s"},
                          "debounce": {"period": "5s", "timeout": "1m"}}, ["FC171"]),
    ("batch + singleton", {"batchEvents": {"maxSize": 5, "timeout": "5s"},
                           "singleton": {"mode": "skip"}}, ["FC172"]),
    ("batch + priority", {"batchEvents": {"maxSize": 5, "timeout": "5s"},
                          "priority": {"run": "1"}}, ["FC173"]),
    # singleton, priority, cancel, triggers, timeouts, retries, steps
    ("singleton without mode is skip", {"singleton": {"key": "event.data.x"}}, ["FC229"]),
    ("singleton mode in capitals", {"singleton": {"mode": "Cancel"}}, []),
    ("singleton empty mode", {"singleton": {"mode": ""}}, ["FC108"]),
    ("singleton mode null", {"singleton": {"mode": None}}, ["FC101"]),
    ("singleton bad mode", {"singleton": {"mode": "queue"}}, ["FC108"]),
    ("priority in range", {"concurrency": 1,
                           "priority": {"run": "event.data.x ? 600 : -600"}}, []),
    ("priority out of range", {"concurrency": 1,
                               "priority": {"run": "event.data.x ? 601 : 0"}}, ["FC180"]),
    ("six cancels", {"cancelOn": [{"event": f"e{i}"} for i in range(6)]}, ["FC190"]),
    ("cancel needs event", {"cancelOn": [{"if": "true"}]}, ["FC103"]),
    ("cancel match path", {"cancelOn": [{"event": "e", "match": "data.id"}]}, []),
    ("eleven triggers", {"triggers": [{"event": f"e{i}"} for i in range(11)]}, ["FC192"]),
    ("cron trigger", {"triggers": {"cron": "0 * * * *"}}, []),
    ("cron with zone", {"triggers": {"cron": "TZ=Europe/Paris 0 12 * * 5"}}, []),
    ("cron macro", {"triggers": [{"cron": "@hourly"}, {"cron": "@every 5m"}]}, []),
    ("cron garbage", {"triggers": {"cron": "every day at noon"}}, ["FC106"]),
    ("event and cron", {"triggers": [{"event": "e", "cron": "0 * * * *"}]}, ["FC193"]),
    ("empty event", {"triggers": [{"event": ""}]}, ["FC106"]),
    # the SDK's trigger filter is `if`; the registration payload sends it as `expression`
    ("trigger if", {"triggers": [{"event": "e", "if": "event.data.ok == true"}]}, []),
    ("trigger if and expression", {"triggers": [{"event": "e", "if": "true",
                                                 "expression": "true"}]}, ["FC112"]),
    ("cron trigger with if", {"triggers": [{"cron": "0 * * * *", "if": "true"}]}, ["FC102"]),
    ("cron jitter", {"triggers": [{"cron": "0 * * * *", "jitter": "30s"}]}, []),
    ("cron jitter above 5m", {"triggers": [{"cron": "0 * * * *", "jitter": "6m"}]}, ["FC106"]),
    ("cron jitter below 1s", {"triggers": [{"cron": "0 * * * *", "jitter": "500ms"}]},
     ["FC106"]),
    ("event trigger with jitter", {"triggers": [{"event": "e", "jitter": "1s"}]}, ["FC102"]),
    ("duplicate trigger", {"triggers": [{"event": "e"}, {"event": "e"}]}, ["FC196"]),
    ("same event, other filters", {"triggers": [{"event": "e", "if": "event.data.a == 1"},
                                                {"event": "e", "if": "event.data.a == 2"}]},
     []),
    ("duplicate cron, other jitter", {"triggers": [{"cron": "0 * * * *", "jitter": "1s"},
                                                   {"cron": "0 * * * *"}]}, ["FC196"]),
    ("timeouts ok", {"timeouts": {"start": "10s", "finish": "1h"}}, []),
    ("timeouts negative", {"timeouts": {"start": "-10s"}}, ["FC106"]),
    ("retries 21", {"retries": 21}, ["FC195"]),
    ("steps", {"steps": [{"run": "1s"}, {"sleep": "2s"}]}, []),
    ("step with two kinds", {"steps": [{"run": "1s", "sleep": "1s"}]}, ["FC194"]),
    ("registration steps empty", {"steps": {}}, ["FC194"]),
    ("registration step retries", {"steps": {"s": {
        "id": "s", "name": "s", "runtime": {"type": "http", "url": "https://a.example/api"},
        "retries": {"attempts": 25}}}}, ["FC195"]),
    # shape
    ("unknown key", {"throtle": {}}, ["FC102"]),
    ("cancel and cancelOn", {"cancel": [], "cancelOn": []}, ["FC112"]),
    ("empty name", {"name": ""}, ["FC110"]),
    ("empty id", {"id": " "}, ["FC110"]),
]


@pytest.mark.parametrize(("fields", "expected"), [(f, e) for _, f, e in RULES],
                         ids=[r[0] for r in RULES])
def test_rule_table(fields: dict[str, Any], expected: list[str]) -> None:
    assert codes(**fields) == expected


def test_every_rule_code_is_in_the_code_table() -> None:
    for _, _, expected in RULES:
        assert set(expected) <= set(CODES)


def test_unknown_key_suggests_the_sdk_name() -> None:
    _, diagnostics = build_function({**BASE, "rate_limit": {"limit": 1, "period": "1s"}})
    assert "did you mean 'rateLimit'?" in diagnostics[0].message
    _, diagnostics = build_function({**BASE, "throttle": {"limt": 1, "limit": 1, "period": "1s"}})
    assert "did you mean 'limit'?" in diagnostics[0].message


def test_messages_match_the_platform() -> None:
    def message(**fields: Any) -> str:
        return build_function({**BASE, **fields})[1][0].message

    assert message(concurrency=[{"limit": 1}, {"limit": 1, "key": "a"},
                                {"limit": 1, "key": "b"}]).startswith(
        "There are more concurrency limits specified than the allowed max of: 2")
    assert message(concurrency={"limit": 1, "scope": "account"}) == \
        "A concurrency key must be specified for account scoped limits"
    assert message(debounce={"period": "500ms"}) == \
        "The debounce period of '500ms' is less than the min of: 1s"
    assert message(debounce={"period": "8d"}) == \
        "The debounce period of '8d' is greater than the max of: 168h0m0s"
    assert message(rateLimit={"limit": 1, "period": "25h"}) == "period must be less than 24h0m0s"
    assert message(batchEvents={"maxSize": 1, "timeout": "1s"}) == \
        "batch size cannot be smaller than 2: 1"
    assert message(batchEvents={"maxSize": 2, "timeout": "100ms"}).startswith(
        "batch timeout should be more than 1s")
    assert message(cancelOn=[{"event": "e"}] * 6).startswith(
        "This function exceeds the max number of cancellation events: 5")


def test_from_mapping_builds_the_typed_model() -> None:
    fn = FunctionConfig.from_mapping({
        "id": "everything", "name": "Everything",
        "triggers": {"event": "app/x", "expression": "event.data.ok == true"},
        "concurrency": [{"limit": 2}, {"limit": 1, "key": "event.data.user", "scope": "env"}],
        "throttle": {"limit": 10, "period": "1m", "burst": 5, "key": "event.data.customer"},
        "rateLimit": {"limit": 3, "period": "1h"},
        "debounce": {"period": "5m", "timeout": "30m", "key": ""},
        "singleton": {"mode": "cancel", "key": "event.data.user"},
        "cancelOn": [{"event": "app/stop", "match": "data.id", "timeout": "1h"}],
        "timeouts": {"start": "10s"},
        "retries": 0,
        "steps": [{"run": "2s"}, {"sleep": "10s"}, {"run": "1s"}],
    })
    assert fn.triggers == (Trigger(event="app/x", expression="event.data.ok == true"),)
    assert fn.concurrency == (ConcurrencyLimit(limit=2),
                              ConcurrencyLimit(limit=1, key="event.data.user", scope="env"))
    assert fn.throttle == Throttle(limit=10, period_ns=60 * S, burst=5, key="event.data.customer")
    assert fn.rate_limit == RateLimit(limit=3, period_ns=3600 * S)
    assert fn.debounce == Debounce(period_ns=300 * S, timeout_ns=1800 * S)  # "" key = no key
    assert fn.singleton == Singleton(mode="cancel", key="event.data.user")
    assert fn.cancel_on == (Cancel(event="app/stop", match="data.id",
                                   if_expr="event.data.id == async.data.id",
                                   timeout_ns=3600 * S),)
    assert fn.timeouts == Timeouts(start_ns=10 * S)
    assert fn.steps == (Step(kind="run", duration_ns=2 * S), Step(kind="sleep", duration_ns=10 * S),
                        Step(kind="run", duration_ns=S))
    assert fn.run_duration_ns() == 13 * S
    assert fn.function_limit() == 2
    assert fn.keyed_concurrency() == (fn.concurrency[1],)
    assert fn.display_name == "Everything" and fn.events == ("app/x",)
    assert fn.effective_rate_limit() == fn.rate_limit


def test_the_sdk_shapes_build_what_the_platform_registers() -> None:
    fn = FunctionConfig.from_mapping({
        "id": "sdk", "triggers": [{"event": "app/x", "if": "event.data.plan == 'pro'"},
                                  {"cron": "0 9 * * *", "jitter": "2m"}],
        "singleton": {"key": "event.data.user"},
    })
    # `if` is registered as the trigger's `expression`; a missing singleton mode is skip
    assert fn.triggers == (Trigger(event="app/x", expression="event.data.plan == 'pro'"),
                           Trigger(cron="0 9 * * *"))
    assert fn.singleton == Singleton(mode="skip", key="event.data.user")
    assert FunctionConfig.from_mapping({**BASE, "singleton": {"mode": "CANCEL"}}).singleton == \
        Singleton(mode="cancel")


def test_missing_singleton_mode_says_what_the_platform_does() -> None:
    [d] = build_function({**BASE, "singleton": {"key": "event.data.x"}})[1]
    assert (d.code, d.severity, d.path) == ("FC229", Severity.WARNING, "$.singleton.mode")
    assert "decodes a missing mode as 'skip'" in d.message


def test_idempotency_becomes_the_effective_rate_limit() -> None:
    fn = FunctionConfig.from_mapping({**BASE, "idempotency": "event.data.order"})
    assert fn.effective_rate_limit() == RateLimit(limit=1, period_ns=24 * 3600 * S,
                                                  key="event.data.order")


def test_from_mapping_raises_config_error_listing_every_error() -> None:
    with pytest.raises(ConfigError) as info:
        FunctionConfig.from_mapping({"id": "x", "throttle": {"limit": 0, "period": "1ms"}})
    assert sorted(d.code for d in info.value.diagnostics) == ["FC103", "FC130", "FC131"]
    assert "and 2 more" in str(info.value)


def test_from_mapping_ignores_warnings() -> None:
    fn = FunctionConfig.from_mapping({**BASE, "rateLimit": {"limit": 1, "period": "1500ms"}})
    assert fn.rate_limit == RateLimit(limit=1, period_ns=1500 * S // 1000)


def test_config_values_are_frozen() -> None:
    fn = FunctionConfig.from_mapping(BASE)
    with pytest.raises(AttributeError):
        fn.id = "other"  # type: ignore[misc]
    assert Batch(max_size=2, timeout_ns=S) == Batch(max_size=2, timeout_ns=S)


@pytest.mark.parametrize(("text", "fmt", "count", "paths"), [
    ('{"id": "a", "triggers": [{"event": "e"}]}', "json", 1, ["$"]),
    ('[{"id": "a", "triggers": [{"event": "e"}]}, {"id": "b", "triggers": [{"event": "e"}]}]',
     "json", 2, ["$[0]", "$[1]"]),
    ('{"functions": [{"id": "a", "triggers": [{"event": "e"}], "steps": [{"run": "1s"}]}]}',
     "json", 1, ["$.functions[0]"]),
    ("id: a\ntriggers: {event: e}\n", "yaml", 1, ["$"]),
    ('id = "a"\ntriggers = [{event = "e"}]\n', "toml", 1, ["$"]),
])
def test_document_shapes(text: str, fmt: str, count: int, paths: list[str]) -> None:
    result = validate_text(text, fmt, "f")
    assert result.diagnostics == []
    assert len(result.functions) == count
    assert [e.path for e in result.entries] == paths


def test_payload_functions_must_be_a_list_and_payload_keys_are_checked() -> None:
    result = validate_text('{"functions": {}, "appname": "x"}', "json", "f")
    assert sorted(d.code for d in result.diagnostics) == ["FC101", "FC102"]


def test_fatal_parse_error_is_one_diagnostic() -> None:
    result = validate_text("{", "json", "f.json")
    [d] = result.diagnostics
    assert (d.code, d.severity, d.line, d.column, d.file) == ("FC002", Severity.FATAL, 1, 2,
                                                              "f.json")


class _FakeSyntaxError(Exception):
    def __init__(self, reason: str, line: int, column: int) -> None:
        super().__init__(f"{reason} (line {line}, column {column})\n  quoted\n  ^")
        self.reason, self.line, self.column = reason, line, column


def _fake_compiler(bad: str) -> Any:
    """A stand-in for ``expr``: refuses the first occurrence of ``bad`` at its position."""
    import types

    def compile(source: str, dialect: str = "cel") -> Any:
        assert dialect == "inngest"
        index = source.find(bad)
        if index >= 0:
            before = source[:index]
            line = before.count("\n") + 1
            column = index - (before.rfind("\n") + 1) + 1
            raise _FakeSyntaxError(f"unexpected {bad!r}", line, column)
        return types.SimpleNamespace(references=frozenset(), evaluate=lambda act: "k")

    return types.SimpleNamespace(compile=compile)


@pytest.mark.parametrize(("text", "fmt", "line", "column"), [
    ('{"id": "a", "triggers": {"event": "e"},\n "throttle": {"limit": 1, "period": "1s", '
     '"key": "event.data.a @ b"}}', "json", 2, 64),
    # escapes before the error shift the column by their raw width
    ('{"id": "a", "triggers": {"event": "e"}, "idempotency": "\\"x\\u00e9\\" + @"}', "json",
     1, 71),
    ("id: a\ntriggers: {event: e}\npriority:\n  run: |\n    x ? 1 :\n      @\n", "yaml", 6, 7),
    ("id: a\ntriggers: {event: e}\ndebounce: {period: 1s, timeout: 1m, key: 'a @'}\n", "yaml",
     3, 45),
    ('id = "a"\ntriggers = [{event = "e"}]\n[debounce]\nperiod = "1s"\ntimeout = "1m"\n'
     'key = "event.x @"\n', "toml", 6, 16),
])
def test_expression_errors_are_placed_inside_the_string(
        monkeypatch: pytest.MonkeyPatch, text: str, fmt: str, line: int, column: int) -> None:
    from flowcontrol.config import expressions

    monkeypatch.setattr(expressions, "_expr", _fake_compiler("@"))
    [d] = validate_text(text, fmt, "f").diagnostics
    assert d.code == "FC107" and "unexpected '@'" in d.message
    assert (d.line, d.column) == (line, column)
    assert text.split("\n")[line - 1][column - 1] == "@"


def test_cancellation_if_allows_only_conversions(monkeypatch: pytest.MonkeyPatch) -> None:
    from flowcontrol.config import expressions

    monkeypatch.setattr(expressions, "_expr", _fake_compiler("@"))
    ok = {"cancelOn": [{"event": "e", "if": "int(async.data.n) == event.data.n && 'f(x)' != ''"}]}
    assert codes(**ok) == []
    bad = {"cancelOn": [{"event": "e", "if": "async.data.tags.exists(t, t == 'x')"}]}
    assert codes(**bad) == ["FC191"]
    assert codes(**{"cancelOn": [{"event": "e", "if": "lowercase(async.name) == 'x'"}]}) == \
        ["FC191"]


def test_cancellation_if_refuses_arithmetic_as_the_platform_policy_does() -> None:
    def cancel(expr: str) -> list[str]:
        return codes(cancelOn=[{"event": "e", "if": expr}])

    assert cancel("async.data.n > event.data.n + 1") == ["FC191"]
    assert cancel("-async.data.n < 0") == ["FC191"]
    assert cancel("async.data.n * 2 > 1") == ["FC191"]
    # a minus sign of a number literal is no operator; strings are not scanned
    assert cancel("async.data.n > -1 && async.data.x != 'a-b+c' && async.data.f < 1e-3") == []


needs_check = pytest.mark.skipif(not expressions.checker_available(),
                                 reason="expr has no type checker yet")
BAD = "'a' - 1"  # found no matching overload for '_-_' applied to '(string, int)'


@needs_check
@pytest.mark.parametrize(("fields", "code", "path"), [
    # type-checked at registration (expressions.Validate): errors
    ({"triggers": [{"event": "e", "if": BAD}]}, "FC113", "$.triggers[0].if"),
    ({"triggers": {"event": "e", "expression": BAD}}, "FC113", "$.triggers.expression"),
    ({"rateLimit": {"limit": 1, "period": "1m", "key": BAD}}, "FC113", "$.rateLimit.key"),
    ({"debounce": {"period": "1m", "timeout": "1h", "key": BAD}}, "FC113", "$.debounce.key"),
    ({"batchEvents": {"maxSize": 2, "timeout": "1s", "key": BAD}}, "FC113",
     "$.batchEvents.key"),
    ({"batchEvents": {"maxSize": 2, "timeout": "1s", "if": BAD}}, "FC113", "$.batchEvents.if"),
    ({"cancelOn": [{"event": "e", "if": BAD}]}, "FC113", "$.cancelOn[0].if"),
    ({"idempotency": BAD}, "FC113", "$.idempotency"),
    # only parsed at registration: warnings about what happens at run time
    ({"concurrency": {"limit": 1, "key": BAD}}, "FC225", "$.concurrency.key"),
    ({"concurrency": {"fn": [{"limit": 1, "key": BAD}]}}, "FC225", "$.concurrency.fn[0].key"),
    ({"concurrency": {"step": [{"limit": 1, "key": BAD}]}}, "FC225",
     "$.concurrency.step[0].key"),
    ({"throttle": {"limit": 1, "period": "1m", "key": BAD}}, "FC225", "$.throttle.key"),
    ({"singleton": {"mode": "skip", "key": BAD}}, "FC225", "$.singleton.key"),
    ({"priority": {"run": BAD}}, "FC225", "$.priority.run"),
])
def test_type_errors_are_errors_where_registration_checks_types(
        fields: dict[str, Any], code: str, path: str) -> None:
    [d] = build_function({**BASE, **fields})[1]
    assert (d.code, d.path) == (code, path)
    assert "found no matching overload for '_-_' applied to '(string, int)'" in d.message
    if code == "FC225":
        assert ("factor 0" if path == "$.priority.run" else "at run time") in d.message


@needs_check
@pytest.mark.parametrize(("text", "fmt", "line", "column", "char"), [
    ('{"id": "a", "triggers": {"event": "e"},\n "rateLimit": {"limit": 1, "period": "1s", '
     '"key": "\\"\\u00e9\\" + (event.data.n %  \'x\')"}}', "json", 2, 79, "%"),
    ("id: a\ntriggers: {event: e}\npriority:\n  run: |\n    event.data.vip\n      ? 1\n"
     "      : 'no'\n", "yaml", 6, 7, "?"),
    ("id: a\ntriggers: {event: e}\ndebounce: {period: 1s, timeout: 1m, key: me-bad}\n",
     "yaml", 3, 42, "m"),
    ('id = "a"\ntriggers = [{event = "e", if = "event.data.ok && 1"}]\n', "toml", 2, 50,
     "1"),
])
def test_type_errors_are_placed_inside_the_string(text: str, fmt: str, line: int, column: int,
                                                   char: str) -> None:
    [d] = [d for d in validate_text(text, fmt, "f").diagnostics if d.code in ("FC113", "FC225")]
    assert (d.line, d.column) == (line, column)
    assert text.split("\n")[line - 1][column - 1] == char


def test_validate_data_on_plain_data_has_paths_and_warnings() -> None:
    from flowcontrol.config import validate_data

    result = validate_data([{**BASE, "debounce": {"period": "5s"}}, {"id": ""}])
    got = sorted((d.code, d.path, d.line) for d in result.diagnostics)
    assert got == [("FC103", "$[1].triggers", None), ("FC110", "$[1].id", None),
                   ("FC204", "$[0].debounce", None)]
    assert [f.id for f in result.functions] == ["fn"]
    assert validate_data(object()).diagnostics[0].code == "FC109"
