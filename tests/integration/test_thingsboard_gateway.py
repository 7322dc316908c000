"""The real ThingsBoard IoT Gateway (3.8.5) polling the project's Modbus PLC simulator and
publishing to HazardWatch over a real mosquitto: it gets its getSessionLimits answer from
HazardWatch itself (without it, it publishes nothing), a level rising on the PLC becomes an
HH alarm in GET /api/alarms stamped with the gateway's time, and SIGKILL of the gateway (it
has no last will) ends in communication loss for its devices within the stale time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import subprocess
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from hazardwatch.shell.service import Service, Settings
from hazardwatch.vocabulary.config import parse_site
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


@contextlib.asynccontextmanager
async def gateway_on_plc(
    mosquitto: Mosquitto, folder: Path
) -> AsyncIterator[tuple[ModbusPlc, subprocess.Popen[bytes]]]:
    """The PLC simulator (tank T-101 at 3 m, detector GD-1) and the gateway polling it."""
    async with ModbusPlc(port=free_port(), tanks=1, detectors=1) as plc:
        plc.set_tank(0, level=3.0, temperature=20.0, pressure=101.3)
        plc.set_gas(0, 1.5)
        devices = plc.gateway_devices(["T-101"], ["GD-1"])
        proc = tb_gateway.start(tb_gateway.write_config(folder, mosquitto.port, TOKEN, devices))
        try:
            yield plc, proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


async def test_gateway_polls_the_plc_into_hh_and_its_death_into_comm_loss(
    park: Park, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    watch = Watch()
    with publisher(mosquitto.url, client_id="observer") as observer:
        observer.on_message = watch.on_message
        observer.subscribe("v1/gateway/telemetry", qos=1)
        async with gateway_on_plc(mosquitto, tmp_path / "gateway") as (plc, proc):
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


async def test_a_broker_outage_of_10_s_loses_and_duplicates_no_reading(
    park: Park, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """The gateway keeps polling while mosquitto is down and sends what it kept, with its
    own timestamps, once it is back; HazardWatch's session takes it: every poll of the
    outage is stored, once."""
    level = park.svc.table.tag_index["T1-LT"]
    async with gateway_on_plc(mosquitto, tmp_path / "gateway") as (plc, _):
        await until(
            lambda: park.svc.detector.state.last_value[level] == 3.0,
            "the gateway's first level reading",
            timeout_s=60,
        )
        first = park.svc.detector.state.last_ts[level]
        await until(lambda: park.svc.detector.state.last_ts[level] >= first + 2, "3 polls")
        await asyncio.to_thread(mosquitto.stop)
        stopped_at = time.time()
        for k in range(10):  # a level the gateway polls while the broker is gone
            plc.set_tank(0, level=3.0 + 0.1 * (k + 1))
            await until(lambda k=k: time.time() >= stopped_at + k + 1, f"second {k + 1}")
        await asyncio.to_thread(mosquitto.start)
        back_at = time.time()
        ts: list[float] = []
        for _ in range(900):  # the readings of the outage and after it, stored (90 s at most)
            r = await park.http.get(
                "/api/sensors/T1-LT/readings",
                params={"since": stopped_at - 5, "until": back_at + 3, "limit": 10_000},
            )
            ts = [row["ts"] for row in r.json()["readings"]]
            if ts and ts[-1] >= back_at + 2:
                break
            await asyncio.sleep(0.1)
        gaps = [b - a for a, b in itertools.pairwise(ts)]
        assert ts and ts[0] <= stopped_at - 1 and ts[-1] >= back_at + 2, ts
        assert max(gaps) < 3.0, gaps  # polled every second: nothing of the outage lost
        assert len(set(ts)) == len(ts)
        assert park.svc.counters.snapshot()["rejected"]["duplicate"] == 0
