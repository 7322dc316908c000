"""The service's one door for alarm actions, and its one tick: an acknowledgement from the
API reaches the same listeners as an alarm; the live loop and a replay judge silence and
expire transfer plans through `Service.tick` alone."""

from __future__ import annotations

import asyncio
import json
import warnings
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from alerting import AlarmEvent, Journal
from hazardwatch.shell.replay import replay
from hazardwatch.shell.service import Service, Settings
from hazardwatch.storage.accounts import Role
from hazardwatch.vocabulary.clock import FakeClock
from hazardwatch.vocabulary.config import parse_site
from hazardwatch.vocabulary.model import Condition, ConditionChange
from tests.accounts import CHEAP, bearer
from tests.brokers import Mosquitto
from tests.e2e.harness import E2E_SITE
from tests.integration.test_replay_plans import _expiring_plan_files
from tests.waiting import until

T0 = 1_763_800_000.0
LT = "e1-T1-LT"


def _key(e: AlarmEvent) -> tuple[float, str, str, str]:
    return (e.ts, e.alarm.tag, e.alarm.condition.label, e.event.value)


def test_an_acknowledgement_from_the_api_reaches_the_sinks_and_the_journal_first(
    tmp_path: Path,
) -> None:
    heard: list[AlarmEvent] = []
    journal_had: list[bool] = []

    def sink(events: list[AlarmEvent]) -> None:
        heard.extend(events)
        journal_had.extend(e in svc.journal.history(e.alarm.id) for e in events)

    clock = FakeClock(T0)
    svc = Service(parse_site(E2E_SITE, "e2e.yaml"), Settings(data_dir=tmp_path), clock, [sink])
    try:
        hh = Condition.HH
        (raised,) = svc.handle_changes(
            [ConditionChange(svc.table.tag_index[LT], hh, True, 18.5, T0, hh.severity)]
        )
        clock.set(T0 + 20)
        svc.accounts.hasher = CHEAP
        headers = bearer(svc.accounts, Role.OPERATOR, "li")
        with TestClient(svc.app, base_url="http://127.0.0.1:8000", headers=headers) as http:
            r = http.post(f"/api/alarms/{raised.alarm.id}/ack", json={"comment": "seen"})
        assert r.status_code == 200, r.text
        assert [(e.event.value, e.alarm.id) for e in heard] == [
            ("activate", raised.alarm.id),
            ("ack", raised.alarm.id),
        ]
        assert heard[1].seq == r.json()["seq"] and heard[1].ts == T0 + 20
        assert journal_had == [True, True]
    finally:
        svc.close()


@pytest.mark.integration
async def test_the_live_loop_judges_silence_and_expires_plans_through_the_tick(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    settings = Settings(
        broker_url=mosquitto.url,
        data_dir=tmp_path / "data",
        client_id=f"hw-tick-{mosquitto.port}",
        checkpoint_interval_s=0,
        stale_check_interval_s=0.05,
    )
    clock = FakeClock(T0)
    svc = Service(parse_site(E2E_SITE, "e2e.yaml"), settings, clock)
    plan = svc.transfers.plan(tag=LT, target=12.5, direction=1, expires_in_s=60, by="li")
    ticked: list[AlarmEvent] = []
    tick = svc.tick

    def spy(now: float | None = None) -> list[AlarmEvent]:
        events = tick(now)
        ticked.extend(events)
        return events

    svc.tick = spy  # type: ignore[method-assign]
    clock.set(T0 + 61)  # past the plan's expiry and every sensor's stale time (15 s)
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(stop, serve_http=False))
    try:
        await until(lambda: not svc.transfers.book.get(plan.id).open, "the plan to expire")
        await until(lambda: len(ticked) == svc.table.n, "every sensor's communication loss")
        assert svc.transfers.book.get(plan.id).close_reason == "expired"
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    with Journal(tmp_path / "data" / "alarms.db") as journal:
        journalled = [e for i in range(1, journal.next_alarm_id()) for e in journal.history(i)]
    assert {e.alarm.condition for e in ticked} == {Condition.COMM_LOSS}
    assert sorted(map(_key, journalled)) == sorted(map(_key, ticked))


def test_replay_judges_silence_and_expires_plans_through_the_same_tick(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticked: list[AlarmEvent] = []
    tick = Service.tick

    def spy(self: Service, now: float | None = None) -> list[AlarmEvent]:
        events = tick(self, now)
        ticked.extend(events)
        return events

    monkeypatch.setattr(Service, "tick", spy)
    csv, plans = _expiring_plan_files(tmp_path)
    out = tmp_path / "alarms.jsonl"
    replay(csv, out, site=parse_site(E2E_SITE, "e2e.yaml"), plans=plans, comm_loss=True)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    timed = {
        (x["ts"], x["tag"], x["condition"], x["event"])
        for x in lines
        if (x["condition"] == "comm_loss" and x["event"] == "activate")
        or (x["condition"] == "overrun" and x["event"] == "clear")
    }
    # Every sensor falls silent (six never report, the level in its gap); the plan expires.
    assert len([k for k in timed if k[2] == "comm_loss"]) == 7
    assert (T0 + 61, LT, "overrun", "clear") in timed
    assert timed == set(map(_key, ticked))
