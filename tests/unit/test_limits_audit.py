"""Limit changes and rollbacks in GET /api/audit, next to the other actions: who, from where,
what and why, read from the limit versions themselves (written once)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hazardwatch.shell.service import Service, Settings
from hazardwatch.storage.accounts import Role
from hazardwatch.storage.limits import LimitBook
from hazardwatch.vocabulary.clock import FakeClock
from tests.accounts import bearer
from tests.unit.test_api import TestClient  # imported past its warning
from tests.unit.test_limits import CONFIG


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    config = tmp_path / "park.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    clock = FakeClock(1000.0)
    with LimitBook(config, tmp_path / "alarms.db", clock=clock) as book:
        svc = Service(
            book.site(), Settings(data_dir=tmp_path, checkpoint_interval_s=0), clock, limits=book
        )
        try:
            yield svc
        finally:
            svc.close()


def test_a_limit_change_and_its_rollback_are_in_the_audit_with_who_where_and_what(
    service: Service,
) -> None:
    engineer = bearer(service.accounts, Role.ENGINEER, "ed")
    clock = service.clock
    assert isinstance(clock, FakeClock)
    with TestClient(service.app, base_url="http://127.0.0.1") as client:
        body = {"change": {"limits": {"hh": 8.5, "h": 7.5}}, "reason": "lower fill"}
        assert client.post("/api/limits/T1-LT", json=body, headers=engineer).status_code == 200
        clock.advance(60)
        back = {"version": 0, "reason": "fill plan withdrawn"}
        r = client.post("/api/limits/T1-LT/rollback", json=back, headers=engineer)
        assert r.status_code == 200, r.text
        operator = bearer(service.accounts, Role.OPERATOR, "olga")
        assert client.get("/api/audit", headers=operator).status_code == 403
        rows = client.get("/api/audit", headers=engineer).json()["audit"]
        older = client.get("/api/audit", params={"before_ts": 1030.0}, headers=engineer)
    limits = [r for r in rows if r["source"] == "limits"]
    keys = ("action", "seq", "ts", "who", "where", "subject")
    assert [tuple(r[k] for k in keys) for r in limits] == [
        ("limit_rollback", 2, 1060.0, "ed", "testclient", "T1-LT"),
        ("limit_set", 1, 1000.0, "ed", "testclient", "T1-LT"),
    ]
    assert limits[1]["detail"] == "limits.h 8 -> 7.5, limits.hh 9 -> 8.5; why: lower fill"
    assert limits[0]["detail"] == (
        "back to version 0: limits.h 7.5 -> 8, limits.hh 8.5 -> 9; why: fill plan withdrawn"
    )
    assert limits[1]["old"]["limits"] == {"hh": 9, "h": 8}
    assert limits[1]["new"]["limits"] == {"hh": 8.5, "h": 7.5}
    # written once: the versions are the record, the accounts' audit holds no copy
    assert not [r for r in service.accounts.audit(limit=1000) if r.action.startswith("limit")]
    assert [r["action"] for r in older.json()["audit"] if r["source"] == "limits"] == ["limit_set"]
