"""A row of the transition table applied to an alarm record: `move`.

The table (alerting.lifecycle) says where an event takes an alarm and which effects it
has; this is the one place that says what each effect changes on the record.

>>> from alerting.priority import Priority
>>> from hazardwatch.vocabulary.model import AlarmState, Condition
>>> a = Alarm(1, 0, "GT-1", Condition.GAS2, Priority.HIGH, AlarmState.NORMAL, "e", "h", "u",
...           40.0, 100.0, 100.0)
>>> e = move(a, Event.ACTIVATE, 100.0, value=41.0)
>>> e.to_state.value, e.alarm.value
('active_unack', 41.0)
>>> move(e.alarm, Event.CLEAR, 130.0, latching=True, value=3.0).alarm.state.value
'latched_unack'
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from alerting.alarm import Alarm, AlarmEvent
from alerting.disposal import Disposal
from alerting.lifecycle import Effect, Event, transition


def move(
    alarm: Alarm,
    event: Event,
    ts: float,
    *,
    latching: bool = False,
    value: float | None = None,
    eta: float | None = None,
    who: str | None = None,
    where: str | None = None,
    why: str | None = None,
    disposal: Disposal | None = None,
) -> AlarmEvent:
    """The event `event` makes on `alarm` at `ts` (seq 0: not journalled yet).

    `value` and `eta` are the detector's (None: the value is kept); `who`, `where`, `why`
    the person's, kept on the event and, for an acknowledgement, on the alarm. Raises
    InvalidTransition, naming the alarm, for a pair the table refuses.
    """
    row = transition(alarm.state, event, latching=latching, alarm_id=alarm.id)
    changes: dict[str, Any] = {}
    if row.to is not alarm.state:
        changes.update(state=row.to, changed_ts=ts)
    if value is not None:
        changes["value"] = value
    for effect in row.effects:
        if effect is Effect.RAISE:
            changes.update(eta_ts=eta, cleared_ts=None)
        elif effect is Effect.TAKE_VALUE:
            changes.update(eta_ts=eta)
        elif effect is Effect.CLEAR:
            # the trend no longer heads for the limit: no predicted crossing to show
            changes.update(cleared_ts=ts, eta_ts=None)
        elif effect is Effect.ACK:
            changes.update(acked_ts=ts, acked_by=who, ack_comment=why)
        elif effect is Effect.UNACK:
            changes.update(acked_ts=None, acked_by=None, ack_comment=None)
        elif effect is Effect.DISPOSE:
            changes.update(disposal=disposal)
        elif effect is Effect.CLOSE:
            changes.update(closed_ts=ts, closed_by=who)
    after = replace(alarm, **changes)
    return AlarmEvent(0, after, event, alarm.state, row.to, ts, who, where, why)
