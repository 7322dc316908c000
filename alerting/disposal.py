"""The closed loop (处置闭环): every raised alarm is disposed of, then closed.

A disposal record says why the alarm happened and what was done; an alarm cannot be closed
without one. An alarm not yet closed is overdue once it is older than its priority's
disposal deadline (`AlarmPolicy`; the national deadline was not found in a published text,
so it is configurable: 24 h for high priority, 72 h otherwise by default).

>>> policy = AlarmPolicy()
>>> policy.deadline_s(Priority.HIGH) / 3600, policy.deadline_s(Priority.LOW) / 3600
(24.0, 72.0)
>>> Cause.parse("false alarm").value
'false_alarm'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from alerting.lifecycle import AlertingError
from alerting.priority import Priority
from hazardwatch.vocabulary.model import AlarmRules

HOUR_S = 3600.0


class Cause(StrEnum):
    """The cause category of a disposal record."""

    PROCESS = "process"
    EQUIPMENT = "equipment"
    INSTRUMENT_FAULT = "instrument_fault"
    FALSE_ALARM = "false_alarm"
    MAINTENANCE = "maintenance"
    OTHER = "other"

    @classmethod
    def parse(cls, text: str) -> Cause:
        """A cause from its name, spaces or underscores alike."""
        return cls(text.strip().lower().replace(" ", "_"))


@dataclass(frozen=True, slots=True)
class Disposal:
    """The disposal record of one alarm: cause, action taken, who and when (epoch s)."""

    cause: Cause
    action: str
    by: str
    ts: float
    attachment_url: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "cause": self.cause.value,
            "action": self.action,
            "by": self.by,
            "ts": self.ts,
            "attachment_url": self.attachment_url,
        }


class DisposalRequired(AlertingError):
    """Closing an alarm that has no disposal record (the API answers 409)."""

    def __init__(self, alarm_id: int) -> None:
        self.alarm_id = alarm_id
        super().__init__(
            f"alarm {alarm_id} has no disposal record: record its cause and the action taken "
            f"(POST /api/alarms/{alarm_id}/dispose) before closing it"
        )


class AlreadyClosed(AlertingError):
    """A disposal or close of an alarm already closed (the API answers 409)."""

    def __init__(self, alarm_id: int, by: str | None) -> None:
        self.alarm_id = alarm_id
        super().__init__(f"alarm {alarm_id} is already closed (by {by})")


def _default_deadlines() -> dict[Priority, float]:
    return {Priority.HIGH: 24 * HOUR_S, Priority.MEDIUM: 72 * HOUR_S, Priority.LOW: 72 * HOUR_S}


@dataclass(frozen=True)
class AlarmPolicy:
    """The park's alarm rules: the longest shelve and the disposal deadline per priority."""

    shelve_max_s: float = 8 * HOUR_S
    disposal_deadline_s: dict[Priority, float] = field(default_factory=_default_deadlines)

    @classmethod
    def from_rules(cls, rules: AlarmRules) -> AlarmPolicy:
        """The policy of the site config's `alarms:` (hours there, seconds here)."""
        deadlines = {Priority.parse(p): h * HOUR_S for p, h in rules.disposal_deadline_h.items()}
        return cls(rules.shelve_max_h * HOUR_S, deadlines)

    def deadline_s(self, priority: Priority) -> float:
        """How long an alarm of `priority` may stay unclosed before it is overdue."""
        return self.disposal_deadline_s.get(priority, 72 * HOUR_S)
