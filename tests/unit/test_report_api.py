"""GET /api/report and the printable page /report, over a real journal and manager."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

with warnings.catch_warnings():
    # Starlette asks for `httpx2` (not installed here); the `httpx` it falls back to works.
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from dashboards import create_app
from hazardwatch.storage.accounts import Accounts, Role
from hazardwatch.vocabulary.model import Condition
from tests.accounts import bearer
from tests.unit.test_api import T0, Park


@pytest.fixture
def client(park: Park, accounts: Accounts) -> Iterator[TestClient]:
    headers = bearer(accounts, Role.VIEWER, "Li Na")  # a viewer may read the report
    with TestClient(create_app(park.view(), accounts=accounts), headers=headers) as c:
        yield c


def test_report_counts_the_journalled_alarms_of_the_period(park: Park, client: TestClient) -> None:
    park.change("T101.LT", Condition.HH, True, 18.5)  # T0
    park.change("T101.TT", Condition.H, True, 41.0)  # T0 + 1
    park.change("T101.TT", Condition.H, False, 30.0)  # T0 + 2
    r = client.get("/api/report", params={"since": T0, "until": T0 + 3600})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["alarms"] == 2
    assert body["rates"]["per_hour"] == 2.0
    assert [s["tag"] for s in body["standing"]] == ["T101.LT"]
    assert body["online"]["sensors"] == park.table.n
    # the default period is the last 24 h to the service's clock
    assert client.get("/api/report").json()["alarms"] == 2


def test_report_of_an_unknown_console_or_an_empty_period_is_422(client: TestClient) -> None:
    r = client.get("/api/report", params={"console": "nowhere"})
    assert r.status_code == 422
    assert "no console 'nowhere'" in r.text
    assert client.get("/api/report", params={"since": T0, "until": T0}).status_code == 422


def test_report_park_console_is_every_enterprise_in_no_console(client: TestClient) -> None:
    assert client.get("/api/report", params={"console": "park"}).status_code == 200


def test_the_printable_page_is_served(client: TestClient) -> None:
    r = client.get("/report")
    assert r.status_code == 200
    assert "/static/report.js" in r.text
    assert "@media print" in client.get("/static/report.css").text
