"""The alarm manager: turns detector condition changes into journalled ISA-18.2 alarms.

It owns the state of every open alarm, indexed by (sensor, condition), and the risk colour
of every hazard source. Each transition is committed to the journal before the call that
caused it returns, and the in-memory state changes only after that commit, so a crash at
any point leaves the journal as the whole truth and a restart rebuilds the same state.

It answers two questions the alarm pipeline (alerting.pipeline) asks in turn:
`transitions(actions, now)`, what the lifecycle makes of some actions (nothing written), and
`commit(events)`, which journals them with the risk-colour changes they cause in one
transaction and only then makes them current. `apply` and `acknowledge` do both at once,
without notifying anyone (tests and tools); the service goes through the pipeline.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from alerting.action import Acknowledge, Action
from alerting.alarm import Alarm, AlarmEvent
from alerting.journal import Journal
from alerting.lifecycle import ACTIVE_STATES, AlertingError, Event, InvalidTransition, transition
from alerting.priority import DEFAULT_PRIORITY, ColourChange, Priority, risk_colour
from hazardwatch.clock import Clock
from hazardwatch.model import AlarmState, Condition, ConditionChange, RiskColour, SensorTable

_Key = tuple[int, Condition]


@dataclass(frozen=True, slots=True)
class Committed:
    """What one journal transaction holds: the transitions with their seqs, and the risk
    colour changes they caused."""

    events: list[AlarmEvent] = field(default_factory=list)
    colours: list[ColourChange] = field(default_factory=list)


class AlarmNotFound(AlertingError):
    """No alarm with that id was ever raised (the API answers 404)."""

    def __init__(self, alarm_id: int) -> None:
        self.alarm_id = alarm_id
        super().__init__(f"no alarm with id {alarm_id}")


class InvalidAcknowledgement(AlertingError):
    """An acknowledgement without a name for the person who made it."""


def _finite_or_none(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


class AlarmManager:
    """Alarm state per (sensor, condition); restores the open alarms from the journal.

    Thread-safe: the detector thread may apply changes while the API acknowledges.
    """

    def __init__(
        self,
        table: SensorTable,
        journal: Journal,
        clock: Clock,
        priorities: dict[Condition, Priority] | None = None,
    ) -> None:
        self._table = table
        self._journal = journal
        self._clock = clock
        self._priorities = {**DEFAULT_PRIORITY, **(priorities or {})}
        self._lock = threading.RLock()
        self._by_key: dict[_Key, Alarm] = {}
        self._by_id: dict[int, Alarm] = {}
        self._by_source: dict[str, dict[int, Alarm]] = {}
        restored = [self._relocate(a) for a in journal.open_alarms()]
        for alarm in restored:
            self._install(alarm)
        self._next_id = journal.next_alarm_id()
        self._colours = {h: RiskColour.BLUE for h in dict.fromkeys(table.hazard_source)}
        self._reconcile_colours(journal.latest_colours())
        self._clear_orphans(restored)

    @property
    def clock(self) -> Clock:
        """The clock acknowledgements are stamped with."""
        return self._clock

    def priority(self, condition: Condition) -> Priority:
        """The priority this park gives `condition` (its default, or the site's override)."""
        return self._priorities[condition]

    def _relocate(self, alarm: Alarm) -> Alarm:
        """Place a restored alarm in the current table: the site config may have changed.

        An alarm whose tag is gone gets sensor -1: it stays reachable by id (so it can be
        acknowledged) but no longer answers to a sensor index.
        """
        i = self._table.tag_index.get(alarm.tag)
        if i is None:
            return replace(alarm, sensor=-1)
        return replace(
            alarm,
            sensor=i,
            enterprise=self._table.enterprise[i],
            hazard_source=self._table.hazard_source[i],
            unit=self._table.unit[i],
        )

    def _clear_orphans(self, restored: list[Alarm]) -> None:
        """Clear active alarms whose sensor left the config: no detector can clear them now.

        Unacknowledged ones stay open (CLEARED_UNACK) until a person acknowledges them.
        """
        now = self._clock.now()
        events = []
        for a in restored:
            if a.sensor < 0 and a.state in ACTIVE_STATES:
                state = transition(a.state, Event.CLEAR)
                after = replace(a, state=state, changed_ts=now, cleared_ts=now)
                events.append(AlarmEvent(0, after, Event.CLEAR, a.state, state, now))
        self.commit(events)

    def _reconcile_colours(self, journalled: dict[str, RiskColour]) -> None:
        """Journal any colour that differs from the journal's last word (config changes)."""
        now = self._clock.now()
        changes = []
        for h in self._colours:
            colour = self._worst_colour(self._by_source.get(h, {}).values())
            last = journalled.get(h, RiskColour.BLUE)
            if colour is not last:
                changes.append(ColourChange(h, last, colour, now))
            self._colours[h] = colour
        if changes:
            self._journal.append_many([], changes)

    # ------------------------------------------------------------------ transitions

    def transitions(self, actions: Sequence[Action], now: float) -> list[AlarmEvent]:
        """The lifecycle: what `actions` do to their alarms, in order; nothing is written.

        A condition change that activates an alarm already active is an UPDATE when it
        brings a new predicted time of crossing (`eta_ts`, its value goes along), and is
        ignored otherwise; a clear of a condition with no active alarm is ignored. An
        acknowledgement happens at `now`. Returns the transitions in order, seq 0 (the
        journal numbers them in `commit`). Raises, before anything is written:
        AlertingError for a sensor index outside the table, InvalidAcknowledgement for an
        acknowledgement without a name, AlarmNotFound for an id never raised and
        InvalidTransition for an alarm not acknowledgeable in its state.
        """
        with self._lock:
            for a in actions:
                if isinstance(a, ConditionChange) and not 0 <= a.sensor < self._table.n:
                    raise AlertingError(
                        f"condition change for sensor index {a.sensor}, "
                        f"but the table has {self._table.n} sensors"
                    )
            # Earlier actions of the same pass, seen by the later ones.
            by_key: dict[_Key, Alarm | None] = {}
            by_id: dict[int, Alarm] = {}
            pending: list[AlarmEvent] = []
            next_id = self._next_id
            for a in actions:
                if isinstance(a, Acknowledge):
                    who = a.who.strip()
                    if not who:
                        raise InvalidAcknowledgement(
                            f"acknowledging alarm {a.alarm_id} needs a person's name"
                        )
                    alarm = by_id.get(a.alarm_id) or self._open_or_journalled(a.alarm_id)
                    event = self._ack(alarm, who, a.comment, now)
                else:
                    key = (a.sensor, a.condition)
                    alarm = by_key[key] if key in by_key else self._by_key.get(key)
                    if a.active and alarm is None:
                        alarm = self._new_alarm(next_id, a)
                        next_id += 1
                    made = self._follow(alarm, a)
                    if made is None:
                        continue
                    event = made
                pending.append(event)
                after = event.alarm
                by_id[after.id] = after
                by_key[(after.sensor, after.condition)] = after if after.is_open else None
            return pending

    def _open_or_journalled(self, alarm_id: int) -> Alarm:
        alarm = self._by_id.get(alarm_id) or self._journal.alarm(alarm_id)
        if alarm is None:
            raise AlarmNotFound(alarm_id)
        return alarm

    @staticmethod
    def _follow(alarm: Alarm | None, c: ConditionChange) -> AlarmEvent | None:
        """The transition a detector's condition change makes, or None if it makes none."""
        eta = _finite_or_none(c.eta_ts)
        if alarm is None:
            return None  # a clear of a condition that has no alarm
        if c.active and alarm.state in ACTIVE_STATES:
            if eta is None or eta == alarm.eta_ts:
                return None
            event = Event.UPDATE
            after = replace(alarm, state=transition(alarm.state, event), value=c.value, eta_ts=eta)
        elif c.active:
            event = Event.ACTIVATE
            after = replace(
                alarm,
                state=transition(alarm.state, event),
                value=c.value,
                changed_ts=c.ts,
                cleared_ts=None,
                eta_ts=eta,
            )
        else:
            if alarm.state not in ACTIVE_STATES:
                return None
            event = Event.CLEAR
            # The trend no longer heads for the limit: no predicted crossing to show.
            after = replace(
                alarm,
                state=transition(alarm.state, event),
                value=c.value,
                changed_ts=c.ts,
                cleared_ts=c.ts,
                eta_ts=None,
            )
        return AlarmEvent(0, after, event, alarm.state, after.state, c.ts)

    @staticmethod
    def _ack(alarm: Alarm, who: str, comment: str | None, now: float) -> AlarmEvent:
        try:
            state = transition(alarm.state, Event.ACK)
        except InvalidTransition:
            raise InvalidTransition(alarm.state, Event.ACK, alarm.id) from None
        after = replace(
            alarm, state=state, changed_ts=now, acked_ts=now, acked_by=who, ack_comment=comment
        )
        return AlarmEvent(0, after, Event.ACK, alarm.state, state, now)

    def _new_alarm(self, alarm_id: int, c: ConditionChange) -> Alarm:
        """A fresh occurrence in NORMAL, about to activate."""
        i = c.sensor
        return Alarm(
            id=alarm_id,
            sensor=i,
            tag=self._table.tags[i],
            condition=c.condition,
            priority=self._priorities[c.condition],
            state=AlarmState.NORMAL,
            enterprise=self._table.enterprise[i],
            hazard_source=self._table.hazard_source[i],
            unit=self._table.unit[i],
            value=c.value,
            raised_ts=c.ts,
            changed_ts=c.ts,
        )

    def apply(self, changes: list[ConditionChange]) -> list[AlarmEvent]:
        """Transitions for detector changes, journalled before this returns; no one is told
        (the service's changes go through alerting.Pipeline, which notifies)."""
        with self._lock:
            return self.commit(self.transitions(changes, self._clock.now())).events

    def acknowledge(self, alarm_id: int, who: str, comment: str | None = None) -> AlarmEvent:
        """Acknowledge an alarm for the person `who` now; journalled before this returns, no
        one told (the API's acknowledgements go through alerting.Pipeline).

        Raises AlarmNotFound for an id never raised, InvalidTransition for an alarm that is
        already acknowledged or back to NORMAL.
        """
        with self._lock:
            action = Acknowledge(alarm_id, who, comment)
            return self.commit(self.transitions([action], self._clock.now())).events[0]

    def commit(self, pending: list[AlarmEvent]) -> Committed:
        """Journal transitions and the colour changes they cause in one transaction, then
        make them current; returns both, the events with their journal seqs."""
        if not pending:
            return Committed()
        with self._lock:
            final: dict[int, AlarmEvent] = {e.alarm.id: e for e in pending}
            touched: dict[str, float] = {}
            for e in pending:
                touched[e.alarm.hazard_source] = e.ts
            # Grouped once: an alarm storm touches hundreds of hazard sources in one commit.
            final_by_source: dict[str, list[Alarm]] = {}
            for e in final.values():
                final_by_source.setdefault(e.alarm.hazard_source, []).append(e.alarm)
            colour_changes = []
            for h, ts in touched.items():
                if h not in self._colours:
                    continue  # an alarm restored for a hazard source no longer configured
                open_here = dict(self._by_source.get(h, {}))
                for alarm in final_by_source.get(h, ()):
                    open_here[alarm.id] = alarm
                colour = self._worst_colour(open_here.values())
                if colour is not self._colours[h]:
                    colour_changes.append(ColourChange(h, self._colours[h], colour, ts))
            seqs = self._journal.append_many(pending, colour_changes)
            # Committed: only now does memory follow.
            for e in final.values():
                self._install(e.alarm)
            for change in colour_changes:
                self._colours[change.hazard_source] = change.new
            self._next_id = max(self._next_id, max(final) + 1)
            events = [replace(e, seq=s) for e, s in zip(pending, seqs, strict=True)]
            return Committed(events, colour_changes)

    def _install(self, alarm: Alarm) -> None:
        """Make `alarm` the current snapshot of its id, or forget it once NORMAL."""
        key = (alarm.sensor, alarm.condition)
        here = self._by_source.setdefault(alarm.hazard_source, {})
        if alarm.is_open:
            self._by_id[alarm.id] = alarm
            here[alarm.id] = alarm
            if alarm.sensor >= 0:
                self._by_key[key] = alarm
        else:
            self._by_id.pop(alarm.id, None)
            here.pop(alarm.id, None)
            if self._by_key.get(key) is not None and self._by_key[key].id == alarm.id:
                del self._by_key[key]

    @staticmethod
    def _worst_colour(alarms: Iterable[Alarm]) -> RiskColour:
        worst = max((a.priority for a in alarms if a.is_open), default=None)
        return risk_colour(worst)

    # ------------------------------------------------------------------ queries

    def get(self, alarm_id: int) -> Alarm:
        """The current snapshot of an alarm, open or closed; raises AlarmNotFound."""
        with self._lock:
            alarm = self._by_id.get(alarm_id)
        if alarm is None:
            alarm = self._journal.alarm(alarm_id)
        if alarm is None:
            raise AlarmNotFound(alarm_id)
        return alarm

    def alarms(
        self,
        *,
        state: AlarmState | None = None,
        enterprise: str | None = None,
        hazard_source: str | None = None,
        priority: Priority | None = None,
        include_closed: bool = False,
        limit: int = 500,
    ) -> list[Alarm]:
        """Alarms matching every filter given, highest priority then newest first.

        Closed (NORMAL) alarms come from the journal, only with `include_closed` or when
        `state` asks for NORMAL.
        """
        limit = max(0, limit)
        with self._lock:
            found = [
                a
                for a in self._by_id.values()
                if (state is None or a.state is state)
                and (enterprise is None or a.enterprise == enterprise)
                and (hazard_source is None or a.hazard_source == hazard_source)
                and (priority is None or a.priority is priority)
            ]
        if include_closed or state is AlarmState.NORMAL:
            if state is None or state is AlarmState.NORMAL:
                found += self._journal.closed_alarms(
                    enterprise=enterprise,
                    hazard_source=hazard_source,
                    priority=priority,
                    limit=limit,
                )
        found.sort(key=lambda a: (a.priority, a.raised_ts, a.id), reverse=True)
        return found[:limit]

    def active_conditions(self) -> list[tuple[int, Condition]]:
        """(sensor, condition) of every open alarm still active, for Detector.restore."""
        with self._lock:
            return sorted(k for k, a in self._by_key.items() if a.state in ACTIVE_STATES)

    def risk_colours(self) -> dict[str, RiskColour]:
        """Every hazard source of the table -> the colour of its worst open alarm."""
        with self._lock:
            return dict(self._colours)
