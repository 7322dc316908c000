"""HazardWatch: the site model, config, storage, and (on top) the service wiring and CLI.

Only the vocabulary is imported here; `hazardwatch.service` and `hazardwatch.cli` sit on
top of every other package and are imported by name.
"""

from hazardwatch.clock import Clock, FakeClock, SystemClock
from hazardwatch.model import (
    CONDITION_SEVERITY,
    FLAG_TS_FROM_RECEIPT,
    AlarmState,
    Batch,
    Condition,
    ConditionChange,
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
    "CONDITION_SEVERITY",
    "FLAG_TS_FROM_RECEIPT",
    "AlarmState",
    "Batch",
    "Clock",
    "Condition",
    "ConditionChange",
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
