"""AlarmManager: condition changes become journalled alarms; acks, filters, risk colours."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerting import (
    AlarmManager,
    AlarmNotFound,
    AlertingError,
    ColourChange,
    Event,
    InvalidAcknowledgement,
    InvalidTransition,
    Journal,
    JournalError,
    Priority,
    Reset,
    Shelve,
)
from hazardwatch.vocabulary.clock import FakeClock
from hazardwatch.vocabulary.model import (
    AlarmState,
    Condition,
    ConditionChange,
    HazardSource,
    Kind,
    Limits,
    Responsible,
    RiskColour,
    Sensor,
    SensorTable,
    Site,
)
from tests.factories import enterprise, hazard_source, sensor, site, unit

N, AU, AA, CU = (
    AlarmState.NORMAL,
    AlarmState.ACTIVE_UNACK,
    AlarmState.ACTIVE_ACK,
    AlarmState.CLEARED_UNACK,
)
T0 = 1_763_800_000.0


def _sensor(tag: str, kind: Kind) -> Sensor:
    limits = Limits(hh=50.0, h=25.0) if kind.is_gas else Limits(hh=18.0, h=16.0, l=2, ll=1)
    return sensor(tag, kind, limits=limits, deadband=0.5)


def _source(hs: str, tank: str, sensors: tuple[Sensor, ...]) -> HazardSource:
    tk = unit(tank, *sensors)
    return hazard_source(hs, tk, name=hs.upper(), responsible=Responsible("wang", "li", "zhao"))


def make_site(*, reverse_a: bool = False, drop: str | None = None) -> Site:
    """Two enterprises, four hazard sources (hs-b2 never alarms); sensors 0..4 in this order:
    LT101, GT101 (hs-a1), LT201 (hs-a2), LT301 (hs-b1), LT401 (hs-b2)."""
    a1 = (_sensor("LT101", Kind.LEVEL), _sensor("GT101", Kind.GAS_COMBUSTIBLE))
    if reverse_a:
        a1 = a1[::-1]
    a1 = tuple(s for s in a1 if s.tag != drop)
    return site(
        enterprise(
            "ent-a",
            _source("hs-a1", "TK101", a1),
            _source("hs-a2", "TK201", (_sensor("LT201", Kind.LEVEL),)),
            name="A",
        ),
        enterprise(
            "ent-b",
            _source("hs-b1", "TK301", (_sensor("LT301", Kind.LEVEL),)),
            _source("hs-b2", "TK401", (_sensor("LT401", Kind.LEVEL),)),
            name="B",
        ),
        park="test-park",
    )


def on(sensor: int, condition: Condition, value: float, ts: float) -> ConditionChange:
    return ConditionChange(sensor, condition, True, value, ts, condition.severity)


def off(sensor: int, condition: Condition, value: float, ts: float) -> ConditionChange:
    return ConditionChange(sensor, condition, False, value, ts, condition.severity)


def predict(sensor: int, value: float, ts: float, eta_ts: float | None) -> ConditionChange:
    """PREDICT_HH active, the trend reaching HH at `eta_ts`."""
    c = Condition.PREDICT_HH
    return ConditionChange(sensor, c, True, value, ts, c.severity, eta_ts=eta_ts)


@pytest.fixture
def table() -> SensorTable:
    return SensorTable.from_site(make_site())


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "alarms.db") as j:
        yield j


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0 + 1000)


@pytest.fixture
def mgr(table: SensorTable, journal: Journal, clock: FakeClock) -> AlarmManager:
    return AlarmManager(table, journal, clock)


# ------------------------------------------------------------------ lifecycle


def test_activation_raises_an_active_unacknowledged_alarm(
    mgr: AlarmManager, journal: Journal
) -> None:
    [ev] = mgr.apply([on(0, Condition.HH, 18.4, T0)])
    a = ev.alarm
    assert (ev.event, ev.from_state, ev.to_state, ev.ts) == (Event.ACTIVATE, N, AU, T0)
    assert (a.state, a.tag, a.condition, a.priority, a.value) == (
        AU,
        "LT101",
        Condition.HH,
        Priority.HIGH,
        18.4,
    )
    assert (a.enterprise, a.hazard_source, a.unit, a.raised_ts) == ("ent-a", "hs-a1", "TK101", T0)
    assert mgr.get(a.id) == a
    assert journal.history(a.id) == [ev]  # journalled, with the seq the caller got
    assert journal.open_alarms() == [a]


def test_ack_then_clear_returns_to_normal(
    mgr: AlarmManager, journal: Journal, clock: FakeClock
) -> None:
    [raised] = mgr.apply([on(0, Condition.HH, 18.4, T0)])
    clock.advance(30)
    acked = mgr.acknowledge(raised.alarm.id, " wang ", "inlet valve closed")
    assert (acked.event, acked.from_state, acked.to_state) == (Event.ACK, AU, AA)
    assert acked.alarm.acked_by == "wang"
    assert acked.alarm.ack_comment == "inlet valve closed"
    assert acked.alarm.acked_ts == clock.now() == acked.ts
    assert mgr.get(raised.alarm.id).state is AA

    [cleared] = mgr.apply([off(0, Condition.HH, 17.0, T0 + 60)])
    assert (cleared.event, cleared.from_state, cleared.to_state) == (Event.CLEAR, AA, N)
    assert cleared.alarm.cleared_ts == T0 + 60 and cleared.alarm.value == 17.0
    assert cleared.alarm.acked_by == "wang"  # the ack stays on the record
    assert mgr.alarms() == []
    assert mgr.get(raised.alarm.id) == cleared.alarm  # closed ones come from the journal
    assert [e.event for e in journal.history(raised.alarm.id)] == [
        Event.ACTIVATE,
        Event.ACK,
        Event.CLEAR,
    ]
    assert journal.open_alarms() == []


def test_clear_before_ack_waits_for_ack_then_closes(mgr: AlarmManager) -> None:
    [raised] = mgr.apply([on(3, Condition.H, 16.2, T0)])
    [cleared] = mgr.apply([off(3, Condition.H, 15.0, T0 + 5)])
    assert (cleared.from_state, cleared.to_state) == (AU, CU)
    assert mgr.alarms() == [cleared.alarm]
    assert mgr.active_conditions() == []  # cleared: the detector must not think it active
    closed = mgr.acknowledge(raised.alarm.id, "zhao")
    assert (closed.from_state, closed.to_state) == (CU, N)
    assert mgr.alarms() == []


def test_reactivation_from_cleared_unack_keeps_the_id(mgr: AlarmManager) -> None:
    [raised] = mgr.apply([on(3, Condition.H, 16.2, T0)])
    mgr.apply([off(3, Condition.H, 15.0, T0 + 5)])
    [again] = mgr.apply([on(3, Condition.H, 16.8, T0 + 9)])
    assert (again.event, again.from_state, again.to_state) == (Event.ACTIVATE, CU, AU)
    assert again.alarm.id == raised.alarm.id
    assert again.alarm.raised_ts == T0 and again.alarm.cleared_ts is None
    assert again.alarm.value == 16.8 and again.alarm.changed_ts == T0 + 9


def test_reactivation_after_normal_is_a_new_alarm(mgr: AlarmManager) -> None:
    [first] = mgr.apply([on(3, Condition.H, 16.2, T0)])
    mgr.acknowledge(first.alarm.id, "li")
    mgr.apply([off(3, Condition.H, 15.0, T0 + 5)])
    [second] = mgr.apply([on(3, Condition.H, 16.5, T0 + 9)])
    assert second.alarm.id == first.alarm.id + 1
    assert (second.from_state, second.alarm.raised_ts, second.alarm.acked_by) == (N, T0 + 9, None)


def test_repeated_activation_and_stray_clears_are_ignored(mgr: AlarmManager) -> None:
    assert mgr.apply([off(0, Condition.HH, 1.0, T0)]) == []  # nothing open
    [raised] = mgr.apply([on(0, Condition.HH, 18.4, T0)])
    assert mgr.apply([on(0, Condition.HH, 19.0, T0 + 1)]) == []
    mgr.acknowledge(raised.alarm.id, "li")
    assert mgr.apply([on(0, Condition.HH, 19.5, T0 + 2)]) == []
    assert mgr.get(raised.alarm.id).value == 18.4
    [c] = mgr.apply([off(2, Condition.L, 5.0, T0), on(3, Condition.L, 1.5, T0)])
    assert c.alarm.tag == "LT301"  # the stray clear on LT201 produced nothing
    mgr.apply([off(3, Condition.L, 5.0, T0 + 1)])
    assert mgr.apply([off(3, Condition.L, 5.0, T0 + 2)]) == []  # already cleared


def test_one_batch_runs_its_changes_in_order(mgr: AlarmManager, journal: Journal) -> None:
    events = mgr.apply(
        [
            on(3, Condition.H, 16.2, T0),
            off(3, Condition.H, 15.0, T0 + 1),
            on(3, Condition.H, 16.4, T0 + 2),
            on(4, Condition.LL, 0.5, T0 + 2),
        ]
    )
    assert [(e.event, e.to_state) for e in events] == [
        (Event.ACTIVATE, AU),
        (Event.CLEAR, CU),
        (Event.ACTIVATE, AU),
        (Event.ACTIVATE, AU),
    ]
    assert len({e.alarm.id for e in events[:3]}) == 1 and events[3].alarm.id != events[0].alarm.id
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    assert journal.history(events[0].alarm.id) == events[:3]


# ------------------------------------------------------------ predicted time of crossing


def test_prediction_carries_its_eta_and_a_new_eta_is_a_journalled_update(
    mgr: AlarmManager, journal: Journal
) -> None:
    [raised] = mgr.apply([predict(0, 15.0, T0, eta_ts=T0 + 1200)])
    assert (raised.event, raised.to_state, raised.alarm.eta_ts) == (Event.ACTIVATE, AU, T0 + 1200)
    assert raised.alarm.priority is Priority.MEDIUM

    [update] = mgr.apply([predict(0, 15.6, T0 + 60, eta_ts=T0 + 900)])
    assert (update.event, update.from_state, update.to_state, update.ts) == (
        Event.UPDATE,
        AU,
        AU,
        T0 + 60,
    )
    a = update.alarm
    assert (a.id, a.eta_ts, a.value) == (raised.alarm.id, T0 + 900, 15.6)
    assert (a.raised_ts, a.changed_ts) == (T0, T0)  # not a state change
    assert mgr.get(a.id) == a and journal.open_alarms() == [a]
    assert journal.history(a.id) == [raised, update]
    assert update.to_dict()["alarm"]["eta_ts"] == T0 + 900  # type: ignore[index]


def test_update_keeps_an_acknowledgement_and_changes_no_colour(
    mgr: AlarmManager, clock: FakeClock
) -> None:
    raising = mgr.commit(mgr.transitions([predict(3, 15.0, T0, eta_ts=T0 + 1200)], T0))
    [raised] = raising.events
    assert raising.colours[-1].new is RiskColour.ORANGE
    mgr.acknowledge(raised.alarm.id, "li")
    updating = mgr.commit(mgr.transitions([predict(3, 15.5, T0 + 30, eta_ts=T0 + 600)], T0))
    [update] = updating.events
    assert (update.from_state, update.to_state) == (AA, AA)
    assert (update.alarm.acked_by, update.alarm.eta_ts) == ("li", T0 + 600)
    assert updating.colours == []


def test_repeated_prediction_without_a_new_eta_is_ignored(mgr: AlarmManager) -> None:
    [raised] = mgr.apply([predict(0, 15.0, T0, eta_ts=T0 + 1200)])
    assert mgr.apply([predict(0, 15.2, T0 + 1, eta_ts=T0 + 1200)]) == []  # same eta
    assert mgr.apply([predict(0, 15.2, T0 + 2, eta_ts=None)]) == []
    assert mgr.apply([predict(0, 15.2, T0 + 3, eta_ts=math.nan)]) == []
    assert mgr.get(raised.alarm.id).eta_ts == T0 + 1200
    # a plain limit alarm reported again is still nothing, whatever it carries
    mgr.apply([on(0, Condition.HH, 18.4, T0)])
    assert mgr.apply([on(0, Condition.HH, 18.9, T0 + 1)]) == []


def test_clear_drops_the_eta_and_reactivation_brings_a_new_one(mgr: AlarmManager) -> None:
    [raised] = mgr.apply([predict(0, 15.0, T0, eta_ts=T0 + 1200)])
    [cleared] = mgr.apply([off(0, Condition.PREDICT_HH, 14.8, T0 + 100)])
    assert (cleared.to_state, cleared.alarm.eta_ts) == (CU, None)
    # an update can only follow an activation: in CLEARED_UNACK it activates again
    [again] = mgr.apply([predict(0, 15.1, T0 + 200, eta_ts=T0 + 1500)])
    assert (again.event, again.from_state, again.to_state) == (Event.ACTIVATE, CU, AU)
    assert (again.alarm.id, again.alarm.eta_ts) == (raised.alarm.id, T0 + 1500)


def test_activation_and_updates_in_one_batch_run_in_order(mgr: AlarmManager) -> None:
    events = mgr.apply(
        [
            predict(0, 15.0, T0, eta_ts=T0 + 1200),
            predict(0, 15.5, T0 + 10, eta_ts=T0 + 800),
            predict(0, 16.0, T0 + 20, eta_ts=T0 + 500),
        ]
    )
    assert [e.event for e in events] == [Event.ACTIVATE, Event.UPDATE, Event.UPDATE]
    assert [e.alarm.eta_ts for e in events] == [T0 + 1200, T0 + 800, T0 + 500]
    assert mgr.get(events[0].alarm.id).eta_ts == T0 + 500


def test_ack_errors_are_typed_and_change_nothing(mgr: AlarmManager, journal: Journal) -> None:
    with pytest.raises(AlarmNotFound, match="no alarm with id 99"):
        mgr.acknowledge(99, "li")
    with pytest.raises(AlarmNotFound):
        mgr.get(99)
    [raised] = mgr.apply([on(0, Condition.HH, 18.4, T0)])
    alarm_id = raised.alarm.id
    with pytest.raises(InvalidAcknowledgement):
        mgr.acknowledge(alarm_id, "   ")
    mgr.acknowledge(alarm_id, "li")
    with pytest.raises(InvalidTransition, match=f"cannot ack alarm {alarm_id} in state active_ack"):
        mgr.acknowledge(alarm_id, "wang")
    assert mgr.get(alarm_id).acked_by == "li"
    mgr.apply([off(0, Condition.HH, 17.0, T0 + 5)])
    with pytest.raises(InvalidTransition, match="state normal"):
        mgr.acknowledge(alarm_id, "wang")
    assert len(journal.history(alarm_id)) == 3


def test_priorities_can_be_overridden(table: SensorTable, journal: Journal) -> None:
    mgr = AlarmManager(table, journal, FakeClock(), priorities={Condition.H: Priority.HIGH})
    [h, oor] = mgr.apply([on(3, Condition.H, 16.2, T0), on(2, Condition.OUT_OF_RANGE, 120, T0)])
    assert (h.alarm.priority, oor.alarm.priority) == (Priority.HIGH, Priority.LOW)


def test_comm_loss_keeps_nan_value(mgr: AlarmManager, journal: Journal) -> None:
    [ev] = mgr.apply([on(1, Condition.COMM_LOSS, math.nan, T0)])
    assert math.isnan(journal.open_alarms()[0].value)
    assert ev.to_dict()["alarm"]["value"] is None  # type: ignore[index]


def test_unknown_sensor_index_is_refused_before_anything_is_journalled(
    mgr: AlarmManager, journal: Journal
) -> None:
    with pytest.raises(AlertingError, match="sensor index 5"):
        mgr.apply([on(0, Condition.HH, 18.4, T0), on(5, Condition.HH, 18.4, T0)])
    assert journal.open_alarms() == [] and mgr.alarms() == []


def test_a_failed_journal_write_leaves_memory_unchanged(
    mgr: AlarmManager, journal: Journal
) -> None:
    [raised] = mgr.apply([on(0, Condition.HH, 18.4, T0)])
    journal.close()
    with pytest.raises(JournalError, match="closed"):
        mgr.apply([off(0, Condition.HH, 17.0, T0 + 1), on(3, Condition.H, 16.2, T0)])
    with pytest.raises(JournalError):
        mgr.acknowledge(raised.alarm.id, "li")
    assert mgr.alarms() == [raised.alarm]
    assert mgr.risk_colours()["hs-a1"] is RiskColour.RED
    assert mgr.risk_colours()["hs-b1"] is RiskColour.BLUE


# ------------------------------------------------------------------ queries


def test_alarms_filter_and_sort_by_priority_then_gas_rule_then_newest(
    mgr: AlarmManager, clock: FakeClock
) -> None:
    evs = mgr.apply(
        [
            on(0, Condition.H, 16.5, T0),  # ent-a hs-a1 medium
            on(1, Condition.GAS2, 55.0, T0 + 1),  # ent-a hs-a1 high
            on(2, Condition.OUT_OF_RANGE, 130.0, T0 + 2),  # ent-a hs-a2 low
            on(3, Condition.HH, 18.5, T0 + 3),  # ent-b hs-b1 high
            on(4, Condition.L, 1.8, T0 + 4),  # ent-b hs-b2 medium
        ]
    )
    h, gas2, oor, hh, low = (e.alarm.id for e in evs)
    mgr.acknowledge(gas2, "li")
    mgr.acknowledge(low, "li")
    mgr.apply([off(4, Condition.L, 3.0, T0 + 5)])  # acked, cleared: closed

    def ids(**kw: object) -> list[int]:
        return [a.id for a in mgr.alarms(**kw)]  # type: ignore[arg-type]

    # gas second level before a newer HH of the same priority (alerting.precedence)
    assert ids() == [gas2, hh, h, oor]
    assert ids(include_closed=True) == [gas2, hh, low, h, oor]
    assert ids(state=AU) == [hh, h, oor]
    assert ids(state=AA) == [gas2]
    assert ids(state=N) == [low]
    assert ids(enterprise="ent-a") == [gas2, h, oor]
    assert ids(enterprise="ent-b", include_closed=True) == [hh, low]
    assert ids(hazard_source="hs-a1") == [gas2, h]
    assert ids(priority=Priority.HIGH) == [gas2, hh]
    assert ids(priority=Priority.MEDIUM, include_closed=True) == [low, h]
    assert ids(limit=2) == [gas2, hh]
    assert ids(limit=2, include_closed=True) == [gas2, hh]
    assert ids(enterprise="nowhere", include_closed=True) == []


def test_active_conditions_lists_what_the_detector_should_restore(mgr: AlarmManager) -> None:
    [a, _, _] = mgr.apply(
        [on(0, Condition.HH, 18.4, T0), on(1, Condition.GAS1, 30, T0), on(3, Condition.H, 17, T0)]
    )
    mgr.acknowledge(a.alarm.id, "li")
    mgr.apply([off(1, Condition.GAS1, 10, T0 + 1)])
    assert mgr.active_conditions() == [(0, Condition.HH), (3, Condition.H)]


# ------------------------------------------------------------------ risk colours


def test_risk_colour_follows_the_worst_open_alarm_and_is_journalled(
    mgr: AlarmManager, journal: Journal, clock: FakeClock
) -> None:
    blue = dict.fromkeys(("hs-a1", "hs-a2", "hs-b1", "hs-b2"), RiskColour.BLUE)
    assert mgr.risk_colours() == blue
    assert journal.colour_history("hs-a1") == []

    [h] = mgr.apply([on(0, Condition.H, 16.5, T0)])
    assert mgr.risk_colours()["hs-a1"] is RiskColour.ORANGE
    [gas2] = mgr.apply([on(1, Condition.GAS2, 55, T0 + 1)])
    assert mgr.risk_colours()["hs-a1"] is RiskColour.RED
    mgr.apply([on(1, Condition.GAS2, 56, T0 + 2)])  # ignored: no colour change either
    mgr.acknowledge(gas2.alarm.id, "li")  # still open: still red
    mgr.apply([off(1, Condition.GAS2, 10, T0 + 3)])  # gas second level: latched, still red
    assert mgr.risk_colours()["hs-a1"] is RiskColour.RED
    mgr.perform([Reset(gas2.alarm.id, "li")], T0 + 3)  # acked + reset: closed
    assert mgr.risk_colours()["hs-a1"] is RiskColour.ORANGE
    mgr.apply([off(0, Condition.H, 15, T0 + 4)])  # cleared unacked: still open, still orange
    assert mgr.risk_colours()["hs-a1"] is RiskColour.ORANGE
    clock.set(T0 + 50)
    mgr.acknowledge(h.alarm.id, "li")
    assert mgr.risk_colours() == blue

    expected = [
        ColourChange("hs-a1", RiskColour.BLUE, RiskColour.ORANGE, T0),
        ColourChange("hs-a1", RiskColour.ORANGE, RiskColour.RED, T0 + 1),
        ColourChange("hs-a1", RiskColour.RED, RiskColour.ORANGE, T0 + 3),
        ColourChange("hs-a1", RiskColour.ORANGE, RiskColour.BLUE, T0 + 50),
    ]
    assert journal.colour_history("hs-a1") == expected
    assert journal.colour_history("hs-b1") == []


def test_one_batch_journals_one_colour_change_per_source(
    mgr: AlarmManager, journal: Journal
) -> None:
    changes = [
        on(0, Condition.H, 16.5, T0),
        on(1, Condition.GAS2, 55, T0 + 1),
        on(3, Condition.OUT_OF_RANGE, 120, T0 + 1),
    ]
    assert mgr.commit(mgr.transitions(changes, T0 + 1)).colours == [
        ColourChange("hs-a1", RiskColour.BLUE, RiskColour.RED, T0 + 1),
        ColourChange("hs-b1", RiskColour.BLUE, RiskColour.YELLOW, T0 + 1),
    ]
    assert journal.latest_colours() == {"hs-a1": RiskColour.RED, "hs-b1": RiskColour.YELLOW}


# ------------------------------------------------------------------ restart


def test_a_new_manager_restores_state_colours_and_ids(
    table: SensorTable, tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "alarms.db"
    with Journal(path) as j:
        mgr = AlarmManager(table, j, clock)
        evs = mgr.apply([on(0, Condition.HH, 18.4, T0), on(3, Condition.H, 16.2, T0)])
        mgr.apply([off(3, Condition.H, 15.0, T0 + 1)])
        before = mgr.alarms()
        colours = {h: j.colour_history(h) for h in mgr.risk_colours()}
    with Journal(path) as j:
        again = AlarmManager(table, j, clock)
        assert again.alarms() == before
        assert again.risk_colours() == mgr.risk_colours()
        # Consistent: nothing to reconcile, no colour change journalled.
        assert {h: j.colour_history(h) for h in colours} == colours
        assert again.active_conditions() == [(0, Condition.HH)]
        mgr_next = again.apply([on(2, Condition.L, 1.5, T0 + 2)])[0].alarm.id
        assert mgr_next == max(e.alarm.id for e in evs) + 1
        assert again.acknowledge(evs[1].alarm.id, "li").to_state is N


def test_a_new_manager_restores_the_latest_eta(
    table: SensorTable, tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "alarms.db"
    with Journal(path) as j:
        mgr = AlarmManager(table, j, clock)
        mgr.apply([predict(0, 15.0, T0, eta_ts=T0 + 1200)])
        [update] = mgr.apply([predict(0, 15.9, T0 + 60, eta_ts=T0 + 700)])
    with Journal(path) as j:
        again = AlarmManager(table, j, clock)
        assert again.alarms() == [update.alarm]
        assert again.active_conditions() == [(0, Condition.PREDICT_HH)]
        [later] = again.apply([predict(0, 16.2, T0 + 90, eta_ts=T0 + 650)])
        assert (later.event, later.alarm.id) == (Event.UPDATE, update.alarm.id)


def test_journal_of_schema_1_is_migrated_with_no_eta(
    table: SensorTable, tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "alarms.db"
    with Journal(path) as j:
        [raised] = AlarmManager(table, j, clock).apply([on(0, Condition.HH, 18.4, T0)])
    db = sqlite3.connect(path)  # what a first-wave service left behind
    db.executescript(
        _DOWN_TO_2 + "ALTER TABLE alarm_event DROP COLUMN eta_ts;"
        " ALTER TABLE alarm DROP COLUMN eta_ts; PRAGMA user_version = 1;"
    )
    db.close()
    with Journal(path) as j:
        mgr = AlarmManager(table, j, clock)
        assert mgr.alarms() == [raised.alarm]
        [p] = mgr.apply([predict(0, 15.0, T0 + 5, eta_ts=T0 + 900)])
    with Journal(path) as j:
        assert j.alarm(p.alarm.id) == p.alarm and j.alarm(p.alarm.id).eta_ts == T0 + 900
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 3
    db.close()


# What version 3 added (mutes, disposal, closing, camera; who/where/why; markers), undone.
_DOWN_TO_2 = (
    "DROP INDEX alarm_unclosed; DROP TABLE marker; DROP TABLE marker_event;"
    + "".join(
        f"ALTER TABLE {t} DROP COLUMN {c};"
        for t in ("alarm_event", "alarm")
        for c in (
            "muted disposal_cause disposal_action disposed_by disposed_ts disposal_url"
            " closed_ts closed_by camera_url"
        ).split()
    )
    + "".join(f"ALTER TABLE alarm_event DROP COLUMN {c};" for c in ("who", "origin", "why"))
)


def test_journal_of_schema_2_is_migrated_unmuted_undisposed_unclosed(
    table: SensorTable, tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "alarms.db"
    with Journal(path) as j:
        [raised] = AlarmManager(table, j, clock).apply([on(0, Condition.HH, 18.4, T0)])
    db = sqlite3.connect(path)  # what a second-wave service left behind
    db.executescript(_DOWN_TO_2 + "PRAGMA user_version = 2;")
    db.close()
    with Journal(path) as j:
        mgr = AlarmManager(table, j, clock)
        assert mgr.alarms() == [raised.alarm] and raised.alarm.muted is None
        assert [a.id for a in mgr.unclosed()] == [raised.alarm.id]
        [shelved] = mgr.perform([Shelve(raised.alarm.id, "li", 60.0, "test")])
        assert j.history(raised.alarm.id)[-1] == shelved and shelved.alarm.muted == "shelved"


def test_restore_follows_a_changed_site_config(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "alarms.db"
    with Journal(path) as j:
        mgr = AlarmManager(SensorTable.from_site(make_site()), j, clock)
        [lt, gt] = mgr.apply([on(0, Condition.H, 16.5, T0), on(1, Condition.GAS2, 55, T0)])
    with Journal(path) as j:  # GT101 and LT101 swapped indices
        mgr = AlarmManager(SensorTable.from_site(make_site(reverse_a=True)), j, clock)
        assert mgr.get(gt.alarm.id).sensor == 0 and mgr.get(lt.alarm.id).sensor == 1
        assert mgr.active_conditions() == [(0, Condition.GAS2), (1, Condition.H)]
        assert mgr.apply([on(0, Condition.GAS2, 60, T0 + 1)]) == []  # same alarm, still active
    with Journal(path) as j:  # GT101 removed from the config
        clock.advance(60)
        mgr = AlarmManager(SensorTable.from_site(make_site(drop="GT101")), j, clock)
        orphan = mgr.get(gt.alarm.id)
        # No detector can clear it any more: cleared now, open until a person acknowledges it.
        assert (orphan.sensor, orphan.state, orphan.cleared_ts) == (-1, CU, clock.now())
        assert mgr.risk_colours()["hs-a1"] is RiskColour.RED
        assert mgr.active_conditions() == [(0, Condition.H)]
        assert mgr.acknowledge(gt.alarm.id, "li").to_state is N
        assert mgr.risk_colours()["hs-a1"] is RiskColour.ORANGE
        assert j.colour_history("hs-a1")[-1] == ColourChange(
            "hs-a1", RiskColour.RED, RiskColour.ORANGE, clock.now()
        )


# ------------------------------------------------------------------ journal file


def test_journal_refuses_a_file_that_is_not_a_journal(tmp_path: Path) -> None:
    bad = tmp_path / "notes.db"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(JournalError, match=r"notes\.db"):
        Journal(bad)
    with pytest.raises(JournalError, match="cannot open"):
        Journal(tmp_path / "missing-dir" / "alarms.db")


def test_journal_refuses_a_newer_schema_and_survives_close_twice(tmp_path: Path) -> None:
    path = tmp_path / "alarms.db"
    j = Journal(path)
    assert j.next_alarm_id() == 1 and j.open_alarms() == [] and j.history(1) == []
    j.close()
    j.close()
    with pytest.raises(JournalError, match="closed"):
        j.open_alarms()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(JournalError, match="schema version 99"):
        Journal(path)
