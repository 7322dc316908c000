"""Priorities, risk colours and the alarm record's JSON form."""

from __future__ import annotations

import json
import math

from alerting import (
    DEFAULT_PRIORITY,
    Alarm,
    AlarmEvent,
    ColourChange,
    Event,
    Priority,
    risk_colour,
)
from hazardwatch.vocabulary.model import AlarmState, Condition, RiskColour

N, AU, AA, CU = (
    AlarmState.NORMAL,
    AlarmState.ACTIVE_UNACK,
    AlarmState.ACTIVE_ACK,
    AlarmState.CLEARED_UNACK,
)

# The transition table itself is tested row by row in test_lifecycle_table.py.


def test_every_condition_has_a_default_priority() -> None:
    assert set(DEFAULT_PRIORITY) == set(Condition)
    high = {c for c, p in DEFAULT_PRIORITY.items() if p is Priority.HIGH}
    low = {c for c, p in DEFAULT_PRIORITY.items() if p is Priority.LOW}
    assert high == {Condition.HH, Condition.LL, Condition.GAS2, Condition.AREA_GAS}
    # Instrument faults are low, except communication loss (the process is then unwatched)
    # and a pressurised tank's pressure off its vapour-pressure curve (its pressure, the
    # reading that guards it, may be blind).
    medium = {Condition.COMM_LOSS, Condition.VAPOUR_PRESSURE}
    assert low == {c for c in Condition if c.is_instrument} - medium


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
