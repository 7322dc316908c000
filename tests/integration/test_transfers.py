"""Transfer plans through the service: the API, the book on disk and OVERRUN alarms."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from hazardwatch.shell.service import Service, Settings
from hazardwatch.shell.timers import PlanExpiry
from hazardwatch.storage.accounts import Role
from hazardwatch.vocabulary.clock import FakeClock
from hazardwatch.vocabulary.model import Batch, Kind, Limits, Site
from hazardwatch.vocabulary.transfers import TransferBook, TransferError, plan_for
from tests.accounts import CHEAP, bearer
from tests.factories import enterprise, hazard_source, sensor, site, table, unit

T0 = 1_763_800_000.0
LOCAL = "http://127.0.0.1:8000"  # the service answers only its own Host names
LEVEL = Limits(hh=16.4, h=15.8, l=2.4, ll=2.0)


def park() -> Site:
    return site(
        enterprise(
            "e1",
            hazard_source(
                "hs1",
                unit(
                    "T201",
                    sensor("T201-TT", Kind.TEMPERATURE, hi=60.0, limits=Limits(h=40.0)),
                    sensor("T201-LT", Kind.LEVEL, hi=18.0, limits=LEVEL, period_s=10.0),
                ),
                unit("T202", sensor("T202-LT", Kind.LEVEL, hi=18.0, limits=LEVEL)),
            ),
        )
    )


class Park:
    """A service on a fake clock with its HTTP client; `restart()` reopens its data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir, self.clock = data_dir, FakeClock(T0)
        self.svc = Service(park(), Settings(data_dir=data_dir), clock=self.clock)
        self.http = self._client()

    def _client(self) -> TestClient:
        """An HTTP client of the operator Li (kept in the data dir's accounts)."""
        self.svc.accounts.hasher = CHEAP
        headers = bearer(self.svc.accounts, Role.OPERATOR, "Li")
        return TestClient(self.svc.app, base_url=LOCAL, headers=headers)

    def level(self, tag: str, dt: float, value: float) -> None:
        self.clock.set(T0 + dt)
        row = self.svc.table.tag_index[tag]
        self.svc.handle_batch(Batch.of([row], [T0 + dt], [value]))

    def overruns(self) -> list[dict]:
        alarms = self.http.get("/api/alarms", params={"include_closed": True}).json()["alarms"]
        return [a for a in alarms if a["condition"] == "overrun"]

    def restart(self) -> None:
        self.close()
        self.svc = Service(park(), Settings(data_dir=self.data_dir), clock=self.clock)
        self.http = self._client()

    def close(self) -> None:
        self.http.close()
        self.svc.close()


@pytest.fixture
def plant(tmp_path: Path) -> Iterator[Park]:
    p = Park(tmp_path)
    yield p
    p.close()


def test_a_fill_past_its_plan_raises_overrun_and_closing_the_plan_clears_it(plant: Park) -> None:
    plant.level("T201-LT", 0, 13.4)
    made = plant.http.post("/api/transfers", json={"unit": "T201", "target": 13.5, "by": "Li"})
    assert made.status_code == 201, made.text
    plan = made.json()
    assert (plan["tag"], plan["direction"], plan["open"]) == ("T201-LT", "fill", True)
    for k in range(8):  # the smoothed level passes 13.5 + 0.18 on the sixth
        plant.level("T201-LT", 10 * (k + 1), 13.8)
    (alarm,) = plant.overruns()
    assert (alarm["tag"], alarm["value"], alarm["state"]) == ("T201-LT", 13.8, "active_unack")
    assert alarm["category"] == "early_warning"
    closed = plant.http.post(f"/api/transfers/{plan['id']}/close", json={"by": "Li"})
    assert closed.json()["close_reason"] == "closed"
    (alarm,) = plant.overruns()
    assert alarm["state"] == "cleared_unack"
    again = plant.http.post(f"/api/transfers/{plan['id']}/close", json={"by": "Li"})
    assert again.status_code == 409 and "already closed" in again.json()["detail"]


def test_plans_survive_a_restart_and_keep_watching(plant: Park) -> None:
    plant.level("T201-LT", 0, 12.0)
    plant.http.post("/api/transfers", json={"tag": "T201-LT", "target": 13.0, "by": "Li"})
    plant.restart()
    (kept,) = plant.http.get("/api/transfers").json()["transfers"]
    assert (kept["tag"], kept["target"]) == ("T201-LT", 13.0)
    plant.level("T201-LT", 100, 13.5)
    assert [a["value"] for a in plant.overruns()] == [13.5]


def test_a_new_plan_replaces_the_open_one_of_its_tank(plant: Park) -> None:
    plant.level("T201-LT", 0, 12.0)
    first = plant.http.post("/api/transfers", json={"unit": "T201", "target": 13, "by": "Li"})
    plant.http.post("/api/transfers", json={"unit": "T201", "target": 14, "by": "Wang"})
    everything = plant.http.get("/api/transfers", params={"include_closed": True}).json()
    reasons = {t["id"]: t["close_reason"] for t in everything["transfers"]}
    assert reasons[first.json()["id"]] == "replaced" and list(reasons.values()).count(None) == 1


def test_plans_expire_at_the_tick(plant: Park) -> None:
    plant.level("T201-LT", 0, 12.0)
    body = {"unit": "T201", "target": 13, "by": "Li", "expires_in_s": 60}
    made = plant.http.post("/api/transfers", json=body).json()
    (expiry,) = [t for t in plant.svc.ticker.timers if isinstance(t, PlanExpiry)]
    assert expiry.next_due() == T0 + 60
    plant.svc.tick(T0 + 59)
    assert [t["id"] for t in plant.http.get("/api/transfers").json()["transfers"]] == [made["id"]]
    plant.svc.tick(T0 + 61)
    everything = plant.http.get("/api/transfers", params={"include_closed": True}).json()
    (gone,) = everything["transfers"]
    assert (gone["close_reason"], gone["closed_ts"]) == ("expired", T0 + 61)
    assert plant.http.get("/api/transfers").json() == {"transfers": []}


def test_an_expired_plan_clears_its_overrun_through_the_pipeline(plant: Park) -> None:
    heard: list[tuple[str, str]] = []
    plant.svc.sinks.append(
        lambda events: heard.extend((e.alarm.condition.label, e.event.value) for e in events)
    )
    plant.level("T201-LT", 0, 13.4)
    body = {"unit": "T201", "target": 13.5, "by": "Li", "expires_in_s": 600}
    plant.http.post("/api/transfers", json=body)
    for k in range(8):  # the smoothed level passes 13.5 + 0.18 on the sixth
        plant.level("T201-LT", 10 * (k + 1), 13.8)
    (alarm,) = plant.overruns()
    assert alarm["state"] == "active_unack" and heard == [("overrun", "activate")]
    plant.svc.tick(T0 + 600)
    (alarm,) = plant.overruns()
    assert (alarm["state"], alarm["cleared_ts"]) == ("cleared_unack", T0 + 600)
    # The same tick finds the silent sensors too: communication loss, then the plan.
    assert [h for h in heard if h[0] == "overrun"] == [
        ("overrun", "activate"),
        ("overrun", "clear"),
    ]


@pytest.mark.parametrize(
    "body, words",
    [
        ({"unit": "T999", "target": 13}, "unit 'T999' unknown"),
        ({"tag": "T201-TT", "target": 13}, "temperature sensor: a plan needs a level sensor"),
        ({"unit": "T201", "tag": "T201-LT", "target": 13}, "exactly one of unit or tag"),
        ({"unit": "T201", "target": 16.5}, "at or past HH 16.4"),
        ({"unit": "T201", "target": 19}, "outside its range 0..18"),
        ({"unit": "T202", "target": 13}, "no level reading yet: give direction"),
        ({"unit": "T201", "target": 13, "tolerance": 9}, "must be > 0 and <= 4.5"),
    ],
)
def test_a_plan_the_site_cannot_take_is_refused_with_the_reason(
    plant: Park, body: dict, words: str
) -> None:
    plant.level("T201-LT", 0, 12.0)
    answer = plant.http.post("/api/transfers", json={**body, "by": "Li"})
    assert answer.status_code == 422 and words in answer.json()["detail"], answer.text


@pytest.mark.parametrize("target", ["NaN", "Infinity", "high", None])
def test_a_target_that_is_no_number_is_refused_by_the_schema(plant: Park, target: object) -> None:
    answer = plant.http.post(
        "/api/transfers",
        content=f'{{"unit": "T201", "by": "Li", "target": {target or "null"}}}'.replace(
            "high", '"high"'
        ),
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 422


def test_the_book_refuses_an_unknown_tag_and_plan_for_derives_the_direction(
    tmp_path: Path,
) -> None:
    tab = table(park())
    book = TransferBook(tmp_path / "t.db", tab)
    try:
        down = plan_for(tab, tag="T201-LT", target=5.0, ts=T0, current=9.0)
        assert down.direction == -1
        with pytest.raises(TransferError, match="already at 5"):
            plan_for(tab, tag="T201-LT", target=5.0, ts=T0, current=5.0)
        with pytest.raises(TransferError, match="unknown tag"):
            book.add(down.__class__("nope", 5.0, -1, T0))
    finally:
        book.close()
