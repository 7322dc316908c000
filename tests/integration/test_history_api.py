"""The history API over a real BlockStore (real files): one tag, several tags, errors, roles."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

with warnings.catch_warnings():
    # Starlette asks for `httpx2` (not installed here); the `httpx` it falls back to works.
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from alerting import AlarmManager, Journal
from dashboards import Hub, ServiceAdapter, create_app
from hazardwatch.storage import BlockStore, StoreError
from hazardwatch.storage.accounts import Accounts, Role
from hazardwatch.vocabulary.clock import FakeClock
from hazardwatch.vocabulary.model import Batch, Kind, SensorTable
from tests.accounts import bearer, make_accounts
from tests.factories import enterprise, hazard_source, sensor, site, unit

pytestmark = pytest.mark.integration

T0 = 1_763_800_020.0  # on a minute
DAY = 86400.0


@pytest.fixture
def app_parts(tmp_path: Path) -> Iterator[tuple[TestClient, Accounts, BlockStore]]:
    park = site(
        enterprise(
            "e1",
            hazard_source(
                "hs1",
                unit("T1", sensor("T1.LT", Kind.LEVEL), sensor("T1.TT", Kind.TEMPERATURE)),
            ),
        )
    )
    table = SensorTable.from_site(park)
    journal = Journal(tmp_path / "journal.db")
    clock = FakeClock(T0 + 3 * DAY)
    store = BlockStore(tmp_path / "readings", background=False)
    accounts = make_accounts(tmp_path / "accounts.db")
    view = ServiceAdapter(
        site=park,
        table=table,
        alarms=AlarmManager(table, journal, clock),
        hub=Hub(),
        latest_fn=lambda: (np.zeros(2), np.zeros(2), np.zeros(2, np.uint32)),
        history_fn=store.history,
    )
    # two days at 1 Hz: T1.LT = seconds since T0, T1.TT = 20 + the same / 1e6
    k = np.arange(2 * 86400)
    store.write(Batch.of(np.zeros(len(k)), T0 + k, k * 1.0))
    store.write(Batch.of(np.ones(len(k)), T0 + k, 20 + k / 1e6))
    store.seal()
    store.compact()
    with TestClient(create_app(view, accounts=accounts)) as client:
        yield client, accounts, store
    store.close()
    accounts.close()
    journal.close()


def test_a_sensor_day_comes_downsampled_to_the_points_asked(app_parts: tuple) -> None:
    client, accounts, _ = app_parts
    viewer = bearer(accounts, Role.VIEWER)
    r = client.get(
        "/api/sensors/T1.LT/history",
        params={"since": T0, "until": T0 + DAY - 1, "points": 1000},
        headers=viewer,
    )
    assert r.status_code == 200, r.text
    (s,) = r.json()["series"]
    assert s["tag"] == "T1.LT" and s["unit"] == "m"
    assert s["source"] == "aggregates" and s["bucket_s"] == 120.0
    assert len(s["ts"]) == 720 and sum(s["count"]) == 86400
    assert s["ts"][:2] == [T0, T0 + 120] and s["min"][:2] == [0.0, 120.0]
    assert s["max"][0] == 119.0 and s["mean"][0] == 59.5


def test_few_readings_come_as_they_are(app_parts: tuple) -> None:
    client, accounts, _ = app_parts
    r = client.get(
        "/api/sensors/T1.LT/history",
        params={"since": T0 + 10, "until": T0 + 14, "points": 5},
        headers=bearer(accounts, Role.VIEWER),
    )
    (s,) = r.json()["series"]
    assert s["source"] == "raw" and s["bucket_s"] == 0.0
    assert s["ts"] == [T0 + 10, T0 + 11, T0 + 12, T0 + 13, T0 + 14]
    assert s["mean"] == [10.0, 11.0, 12.0, 13.0, 14.0] and s["count"] == [1] * 5


def test_several_tags_share_one_range_and_bucket(app_parts: tuple) -> None:
    client, accounts, _ = app_parts
    r = client.get(
        "/api/history",
        params={"tags": ["T1.LT", "T1.TT"], "since": T0, "until": T0 + 2 * DAY - 1, "points": 48},
        headers=bearer(accounts, Role.VIEWER),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert [s["tag"] for s in body["series"]] == ["T1.LT", "T1.TT"]
    lt, tt = body["series"]
    assert lt["ts"] == tt["ts"] and len(lt["ts"]) == 48 and lt["bucket_s"] == 3600.0
    assert tt["min"][1] == pytest.approx(20 + 3600 / 1e6)


def test_purged_raw_readings_still_answer_from_aggregates(app_parts: tuple) -> None:
    client, accounts, store = app_parts
    assert store.purge(T0 + 3 * DAY) == 2 * 2 * 86400
    r = client.get(
        "/api/sensors/T1.LT/history",
        params={"since": T0, "until": T0 + 599, "points": 1000},
        headers=bearer(accounts, Role.VIEWER),
    )
    (s,) = r.json()["series"]
    assert s["source"] == "aggregates" and sum(s["count"]) == 600


def test_history_needs_a_login_and_a_known_tag_and_a_sane_range(app_parts: tuple) -> None:
    client, accounts, _ = app_parts
    viewer = bearer(accounts, Role.VIEWER)
    assert client.get("/api/sensors/T1.LT/history").status_code == 401
    assert client.get("/api/history", params={"tags": "T1.LT"}).status_code == 401
    r = client.get("/api/sensors/NOPE/history", headers=viewer)
    assert r.status_code == 404 and "NOPE" in r.json()["detail"]
    r = client.get("/api/history", params={"tags": ["T1.LT", "NOPE"]}, headers=viewer)
    assert r.status_code == 404
    r = client.get("/api/sensors/T1.LT/history", params={"since": 10, "until": 5}, headers=viewer)
    assert r.status_code == 422
    for points in (0, 5001):
        r = client.get("/api/sensors/T1.LT/history", params={"points": points}, headers=viewer)
        assert r.status_code == 422
    assert client.get("/api/history", headers=viewer).status_code == 422


def test_a_store_that_cannot_answer_is_a_503(
    app_parts: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, accounts, _ = app_parts

    def down(*args: object) -> None:
        raise StoreError("http://127.0.0.1:1: connection refused")

    monkeypatch.setattr(client.app.state.view, "history_fn", down)  # type: ignore[attr-defined]
    r = client.get("/api/sensors/T1.LT/history", headers=bearer(accounts, Role.VIEWER))
    assert r.status_code == 503 and "connection refused" in r.json()["detail"]
