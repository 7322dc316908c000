"""What can be done to alarms: the inputs of the alarm pipeline.

A detector's `ConditionChange` (hazardwatch.vocabulary.model) raises, updates or clears an alarm; an
operator's action names the alarm by id (or, for an engineer's, the unit or instrument);
a timer of the tick ends the mutes whose time is up. Every one of them enters through the
same door, `Pipeline.run`. An action is a row here, its rows in the lifecycle table and a
branch of the manager, nothing more.

Every person's action carries `who` (required, not blank), `where` (the client's address,
None when unknown) and `why` (a reason or comment); the journal keeps them on its rows.

>>> Acknowledge(7, "li", "inlet valve closed").alarm_id
7
>>> Shelve(7, "li", 3600.0, why="chattering while the pump is tested").duration_s
3600.0
"""

from __future__ import annotations

from dataclasses import dataclass

from alerting.disposal import Cause
from hazardwatch.vocabulary.model import ConditionChange


@dataclass(frozen=True, slots=True)
class Acknowledge:
    """A person acknowledges alarm `alarm_id` (silences it; it does not reset a latch)."""

    alarm_id: int
    who: str
    comment: str | None = None
    where: str | None = None


@dataclass(frozen=True, slots=True)
class Shelve:
    """A person shelves alarm `alarm_id`'s sensor and condition for `duration_s` (at most
    the policy's maximum): its transitions are journalled but held back from notifiers."""

    alarm_id: int
    who: str
    duration_s: float
    why: str | None = None
    where: str | None = None


@dataclass(frozen=True, slots=True)
class Unshelve:
    """A person ends the shelve of alarm `alarm_id` before its time."""

    alarm_id: int
    who: str
    why: str | None = None
    where: str | None = None


@dataclass(frozen=True, slots=True)
class Reset:
    """A person resets a latched alarm whose condition has returned."""

    alarm_id: int
    who: str
    why: str | None = None
    where: str | None = None


@dataclass(frozen=True, slots=True)
class Maintenance:
    """An engineer puts unit `unit` in maintenance mode (`on`) or takes it out: its level,
    temperature and pressure alarms are suppressed by design meanwhile, never its gas."""

    unit: str
    on: bool
    who: str
    why: str | None = None
    where: str | None = None


@dataclass(frozen=True, slots=True)
class OutOfService:
    """An engineer takes the instrument `tag` out of service (`on`, until `until_ts` if
    given, epoch seconds) or puts it back."""

    tag: str
    on: bool
    who: str
    why: str | None = None
    until_ts: float | None = None
    where: str | None = None


@dataclass(frozen=True, slots=True)
class Dispose:
    """A person records the disposal of alarm `alarm_id`: why it happened (`cause`) and
    what was done (`action`), with an optional link (a camera snapshot)."""

    alarm_id: int
    who: str
    cause: Cause
    action: str
    attachment_url: str | None = None
    where: str | None = None


@dataclass(frozen=True, slots=True)
class Close:
    """A person closes alarm `alarm_id` (back to normal and disposed of)."""

    alarm_id: int
    who: str
    why: str | None = None
    where: str | None = None


@dataclass(frozen=True, slots=True)
class MuteExpired:
    """The tick: the mute marker `key` (alerting.mute.MarkerKey) reached its end."""

    key: tuple[str, str, str]
    until_ts: float


OperatorAction = Acknowledge | Shelve | Unshelve | Reset | Dispose | Close
"""An action a person takes on one alarm, named by its id."""

Action = ConditionChange | OperatorAction | Maintenance | OutOfService | MuteExpired
"""Anything the pipeline takes in."""
