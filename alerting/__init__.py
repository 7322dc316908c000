"""Alarm management: ISA-18.2 lifecycle, the alarm journal, priorities and risk colours.

Condition changes from the detectors go into `AlarmManager.apply`, which journals every
transition (and every risk-colour change it causes) before returning the events to push.
"""

from alerting.alarm import Alarm, AlarmEvent
from alerting.journal import Journal, JournalError
from alerting.lifecycle import (
    ACTIVE_STATES,
    TRANSITIONS,
    AlertingError,
    Event,
    InvalidTransition,
    transition,
)
from alerting.manager import AlarmManager, AlarmNotFound, InvalidAcknowledgement
from alerting.priority import DEFAULT_PRIORITY, ColourChange, Priority, risk_colour

__all__ = [
    "ACTIVE_STATES",
    "DEFAULT_PRIORITY",
    "TRANSITIONS",
    "Alarm",
    "AlarmEvent",
    "AlarmManager",
    "AlarmNotFound",
    "AlertingError",
    "ColourChange",
    "Event",
    "InvalidAcknowledgement",
    "InvalidTransition",
    "Journal",
    "JournalError",
    "Priority",
    "risk_colour",
    "transition",
]
