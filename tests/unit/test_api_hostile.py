"""Hostile requests: ids past 64 bits, lone surrogates, megabyte bodies; and schemathesis
over the app's own /openapi.json (no 5xx, every answer keeps to its schema).

The app is built as in test_api (a real AlarmManager and journal, a real transfer book),
with alarms and a plan open so ids hit as well as miss. The schemathesis examples are
bounded so its run stays well under two minutes on a shared CI machine.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from dashboards import create_app
from hazardwatch.storage.accounts import Role
from hazardwatch.vocabulary.model import Condition
from hazardwatch.vocabulary.transfers import TransferBook, TransferDesk
from tests.accounts import bearer, make_accounts
from tests.unit.test_api import Park

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

MAX_EXAMPLES = 100  # per operation and mode; eleven operations


@dataclass
class App:
    app: FastAPI
    alarm_id: int
    transfer_id: int
    headers: dict[str, str]  # an admin's token: every route is reached, none refused


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[App]:
    park = Park.build(tmp_path / "journal.sqlite")
    event = park.change("T101.LT", Condition.HH, True, 18.5)
    park.change("T201.GT", Condition.GAS1, True, 30.0)
    book = TransferBook(tmp_path / "transfers.db", park.table)
    desk = TransferDesk(book, lambda sensor, plan, ts: [], lambda changes: None, park.clock)
    transfer = desk.plan(tag="T101.LT", target=15.0, direction=1, by="Li Ming")
    view = dataclasses.replace(park.view(), transfers=desk)
    accounts = make_accounts(tmp_path / "accounts.db")
    headers = bearer(accounts, Role.ADMIN)
    try:
        yield App(create_app(view, accounts=accounts), event.alarm.id, transfer.id, headers)
    finally:
        accounts.close()
        book.close()
        park.journal.close()


@pytest.fixture
def client(hostile: App) -> Iterator[TestClient]:
    with TestClient(hostile.app, headers=hostile.headers) as c:
        yield c


# ------------------------------------------------------------------ ids past 64 bits

HUGE_IDS = ["9223372036854775808", "99999999999999999999", "1" + "0" * 400]


@pytest.mark.parametrize("alarm_id", HUGE_IDS)
def test_an_alarm_id_past_64_bits_is_a_422_naming_the_limit(
    client: TestClient, alarm_id: str
) -> None:
    for r in (
        client.get(f"/api/alarms/{alarm_id}"),
        client.post(f"/api/alarms/{alarm_id}/ack", json={"who": "Zhang Wei"}),
    ):
        assert r.status_code == 422, r.text
        [error] = r.json()["detail"]
        assert error["loc"] == ["path", "alarm_id"]
        assert "less than or equal to 9223372036854775807" in error["msg"]


@pytest.mark.parametrize("transfer_id", HUGE_IDS)
def test_a_transfer_id_past_64_bits_is_a_422_naming_the_limit(
    client: TestClient, transfer_id: str
) -> None:
    r = client.post(f"/api/transfers/{transfer_id}/close", json={"by": "Li Ming"})
    assert r.status_code == 422, r.text
    [error] = r.json()["detail"]
    assert error["loc"] == ["path", "transfer_id"]
    assert "less than or equal to 9223372036854775807" in error["msg"]


def test_the_largest_id_is_a_plain_404(client: TestClient, hostile: App) -> None:
    top = 2**63 - 1
    assert client.get(f"/api/alarms/{top}").status_code == 404
    assert client.post(f"/api/alarms/{top}/ack", json={"who": "Zhang"}).status_code == 404
    r = client.post(f"/api/transfers/{top}/close", json={"by": "Li Ming"})
    assert r.status_code == 404
    assert client.get(f"/api/alarms/{hostile.alarm_id}").status_code == 200


# ------------------------------------------------------------------ lone surrogates


def _post(client: TestClient, path: str, body: str) -> Any:
    return client.post(path, content=body, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ('{"who": "Zhang \\ud800 Wei"}', ["body", "who"]),
        ('{"who": "Zhang", "comment": "\\udfff"}', ["body", "comment"]),
        ('{"who": "' + "\\ud800" * 65 + '"}', ["body", "who"]),  # too long as well
        ('{"who": "Zhang", "\\ud800": 1}', ["body"]),  # a field name pydantic cannot read
    ],
)
def test_a_lone_surrogate_in_an_ack_body_is_a_422_not_a_500(
    client: TestClient, hostile: App, body: str, where: list[str]
) -> None:
    r = _post(client, f"/api/alarms/{hostile.alarm_id}/ack", body)
    assert r.status_code == 422, r.text
    [error] = r.json()["detail"]
    assert error["loc"] == where
    # the alarm was not acknowledged with a name no journal can store
    assert client.get(f"/api/alarms/{hostile.alarm_id}").json()["state"] == "active_unack"


@pytest.mark.parametrize(
    "body",
    [
        '{"tag": "T101.LT", "target": 14, "by": "\\ud83d"}',
        '{"tag": "T101.LT", "target": 14, "by": "Li", "note": "\\udc00x"}',
        '{"unit": "\\ud800", "target": 14, "by": "Li"}',
        '{"tag": "\\ud800", "target": 14, "by": "Li"}',
    ],
)
def test_a_lone_surrogate_in_a_transfer_body_is_a_422(client: TestClient, body: str) -> None:
    r = _post(client, "/api/transfers", body)
    assert r.status_code == 422, r.text
    assert "valid string" in r.json()["detail"][0]["msg"]


def test_a_lone_surrogate_in_a_transfer_close_is_a_422(client: TestClient, hostile: App) -> None:
    r = _post(client, f"/api/transfers/{hostile.transfer_id}/close", '{"by": "\\ud800"}')
    assert r.status_code == 422, r.text


def test_a_body_name_of_control_characters_is_ignored(client: TestClient, hostile: App) -> None:
    """Found by schemathesis when the body named who acknowledged ("\\x1f" stripped to
    nothing): the name is now the logged-in user's, the body's is ignored."""
    r = client.post(f"/api/alarms/{hostile.alarm_id}/ack", json={"who": "\x1f"})
    assert r.status_code == 200, r.text
    assert r.json()["alarm"]["acked_by"] == "admin-user"


# ------------------------------------------------------------------ what a 422 echoes


@pytest.mark.parametrize(
    "body",
    [
        {"who": "x" * 1_000_000},  # a megabyte name
        {"who": "Zhang", "comment": "y" * 2_000_000},
        {"who": ["x" * 1000] * 1000},  # a megabyte array where a name belongs
        {"who": "Zhang", "z" * 1_000_000: 1},  # a megabyte field name
    ],
)
def test_a_422_echoes_a_megabyte_input_cut_short(
    client: TestClient, hostile: App, body: dict[str, Any]
) -> None:
    r = client.post(f"/api/alarms/{hostile.alarm_id}/ack", json=body)
    assert r.status_code == 422
    assert len(r.content) < 2000, len(r.content)
    [error] = r.json()["detail"]
    assert error["msg"]


def test_a_422_still_echoes_a_short_input_as_given(client: TestClient, hostile: App) -> None:
    r = client.post(f"/api/alarms/{hostile.alarm_id}/ack", json={"who": ["  "]})
    [error] = r.json()["detail"]
    assert error["input"] == ["  "] and error["loc"] == ["body", "who"]
    r = client.get("/api/alarms", params={"limit": "many"})
    assert r.json()["detail"][0]["input"] == "many"


# ------------------------------------------------------------------ schemathesis


@pytest.fixture
def app_schema(hostile: App) -> schemathesis.schemas.BaseSchema:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
        return schemathesis.openapi.from_asgi("/openapi.json", hostile.app)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_answers_no_5xx_and_keeps_to_its_schema(
    app_schema: schemathesis.schemas.BaseSchema, hostile: App, mode: GenerationMode
) -> None:
    """Valid requests (positive) and requests that break the schema (negative), per route,
    as an admin (who passes every role check)."""
    for result in app_schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/api/live":  # a stream that never ends by itself: test_api
            continue
        inputs = [*operation.path_parameters, *operation.query, *operation.body]
        if mode is GenerationMode.NEGATIVE and not inputs:
            continue  # nothing to get wrong

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def call(case: schemathesis.Case) -> None:
            case.call_and_validate(
                headers=hostile.headers,
                checks=[not_a_server_error, response_schema_conformance],
            )

        call()
