"""Alarm priority: which priority a condition gets, and which risk colour a priority paints.

>>> DEFAULT_PRIORITY[Condition.HH].label
'high'
>>> risk_colour(Priority.MEDIUM).value, risk_colour(None).value
('orange', 'blue')
"""

from __future__ import annotations

import math
from enum import IntEnum
from typing import NamedTuple

from hazardwatch.vocabulary.model import Condition, RiskColour


class Priority(IntEnum):
    """ISA-18.2 alarm priority; a larger number is more urgent."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Priority:
        return cls[text.upper()]


# A default only: the site may override it per condition (AlarmManager's `priorities`).
DEFAULT_PRIORITY: dict[Condition, Priority] = {c: Priority(int(c.severity)) for c in Condition}

_COLOUR: dict[Priority, RiskColour] = {
    Priority.HIGH: RiskColour.RED,
    Priority.MEDIUM: RiskColour.ORANGE,
    Priority.LOW: RiskColour.YELLOW,
}


def risk_colour(worst: Priority | None) -> RiskColour:
    """Colour of a hazard source whose worst open alarm has priority `worst` (None: no alarm)."""
    return RiskColour.BLUE if worst is None else _COLOUR[worst]


class ColourChange(NamedTuple):
    """The risk colour of one hazard source changed at `ts` (epoch seconds)."""

    hazard_source: str
    old: RiskColour
    new: RiskColour
    ts: float

    def to_dict(self) -> dict[str, object]:
        return {
            "hazard_source": self.hazard_source,
            "old": self.old.value,
            "new": self.new.value,
            "ts": self.ts if math.isfinite(self.ts) else None,
        }
