"""What decoding produces: the rejection reasons, rejections, gateway status, the result."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hazardwatch.vocabulary.model import Batch


class Reason(StrEnum):
    """Why a message or a row was rejected; the value is also the counter label."""

    MALFORMED_JSON = "malformed_json"
    TOO_DEEP = "too_deep"  # arrays or objects nested past what a parser or a row allows
    WRONG_TYPE = "wrong_type"
    NOT_FINITE = "not_finite"
    UNKNOWN_TAG = "unknown_tag"
    WRONG_ENTERPRISE = "wrong_enterprise"
    TS_FUTURE = "ts_future"
    TS_TOO_OLD = "ts_too_old"
    BAD_TIMESTAMP = "bad_timestamp"
    BAD_QUALITY = "bad_quality"
    OVERSIZE = "oversize"
    BAD_TOPIC = "bad_topic"
    UNKNOWN_GATEWAY = "unknown_gateway"
    DUPLICATE = "duplicate"
    BAD_PLAN = "bad_plan"  # a transfer plan the site cannot take (ingest.plans)
    # the ThingsBoard and Sparkplug B inputs (ingest.thingsboard, ingest.sparkplug)
    UNKNOWN_DEVICE = "unknown_device"  # a device the site config maps to no tags
    UNKNOWN_METRIC = "unknown_metric"  # a key or metric of a known device mapped to no tag
    MALFORMED_PROTOBUF = "malformed_protobuf"
    BEFORE_BIRTH = "before_birth"  # Sparkplug data whose birth certificate never came
    INTERNAL_ERROR = "internal_error"  # a decoder bug, logged with its traceback
    # Not a rejection: a reading kept at receipt time because its ts was ahead of it by more
    # than the tolerance (FLAG_TS_AHEAD); noted in the dead letter with its original ts.
    TS_AHEAD = "ts_ahead"


# Reasons of readings that were kept, noted for the record (Decoded.noted).
NOTED = frozenset({Reason.TS_AHEAD})


@dataclass(frozen=True, slots=True)
class Rejection:
    """One rejected message (``row is None``) or one rejected row of a gateway batch.

    `payload` is the whole message for a message-level rejection (cut to the size limit
    for `oversize`) and the offending row re-serialised as JSON for a row rejection.
    """

    reason: Reason
    topic: str
    detail: str
    payload: bytes
    row: int | None = None


@dataclass(frozen=True, slots=True)
class GatewayStatus:
    """A gateway said it is online, or its broker-side last will said it went offline."""

    enterprise: str
    gateway: str
    online: bool
    ts: float  # receipt time, epoch seconds
    # the sensors it speaks for, when they are not the configured gateway's (a Sparkplug
    # node or device, a ThingsBoard device); None: `SensorTable.gateway_sensors[key]`
    sensors: Any = None

    @property
    def key(self) -> str:
        """The key of `SensorTable.gateway_sensors`."""
        return f"{self.enterprise}/{self.gateway}"


@dataclass(frozen=True, slots=True)
class Reply:
    """A message the input answers with (a ThingsBoard RPC response, a Sparkplug rebirth
    request); the session publishes it."""

    topic: str
    payload: bytes
    qos: int = 0


@dataclass(frozen=True, slots=True)
class Decoded:
    """What one message turned into."""

    batch: Batch
    rejections: list[Rejection]
    status: GatewayStatus | None = None
    plan: Any = None  # a TransferPlan or ingest.plans.PlanClosed from a `_plan` topic
    # a gateway batch's ("enterprise/gateway", its "seq"; -1 for one that is not a whole
    # number of 0 or more), None without one (ingest.sequence)
    seq: tuple[str, int] | None = None
    # readings kept but noted in the dead letter for the record (reasons in NOTED)
    noted: tuple[Rejection, ...] = ()
    replies: tuple[Reply, ...] = ()
    # what the message was when it carried nothing to keep and nothing wrong (a gateway's own
    # counters, an echo): counted by this label, never dead-lettered
    ignored: str | None = None
