"""The alarm pipeline: stages in the builder's order, journal before notify, one door for
condition changes and acknowledgements, colour changes beside their events."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alerting import (
    Acknowledge,
    AlarmEvent,
    AlarmManager,
    AlarmNotFound,
    ColourChange,
    Context,
    Event,
    InvalidTransition,
    Journal,
    JournalStage,
    LifecycleStage,
    MuteStage,
    NotifyStage,
    Pipeline,
    build_pipeline,
)
from hazardwatch.vocabulary.clock import FakeClock
from hazardwatch.vocabulary.model import (
    AlarmState,
    Condition,
    ConditionChange,
    Kind,
    RiskColour,
    SensorTable,
)
from tests.factories import enterprise, hazard_source, sensor, site, unit

T0 = 1_763_800_000.0


def on(sensor: int, condition: Condition, value: float, ts: float) -> ConditionChange:
    return ConditionChange(sensor, condition, True, value, ts, condition.severity)


def off(sensor: int, condition: Condition, value: float, ts: float) -> ConditionChange:
    return ConditionChange(sensor, condition, False, value, ts, condition.severity)


class Heard:
    """A notifier that keeps what it is told and what the journal held at that moment."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.calls: list[tuple[list[AlarmEvent], list[ColourChange]]] = []
        self.journalled_when_told: list[bool] = []

    def notify(self, events: list[AlarmEvent], colours: list[ColourChange]) -> None:
        self.calls.append((list(events), list(colours)))
        self.journalled_when_told += [e in self.journal.history(e.alarm.id) for e in events]


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "alarms.db") as j:
        yield j


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def manager(journal: Journal, clock: FakeClock) -> AlarmManager:
    s = site(
        enterprise(
            "e1",
            hazard_source("hs1", unit("T1", sensor("T1-LT", Kind.LEVEL, hi=20.0))),
            hazard_source("hs2", unit("T2", sensor("T2-LT", Kind.LEVEL, hi=20.0))),
        )
    )
    return AlarmManager(SensorTable.from_site(s), journal, clock)


@pytest.fixture
def heard(journal: Journal) -> Heard:
    return Heard(journal)


@pytest.fixture
def pipeline(manager: AlarmManager, heard: Heard, clock: FakeClock) -> Pipeline:
    return build_pipeline(manager, [heard], clock)


class Mark:
    """A stage that notes its name in the context's log and passes its items on."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log = name, log

    def run(self, ctx: Context, items: list[Any]) -> list[Any]:
        self.log.append(self.name)
        return [*items, self.name]


def test_the_pipeline_runs_its_stages_in_order_each_on_the_items_of_the_one_before() -> None:
    log: list[str] = []
    p = Pipeline([Mark("a", log), Mark("b", log), Mark("c", log)], FakeClock(T0))
    assert p.run(["x"]) == ["x", "a", "b", "c"]
    assert log == ["a", "b", "c"]
    assert p.run([]) == [] and log == ["a", "b", "c"]  # nothing to do: no stage runs


def test_the_builder_writes_the_order_once_lifecycle_mute_journal_notify(
    pipeline: Pipeline,
) -> None:
    stages = [type(s) for s in pipeline.stages]
    assert stages == [LifecycleStage, MuteStage, JournalStage, NotifyStage]


def test_events_are_journalled_before_anyone_is_told(pipeline: Pipeline, heard: Heard) -> None:
    events = pipeline.run([on(0, Condition.H, 17.5, T0), on(1, Condition.HH, 18.5, T0)])
    assert [e.event for e in events] == [Event.ACTIVATE, Event.ACTIVATE]
    assert all(e.seq > 0 for e in events)
    assert heard.calls[0][0] == events and heard.journalled_when_told == [True, True]


def test_colour_changes_leave_with_the_events_that_caused_them(
    pipeline: Pipeline, heard: Heard
) -> None:
    (raised,) = pipeline.run([on(0, Condition.HH, 18.5, T0)])
    assert heard.calls == [([raised], [ColourChange("hs1", RiskColour.BLUE, RiskColour.RED, T0)])]


def test_an_acknowledgement_goes_through_the_same_door_and_is_heard_with_its_colour(
    pipeline: Pipeline, heard: Heard, clock: FakeClock, manager: AlarmManager
) -> None:
    (raised,) = pipeline.run([on(0, Condition.H, 17.5, T0)])
    pipeline.run([off(0, Condition.H, 16.0, T0 + 5)])
    clock.set(T0 + 30)
    (acked,) = pipeline.run([Acknowledge(raised.alarm.id, "li", "drained")])
    assert (acked.event, acked.to_state, acked.ts) == (Event.ACK, AlarmState.NORMAL, T0 + 30)
    assert acked.alarm.acked_by == "li" and acked.alarm.ack_comment == "drained"
    # Acknowledging a cleared alarm closes it: hs1 goes back to blue, told with the event.
    assert heard.calls[-1] == (
        [acked],
        [ColourChange("hs1", RiskColour.ORANGE, RiskColour.BLUE, T0 + 30)],
    )
    assert heard.journalled_when_told[-1] and manager.risk_colours()["hs1"] is RiskColour.BLUE


def test_a_refused_action_journals_nothing_and_tells_no_one(
    pipeline: Pipeline, heard: Heard, journal: Journal
) -> None:
    (raised,) = pipeline.run([on(0, Condition.H, 17.5, T0)])
    pipeline.run([Acknowledge(raised.alarm.id, "li")])
    told = len(heard.calls)
    with pytest.raises(InvalidTransition):
        pipeline.run([Acknowledge(raised.alarm.id, "wang")])
    with pytest.raises(AlarmNotFound):
        pipeline.run([Acknowledge(4242, "wang")])
    assert len(heard.calls) == told and len(journal.history(raised.alarm.id)) == 2


def test_one_pass_sees_its_own_earlier_actions(pipeline: Pipeline) -> None:
    events = pipeline.run(
        [on(0, Condition.H, 17.5, T0), Acknowledge(1, "li"), off(0, Condition.H, 16.0, T0 + 1)]
    )
    assert [(e.event, e.to_state) for e in events] == [
        (Event.ACTIVATE, AlarmState.ACTIVE_UNACK),
        (Event.ACK, AlarmState.ACTIVE_ACK),
        (Event.CLEAR, AlarmState.NORMAL),
    ]
    assert {e.alarm.id for e in events} == {1}
