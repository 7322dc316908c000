"""Alarm management: ISA-18.2 lifecycle, the alarm journal, priorities and risk colours.

Every action on alarms (a detector's condition change, an operator's acknowledgement, a
timer of the tick) goes through one door, `Pipeline.run` (built by `build_pipeline`):
the lifecycle makes transitions (one table, alerting.lifecycle), the mutes mark them
(shelved, suppressed, out of service), the journal commits them with the risk-colour
changes and marker changes they cause, then the notifiers are told. `Tick` runs the
timers, live and in replay alike.
"""

from alerting.action import (
    Acknowledge,
    Action,
    Close,
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
from alerting.channels import AppriseSink, SendError, Sink, Webhook, build_channels
from alerting.chatter import Chattering
from alerting.disposal import (
    AlarmPolicy,
    AlreadyClosed,
    Cause,
    Disposal,
    DisposalRequired,
)
from alerting.escalation import Escalation
from alerting.flood import FloodWatch
from alerting.journal import Journal, JournalError
from alerting.lifecycle import (
    ACTIVE_STATES,
    LATCHED_STATES,
    LATCHING,
    OPEN_STATES,
    TRANSITIONS,
    AlertingError,
    Effect,
    Event,
    InvalidTransition,
    Row,
    transition,
)
from alerting.manager import AlarmManager, Committed
from alerting.mute import Marker, MarkerChange, MuteBook, MuteKind
from alerting.notifier import Notifications
from alerting.pipeline import (
    Context,
    JournalStage,
    LifecycleStage,
    MuteStage,
    Notifier,
    NotifyStage,
    Pipeline,
    Stage,
    build_pipeline,
)
from alerting.plan import (
    LATCHING_CONDITIONS,
    AlarmNotFound,
    InvalidAcknowledgement,
    InvalidAction,
    NotMuted,
    Planned,
    UnknownTarget,
)
from alerting.precedence import gas_rank
from alerting.priority import DEFAULT_PRIORITY, ColourChange, Priority, risk_colour
from alerting.report import Report, SensorPlace, Targets, flood_time, report
from alerting.routes import Routes
from alerting.sender import Sender
from alerting.tick import Tick, Timer

__all__ = [
    "ACTIVE_STATES",
    "DEFAULT_PRIORITY",
    "LATCHED_STATES",
    "LATCHING",
    "LATCHING_CONDITIONS",
    "OPEN_STATES",
    "TRANSITIONS",
    "Acknowledge",
    "Action",
    "Alarm",
    "AlarmEvent",
    "AlarmManager",
    "AlarmNotFound",
    "AlarmPolicy",
    "AlertingError",
    "AlreadyClosed",
    "AppriseSink",
    "Cause",
    "Chattering",
    "Close",
    "ColourChange",
    "Committed",
    "Context",
    "Disposal",
    "DisposalRequired",
    "Dispose",
    "Effect",
    "Escalation",
    "Event",
    "FloodWatch",
    "InvalidAcknowledgement",
    "InvalidAction",
    "InvalidTransition",
    "Journal",
    "JournalError",
    "JournalStage",
    "LifecycleStage",
    "Maintenance",
    "Marker",
    "MarkerChange",
    "MuteBook",
    "MuteExpired",
    "MuteKind",
    "MuteStage",
    "NotMuted",
    "Notifications",
    "Notifier",
    "NotifyStage",
    "OperatorAction",
    "OutOfService",
    "Pipeline",
    "Planned",
    "Priority",
    "Report",
    "Reset",
    "Routes",
    "Row",
    "SendError",
    "Sender",
    "SensorPlace",
    "Shelve",
    "Sink",
    "Stage",
    "Targets",
    "Tick",
    "Timer",
    "UnknownTarget",
    "Unshelve",
    "Webhook",
    "build_channels",
    "build_pipeline",
    "flood_time",
    "gas_rank",
    "report",
    "risk_colour",
    "transition",
]
