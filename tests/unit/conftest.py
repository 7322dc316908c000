"""Fixtures the API tests share: the small park of tests/unit/test_api.py on a real journal,
and an accounts file (cheap argon2)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hazardwatch.storage.accounts import Accounts
from tests.accounts import make_accounts
from tests.unit.test_api import Park


@pytest.fixture
def park(tmp_path: Path) -> Iterator[Park]:
    p = Park.build(tmp_path / "journal.sqlite")
    try:
        yield p
    finally:
        p.journal.close()


@pytest.fixture
def accounts(tmp_path: Path) -> Iterator[Accounts]:
    a = make_accounts(tmp_path / "accounts.db")
    try:
        yield a
    finally:
        a.close()
