"""The transition table (alerting.lifecycle), every row: its target state and its effects.

The rows are written out here by hand, so a changed row fails a test; then every row of
the table is applied to an alarm record (alerting.effects.move) and checked field by field.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from alerting import (
    LATCHING,
    TRANSITIONS,
    Alarm,
    Cause,
    Disposal,
    Effect,
    Event,
    InvalidTransition,
    Priority,
    transition,
)
from alerting.effects import move
from hazardwatch.vocabulary.model import AlarmState, Condition, HazardWatchError

N, AU, AA, CU, LU, LA = (
    AlarmState.NORMAL,
    AlarmState.ACTIVE_UNACK,
    AlarmState.ACTIVE_ACK,
    AlarmState.CLEARED_UNACK,
    AlarmState.LATCHED_UNACK,
    AlarmState.LATCHED_ACK,
)
E = Event
RAISE, VALUE, CLEAR, ACK, UNACK, DISPOSE, CLOSE = (
    Effect.RAISE,
    Effect.TAKE_VALUE,
    Effect.CLEAR,
    Effect.ACK,
    Effect.UNACK,
    Effect.DISPOSE,
    Effect.CLOSE,
)

# (state, event): (state after, effects), by hand.
EXPECTED: dict[tuple[AlarmState, Event], tuple[AlarmState, tuple[Effect, ...]]] = {
    (N, E.ACTIVATE): (AU, (RAISE,)),
    (CU, E.ACTIVATE): (AU, (RAISE,)),
    (LU, E.ACTIVATE): (AU, (RAISE,)),
    (LA, E.ACTIVATE): (AU, (RAISE, UNACK)),
    (AU, E.UPDATE): (AU, (VALUE,)),
    (AA, E.UPDATE): (AA, (VALUE,)),
    (AU, E.CLEAR): (CU, (CLEAR,)),
    (AA, E.CLEAR): (N, (CLEAR,)),
    (AU, E.ACK): (AA, (ACK,)),
    (CU, E.ACK): (N, (ACK,)),
    (LU, E.ACK): (LA, (ACK,)),
    (LU, E.RESET): (CU, ()),
    (LA, E.RESET): (N, ()),
    (AU, E.SHELVE): (AU, ()),
    (AA, E.SHELVE): (AA, ()),
    (CU, E.SHELVE): (CU, ()),
    (LU, E.SHELVE): (LU, ()),
    (LA, E.SHELVE): (LA, ()),
    (AU, E.UNSHELVE): (AU, ()),
    (AA, E.UNSHELVE): (AU, (UNACK,)),  # still active: announced again
    (CU, E.UNSHELVE): (CU, ()),
    (LU, E.UNSHELVE): (LU, ()),
    (LA, E.UNSHELVE): (LA, ()),
    (AU, E.SUPPRESS): (AU, ()),
    (AA, E.SUPPRESS): (AA, ()),
    (CU, E.SUPPRESS): (CU, ()),
    (LU, E.SUPPRESS): (LU, ()),
    (LA, E.SUPPRESS): (LA, ()),
    (AU, E.UNSUPPRESS): (AU, ()),
    (AA, E.UNSUPPRESS): (AU, (UNACK,)),  # maintenance over, still active: announced again
    (CU, E.UNSUPPRESS): (CU, ()),
    (LU, E.UNSUPPRESS): (LU, ()),
    (LA, E.UNSUPPRESS): (LA, ()),
    (AU, E.OUT_OF_SERVICE): (AU, ()),
    (AA, E.OUT_OF_SERVICE): (AA, ()),
    (CU, E.OUT_OF_SERVICE): (CU, ()),
    (LU, E.OUT_OF_SERVICE): (LU, ()),
    (LA, E.OUT_OF_SERVICE): (LA, ()),
    (AU, E.IN_SERVICE): (AU, ()),
    (AA, E.IN_SERVICE): (AU, (UNACK,)),  # back in service, still active: announced again
    (CU, E.IN_SERVICE): (CU, ()),
    (LU, E.IN_SERVICE): (LU, ()),
    (LA, E.IN_SERVICE): (LA, ()),
    (N, E.DISPOSE): (N, (DISPOSE,)),
    (AU, E.DISPOSE): (AU, (DISPOSE,)),
    (AA, E.DISPOSE): (AA, (DISPOSE,)),
    (CU, E.DISPOSE): (CU, (DISPOSE,)),
    (LU, E.DISPOSE): (LU, (DISPOSE,)),
    (LA, E.DISPOSE): (LA, (DISPOSE,)),
    (N, E.CLOSE): (N, (CLOSE,)),
}

EXPECTED_LATCHING = {
    (AU, E.CLEAR): (LU, (CLEAR,)),
    (AA, E.CLEAR): (LA, (CLEAR,)),
}


def test_the_table_is_exactly_the_rows_written_out_here() -> None:
    assert {k: (r.to, r.effects) for k, r in TRANSITIONS.items()} == EXPECTED
    assert {k: (r.to, r.effects) for k, r in LATCHING.items()} == EXPECTED_LATCHING


def test_the_table_covers_every_event() -> None:
    assert {e for _, e in TRANSITIONS} == set(Event)


@pytest.mark.parametrize(("pair", "row"), EXPECTED.items(), ids=lambda x: str(x))
def test_every_row_moves_to_its_state(
    pair: tuple[AlarmState, Event], row: tuple[AlarmState, tuple[Effect, ...]]
) -> None:
    got = transition(*pair)
    assert (got.to, got.effects) == row
    if pair not in LATCHING:  # a latching alarm takes the same row
        assert transition(*pair, latching=True) == got


@pytest.mark.parametrize(("pair", "row"), EXPECTED_LATCHING.items(), ids=lambda x: str(x))
def test_a_latching_alarm_clears_into_a_latched_state(
    pair: tuple[AlarmState, Event], row: tuple[AlarmState, tuple[Effect, ...]]
) -> None:
    got = transition(*pair, latching=True)
    assert (got.to, got.effects) == row
    assert transition(*pair).to is not got.to


ILLEGAL = [p for p in itertools.product(AlarmState, Event) if p not in EXPECTED]


@pytest.mark.parametrize(("state", "event"), ILLEGAL)
def test_every_pair_not_in_the_table_is_refused(state: AlarmState, event: Event) -> None:
    with pytest.raises(InvalidTransition) as caught:
        transition(state, event, latching=True, alarm_id=9)
    assert isinstance(caught.value, HazardWatchError)
    assert (caught.value.state, caught.value.event, caught.value.alarm_id) == (state, event, 9)
    assert "alarm 9" in str(caught.value) and state.value in str(caught.value)


def test_the_rules_an_operator_relies_on() -> None:
    # acknowledging silences; it does not reset a latched alarm
    assert transition(LU, E.ACK).to is LA
    # a reset of an alarm whose condition is still present is refused
    for state in (AU, AA):
        with pytest.raises(InvalidTransition):
            transition(state, E.RESET)
    # closing is for an alarm back to normal only
    for state in (AU, AA, CU, LU, LA):
        with pytest.raises(InvalidTransition):
            transition(state, E.CLOSE)
    # nothing to shelve or suppress once back to normal
    for event in (E.SHELVE, E.SUPPRESS, E.OUT_OF_SERVICE):
        with pytest.raises(InvalidTransition):
            transition(N, event)


# ------------------------------------------------------------------ effects on the record

DISPOSAL = Disposal(Cause.PROCESS, "closed the inlet valve", "li", 500.0)


def _alarm(state: AlarmState) -> Alarm:
    """An alarm in `state` with every field an effect may change already filled."""
    return Alarm(
        id=3,
        sensor=0,
        tag="GT-1",
        condition=Condition.GAS2,
        priority=Priority.HIGH,
        state=state,
        enterprise="e",
        hazard_source="h",
        unit="TK1",
        value=40.0,
        raised_ts=100.0,
        changed_ts=200.0,
        cleared_ts=300.0,
        acked_ts=250.0,
        acked_by="wang",
        ack_comment="seen",
        eta_ts=900.0,
    )


ROWS = [(k, r, False) for k, r in TRANSITIONS.items()] + [(k, r, True) for k, r in LATCHING.items()]


@pytest.mark.parametrize(("pair", "row", "latching"), ROWS, ids=lambda x: str(x))
def test_every_row_applies_exactly_its_effects(
    pair: tuple[AlarmState, Event], row: tuple[AlarmState, tuple[Effect, ...]], latching: bool
) -> None:
    state, event = pair
    before = _alarm(state)
    e = move(
        before, event, 500.0, latching=latching, value=41.0, eta=950.0, who="li", why="because",
        where="10.0.0.7", disposal=DISPOSAL,
    )  # fmt: skip
    after, effects = e.alarm, transition(state, event, latching=latching).effects
    assert (e.from_state, e.to_state, after.state, e.ts) == (state, row[0], row[0], 500.0)
    assert (e.who, e.where, e.why) == ("li", "10.0.0.7", "because")
    expected = replace(before, state=row[0], value=41.0)
    if row[0] is not state:
        expected = replace(expected, changed_ts=500.0)
    for effect in effects:
        if effect is Effect.RAISE:
            expected = replace(expected, eta_ts=950.0, cleared_ts=None)
        elif effect is Effect.TAKE_VALUE:
            expected = replace(expected, eta_ts=950.0)
        elif effect is Effect.CLEAR:
            expected = replace(expected, cleared_ts=500.0, eta_ts=None)
        elif effect is Effect.ACK:
            expected = replace(expected, acked_ts=500.0, acked_by="li", ack_comment="because")
        elif effect is Effect.UNACK:
            expected = replace(expected, acked_ts=None, acked_by=None, ack_comment=None)
        elif effect is Effect.DISPOSE:
            expected = replace(expected, disposal=DISPOSAL)
        elif effect is Effect.CLOSE:
            expected = replace(expected, closed_ts=500.0, closed_by="li")
    assert after == expected


def test_a_marker_event_changes_nothing_but_the_event_row() -> None:
    before = _alarm(AA)
    e = move(before, E.SUPPRESS, 500.0, who="zhao", why="pump overhaul")
    assert e.alarm == before and (e.event, e.who, e.why) == (E.SUPPRESS, "zhao", "pump overhaul")


def test_an_unshelve_of_an_active_acknowledged_alarm_announces_it_again() -> None:
    e = move(_alarm(AA), E.UNSHELVE, 500.0)
    assert e.alarm.state is AU and e.alarm.acked_by is None and e.alarm.changed_ts == 500.0
