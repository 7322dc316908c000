"""Mutes beside the alarm state: shelved (with expiry through the tick), suppressed by a
unit's maintenance mode (never gas), out of service; journalled, marked, held back."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from alerting import (
    AlarmEvent,
    AlarmManager,
    AlarmPolicy,
    ColourChange,
    Event,
    InvalidAction,
    InvalidTransition,
    Journal,
    Maintenance,
    MuteKind,
    NotMuted,
    OutOfService,
    Pipeline,
    Shelve,
    Tick,
    UnknownTarget,
    Unshelve,
    build_pipeline,
)
from alerting.action import Acknowledge
from hazardwatch.shell.timers import MuteExpiry
from hazardwatch.vocabulary.clock import FakeClock
from hazardwatch.vocabulary.model import AlarmState, Condition, ConditionChange, Kind, SensorTable
from tests.factories import enterprise, hazard_source, sensor, site, unit

T0 = 1_763_800_000.0
H = 3600.0
N, AU, AA, CU = (
    AlarmState.NORMAL,
    AlarmState.ACTIVE_UNACK,
    AlarmState.ACTIVE_ACK,
    AlarmState.CLEARED_UNACK,
)
# sensor indices: tank T1 has one sensor of each kind below, T2 a level sensor
LT, TT, PT, GC, GT, T2_LT = range(6)


def on(i: int, condition: Condition, value: float, ts: float) -> ConditionChange:
    return ConditionChange(i, condition, True, value, ts, condition.severity)


def off(i: int, condition: Condition, value: float, ts: float) -> ConditionChange:
    return ConditionChange(i, condition, False, value, ts, condition.severity)


class Heard:
    def __init__(self) -> None:
        self.events: list[AlarmEvent] = []

    def notify(self, events: list[AlarmEvent], colours: list[ColourChange]) -> None:
        self.events += events


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "alarms.db") as j:
        yield j


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def manager(journal: Journal, clock: FakeClock) -> AlarmManager:
    t1 = unit(
        "T1",
        sensor("T1-LT", Kind.LEVEL, hi=20.0),
        sensor("T1-TT", Kind.TEMPERATURE, hi=100.0),
        sensor("T1-PT", Kind.PRESSURE, hi=2.0),
        sensor("T1-GC", Kind.GAS_COMBUSTIBLE, hi=100.0, latch=False),
        sensor("T1-GT", Kind.GAS_TOXIC, hi=100.0, latch=False),
    )
    t2 = unit("T2", sensor("T2-LT", Kind.LEVEL, hi=20.0))
    s = site(enterprise("e1", hazard_source("hs1", t1, t2)))
    return AlarmManager(SensorTable.from_site(s), journal, clock, policy=AlarmPolicy(2 * H))


@pytest.fixture
def heard() -> Heard:
    return Heard()


@pytest.fixture
def pipeline(manager: AlarmManager, heard: Heard, clock: FakeClock) -> Pipeline:
    return build_pipeline(manager, [heard], clock)


@pytest.fixture
def tick(manager: AlarmManager, pipeline: Pipeline) -> Tick:
    return Tick(pipeline, [MuteExpiry(manager.mutes)])


# ------------------------------------------------------------------ shelved


def test_a_shelve_mutes_its_alarm_until_the_tick_ends_it_and_re_announces_it(
    pipeline: Pipeline, tick: Tick, heard: Heard, clock: FakeClock, journal: Journal
) -> None:
    [raised] = pipeline.run([on(LT, Condition.HH, 18.5, T0)])
    alarm_id = raised.alarm.id
    pipeline.run([Acknowledge(alarm_id, "li")])
    [shelved] = pipeline.run([Shelve(alarm_id, "li", H, "chattering", "10.0.0.7")], T0 + 10)
    assert (shelved.event, shelved.to_state, shelved.alarm.muted) == (Event.SHELVE, AA, "shelved")
    assert (shelved.who, shelved.where, shelved.why) == ("li", "10.0.0.7", "chattering")
    [update] = pipeline.run([replace(on(LT, Condition.HH, 18.9, T0 + 20), eta_ts=T0 + 99)])
    assert update.alarm.muted == "shelved"  # journalled, marked: notifiers can hold it back

    assert tick.next_due() == T0 + 10 + H
    assert tick(T0 + 10 + H - 1) == []
    [back] = tick(T0 + 10 + H)
    # still active: announced again, to be acknowledged again
    assert (back.event, back.from_state, back.to_state) == (Event.UNSHELVE, AA, AU)
    assert back.alarm.muted is None and back.alarm.acked_by is None
    assert (back.who, back.why) == (None, "expired")
    assert tick.next_due() is None
    assert [e.event for e in journal.history(alarm_id)] == [
        Event.ACTIVATE,
        Event.ACK,
        Event.SHELVE,
        Event.UPDATE,
        Event.UNSHELVE,
    ]
    assert heard.events[-1] == back


def test_an_occurrence_raised_while_shelved_is_muted_too(
    pipeline: Pipeline, tick: Tick, manager: AlarmManager
) -> None:
    [a] = pipeline.run([on(LT, Condition.HH, 18.5, T0)])
    pipeline.run([Acknowledge(a.alarm.id, "li"), Shelve(a.alarm.id, "li", H)])
    [gone] = pipeline.run([off(LT, Condition.HH, 17.0, T0 + 5)])
    assert gone.to_state is N
    [again] = pipeline.run([on(LT, Condition.HH, 18.6, T0 + 60)])
    assert again.alarm.id != a.alarm.id and again.alarm.muted == "shelved"
    [back] = tick(T0 + H)
    assert (back.alarm.id, back.event, back.to_state) == (again.alarm.id, Event.UNSHELVE, AU)


def test_a_shelve_longer_than_the_parks_maximum_is_refused(
    pipeline: Pipeline, journal: Journal
) -> None:
    [a] = pipeline.run([on(LT, Condition.HH, 18.5, T0)])
    for bad in (2 * H + 1, 0.0, -5.0, float("inf"), float("nan")):
        with pytest.raises(InvalidAction, match="at most 2 h"):
            pipeline.run([Shelve(a.alarm.id, "li", bad)])
    assert journal.markers() == []
    [ok] = pipeline.run([Shelve(a.alarm.id, "li", 2 * H)])
    assert ok.alarm.muted == "shelved"


def test_an_operator_unshelves_early_and_cannot_unshelve_twice(
    pipeline: Pipeline, manager: AlarmManager
) -> None:
    [a] = pipeline.run([on(LT, Condition.HH, 18.5, T0)])
    pipeline.run([Shelve(a.alarm.id, "li", H)])
    [u] = pipeline.run([Unshelve(a.alarm.id, "wang", "pump fixed")], T0 + 60)
    assert (u.event, u.to_state, u.who, u.alarm.muted) == (Event.UNSHELVE, AU, "wang", None)
    assert manager.mutes.markers() == []
    with pytest.raises(NotMuted):
        pipeline.run([Unshelve(a.alarm.id, "wang")])


def test_a_closed_alarm_cannot_be_shelved(pipeline: Pipeline) -> None:
    [a] = pipeline.run([on(LT, Condition.HH, 18.5, T0)])
    pipeline.run([Acknowledge(a.alarm.id, "li"), off(LT, Condition.HH, 17.0, T0 + 1)])
    with pytest.raises(InvalidTransition):
        pipeline.run([Shelve(a.alarm.id, "li", H)])


# ------------------------------------------------------------------ suppressed by design


def test_maintenance_suppresses_level_temperature_and_pressure_but_never_gas(
    pipeline: Pipeline, manager: AlarmManager
) -> None:
    raised = pipeline.run(
        [
            on(LT, Condition.HH, 18.5, T0),
            on(GC, Condition.GAS2, 60.0, T0),
            on(T2_LT, Condition.HH, 18.5, T0),
        ]
    )
    level, gas, other_tank = (e.alarm.id for e in raised)
    events = pipeline.run([Maintenance("T1", True, "zhao", "pump overhaul")], T0 + 10)
    assert [(e.alarm.id, e.event, e.alarm.muted) for e in events] == [
        (level, Event.SUPPRESS, "suppressed")
    ]
    later = pipeline.run(
        [
            on(TT, Condition.HH, 95.0, T0 + 20),
            on(PT, Condition.HH, 1.9, T0 + 20),
            on(GT, Condition.GAS1, 30.0, T0 + 20),
            on(GC, Condition.GAS1, 30.0, T0 + 20),
            on(T2_LT, Condition.LL, 0.1, T0 + 20),
        ]
    )
    muted = {e.alarm.tag: e.alarm.muted for e in later}
    assert muted == {
        "T1-TT": "suppressed",
        "T1-PT": "suppressed",
        "T1-GT": None,  # gas: never suppressed
        "T1-GC": None,
        "T2-LT": None,  # another tank
    }
    assert manager.get(gas).muted is None and manager.get(other_tank).muted is None
    ended = pipeline.run([Maintenance("T1", False, "zhao", "done")], T0 + 30)
    assert {(e.alarm.tag, e.event, e.alarm.muted) for e in ended} == {
        ("T1-LT", Event.UNSUPPRESS, None),
        ("T1-TT", Event.UNSUPPRESS, None),
        ("T1-PT", Event.UNSUPPRESS, None),
    }


def test_maintenance_of_a_unit_without_alarms_is_journalled_and_known_units_only(
    pipeline: Pipeline, journal: Journal
) -> None:
    assert pipeline.run([Maintenance("T2", True, "zhao", "cleaning", "10.0.0.9")]) == []
    [m] = journal.markers()
    assert (m.kind, m.target, m.who, m.why, m.where) == (
        MuteKind.SUPPRESSED,
        "T2",
        "zhao",
        "cleaning",
        "10.0.0.9",
    )
    with pytest.raises(UnknownTarget):
        pipeline.run([Maintenance("T9", True, "zhao")])
    with pytest.raises(NotMuted):
        pipeline.run([Maintenance("T1", False, "zhao")])


# ------------------------------------------------------------------ out of service


def test_out_of_service_mutes_its_instrument_gas_too_and_ends_at_its_time(
    pipeline: Pipeline, tick: Tick, journal: Journal
) -> None:
    [gas] = pipeline.run([on(GT, Condition.COMM_LOSS, float("nan"), T0)])
    [oos] = pipeline.run(
        [OutOfService("T1-GT", True, "zhao", "sensor head replaced", T0 + 4 * H)], T0 + 5
    )
    assert (oos.event, oos.alarm.muted, oos.to_state) == (
        Event.OUT_OF_SERVICE,
        "out_of_service",
        AU,
    )
    [m] = journal.markers()
    assert (m.kind, m.target, m.until_ts, m.why) == (
        MuteKind.OUT_OF_SERVICE,
        "T1-GT",
        T0 + 4 * H,
        "sensor head replaced",
    )
    assert tick.next_due() == T0 + 4 * H
    [back] = tick(T0 + 4 * H)
    assert (back.alarm.id, back.event, back.alarm.muted) == (gas.alarm.id, Event.IN_SERVICE, None)
    assert journal.markers() == []
    history = journal.marker_history()
    assert [(c.on, c.who, c.why) for c in history] == [
        (True, "zhao", "sensor head replaced"),
        (False, None, "expired"),
    ]


def test_out_of_service_needs_a_known_tag_and_an_end_after_now(pipeline: Pipeline) -> None:
    with pytest.raises(UnknownTarget):
        pipeline.run([OutOfService("nope", True, "zhao")])
    with pytest.raises(InvalidAction):
        pipeline.run([OutOfService("T1-GT", True, "zhao", until_ts=T0 - 1)], T0)
    with pytest.raises(InvalidAction):
        pipeline.run([OutOfService("T1-GT", True, "  ")])


def test_an_expiry_of_a_renewed_marker_does_nothing(
    pipeline: Pipeline, tick: Tick, manager: AlarmManager
) -> None:
    [a] = pipeline.run([on(LT, Condition.HH, 18.5, T0)])
    pipeline.run([Shelve(a.alarm.id, "li", H)], T0)
    due = manager.mutes.due(T0 + H)
    pipeline.run([Shelve(a.alarm.id, "li", H)], T0 + 30 * 60)  # renewed before its end
    assert pipeline.run(due, T0 + H) == []
    assert manager.get(a.alarm.id).muted == "shelved"
