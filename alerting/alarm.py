"""The alarm record: one occurrence of a condition on a sensor, and each journalled transition."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from alerting.disposal import Disposal
from alerting.lifecycle import OPEN_STATES, Event
from alerting.priority import Priority
from hazardwatch.vocabulary.model import AlarmState, Condition


def _json_float(x: float | None) -> float | None:
    # NaN (communication loss has no value) and infinities are not JSON.
    return x if x is not None and math.isfinite(x) else None


@dataclass(frozen=True, slots=True)
class Alarm:
    """One alarm occurrence; a snapshot (the manager replaces it on every transition).

    `id` is per occurrence: an alarm that returned to NORMAL and activates again gets a new id.
    Timestamps are epoch seconds; `value` is the latest value the detector reported for it.
    `changed_ts` is the time of the last state change (an UPDATE does not move it);
    `eta_ts` is, for PREDICT_* alarms while active, when the trend reaches the limit.
    `muted` is why its transitions are held back from notifiers (alerting.mute: shelved,
    suppressed, out_of_service), None if they are not; `disposal` its disposal record,
    `closed_ts`/`closed_by` its closing (the closed loop); `camera_url` its tank's camera.
    `first_out` is set on listings only (the first alarm of its hazard source still open).
    """

    id: int
    sensor: int
    tag: str
    condition: Condition
    priority: Priority
    state: AlarmState
    enterprise: str
    hazard_source: str
    unit: str
    value: float
    raised_ts: float
    changed_ts: float
    cleared_ts: float | None = None
    acked_ts: float | None = None
    acked_by: str | None = None
    ack_comment: str | None = None
    eta_ts: float | None = None
    muted: str | None = None
    disposal: Disposal | None = None
    closed_ts: float | None = None
    closed_by: str | None = None
    camera_url: str | None = None
    first_out: bool = field(default=False, compare=False)

    @property
    def category(self) -> str:
        """How the control room shows it (hazardwatch.vocabulary.model.Category): `process` (报警),
        `early_warning` (预警, before a limit), `instrument` or `communication`."""
        return self.condition.category.value

    @property
    def is_open(self) -> bool:
        """Not yet back to NORMAL: it still counts for the risk colour."""
        return self.state in OPEN_STATES

    @property
    def is_closed(self) -> bool:
        """Disposed of and closed: the closed loop is done."""
        return self.closed_ts is not None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: enums as their lowercase labels, NaN and infinities as None."""
        return {
            "id": self.id,
            "sensor": self.sensor,
            "tag": self.tag,
            "condition": self.condition.label,
            "category": self.category,
            "priority": self.priority.label,
            "state": self.state.value,
            "enterprise": self.enterprise,
            "hazard_source": self.hazard_source,
            "unit": self.unit,
            "value": _json_float(self.value),
            "raised_ts": _json_float(self.raised_ts),
            "changed_ts": _json_float(self.changed_ts),
            "cleared_ts": _json_float(self.cleared_ts),
            "acked_ts": _json_float(self.acked_ts),
            "acked_by": self.acked_by,
            "ack_comment": self.ack_comment,
            "eta_ts": _json_float(self.eta_ts),
            "muted": self.muted,
            "disposal": None if self.disposal is None else self.disposal.to_dict(),
            "closed_ts": _json_float(self.closed_ts),
            "closed_by": self.closed_by,
            "camera_url": self.camera_url,
            "first_out": self.first_out,
        }


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    """One journalled transition (or UPDATE, with `from_state == to_state`): what the live
    channel pushes.

    `alarm` is the snapshot after the transition; `seq` is the journal's sequence number.
    `who`, `where` and `why` name the person who acted, from which client address and for
    what reason (None for the detector's and the timers' events).
    """

    seq: int
    alarm: Alarm
    event: Event
    from_state: AlarmState
    to_state: AlarmState
    ts: float
    who: str | None = None
    where: str | None = None
    why: str | None = None

    @property
    def muted(self) -> bool:
        """Held back from notifiers that page people (journalled all the same)."""
        return self.alarm.muted is not None

    def to_dict(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "event": self.event.value,
            "from_state": self.from_state.value,
            "to_state": self.to_state.value,
            "ts": _json_float(self.ts),
            "who": self.who,
            "where": self.where,
            "why": self.why,
            "muted": self.muted,
            "alarm": self.alarm.to_dict(),
        }
