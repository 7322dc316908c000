"""HazardWatch: the site model, config, storage, and (on top) the service wiring and CLI.

Only the vocabulary is imported here; `hazardwatch.shell.service` and `hazardwatch.shell.cli` sit on
top of every other package and are imported by name.
"""

from hazardwatch.vocabulary.clock import Clock, FakeClock, SystemClock
from hazardwatch.vocabulary.model import (
    CONDITIONS,
    FLAG_TS_FROM_RECEIPT,
    AlarmState,
    Batch,
    Category,
    Condition,
    ConditionChange,
    ConditionInfo,
    Enterprise,
    HazardSource,
    HazardWatchError,
    Kind,
    Limits,
    Quality,
    Responsible,
    RiskColour,
    Sensor,
    SensorTable,
    Severity,
    Site,
    Unit,
)

__all__ = [
    "CONDITIONS",
    "FLAG_TS_FROM_RECEIPT",
    "AlarmState",
    "Batch",
    "Category",
    "Clock",
    "Condition",
    "ConditionChange",
    "ConditionInfo",
    "Enterprise",
    "FakeClock",
    "HazardSource",
    "HazardWatchError",
    "Kind",
    "Limits",
    "Quality",
    "Responsible",
    "RiskColour",
    "Sensor",
    "SensorTable",
    "Severity",
    "Site",
    "SystemClock",
    "Unit",
]
