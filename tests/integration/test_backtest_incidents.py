"""A back-test measures how early each run warned of the incidents the journal records (alarms
disposed with cause process): on a stored level cycling through H and HH, an HH disposed as
a process incident, and a candidate with a lower H warns of it earlier than the current
settings do."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from alerting import Alarm, AlarmEvent, Cause, Disposal, Event, Journal, Priority
from hazardwatch.shell.backtest import backtest
from hazardwatch.shell.backtest_incidents import recorded_incidents
from hazardwatch.shell.cli import app
from hazardwatch.shell.service import Service, Settings
from hazardwatch.storage import BlockStore
from hazardwatch.storage.accounts import Role
from hazardwatch.storage.limits import LimitBook
from hazardwatch.vocabulary.clock import FakeClock
from hazardwatch.vocabulary.model import AlarmState, Condition
from tests.accounts import bearer
from tests.integration.test_backtest import HOURS, T0, _readings, stored_park
from tests.unit.test_api import TestClient  # imported past its warning
from tests.waiting import until

END = T0 + HOURS * 3600 - 1
EARLIER = {"T1-LT": {"limits": {"h": 7.0}}}  # H at 7 m instead of 8 m; HH stays at 9 m


@pytest.fixture
def park(tmp_path: Path) -> Iterator[tuple[LimitBook, BlockStore, Path]]:
    with stored_park(tmp_path) as found:
        yield found


def _hh_crossing(after_s: float) -> float:
    """When the stored level first exceeds HH (9 m) after `after_s` into the data."""
    sensor, ts, value = _readings()
    level_ts, level = ts[sensor == 0], value[sensor == 0]
    return float(level_ts[np.flatnonzero((level > 9.0) & (level_ts > T0 + after_s))[0]])


def _record(journal: Journal, alarm_id: int, ts: float, cause: Cause) -> None:
    """An HH on T1-LT raised at `ts` and disposed of with `cause`, as the live service
    journals it."""
    raised = Alarm(
        alarm_id, 0, "T1-LT", Condition.HH, Priority.HIGH, AlarmState.ACTIVE_UNACK, "e1",
        "hs1", "T1", 9.05, ts, ts,
    )  # fmt: skip
    disposal = Disposal(cause, "stopped the transfer pump", "op1", ts + 600)
    disposed = replace(raised, changed_ts=ts + 600, disposal=disposal)
    active = AlarmState.ACTIVE_UNACK
    journal.append(AlarmEvent(0, raised, Event.ACTIVATE, AlarmState.NORMAL, active, ts))
    journal.append(AlarmEvent(0, disposed, Event.DISPOSE, active, active, ts + 600, "op1"))


def _journal_incidents(path: Path) -> float:
    """Three disposed alarms: a process incident in the range, a false alarm in the range and
    a process incident after it; the first's activation time."""
    hit = _hh_crossing(after_s=1800)
    with Journal(path) as journal:
        _record(journal, 1, hit, Cause.PROCESS)
        _record(journal, 2, _hh_crossing(after_s=hit - T0 + 300), Cause.FALSE_ALARM)
        _record(journal, 3, END + 10, Cause.PROCESS)
    return hit


def test_a_candidate_with_a_lower_h_warns_earlier_of_a_recorded_incident(
    park: tuple[LimitBook, BlockStore, Path], tmp_path: Path
) -> None:
    book, store, _ = park
    hit = _journal_incidents(tmp_path / "alarms.db")
    with Journal(tmp_path / "alarms.db") as journal:
        found = recorded_incidents(journal, T0, END)
    assert [(i.alarm_id, i.tag, i.condition, i.activated_ts) for i in found] == [
        (1, "T1-LT", "hh", hit)
    ]
    result = backtest(
        book.site(), book.candidate(EARLIER), store, T0, END, tags=["T1-LT"], incidents=found
    )
    (row,) = result.to_dict()["incidents"]
    now, cand = row["current"]["tag"], row["candidate"]["tag"]
    # the warning this HH grew out of, not an earlier cycle's (the level falls to 6.4 m
    # between cycles, so every alarm clears): now the trend's predict_hh a couple of minutes
    # ahead, with the candidate its H at 7 m, about a minute before that
    assert cand["condition"] == "h"
    assert 0 < now["lead_s"] < cand["lead_s"] < 450
    assert now["ts"] == hit - now["lead_s"] and cand["ts"] == hit - cand["lead_s"]
    assert row["earlier_s"] == cand["lead_s"] - now["lead_s"]
    assert row["current"]["unit"] == now and row["candidate"]["hazard_source"] == cand
    assert row["action"] == "stopped the transfer pump"
    (line,) = [x for x in result.lines() if x.startswith("  alarm 1 T1-LT hh")]
    assert f"{now['lead_s']:+.0f} s -> {cand['lead_s']:+.0f} s" in line


def test_the_api_result_carries_the_incidents(
    park: tuple[LimitBook, BlockStore, Path], tmp_path: Path
) -> None:
    book, store, _ = park
    store.close()  # the service opens the same folder as its own store
    hit = _journal_incidents(tmp_path / "alarms.db")
    service = Service(
        book.site(), Settings(data_dir=tmp_path, checkpoint_interval_s=0), FakeClock(END),
        limits=book,
    )  # fmt: skip
    try:
        engineer = bearer(service.accounts, Role.ENGINEER)
        body = {"since": T0, "until": END, "candidate": EARLIER, "tags": ["T1-LT"]}
        with TestClient(service.app, base_url="http://127.0.0.1") as client:
            r = client.post("/api/backtests", json=body, headers=engineer)
            assert r.status_code == 202, r.text
            url = f"/api/backtests/{r.json()['id']}"

            def ended() -> bool:
                return client.get(url, headers=engineer).json()["status"] != "running"

            asyncio.run(until(ended, "the back-test", timeout_s=120))
            job = client.get(url, headers=engineer).json()
        assert job["status"] == "done", job
        (row,) = job["result"]["incidents"]
        assert row["alarm_id"] == 1 and row["activated_ts"] == hit
        assert row["earlier_s"] > 0
    finally:
        service.close()


def test_the_cli_prints_the_incidents_under_its_table(
    park: tuple[LimitBook, BlockStore, Path], tmp_path: Path
) -> None:
    _, store, _ = park
    store.close()  # the CLI opens the store read-only
    hit = _journal_incidents(tmp_path / "alarms.db")
    candidate = tmp_path / "changes.yaml"
    candidate.write_text("T1-LT: {limits: {h: 7.0}}\n", encoding="utf-8")
    args = [
        "backtest", "--config", str(tmp_path / "park.yaml"), "--candidate", str(candidate),
        "--from", str(T0), "--to", str(END), "--tags", "T1-LT", "--data-dir", str(tmp_path),
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    when = datetime.fromtimestamp(hit, UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert f"  alarm 1 T1-LT hh at {when}Z: +" in result.output
    assert "incidents (alarms disposed with cause process): 1;" in result.output
