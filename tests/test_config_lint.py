"""Warnings: each interaction pitfall, and where it is reported."""

from __future__ import annotations

import json
from typing import Any

import pytest

from flowcontrol.config import expressions
from flowcontrol.config.lint import lint
from flowcontrol.config.validate import validate_text

needs_expr = pytest.mark.skipif(not expressions.available(), reason="expr has not landed yet")
BASE: dict[str, Any] = {"id": "fn", "triggers": [{"event": "app/x"}]}


def warnings(*functions: dict[str, Any], events: list[dict[str, Any]] | None = None,
             ) -> list[tuple[str, str]]:
    result = validate_text(json.dumps(list(functions), indent=1), "json", "f.json")
    assert [d for d in result.diagnostics if d.is_error] == []
    return sorted((d.code, d.path) for d in lint(result.entries, events))


def one(**fields: Any) -> list[str]:
    return [code for code, _ in warnings({**BASE, **fields})]


LINTS: list[tuple[str, dict[str, Any], list[str]]] = [
    ("clean", {"concurrency": 5}, []),
    ("batch takes the first event's key", {"batchEvents": {"maxSize": 5, "timeout": "5s"},
                                           "concurrency": {"limit": 1, "key": "event.data.u"}},
     ["FC201"]),
    ("batch keyed otherwise", {"batchEvents": {"maxSize": 5, "timeout": "5s",
                                               "key": "event.data.org"},
                               "throttle": {"limit": 1, "period": "1s", "key": "event.data.u"}},
     ["FC201"]),
    ("batch keyed alike", {"batchEvents": {"maxSize": 5, "timeout": "5s", "key": "event.data.u"},
                           "concurrency": {"limit": 1, "key": "event.data.u"}}, []),
    ("batch bypasses rate limit", {"batchEvents": {"maxSize": 5, "timeout": "5s"},
                                   "rateLimit": {"limit": 1, "period": "1h"}}, ["FC202"]),
    ("batch bypasses idempotency", {"batchEvents": {"maxSize": 5, "timeout": "5s"},
                                    "idempotency": "event.data.id"}, ["FC202"]),
    ("priority without a limit", {"priority": {"run": "event.data.vip ? 60 : 0"}}, ["FC203"]),
    ("priority with throttle", {"priority": {"run": "event.data.vip ? 60 : 0"},
                                "throttle": {"limit": 1, "period": "1s"}}, []),
    ("priority with zero concurrency", {"priority": {"run": "event.data.vip ? 60 : 0"},
                                        "concurrency": 0}, ["FC203"]),
    ("debounce forever", {"debounce": {"period": "5s"}}, ["FC204"]),
    ("debounce timeout too short", {"debounce": {"period": "5m", "timeout": "5m"}}, ["FC212"]),
    ("rate limit implicit burst", {"rateLimit": {"limit": 5, "period": "24h"}}, ["FC205"]),
    ("rate limit of one", {"rateLimit": {"limit": 1, "period": "24h"}}, []),
    ("debounce of an hour is a quiet period", {"debounce": {"period": "1h"}}, []),
    # a real config: "run after 12 hours of quiet" is the point, not a pitfall
    ("debounce of 12 hours", {"debounce": {"period": "12h", "key": "event.data.user_id"}}, []),
    ("keyed debounce forever", {"debounce": {"period": "30s", "key": "event.data.doc"}},
     ["FC204"]),
    ("throttle over concurrency", {"throttle": {"limit": 10, "period": "1m", "burst": 5},
                                   "concurrency": 3}, ["FC206"]),
    ("throttle burst within concurrency", {"throttle": {"limit": 2, "period": "1m",
                                                        "burst": 1}, "concurrency": 3}, []),
    # a real config: 210 a day is a budget; starting up to 210 at once is what it allows
    ("throttle budget", {"throttle": {"limit": 210, "period": "24h"}, "concurrency": 10}, []),
    # a real config: a throttle per email says nothing about the whole function's limit
    ("throttle per email", {"throttle": {"limit": 10, "period": "1m", "burst": 5,
                                         "key": "event.data.email"}, "concurrency": 3}, []),
    ("throttle per email, concurrency per email",
     {"throttle": {"limit": 10, "period": "1m", "burst": 5, "key": "event.data.email"},
      "concurrency": [{"limit": 3, "key": "event.data.email"}]}, ["FC206"]),
    ("throttle per email, concurrency per user",
     {"throttle": {"limit": 10, "period": "1m", "burst": 5, "key": "event.data.email"},
      "concurrency": [{"limit": 3, "key": "event.data.user"}]}, []),
    ("unkeyed throttle, keyed concurrency",
     {"throttle": {"limit": 10, "period": "1m", "burst": 5},
      "concurrency": [{"limit": 3, "key": "event.data.user"}]}, []),
    ("throttle within concurrency", {"throttle": {"limit": 3, "period": "1m"},
                                     "concurrency": 3}, []),
    ("throttle outpaces concurrency", {"throttle": {"limit": 60, "period": "1m"},
                                       "concurrency": 60,
                                       "steps": [{"run": "30s"}, {"sleep": "1h"},
                                                 {"run": "40s"}]}, ["FC206", "FC218"]),
    ("budget throttle outpaces concurrency", {"throttle": {"limit": 210, "period": "24h"},
                                              "concurrency": 1,
                                              "steps": [{"run": "10m"}]}, ["FC206"]),
    ("per-key throttle outpaces per-key concurrency",
     {"throttle": {"limit": 60, "period": "1m", "key": "event.data.u"},
      "concurrency": {"limit": 1, "key": "event.data.u"}, "steps": [{"run": "2s"}]}, ["FC206"]),
    ("per-key throttle against the function limit",
     {"throttle": {"limit": 60, "period": "1m", "key": "event.data.u"},
      "concurrency": 1, "steps": [{"run": "2s"}]}, []),
    ("concurrency keeps up", {"throttle": {"limit": 60, "period": "1m"}, "concurrency": 60,
                              "steps": [{"run": "59s"}]}, []),
    ("rate limit before debounce", {"rateLimit": {"limit": 1, "period": "1m"},
                                    "debounce": {"period": "5s", "timeout": "1m"}}, ["FC217"]),
    ("idempotency before debounce", {"idempotency": "event.data.id",
                                     "debounce": {"period": "5s", "timeout": "1m"}}, ["FC217"]),
    ("sleeping runs and concurrency", {"concurrency": 2,
                                       "steps": [{"run": "1s"}, {"sleep": "1h"}]}, ["FC218"]),
    ("singleton with concurrency", {"singleton": {"mode": "skip"}, "concurrency": 1}, ["FC210"]),
    ("singleton with concurrency 0 (no limit)", {"singleton": {"mode": "cancel"},
                                                 "concurrency": 0}, []),
    ("keyed limit zero", {"concurrency": {"limit": 0, "key": "event.data.u"}}, ["FC213"]),
    ("idempotency replaces rate limit", {"idempotency": "event.data.id",
                                         "rateLimit": {"limit": 1, "period": "1h"}}, ["FC214"]),
]


@pytest.mark.parametrize(("fields", "expected"), [(f, e) for _, f, e in LINTS],
                         ids=[r[0] for r in LINTS])
def test_lint_table(fields: dict[str, Any], expected: list[str]) -> None:
    assert one(**fields) == expected


def all_diagnostics(*functions: dict[str, Any]) -> list[tuple[str, str]]:
    result = validate_text(json.dumps(list(functions), indent=1), "json", "f.json")
    return sorted((d.code, d.path) for d in [*result.diagnostics, *lint(result.entries)])


def test_an_error_does_not_hide_the_warnings_of_its_function() -> None:
    fn = {**BASE, "throttle": {"limit": 0, "period": "1m"},  # an error (FC131)
          "debounce": {"period": "5s"}, "singleton": {"key": "event.data.u"},
          "concurrency": 2}
    assert all_diagnostics(fn) == [("FC131", "$[0].throttle.limit"),
                                   ("FC204", "$[0].debounce"),
                                   ("FC210", "$[0].singleton"),
                                   ("FC229", "$[0].singleton.mode")]


def test_a_real_config_reports_both_of_its_problems() -> None:
    # transcribed from a real application: no singleton mode, and a key without quotes,
    # which CEL reads as the subtraction analytics - pulse
    fn = {"id": "analytics-pulse", "triggers": [{"event": "analytics/pulse"}],
          "singleton": {"key": "analytics-pulse"}, "cancelOn": [{"event": "x", "if": "f("}]}
    got = all_diagnostics(fn)
    assert ("FC107", "$[0].cancelOn[0].if") in got
    assert ("FC229", "$[0].singleton.mode") in got
    # undeclared names: the checker's warning (registration only parses a singleton key)
    unbound = "FC225" if expressions.checker_available() else "FC216"
    assert (unbound, "$[0].singleton.key") in got


def test_an_unreadable_setting_is_not_taken_for_an_absent_one() -> None:
    # priority needs a limit that builds a backlog: with the concurrency broken (or
    # misspelt), the linter cannot say there is none
    prio = {"priority": {"run": "event.data.vip ? 60 : 0"}}
    assert all_diagnostics({**BASE, **prio, "concurrency": {"limit": "ten"}}) == [
        ("FC101", "$[0].concurrency.limit")]
    assert all_diagnostics({**BASE, **prio, "concurency": 10}) == [("FC102", "$[0].concurency")]
    assert all_diagnostics({**BASE, **prio, "retries": 99}) == [("FC195", "$[0].retries"),
                                                                ("FC203", "$[0].priority")]


def test_samples_skip_unreadable_triggers() -> None:
    fn = {"id": "fn", "triggers": [{"event": "app/x"}, {"event": 3}]}
    result = validate_text(json.dumps(fn), "json", "f.json")
    assert lint(result.entries, [{"name": "app/y", "data": {}}]) == []


def test_rate_limit_message_spells_out_the_real_rate() -> None:
    result = validate_text(json.dumps({**BASE, "rateLimit": {"limit": 5, "period": "24h"}}),
                           "json", "f")
    [d] = lint(result.entries)
    assert "admits 1 at once, then one every 4h48m0s" in d.message


def test_warnings_point_at_the_field() -> None:
    text = '{\n "id": "a",\n "triggers": [{"event": "e"}],\n "debounce": {"period": "5s"}\n}'
    result = validate_text(text, "json", "f.json")
    [d] = lint(result.entries)
    assert (d.code, d.path, d.line, d.column, d.file) == ("FC204", "$.debounce", 4, 14, "f.json")


def test_shared_account_key_with_different_limits() -> None:
    a = {"id": "a", "triggers": [{"event": "e"}],
         "concurrency": [{"scope": "account", "key": '"openai"', "limit": 60}]}
    b = {"id": "b", "triggers": [{"event": "e"}],
         "concurrency": [{"scope": "account", "key": '"openai"', "limit": 10}]}
    assert warnings(a, b) == [("FC208", "$[0].concurrency[0].limit"),
                              ("FC208", "$[1].concurrency[0].limit")]
    b["concurrency"][0]["limit"] = 60  # type: ignore[index]
    assert warnings(a, b) == []


@needs_expr
def test_shared_account_keys_written_differently_do_not_share() -> None:
    a = {"id": "a", "triggers": [{"event": "e"}],
         "concurrency": [{"scope": "account", "key": '"openai"', "limit": 60}]}
    b = {"id": "b", "triggers": [{"event": "e"}],
         "concurrency": [{"scope": "account", "key": "'openai'", "limit": 60}]}
    assert warnings(a, b) == [("FC209", "$[0].concurrency[0].key"),
                              ("FC209", "$[1].concurrency[0].key")]


@needs_expr
@pytest.mark.parametrize(("fields", "expected"), [
    ({"throttle": {"limit": 1, "period": "1s", "key": "event.data.plan == 'pro'"}}, ["FC207"]),
    ({"rateLimit": {"limit": 1, "period": "1s", "key": "42"}}, ["FC207"]),
    ({"throttle": {"limit": 1, "period": "1s", "key": "event.data.customer"}}, []),
    ({"concurrency": 1, "priority": {"run": "event.data.priority"}}, ["FC215"]),
    ({"concurrency": 1, "priority": {"run": "int(event.data.priority)"}}, []),
    ({"debounce": {"period": "1s", "timeout": "1m", "key": "async.data.id"}}, ["FC216"]),
])
def test_expression_lints(fields: dict[str, Any], expected: list[str]) -> None:
    assert one(**fields) == expected


@needs_expr
def test_sample_events() -> None:
    fn = {**BASE, "concurrency": {"limit": 1, "key": "event.data.user_id"},
          "rateLimit": {"limit": 1, "period": "1h", "key": "event.data.missing"},
          "priority": {"run": "event.data.priority"}}
    events = [{"name": "app/x", "data": {"user_id": "u1", "priority": 1.0}},
              {"name": "app/x", "data": {"user_id": "u2", "priority": 2.0}},
              {"name": "other", "data": {}}]
    got = warnings(fn, events=events)
    assert ("FC220", "$[0].rateLimit.key") in got
    assert ("FC222", "$[0].priority.run") in got
    assert not any(path == "$[0].concurrency.key" for _, path in got)


@needs_expr
def test_trigger_filter_lints_point_at_the_name_used() -> None:
    fn = {"id": "fn", "triggers": [{"cron": "0 * * * *"},
                                   {"event": "e", "if": "async.data.ok == true"}]}
    assert warnings(fn) == [("FC216", "$[0].triggers[1].if")]
    fn = {"id": "fn", "triggers": {"event": "e", "expression": "vars.x == 1"}}
    assert warnings(fn) == [("FC216", "$[0].triggers.expression")]


@needs_expr
def test_sample_events_follow_the_trigger_if() -> None:
    fn = {"id": "fn", "triggers": [{"event": "app/x", "if": "event.data.plan == 'pro'"}]}
    assert warnings(fn, events=[{"name": "app/x", "data": {"plan": "pro"}}]) == []
    assert warnings(fn, events=[{"name": "app/x", "data": {"plan": "free"}}]) == [
        ("FC223", "$[0].triggers")]


needs_check = pytest.mark.skipif(not expressions.checker_available(),
                                 reason="expr has no type checker yet")


@needs_check
@pytest.mark.parametrize(("fields", "expected"), [
    # priority: the checked type decides; dyn from event data is a double at run time
    ({"concurrency": 1, "priority": {"run": "event.data.score * 1.5"}}, ["FC226"]),
    ({"concurrency": 1, "priority": {"run": "event.data.vip == true"}}, ["FC226"]),
    ({"concurrency": 1, "priority": {"run": "event.data.vip ? 60 : 0"}}, []),
    ({"concurrency": 1, "priority": {"run": "int(event.data.p) * 10"}}, []),
    ({"concurrency": 1, "priority": {"run": "event.data.p"}}, ["FC215"]),
    # keys: boolean by the checked type and when run; the platform's || returns an operand
    ({"throttle": {"limit": 1, "period": "1s", "key": "event.data.plan == 'pro'"}}, ["FC207"]),
    ({"throttle": {"limit": 1, "period": "1s", "key": "event.data.team || event.data.user"}},
     []),
    ({"throttle": {"limit": 1, "period": "1s", "key": "lowercase(event.data.email)"}}, []),
    # an undeclared name is the checker's (FC225 here), not also FC216
    ({"concurrency": {"limit": 1, "key": "analytics-pulse"}}, ["FC225"]),
    ({"debounce": {"period": "1s", "timeout": "1m", "key": "async.data.id"}}, ["FC216"]),
    # filters: a type that is not bool never matches
    ({"triggers": [{"event": "app/x", "if": "size(event.data.items)"}]}, ["FC228"]),
    ({"triggers": [{"event": "app/x", "if": "event.data.items"}]}, []),
    ({"batchEvents": {"maxSize": 5, "timeout": "5s", "if": "'yes'"}}, ["FC228"]),
    ({"cancelOn": [{"event": "stop", "if": "int(async.data.n)"}]}, ["FC228"]),
    ({"cancelOn": [{"event": "stop", "if": "async.data.id == event.data.id"}]}, []),
])
def test_checked_type_lints(fields: dict[str, Any], expected: list[str]) -> None:
    result = validate_text(json.dumps({**BASE, **fields}), "json", "f.json")
    got = [d.code for d in [*result.diagnostics, *lint(result.entries)]]
    assert sorted(got) == expected


@needs_check
def test_samples_show_the_checked_type_when_values_differ_in_kind() -> None:
    fn = {**BASE, "concurrency": [{"limit": 2, "key": "event.data.team || event.data.user"}],
          "throttle": {"limit": 1, "period": "1s", "key": "lowercase(event.data.email)"}}
    events = [{"name": "app/x", "data": {"team": "t1", "email": "A@x"}},
              {"name": "app/x", "data": {"user": "u2", "email": "b@x"}}]
    result = validate_text(json.dumps(fn), "json", "f.json")
    [d] = lint(result.entries, events)
    assert (d.code, d.path) == ("FC227", "$.concurrency[0].key")
    assert "checks to type bool, but on the samples it gave string" in d.message


def test_sample_events_that_never_trigger() -> None:
    assert ("FC223", "$[0].triggers") in warnings(BASE, events=[{"name": "other", "data": {}}])


@needs_expr
def test_sample_numbers_are_doubles_as_on_the_platform() -> None:
    fn = {**BASE, "concurrency": 1, "priority": {"run": "event.data.priority"}}
    events = [{"name": "app/x", "data": {"priority": 10}}]  # an int in the JSON sample
    assert ("FC222", "$[0].priority.run") in warnings(fn, events=events)
    fn["priority"] = {"run": "int(event.data.priority)"}
    assert warnings(fn, events=events) == []


@needs_expr
def test_sample_priority_out_of_range() -> None:
    fn = {**BASE, "concurrency": 1, "priority": {"run": "int(event.data.p) * 100"}}
    assert ("FC222", "$[0].priority.run") in warnings(
        fn, events=[{"name": "app/x", "data": {"p": 7}}])
    assert warnings(fn, events=[{"name": "app/x", "data": {"p": 6}}]) == []
