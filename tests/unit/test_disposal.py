"""The closed loop: a disposal record before closing, unclosed alarms with their age and
overdue mark, the camera link of the tank, gas precedence and the first-out alarm."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alerting import (
    Acknowledge,
    AlarmManager,
    AlarmPolicy,
    AlreadyClosed,
    Cause,
    Close,
    DisposalRequired,
    Dispose,
    Event,
    InvalidAction,
    InvalidTransition,
    Journal,
    Priority,
)
from hazardwatch.vocabulary.clock import FakeClock
from hazardwatch.vocabulary.model import AlarmState, Condition, ConditionChange, Kind, SensorTable
from tests.factories import enterprise, hazard_source, sensor, site, unit

T0 = 1_763_800_000.0
H = 3600.0
LT, GC, GT, T2_LT = range(4)
CAMERA = "rtsp://cam.example/tk1"


def on(i: int, condition: Condition, value: float, ts: float) -> ConditionChange:
    return ConditionChange(i, condition, True, value, ts, condition.severity)


def off(i: int, condition: Condition, value: float, ts: float) -> ConditionChange:
    return ConditionChange(i, condition, False, value, ts, condition.severity)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "alarms.db") as j:
        yield j


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def mgr(journal: Journal, clock: FakeClock) -> AlarmManager:
    t1 = unit(
        "T1",
        sensor("T1-LT", Kind.LEVEL, hi=20.0),
        sensor("T1-GC", Kind.GAS_COMBUSTIBLE, hi=100.0, latch=False),
        sensor("T1-GT", Kind.GAS_TOXIC, hi=100.0, latch=False),
        camera_url=CAMERA,
    )
    t2 = unit("T2", sensor("T2-LT", Kind.LEVEL, hi=20.0))
    s = site(enterprise("e1", hazard_source("hs1", t1), hazard_source("hs2", t2)))
    policy = AlarmPolicy(disposal_deadline_s={Priority.HIGH: 2 * H, Priority.MEDIUM: 10 * H})
    cameras = {"T1": CAMERA}
    return AlarmManager(SensorTable.from_site(s), journal, clock, policy=policy, cameras=cameras)


def _raise_and_settle(mgr: AlarmManager) -> int:
    """An HH raised, acknowledged and cleared: back to normal, not yet closed."""
    [a] = mgr.apply([on(LT, Condition.HH, 18.5, T0)])
    mgr.acknowledge(a.alarm.id, "li")
    mgr.apply([off(LT, Condition.HH, 15.0, T0 + 60)])
    return a.alarm.id


def test_closing_without_a_disposal_record_is_refused_with_a_clear_message(
    mgr: AlarmManager, journal: Journal
) -> None:
    alarm_id = _raise_and_settle(mgr)
    with pytest.raises(DisposalRequired, match="no disposal record: record its cause"):
        mgr.perform([Close(alarm_id, "li")])
    assert journal.history(alarm_id)[-1].event is Event.CLEAR


def test_dispose_then_close_records_both_with_who_and_when(
    mgr: AlarmManager, journal: Journal, clock: FakeClock
) -> None:
    alarm_id = _raise_and_settle(mgr)
    clock.set(T0 + 600)
    [d] = mgr.perform(
        [Dispose(alarm_id, "li", Cause.PROCESS, "stopped the transfer pump", CAMERA + "/snap/1")]
    )
    assert d.event is Event.DISPOSE and d.to_state is AlarmState.NORMAL
    record = d.alarm.disposal
    assert record is not None
    assert (record.cause, record.action, record.by, record.ts, record.attachment_url) == (
        Cause.PROCESS,
        "stopped the transfer pump",
        "li",
        T0 + 600,
        CAMERA + "/snap/1",
    )
    clock.set(T0 + 700)
    [c] = mgr.perform([Close(alarm_id, "wang", "signed off", "10.0.0.3")])
    assert (c.alarm.closed_ts, c.alarm.closed_by, c.where) == (T0 + 700, "wang", "10.0.0.3")
    assert journal.alarm(alarm_id) == c.alarm and c.alarm.is_closed
    with pytest.raises(AlreadyClosed):
        mgr.perform([Close(alarm_id, "wang")])
    with pytest.raises(AlreadyClosed):
        mgr.perform([Dispose(alarm_id, "li", Cause.OTHER, "again")])


def test_an_open_alarm_can_be_disposed_of_but_not_closed(mgr: AlarmManager) -> None:
    [a] = mgr.apply([on(LT, Condition.HH, 18.5, T0)])
    [d] = mgr.perform([Dispose(a.alarm.id, "li", Cause.EQUIPMENT, "valve stuck")])
    assert d.to_state is AlarmState.ACTIVE_UNACK
    with pytest.raises(InvalidTransition, match="cannot close alarm"):
        mgr.perform([Close(a.alarm.id, "li")])


def test_a_disposal_needs_the_action_taken(mgr: AlarmManager) -> None:
    alarm_id = _raise_and_settle(mgr)
    with pytest.raises(InvalidAction, match="action taken"):
        mgr.perform([Dispose(alarm_id, "li", Cause.FALSE_ALARM, "   ")])


def test_unclosed_alarms_are_listed_oldest_first_and_go_once_closed(mgr: AlarmManager) -> None:
    first = _raise_and_settle(mgr)
    [second] = mgr.apply([on(T2_LT, Condition.H, 17.0, T0 + 100)])
    assert [a.id for a in mgr.unclosed()] == [first, second.alarm.id]
    mgr.perform([Dispose(first, "li", Cause.PROCESS, "pump stopped"), Close(first, "li")])
    assert [a.id for a in mgr.unclosed()] == [second.alarm.id]


def test_the_disposal_deadline_follows_the_priority() -> None:
    policy = AlarmPolicy(disposal_deadline_s={Priority.HIGH: 2 * H, Priority.MEDIUM: 10 * H})
    assert policy.deadline_s(Priority.HIGH) == 2 * H
    assert policy.deadline_s(Priority.LOW) == 72 * H  # not given: the default
    default = AlarmPolicy()
    assert [default.deadline_s(p) / H for p in Priority] == [72.0, 72.0, 24.0]
    assert default.shelve_max_s == 8 * H


def test_alarms_carry_their_tanks_camera_link(mgr: AlarmManager) -> None:
    [a, b] = mgr.apply([on(LT, Condition.HH, 18.5, T0), on(T2_LT, Condition.H, 17.0, T0)])
    assert (a.alarm.camera_url, b.alarm.camera_url) == (CAMERA, None)
    assert a.alarm.to_dict()["camera_url"] == CAMERA


def test_gas_precedence_and_the_first_out_of_each_hazard_source(mgr: AlarmManager) -> None:
    # all high priority except GAS1 (medium); raised in this order, one second apart
    ids = [
        e.alarm.id
        for e in mgr.apply(
            [
                on(LT, Condition.HH, 18.5, T0),
                on(GC, Condition.GAS2, 60.0, T0 + 1),
                on(GT, Condition.GAS2, 60.0, T0 + 2),
                on(GC, Condition.GAS1, 30.0, T0 + 3),
                on(T2_LT, Condition.HH, 18.5, T0 + 4),
            ]
        )
    ]
    hh, gc2, gt2, gc1, t2_hh = ids
    listed = mgr.alarms()
    # high: toxic second level, combustible second level, then newest; then medium
    assert [a.id for a in listed] == [gt2, gc2, t2_hh, hh, gc1]
    assert {a.id for a in listed if a.first_out} == {hh, t2_hh}
    assert next(a for a in listed if a.id == hh).to_dict()["first_out"] is True
    mgr.perform([Acknowledge(hh, "li")])
    mgr.apply([off(LT, Condition.HH, 15.0, T0 + 10)])  # hh back to normal
    assert {a.id for a in mgr.alarms() if a.first_out} == {gc2, t2_hh}
