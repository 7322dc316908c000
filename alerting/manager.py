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
from typing import Any

from alerting.action import (
    Acknowledge,
    Action,
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
from alerting.disposal import AlarmPolicy, AlreadyClosed, Disposal, DisposalRequired
from alerting.effects import move as _move
from alerting.journal import Journal
from alerting.lifecycle import ACTIVE_STATES, AlertingError, Event, transition
from alerting.mute import (
    SUPPRESSIBLE,
    Marker,
    MarkerChange,
    MuteBook,
    MuteKind,
    maintenance_key,
    mark,
    out_of_service_key,
    shelve_key,
)
from alerting.precedence import by_precedence, mark_first_out
from alerting.priority import DEFAULT_PRIORITY, ColourChange, Priority, risk_colour
from hazardwatch.clock import Clock
from hazardwatch.model import AlarmState, Condition, ConditionChange, Kind, RiskColour, SensorTable

_Key = tuple[int, Condition]

# The second-level limits: these latch on a sensor configured to (`latch:`; gas by default).
LATCHING_CONDITIONS: frozenset[Condition] = frozenset({Condition.HH, Condition.LL, Condition.GAS2})


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


class _Pass:
    """One pass of the lifecycle: its events and marker changes so far, which the later
    actions of the same pass see (an alarm raised and acknowledged in one pass)."""

    def __init__(self, manager: AlarmManager, now: float) -> None:
        self.now = now
        self.events: list[AlarmEvent] = []
        self.markers: list[MarkerChange] = []
        self.by_key: dict[_Key, Alarm | None] = {}
        self.by_id: dict[int, Alarm] = {}
        self.next_id = manager._next_id
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
        merged = {**self._manager._by_id, **self.by_id}
        return [merged[i] for i in sorted(merged) if merged[i].is_open]


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
            p = _Pass(self, now)
            for a in actions:
                if isinstance(a, ConditionChange):
                    self._follow(p, a)
                elif isinstance(a, Maintenance | OutOfService):
                    self._mark(p, a)
                elif isinstance(a, MuteExpired):
                    self._expire(p, a)
                else:
                    self._operate(p, a)
            return Planned(p.events, p.markers)

    def latches(self, sensor: int, condition: Condition) -> bool:
        """Does this alarm latch? Second-level limits (HH, LL, gas second level) of a sensor
        configured to latch (`latch:`, by default every gas detector)."""
        return 0 <= sensor < self._table.n and (
            condition in LATCHING_CONDITIONS and bool(self._table.latch[sensor])
        )

    def _follow(self, p: _Pass, c: ConditionChange) -> None:
        """The transition a detector's condition change makes, if any."""
        key = (c.sensor, c.condition)
        alarm = p.by_key[key] if key in p.by_key else self._by_key.get(key)
        eta = _finite_or_none(c.eta_ts)
        if alarm is None:
            if not c.active:
                return  # a clear of a condition that has no alarm
            alarm = self._new_alarm(p.next_id, c)
            p.next_id += 1
        if c.active and alarm.state in ACTIVE_STATES:
            if eta is None or eta == alarm.eta_ts:
                return
            p.add(_move(alarm, Event.UPDATE, c.ts, value=c.value, eta=eta))
        elif c.active:
            p.add(_move(alarm, Event.ACTIVATE, c.ts, value=c.value, eta=eta))
        elif alarm.state in ACTIVE_STATES:
            latching = self.latches(alarm.sensor, alarm.condition)
            p.add(_move(alarm, Event.CLEAR, c.ts, latching=latching, value=c.value))

    def _operate(self, p: _Pass, a: OperatorAction) -> None:
        """A person's action on one alarm, named by its id."""
        who = _name(a.who, f"{type(a).__name__.lower()} alarm {a.alarm_id}")
        alarm = p.by_id.get(a.alarm_id) or self._open_or_journalled(a.alarm_id)
        person = {"who": who, "where": a.where}
        if isinstance(a, Acknowledge):
            p.add(_move(alarm, Event.ACK, p.now, why=a.comment, **person))
        elif isinstance(a, Reset):
            p.add(_move(alarm, Event.RESET, p.now, why=a.why, **person))
        elif isinstance(a, Shelve):
            most = self.policy.shelve_max_s
            if not (0 < a.duration_s <= most and math.isfinite(a.duration_s)):
                raise InvalidAction(
                    f"a shelve lasts more than 0 s and at most {most / 3600:g} h "
                    f"(this park's maximum), not {a.duration_s:g} s"
                )
            p.add(_move(alarm, Event.SHELVE, p.now, why=a.why, **person))
            until = p.now + a.duration_s
            marker = Marker(
                MuteKind.SHELVED,
                alarm.tag,
                alarm.condition.label,
                who,
                p.now,
                until,
                a.why,
                a.where,
            )
            p.mark(MarkerChange(marker, True, p.now, who, a.why, a.where))
        elif isinstance(a, Unshelve):
            marker = p.book.get(shelve_key(alarm.tag, alarm.condition))
            if marker is None:
                raise NotMuted(
                    f"alarm {alarm.id} ({alarm.tag} {alarm.condition.label}) is not shelved"
                )
            self._unshelve(p, marker, who, a.why, a.where)
        elif isinstance(a, Dispose):
            if alarm.closed_ts is not None:
                raise AlreadyClosed(alarm.id, alarm.closed_by)
            action = _name(a.action, f"the disposal of alarm {alarm.id}", what="the action taken")
            disposal = Disposal(a.cause, action, who, p.now, a.attachment_url or None)
            p.add(_move(alarm, Event.DISPOSE, p.now, disposal=disposal, **person))
        else:  # Close
            if alarm.closed_ts is not None:
                raise AlreadyClosed(alarm.id, alarm.closed_by)
            transition(alarm.state, Event.CLOSE, alarm_id=alarm.id)  # refuses an open alarm
            if alarm.disposal is None:
                raise DisposalRequired(alarm.id)
            p.add(_move(alarm, Event.CLOSE, p.now, why=a.why, **person))

    def _unshelve(
        self, p: _Pass, marker: Marker, who: str | None, why: str | None, where: str | None
    ) -> None:
        """End a shelve; the open alarm of its sensor and condition, if any, is told (and
        re-announced if still active and acknowledged)."""
        p.mark(MarkerChange(marker, False, p.now, who, why, where))
        sensor = self._table.tag_index.get(marker.target)
        if sensor is None:
            return
        key = (sensor, Condition[marker.condition.upper()])
        alarm = p.by_key[key] if key in p.by_key else self._by_key.get(key)
        if alarm is not None and alarm.is_open:
            p.add(_move(alarm, Event.UNSHELVE, p.now, who=who, where=where, why=why))

    def _mark(self, p: _Pass, a: Maintenance | OutOfService) -> None:
        """An engineer's maintenance mode or out-of-service, on or off: the marker, and an
        event on every open alarm it mutes or unmutes."""
        who = _name(a.who, "maintenance mode" if isinstance(a, Maintenance) else "out of service")
        if isinstance(a, Maintenance):
            if a.unit not in self._units:
                raise UnknownTarget(f"no unit {a.unit!r} in this park")
            key, kind, target, until = maintenance_key(a.unit), MuteKind.SUPPRESSED, a.unit, None
            events = (Event.SUPPRESS, Event.UNSUPPRESS)

            def hit(alarm: Alarm) -> bool:
                return alarm.unit == a.unit and self._kind_of(alarm.sensor) in SUPPRESSIBLE
        else:
            if a.tag not in self._table.tag_index:
                raise UnknownTarget(f"no sensor {a.tag!r} in this park")
            until = a.until_ts
            if until is not None and not (math.isfinite(until) and until > p.now):
                raise InvalidAction(f"out of service until {until!r}: give a time after now")
            key, kind, target = out_of_service_key(a.tag), MuteKind.OUT_OF_SERVICE, a.tag
            events = (Event.OUT_OF_SERVICE, Event.IN_SERVICE)

            def hit(alarm: Alarm) -> bool:
                return alarm.tag == a.tag

        held = p.book.get(key)
        if a.on:
            marker = Marker(kind, target, "", who, p.now, until, a.why, a.where)
        elif held is None:
            raise NotMuted(f"{target} is not {kind.value.replace('_', ' ')}")
        else:
            marker = held
        muted_before = held is not None
        p.mark(MarkerChange(marker, a.on, p.now, who, a.why, a.where))
        if a.on == muted_before:
            return  # already so: the marker is renewed, no alarm changes
        for alarm in p.open_alarms():
            if hit(alarm):
                event = events[0] if a.on else events[1]
                p.add(_move(alarm, event, p.now, who=who, where=a.where, why=a.why))

    def _expire(self, p: _Pass, a: MuteExpired) -> None:
        """A marker's time is up (the tick): ended, as if its setter had ended it."""
        marker = p.book.get(a.key)
        if marker is None or marker.until_ts != a.until_ts:
            return  # ended or renewed meanwhile
        if marker.kind is MuteKind.SHELVED:
            self._unshelve(p, marker, None, "expired", None)
            return
        p.mark(MarkerChange(marker, False, p.now, None, "expired", None))
        for alarm in p.open_alarms():
            if alarm.tag == marker.target:
                p.add(_move(alarm, Event.IN_SERVICE, p.now, why="expired"))

    def _open_or_journalled(self, alarm_id: int) -> Alarm:
        alarm = self._by_id.get(alarm_id) or self._journal.alarm(alarm_id)
        if alarm is None:
            raise AlarmNotFound(alarm_id)
        return alarm

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
        found = by_precedence(found, self._kind_of)[:limit]
        return mark_first_out(found, open_now)

    def _kind_of(self, sensor: int) -> Kind | None:
        return self._kinds[sensor] if 0 <= sensor < len(self._kinds) else None

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
