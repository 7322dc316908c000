"""Latching: a gas second-level alarm (by default) stays after its value returns until an
operator resets it; acknowledging is not a reset; a reset while still active is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alerting import (
    Acknowledge,
    AlarmManager,
    Event,
    InvalidTransition,
    Journal,
    Reset,
)
from hazardwatch.vocabulary.clock import FakeClock
from hazardwatch.vocabulary.model import AlarmState, Condition, ConditionChange, Kind, SensorTable
from tests.factories import enterprise, hazard_source, sensor, site, unit

T0 = 1_763_800_000.0
N, AU, AA, CU, LU, LA = (
    AlarmState.NORMAL,
    AlarmState.ACTIVE_UNACK,
    AlarmState.ACTIVE_ACK,
    AlarmState.CLEARED_UNACK,
    AlarmState.LATCHED_UNACK,
    AlarmState.LATCHED_ACK,
)
GAS, GAS_NO_LATCH, LEVEL, LEVEL_LATCH = range(4)


def on(i: int, condition: Condition, value: float, ts: float) -> ConditionChange:
    return ConditionChange(i, condition, True, value, ts, condition.severity)


def off(i: int, condition: Condition, value: float, ts: float) -> ConditionChange:
    return ConditionChange(i, condition, False, value, ts, condition.severity)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "alarms.db") as j:
        yield j


@pytest.fixture
def mgr(journal: Journal) -> AlarmManager:
    t1 = unit(
        "T1",
        sensor("GT-1", Kind.GAS_TOXIC, hi=100.0),  # gas: latches by default
        sensor("GT-2", Kind.GAS_COMBUSTIBLE, hi=100.0, latch=False),
        sensor("LT-1", Kind.LEVEL, hi=20.0),
        sensor("LT-2", Kind.LEVEL, hi=20.0, latch=True),
    )
    s = site(enterprise("e1", hazard_source("hs1", t1)))
    return AlarmManager(SensorTable.from_site(s), journal, FakeClock(T0 + 100))


def test_gas_level2_latches_until_reset(mgr: AlarmManager, journal: Journal) -> None:
    [a] = mgr.apply([on(GAS, Condition.GAS2, 60.0, T0)])
    [held] = mgr.apply([off(GAS, Condition.GAS2, 2.0, T0 + 30)])
    assert (held.event, held.from_state, held.to_state) == (Event.CLEAR, AU, LU)
    assert held.alarm.cleared_ts == T0 + 30 and held.alarm.is_open
    # the detector no longer holds the condition: it may raise it again
    assert (GAS, Condition.GAS2) not in mgr.active_conditions()
    acked = mgr.acknowledge(a.alarm.id, "li", "horn silenced")
    assert acked.to_state is LA  # silencing is not a reset
    [reset] = mgr.perform([Reset(a.alarm.id, "li", "area checked, no leak")])
    assert (reset.event, reset.from_state, reset.to_state) == (Event.RESET, LA, N)
    assert (reset.who, reset.why) == ("li", "area checked, no leak")
    assert [e.to_state for e in journal.history(a.alarm.id)] == [AU, LU, LA, N]


def test_a_reset_of_an_alarm_still_active_is_refused(mgr: AlarmManager, journal: Journal) -> None:
    [a] = mgr.apply([on(GAS, Condition.GAS2, 60.0, T0)])
    with pytest.raises(InvalidTransition, match="cannot reset alarm 1 in state active_unack"):
        mgr.perform([Reset(a.alarm.id, "li")])
    mgr.acknowledge(a.alarm.id, "li")
    with pytest.raises(InvalidTransition, match="active_ack"):
        mgr.perform([Reset(a.alarm.id, "li")])
    assert len(journal.history(a.alarm.id)) == 2


def test_a_reset_before_acknowledging_leaves_it_to_acknowledge(mgr: AlarmManager) -> None:
    [a] = mgr.apply([on(GAS, Condition.GAS2, 60.0, T0)])
    mgr.apply([off(GAS, Condition.GAS2, 2.0, T0 + 30)])
    [reset] = mgr.perform([Reset(a.alarm.id, "li")])
    assert reset.to_state is CU
    assert mgr.acknowledge(a.alarm.id, "li").to_state is N


def test_a_latched_alarm_whose_gas_rises_again_is_unacknowledged_again(
    mgr: AlarmManager,
) -> None:
    [a] = mgr.apply([on(GAS, Condition.GAS2, 60.0, T0)])
    mgr.acknowledge(a.alarm.id, "li")
    mgr.apply([off(GAS, Condition.GAS2, 2.0, T0 + 30)])
    [again] = mgr.apply([on(GAS, Condition.GAS2, 70.0, T0 + 60)])
    assert (again.alarm.id, again.from_state, again.to_state) == (a.alarm.id, LA, AU)
    assert again.alarm.acked_by is None and again.alarm.cleared_ts is None


def test_first_level_and_sensors_configured_not_to_latch_clear_as_usual(
    mgr: AlarmManager,
) -> None:
    mgr.apply(
        [
            on(GAS, Condition.GAS1, 30.0, T0),
            on(GAS_NO_LATCH, Condition.GAS2, 60.0, T0),
            on(LEVEL, Condition.HH, 19.0, T0),
        ]
    )
    cleared = mgr.apply(
        [
            off(GAS, Condition.GAS1, 2.0, T0 + 5),
            off(GAS_NO_LATCH, Condition.GAS2, 2.0, T0 + 5),
            off(LEVEL, Condition.HH, 15.0, T0 + 5),
        ]
    )
    assert [e.to_state for e in cleared] == [CU, CU, CU]


def test_a_sensor_configured_to_latch_latches_its_second_level_limits(mgr: AlarmManager) -> None:
    mgr.apply([on(LEVEL_LATCH, Condition.HH, 19.0, T0), on(LEVEL_LATCH, Condition.H, 17.0, T0)])
    cleared = mgr.apply(
        [off(LEVEL_LATCH, Condition.HH, 15.0, T0 + 5), off(LEVEL_LATCH, Condition.H, 15.0, T0 + 5)]
    )
    assert [(e.alarm.condition, e.to_state) for e in cleared] == [
        (Condition.HH, LU),
        (Condition.H, CU),
    ]


def test_a_latched_alarm_survives_a_restart(mgr: AlarmManager, journal: Journal) -> None:
    [a] = mgr.apply([on(GAS, Condition.GAS2, 60.0, T0)])
    mgr.apply([off(GAS, Condition.GAS2, 2.0, T0 + 30)])
    again = AlarmManager(mgr._table, journal, FakeClock(T0 + 200))
    assert again.get(a.alarm.id).state is LU
    assert again.active_conditions() == []
    assert again.perform([Acknowledge(a.alarm.id, "li"), Reset(a.alarm.id, "li")])[-1].to_state is N
