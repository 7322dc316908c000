"""POST /api/backtests: a back-test of the service's own stored history, run in the
background for engineers, with the same result as one run in the foreground; the limits
suggested from that history."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from hazardwatch.shell.backtest import backtest
from hazardwatch.shell.service import Service, Settings
from hazardwatch.storage import BlockStore
from hazardwatch.storage.accounts import Role
from hazardwatch.storage.limits import LimitBook
from hazardwatch.vocabulary.clock import FakeClock
from tests.accounts import bearer
from tests.integration.test_backtest import CHANGES, T0, stored_park
from tests.unit.test_api import TestClient  # imported past its warning
from tests.waiting import until


@pytest.fixture
def park(tmp_path: Path) -> Iterator[tuple[LimitBook, BlockStore, Path]]:
    with stored_park(tmp_path) as found:
        yield found


def test_a_backtest_runs_in_the_background_for_engineers(
    park: tuple[LimitBook, BlockStore, Path], tmp_path: Path
) -> None:
    book, store, _ = park
    store.close()  # the service opens the same folder as its own store
    service = Service(
        book.site(), Settings(data_dir=tmp_path, checkpoint_interval_s=0), FakeClock(T0),
        limits=book,
    )  # fmt: skip
    store = service.store
    try:
        engineer = bearer(service.accounts, Role.ENGINEER)
        operator = bearer(service.accounts, Role.OPERATOR)
        body = {"since": T0, "until": T0 + 1800, "candidate": CHANGES, "tags": ["T1-LT"]}
        with TestClient(service.app, base_url="http://127.0.0.1") as client:
            assert client.post("/api/backtests", json=body, headers=operator).status_code == 403
            bad = {**body, "candidate": {"T1-LT": {"limits": {"hh": 99}}}}
            r = client.post("/api/backtests", json=bad, headers=engineer)
            assert r.status_code == 422 and "outside the instrument range" in r.text
            r = client.post("/api/backtests", json=body, headers=engineer)
            assert r.status_code == 202, r.text
            url = f"/api/backtests/{r.json()['id']}"

            def ended() -> bool:
                return client.get(url, headers=operator).json()["status"] != "running"

            asyncio.run(until(ended, "the back-test", timeout_s=120))
            job = client.get(url, headers=operator).json()
            r = client.get(
                "/api/limits/T1-LT/suggestion",
                params={"since": T0, "until": T0 + 1800},
                headers=operator,
            )
            assert r.status_code == 200 and r.json()["kind"] == "suggestion"
            assert r.json()["readings"] == 1801 and r.json()["change"]["limits"].keys() == {
                "hh",
                "h",
            }
        assert job["status"] == "done", job
        result = job["result"]
        assert result["tags"] == ["T1-LT"] and result["readings"] == 1801
        expected = backtest(
            book.site(), book.candidate(CHANGES), store, T0, T0 + 1800, tags=["T1-LT"]
        )
        assert result["current"]["T1-LT"]["alarms"] == expected.current["T1-LT"].alarms
        assert result["candidate"]["T1-LT"]["alarms"] == expected.candidate["T1-LT"].alarms
    finally:
        service.close()
