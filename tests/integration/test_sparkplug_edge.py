"""A real Sparkplug B edge node (mqtt-spb-wrapper from PyPI) publishing to HazardWatch over a
real mosquitto: its readings raise an alarm, a skipped sequence number makes HazardWatch ask
for a rebirth that the node answers, and its NDEATH (its last will, on SIGKILL) raises
communication loss at once.

The library pins paho-mqtt 1.6 and protobuf 3.20, so it runs in its own venv
(`.venv-sparkplug`, made by `scripts/setup.sh test` from requirements-sparkplug.lock).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from hazardwatch.shell.service import Service, Settings
from hazardwatch.vocabulary.config import parse_site
from tests.brokers import Mosquitto
from tests.waiting import until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EDGE_PYTHON = ROOT / ".venv-sparkplug" / "bin" / "python"
EDGE = Path(__file__).with_name("spb_edge.py")

SITE = """
park: {name: Sparkplug Park}
defaults:
  all: {period_s: 600, on_delay_s: 0, off_delay_s: 0}
enterprises:
  - id: e1
    name: Test Chemicals
    hazard_sources:
      - id: hs1
        name: Methanol farm
        grade: 2
        responsible: {main: A, technical: B, operation: C}
        units:
          - id: T1
            substance: methanol
            capacity_m3: 1000
            sensors:
              - {tag: T1-LT, kind: level, unit: m, range: [0, 20], limits: {hh: 9, h: 8}}
inputs:
  wire_v1: false
  sparkplug:
    rebirth_every_s: 1
    nodes:
      - group: Plant1
        node: Edge1
        metrics: {DATA/Tank1/Level: T1-LT}
"""


@dataclass
class Running:
    svc: Service
    http: httpx.AsyncClient

    async def alarms(self, condition: str) -> list[dict[str, Any]]:
        r = await self.http.get("/api/alarms", params={"include_closed": True})
        assert r.status_code == 200, r.text
        return [a for a in r.json()["alarms"] if a["condition"] == condition]

    async def wait_alarms(self, condition: str, what: str) -> list[dict[str, Any]]:
        """GET /api/alarms until one of `condition` shows (bounded, like tests.waiting)."""
        for _ in range(400):
            found = await self.alarms(condition)
            if found:
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
async def running(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[Running]:
    settings = Settings(
        broker_url=mosquitto.url,
        data_dir=tmp_path / "data",
        client_id=f"hw-spb-{mosquitto.port}",
        checkpoint_interval_s=0,
    )
    svc = Service(parse_site(SITE, "spb.yaml"), settings)
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(stop, serve_http=False))
    transport = httpx.ASGITransport(app=svc.app)
    headers = viewer_headers(svc)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://127.0.0.1", headers=headers
    ) as http:
        try:
            await until(lambda: svc._ingestor is not None and svc._ingestor.connected, "ingest")
            yield Running(svc, http)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)


def viewer_headers(svc: Service) -> dict[str, str]:
    """A viewer's bearer token where the service keeps accounts (the API then asks who
    reads); none where it does not."""
    accounts = getattr(svc, "accounts", None)
    if accounts is None:
        return {}
    from hazardwatch.storage.accounts import Role
    from tests.accounts import CHEAP, bearer

    accounts.hasher = CHEAP
    return bearer(accounts, Role.VIEWER)


class Edge:
    """The edge node process: lines to its stdin, lines from its stdout."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def say(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()

    async def expect(self, word: str, timeout_s: float = 20.0) -> None:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout_s)
        assert line.decode().strip() == word, line


@pytest.fixture
async def edge(mosquitto: Mosquitto) -> AsyncIterator[Edge]:
    if not EDGE_PYTHON.exists():
        pytest.skip(f"{EDGE_PYTHON.relative_to(ROOT)} is missing: run scripts/setup.sh test")
    proc = await asyncio.create_subprocess_exec(
        str(EDGE_PYTHON),
        str(EDGE),
        "127.0.0.1",
        str(mosquitto.port),
        "Plant1",
        "Edge1",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=sys.stderr,
    )
    try:
        yield Edge(proc)
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def test_edge_node_alarm_rebirth_and_death(running: Running, edge: Edge) -> None:
    await edge.expect("born")
    await until(lambda: running.svc.counters.readings_accepted >= 1, "the birth's reading")

    await edge.say("level 9.5")
    await edge.expect("sent")
    (hh,) = await running.wait_alarms("hh", "the HH alarm")
    assert hh["tag"] == "T1-LT"

    # a lost NDATA: HazardWatch asks for a rebirth, the node publishes its births again
    await edge.say("skip")
    await edge.say("level 9.6")
    await edge.expect("sent")
    await edge.expect("born")
    assert running.svc.counters.snapshot()["replies"]["sent"] >= 1

    assert await running.alarms("comm_loss") == []
    edge.proc.kill()  # no goodbye: the broker publishes the node's NDEATH will
    await edge.proc.wait()
    (lost,) = await running.wait_alarms("comm_loss", "communication loss after NDEATH")
    assert lost["tag"] == "T1-LT"
