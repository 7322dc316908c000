"""Shared fixtures: real servers on free loopback ports, stopped after each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.brokers import Mosquitto, free_port


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
