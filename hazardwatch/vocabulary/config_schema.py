"""The raw YAML schema of the site config: pydantic models, strict, one per level."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from hazardwatch.vocabulary.defaults import SPAN_PAIRS
from hazardwatch.vocabulary.model import Kind
from hazardwatch.vocabulary.notify_rules import RawNotifications

KINDS: tuple[str, ...] = tuple(k.label for k in Kind)

# ------------------------------------------------------------------ raw YAML schema


class _Strict(BaseModel):
    # strict: YAML already gives typed scalars, so "yes" for a number is a mistake to report.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


_Text = Annotated[str, Field(min_length=1)]
_NonNeg = Annotated[float, Field(ge=0)]
_Pos = Annotated[float, Field(gt=0)]
_KindName = Literal[
    "temperature", "level", "pressure", "flow", "gas_combustible", "gas_toxic", "generic"
]


class RawPark(_Strict):
    name: _Text
    root_topic: str = "hw"


def _off_is_none(value: Any) -> Any:
    # YAML 1.1 reads a bare `off` as false: both mean "this check off".
    return None if value == "off" or value is False else value


def _not_off(value: Any) -> Any:
    if value is None or value == "off" or value is False:
        raise PydanticCustomError(
            "cannot_switch_off", "this setting cannot be switched off; give a number"
        )
    return value


# A check's setting that `null` or `off` switches off, and one that must stay a number.
_Switch = Annotated[Annotated[float, Field(gt=0)] | None, BeforeValidator(_off_is_none)]
_Window = Annotated[float, Field(gt=0), BeforeValidator(_not_off)]


class RawTrend(_Strict):
    """Early-warning and signal-fault settings; a field left out keeps its default."""

    rate_limit_per_min: _Switch = None
    rate_limit_pct_per_min: _Switch = None
    rate_window_s: _Window = 300.0
    horizon_s: _Switch = None
    drift_h_sigma: _Switch = None
    drift_k_sigma: Annotated[float, Field(ge=0), BeforeValidator(_not_off)] = 0.5
    baseline_warmup_n: Annotated[int, Field(ge=1), BeforeValidator(_not_off)] = 100
    baseline_alpha: Annotated[float, Field(gt=0, le=1), BeforeValidator(_not_off)] = 0.001
    stuck_window_s: _Switch = None
    resolution: Annotated[float, Field(ge=0), BeforeValidator(_not_off)] = 0.0
    resolution_pct: Annotated[float, Field(ge=0, le=100), BeforeValidator(_not_off)] = 0.1
    spike_rate_per_s: _Switch = None
    spike_rate_pct_per_s: _Switch = None
    noise_ratio: Annotated[float | None, Field(gt=1), BeforeValidator(_off_is_none)] = None
    drift_off_delay_s: Annotated[float, Field(ge=0), BeforeValidator(_not_off)] = 300.0

    @model_validator(mode="after")
    def _one_form_each(self) -> RawTrend:
        for absolute, pct in SPAN_PAIRS.items():
            if {absolute, pct} <= self.model_fields_set:
                raise PydanticCustomError(
                    "both_forms",
                    f"give {absolute} (absolute) or {pct} (of span), not both",
                )
        return self

    def given(self) -> dict[str, Any]:
        """The settings written in the file, None for those switched off."""
        return {name: getattr(self, name) for name in self.model_fields_set}


SWITCHABLE = frozenset(
    name
    for name, f in RawTrend.model_fields.items()
    if any(getattr(m, "func", None) is _off_is_none for m in f.metadata)
)


class RawKindDefaults(_Strict):
    deadband_pct: _NonNeg | None = None
    on_delay_s: _NonNeg | None = None
    off_delay_s: _NonNeg | None = None
    period_s: _Pos | None = None
    stale_periods: _Pos | None = None
    latch: bool | None = None
    trend: RawTrend | None = None


class RawDefaults(_Strict):
    all: RawKindDefaults | None = None
    temperature: RawKindDefaults | None = None
    level: RawKindDefaults | None = None
    pressure: RawKindDefaults | None = None
    flow: RawKindDefaults | None = None
    gas_combustible: RawKindDefaults | None = None
    gas_toxic: RawKindDefaults | None = None
    generic: RawKindDefaults | None = None


class RawLimits(_Strict):
    hh: float | None = None
    h: float | None = None
    l: float | None = None  # noqa: E741 - the plant's name for the low limit
    ll: float | None = None
    level1: float | None = None
    level2: float | None = None


class RawSensor(_Strict):
    tag: _Text
    kind: _KindName
    unit: _Text
    range: list[float] = Field(min_length=2, max_length=2)
    limits: RawLimits = RawLimits()
    deadband: _NonNeg | None = None
    deadband_pct: _NonNeg | None = None
    on_delay_s: _NonNeg | None = None
    off_delay_s: _NonNeg | None = None
    period_s: _Pos | None = None
    stale_periods: _Pos | None = None
    latch: bool | None = None
    substance: _Text | None = None
    range_cannot_reach_oel: bool = False
    trend: RawTrend | None = None
    area: _Text | None = None  # gas detectors: the voting area, defined under areas:


class RawCooling(_Strict):
    """A unit's cooling (water spray, refrigeration): see hazardwatch.vocabulary.model.Cooling."""

    status: _Text  # tag of the unit's sensor that shows the cooling runs
    start_above: Annotated[float, Field(allow_inf_nan=False)]
    running_above: Annotated[float, Field(allow_inf_nan=False)] = 0.5
    delay_s: _NonNeg = 120.0


class RawBalance(_Strict):
    """A tank's flow meters for MASS_BALANCE: see hazardwatch.vocabulary.model.Balance (None: its
    default)."""

    inflow: list[_Text] = []
    outflow: list[_Text] = []
    transfer: list[_Text] = []  # a line that both fills and empties; the meter reads |flow|
    window_s: _Pos | None = None
    flow_error_pct: _NonNeg | None = None
    level_error_m: _NonNeg | None = None
    delay_s: _NonNeg | None = None


class RawVapourCheck(_Strict):
    """VAPOUR_PRESSURE settings of a pressurised unit: see
    hazardwatch.vocabulary.model.VapourCheck.
    """

    enabled: bool | None = None
    tolerance_kpa: _NonNeg | None = None
    tolerance_pct: _NonNeg | None = None
    delay_s: _NonNeg | None = None


class RawUnit(_Strict):
    id: _Text
    type: _Text = "tank"
    substance: _Text
    capacity_m3: _Pos
    pressurised: bool = False
    gateway: str | None = None
    camera_url: str | None = None
    max_fill_rate_m_per_h: _Pos | None = None  # rated fill rate: the level's rate limit
    cooling: RawCooling | None = None
    balance: RawBalance | None = None
    vapour_check: RawVapourCheck | None = None
    sensors: list[RawSensor] = []


class RawResponsible(_Strict):
    main: _Text
    technical: _Text
    operation: _Text


class RawHazardSource(_Strict):
    id: _Text
    name: _Text
    grade: int
    responsible: RawResponsible
    units: list[RawUnit] = []


class RawEnterprise(_Strict):
    id: _Text
    name: _Text
    gateway: str = "gw1"
    hazard_sources: list[RawHazardSource] = []


class RawArea(_Strict):
    k: Annotated[int, Field(ge=1)] = 2  # GB 16808-2025: two or more detectors confirm


class RawThingsBoardGateway(_Strict):
    token: _Text  # its access token: the MQTT user name it connects with
    name: _Text | None = None
    devices: dict[str, dict[str, _Text]] = {}  # device -> telemetry key -> tag
    own: dict[str, _Text] = {}  # its own telemetry key -> tag


class RawThingsBoard(_Strict):
    mount_root: _Text | None = None  # a broker mounting gateways under <root>/<token>/
    gateways: list[RawThingsBoardGateway] = Field(min_length=1)


class RawSparkplugNode(_Strict):
    group: _Text
    node: _Text
    metrics: dict[str, _Text] = {}  # the node's own metric -> tag
    devices: dict[str, dict[str, _Text]] = {}  # device -> metric -> tag


class RawSparkplug(_Strict):
    rebirth_every_s: _Pos = 10.0
    nodes: list[RawSparkplugNode] = Field(min_length=1)


class RawInputs(_Strict):
    """Which inputs are on (hazardwatch.vocabulary.inputs); wire format v1 alone by default."""

    wire_v1: bool = True
    thingsboard: RawThingsBoard | None = None
    sparkplug: RawSparkplug | None = None


class RawDeadlines(_Strict):
    """Hours an alarm of each priority may stay unclosed before it is overdue."""

    high: _Pos = 24.0
    medium: _Pos = 72.0
    low: _Pos = 72.0


class RawAlarms(_Strict):
    shelve_max_h: _Pos = 8.0  # the longest shelve an operator may set
    disposal_deadline_h: RawDeadlines = RawDeadlines()


class RawSite(_Strict):
    park: RawPark
    defaults: RawDefaults = RawDefaults()
    areas: dict[str, RawArea] = {}
    enterprises: list[RawEnterprise] = Field(min_length=1)
    inputs: RawInputs = RawInputs()
    alarms: RawAlarms = RawAlarms()
    notifications: RawNotifications = RawNotifications()
