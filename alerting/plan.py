"""One pass of the lifecycle: what a sequence of actions does to alarms and mute markers.

The manager (alerting.manager) owns the alarms; a `Pass` takes the actions of one pass
through the pipeline in order and makes their events, each a row of the transition table
(alerting.lifecycle) applied by alerting.effects, and the mute marker changes beside them.
It writes nothing: the mute stage marks the events, the manager commits them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from alerting.action import (
    Acknowledge,
    Dispose,
    Maintenance,
    MuteExpired,
    OperatorAction,
    OutOfService,
    Reset,
    Shelve,
    Unshelve,
)
from alerting.alarm import Alarm, AlarmEvent
from alerting.disposal import AlreadyClosed, Disposal, DisposalRequired
from alerting.effects import move as _move
from alerting.lifecycle import ACTIVE_STATES, AlertingError, Event, transition
from alerting.mute import (
    SUPPRESSIBLE,
    Marker,
    MarkerChange,
    MuteBook,
    MuteKind,
    maintenance_key,
    out_of_service_key,
    shelve_key,
)
from hazardwatch.vocabulary.model import Condition, ConditionChange

if TYPE_CHECKING:
    from alerting.manager import AlarmManager

_Key = tuple[int, Condition]

# The second-level limits: these latch on a sensor configured to (`latch:`; gas by default).
LATCHING_CONDITIONS: frozenset[Condition] = frozenset({Condition.HH, Condition.LL, Condition.GAS2})


class AlarmNotFound(AlertingError):
    """No alarm with that id was ever raised (the API answers 404)."""

    def __init__(self, alarm_id: int) -> None:
        self.alarm_id = alarm_id
        super().__init__(f"no alarm with id {alarm_id}")


class InvalidAction(AlertingError):
    """An action no state could take: without a person's name, a shelve longer than the
    park's maximum, an end before now (the API answers 422)."""


InvalidAcknowledgement = InvalidAction  # the name the ack route has caught since v1


class UnknownTarget(AlertingError):
    """Maintenance or out of service for a unit or sensor the park does not have (404)."""


class NotMuted(AlertingError):
    """Ending a shelve, maintenance mode or out-of-service that is not in force (409)."""


@dataclass(frozen=True, slots=True)
class Planned:
    """What the lifecycle makes of one pass's actions: events and mute marker changes."""

    events: list[AlarmEvent] = field(default_factory=list)
    markers: list[MarkerChange] = field(default_factory=list)


def _name(text: str, doing: str, what: str = "a person's name") -> str:
    name = text.strip()
    if not name:
        raise InvalidAction(f"{doing} needs {what}")
    return name


def _finite_or_none(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


class Pass:
    """One pass of the lifecycle over a manager's alarms: its events and marker changes so
    far, which the later actions of the same pass see (an alarm raised and acknowledged in
    one pass). Nothing is written: the manager commits what the pass made."""

    def __init__(self, manager: AlarmManager, now: float) -> None:
        self.now = now
        self.events: list[AlarmEvent] = []
        self.markers: list[MarkerChange] = []
        self.by_key: dict[_Key, Alarm | None] = {}
        self.by_id: dict[int, Alarm] = {}
        self.next_id = manager.next_id
        self._manager = manager
        self._book: MuteBook | None = None

    @property
    def book(self) -> MuteBook:
        """The mute markers as this pass leaves them so far."""
        return self._manager.mutes if self._book is None else self._book

    def add(self, event: AlarmEvent) -> None:
        self.events.append(event)
        after = event.alarm
        self.by_id[after.id] = after
        self.by_key[(after.sensor, after.condition)] = after if after.is_open else None

    def mark(self, change: MarkerChange) -> None:
        if self._book is None:
            self._book = self._manager.mutes.copy()
        self._book.apply([change])
        self.markers.append(change)

    def open_alarms(self) -> list[Alarm]:
        """Every open alarm as this pass leaves it so far, by id."""
        merged = {**self._manager.open_by_id(), **self.by_id}
        return [merged[i] for i in sorted(merged) if merged[i].is_open]

    def follow(self, c: ConditionChange) -> None:
        """The transition a detector's condition change makes, if any."""
        m = self._manager
        key = (c.sensor, c.condition)
        alarm = self.by_key[key] if key in self.by_key else m.open_alarm(key)
        eta = _finite_or_none(c.eta_ts)
        if alarm is None:
            if not c.active:
                return  # a clear of a condition that has no alarm
            alarm = m.new_alarm(self.next_id, c)
            self.next_id += 1
        if c.active and alarm.state in ACTIVE_STATES:
            if eta is None or eta == alarm.eta_ts:
                return
            self.add(_move(alarm, Event.UPDATE, c.ts, value=c.value, eta=eta))
        elif c.active:
            self.add(_move(alarm, Event.ACTIVATE, c.ts, value=c.value, eta=eta))
        elif alarm.state in ACTIVE_STATES:
            latching = m.latches(alarm.sensor, alarm.condition)
            self.add(_move(alarm, Event.CLEAR, c.ts, latching=latching, value=c.value))

    def operate(self, a: OperatorAction) -> None:
        """A person's action on one alarm, named by its id."""
        m = self._manager
        who = _name(a.who, f"{type(a).__name__.lower()} alarm {a.alarm_id}")
        alarm = self.by_id.get(a.alarm_id) or m.lookup(a.alarm_id)
        person = {"who": who, "where": a.where}
        if isinstance(a, Acknowledge):
            self.add(_move(alarm, Event.ACK, self.now, why=a.comment, **person))
        elif isinstance(a, Reset):
            self.add(_move(alarm, Event.RESET, self.now, why=a.why, **person))
        elif isinstance(a, Shelve):
            most = m.policy.shelve_max_s
            if not (0 < a.duration_s <= most and math.isfinite(a.duration_s)):
                raise InvalidAction(
                    f"a shelve lasts more than 0 s and at most {most / 3600:g} h "
                    f"(this park's maximum), not {a.duration_s:g} s"
                )
            self.add(_move(alarm, Event.SHELVE, self.now, why=a.why, **person))
            until = self.now + a.duration_s
            marker = Marker(
                MuteKind.SHELVED,
                alarm.tag,
                alarm.condition.label,
                who,
                self.now,
                until,
                a.why,
                a.where,
            )
            self.mark(MarkerChange(marker, True, self.now, who, a.why, a.where))
        elif isinstance(a, Unshelve):
            marker = self.book.get(shelve_key(alarm.tag, alarm.condition))
            if marker is None:
                raise NotMuted(
                    f"alarm {alarm.id} ({alarm.tag} {alarm.condition.label}) is not shelved"
                )
            self.unshelve(marker, who, a.why, a.where)
        elif isinstance(a, Dispose):
            if alarm.closed_ts is not None:
                raise AlreadyClosed(alarm.id, alarm.closed_by)
            action = _name(a.action, f"the disposal of alarm {alarm.id}", what="the action taken")
            disposal = Disposal(a.cause, action, who, self.now, a.attachment_url or None)
            self.add(_move(alarm, Event.DISPOSE, self.now, disposal=disposal, **person))
        else:  # Close
            if alarm.closed_ts is not None:
                raise AlreadyClosed(alarm.id, alarm.closed_by)
            transition(alarm.state, Event.CLOSE, alarm_id=alarm.id)  # refuses an open alarm
            if alarm.disposal is None:
                raise DisposalRequired(alarm.id)
            self.add(_move(alarm, Event.CLOSE, self.now, why=a.why, **person))

    def unshelve(self, marker: Marker, who: str | None, why: str | None, where: str | None) -> None:
        """End a shelve; the open alarm of its sensor and condition, if any, is told (and
        re-announced if still active and acknowledged)."""
        m = self._manager
        self.mark(MarkerChange(marker, False, self.now, who, why, where))
        sensor = m.table.tag_index.get(marker.target)
        if sensor is None:
            return
        key = (sensor, Condition[marker.condition.upper()])
        alarm = self.by_key[key] if key in self.by_key else m.open_alarm(key)
        if alarm is not None and alarm.is_open:
            self.add(_move(alarm, Event.UNSHELVE, self.now, who=who, where=where, why=why))

    def engineer(self, a: Maintenance | OutOfService) -> None:
        """An engineer's maintenance mode or out-of-service, on or off: the marker, and an
        event on every open alarm it mutes or unmutes."""
        m = self._manager
        who = _name(a.who, "maintenance mode" if isinstance(a, Maintenance) else "out of service")
        if isinstance(a, Maintenance):
            if a.unit not in m.units:
                raise UnknownTarget(f"no unit {a.unit!r} in this park")
            key, kind, target, until = maintenance_key(a.unit), MuteKind.SUPPRESSED, a.unit, None
            events = (Event.SUPPRESS, Event.UNSUPPRESS)

            def hit(alarm: Alarm) -> bool:
                return alarm.unit == a.unit and m.kind_of(alarm.sensor) in SUPPRESSIBLE
        else:
            if a.tag not in m.table.tag_index:
                raise UnknownTarget(f"no sensor {a.tag!r} in this park")
            until = a.until_ts
            if until is not None and not (math.isfinite(until) and until > self.now):
                raise InvalidAction(f"out of service until {until!r}: give a time after now")
            key, kind, target = out_of_service_key(a.tag), MuteKind.OUT_OF_SERVICE, a.tag
            events = (Event.OUT_OF_SERVICE, Event.IN_SERVICE)

            def hit(alarm: Alarm) -> bool:
                return alarm.tag == a.tag

        held = self.book.get(key)
        if a.on:
            marker = Marker(kind, target, "", who, self.now, until, a.why, a.where)
        elif held is None:
            raise NotMuted(f"{target} is not {kind.value.replace('_', ' ')}")
        else:
            marker = held
        muted_before = held is not None
        self.mark(MarkerChange(marker, a.on, self.now, who, a.why, a.where))
        if a.on == muted_before:
            return  # already so: the marker is renewed, no alarm changes
        for alarm in self.open_alarms():
            if hit(alarm):
                event = events[0] if a.on else events[1]
                self.add(_move(alarm, event, self.now, who=who, where=a.where, why=a.why))

    def expire(self, a: MuteExpired) -> None:
        """A marker's time is up (the tick): ended, as if its setter had ended it."""
        marker = self.book.get(a.key)
        if marker is None or marker.until_ts != a.until_ts:
            return  # ended or renewed meanwhile
        if marker.kind is MuteKind.SHELVED:
            self.unshelve(marker, None, "expired", None)
            return
        self.mark(MarkerChange(marker, False, self.now, None, "expired", None))
        for alarm in self.open_alarms():
            if alarm.tag == marker.target:
                self.add(_move(alarm, Event.IN_SERVICE, self.now, why="expired"))
