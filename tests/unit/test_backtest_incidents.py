"""Each run's first warning of a recorded incident: the start of the warning standing at the
incident (not an earlier one that cleared), else the first after it, within the lookback; at
the tag, its unit and its hazard source."""

from __future__ import annotations

from alerting import Alarm, AlarmEvent, Event, Priority
from hazardwatch.shell.backtest_incidents import Incident, lead_times
from hazardwatch.vocabulary.model import AlarmState, Condition

T = 1_767_225_600.0
INCIDENT = Incident(9, "T1-LT", "hh", "T1", "hs1", T)


def _event(
    alarm_id: int, event: Event, ts: float, tag: str = "T1-LT", unit: str = "T1",
    condition: Condition = Condition.H,
) -> AlarmEvent:  # fmt: skip
    alarm = Alarm(
        alarm_id, 0, tag, condition, Priority.MEDIUM, AlarmState.ACTIVE_UNACK, "e1", "hs1",
        unit, 1.0, ts, ts,
    )  # fmt: skip
    return AlarmEvent(0, alarm, event, AlarmState.NORMAL, AlarmState.ACTIVE_UNACK, ts)


def _leads(events: list[AlarmEvent], lookback_s: float = 3600.0) -> dict[str, float | None]:
    (runs,) = lead_times([INCIDENT], {"current": events, "candidate": []}, lookback_s).warnings
    return {s: None if w is None else w.lead_s for s, w in runs["current"].items()}


def test_the_warning_standing_at_the_incident_counts_from_its_start() -> None:
    events = [
        _event(1, Event.ACTIVATE, T - 900),  # an earlier fill's H, cleared in between
        _event(1, Event.CLEAR, T - 700),
        _event(2, Event.ACTIVATE, T - 300),  # this rise's H ...
        _event(3, Event.ACTIVATE, T - 200, condition=Condition.PREDICT_HH),
        _event(2, Event.CLEAR, T - 100),  # ... still warning through the predict_hh
    ]
    assert _leads(events) == {"tag": 300.0, "unit": 300.0, "hazard_source": 300.0}


def test_no_warning_standing_takes_the_first_after_as_a_negative_lead() -> None:
    events = [_event(1, Event.ACTIVATE, T - 900), _event(1, Event.CLEAR, T - 700)]
    events.append(_event(2, Event.ACTIVATE, T + 45))
    assert _leads(events)["tag"] == -45.0


def test_beyond_the_lookback_is_no_warning() -> None:
    standing_for_days = [_event(1, Event.ACTIVATE, T - 3 * 86400)]
    assert _leads(standing_for_days)["tag"] is None
    much_later = [_event(1, Event.ACTIVATE, T + 7200)]
    assert _leads(much_later)["tag"] is None


def test_a_neighbour_warns_at_the_unit_and_the_hazard_source_only() -> None:
    events = [
        _event(1, Event.ACTIVATE, T - 600, tag="T1-TT"),  # the same tank
        _event(2, Event.ACTIVATE, T - 1200, tag="T2-LT", unit="T2"),  # another tank
    ]
    assert _leads(events) == {"tag": None, "unit": 600.0, "hazard_source": 1200.0}


def test_report_rows_give_both_runs_and_how_much_earlier_the_candidate_warned() -> None:
    now = [_event(1, Event.ACTIVATE, T - 60)]
    cand = [_event(1, Event.ACTIVATE, T - 240, condition=Condition.H)]
    leads = lead_times([INCIDENT], {"current": now, "candidate": cand})
    (row,) = leads.to_dict()
    assert row["current"]["tag"]["lead_s"] == 60.0 and row["candidate"]["tag"]["lead_s"] == 240.0
    assert row["earlier_s"] == 180.0
    assert leads.lines()[1] == (
        "  alarm 9 T1-LT hh at 2026-01-01 00:00:00Z: +60 s -> +240 s / +60 s -> +240 s"
        " / +60 s -> +240 s"
    )
