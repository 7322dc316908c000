"""The ISA-18.2 transition table, priorities, risk colours and the alarm record's JSON form."""

from __future__ import annotations

import itertools
import json
import math

import pytest

from alerting import (
    DEFAULT_PRIORITY,
    TRANSITIONS,
    Alarm,
    AlarmEvent,
    ColourChange,
    Event,
    InvalidTransition,
    Priority,
    risk_colour,
    transition,
)
from hazardwatch.model import AlarmState, Condition, HazardWatchError, RiskColour

N, AU, AA, CU = (
    AlarmState.NORMAL,
    AlarmState.ACTIVE_UNACK,
    AlarmState.ACTIVE_ACK,
    AlarmState.CLEARED_UNACK,
)

LEGAL = {
    (N, Event.ACTIVATE): AU,
    (AU, Event.ACK): AA,
    (AU, Event.CLEAR): CU,
    (AA, Event.CLEAR): N,
    (CU, Event.ACK): N,
    (CU, Event.ACTIVATE): AU,
}


def test_table_is_exactly_the_isa_18_2_core_states() -> None:
    assert TRANSITIONS == LEGAL


@pytest.mark.parametrize(("pair", "after"), LEGAL.items(), ids=lambda x: str(x))
def test_every_legal_pair_moves_to_its_state(
    pair: tuple[AlarmState, Event], after: AlarmState
) -> None:
    assert transition(*pair) is after


# An update changes what an active alarm shows, never its state: beside the table.
UPDATES = {(AU, Event.UPDATE): AU, (AA, Event.UPDATE): AA}

ILLEGAL = [p for p in itertools.product(AlarmState, Event) if p not in LEGAL | UPDATES]


def test_illegal_pairs_are_the_other_eight() -> None:
    assert len(ILLEGAL) == len(AlarmState) * len(Event) - 6 - 2 == 8
    assert {(s, e) for s, e in ILLEGAL if e is Event.UPDATE} == {
        (N, Event.UPDATE),
        (CU, Event.UPDATE),
    }


@pytest.mark.parametrize(("pair", "after"), UPDATES.items(), ids=lambda x: str(x))
def test_update_is_legal_while_active_and_keeps_the_state(
    pair: tuple[AlarmState, Event], after: AlarmState
) -> None:
    assert transition(*pair) is after
    assert pair not in TRANSITIONS  # the table lists state changes only


@pytest.mark.parametrize(("state", "event"), ILLEGAL)
def test_every_illegal_pair_raises_invalid_transition(state: AlarmState, event: Event) -> None:
    with pytest.raises(InvalidTransition) as caught:
        transition(state, event)
    assert isinstance(caught.value, HazardWatchError)
    assert (caught.value.state, caught.value.event) == (state, event)
    assert f"cannot {event.value}" in str(caught.value) and state.value in str(caught.value)


def test_every_condition_has_a_default_priority() -> None:
    assert set(DEFAULT_PRIORITY) == set(Condition)
    high = {c for c, p in DEFAULT_PRIORITY.items() if p is Priority.HIGH}
    low = {c for c, p in DEFAULT_PRIORITY.items() if p is Priority.LOW}
    assert high == {Condition.HH, Condition.LL, Condition.GAS2, Condition.AREA_GAS}
    # Instrument faults are low, except communication loss: the process is then unwatched.
    assert low == {c for c in Condition if c.is_instrument} - {Condition.COMM_LOSS}


def test_priority_paints_risk_colour() -> None:
    assert risk_colour(Priority.HIGH) is RiskColour.RED
    assert risk_colour(Priority.MEDIUM) is RiskColour.ORANGE
    assert risk_colour(Priority.LOW) is RiskColour.YELLOW
    assert risk_colour(None) is RiskColour.BLUE
    assert Priority.parse("medium") is Priority.MEDIUM and Priority.HIGH.label == "high"


def _alarm(**overrides: object) -> Alarm:
    fields: dict[str, object] = {
        "id": 7,
        "sensor": 3,
        "tag": "TK101.GAS",
        "condition": Condition.COMM_LOSS,
        "priority": Priority.MEDIUM,
        "state": AlarmState.ACTIVE_UNACK,
        "enterprise": "ent-a",
        "hazard_source": "hs-1",
        "unit": "TK101",
        "value": math.nan,
        "raised_ts": 100.0,
        "changed_ts": 100.0,
    }
    fields.update(overrides)
    return Alarm(**fields)  # type: ignore[arg-type]


def test_alarm_to_dict_is_json_with_labels_and_nan_as_none() -> None:
    d = _alarm().to_dict()
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert d["condition"] == "comm_loss"
    assert d["priority"] == "medium"
    assert d["state"] == "active_unack"
    assert d["value"] is None
    assert d["cleared_ts"] is None and d["acked_by"] is None
    assert d["eta_ts"] is None
    assert d["category"] == "communication"
    assert _alarm(value=12.5).to_dict()["value"] == 12.5
    predicted = _alarm(condition=Condition.PREDICT_HH, eta_ts=1_800.5).to_dict()
    assert (predicted["condition"], predicted["eta_ts"]) == ("predict_hh", 1_800.5)
    assert predicted["category"] == "early_warning"
    assert _alarm(condition=Condition.HH).to_dict()["category"] == "process"
    assert _alarm(condition=Condition.AREA_GAS).to_dict()["category"] == "process"
    assert _alarm(condition=Condition.STUCK).to_dict()["category"] == "instrument"
    assert _alarm(eta_ts=math.inf).to_dict()["eta_ts"] is None


def test_update_event_to_dict_keeps_the_state_and_carries_the_eta() -> None:
    alarm = _alarm(condition=Condition.PREDICT_LL, eta_ts=900.0)
    d = AlarmEvent(6, alarm, Event.UPDATE, AU, AU, 120.0).to_dict()
    assert (d["event"], d["from_state"], d["to_state"]) == (
        "update",
        "active_unack",
        "active_unack",
    )
    assert d["alarm"]["eta_ts"] == 900.0  # type: ignore[index]


def test_alarm_event_to_dict_nests_the_snapshot() -> None:
    ev = AlarmEvent(5, _alarm(state=AA, acked_by="li"), Event.ACK, AU, AA, 101.0)
    d = ev.to_dict()
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert (d["seq"], d["event"], d["from_state"], d["to_state"]) == (
        5,
        "ack",
        "active_unack",
        "active_ack",
    )
    assert d["alarm"]["acked_by"] == "li"  # type: ignore[index]


def test_colour_change_is_the_documented_tuple() -> None:
    c = ColourChange("hs-1", RiskColour.BLUE, RiskColour.RED, 5.0)
    assert c == ("hs-1", RiskColour.BLUE, RiskColour.RED, 5.0)
    assert c.to_dict() == {"hazard_source": "hs-1", "old": "blue", "new": "red", "ts": 5.0}
