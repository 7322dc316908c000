"""The real ThingsBoard IoT Gateway (3.8.5) polling the project's Modbus PLC simulator and
publishing to HazardWatch over a real mosquitto: it gets its getSessionLimits answer from
HazardWatch itself (without it, it publishes nothing), a level rising on the PLC becomes an
HH alarm in GET /api/alarms stamped with the gateway's time, and SIGKILL of the gateway (it
has no last will) ends in communication loss for its devices within the stale time.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from hazardwatch.config import parse_site
from hazardwatch.service import Service, Settings
from simulators.modbus_plc import ModbusPlc
from tests.brokers import Mosquitto, free_port, publisher
from tests.integration import tb_gateway
from tests.integration.test_sparkplug_edge import viewer_headers
from tests.waiting import until

pytestmark = pytest.mark.integration

TOKEN = "A1_TEST_TOKEN"
SITE = f"""
park: {{name: ThingsBoard Park}}
defaults:
  all: {{period_s: 1, stale_periods: 4, on_delay_s: 0, off_delay_s: 0}}
enterprises:
  - id: e1
    name: Test Chemicals
    hazard_sources:
      - id: hs1
        name: Methanol farm
        grade: 2
        responsible: {{main: A, technical: B, operation: C}}
        units:
          - id: T1
            substance: methanol
            capacity_m3: 1000
            sensors:
              - {{tag: T1-LT, kind: level, unit: m, range: [0, 20], limits: {{hh: 5, h: 4.5}}}}
              - {{tag: T1-TT, kind: temperature, unit: degC, range: [-20, 80]}}
              - {{tag: T1-PT, kind: pressure, unit: kPa, range: [0, 400]}}
              - {{tag: T1-GT, kind: gas_combustible, unit: "%LEL", range: [0, 100]}}
inputs:
  thingsboard:
    gateways:
      - token: {TOKEN}
        devices:
          T-101: {{level: T1-LT, temperature: T1-TT, pressure: T1-PT}}
          GD-1: {{lel: T1-GT}}
"""


@dataclass
class Watch:
    """What the gateway publishes, seen by an observer of the broker."""

    level_ts_ms: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_message(self, client: Any, userdata: Any, message: Any) -> None:
        body = orjson.loads(message.payload)
        with self.lock:
            for entry in body.get("T-101", []):
                if "level" in entry.get("values", {}):
                    self.level_ts_ms.append(entry["ts"])


@dataclass
class Park:
    svc: Service
    http: httpx.AsyncClient

    async def alarms(self, condition: str) -> list[dict[str, Any]]:
        r = await self.http.get("/api/alarms", params={"include_closed": True})
        assert r.status_code == 200, r.text
        return [a for a in r.json()["alarms"] if a["condition"] == condition]

    def lost(self) -> set[int]:
        """The sensors whose communication loss is active."""
        active = self.svc.alarms.active_conditions()
        return {sensor for sensor, condition in active if condition.label == "comm_loss"}

    async def wait_alarms(
        self, condition: str, what: str, timeout_s: float = 40.0
    ) -> list[dict[str, Any]]:
        for _ in range(int(timeout_s / 0.1)):
            found = await self.alarms(condition)
            if found:
                return found
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
async def park(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[Park]:
    if not tb_gateway.GATEWAY_PYTHON.exists():
        where = tb_gateway.GATEWAY_PYTHON.relative_to(tb_gateway.ROOT)
        pytest.skip(f"{where} is missing: run scripts/setup.sh test")
    settings = Settings(
        broker_url=mosquitto.url,
        data_dir=tmp_path / "data",
        client_id=f"hw-tb-{mosquitto.port}",
        checkpoint_interval_s=0,
    )
    svc = Service(parse_site(SITE, "tb.yaml"), settings)
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(stop, serve_http=False))
    transport = httpx.ASGITransport(app=svc.app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://127.0.0.1", headers=viewer_headers(svc)
    ) as http:
        try:
            await until(lambda: svc._ingestor is not None and svc._ingestor.connected, "ingest")
            yield Park(svc, http)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)


async def test_gateway_polls_the_plc_into_hh_and_its_death_into_comm_loss(
    park: Park, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    watch = Watch()
    with publisher(mosquitto.url, client_id="observer") as observer:
        observer.on_message = watch.on_message
        observer.subscribe("v1/gateway/telemetry", qos=1)
        async with ModbusPlc(port=free_port(), tanks=1, detectors=1) as plc:
            plc.set_tank(0, level=3.0, temperature=20.0, pressure=101.3)
            plc.set_gas(0, 1.5)
            devices = plc.gateway_devices(["T-101"], ["GD-1"])
            folder = tb_gateway.write_config(tmp_path / "gateway", mosquitto.port, TOKEN, devices)
            proc = tb_gateway.start(folder)
            try:
                # it publishes nothing before HazardWatch answers its getSessionLimits
                level = park.svc.table.tag_index["T1-LT"]
                await until(
                    lambda: park.svc.detector.state.last_value[level] == 3.0,
                    "the gateway's first level reading",
                    timeout_s=60,
                )
                assert park.svc.counters.snapshot()["replies"]["sent"] >= 1
                assert await park.alarms("hh") == []

                plc.set_tank(0, level=6.0)  # the tank fills past HH (5 m)
                (hh,) = await park.wait_alarms("hh", "the HH alarm")
                assert hh["tag"] == "T1-LT"
                with watch.lock:  # stamped by the gateway, in its milliseconds
                    assert round(hh["raised_ts"] * 1000) in watch.level_ts_ms
                assert await park.alarms("comm_loss") == []

                killed_at = park.svc.clock.now()
                os.killpg(proc.pid, signal.SIGKILL)  # no last will: only silence tells
                proc.wait(10)
                await until(
                    lambda: len(park.lost()) == 4, "communication loss of all 4 tags", timeout_s=30
                )
                lost = await park.alarms("comm_loss")
                assert {a["tag"] for a in lost} == {"T1-LT", "T1-TT", "T1-PT", "T1-GT"}
                assert all(a["raised_ts"] >= killed_at - 4.0 for a in lost)
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(10)
