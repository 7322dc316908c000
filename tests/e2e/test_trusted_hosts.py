"""`hazardwatch run` answers only the Host names it is meant to (DNS rebinding)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hazardwatch.storage.accounts import Role
from tests.brokers import Mosquitto, free_port
from tests.e2e.harness import credentials, wait_until
from tests.processes import stop_process

pytestmark = pytest.mark.e2e


@pytest.fixture
def service(
    site_file: Path, mosquitto: Mosquitto, tmp_path: Path
) -> Iterator[tuple[str, dict[str, str]]]:
    port = free_port()
    headers = credentials(tmp_path / "data", "monitor", Role.VIEWER)
    log = (tmp_path / "service.log").open("ab")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "hazardwatch", "run",
            "--config", str(site_file),
            "--broker", mosquitto.url,
            "--data-dir", str(tmp_path / "data"),
            "--listen", f"127.0.0.1:{port}",
            "--client-id", f"hw-hosts-{port}",
            "--allowed-host", "hazardwatch.park.example",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    log.close()
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"the service exited with {proc.returncode}; see its log")
        try:
            return httpx.get(f"{base}/api/site", headers=headers, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, timeout_s=30, what="the service to answer")
        yield base, headers
    finally:
        stop_process(proc, grace_s=20)


def test_the_service_refuses_a_request_for_another_host(
    service: tuple[str, dict[str, str]],
) -> None:
    base, token = service
    for host in ("evil.example", "evil.example:8000", "hazardwatch.park.example.evil.example"):
        r = httpx.get(f"{base}/api/alarms", headers={"Host": host, **token}, timeout=5)
        assert r.status_code == 400, host
    for host in ("localhost", "hazardwatch.park.example", base.removeprefix("http://")):
        r = httpx.get(f"{base}/api/alarms", headers={"Host": host, **token}, timeout=5)
        assert r.status_code == 200, host
