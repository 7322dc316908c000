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

from hazardwatch.model import Condition, RiskColour


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
DEFAULT_PRIORITY: dict[Condition, Priority] = {
    Condition.HH: Priority.HIGH,
    Condition.LL: Priority.HIGH,
    Condition.GAS2: Priority.HIGH,
    Condition.H: Priority.MEDIUM,
    Condition.L: Priority.MEDIUM,
    Condition.GAS1: Priority.MEDIUM,
    Condition.COMM_LOSS: Priority.MEDIUM,
    Condition.OUT_OF_RANGE: Priority.LOW,
    Condition.BAD_QUALITY: Priority.LOW,
    # Early warnings rank with the first-level alarms they come before.
    Condition.RATE: Priority.MEDIUM,
    Condition.PREDICT_HH: Priority.MEDIUM,
    Condition.PREDICT_LL: Priority.MEDIUM,
    Condition.DRIFT: Priority.MEDIUM,
    Condition.CO_RISE: Priority.MEDIUM,
    Condition.OVERRUN: Priority.MEDIUM,
    Condition.COOLING_LOST: Priority.MEDIUM,
    # Signal faults are for maintenance, not the process.
    Condition.STUCK: Priority.LOW,
    Condition.SPIKE: Priority.LOW,
    Condition.NOISY: Priority.LOW,
    Condition.STEP: Priority.LOW,
    # Several detectors of one area agree: more certain than any one of them (GB 16808-2025).
    Condition.AREA_GAS: Priority.HIGH,
}

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
