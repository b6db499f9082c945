"""Inngest's own expression cases, run in ``expr``'s ``inngest`` dialect.

Data: every row of the project's transcription of Inngest's ``TestEvaluateExpression``,
``TestDebounceKeyExpressions`` and ``TestEvaluateTernaryWithMissingConditionField`` tables
(inngest/inngest ``pkg/expressions/expressions_test.go`` at ``253303c``), numbered as upstream
(``1``..``75`` and ``K1``..``K9``). Inputs are JSON text exactly as Inngest's evaluator receives
them: ``8.0`` is a double, ``8`` an int. Upstream compares results with their exact Go type
(``int64``, ``bool``, ``string``) and expects no error in any case, so a case passes only when
``evaluate`` returns without raising a value of exactly the expected Python type and value.

How the platform turns results into outcomes is tested too: a key expression's result becomes
the key with Go's ``fmt.Sprintf("%v", v)``, which ``expr.go_format`` reproduces; a missing path
makes the whole result ``false``, so such a key is the string ``"false"``.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import pytest

import expr


class Row(NamedTuple):
    """One table row: upstream number, expression, input data (JSON), expected result (JSON)."""

    num: str
    source: str
    data: str
    want: str


# Input D of TestDebounceKeyExpressions: a plain Go map, so ``ts`` stays an int.
D = (
    '{"event": {"data": {"ingressId": "IN_Mwj9Dm8r9QP2", "timestamp": "2026-03-26T08:02:01.538Z",'
    ' "userId": "e67aed6a-4cd4-4465-ba23-bca6ef584292"}, "id": "01KMMJM9P2JQWH09SKMQM4J1DF",'
    ' "name": "livekit/stream.started", "ts": 1774512121538, "user": {}}}'
)

ROWS = [
    Row(
        '1',
        'event.data.name',
        '{"event": {"name": "", "data": {"name": "Tester McTestyFace"}}}',
        '"Tester McTestyFace"',
    ),
    Row('2', '5 + 4', '{"event": {"name": "", "data": {"name": "Tester McTestyFace"}}}', '9'),
    Row(
        '3',
        "event.data.name + '-' + event.data.number + '-' + event.data.bool + '-' +"
        " event.data.list + '-' + event.data.obj + '-' + event.data.missing",
        '{"event": {"name": "", "data": {"name": "hi", "number": 9.1, "bool": true, "list":'
        ' [3.0, "ok?", true], "obj": {"name": "inngest"}}}}',
        '"hi-9.1-true-[3 ok? true]-map[name:inngest]-"',
    ),
    Row(
        '4',
        "event.data.name + '-' + event.data.foo",
        '{"event": {"name": "", "data": {"name": "Tester McTestyFace"}}}',
        '"Tester McTestyFace-"',
    ),
    Row(
        '5',
        "uppercase(event.data.name) + ' is my name'",
        '{"event": {"name": "", "data": {"name": "Tester McTestyFace"}}}',
        '"TESTER MCTESTYFACE is my name"',
    ),
    Row(
        '6',
        'b64decode("aGkgdGhlcmUh") + " - b64 data"',
        '{"event": {"name": "", "data": {}}}',
        '"hi there! - b64 data"',
    ),
    Row(
        '7',
        'b64decode("aGkgdGhlcmUh") == "hi there!"',
        '{"event": {"name": "", "data": {}}}',
        'true',
    ),
    Row(
        '8',
        'json_parse(b64decode(event.data.encoded)).nested.data',
        '{"event": {"name": "", "data": {"encoded": "eyJuZXN0ZWQiOnsiZGF0YSI6InllYSJ9fQ==",'
        ' "decoded": {"nested": {"data": "yea"}}}}}',
        '"yea"',
    ),
    Row(
        '9',
        'json_parse(b64decode(event.data.encoded)).nested.data == "yea"',
        '{"event": {"name": "", "data": {"encoded": "eyJuZXN0ZWQiOnsiZGF0YSI6InllYSJ9fQ==",'
        ' "decoded": {"nested": {"data": "yea"}}}}}',
        'true',
    ),
    Row(
        '10',
        'event.data == event.data',
        '{"event": {"name": "", "data": {"nope": null, "inner": {"eval": "ok"}}}}',
        'true',
    ),
    Row(
        '11',
        'event.data.a == event.data.b',
        '{"event": {"name": "", "data": {"nope": null, "a": {"eval": "ok", "num": 1.161},'
        ' "b": {"eval": "ok", "num": 1.161}}}}',
        'true',
    ),
    Row(
        '12',
        'event.data.a == event.data.b',
        '{"event": {"name": "", "data": {"nope": null, "a": {"eval": "ok", "num": 9.0}, "b":'
        ' {"eval": "ok", "num": 1.161}}}}',
        'false',
    ),
    Row('13', 'null > 0', '{"event": {"name": "", "data": {"nope": null}}}', 'false'),
    Row(
        '14',
        'size(event.data.nope) > 0',
        '{"event": {"name": "", "data": {"nope": null}}}',
        'false',
    ),
    Row(
        '15',
        'event.data.action > 0',
        '{"event": {"name": "", "data": {"action": null}}}',
        'false',
    ),
    Row(
        '16',
        'event.data.float <= null && event.data.int < null',
        '{"event": {"name": "", "data": {"float": 3.141, "int": 8.0}}}',
        'false',
    ),
    Row(
        '17',
        '!((has(event.data.a) && event.data.a) || (has(event.data.b) && event.data.b) ||'
        ' (has(event.data.c) && event.data.c))',
        '{"event": {"name": "", "data": {"a": false, "b": false, "c": false}}}',
        'true',
    ),
    Row(
        '18',
        '!((has(event.data.a) && event.data.a) || (has(event.data.b) && event.data.b) ||'
        ' (has(event.data.c) && event.data.c))',
        '{"event": {"name": "", "data": {"a": true, "b": false, "c": false}}}',
        'false',
    ),
    Row(
        '19',
        'event.data.int > event.data.unknown',
        '{"event": {"name": "", "data": {"int": 2.0}}}',
        'true',
    ),
    Row(
        '20',
        'event.data.something == null',
        '{"event": {"name": "", "data": {"something": "hi"}}}',
        'false',
    ),
    Row(
        '21',
        'event.data.float > null && event.data.int > null',
        '{"event": {"name": "", "data": {"float": 3.141, "int": 8.0}}}',
        'true',
    ),
    Row(
        '22',
        'event.data.float <= null && event.data.int < null',
        '{"event": {"name": "", "data": {"float": 3.141, "int": 8.0}}}',
        'false',
    ),
    Row(
        '23',
        'event.data.int > 3.141 && event.data.float <= 2',
        '{"event": {"name": "", "data": {"int": 8.0, "float": 1.111}}}',
        'true',
    ),
    Row(
        '24',
        'event.data.something == null',
        '{"event": {"name": "", "data": {"something": null}}}',
        'true',
    ),
    Row('25', 'event.data.another == null', '{"event": {"name": "", "data": {}}}', 'true'),
    Row(
        '26',
        "event.first.foo == 'test' && event.second.bar != true && event.second.baz != true",
        '{"event": {"first": {"foo": "test"}, "second": {"foo": "test"}}}',
        'true',
    ),
    Row(
        '27',
        "async.first.foo != 'test' && (async.first.bar == true || async.second.baz == true)",
        '{"async": {"first": {"foo": "test"}}}',
        'false',
    ),
    Row(
        '28',
        "event.data.foo != '' && 'item' in event.data.issue.fields.tags",
        '{"event": {"name": "", "data": {}}}',
        'false',
    ),
    Row('29', "event.data.foo != ''", '{"event": {"name": "", "data": {"foo": "hi"}}}', 'true'),
    Row(
        '30',
        "event['data'].foo != '' && event['data'].bar != true",
        '{"event": {"name": "", "data": {"foo": "hi"}}}',
        'true',
    ),
    Row(
        '31',
        'event.data.something == null',
        '{"event": {"name": "", "data": {"something": null}}}',
        'true',
    ),
    Row('32', 'event.data.NOPE == null', '{"event": {"name": "", "data": null}}', 'true'),
    Row(
        '33',
        'event.data.name == async.first.result.name',
        '{"event": {"name": "", "data": {"name": "no"}}}',
        'false',
    ),
    Row(
        '34',
        "event.data.issue.field.another == 'another'",
        '{"event": {"name": "", "data": {"issue": null}}}',
        'false',
    ),
    Row(
        '35',
        "event.data.issue.field.another == 'another'",
        '{"event": {"name": "", "data": {"issue": null}}}',
        'false',
    ),
    Row(
        '36',
        "event.data.test == true && event.data.issue.field.another != 'another'",
        '{"event": {"name": "", "data": {"test": true, "issue": null}}}',
        'true',
    ),
    Row('37', "event.nonexistent.exists(x, x == 'a')", '{}', 'false'),
    Row(
        '38',
        "async.first.foo == 'test' && async.first.bar != true",
        '{"async": {"first": {"foo": "test"}}}',
        'true',
    ),
    Row(
        '39',
        "async.first.foo == 'test' && async.first.bar != true",
        '{"async": {"first": {"foo": "test"}}}',
        'true',
    ),
    Row(
        '40',
        "event.data.title.matches('^[a-z\\\\d]{0,10}$')",
        '{"event": {"name": "", "data": {"title": "nope"}}}',
        'true',
    ),
    Row(
        '41',
        "event.data.title.matches('\\w')",
        '{"event": {"name": "", "data": {"title": "nope"}}}',
        'true',
    ),
    Row(
        '42',
        'event.data.some.unknown.contains(event.data.title)',
        '{"event": {"name": "", "data": {"title": "nope"}}}',
        'false',
    ),
    Row(
        '43',
        "'hello'.contains('llo')",
        '{"event": {"name": "", "data": {"action": "opened"}}, "async": {"status": "200"}}',
        'true',
    ),
    Row(
        '44',
        "'hello'.contains('what')",
        '{"event": {"name": "", "data": {"action": "opened"}}, "async": {"status": "200"}}',
        'false',
    ),
    Row(
        '45',
        'size(event.data.action) > 0',
        '{"event": {"name": "", "data": {"action": null}}}',
        'false',
    ),
    Row(
        '46',
        'size(event.data.action) > 0',
        '{"event": {"name": "", "data": {"action": "opened"}}}',
        'true',
    ),
    Row(
        '47',
        'size(event.data.action) == 6',
        '{"event": {"name": "", "data": {"action": "opened"}}}',
        'true',
    ),
    Row(
        '48',
        "event.data.action == 'opened'",
        '{"event": {"name": "", "data": {"action": "opened"}}, "async": {"status": "200"}}',
        'true',
    ),
    Row('49', 'int(async.status) == 200', '{"async": {"status": "200"}}', 'true'),
    Row('50', "uppercase(event.priority) == 'P1'", '{"event": {"priority": "p1"}}', 'true'),
    Row('51', "lowercase(event.priority) == 'urgent'", '{"event": {"priority": "URGENT"}}', 'true'),
    Row(
        '52',
        'int(event.status) >= 400 && event.error == true',
        '{"event": {"status": "400", "error": true}}',
        'true',
    ),
    Row('53', 'size(event.data.tags) == 0', '{"event": {"data": {}}}', 'true'),
    Row('54', 'size(event.data.tags) == 1', '{"event": {"data": {}}}', 'false'),
    Row('55', 'size(event.data.tags) == 0', '{"event": {"data": {"tags": []}}}', 'true'),
    Row(
        '56',
        'size(event.data.tags) > 2',
        '{"event": {"data": {"tags": ["a", "b", "c"]}}}',
        'true',
    ),
    Row(
        '57',
        "event.data.tags.exists(x, x == 'a')",
        '{"event": {"data": {"tags": ["a", "b", "c"]}}}',
        'true',
    ),
    Row(
        '58',
        "event.data.tags.exists(x, x == 'd' || x == 'a')",
        '{"event": {"data": {"tags": ["a", "b", "c"]}}}',
        'true',
    ),
    Row(
        '59',
        "event.data.tags.exists(x, x == 'd')",
        '{"event": {"data": {"tags": ["a", "b", "c"]}}}',
        'false',
    ),
    Row(
        '60',
        "event.data.tags.exists(x, x == 'd') == false",
        '{"event": {"data": {"tags": ["a", "b", "c"]}}}',
        'true',
    ),
    Row(
        '61',
        "event.data.issue in ['Bug', 'Issue', 'Epic'] == true",
        '{"event": {"data": {"issue": "Bug"}}}',
        'true',
    ),
    Row(
        '62',
        "event.data.issue in ['LOL', 'Issue', 'Epic'] == false",
        '{"event": {"data": {"issue": "Bug"}}}',
        'true',
    ),
    Row(
        '63',
        "event.data.nonexistent in ['LOL', 'Issue', 'Epic'] == false",
        '{"event": {"data": {"issue": "Bug"}}}',
        'true',
    ),
    Row(
        '64',
        "[1, 2, 3].all(x, x > 0) && event.status == '200'",
        '{"event": {"status": "200"}}',
        'true',
    ),
    Row(
        '65',
        'async.status == 200',
        '{"event": {"foo": "bar"}, "async": {"status": "200"}}',
        'false',
    ),
    Row(
        '66',
        "date(event.from) + duration('6h35m10s') == date('2020-01-01T18:35:10')",
        '{"event": {"from": "2020-01-01T12:00:00"}}',
        'true',
    ),
    Row(
        '67',
        'event.data.ingressId || event.data.userId',
        '{"event": {"data": {"ingressId": "IN_Mwj9Dm8r9QP2", "userId":'
        ' "e67aed6a-4cd4-4465-ba23-bca6ef584292"}}}',
        '"IN_Mwj9Dm8r9QP2"',
    ),
    Row(
        '68',
        'event.data.ingressId || event.data.missing',
        '{"event": {"data": {"ingressId": "IN_Mwj9Dm8r9QP2"}}}',
        '"IN_Mwj9Dm8r9QP2"',
    ),
    Row(
        '69',
        'event.data.missing || event.data.userId',
        '{"event": {"data": {"userId": "user-123"}}}',
        '"user-123"',
    ),
    Row(
        '70',
        'event.data.empty || event.data.userId',
        '{"event": {"data": {"empty": "", "userId": "user-123"}}}',
        '"user-123"',
    ),
    Row('71', 'event.data.a || event.data.b', '{"event": {"data": {}}}', 'false'),
    Row(
        '72',
        'event.data.flagA || event.data.flagB',
        '{"event": {"data": {"flagA": false, "flagB": true}}}',
        'true',
    ),
    Row(
        '73',
        'event.data.flagA || event.data.flagB',
        '{"event": {"data": {"flagA": false, "flagB": false}}}',
        'false',
    ),
    Row(
        '74',
        'event.data.a && event.data.b',
        '{"event": {"data": {"a": "first", "b": "second"}}}',
        '"second"',
    ),
    Row(
        '75',
        'event.data.a && event.data.b',
        '{"event": {"data": {"a": "", "b": "second"}}}',
        '""',
    ),
    Row('K1', 'event.data.ingressId', D, '"IN_Mwj9Dm8r9QP2"'),
    Row(
        'K2',
        "event.data.ingressId + '-' + event.data.userId",
        D,
        '"IN_Mwj9Dm8r9QP2-e67aed6a-4cd4-4465-ba23-bca6ef584292"',
    ),
    Row('K3', 'event.data.ingressId || event.data.userId', D, '"IN_Mwj9Dm8r9QP2"'),
    Row(
        'K4',
        'event.data.nonexistent || event.data.userId',
        D,
        '"e67aed6a-4cd4-4465-ba23-bca6ef584292"',
    ),
    Row('K5', 'event.data.ingressId + event.data.missing', D, '"IN_Mwj9Dm8r9QP2"'),
    Row('K6', 'event.data.nonexistent', D, 'false'),
    Row('K7', 'event.id', D, '"01KMMJM9P2JQWH09SKMQM4J1DF"'),
    Row('K8', 'event.name', D, '"livekit/stream.started"'),
    Row(
        'K9',
        'event.data.primaryCandidateId ? event.data.primaryCandidateId :'
        ' event.data.candidateId',
        '{"event": {"data": {"candidateId": "candidate-123"}}}',
        '"candidate-123"',
    ),
]

# Rows the evaluator does not pass, with the reason; strict, so a fixed row must leave this list.
XFAIL: dict[str, str] = {}

# Row 52's source spans three lines upstream, with surrounding whitespace and newlines.
MULTILINE_52 = "\n\t\t\t\tint(event.status) >= 400 &&\n\t\t\t\tevent.error == true\n\t\t\t"


def kind(value: Any) -> str:
    """kind names a result's exact type, so ``True`` never passes for ``1``."""
    return type(value).__name__


def _params() -> list[Any]:
    out = []
    for row in ROWS:
        marks = [pytest.mark.xfail(reason=XFAIL[row.num], strict=True)] if row.num in XFAIL else []
        out.append(pytest.param(row, id=f"row{row.num}", marks=marks))
    return out


@pytest.mark.parametrize("row", _params())
def test_inngest_case(row: Row) -> None:
    source = MULTILINE_52 if row.num == "52" else row.source
    program = expr.compile(source, dialect="inngest")
    result = program.evaluate(json.loads(row.data))
    want = json.loads(row.want)
    assert (kind(result), result) == (kind(want), want), f"row {row.num}: {source!r}"


def test_inngest_cases_table_is_complete() -> None:
    nums = [r.num for r in ROWS]
    assert nums == [str(i) for i in range(1, 76)] + [f"K{i}" for i in range(1, 10)]
    assert set(XFAIL) <= set(nums)


# Key stringification: what a key expression's result becomes as a concurrency/throttle key.
GO_FORMAT = [
    ("u_123", "u_123"),
    ("", ""),
    (9, "9"),
    (-42, "-42"),
    (9.1, "9.1"),
    (3.0, "3"),
    (-2.5, "-2.5"),
    (1e6, "1e+06"),
    (123456.0, "123456"),
    (1234567.0, "1.234567e+06"),
    (0.0001, "0.0001"),
    (0.00001, "1e-05"),
    (1.5e300, "1.5e+300"),
    (float("inf"), "+Inf"),
    (float("-inf"), "-Inf"),
    (float("nan"), "NaN"),
    (True, "true"),
    (False, "false"),
    ([3.0, "ok?", True], "[3 ok? true]"),
    ([], "[]"),
    ({"name": "inngest"}, "map[name:inngest]"),
    ({"b": 1, "a": [2, "x"]}, "map[a:[2 x] b:1]"),
    ({"data": {"user": {"id": 7.0}}}, "map[data:map[user:map[id:7]]]"),
]


@pytest.mark.parametrize(("value", "want"), GO_FORMAT, ids=[w or "empty" for _, w in GO_FORMAT])
def test_go_format_matches_go_percent_v(value: Any, want: str) -> None:
    assert expr.go_format(value) == want


def test_go_format_of_uint_is_its_digits() -> None:
    assert expr.go_format(expr.UInt(18446744073709551615)) == "18446744073709551615"


KEYS = [
    # (key expression, event, key string the platform derives)
    ("event.data.user_id", {"data": {"user_id": "u_1"}}, "u_1"),
    ("event.data.user_id", {"data": {"user_id": 12.0}}, "12"),
    ("event.data.user_id", {"data": {}}, "false"),
    ("event.data.account_id + '-' + event.user.email",
     {"data": {"account_id": "acc_9"}, "user": {"email": "a@b.c"}}, "acc_9-a@b.c"),
    ("event.data.account_id + '-' + event.user.email",
     {"data": {"account_id": 9.0}, "user": {"email": "a@b.c"}}, "9-a@b.c"),
    ("event.data.account_id + '-' + event.user.email", {"data": {"account_id": "acc_9"}},
     "acc_9-"),
    ("event.data.plan == 'pro'", {"data": {"plan": "pro"}}, "true"),
    ("event.data.n * 2", {"data": {"n": 21}}, "42"),
]


@pytest.mark.parametrize(("source", "event", "want"), KEYS)
def test_key_string_is_go_formatted_result(source: str, event: Any, want: str) -> None:
    program = expr.compile(source, dialect="inngest")
    assert expr.go_format(program.evaluate({"event": event})) == want
