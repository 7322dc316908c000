"""Alarm management: ISA-18.2 lifecycle, the alarm journal, priorities and risk colours.

Every action on alarms (a detector's condition change, an operator's acknowledgement, a
timer of the tick) goes through one door, `Pipeline.run` (built by `build_pipeline`):
the lifecycle makes transitions, the journal commits them with the risk-colour changes
they cause, then the notifiers are told. `Tick` runs the timers, live and in replay alike.
"""

from alerting.action import Acknowledge, Action
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
from alerting.manager import AlarmManager, AlarmNotFound, Committed, InvalidAcknowledgement
from alerting.pipeline import (
    Context,
    JournalStage,
    LifecycleStage,
    Notifier,
    NotifyStage,
    Pipeline,
    Stage,
    build_pipeline,
)
from alerting.priority import DEFAULT_PRIORITY, ColourChange, Priority, risk_colour
from alerting.tick import Tick, Timer

__all__ = [
    "ACTIVE_STATES",
    "DEFAULT_PRIORITY",
    "TRANSITIONS",
    "Acknowledge",
    "Action",
    "Alarm",
    "AlarmEvent",
    "AlarmManager",
    "AlarmNotFound",
    "AlertingError",
    "ColourChange",
    "Committed",
    "Context",
    "Event",
    "InvalidAcknowledgement",
    "InvalidTransition",
    "Journal",
    "JournalError",
    "JournalStage",
    "LifecycleStage",
    "Notifier",
    "NotifyStage",
    "Pipeline",
    "Priority",
    "Stage",
    "Tick",
    "Timer",
    "build_pipeline",
    "risk_colour",
    "transition",
]
