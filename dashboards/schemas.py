"""The shapes of API v1: request bodies, filter enums and the responses that are ours.

Alarms and alarm events are passed through as the alerting package's `to_dict()`, so a
field it adds appears in the API without a change here.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import Path
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

MAX_ID = 2**63 - 1  # SQLite's largest INTEGER: a larger id cannot name a row
AlarmId = Annotated[int, Path(ge=1, le=MAX_ID, description="Alarm id")]
TransferId = Annotated[int, Path(ge=1, le=MAX_ID, description="Transfer id")]


class PriorityName(StrEnum):
    """Alarm priority as the API spells it (a filter value and a field of every alarm)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class AckRequest(BaseModel):
    """Body of `POST /api/alarms/{id}/ack`."""

    model_config = ConfigDict(extra="forbid")

    who: Annotated[
        str | None,
        StringConstraints(strip_whitespace=True, max_length=64),
        Field(
            description="Ignored (kept for older clients): the journal names the logged-in user",
            deprecated=True,
        ),
    ] = None
    comment: Annotated[
        str | None,
        StringConstraints(strip_whitespace=True, max_length=500),
        Field(description="Optional remark, kept in the journal"),
    ] = None


class LimitsOut(BaseModel):
    """Alarm set points in the sensor's unit; null where not configured."""

    hh: float | None
    h: float | None
    l: float | None  # noqa: E741 - the plant's name for the low limit
    ll: float | None


class RangeOut(BaseModel):
    lo: float
    hi: float


class SensorOut(BaseModel):
    """One sensor with its place in the site and its latest reading."""

    tag: str
    kind: str
    unit: str = Field(description="Engineering unit, e.g. m, degC, kPa, %LEL, ppm")
    enterprise: str
    hazard_source: str
    unit_id: str = Field(description="The tank (plant unit) the sensor belongs to")
    limits: LimitsOut
    range: RangeOut
    value: float | None = Field(description="Latest value; null if never reported")
    ts: float | None = Field(description="Epoch seconds of the latest value")
    conditions: list[str] = Field(description="Active condition labels, e.g. hh, gas1")


class SensorsOut(BaseModel):
    sensors: list[SensorOut]


class ReadingOut(BaseModel):
    ts: float
    value: float | None
    quality: str


class ReadingsOut(BaseModel):
    tag: str
    unit: str
    readings: list[ReadingOut]


class ResponsibleOut(BaseModel):
    """The three responsible people (包保责任制)."""

    main: str
    technical: str
    operation: str


class OpenCounts(BaseModel):
    """Open alarms (not back to normal) of a hazard source by priority."""

    high: int = 0
    medium: int = 0
    low: int = 0
    total: int = 0
    unacked: int = 0


class HazardSourceOut(BaseModel):
    id: str
    name: str
    enterprise: str
    enterprise_name: str
    grade: int = Field(description="GB 18218 grade, 1 (highest) to 4")
    responsible: ResponsibleOut
    colour: str = Field(description="Risk colour: red, orange, yellow or blue")
    open: OpenCounts


class HazardSourcesOut(BaseModel):
    hazard_sources: list[HazardSourceOut]


class EnterpriseOut(BaseModel):
    id: str
    name: str
    hazard_sources: list[str]


class SiteOut(BaseModel):
    """What the control-room page needs to label everything."""

    park: str
    version: str
    enterprises: list[EnterpriseOut]
    sensors: int


class HealthOut(BaseModel):
    """Body of GET /api/health: the status, why it is not ok, and the service's counters."""

    model_config = ConfigDict(extra="allow")

    status: str = Field(description="ok | degraded")
    reasons: list[str] = Field(default=[], description="Why it is degraded; empty when ok")


class ErrorOut(BaseModel):
    """Body of a 404 or 409 answer."""

    detail: str


class FieldError(BaseModel):
    """One problem of a request, in FastAPI's shape; `input` is cut when it is long."""

    loc: list[str | int]
    msg: str
    type: str
    input: Any = None
    ctx: dict[str, Any] | None = None


class InvalidOut(BaseModel):
    """Body of a 422: the request's problems field by field, or why the site refuses it."""

    detail: list[FieldError] | str


class ConditionOut(BaseModel):
    """One row of the condition table (hazardwatch.vocabulary.model.CONDITIONS) as this park ranks
    it.
    """

    condition: str
    bit: int
    category: str = Field(description="process | early_warning | instrument | communication")
    priority: PriorityName
    zh: str
    en: str
    gas_rank: dict[str, int] = Field(
        default_factory=dict,
        description="The gas rule's rank on a sensor of each kind (larger first, after "
        "priority; alerting.precedence); kinds not listed rank 0",
    )


class ConditionsOut(BaseModel):
    conditions: list[ConditionOut]


def invalid(msg: str, *loc: str, value: object = None) -> RequestValidationError:
    """A 422 in FastAPI's own shape (the schema every route documents), for checks the
    models cannot make; `loc` as FastAPI gives it, e.g. ("query", "until").

    >>> invalid("until is before since", "query", "until").errors()[0]["loc"]
    ('query', 'until')
    """
    error: dict[str, object] = {"type": "value_error", "loc": loc, "msg": msg}
    if value is not None:
        error["input"] = value
    return RequestValidationError([error])
