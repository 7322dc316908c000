"""Fixtures shared by the browser tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_browser import ServedPark


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedPark]:
    """The control-room app over a real journal, served on a loopback port."""
    service = ServedPark(tmp_path / "journal.sqlite").start()
    try:
        yield service
    finally:
        service.stop()
