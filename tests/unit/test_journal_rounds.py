"""A round's alarm transitions go into the journal in two statements (alerting.journal), with
the sequence numbers AUTOINCREMENT would give and the latest snapshot of each alarm."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from alerting import Event, Journal
from alerting.alarm import Alarm, AlarmEvent
from alerting.priority import Priority
from hazardwatch.vocabulary.model import AlarmState, Condition

AU, N = AlarmState.ACTIVE_UNACK, AlarmState.NORMAL


def raised(alarm_id: int, ts: float = 1.0) -> AlarmEvent:
    alarm = Alarm(
        id=alarm_id,
        sensor=alarm_id,
        tag=f"LT-{alarm_id}",
        condition=Condition.HH,
        priority=Priority.HIGH,
        state=AU,
        enterprise="ent1",
        hazard_source="hs",
        unit="TK1",
        value=19.0,
        raised_ts=ts,
        changed_ts=ts,
    )
    return AlarmEvent(0, alarm, Event.ACTIVATE, N, AU, ts)


def cleared(event: AlarmEvent, ts: float) -> AlarmEvent:
    alarm = replace(event.alarm, state=N, cleared_ts=ts, changed_ts=ts)
    return AlarmEvent(0, alarm, Event.CLEAR, AU, N, ts)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "alarms.db") as j:
        yield j


class Counted:
    """The journal's connection, counting the statements handed to SQLite."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db, self.calls = db, 0

    def execute(self, *args: Any) -> sqlite3.Cursor:
        self.calls += 1
        return self.db.execute(*args)

    def executemany(self, *args: Any) -> sqlite3.Cursor:
        self.calls += 1
        return self.db.executemany(*args)

    @property
    def in_transaction(self) -> bool:
        return self.db.in_transaction


def test_a_round_costs_the_same_statements_for_one_transition_or_fifty(journal: Journal) -> None:
    counted = Counted(journal._db)  # type: ignore[arg-type]
    journal._db = counted  # type: ignore[assignment]
    journal.append_many([raised(1)])
    one = counted.calls
    journal.append_many([raised(i) for i in range(2, 52)])
    assert counted.calls - one == one
    assert journal.last_seq() == 51
    journal._db = counted.db


def test_seqs_follow_the_highest_ever_used_and_the_last_snapshot_wins(
    journal: Journal, tmp_path: Path
) -> None:
    first = journal.append_many([raised(1), raised(2)])
    with sqlite3.connect(tmp_path / "alarms.db") as db:  # old events purged by hand
        db.execute("DELETE FROM alarm_event")
    up = raised(3, ts=5.0)
    seqs = journal.append_many([up, cleared(up, 6.0), raised(4, ts=7.0)])
    assert first == [1, 2] and seqs == [3, 4, 5]
    assert [(e.seq, e.to_state) for e in journal.history(3)] == [(3, AU), (4, N)]
    assert journal.alarm(3) is not None and journal.alarm(3).state is N  # type: ignore[union-attr]
    assert journal.events_after(0)[-1].seq == 5
