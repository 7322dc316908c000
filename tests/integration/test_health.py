"""GET /api/health tells the truth: degraded (503, with the reasons) while the broker is
gone or the connection keeps dropping, ok (200) once it is back. A real mosquitto."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from hazardwatch.shell.health import HealthLimits, judge
from hazardwatch.shell.service import Service, Settings
from hazardwatch.vocabulary.config import parse_site
from tests.brokers import Mosquitto, publisher
from tests.e2e.harness import E2E_SITE
from tests.waiting import until

pytestmark = pytest.mark.integration


@dataclass
class Running:
    svc: Service
    http: httpx.AsyncClient

    def status(self) -> str:
        return str(self.svc.view.health()["status"])

    async def health(self) -> tuple[int, dict[str, Any]]:
        r = await self.http.get("/api/health")
        return r.status_code, r.json()


@pytest.fixture
async def running(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[Running]:
    site = parse_site(E2E_SITE, "e2e.yaml")
    settings = Settings(
        broker_url=mosquitto.url,
        data_dir=tmp_path / "data",
        client_id=f"hw-health-{mosquitto.port}",
        checkpoint_interval_s=0,
    )
    svc = Service(site, settings)
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(stop, serve_http=False))
    transport = httpx.ASGITransport(app=svc.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        try:
            yield Running(svc, http)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)


async def test_health_is_degraded_while_the_broker_is_gone_and_ok_when_it_is_back(
    running: Running, mosquitto: Mosquitto
) -> None:
    await until(lambda: running.status() == "ok", "the first connection")
    code, body = await running.health()
    assert (code, body["status"], body["reasons"]) == (200, "ok", [])

    await asyncio.to_thread(mosquitto.stop)
    await until(lambda: running.status() == "degraded", "the lost broker to show")
    code, body = await running.health()
    assert code == 503 and body["broker"]["connected"] is False
    assert body["reasons"] == [
        f"broker: not connected to {mosquitto.url}; readings wait at the broker or the gateways"
    ]

    await asyncio.to_thread(mosquitto.start)
    await until(lambda: running.status() == "ok", "the reconnection", timeout_s=30)
    code, body = await running.health()
    assert (code, body["status"]) == (200, "ok") and body["ingest"]["reconnects"] == 1


async def test_a_reconnect_storm_is_degraded_even_while_connected(
    running: Running, mosquitto: Mosquitto
) -> None:
    await until(lambda: running.status() == "ok", "the first connection")
    for n in range(1, 5):  # four reconnections within a minute: more than three
        await asyncio.to_thread(mosquitto.restart)
        await until(
            lambda n=n: running.svc.counters.reconnects == n, f"reconnect {n}", timeout_s=30
        )
    code, body = await running.health()
    assert code == 503 and body["broker"]["connected"] is True
    assert body["reasons"] == [
        "broker: 4 reconnects in the last minute (more than 3): the connection keeps dropping"
    ]


def _report(**changes: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "broker": {"url": "mqtt://b:1", "connected": True, "reconnects_last_min": 0,
                   "inbox_backlog": 0},
        "store": {"queued_batches": 0, "last_error": None, "spool": {"rows": 0}},
        "stale_judged_at_lag_s": 0.0,
    }  # fmt: skip
    for path, value in changes.items():
        *parents, key = path.split("__")
        node = report
        for p in parents:
            node = node[p]
        node[key] = value
    return report


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"store__spool__rows": 40, "store__last_error": "connection refused"},
         "store: 40 readings spooled on disk, the store fails writes: connection refused"),
        ({"store__queued_batches": 100}, "store: 100 of 200 batches queued, the store lags"),
        ({"broker__inbox_backlog": 20_001},
         "detector: 20001 messages received and not yet processed"),
        ({"stale_judged_at_lag_s": 75.4}, "detector: readings processed 75 s behind the clock"),
        ({"broker__session_taken_over": "MQTT session 'hw' taken over 3 times in a row: ..."},
         "broker: MQTT session 'hw' taken over 3 times in a row: ..."),
    ],
)  # fmt: skip
def test_a_store_or_a_detector_that_falls_behind_is_degraded(
    changes: dict[str, Any], reason: str
) -> None:
    assert judge(_report(), HealthLimits(), store_queue_max=200) == []
    assert judge(_report(**changes), HealthLimits(), store_queue_max=200) == [reason]


async def test_batches_a_gateway_numbered_but_never_sent_show_in_health(
    running: Running, mosquitto: Mosquitto
) -> None:
    await until(lambda: running.status() == "ok", "the first connection")
    now = time.time()
    with publisher(mosquitto.url, "gw1") as gw:
        for seq in (7, 8, 11):  # 9 and 10 were lost before the broker
            body = {"ts": now, "seq": seq, "r": [["e1-T1-LT", 5.0 + seq]]}
            gw.publish("hw/e1/_batch/gw1", orjson.dumps(body), qos=1).wait_for_publish(5)
    await until(
        lambda: running.svc.counters.readings_accepted == 3, "the three batches", timeout_s=10
    )
    _, body = await running.health()
    assert body["ingest"]["batches_missing"] == 2
    assert body["ingest"]["gateway_seq"] == {
        "e1/gw1": {"last": 11, "missing": 2, "repeated": 0, "restarts": 0, "bad": 0}
    }


async def test_what_the_service_was_built_with_is_out_of_the_collector_s_sight(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """A full pass of the cyclic collector over the site's objects holds the loop (~0.3 s
    at 20,000 sensors): a running service has frozen what it was built with."""
    gc.unfreeze()
    svc = Service(
        parse_site(E2E_SITE, "e2e.yaml"),
        Settings(broker_url=mosquitto.url, data_dir=tmp_path / "d", checkpoint_interval_s=0),
    )
    assert gc.get_freeze_count() == 0
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(stop, serve_http=False))
    try:
        await until(lambda: svc.view.health()["status"] == "ok", "the first connection")
        assert gc.get_freeze_count() > 0
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
