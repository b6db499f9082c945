"""Concurrency in the server's shape, ``{"fn": [...], "step": [...]}``, and its lints.

The platform's decoding and validation are ``ConcurrencyLimits.UnmarshalJSON``,
``ConcurrencyLimits.Validate`` and ``FnConcurrency.Validate`` in inngest/inngest
``pkg/inngest/concurrency.go`` (at 253303cd); the decoding table is
``TestConcurrencyLimits_Unmarshal`` in ``pkg/inngest/concurrency_test.go``. ``step`` is
what ``concurrency`` has always meant (limits on executing steps); ``fn`` is at most one
run-level limit, held for the run's whole life.
"""

from __future__ import annotations

from typing import Any

import pytest

from flowcontrol.config import (
    ConcurrencyLimit,
    FunctionConfig,
    RunConcurrency,
    validate_data,
    validate_text,
)

BASE: dict[str, Any] = {"id": "fn", "triggers": [{"event": "app/x"}]}


def diagnostics(data: Any) -> list[tuple[str, str, str]]:
    return [(d.code, d.path, d.message) for d in validate_data(data).diagnostics]


# TestConcurrencyLimits_Unmarshal (pkg/inngest/concurrency_test.go), the rows of the new
# format plus the legacy forms it keeps: input -> (step limits, run limit).
DECODING: list[tuple[str, Any, tuple[ConcurrencyLimit, ...], RunConcurrency | None]] = [
    ("legacy object", {"key": "what", "limit": 10},
     (ConcurrencyLimit(limit=10, key="what"),), None),
    ("legacy list", [{"key": "what", "limit": 10}], (ConcurrencyLimit(limit=10, key="what"),),
     None),
    ("legacy account scope", [{"key": "what", "limit": 10, "scope": "account"}],
     (ConcurrencyLimit(limit=10, key="what", scope="account"),), None),
    ("new format: fn and step",
     {"fn": [{"limit": 5}], "step": [{"limit": 10, "key": "event.data.userId", "scope": "fn"}]},
     (ConcurrencyLimit(limit=10, key="event.data.userId"),), RunConcurrency(limit=5)),
    ("new format: fn only", {"fn": [{"limit": 3, "key": "event.data.customerId"}]},
     (), RunConcurrency(limit=3, key="event.data.customerId")),
    # FnConcurrency.EffectiveScope: an empty or missing scope is "fn".
    ("fn scope given", {"fn": [{"limit": 1, "scope": "fn"}]}, (), RunConcurrency(limit=1)),
    ("fn scope empty", {"fn": [{"limit": 1, "scope": ""}]}, (), RunConcurrency(limit=1)),
    ("step only", {"step": [{"limit": 2}]}, (ConcurrencyLimit(limit=2),), None),
]


@pytest.mark.parametrize(("value", "steps", "run"), [r[1:] for r in DECODING],
                         ids=[r[0] for r in DECODING])
def test_decoding_follows_the_platform(value: Any, steps: tuple[ConcurrencyLimit, ...],
                                       run: RunConcurrency | None) -> None:
    fn = FunctionConfig.from_mapping({**BASE, "concurrency": value})
    assert fn.concurrency == steps
    assert fn.run_concurrency == run


# ConcurrencyLimits.Validate / FnConcurrency.Validate, with their messages; our paths point
# into the list the problem is in.
ERRORS: list[tuple[str, Any, list[tuple[str, str, str]]]] = [
    ("two fn limits", {"fn": [{"limit": 1}, {"limit": 2}]},
     [("FC124", "$.concurrency.fn", "Only one function concurrency limit is allowed")]),
    ("fn limit 0", {"fn": [{"limit": 0}]},
     [("FC125", "$.concurrency.fn[0].limit", "function concurrency limit must be > 0")]),
    ("fn limit negative", {"fn": [{"limit": -3}]},
     [("FC125", "$.concurrency.fn[0].limit", "function concurrency limit must be > 0")]),
    ("fn limit missing (decodes as 0)", {"fn": [{"key": "event.data.a"}]},
     [("FC125", "$.concurrency.fn[0].limit", "function concurrency limit must be > 0")]),
    ("app scope is the server's", {"fn": [{"limit": 2, "scope": "app"}]},
     [("FC126", "$.concurrency.fn[0].scope",
       "app-scoped function concurrency cannot be set by users")]),
    ("unknown scope", {"fn": [{"limit": 2, "scope": "account"}]},
     [("FC126", "$.concurrency.fn[0].scope", "invalid function concurrency scope: account")]),
    ("bad fn key", {"fn": [{"limit": 2, "key": "event.data.a +"}]},
     [("FC107", "$.concurrency.fn[0].key",
       "invalid function concurrency key 'event.data.a +': unexpected end of input")]),
    ("three step limits", {"step": [{"limit": 1}, {"limit": 2, "key": "event.data.a"},
                                    {"limit": 3, "key": "event.data.b"}]},
     [("FC120", "$.concurrency.step", "There are more concurrency limits specified than the "
       "allowed max of: 2 (found 3)")]),
    ("step env limit needs a key", {"step": [{"limit": 1, "scope": "env"}]},
     [("FC121", "$.concurrency.step[0]", "A concurrency key must be specified for env scoped "
       "limits")]),
    ("fn must be a list", {"fn": {"limit": 1}},
     [("FC101", "$.concurrency.fn", "expected a list for concurrency.fn, got an object")]),
    ("unknown member", {"fn": [{"limit": 1}], "steps": []},
     [("FC102", "$.concurrency.steps",
       "unknown key 'steps' in concurrency; did you mean 'step'?")]),
    ("both lists empty", {"fn": [], "step": []},
     [("FC106", "$.concurrency",
       'concurrency {"fn": [...], "step": [...]} needs at least one limit (the platform '
       "reads empty lists as no limit at all); remove it or give a limit")]),
]


@pytest.mark.parametrize(("value", "expected"), [r[1:] for r in ERRORS],
                         ids=[r[0] for r in ERRORS])
def test_errors_have_the_platform_messages_and_point_into_the_list(
        value: Any, expected: list[tuple[str, str, str]]) -> None:
    assert diagnostics({**BASE, "concurrency": value}) == expected


def test_the_shape_is_read_in_a_list_of_functions_and_in_a_registration_payload() -> None:
    bad = {"fn": [{"limit": 1}, {"limit": 2}]}
    as_list = [BASE, {**BASE, "id": "g", "concurrency": bad}]
    payload = {"functions": [{**BASE, "steps": {"s": {"id": "s", "name": "s", "runtime": {
        "type": "http", "url": "https://example.com/api"}}}, "concurrency": bad}]}
    assert [d[:2] for d in diagnostics(as_list)] == [("FC124", "$[1].concurrency.fn")]
    assert [d[:2] for d in diagnostics(payload)] == [("FC124", "$.functions[0].concurrency.fn")]


def test_yaml_diagnostics_carry_the_line_of_the_item() -> None:
    text = "id: f\ntriggers: [{event: a}]\nconcurrency:\n  fn:\n    - limit: 0\n"
    (d,) = validate_text(text, "yaml").diagnostics
    assert (d.code, d.path, d.line) == ("FC125", "$.concurrency.fn[0].limit", 5)


# Lints: what the platform accepts but probably does not do what was meant.
LINTS: list[tuple[str, dict[str, Any], list[tuple[str, str]]]] = [
    ("run limit below an unkeyed step limit",
     {"concurrency": {"fn": [{"limit": 2}], "step": [{"limit": 5}]}},
     [("FC219", "$.concurrency.step[0].limit")]),
    ("run limit equal to the step limit on the same key",
     {"concurrency": {"fn": [{"limit": 3, "key": "event.data.u"}],
                      "step": [{"limit": 3, "key": "event.data.u"}]}},
     [("FC219", "$.concurrency.step[0].limit")]),
    ("step limit below the run limit binds", {"concurrency": {"fn": [{"limit": 5}],
                                                              "step": [{"limit": 2}]}}, []),
    ("keyed run limit does not cap an unkeyed step limit",
     {"concurrency": {"fn": [{"limit": 1, "key": "event.data.u"}], "step": [{"limit": 4}]}},
     []),
    ("an account key is shared with other functions",
     {"concurrency": {"fn": [{"limit": 1}],
                      "step": [{"limit": 4, "key": "'openai'", "scope": "account"}]}}, []),
    ("run limit held through long sleeps",
     {"concurrency": {"fn": [{"limit": 3, "key": "event.data.user_id"}]},
      "steps": [{"run": "2s"}, {"sleep": "10m"}, {"run": "5s"}]},
     [("FC230", "$.concurrency.fn[0].limit")]),
    ("short sleeps are fine", {"concurrency": {"fn": [{"limit": 3}]},
                               "steps": [{"run": "20s"}, {"sleep": "1s"}, {"run": "5s"}]}, []),
    ("step limit with sleeps, no run limit", {"concurrency": {"step": [{"limit": 2}]},
                                              "steps": [{"run": "1s"}, {"sleep": "1h"}]},
     [("FC218", "$.concurrency")]),
    ("run limit answers FC218", {"concurrency": {"fn": [{"limit": 2}], "step": [{"limit": 1}]},
                                 "steps": [{"run": "1h"}, {"sleep": "1s"}]}, []),
]


@pytest.mark.parametrize(("fields", "expected"), [r[1:] for r in LINTS],
                         ids=[r[0] for r in LINTS])
def test_lints(fields: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert [d[:2] for d in diagnostics({**BASE, **fields})] == expected


def test_a_run_key_is_checked_like_other_keys() -> None:
    got = diagnostics({**BASE, "concurrency": {"fn": [{"limit": 1, "key": "async.data.u"}]}})
    assert [d[:2] for d in got] == [("FC216", "$.concurrency.fn[0].key")]
