"""Fixtures shared by the browser tests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hazardwatch.shell.service import Service, Settings
from hazardwatch.storage.accounts import Role
from hazardwatch.vocabulary.clock import FakeClock
from tests.accounts import CHEAP, PASSWORD
from tests.e2e.test_browser import Served, ServedPark
from tests.unit.test_api import make_site


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedPark]:
    """The control-room app over a real journal, served on a loopback port."""
    service = ServedPark(tmp_path / "journal.sqlite").start()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def served_service(tmp_path: Path) -> Iterator[tuple[Served, Service]]:
    """A whole Service (detector, alarms, transfer plans) behind uvicorn, on a fake clock."""
    svc = Service(make_site(), Settings(data_dir=tmp_path / "data"), clock=FakeClock(time.time()))
    svc.accounts.hasher = CHEAP
    svc.accounts.add_user("Li Ming", Role.OPERATOR, PASSWORD)
    served = Served(svc.app, svc.hub).start()
    try:
        yield served, svc
    finally:
        served.stop()
        svc.close()
