"""The alarm manager: turns detector condition changes into journalled ISA-18.2 alarms.

It owns the state of every open alarm, indexed by (sensor, condition), and the risk colour
of every hazard source. Each transition is committed to the journal before the call that
caused it returns, and the in-memory state changes only after that commit, so a crash at
any point leaves the journal as the whole truth and a restart rebuilds the same state.

Risk-colour changes are journalled in the same transaction as the transitions that caused
them and are also queued for the live channel: `take_colour_changes()` drains that queue.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import replace

from alerting.alarm import Alarm, AlarmEvent
from alerting.journal import Journal
from alerting.lifecycle import ACTIVE_STATES, AlertingError, Event, InvalidTransition, transition
from alerting.priority import DEFAULT_PRIORITY, ColourChange, Priority, risk_colour
from hazardwatch.clock import Clock
from hazardwatch.model import AlarmState, Condition, ConditionChange, RiskColour, SensorTable

# Colour changes wait here for the live channel; they are already journalled, so a caller
# that never drains the queue loses only its oldest pushes, never the record.
COLOUR_QUEUE_MAX = 10_000

_Key = tuple[int, Condition]


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
        self._colour_queue: deque[ColourChange] = deque(maxlen=COLOUR_QUEUE_MAX)
        restored = [self._relocate(a) for a in journal.open_alarms()]
        for alarm in restored:
            self._install(alarm)
        self._next_id = journal.next_alarm_id()
        self._colours = {h: RiskColour.BLUE for h in dict.fromkeys(table.hazard_source)}
        self._reconcile_colours(journal.latest_colours())
        self._clear_orphans(restored)

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
        self._commit(events)

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
            self._colour_queue.extend(changes)

    # ------------------------------------------------------------------ transitions

    def apply(self, changes: list[ConditionChange]) -> list[AlarmEvent]:
        """Turn condition changes into alarm transitions, journalled before this returns.

        An activation of an alarm already active is an UPDATE when it brings a new predicted
        time of crossing (`eta_ts`, its value goes along), and is ignored otherwise; a clear
        of a condition with no active alarm is ignored. Returns the transitions in order,
        with their journal seqs.
        """
        with self._lock:
            for c in changes:
                if not 0 <= c.sensor < self._table.n:
                    raise AlertingError(
                        f"condition change for sensor index {c.sensor}, "
                        f"but the table has {self._table.n} sensors"
                    )
            work: dict[_Key, Alarm | None] = {}
            pending: list[AlarmEvent] = []
            next_id = self._next_id
            for c in changes:
                key = (c.sensor, c.condition)
                alarm = work[key] if key in work else self._by_key.get(key)
                eta = _finite_or_none(c.eta_ts)
                if c.active and alarm is not None and alarm.state in ACTIVE_STATES:
                    if eta is None or eta == alarm.eta_ts:
                        continue
                    event = Event.UPDATE
                    after = replace(
                        alarm, state=transition(alarm.state, event), value=c.value, eta_ts=eta
                    )
                elif c.active:
                    if alarm is None:
                        alarm = self._new_alarm(next_id, c)
                        next_id += 1
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
                    if alarm is None or alarm.state not in ACTIVE_STATES:
                        continue
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
                pending.append(AlarmEvent(0, after, event, alarm.state, after.state, c.ts))
                work[key] = after if after.is_open else None
            events = self._commit(pending)
            self._next_id = next_id
            return events

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

    def acknowledge(self, alarm_id: int, who: str, comment: str | None = None) -> AlarmEvent:
        """Acknowledge an alarm for the person `who`; journalled before this returns.

        Raises AlarmNotFound for an id never raised, InvalidTransition for an alarm that is
        already acknowledged or back to NORMAL.
        """
        who = who.strip()
        if not who:
            raise InvalidAcknowledgement(f"acknowledging alarm {alarm_id} needs a person's name")
        with self._lock:
            alarm = self._by_id.get(alarm_id) or self._journal.alarm(alarm_id)
            if alarm is None:
                raise AlarmNotFound(alarm_id)
            try:
                state = transition(alarm.state, Event.ACK)
            except InvalidTransition:
                raise InvalidTransition(alarm.state, Event.ACK, alarm_id) from None
            now = self._clock.now()
            after = replace(
                alarm, state=state, changed_ts=now, acked_ts=now, acked_by=who, ack_comment=comment
            )
            return self._commit([AlarmEvent(0, after, Event.ACK, alarm.state, state, now)])[0]

    def _commit(self, pending: list[AlarmEvent]) -> list[AlarmEvent]:
        """Journal transitions and the colour changes they cause, then make them current."""
        if not pending:
            return []
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
        self._colour_queue.extend(colour_changes)
        return [replace(e, seq=s) for e, s in zip(pending, seqs, strict=True)]

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

    def take_colour_changes(self) -> list[ColourChange]:
        """Colour changes since the last call, oldest first (already journalled)."""
        with self._lock:
            taken = list(self._colour_queue)
            self._colour_queue.clear()
            return taken
