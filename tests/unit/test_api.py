"""REST API v1, the live stream and the Hub, against a real AlarmManager and journal."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

with warnings.catch_warnings():
    # Starlette asks for `httpx2` (not installed here); the `httpx` it falls back to works.
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from alerting import AlarmEvent, AlarmManager, Journal, build_pipeline
from dashboards import (
    RESYNC,
    Hub,
    HubNotifier,
    ServiceAdapter,
    alarm_message,
    create_app,
    risk_message,
)
from dashboards.app import STATIC_DIR
from hazardwatch.storage import StoreError
from hazardwatch.storage.accounts import Accounts, Role
from hazardwatch.vocabulary.clock import FakeClock
from hazardwatch.vocabulary.model import (
    AlarmState,
    Condition,
    ConditionChange,
    Kind,
    Limits,
    Quality,
    Responsible,
    Sensor,
    SensorTable,
    Site,
    Unit,
)
from tests.accounts import bearer
from tests.factories import enterprise, hazard_source, sensor, site, unit

T0 = 1_763_800_000.0

# ------------------------------------------------------------------ a small park


def _sensor(tag: str, kind: Kind, unit: str, hi: float, limits: Limits) -> Sensor:
    substance = "methane" if kind.is_gas else None
    return sensor(
        tag, kind, unit=unit, hi=hi, limits=limits, deadband=0.01 * hi, substance=substance
    )


def _tank(tank_id: str, *sensors: Sensor) -> Unit:
    return unit(tank_id, *sensors, substance="gasoline", capacity_m3=5000.0)


def make_site() -> Site:
    """Two enterprises, three hazard sources, five sensors."""
    people = Responsible(main="Li Ming", technical="Wang Fang", operation="Zhao Lei")
    level = Limits(hh=18.0, h=16.0, l=2.0, ll=1.0)
    return site(
        enterprise(
            "ent1",
            hazard_source(
                "hs1",
                _tank(
                    "T101",
                    _sensor("T101.LT", Kind.LEVEL, "m", 20.0, level),
                    _sensor("T101.TT", Kind.TEMPERATURE, "degC", 100.0, Limits(h=40.0)),
                ),
                name="汽油罐区 Gasoline tank farm",
                grade=1,
                responsible=people,
            ),
            hazard_source(
                "hs2",
                _tank(
                    "T201",
                    _sensor(
                        "T201.GT", Kind.GAS_COMBUSTIBLE, "%LEL", 100.0, Limits(hh=50.0, h=25.0)
                    ),
                ),
                name="液化气罐区 LPG",
                grade=3,
                responsible=people,
            ),
            name="东方石化 Dongfang",
        ),
        enterprise(
            "ent2",
            hazard_source(
                "hs3",
                _tank(
                    "T301",
                    _sensor("T301.PT", Kind.PRESSURE, "kPa", 500.0, Limits(hh=400.0)),
                    _sensor("T301.LT", Kind.LEVEL, "m", 20.0, level),
                ),
                name="甲醇罐区 Methanol",
                grade=2,
                responsible=people,
            ),
            name="西海化工 Xihai",
        ),
        park="测试化工园区 Test Park",
    )


@dataclass
class Park:
    """The real parts a service would hand the dashboards: manager, journal, hub, arrays."""

    site: Site
    table: SensorTable
    journal: Journal
    clock: FakeClock
    manager: AlarmManager
    hub: Hub
    value: np.ndarray
    ts: np.ndarray
    bits: np.ndarray
    stored: dict[int, list[tuple[float, float, int]]] = field(default_factory=dict)
    queries: list[tuple[int, float | None, float | None, int]] = field(default_factory=list)
    store_down: bool = False

    def __post_init__(self) -> None:
        self.pipeline = build_pipeline(self.manager, [HubNotifier(self.hub)], self.clock)

    @classmethod
    def build(cls, journal_path: Path, hub: Hub | None = None) -> Park:
        site = make_site()
        table = SensorTable.from_site(site)
        journal = Journal(journal_path)
        clock = FakeClock(T0)
        return cls(
            site=site,
            table=table,
            journal=journal,
            clock=clock,
            manager=AlarmManager(table, journal, clock),
            hub=hub or Hub(),
            value=np.full(table.n, np.nan),
            ts=np.full(table.n, np.nan),
            bits=np.zeros(table.n, np.uint32),
        )

    def view(self) -> ServiceAdapter:
        return ServiceAdapter(
            site=self.site,
            table=self.table,
            alarms=self.manager,
            hub=self.hub,
            latest_fn=lambda: (self.value, self.ts, self.bits),
            readings_fn=self._readings,
            health_fn=lambda: {"ingest": {"accepted": 7, "rejected": {"bad_json": 1}}},
            pipeline=self.pipeline,
        )

    def _readings(
        self, sensor: int, since: float | None, until: float | None, limit: int
    ) -> list[tuple[float, float, int]]:
        self.queries.append((sensor, since, until, limit))
        if self.store_down:
            raise StoreError("reading store at http://127.0.0.1:1: connection refused")
        rows = [
            r
            for r in self.stored.get(sensor, [])
            if (since is None or r[0] >= since) and (until is None or r[0] <= until)
        ]
        return rows[:limit]

    def change(
        self,
        tag: str,
        condition: Condition,
        active: bool,
        value: float,
        eta_ts: float | None = None,
        *,
        publish: bool = False,
    ) -> AlarmEvent:
        """Apply one condition change at the clock's time; mirror it in the latest arrays.

        `eta_ts` is a PREDICT_* alarm's time of crossing; giving a new one for an active
        alarm makes an UPDATE event. With `publish` it goes through the view's alarm
        pipeline, as the service's changes do (the hub hears it); without, it is only
        journalled.
        """
        i = self.table.tag_index[tag]
        now = self.clock.now()
        self.value[i], self.ts[i] = value, now
        bits = int(self.bits[i])
        self.bits[i] = (bits | condition.bit) if active else (bits & ~condition.bit)
        severity = condition.severity
        change = ConditionChange(i, condition, active, value, now, severity, eta_ts=eta_ts)
        if publish:
            (event,) = self.pipeline.run([change])
        else:
            (event,) = self.manager.apply([change])
        self.clock.advance(1.0)
        return event


@pytest.fixture
def client(park: Park, accounts: Accounts) -> Iterator[TestClient]:
    """The app with an operator's bearer token on every request (tests/unit/test_auth*.py
    are about who may call what)."""
    headers = bearer(accounts, Role.OPERATOR, "Zhang Wei")
    with TestClient(create_app(park.view(), accounts=accounts), headers=headers) as c:
        yield c


def _detail_messages(body: dict[str, Any]) -> str:
    return " | ".join(d["msg"] for d in body["detail"])


# ------------------------------------------------------------------ service routes


def test_health_reports_ok_with_ingest_and_live_counters(client: TestClient) -> None:
    r = client.get("/api/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["ingest"]["rejected"] == {"bad_json": 1}
    assert body["live"]["subscribers"] == 0


def test_site_names_the_park_and_its_enterprises(client: TestClient) -> None:
    body = client.get("/api/site").json()
    assert body["park"] == "测试化工园区 Test Park"
    assert [e["id"] for e in body["enterprises"]] == ["ent1", "ent2"]
    assert body["enterprises"][0]["hazard_sources"] == ["hs1", "hs2"]
    assert body["sensors"] == 5


def test_openapi_documents_every_v1_route(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/health",
        "/api/alarms",
        "/api/alarms/{alarm_id}",
        "/api/alarms/{alarm_id}/ack",
        "/api/sensors",
        "/api/sensors/{tag}/readings",
        "/api/hazard-sources",
        "/api/live",
    ):
        assert path in paths
    assert client.get("/docs").status_code == 200


# ------------------------------------------------------------------ alarms


def test_alarms_lists_open_alarms_most_urgent_then_newest_first(
    park: Park, client: TestClient
) -> None:
    medium = park.change("T101.TT", Condition.H, True, 41.0)
    high_old = park.change("T101.LT", Condition.HH, True, 18.5)
    high_new = park.change("T301.PT", Condition.HH, True, 420.0)
    alarms = client.get("/api/alarms").json()["alarms"]
    assert [a["id"] for a in alarms] == [high_new.alarm.id, high_old.alarm.id, medium.alarm.id]
    first = alarms[0]
    assert first["tag"] == "T301.PT"
    assert first["condition"] == "hh"
    assert first["priority"] == "high"
    assert first["state"] == "active_unack"
    assert first["enterprise"] == "ent2"
    assert first["hazard_source"] == "hs3"
    assert first["unit"] == "T301"
    assert first["value"] == 420.0


def test_early_warning_carries_its_category_and_predicted_time_of_crossing(
    park: Park, client: TestClient
) -> None:
    alarm = park.change("T101.LT", Condition.HH, True, 18.5)
    warning = park.change("T301.LT", Condition.PREDICT_HH, True, 15.0, eta_ts=T0 + 1200)
    fault = park.change("T101.TT", Condition.STUCK, True, 21.0)
    by_id = {a["id"]: a for a in client.get("/api/alarms").json()["alarms"]}
    assert by_id[warning.alarm.id]["condition"] == "predict_hh"
    assert by_id[warning.alarm.id]["category"] == "early_warning"
    assert by_id[warning.alarm.id]["eta_ts"] == T0 + 1200
    assert (by_id[alarm.alarm.id]["category"], by_id[alarm.alarm.id]["eta_ts"]) == ("process", None)
    assert by_id[fault.alarm.id]["category"] == "instrument"

    update = park.change("T301.LT", Condition.PREDICT_HH, True, 15.8, eta_ts=T0 + 700)
    assert (update.event.value, update.from_state, update.to_state) == (
        "update",
        AlarmState.ACTIVE_UNACK,
        AlarmState.ACTIVE_UNACK,
    )
    got = client.get(f"/api/alarms/{warning.alarm.id}").json()
    assert (got["eta_ts"], got["value"], got["state"]) == (T0 + 700, 15.8, "active_unack")
    sensors = {x["tag"]: x for x in client.get("/api/sensors").json()["sensors"]}
    assert sensors["T301.LT"]["conditions"] == ["predict_hh"]


def test_alarm_filters_select_by_state_place_priority_and_limit(
    park: Park, client: TestClient
) -> None:
    level = park.change("T101.LT", Condition.HH, True, 18.5)
    temp = park.change("T101.TT", Condition.H, True, 41.0)
    pressure = park.change("T301.PT", Condition.HH, True, 420.0)
    park.manager.acknowledge(pressure.alarm.id, "Zhang")

    def ids(query: str) -> set[int]:
        r = client.get(f"/api/alarms?{query}")
        assert r.status_code == 200, r.text
        return {a["id"] for a in r.json()["alarms"]}

    assert ids("state=active_ack") == {pressure.alarm.id}
    assert ids("state=active_unack") == {level.alarm.id, temp.alarm.id}
    assert ids("enterprise=ent1") == {level.alarm.id, temp.alarm.id}
    assert ids("hazard_source=hs3") == {pressure.alarm.id}
    assert ids("priority=medium") == {temp.alarm.id}
    assert ids("priority=high&enterprise=ent1") == {level.alarm.id}
    assert len(ids("limit=1")) == 1

    # Cleared after the ack, the pressure alarm is closed: only include_closed shows it.
    park.change("T301.PT", Condition.HH, False, 300.0)
    assert pressure.alarm.id not in ids("")
    assert pressure.alarm.id in ids("include_closed=true")
    assert ids("state=normal") == {pressure.alarm.id}


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ("state=burning", "state", "active_unack"),
        ("priority=urgent", "priority", "high"),
        ("limit=0", "limit", "greater than or equal to 1"),
        ("limit=5001", "limit", "less than or equal to 5000"),
        ("include_closed=perhaps", "include_closed", "boolean"),
        ("enterprise=ent9", "enterprise", "unknown enterprise 'ent9'; known: ent1, ent2"),
        ("hazard_source=hs9", "hazard_source", "unknown hazard_source 'hs9'"),
    ],
)
def test_invalid_alarm_filters_are_422_naming_the_field(
    client: TestClient, query: str, field: str, words: str
) -> None:
    r = client.get(f"/api/alarms?{query}")
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail[0]["loc"] == ["query", field]
    assert words in _detail_messages(r.json())


def test_get_alarm_by_id_and_404_for_an_unknown_id(park: Park, client: TestClient) -> None:
    event = park.change("T101.LT", Condition.HH, True, 18.5)
    r = client.get(f"/api/alarms/{event.alarm.id}")
    assert r.status_code == 200
    assert r.json()["tag"] == "T101.LT"
    r = client.get("/api/alarms/9999")
    assert r.status_code == 404
    assert r.json() == {"detail": "no alarm with id 9999"}
    assert client.get("/api/alarms/abc").status_code == 422


def test_ack_moves_the_alarm_to_active_ack_and_answers_the_event(
    park: Park, client: TestClient
) -> None:
    raised = park.change("T101.LT", Condition.HH, True, 18.5)
    # the name is the logged-in user's, whatever the body claims
    r = client.post(
        f"/api/alarms/{raised.alarm.id}/ack", json={"who": "Mallory", "comment": "seen"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["event"] == "ack"
    assert (body["from_state"], body["to_state"]) == ("active_unack", "active_ack")
    assert body["seq"] > raised.seq
    assert body["alarm"]["acked_by"] == "Zhang Wei"
    assert body["alarm"]["ack_comment"] == "seen"
    assert park.manager.get(raised.alarm.id).state is AlarmState.ACTIVE_ACK


def test_ack_twice_is_409_saying_already_acknowledged(park: Park, client: TestClient) -> None:
    raised = park.change("T101.LT", Condition.HH, True, 18.5)
    assert client.post(f"/api/alarms/{raised.alarm.id}/ack", json={"who": "a"}).status_code == 200
    r = client.post(f"/api/alarms/{raised.alarm.id}/ack", json={"who": "b"})
    assert r.status_code == 409
    assert r.json() == {
        "detail": f"cannot acknowledge alarm {raised.alarm.id}: "
        "it is active_ack (already acknowledged)"
    }


def test_ack_of_a_closed_alarm_is_409_and_of_an_unknown_one_404(
    park: Park, client: TestClient
) -> None:
    raised = park.change("T101.LT", Condition.HH, True, 18.5)
    park.manager.acknowledge(raised.alarm.id, "a")
    park.change("T101.LT", Condition.HH, False, 15.0)
    r = client.post(f"/api/alarms/{raised.alarm.id}/ack", json={"who": "b"})
    assert r.status_code == 409
    assert "it is normal (closed, back to normal)" in r.json()["detail"]
    r = client.post("/api/alarms/4242/ack", json={"who": "b"})
    assert r.status_code == 404
    assert r.json() == {"detail": "no alarm with id 4242"}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"comment": "x" * 501}, "at most 500 characters"),
        ({"who": "x" * 65}, "at most 64 characters"),
        ({"who": "a", "by_the_way": 1}, "Extra inputs are not permitted"),
    ],
)
def test_ack_body_out_of_shape_is_422(
    park: Park, client: TestClient, body: dict[str, Any], words: str
) -> None:
    raised = park.change("T101.LT", Condition.HH, True, 18.5)
    r = client.post(f"/api/alarms/{raised.alarm.id}/ack", json=body)
    assert r.status_code == 422
    assert words in _detail_messages(r.json())
    assert park.manager.get(raised.alarm.id).state is AlarmState.ACTIVE_UNACK


async def test_ack_publishes_the_event_and_the_colour_it_changes(
    park: Park, client: TestClient
) -> None:
    raised = park.change("T201.GT", Condition.GAS1, True, 30.0)
    park.change("T201.GT", Condition.GAS1, False, 10.0)  # cleared, still unacknowledged
    async with park.hub.subscribe() as sub:
        r = client.post(f"/api/alarms/{raised.alarm.id}/ack", json={"who": "Zhang"})
        assert r.status_code == 200
        alarm = await sub.receive(timeout_s=5)
        risk = await sub.receive(timeout_s=5)
    assert alarm is not None and alarm["type"] == "alarm"
    assert alarm["seq"] == r.json()["seq"]
    assert alarm["to_state"] == "normal"
    assert risk == {"type": "risk", "hazard_source": "hs2", "colour": "blue"}


async def test_ack_of_an_active_alarm_publishes_no_colour_change(
    park: Park, client: TestClient
) -> None:
    raised = park.change("T101.LT", Condition.HH, True, 18.5)
    async with park.hub.subscribe() as sub:
        client.post(f"/api/alarms/{raised.alarm.id}/ack", json={"who": "Zhang"})
        first = await sub.receive(timeout_s=5)
        assert first is not None and first["to_state"] == "active_ack"
        assert await sub.receive(timeout_s=0.05) is None


# ------------------------------------------------------------------ sensors


def test_sensors_carry_place_limits_latest_value_and_active_conditions(
    park: Park, client: TestClient
) -> None:
    park.change("T101.LT", Condition.H, True, 16.5)
    park.change("T101.LT", Condition.HH, True, 18.5)
    sensors = client.get("/api/sensors").json()["sensors"]
    assert [s["tag"] for s in sensors] == list(park.table.tags)
    level = sensors[0]
    assert level == {
        "tag": "T101.LT",
        "kind": "level",
        "unit": "m",
        "enterprise": "ent1",
        "hazard_source": "hs1",
        "unit_id": "T101",
        "limits": {"hh": 18.0, "h": 16.0, "l": 2.0, "ll": 1.0},
        "range": {"lo": 0.0, "hi": 20.0},
        "value": 18.5,
        "ts": T0 + 1.0,
        "conditions": ["hh", "h"],
    }
    never = sensors[1]
    assert never["limits"] == {"hh": None, "h": 40.0, "l": None, "ll": None}
    assert (never["value"], never["ts"], never["conditions"]) == (None, None, [])


def test_sensor_filters_and_unknown_place_is_422(client: TestClient) -> None:
    tags = [s["tag"] for s in client.get("/api/sensors?enterprise=ent2").json()["sensors"]]
    assert tags == ["T301.PT", "T301.LT"]
    tags = [s["tag"] for s in client.get("/api/sensors?hazard_source=hs2").json()["sensors"]]
    assert tags == ["T201.GT"]
    r = client.get("/api/sensors?hazard_source=nowhere")
    assert r.status_code == 422
    assert "unknown hazard_source 'nowhere'" in _detail_messages(r.json())


def test_readings_pass_the_window_to_the_store_and_come_back_ascending(
    park: Park, client: TestClient
) -> None:
    i = park.table.tag_index["T101.LT"]
    park.stored[i] = [(T0 + k, 10.0 + k, int(Quality.GOOD)) for k in range(5)]
    park.stored[i][3] = (T0 + 3, 13.0, int(Quality.BAD))
    r = client.get(f"/api/sensors/T101.LT/readings?since={T0 + 1}&until={T0 + 3}&limit=10")
    assert r.status_code == 200
    assert park.queries[-1] == (i, T0 + 1, T0 + 3, 10)
    assert r.json() == {
        "tag": "T101.LT",
        "unit": "m",
        "readings": [
            {"ts": T0 + 1, "value": 11.0, "quality": "good"},
            {"ts": T0 + 2, "value": 12.0, "quality": "good"},
            {"ts": T0 + 3, "value": 13.0, "quality": "bad"},
        ],
    }
    assert park.queries[-1][3] == 10
    client.get("/api/sensors/T101.LT/readings")
    assert park.queries[-1] == (i, None, None, 1000)


def test_readings_while_the_store_is_down_are_a_503_that_says_so(
    park: Park, client: TestClient
) -> None:
    park.store_down = True
    r = client.get("/api/sensors/T101.LT/readings")
    assert r.status_code == 503
    assert "reading store cannot answer now" in r.json()["detail"]
    assert "connection refused" in r.json()["detail"]
    park.store_down = False
    assert client.get("/api/sensors/T101.LT/readings").status_code == 200


def test_readings_of_an_unknown_tag_404_and_a_bad_window_422(client: TestClient) -> None:
    r = client.get("/api/sensors/NOPE/readings")
    assert r.status_code == 404
    assert r.json() == {"detail": "no sensor with tag 'NOPE'"}
    r = client.get(f"/api/sensors/T101.LT/readings?since={T0 + 10}&until={T0}")
    assert r.status_code == 422
    assert "is before since" in _detail_messages(r.json())
    r = client.get("/api/sensors/T101.LT/readings?since=nan")
    assert r.status_code == 422
    assert "finite" in _detail_messages(r.json())
    assert client.get("/api/sensors/T101.LT/readings?limit=0").status_code == 422
    assert client.get("/api/sensors/T101.LT/readings?since=yesterday").status_code == 422


# ------------------------------------------------------------------ hazard sources


def test_hazard_sources_carry_risk_colour_and_open_counts(park: Park, client: TestClient) -> None:
    park.change("T101.LT", Condition.HH, True, 18.5)
    temp = park.change("T101.TT", Condition.H, True, 41.0)
    park.manager.acknowledge(temp.alarm.id, "Zhang")
    park.change("T201.GT", Condition.GAS1, True, 30.0)
    sources = {s["id"]: s for s in client.get("/api/hazard-sources").json()["hazard_sources"]}
    assert list(sources) == ["hs1", "hs2", "hs3"]
    hs1 = sources["hs1"]
    assert hs1["name"] == "汽油罐区 Gasoline tank farm"
    assert (hs1["enterprise"], hs1["enterprise_name"], hs1["grade"]) == (
        "ent1",
        "东方石化 Dongfang",
        1,
    )
    assert hs1["responsible"] == {
        "main": "Li Ming",
        "technical": "Wang Fang",
        "operation": "Zhao Lei",
    }
    assert hs1["colour"] == "red"
    assert hs1["open"] == {"high": 1, "medium": 1, "low": 0, "total": 2, "unacked": 1}
    assert sources["hs2"]["colour"] == "orange"
    assert sources["hs2"]["open"]["medium"] == 1
    assert sources["hs3"]["colour"] == "blue"
    assert sources["hs3"]["open"]["total"] == 0


# ------------------------------------------------------------------ the live stream


def _stream_body(client: TestClient, hub: Hub, then: list[dict[str, Any]], idle_s: float) -> str:
    """GET /api/live while a helper thread waits for the subscriber, publishes, then closes.

    The TestClient returns only when the stream ends, which the helper guarantees.
    """

    def feed() -> None:
        try:
            deadline = time.monotonic() + 5.0
            while hub.subscribers == 0 and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(idle_s)
            for event in then:
                hub.publish(event)
        finally:
            hub.close()

    helper = threading.Thread(target=feed)
    helper.start()
    try:
        r = client.get("/api/live")
    finally:
        helper.join(timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    return r.text


def _data(body: str) -> list[dict[str, Any]]:
    return [
        json.loads(line[len("data: ") :]) for line in body.splitlines() if line.startswith("data: ")
    ]


def test_live_stream_sends_alarm_and_risk_events_as_json(park: Park, client: TestClient) -> None:
    lost = park.change("T301.PT", Condition.COMM_LOSS, True, float("nan"))
    body = _stream_body(
        client, park.hub, [alarm_message(lost), risk_message("hs3", "orange")], idle_s=0.0
    )
    assert body.startswith("retry: 3000\n\n")
    alarm, risk = _data(body)
    assert alarm["type"] == "alarm"
    assert alarm["seq"] == lost.seq
    assert alarm["alarm"]["condition"] == "comm_loss"
    assert alarm["alarm"]["value"] is None  # NaN travels as null
    assert risk == {"type": "risk", "hazard_source": "hs3", "colour": "orange"}
    assert park.hub.subscribers == 0


def test_live_stream_sends_an_update_with_the_new_eta(park: Park, client: TestClient) -> None:
    park.change("T101.LT", Condition.PREDICT_HH, True, 15.0, eta_ts=T0 + 1200)
    update = park.change("T101.LT", Condition.PREDICT_HH, True, 15.9, eta_ts=T0 + 600)
    body = _stream_body(client, park.hub, [alarm_message(update)], idle_s=0.0)
    [pushed] = _data(body)
    assert (pushed["event"], pushed["from_state"], pushed["to_state"]) == (
        "update",
        "active_unack",
        "active_unack",
    )
    assert (pushed["alarm"]["eta_ts"], pushed["alarm"]["value"]) == (T0 + 600, 15.9)


def test_live_stream_sends_heartbeat_comments_when_idle(park: Park, accounts: Accounts) -> None:
    app = create_app(park.view(), accounts=accounts, heartbeat_s=0.01)
    with TestClient(app, headers=bearer(accounts, Role.VIEWER)) as client:
        body = _stream_body(client, park.hub, [{"type": "risk"}], idle_s=0.1)
    assert ": heartbeat\n\n" in body
    assert _data(body) == [{"type": "risk"}]


def test_live_stream_ends_at_once_after_the_hub_closed(park: Park, client: TestClient) -> None:
    park.hub.close()
    r = client.get("/api/live")
    assert r.status_code == 200
    assert _data(r.text) == []


# ------------------------------------------------------------------ the Hub


async def test_hub_delivers_to_every_subscriber_in_order() -> None:
    hub = Hub()
    async with hub.subscribe() as a, hub.subscribe() as b:
        assert hub.subscribers == 2
        for k in range(3):
            hub.publish({"type": "n", "k": k})
        assert [(await a.receive(1))["k"] for _ in range(3)] == [0, 1, 2]  # type: ignore[index]
        assert [(await b.receive(1))["k"] for _ in range(3)] == [0, 1, 2]  # type: ignore[index]
    assert hub.subscribers == 0


async def test_hub_slow_subscriber_gets_resync_instead_of_blocking() -> None:
    hub = Hub(maxsize=3)
    async with hub.subscribe() as slow:
        for k in range(10):
            hub.publish({"type": "n", "k": k})  # never blocks, however far behind `slow` is
        got = [await slow.receive(0.05) for _ in range(4)]
    assert got[0] == RESYNC
    assert [g["k"] for g in got[1:] if g is not None] == [9]
    assert hub.stats()["dropped"] > 0


async def test_hub_publish_from_another_thread_reaches_the_loop() -> None:
    hub = Hub()
    async with hub.subscribe() as sub:
        t = threading.Thread(target=hub.publish, args=({"type": "from-thread"},))
        t.start()
        t.join(timeout=5)
        hub.publish_threadsafe(asyncio.get_running_loop(), {"type": "via-loop"})
        assert await sub.receive(5) == {"type": "from-thread"}
        assert await sub.receive(5) == {"type": "via-loop"}


async def test_hub_close_ends_iteration_after_queued_events() -> None:
    hub = Hub()
    async with hub.subscribe() as sub:
        hub.publish({"type": "last"})
        hub.close()
        assert [e async for e in sub] == [{"type": "last"}]
        assert sub.closed
    async with hub.subscribe() as late:
        assert late.closed
        assert await late.receive(5) is None


def test_hub_refuses_a_queue_of_zero() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Hub(maxsize=0)


# ------------------------------------------------------------------ the page


def test_root_serves_the_control_room_page_and_its_assets(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert 'data-testid="alarm-list"' in r.text
    for asset in ("/static/app.js", "/static/style.css"):
        assert client.get(asset).status_code == 200
    assert client.get("/static/nothing.js").status_code == 404


def test_page_references_nothing_outside_the_server() -> None:
    # An isolated command-room network has no CDN: every URL in the page must be local.
    for path in STATIC_DIR.iterdir():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.IGNORECASE), path.name
        assert "@import" not in text and "@font-face" not in text, path.name


_REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\(\s*["']?([^"')]+)""", re.I)
_ABSOLUTE = re.compile(r"(?:[a-z][a-z0-9+.-]*:)?//", re.I)


def _references(text: str) -> list[str]:
    """Every URL an HTML page or a stylesheet loads (src, href, CSS url()), data: left out."""
    found = [a or b for a, b in _REFERENCE.findall(text)]
    return [u.strip() for u in found if not u.strip().startswith(("data:", "#"))]


def test_no_page_of_the_app_references_an_outside_host(client: TestClient) -> None:
    """/, /docs, /redoc and what they load, our static files and the docs' stylesheet:
    every URL is on the app itself, so an isolated command room loses nothing."""
    pages = ["/", "/docs", "/redoc", *(f"/static/{p.name}" for p in STATIC_DIR.iterdir())]
    seen: set[str] = set()
    while pages:
        path = pages.pop()
        if path in seen:
            continue
        seen.add(path)
        r = client.get(path)
        assert r.status_code == 200, path
        kind = r.headers["content-type"]
        if not kind.startswith(("text/html", "text/css")):
            continue  # scripts and images: served here; what they fetch, test_docs_offline
        # no address of another host anywhere in a page or a stylesheet we serve
        text = re.sub(r"url\(\s*[\"']?data:[^)]*\)", "", r.text)  # svg namespaces
        assert not re.search(r"https?://", text, re.I), (path, re.findall(r"https?://\S+", text))
        for url in _references(r.text):
            assert not _ABSOLUTE.match(url), (path, url)
            pages.append(url if url.startswith("/") else path.rsplit("/", 1)[0] + "/" + url)
    assert {"/static-docs/swagger-ui-bundle.js", "/static-docs/redoc.standalone.js"} <= seen
    assert '"validatorUrl": null' in client.get("/docs").text  # no badge from swagger.io
    for page in ("/docs", "/redoc"):  # and the browser refuses what a script would fetch
        assert "default-src 'self'" in client.get(page).headers["content-security-policy"]


def test_a_request_for_another_host_is_a_400(park: Park, accounts: Accounts) -> None:
    """DNS rebinding: a page of evil.example whose name now points here must get nothing."""
    hosts = ["127.0.0.1", "localhost", "hw.park.example"]
    app = create_app(park.view(), accounts=accounts, allowed_hosts=hosts)
    headers = bearer(accounts, Role.OPERATOR)
    with TestClient(app, base_url="http://127.0.0.1:8000", headers=headers) as client:
        assert client.get("/api/health").status_code == 200
        for host in ("localhost:8000", "hw.park.example", "HW.Park.Example:443"):
            assert client.get("/api/site", headers={"Host": host}).status_code == 200, host
        for host in ("evil.example", "evil.example:8000", "127.0.0.1.evil.example", "", "a b"):
            for path in ("/api/health", "/", "/docs", "/static/app.js"):
                r = client.get(path, headers={"Host": host})
                assert r.status_code == 400, (host, path)
                assert r.text == "Invalid host header"
        r = client.post("/api/alarms/1/ack", json={"who": "x"}, headers={"Host": "evil.example"})
        assert r.status_code == 400


def test_a_degraded_service_answers_503_with_its_reasons(park: Park, accounts: Accounts) -> None:
    view = park.view()
    why = ["broker: not connected to mqtt://127.0.0.1:1883; readings wait at the broker"]
    view.health_fn = lambda: {"status": "degraded", "reasons": why, "ingest": {}}
    with TestClient(create_app(view, accounts=accounts)) as client:
        r = client.get("/api/health")
    assert r.status_code == 503
    assert r.json()["status"] == "degraded" and r.json()["reasons"] == why


def test_a_latched_alarm_waiting_for_its_ack_counts_as_unacked(
    park: Park, client: TestClient
) -> None:
    park.change("T201.GT", Condition.GAS2, True, 60.0)
    park.change("T201.GT", Condition.GAS2, False, 5.0)  # back, but latched
    (alarm,) = client.get("/api/alarms").json()["alarms"]
    assert alarm["state"] == "latched_unack"
    hs2 = {s["id"]: s for s in client.get("/api/hazard-sources").json()["hazard_sources"]}["hs2"]
    assert hs2["open"]["unacked"] == 1
