"""What can be done to alarms: the inputs of the alarm pipeline.

A detector's `ConditionChange` (hazardwatch.model) raises, updates or clears an alarm; an
operator's action names the alarm by id. Every one of them enters through the same door,
`Pipeline.run`, whether it comes from the detector, the API or a timer of the tick.
An operator action is a row here and a branch of the lifecycle stage, nothing more.

>>> Acknowledge(7, "li", "inlet valve closed").alarm_id
7
"""

from __future__ import annotations

from dataclasses import dataclass

from hazardwatch.model import ConditionChange


@dataclass(frozen=True, slots=True)
class Acknowledge:
    """A person acknowledges alarm `alarm_id`; `who` names them (required, not blank)."""

    alarm_id: int
    who: str
    comment: str | None = None


Action = ConditionChange | Acknowledge
"""Anything the pipeline takes in (shelve, reset and dispose join this union later)."""
