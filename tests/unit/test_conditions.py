"""The one condition table: every condition has its row, and priority, API and page read it."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from alerting import DEFAULT_PRIORITY, AlarmManager, Journal, Priority
from dashboards import Hub, ServiceAdapter, create_app
from dashboards.app import STATIC_DIR
from hazardwatch.storage.accounts import Role
from hazardwatch.vocabulary.clock import FakeClock
from hazardwatch.vocabulary.model import (
    CONDITIONS,
    Category,
    Condition,
    Kind,
    SensorTable,
    Severity,
)
from tests.accounts import bearer, make_accounts
from tests.factories import enterprise, hazard_source, sensor, site, unit


def test_every_condition_has_one_row_with_both_labels() -> None:
    assert set(CONDITIONS) == set(Condition)
    bits = [c.bit for c in Condition]
    assert len(set(bits)) == len(bits)
    for c in Condition:
        assert c.info.zh and c.info.en, c
        assert isinstance(c.info.category, Category) and isinstance(c.info.severity, Severity)


def test_categories_follow_the_table() -> None:
    assert Condition.COMM_LOSS.category is Category.COMMUNICATION
    assert Condition.STUCK.category is Category.INSTRUMENT
    assert Condition.PREDICT_HH.category is Category.EARLY_WARNING
    assert Condition.GAS2.category is Category.PROCESS
    # Communication is no process condition either: it never counts as a false process alarm.
    assert Condition.COMM_LOSS.is_instrument and not Condition.COMM_LOSS.is_early_warning
    assert {c for c in Condition if c.is_early_warning} == {
        c for c in Condition if c.category is Category.EARLY_WARNING
    }


def test_default_priority_is_the_tables_severity() -> None:
    assert set(DEFAULT_PRIORITY) == set(Condition)
    for c in Condition:
        assert int(DEFAULT_PRIORITY[c]) == int(c.severity), c
    assert DEFAULT_PRIORITY[Condition.AREA_GAS] is Priority.HIGH
    assert DEFAULT_PRIORITY[Condition.NOISY] is Priority.LOW


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    s = site(
        enterprise(
            "e1",
            hazard_source("hs1", unit("T1", sensor("T1.LT", Kind.LEVEL, hi=20.0))),
        )
    )
    table = SensorTable.from_site(s)
    manager = AlarmManager(
        table,
        Journal(tmp_path / "journal.sqlite"),
        FakeClock(1_763_800_000.0),
        priorities={Condition.STUCK: Priority.MEDIUM},
    )
    view = ServiceAdapter(
        site=s,
        table=table,
        alarms=manager,
        hub=Hub(),
        latest_fn=lambda: (np.zeros(1), np.zeros(1), np.zeros(1, np.uint32)),
    )
    accounts = make_accounts(tmp_path / "accounts.db")
    return TestClient(create_app(view, accounts=accounts), headers=bearer(accounts, Role.VIEWER))


def test_api_lists_every_condition_as_this_park_ranks_it(client: TestClient) -> None:
    r = client.get("/api/conditions")
    assert r.status_code == 200
    rows = {c["condition"]: c for c in r.json()["conditions"]}
    assert set(rows) == {c.label for c in Condition}
    assert rows["comm_loss"]["category"] == "communication"
    assert rows["gas2"] == {
        "condition": "gas2",
        "bit": Condition.GAS2.bit,
        "category": "process",
        "priority": "high",
        "zh": "二级报警",
        "en": "Gas level 2",
        # the gas rule (alerting.precedence) per sensor kind, for the page's live sorting:
        # second level over first, toxic over combustible
        "gas_rank": {
            "temperature": 4, "level": 4, "pressure": 4, "flow": 4, "generic": 4,
            "gas_combustible": 5, "gas_toxic": 6,
        },
    }  # fmt: skip
    assert rows["gas1"]["gas_rank"]["gas_toxic"] == 4 and rows["hh"]["gas_rank"] == {}
    assert rows["stuck"]["priority"] == "medium"  # the site's override, not the default


def test_the_page_keeps_no_condition_table_of_its_own() -> None:
    """A new condition must reach the page through the API, not through an edit of app.js."""
    script = (STATIC_DIR / "app.js").read_text()
    assert "/api/conditions" in script
    for c in Condition:
        assert re.search(rf"(\"{c.label}\"|\b{c.label}\s*:\s*\")", script) is None, c


def test_the_page_names_every_category() -> None:
    script = (STATIC_DIR / "app.js").read_text()
    for category in Category:
        assert re.search(rf"^\s*{category.value}: \"", script, re.MULTILINE), category
