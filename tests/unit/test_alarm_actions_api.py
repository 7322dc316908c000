"""The routes of the closed loop and the mutes (dashboards/alarm_actions_api.py), on the
real manager, journal and pipeline of a small park, with an operator's and an engineer's
bearer tokens."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from alerting import Event
from dashboards import create_app
from hazardwatch.storage.accounts import Accounts, Role
from hazardwatch.vocabulary.model import Condition
from tests.accounts import bearer
from tests.unit.test_api import Park, TestClient  # TestClient imported past its warning

H = 3600.0


@pytest.fixture
def client(park: Park, accounts: Accounts) -> Iterator[TestClient]:
    headers = bearer(accounts, Role.OPERATOR, "Zhang Wei")
    with TestClient(create_app(park.view(), accounts=accounts), headers=headers) as c:
        yield c


@pytest.fixture
def engineer(accounts: Accounts) -> dict[str, str]:
    return bearer(accounts, Role.ENGINEER, "Wang Fang")


def _event(r: Any) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    [event] = r.json()["events"]
    return event  # type: ignore[no-any-return]


def test_shelve_unshelve_name_the_logged_in_user_and_mark_the_alarm(
    park: Park, client: TestClient
) -> None:
    a = park.change("T101.LT", Condition.HH, True, 18.5)
    r = client.post(f"/api/alarms/{a.alarm.id}/shelve", json={"duration_s": H, "reason": "test"})
    e = _event(r)
    assert (e["event"], e["who"], e["why"], e["alarm"]["muted"]) == (
        "shelve",
        "Zhang Wei",
        "test",
        "shelved",
    )
    assert e["where"] == "testclient"
    [m] = client.get("/api/mutes").json()["mutes"]
    assert (m["kind"], m["target"], m["condition"], m["who"]) == (
        "shelved",
        "T101.LT",
        "hh",
        "Zhang Wei",
    )
    assert m["until_ts"] == park.clock.now() + H
    e = _event(client.post(f"/api/alarms/{a.alarm.id}/unshelve", json={"reason": "done"}))
    assert (e["event"], e["alarm"]["muted"]) == ("unshelve", None)
    r = client.post(f"/api/alarms/{a.alarm.id}/unshelve")
    assert r.status_code == 409 and "not shelved" in r.json()["detail"]


def test_a_shelve_past_the_maximum_or_without_a_reason_is_refused(
    park: Park, client: TestClient
) -> None:
    a = park.change("T101.LT", Condition.HH, True, 18.5)
    r = client.post(f"/api/alarms/{a.alarm.id}/shelve", json={"duration_s": 9 * H, "reason": "x"})
    assert r.status_code == 422 and "at most 8 h" in r.json()["detail"][0]["msg"]
    r = client.post(f"/api/alarms/{a.alarm.id}/shelve", json={"duration_s": H, "reason": " "})
    assert r.status_code == 422
    assert (
        client.post("/api/alarms/999/shelve", json={"duration_s": 1, "reason": "x"}).status_code
        == 404
    )
    assert client.get("/api/mutes").json()["mutes"] == []


def test_reset_of_a_latched_gas_alarm_is_refused_while_active_then_accepted(
    park: Park, client: TestClient
) -> None:
    a = park.change("T201.GT", Condition.GAS2, True, 60.0)
    r = client.post(f"/api/alarms/{a.alarm.id}/reset")
    assert r.status_code == 409
    assert r.json()["detail"] == f"cannot reset alarm {a.alarm.id} in state active_unack"
    held = park.change("T201.GT", Condition.GAS2, False, 2.0)
    assert held.to_state.value == "latched_unack"
    ack = client.post(f"/api/alarms/{a.alarm.id}/ack", json={})
    assert ack.json()["to_state"] == "latched_ack"  # silenced, not reset
    e = _event(client.post(f"/api/alarms/{a.alarm.id}/reset", json={"reason": "area clear"}))
    assert (e["event"], e["to_state"], e["who"]) == ("reset", "normal", "Zhang Wei")


def test_close_needs_a_disposal_record_then_the_alarm_leaves_the_unclosed_list(
    park: Park, client: TestClient
) -> None:
    a = park.change("T101.LT", Condition.HH, True, 18.5)
    client.post(f"/api/alarms/{a.alarm.id}/ack", json={})
    park.change("T101.LT", Condition.HH, False, 15.0)
    r = client.post(f"/api/alarms/{a.alarm.id}/close")
    assert r.status_code == 409 and "no disposal record" in r.json()["detail"]
    [u] = client.get("/api/alarms/unclosed").json()["alarms"]
    assert (u["id"], u["overdue"]) == (a.alarm.id, False)
    assert u["deadline_ts"] == a.alarm.raised_ts + 24 * H  # high priority
    park.clock.advance(25 * H)
    [u] = client.get("/api/alarms/unclosed").json()["alarms"]
    assert u["overdue"] is True and u["age_s"] >= 25 * H

    bad = client.post(
        f"/api/alarms/{a.alarm.id}/dispose", json={"cause": "gremlins", "action": "x"}
    )
    assert bad.status_code == 422
    body = {"cause": "false_alarm", "action": "float stuck, freed", "attachment_url": "http://c/1"}
    e = _event(client.post(f"/api/alarms/{a.alarm.id}/dispose", json=body))
    assert e["event"] == Event.DISPOSE.value
    assert e["alarm"]["disposal"]["cause"] == "false_alarm"
    assert e["alarm"]["disposal"]["by"] == "Zhang Wei"
    e = _event(client.post(f"/api/alarms/{a.alarm.id}/close", json={"reason": "ok"}))
    assert (e["event"], e["alarm"]["closed_by"]) == ("close", "Zhang Wei")
    assert client.get("/api/alarms/unclosed").json()["alarms"] == []
    assert client.post(f"/api/alarms/{a.alarm.id}/close").status_code == 409


def test_maintenance_and_out_of_service_are_for_engineers(
    park: Park, client: TestClient, engineer: dict[str, str]
) -> None:
    level = park.change("T101.LT", Condition.HH, True, 18.5)
    r = client.post("/api/units/T101/maintenance", json={"on": True, "reason": "overhaul"})
    assert r.status_code == 403  # an operator
    r = client.post(
        "/api/units/T101/maintenance", json={"on": True, "reason": "overhaul"}, headers=engineer
    )
    e = _event(r)
    assert (e["alarm"]["id"], e["event"], e["who"], e["alarm"]["muted"]) == (
        level.alarm.id,
        "suppress",
        "Wang Fang",
        "suppressed",
    )
    r = client.post("/api/units/T999/maintenance", json={"on": True}, headers=engineer)
    assert r.status_code == 404
    until = park.clock.now() + 4 * H
    r = client.post(
        "/api/sensors/T201.GT/out-of-service",
        json={"on": True, "reason": "head replaced", "until_ts": until},
        headers=engineer,
    )
    assert r.status_code == 200 and r.json()["events"] == []  # no open alarm on it
    kinds = {(m["kind"], m["target"]) for m in client.get("/api/mutes").json()["mutes"]}
    assert kinds == {("suppressed", "T101"), ("out_of_service", "T201.GT")}
    off = client.post("/api/sensors/T201.GT/out-of-service", json={"on": False}, headers=engineer)
    assert off.status_code == 200
    again = client.post("/api/sensors/T201.GT/out-of-service", json={"on": False}, headers=engineer)
    assert again.status_code == 409


def test_the_alarm_list_carries_first_out_and_gas_precedence(
    park: Park, client: TestClient
) -> None:
    first = park.change("T101.LT", Condition.HH, True, 18.5)
    park.change("T101.TT", Condition.H, True, 45.0)
    gas = park.change("T201.GT", Condition.GAS2, True, 60.0)
    listed = client.get("/api/alarms").json()["alarms"]
    assert listed[0]["id"] == gas.alarm.id  # gas second level before a level HH
    out = {a["id"] for a in listed if a["first_out"]}
    assert out == {first.alarm.id, gas.alarm.id}
