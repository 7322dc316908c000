"""The alarm manager: turns detector condition changes into journalled ISA-18.2 alarms.

It owns the state of every open alarm, indexed by (sensor, condition), and the risk colour
of every hazard source. Each transition is committed to the journal before the call that
caused it returns, and the in-memory state changes only after that commit, so a crash at
any point leaves the journal as the whole truth and a restart rebuilds the same state.

It answers the questions the alarm pipeline (alerting.pipeline) asks in turn: `plan(actions,
now)`, what the lifecycle makes of some actions (a pass of alerting.plan; nothing written),
`muted(planned, now)`, the events marked by the mutes, and `commit(events, markers)`, which
journals them with the risk-colour changes they cause and the mute marker changes in one
transaction and only then makes them current. `perform`, `apply` and `acknowledge` do all
at once without notifying anyone (tests and tools); the service goes through the pipeline.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from alerting.action import Acknowledge, Action, Maintenance, MuteExpired, OutOfService
from alerting.alarm import Alarm, AlarmEvent
from alerting.disposal import AlarmPolicy
from alerting.effects import move as _move
from alerting.journal import Journal
from alerting.lifecycle import ACTIVE_STATES, AlertingError, Event
from alerting.mute import MarkerChange, MuteBook, mark
from alerting.plan import LATCHING_CONDITIONS, AlarmNotFound, Pass, Planned
from alerting.precedence import by_precedence, mark_first_out
from alerting.priority import DEFAULT_PRIORITY, ColourChange, Priority, risk_colour
from hazardwatch.vocabulary.clock import Clock
from hazardwatch.vocabulary.model import (
    AlarmState,
    Condition,
    ConditionChange,
    Kind,
    RiskColour,
    SensorTable,
)

_Key = tuple[int, Condition]


@dataclass(frozen=True, slots=True)
class Committed:
    """What one journal transaction holds: the transitions with their seqs, and the risk
    colour changes they caused."""

    events: list[AlarmEvent] = field(default_factory=list)
    colours: list[ColourChange] = field(default_factory=list)


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
        *,
        policy: AlarmPolicy | None = None,
        cameras: dict[str, str] | None = None,
    ) -> None:
        self._table = table
        self._journal = journal
        self._clock = clock
        self._priorities = {**DEFAULT_PRIORITY, **(priorities or {})}
        self.policy = policy or AlarmPolicy()
        self._cameras = dict(cameras or {})  # unit id -> camera link
        self._units = frozenset(table.unit)
        self._kinds = [Kind(int(k)) for k in table.kind]
        self.mutes = MuteBook(self._kinds, journal.markers())
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
            camera_url=self._cameras.get(self._table.unit[i]),
        )

    def _clear_orphans(self, restored: list[Alarm]) -> None:
        """Clear active alarms whose sensor left the config: no detector can clear them now.

        Unacknowledged ones stay open (CLEARED_UNACK) until a person acknowledges them.
        """
        now = self._clock.now()
        events = []
        for a in restored:
            if a.sensor < 0 and a.state in ACTIVE_STATES:
                events.append(_move(a, Event.CLEAR, now))
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
        """The events `actions` make (see `plan`), without their mute marker changes."""
        return self.plan(actions, now).events

    def plan(self, actions: Sequence[Action], now: float) -> Planned:
        """The lifecycle: what `actions` do to their alarms and mute markers, in order;
        nothing is written.

        Each event is a row of the transition table (alerting.lifecycle) applied to its
        alarm. A condition change that activates an alarm already active is an UPDATE when
        it brings a new predicted time of crossing (`eta_ts`, its value goes along), and is
        ignored otherwise; a clear of a condition with no active alarm is ignored; a clear
        of a latching alarm (`latches`) holds it latched. A person's action happens at
        `now`. Returns the events in order, seq 0 (the journal numbers them in `commit`),
        and the marker changes. Raises, before anything is written: AlertingError for a
        sensor index outside the table, InvalidAction for a request that cannot be right
        in any state (a blank name, a shelve past the maximum), AlarmNotFound or
        UnknownTarget for what does not exist, InvalidTransition for an event its alarm's
        state refuses, and NotMuted, DisposalRequired, AlreadyClosed for the markers and
        records beside the state that refuse it.
        """
        with self._lock:
            for a in actions:
                if isinstance(a, ConditionChange) and not 0 <= a.sensor < self._table.n:
                    raise AlertingError(
                        f"condition change for sensor index {a.sensor}, "
                        f"but the table has {self._table.n} sensors"
                    )
            p = Pass(self, now)
            for a in actions:
                if isinstance(a, ConditionChange):
                    p.follow(a)
                elif isinstance(a, Maintenance | OutOfService):
                    p.engineer(a)
                elif isinstance(a, MuteExpired):
                    p.expire(a)
                else:
                    p.operate(a)
            return Planned(p.events, p.markers)

    def latches(self, sensor: int, condition: Condition) -> bool:
        """Does this alarm latch? Second-level limits (HH, LL, gas second level) of a sensor
        configured to latch (`latch:`, by default every gas detector)."""
        return 0 <= sensor < self._table.n and (
            condition in LATCHING_CONDITIONS and bool(self._table.latch[sensor])
        )

    # what a pass of the lifecycle (alerting.plan) reads

    @property
    def table(self) -> SensorTable:
        return self._table

    @property
    def units(self) -> frozenset[str]:
        """Every unit id of the table."""
        return self._units

    @property
    def next_id(self) -> int:
        """The id the next new alarm gets."""
        return self._next_id

    def open_alarm(self, key: _Key) -> Alarm | None:
        """The open alarm of (sensor, condition), if any."""
        return self._by_key.get(key)

    def open_by_id(self) -> dict[int, Alarm]:
        """Every open alarm by id (a copy)."""
        return dict(self._by_id)

    def lookup(self, alarm_id: int) -> Alarm:
        """An alarm open or closed by id; raises AlarmNotFound."""
        return self._open_or_journalled(alarm_id)

    def kind_of(self, sensor: int) -> Kind | None:
        """A sensor's kind (None for an index outside the table: a tag gone from the config)."""
        return self._kinds[sensor] if 0 <= sensor < len(self._kinds) else None

    def _open_or_journalled(self, alarm_id: int) -> Alarm:
        alarm = self._by_id.get(alarm_id) or self._journal.alarm(alarm_id)
        if alarm is None:
            raise AlarmNotFound(alarm_id)
        return alarm

    def new_alarm(self, alarm_id: int, c: ConditionChange) -> Alarm:
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
            camera_url=self._cameras.get(self._table.unit[i]),
        )

    def muted(self, planned: Planned, now: float) -> list[AlarmEvent]:
        """The planned events, each alarm marked with what mutes it once the pass's marker
        changes are made (the mute stage of the pipeline)."""
        book = self.mutes
        if planned.markers:
            book = book.copy()
            book.apply(planned.markers)
        return mark(planned.events, book, now)

    def perform(self, actions: Sequence[Action], now: float | None = None) -> list[AlarmEvent]:
        """Lifecycle, mutes and journal for `actions` at `now` (default the clock's time);
        journalled before this returns, no one told (tests and tools: the service goes
        through alerting.Pipeline, which notifies)."""
        with self._lock:
            now = self._clock.now() if now is None else now
            planned = self.plan(actions, now)
            return self.commit(self.muted(planned, now), planned.markers).events

    def apply(self, changes: list[ConditionChange]) -> list[AlarmEvent]:
        """Transitions for detector changes, journalled before this returns; no one is told
        (the service's changes go through alerting.Pipeline, which notifies)."""
        return self.perform(changes)

    def acknowledge(self, alarm_id: int, who: str, comment: str | None = None) -> AlarmEvent:
        """Acknowledge an alarm for the person `who` now; journalled before this returns, no
        one told (the API's acknowledgements go through alerting.Pipeline).

        Raises AlarmNotFound for an id never raised, InvalidTransition for an alarm that is
        already acknowledged or back to NORMAL.
        """
        return self.perform([Acknowledge(alarm_id, who, comment)])[0]

    def commit(self, pending: list[AlarmEvent], markers: Sequence[MarkerChange] = ()) -> Committed:
        """Journal transitions, the colour changes they cause and mute marker changes in one
        transaction, then make them current; returns the events with their journal seqs
        and the colour changes."""
        if not pending and not markers:
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
            seqs = self._journal.append_many(pending, colour_changes, markers)
            # Committed: only now does memory follow.
            for e in final.values():
                self._install(e.alarm)
            for change in colour_changes:
                self._colours[change.hazard_source] = change.new
            self.mutes.apply(markers)
            self._next_id = max(self._next_id, max(final, default=0) + 1)
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

    def operator_actions(self, limit: int, before_ts: float | None = None) -> list[dict[str, Any]]:
        """The journal's record of what people did, newest first (for the audit)."""
        return self._journal.operator_actions(limit, before_ts)

    def journalled(self, after_seq: int = 0, limit: int = 100_000) -> list[AlarmEvent]:
        """Journalled transitions after sequence number `after_seq`, oldest first (the
        performance report reads them)."""
        return self._journal.events_after(after_seq, limit)

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
        """Alarms matching every filter given, most urgent first (alerting.precedence:
        priority, the gas rule, newest first), each hazard source's first-out marked.

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
        with self._lock:
            open_now = list(self._by_id.values())
        found = by_precedence(found, self.kind_of)[:limit]
        return mark_first_out(found, open_now)

    def unclosed(self, limit: int = 500) -> list[Alarm]:
        """Alarms not yet closed (open, or back to normal without their closing), oldest
        first: the closed loop's to-do list."""
        return self._journal.unclosed_alarms(limit)

    def active_conditions(self) -> list[tuple[int, Condition]]:
        """(sensor, condition) of every open alarm still active, for Detector.restore."""
        with self._lock:
            return sorted(k for k, a in self._by_key.items() if a.state in ACTIVE_STATES)

    def risk_colours(self) -> dict[str, RiskColour]:
        """Every hazard source of the table -> the colour of its worst open alarm."""
        with self._lock:
            return dict(self._colours)
