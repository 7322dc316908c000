"""Mutes: shelved, suppressed by design, out of service; markers beside the alarm state.

Like Alertmanager's silences, a mute is kept apart from the alarms it mutes, as a marker
on what it names:

- shelved: one sensor's condition (tag and condition), by an operator, with a reason and
  an expiry of at most the policy's maximum; a new occurrence of it meanwhile is muted too;
- suppressed by design: a unit in maintenance mode; its level, temperature and pressure
  alarms only, never its gas alarms;
- out of service: one instrument (tag) under repair, by whom, why, until when (optional).

Every kind answers one question, `mutes(alarm, now) -> reason | None`; the mute stage of
the pipeline asks it for every transition, so a muted transition is journalled but marked,
and notifiers that page people hold it back. The markers themselves are journalled with
their changes (who, when, from where, why) and come back on restart (`MuteBook.restore`).
A marker with an end falls due in the tick (`due`), which ends it through the pipeline.

>>> from hazardwatch.vocabulary.model import Kind
>>> book = MuteBook([Kind.LEVEL, Kind.GAS_TOXIC])
>>> book.apply([MarkerChange(Marker(MuteKind.SUPPRESSED, "TK1", "", "wang", 0.0), True, 0.0)])
>>> book.suppressed("TK1", 0), book.suppressed("TK1", 1)
(True, False)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from alerting.action import MuteExpired
from alerting.alarm import Alarm, AlarmEvent
from hazardwatch.vocabulary.model import Condition, Kind

MarkerKey = tuple[str, str, str]
"""(kind, target, condition label): target is a tag (shelved, out of service) or a unit id
(suppressed); the condition is empty except for a shelve."""

# Maintenance mode suppresses these kinds' alarms; gas alarms are never suppressed.
SUPPRESSIBLE: frozenset[Kind] = frozenset({Kind.LEVEL, Kind.TEMPERATURE, Kind.PRESSURE})


class MuteKind(StrEnum):
    """Why an alarm's transitions are held back, strongest first in `MuteBook.mutes`."""

    OUT_OF_SERVICE = "out_of_service"
    SUPPRESSED = "suppressed"
    SHELVED = "shelved"


@dataclass(frozen=True, slots=True)
class Marker:
    """One mute in force: what it names, who set it, since when, until when, why."""

    kind: MuteKind
    target: str
    condition: str
    who: str
    since_ts: float
    until_ts: float | None = None
    why: str | None = None
    where: str | None = None

    @property
    def key(self) -> MarkerKey:
        return (self.kind.value, self.target, self.condition)

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind.value,
            "target": self.target,
            "condition": self.condition or None,
            "who": self.who,
            "since_ts": self.since_ts,
            "until_ts": self.until_ts,
            "why": self.why,
            "where": self.where,
        }


@dataclass(frozen=True, slots=True)
class MarkerChange:
    """A marker set (`on`) or ended at `ts`; `who`, `why`, `where` of whoever ended it
    (None: its time was up)."""

    marker: Marker
    on: bool
    ts: float
    who: str | None = None
    why: str | None = None
    where: str | None = None


def shelve_key(tag: str, condition: Condition) -> MarkerKey:
    return (MuteKind.SHELVED.value, tag, condition.label)


def maintenance_key(unit: str) -> MarkerKey:
    return (MuteKind.SUPPRESSED.value, unit, "")


def out_of_service_key(tag: str) -> MarkerKey:
    return (MuteKind.OUT_OF_SERVICE.value, tag, "")


class MuteBook:
    """The markers in force; `kinds` is the sensor kind per sensor index."""

    def __init__(self, kinds: Sequence[Kind], markers: Iterable[Marker] = ()) -> None:
        self._kinds = list(kinds)
        self._markers: dict[MarkerKey, Marker] = {m.key: m for m in markers}

    def copy(self) -> MuteBook:
        return MuteBook(self._kinds, self._markers.values())

    def apply(self, changes: Iterable[MarkerChange]) -> None:
        """Make journalled marker changes current."""
        for c in changes:
            if c.on:
                self._markers[c.marker.key] = c.marker
            else:
                self._markers.pop(c.marker.key, None)

    def get(self, key: MarkerKey) -> Marker | None:
        return self._markers.get(key)

    def markers(self, kind: MuteKind | None = None) -> list[Marker]:
        """Markers in force (of one kind), oldest first."""
        found = [m for m in self._markers.values() if kind is None or m.kind is kind]
        return sorted(found, key=lambda m: (m.since_ts, m.key))

    def suppressed(self, unit: str, sensor: int) -> bool:
        """Is sensor `sensor` (on unit `unit`) suppressed by its unit's maintenance mode?"""
        if not 0 <= sensor < len(self._kinds) or self._kinds[sensor] not in SUPPRESSIBLE:
            return False
        return maintenance_key(unit) in self._markers

    def mutes(self, alarm: Alarm, now: float) -> MuteKind | None:
        """Why `alarm`'s transitions are held back at `now`, None if they are not.

        A marker counts until the tick ends it (not at its `until_ts` itself), so live and
        replay agree on which transitions were muted."""
        if out_of_service_key(alarm.tag) in self._markers:
            return MuteKind.OUT_OF_SERVICE
        if self.suppressed(alarm.unit, alarm.sensor):
            return MuteKind.SUPPRESSED
        if shelve_key(alarm.tag, alarm.condition) in self._markers:
            return MuteKind.SHELVED
        return None

    # ------------------------------------------------------------------ the timer

    def due(self, now: float) -> list[MuteExpired]:
        """The markers whose end is at or before `now`, as actions for the pipeline."""
        return [
            MuteExpired(m.key, m.until_ts)
            for m in self.markers()
            if m.until_ts is not None and m.until_ts <= now
        ]

    def next_due(self) -> float | None:
        """The earliest end of a marker in force (None: none has an end)."""
        ends = [m.until_ts for m in self._markers.values() if m.until_ts is not None]
        return min(ends, default=None)


def mark(events: Iterable[AlarmEvent], book: MuteBook, now: float) -> list[AlarmEvent]:
    """`events` with each alarm's `muted` set to what mutes it in `book` (None: nothing)."""
    out = []
    for e in events:
        reason = book.mutes(e.alarm, now)
        muted = None if reason is None else reason.value
        out.append(e if e.alarm.muted == muted else replace(e, alarm=replace(e.alarm, muted=muted)))
    return out
