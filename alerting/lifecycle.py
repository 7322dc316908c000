"""The ISA-18.2 alarm lifecycle as one table: (state, event) -> state.

`Event.UPDATE` (an active alarm reports a new value and predicted time of crossing) is not
a state change, so it is kept beside the table: `transition` accepts it in the active
states only and answers the same state.

>>> transition(AlarmState.NORMAL, Event.ACTIVATE).value
'active_unack'
>>> transition(AlarmState.NORMAL, Event.ACK)
Traceback (most recent call last):
...
alerting.lifecycle.InvalidTransition: cannot ack an alarm in state normal
>>> transition(AlarmState.ACTIVE_ACK, Event.UPDATE).value
'active_ack'
>>> transition(AlarmState.CLEARED_UNACK, Event.UPDATE)
Traceback (most recent call last):
...
alerting.lifecycle.InvalidTransition: cannot update an alarm in state cleared_unack
"""

from __future__ import annotations

from enum import StrEnum

from hazardwatch.model import AlarmState, HazardWatchError


class AlertingError(HazardWatchError):
    """Root of every error the alerting package raises on purpose."""


class InvalidTransition(AlertingError):
    """The event is not allowed in the alarm's current state (the API answers 409)."""

    def __init__(self, state: AlarmState, event: Event, alarm_id: int | None = None) -> None:
        self.state = state
        self.event = event
        self.alarm_id = alarm_id
        which = "an alarm" if alarm_id is None else f"alarm {alarm_id}"
        super().__init__(f"cannot {event.value} {which} in state {state.value}")


class Event(StrEnum):
    """What can happen to an alarm: the detector activates, updates or clears it, a person
    acks it. UPDATE carries a new value and predicted time of crossing, never a new state.
    """

    ACTIVATE = "activate"
    CLEAR = "clear"
    ACK = "ack"
    UPDATE = "update"


TRANSITIONS: dict[tuple[AlarmState, Event], AlarmState] = {
    (AlarmState.NORMAL, Event.ACTIVATE): AlarmState.ACTIVE_UNACK,
    (AlarmState.ACTIVE_UNACK, Event.ACK): AlarmState.ACTIVE_ACK,
    (AlarmState.ACTIVE_UNACK, Event.CLEAR): AlarmState.CLEARED_UNACK,
    (AlarmState.ACTIVE_ACK, Event.CLEAR): AlarmState.NORMAL,
    (AlarmState.CLEARED_UNACK, Event.ACK): AlarmState.NORMAL,
    (AlarmState.CLEARED_UNACK, Event.ACTIVATE): AlarmState.ACTIVE_UNACK,
}

# The condition is still present in these states.
ACTIVE_STATES: frozenset[AlarmState] = frozenset({AlarmState.ACTIVE_UNACK, AlarmState.ACTIVE_ACK})


def transition(state: AlarmState, event: Event) -> AlarmState:
    """The state after `event`; raises InvalidTransition for a pair not in the table.

    UPDATE is legal only while the condition is present (ACTIVE_STATES) and keeps the state.
    """
    if event is Event.UPDATE:
        if state in ACTIVE_STATES:
            return state
        raise InvalidTransition(state, event)
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise InvalidTransition(state, event) from None
