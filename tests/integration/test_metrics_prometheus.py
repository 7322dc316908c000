"""Debian's Prometheus scrapes the running service's GET /metrics on loopback, and a metric
comes back through Prometheus's HTTP API with the value the service counted: readings
published over a real mosquitto, accepted, and a reading of an unknown tag rejected."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hazardwatch.shell.service import Service, Settings
from hazardwatch.vocabulary.config import parse_site
from tests.brokers import Mosquitto, free_port, publisher
from tests.e2e.harness import E2E_SITE
from tests.processes import stop_process
from tests.waiting import until

pytestmark = pytest.mark.integration


@pytest.fixture
def prometheus_for(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Started by the test once it knows the port to scrape; stopped here."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        stop_process(p, 10)


def start_prometheus(workdir: Path, target_port: int) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("prometheus")
    if binary is None:
        raise RuntimeError("prometheus is not installed: run `scripts/setup.sh test`")
    workdir.mkdir()
    config = workdir / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: hazardwatch\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{target_port}']}}]\n"
    )
    port = free_port()
    with (workdir / "prometheus.log").open("wb") as log:  # the child keeps its own copy
        proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return proc, f"http://127.0.0.1:{port}"


async def test_prometheus_scrapes_the_service_and_answers_with_its_counts(
    mosquitto: Mosquitto, tmp_path: Path, prometheus_for: list[subprocess.Popen[bytes]]
) -> None:
    http_port = free_port()
    settings = Settings(
        broker_url=mosquitto.url,
        data_dir=tmp_path / "data",
        client_id=f"hw-metrics-{mosquitto.port}",
        listen_port=http_port,
        checkpoint_interval_s=0,
        judge_silence=False,
    )
    svc = Service(parse_site(E2E_SITE, "e2e.yaml"), settings)
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(stop))
    try:
        proc, prom = start_prometheus(tmp_path / "prometheus", http_port)
        prometheus_for.append(proc)
        await until(lambda: svc.view.health()["broker"]["connected"], "the connection")
        with publisher(mosquitto.url) as pub:
            now = time.time()  # readings of now: the ingest window is around the wall clock
            for i in range(5):
                body = json.dumps({"v": 10.0 + i, "ts": now - 5 + i})
                pub.publish("hw/e1/e1-T1-LT", body, qos=1).wait_for_publish(10)
            pub.publish("hw/e1/no-such-tag", json.dumps({"v": 1.0}), qos=1).wait_for_publish(10)
        await until(lambda: svc.counters.readings_accepted == 5, "the readings")

        async with httpx.AsyncClient(base_url=prom, timeout=5) as client:
            answers: dict[str, float] = {}

            async def query(expr: str) -> float | None:
                try:
                    r = await client.get("/api/v1/query", params={"query": expr})
                except httpx.TransportError:  # not listening yet
                    return None
                result = r.json()["data"]["result"] if r.status_code == 200 else []
                return float(result[0]["value"][1]) if result else None

            async def scraped() -> bool:
                for expr in (
                    'hazardwatch_ingest_readings_total{outcome="accepted"}',
                    'hazardwatch_ingest_rejected_total{reason="unknown_tag"}',
                    "hazardwatch_detector_step_seconds_count",
                    'up{job="hazardwatch"}',
                ):
                    value = await query(expr)
                    if value is None:
                        return False
                    answers[expr] = value
                return answers['hazardwatch_ingest_readings_total{outcome="accepted"}'] == 5

            for _ in range(600):  # bounded: Prometheus starts, scrapes every second
                if await scraped():
                    break
                await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    assert answers['hazardwatch_ingest_readings_total{outcome="accepted"}'] == 5
    assert answers['hazardwatch_ingest_rejected_total{reason="unknown_tag"}'] == 1
    assert answers["hazardwatch_detector_step_seconds_count"] >= 1
    assert answers['up{job="hazardwatch"}'] == 1
