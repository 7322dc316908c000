"""Shared fixtures: real servers on free loopback ports, stopped after each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.brokers import Mosquitto, free_port
from tests.e2e.harness import E2E_SITE
from tests.victoria import VictoriaMetrics, start_victoria


@pytest.fixture(scope="session", autouse=True)
def compiled_detector() -> None:
    """The detector's compiled loops, built (or loaded from numba's cache) once before any
    test starts a service process, so no service spends its start-up timeout compiling."""
    from detectors import Detector
    from hazardwatch.vocabulary.config import parse_site
    from hazardwatch.vocabulary.model import SensorTable

    Detector(SensorTable.from_site(parse_site(E2E_SITE, "e2e.yaml")), 0.0)


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A fresh mosquitto on its own port, with persistence in the test's tmp dir."""
    workdir = tmp_path / "mosquitto"
    workdir.mkdir()
    broker = Mosquitto(port=free_port(), workdir=workdir).start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def victoria_metrics(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    """A fresh VictoriaMetrics (InfluxDB v2 writes) on its own port and storage folder.

    Without Debian's victoria-metrics the tests fail with the command that installs it, as
    they do without mosquitto: a skip would pass a machine that never tested the store."""
    server = start_victoria(tmp_path / "victoria")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def site_file(tmp_path: Path) -> Path:
    """The end-to-end park (tests.e2e.harness.E2E_SITE) as a config file."""
    path = tmp_path / "park.yaml"
    path.write_text(E2E_SITE)
    return path
