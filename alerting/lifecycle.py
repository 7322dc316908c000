"""The ISA-18.2 alarm lifecycle as one table: (state, event) -> (state, effects).

A row says where an event takes an alarm and what it changes on the record beside the
state (`Effect`); the manager applies the effects, nothing else decides. A pair that is
not in the table is refused (InvalidTransition; the API answers 409).

Latching (a gas second-level alarm by default) is a property of the alarm, not a state
of its own: a latching alarm's clear takes the row of `LATCHING` instead, into the
latched states, where it stays until an operator resets it.

The mutes (shelved, suppressed by design, out of service) are markers beside the state
(alerting.mute): their events are rows that keep the state, except that an alarm still
active and acknowledged comes back unacknowledged when its shelve ends (re-announced).

>>> transition(AlarmState.NORMAL, Event.ACTIVATE).to.value
'active_unack'
>>> transition(AlarmState.ACTIVE_ACK, Event.CLEAR, latching=True).to.value
'latched_ack'
>>> transition(AlarmState.NORMAL, Event.ACK)
Traceback (most recent call last):
...
alerting.lifecycle.InvalidTransition: cannot ack an alarm in state normal
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from hazardwatch.vocabulary.model import AlarmState, HazardWatchError


class AlertingError(HazardWatchError):
    """Root of every error the alerting package raises on purpose."""


class InvalidTransition(AlertingError):
    """The event is not allowed in the alarm's current state (the API answers 409)."""

    def __init__(self, state: AlarmState, event: Event, alarm_id: int | None = None) -> None:
        self.state = state
        self.event = event
        self.alarm_id = alarm_id
        which = "an alarm" if alarm_id is None else f"alarm {alarm_id}"
        super().__init__(f"cannot {event.value.replace('_', ' ')} {which} in state {state.value}")


class Event(StrEnum):
    """What can happen to an alarm: the detector activates, updates or clears it; a person
    acks, shelves, unshelves, resets, disposes of and closes it; an engineer puts its unit
    in maintenance (suppress) or its instrument out of service, and back."""

    ACTIVATE = "activate"
    CLEAR = "clear"
    ACK = "ack"
    UPDATE = "update"
    SHELVE = "shelve"
    UNSHELVE = "unshelve"
    RESET = "reset"
    SUPPRESS = "suppress"
    UNSUPPRESS = "unsuppress"
    OUT_OF_SERVICE = "out_of_service"
    IN_SERVICE = "in_service"
    DISPOSE = "dispose"
    CLOSE = "close"


class Effect(StrEnum):
    """What a transition changes on the alarm record besides its state."""

    RAISE = "raise"  # takes the value and predicted crossing; no longer cleared
    TAKE_VALUE = "take_value"  # takes the value and predicted crossing
    CLEAR = "clear"  # stamps the clear time; no predicted crossing any more
    ACK = "ack"  # stamps who acknowledged, when, with what comment
    UNACK = "unack"  # forgets the acknowledgement: the operator must acknowledge again
    DISPOSE = "dispose"  # records the disposal (cause, action taken, who, when)
    CLOSE = "close"  # stamps who closed it and when


class Row(NamedTuple):
    """One row of the table: the state after the event and its effects."""

    to: AlarmState
    effects: tuple[Effect, ...] = ()


N, AU, AA, CU, LU, LA = (
    AlarmState.NORMAL,
    AlarmState.ACTIVE_UNACK,
    AlarmState.ACTIVE_ACK,
    AlarmState.CLEARED_UNACK,
    AlarmState.LATCHED_UNACK,
    AlarmState.LATCHED_ACK,
)

# Not back to NORMAL: counts for the risk colour, can be shelved, suppressed and so on.
OPEN_STATES: frozenset[AlarmState] = frozenset({AU, AA, CU, LU, LA})
# The condition is still present in these states.
ACTIVE_STATES: frozenset[AlarmState] = frozenset({AU, AA})
# Held after the condition returned, until an operator resets it.
LATCHED_STATES: frozenset[AlarmState] = frozenset({LU, LA})
# Waiting for an operator's acknowledgement.
UNACKED_STATES: frozenset[AlarmState] = frozenset({AU, CU, LU})

_MARKER_EVENTS = (Event.SHELVE, Event.SUPPRESS, Event.OUT_OF_SERVICE)
_MUTE_ENDS = (Event.UNSHELVE, Event.UNSUPPRESS, Event.IN_SERVICE)

TRANSITIONS: dict[tuple[AlarmState, Event], Row] = {
    # the condition (detector)
    (N, Event.ACTIVATE): Row(AU, (Effect.RAISE,)),
    (CU, Event.ACTIVATE): Row(AU, (Effect.RAISE,)),
    (LU, Event.ACTIVATE): Row(AU, (Effect.RAISE,)),
    (LA, Event.ACTIVATE): Row(AU, (Effect.RAISE, Effect.UNACK)),
    (AU, Event.UPDATE): Row(AU, (Effect.TAKE_VALUE,)),
    (AA, Event.UPDATE): Row(AA, (Effect.TAKE_VALUE,)),
    (AU, Event.CLEAR): Row(CU, (Effect.CLEAR,)),
    (AA, Event.CLEAR): Row(N, (Effect.CLEAR,)),
    # the operator: acknowledging silences, it never resets a latch
    (AU, Event.ACK): Row(AA, (Effect.ACK,)),
    (CU, Event.ACK): Row(N, (Effect.ACK,)),
    (LU, Event.ACK): Row(LA, (Effect.ACK,)),
    (LU, Event.RESET): Row(CU),
    (LA, Event.RESET): Row(N),
    # markers beside the state; a mute that ends (shelve, maintenance, out of service) on an
    # alarm still active re-announces it (ISA-18.2: annunciated as if new)
    **{(s, e): Row(s) for s in sorted(OPEN_STATES) for e in _MARKER_EVENTS},
    **{(s, e): Row(s) for s in (AU, CU, LU, LA) for e in _MUTE_ENDS},
    **{(AA, e): Row(AU, (Effect.UNACK,)) for e in _MUTE_ENDS},
    # the closed loop: a disposal at any time, closing once back to normal
    **{(s, Event.DISPOSE): Row(s, (Effect.DISPOSE,)) for s in sorted(OPEN_STATES | {N})},
    (N, Event.CLOSE): Row(N, (Effect.CLOSE,)),
}

# Where a latching alarm's rows differ: its condition returns into a latched state.
LATCHING: dict[tuple[AlarmState, Event], Row] = {
    (AU, Event.CLEAR): Row(LU, (Effect.CLEAR,)),
    (AA, Event.CLEAR): Row(LA, (Effect.CLEAR,)),
}


def transition(
    state: AlarmState, event: Event, *, latching: bool = False, alarm_id: int | None = None
) -> Row:
    """The row for `event` in `state` (LATCHING's first for a latching alarm); raises
    InvalidTransition, naming `alarm_id` if given, for a pair not in the table."""
    if latching and (state, event) in LATCHING:
        return LATCHING[(state, event)]
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise InvalidTransition(state, event, alarm_id) from None
