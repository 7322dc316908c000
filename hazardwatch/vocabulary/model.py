"""The shared vocabulary: kinds, qualities, conditions, the site tree, batches and changes.

Every package speaks these types; none of them does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

import numpy as np

from hazardwatch.vocabulary.inputs import Inputs
from hazardwatch.vocabulary.notify_rules import NotifyRules


class HazardWatchError(Exception):
    """Root of every error HazardWatch raises on purpose."""


class Kind(IntEnum):
    """What a sensor measures; the integer is the value stored in sensor arrays."""

    TEMPERATURE = 0
    LEVEL = 1
    PRESSURE = 2
    FLOW = 3
    GAS_COMBUSTIBLE = 4
    GAS_TOXIC = 5
    GENERIC = 6

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Kind:
        return cls[text.upper()]

    @property
    def is_gas(self) -> bool:
        return self in (Kind.GAS_COMBUSTIBLE, Kind.GAS_TOXIC)


class Quality(IntEnum):
    """Quality a device attaches to a reading (wire values `good`, `uncertain`, `bad`)."""

    GOOD = 0
    UNCERTAIN = 1
    BAD = 2


# Bits of Batch.flags.
FLAG_TS_FROM_RECEIPT = 1  # the payload carried no timestamp; receipt time was used
# The payload's timestamp was ahead of receipt by more than ingest's tolerance: the reading is
# judged at receipt time (a device clock ahead must not hold its sensor's judgement back).
FLAG_TS_AHEAD = 2


class Condition(IntEnum):
    """A condition a detector can find on one sensor; the integer is its bit position.

    Gas detectors raise GAS2/GAS1 (second/first level, GB/T 50493) instead of HH/H.
    """

    HH = 0
    H = 1
    L = 2
    LL = 3
    GAS2 = 4
    GAS1 = 5
    OUT_OF_RANGE = 6
    BAD_QUALITY = 7
    COMM_LOSS = 8
    # Early warnings (预警): trends that will reach a limit, before any limit is reached.
    RATE = 9  # rate of change beyond the sensor's limit (units/min)
    PREDICT_HH = 10  # the trend reaches HH (or gas second level) within the horizon
    PREDICT_LL = 11  # the trend reaches LL within the horizon
    DRIFT = 12  # sustained deviation from the learned baseline (CUSUM)
    # Instrument faults found from the signal itself.
    STUCK = 13  # flatline while the sensor normally moves
    SPIKE = 14  # a single-sample jump faster than the physics allows
    NOISY = 15  # a burst of noise far above the sensor's usual spread
    # Cross-sensor rules; raised on the group's anchor sensor (see SensorTable).
    AREA_GAS = 16  # k of n gas detectors of one area at first level or above
    CO_RISE = 17  # temperature and pressure of one tank rising together
    # A jump faster than the physics allows that the next reading confirms: the instrument
    # shifted (bias, recalibration, reconnection), not the process.
    STEP = 18
    # Operating context: the level passed the target of its tank's open transfer plan in the
    # plan's direction (the operator did not stop the pump).
    OVERRUN = 19
    # A cooled tank is above the temperature its cooling starts at, and the cooling does not
    # run (the spray's water flow, or a run feedback, says so).
    COOLING_LOST = 20
    # A group of sensors (a unit's generic sensors) left the relation it showed in normal
    # operation (Hotelling T², detectors.multivariate); on the member contributing most.
    RELATION = 21
    # The sensor's readings carry timestamps ahead of the service's clock (its gateway's
    # clock runs ahead): they are judged at receipt time (ingest, FLAG_TS_AHEAD).
    CLOCK_AHEAD = 22
    # Physics cross-checks. A tank's level change, through its geometry, no longer matches
    # the volume its flow meters say went in or out (a gauge stuck during a fill, a leak
    # from an idle tank): on the level sensor.
    MASS_BALANCE = 23
    # A pressurised tank of a liquefied gas reads a pressure away from the gas's vapour
    # pressure at its measured temperature (a non-condensable in the vapour space, a failing
    # pressure transmitter or temperature sensor): on the pressure sensor.
    VAPOUR_PRESSURE = 24

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def bit(self) -> int:
        return 1 << int(self)

    @property
    def info(self) -> ConditionInfo:
        """Its row of CONDITIONS."""
        return CONDITIONS[self]

    @property
    def category(self) -> Category:
        return CONDITIONS[self].category

    @property
    def severity(self) -> Severity:
        return CONDITIONS[self].severity

    @property
    def is_instrument(self) -> bool:
        """Not the process: a fault of the measurement or of its communication."""
        return CONDITIONS[self].category in (Category.INSTRUMENT, Category.COMMUNICATION)

    @property
    def is_early_warning(self) -> bool:
        """A warning (预警) that comes before a limit alarm (报警)."""
        return CONDITIONS[self].category is Category.EARLY_WARNING


class Category(StrEnum):
    """How the control room treats a condition (the value is what the API says)."""

    PROCESS = "process"  # 报警: the process reached a limit
    EARLY_WARNING = "early_warning"  # 预警: before any limit is reached
    INSTRUMENT = "instrument"  # 仪表: a fault of the measurement, for maintenance
    COMMUNICATION = "communication"  # 通讯: the reading does not arrive


class Severity(IntEnum):
    """How serious a condition is in itself; alerting maps it to a priority (same scale)."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3


@dataclass(frozen=True, slots=True)
class ConditionInfo:
    """One row of the condition table: what a condition is, for every stage that shows it.

    `severity` is also the default priority (alerting.DEFAULT_PRIORITY; a site may override).
    """

    category: Category
    severity: Severity
    zh: str
    en: str


def _row(category: Category, severity: Severity, zh: str, en: str) -> ConditionInfo:
    return ConditionInfo(category, severity, zh, en)


_P, _E, _I, _C = (
    Category.PROCESS,
    Category.EARLY_WARNING,
    Category.INSTRUMENT,
    Category.COMMUNICATION,
)
_LO, _MED, _HI = Severity.LOW, Severity.MEDIUM, Severity.HIGH

# The one condition table: a new condition is a member of Condition and a row here; the
# priorities, the API (GET /api/conditions) and the page read it. Early warnings rank with
# the first-level alarms they come before; signal faults are for maintenance, not the
# process; several gas detectors of one area agreeing is more certain than any one of them
# (GB 16808-2025).
CONDITIONS: dict[Condition, ConditionInfo] = {
    Condition.HH: _row(_P, _HI, "高高", "High-high"),
    Condition.H: _row(_P, _MED, "高", "High"),
    Condition.L: _row(_P, _MED, "低", "Low"),
    Condition.LL: _row(_P, _HI, "低低", "Low-low"),
    Condition.GAS2: _row(_P, _HI, "二级报警", "Gas level 2"),
    Condition.GAS1: _row(_P, _MED, "一级报警", "Gas level 1"),
    Condition.OUT_OF_RANGE: _row(_I, _LO, "超量程", "Out of range"),
    Condition.BAD_QUALITY: _row(_I, _LO, "坏值", "Bad quality"),
    Condition.COMM_LOSS: _row(_C, _MED, "通讯中断", "Communication lost"),
    Condition.RATE: _row(_E, _MED, "变化率", "Rate of change"),
    Condition.PREDICT_HH: _row(_E, _MED, "预计超高高", "Predicted high-high"),
    Condition.PREDICT_LL: _row(_E, _MED, "预计超低低", "Predicted low-low"),
    Condition.DRIFT: _row(_E, _MED, "漂移", "Drift from baseline"),
    Condition.STUCK: _row(_I, _LO, "卡死", "Stuck"),
    Condition.SPIKE: _row(_I, _LO, "尖峰", "Spike"),
    Condition.NOISY: _row(_I, _LO, "噪声", "Noisy"),
    Condition.AREA_GAS: _row(_P, _HI, "区域气体(多点确认)", "Area gas (confirmed)"),
    Condition.CO_RISE: _row(_E, _MED, "温压同升", "Temperature and pressure rising"),
    Condition.STEP: _row(_I, _LO, "阶跃", "Step"),
    Condition.OVERRUN: _row(_E, _MED, "超计划液位", "Past the transfer plan"),
    Condition.COOLING_LOST: _row(_E, _MED, "冷却失效", "Cooling lost"),
    Condition.RELATION: _row(_E, _MED, "多变量关联异常", "Relation between sensors broken"),
    Condition.CLOCK_AHEAD: _row(_I, _LO, "时钟超前", "Device clock ahead"),
    # Either cause comes before a loss of containment (an overfill, a pool): a warning.
    Condition.MASS_BALANCE: _row(_E, _MED, "物料不平衡", "Mass balance broken"),
    # Most often the measurement is at fault, and it is the pressure the limits rely on.
    Condition.VAPOUR_PRESSURE: _row(_I, _MED, "压力与饱和蒸气压不符", "Pressure off vapour curve"),
}
_missing = set(Condition) - set(CONDITIONS)
if _missing:  # a condition without its row would reach the page unlabelled and unranked
    raise HazardWatchError(
        f"hazardwatch.vocabulary.model.CONDITIONS has no row for {sorted(_missing)}"
    )


class AlarmState(StrEnum):
    """ISA-18.2 alarm states: the four core states and the two of a latched alarm whose
    condition has returned but which stays until an operator resets it."""

    NORMAL = "normal"
    ACTIVE_UNACK = "active_unack"
    ACTIVE_ACK = "active_ack"
    CLEARED_UNACK = "cleared_unack"
    LATCHED_UNACK = "latched_unack"
    LATCHED_ACK = "latched_ack"


class RiskColour(StrEnum):
    """Risk colour of a hazard source: red/orange/yellow/blue = major/considerable/general/low."""

    RED = "red"
    ORANGE = "orange"
    YELLOW = "yellow"
    BLUE = "blue"


# ---------------------------------------------------------------- the site tree


@dataclass(frozen=True, slots=True)
class Limits:
    """Alarm set points in the sensor's engineering unit; None where not configured.

    For gas detectors `hh` is the second level and `h` the first level.
    """

    hh: float | None = None
    h: float | None = None
    l: float | None = None  # noqa: E741 - the plant's name for the low limit
    ll: float | None = None


@dataclass(frozen=True, slots=True)
class Trend:
    """Early-warning and signal-fault settings of one sensor; None switches a check off.

    Defaults per kind live in the config layer; these field defaults only make a bare
    `Sensor(...)` usable in tests.
    """

    rate_limit_per_min: float | None = None  # |slope| above this raises RATE
    rate_window_s: float = 300.0  # least-squares slope over this much recent history
    horizon_s: float | None = 1800.0  # PREDICT_* when the trend reaches HH/LL sooner
    drift_h_sigma: float | None = 8.0  # CUSUM decision threshold, in baseline sigmas
    drift_k_sigma: float = 0.5  # CUSUM slack, in baseline sigmas
    baseline_warmup_n: int = 100  # readings before the baseline is trusted
    baseline_alpha: float = 0.001  # EWMA weight of a new reading once warmed up
    stuck_window_s: float | None = 900.0  # no change beyond `resolution` this long -> STUCK
    resolution: float = 0.0  # smallest step the instrument reports, engineering units
    spike_rate_per_s: float | None = None  # a jump faster than this is a SPIKE, not process
    noise_ratio: float | None = 5.0  # short-term spread this many times the baseline -> NOISY
    drift_off_delay_s: float = 300.0  # DRIFT clears after this long of not being wanted


@dataclass(frozen=True, slots=True)
class Sensor:
    """One measurement channel, with every default already applied."""

    tag: str
    kind: Kind
    unit: str  # engineering unit, e.g. "m", "degC", "kPa", "%LEL", "ppm"
    range_lo: float
    range_hi: float
    limits: Limits
    deadband: float  # absolute, in the engineering unit
    on_delay_s: float
    off_delay_s: float
    period_s: float  # expected reporting period
    stale_periods: float  # silent for this many periods -> communication loss
    latch: bool  # an alarm stays until reset by a person (gas second level)
    substance: str | None = None  # for gas detectors
    trend: Trend = field(default_factory=Trend)
    area: str | None = None  # gas detectors: the voting area (k of n), see Site.areas


@dataclass(frozen=True, slots=True)
class Cooling:
    """How a unit is cooled (water spray, refrigeration) and the sensor that shows it runs.

    Its cooling must run once the liquid passes `start_above` (the thermostat's on-point, in
    the unit's temperature sensor's unit); it runs while the `status` sensor (the spray's
    water flow, or a 0/1 run feedback) reads above `running_above`. COOLING_LOST when the
    first holds and the second does not for `delay_s`.
    """

    status: str  # tag of a sensor of the same unit
    start_above: float
    running_above: float = 0.5
    delay_s: float = 120.0


# m³/s per reading of a flow meter, per engineering unit a MASS_BALANCE meter may report in
# (volume: a meter in mass units would need the liquid's density at its temperature).
FLOW_M3_S_PER: dict[str, float] = {
    "m3/h": 1 / 3600,
    "m3/min": 1 / 60,
    "m3/s": 1.0,
    "l/s": 1e-3,
    "l/min": 1e-3 / 60,
}


@dataclass(frozen=True, slots=True)
class Balance:
    """The flow meters that feed and draw from a tank, and how closely its level must
    follow them (MASS_BALANCE, detectors.mass_balance).

    `inflow` and `outflow` meters read the flow into and out of the tank; a `transfer`
    meter sits on a line that both fills and empties it and reads the flow's size only.
    Over `window_s` the level's volume change must match the metered volume within
    `flow_error_pct` of the metered volume plus `level_error_m` of level (through the
    tank's geometry) plus the gauge's own scatter; a mismatch held `delay_s` raises.
    """

    inflow: tuple[str, ...] = ()
    outflow: tuple[str, ...] = ()
    transfer: tuple[str, ...] = ()
    window_s: float = 1800.0
    flow_error_pct: float = 5.0
    level_error_m: float = 0.01
    delay_s: float = 200.0

    @property
    def meters(self) -> tuple[str, ...]:
        return (*self.inflow, *self.outflow, *self.transfer)


@dataclass(frozen=True, slots=True)
class VapourCheck:
    """How far a pressurised tank of a liquefied gas may read from the gas's vapour
    pressure at its measured temperature (VAPOUR_PRESSURE, detectors.vapour_pressure):
    `tolerance_kpa` plus `tolerance_pct` of the vapour pressure (absolute), held `delay_s`.
    A tank padded with an inert gas on purpose sits above the curve: widen or switch off.
    """

    enabled: bool = True
    tolerance_kpa: float = 50.0
    tolerance_pct: float = 8.0
    delay_s: float = 300.0


@dataclass(frozen=True, slots=True)
class Unit:
    """A tank (or another plant unit) with its sensors."""

    id: str
    type: str  # "tank"
    substance: str
    capacity_m3: float
    pressurised: bool
    gateway: str
    sensors: tuple[Sensor, ...]
    camera_url: str | None = None
    cooling: Cooling | None = None
    balance: Balance | None = None  # flow meters for MASS_BALANCE
    vapour: VapourCheck = VapourCheck()  # pressurised units of a known gas: VAPOUR_PRESSURE


@dataclass(frozen=True, slots=True)
class Responsible:
    """The three responsible people of a hazard source (包保责任制)."""

    main: str
    technical: str
    operation: str


@dataclass(frozen=True, slots=True)
class HazardSource:
    id: str
    name: str
    grade: int  # GB 18218 grade 1 (highest) .. 4
    responsible: Responsible
    units: tuple[Unit, ...]


@dataclass(frozen=True, slots=True)
class Enterprise:
    id: str
    name: str
    hazard_sources: tuple[HazardSource, ...]


def _deadlines_h() -> dict[str, float]:
    return {"high": 24.0, "medium": 72.0, "low": 72.0}


@dataclass(frozen=True, slots=True)
class AlarmRules:
    """The park's alarm rules (the site config's `alarms:`): the longest shelve an operator
    may set, and how long an alarm of each priority may stay unclosed before it is overdue
    (the national deadline was not found in a published text: configurable)."""

    shelve_max_h: float = 8.0
    disposal_deadline_h: dict[str, float] = field(default_factory=_deadlines_h)


@dataclass(frozen=True, slots=True)
class Site:
    """The whole park, as loaded and validated from the site config."""

    park: str
    root_topic: str
    enterprises: tuple[Enterprise, ...]
    source: str = "<memory>"  # file it was loaded from, for messages
    areas: dict[str, int] = field(default_factory=dict)  # gas area id -> k (votes to alarm)
    inputs: Inputs = field(default_factory=Inputs)  # which MQTT dialects, their name maps
    alarms: AlarmRules = field(default_factory=AlarmRules)  # shelve maximum, disposal deadlines
    # channels, routes, quiet rules, escalation delays (hazardwatch.vocabulary.notify_rules)
    notifications: NotifyRules = field(default_factory=NotifyRules)

    def iter_sensors(self) -> list[tuple[Enterprise, HazardSource, Unit, Sensor]]:
        """Every sensor with its place in the tree, in sensor-index order."""
        return [
            (e, h, u, s)
            for e in self.enterprises
            for h in e.hazard_sources
            for u in h.units
            for s in u.sensors
        ]


# ------------------------------------------------------------ compiled tables


def _nan_if_none(x: float | None) -> float:
    return float("nan") if x is None else float(x)


@dataclass(frozen=True, eq=False)
class SensorTable:
    """The site compiled to arrays, one row per sensor index.

    Limits that are not configured are NaN, so every comparison with them is False.
    """

    tags: tuple[str, ...]
    tag_index: dict[str, int]
    kind: np.ndarray  # int8, Kind
    range_lo: np.ndarray  # float64
    range_hi: np.ndarray
    limit_hh: np.ndarray
    limit_h: np.ndarray
    limit_l: np.ndarray
    limit_ll: np.ndarray
    deadband: np.ndarray
    on_delay_s: np.ndarray
    off_delay_s: np.ndarray
    stale_after_s: np.ndarray  # period_s * stale_periods
    latch: np.ndarray  # bool
    enterprise: tuple[str, ...]  # enterprise id per sensor
    hazard_source: tuple[str, ...]  # hazard source id per sensor
    unit: tuple[str, ...]  # unit id per sensor
    gateway: tuple[str, ...]  # "<enterprise>/<gateway>" per sensor
    gateway_sensors: dict[str, np.ndarray] = field(default_factory=dict)
    # Trend settings, NaN where a check is off (see Trend).
    rate_limit_per_min: np.ndarray = field(default_factory=lambda: np.empty(0))
    rate_window_s: np.ndarray = field(default_factory=lambda: np.empty(0))
    horizon_s: np.ndarray = field(default_factory=lambda: np.empty(0))
    drift_h_sigma: np.ndarray = field(default_factory=lambda: np.empty(0))
    drift_k_sigma: np.ndarray = field(default_factory=lambda: np.empty(0))
    baseline_warmup_n: np.ndarray = field(default_factory=lambda: np.empty(0))
    baseline_alpha: np.ndarray = field(default_factory=lambda: np.empty(0))
    stuck_window_s: np.ndarray = field(default_factory=lambda: np.empty(0))
    resolution: np.ndarray = field(default_factory=lambda: np.empty(0))
    spike_rate_per_s: np.ndarray = field(default_factory=lambda: np.empty(0))
    noise_ratio: np.ndarray = field(default_factory=lambda: np.empty(0))
    drift_off_delay_s: np.ndarray = field(default_factory=lambda: np.empty(0))
    # Groups for cross-sensor rules: index into `areas` per sensor (-1: none), the k of each
    # area, and per unit the indices of its temperature and pressure sensors (-1: none).
    area: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))
    areas: tuple[str, ...] = ()
    area_k: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))
    unit_index: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))
    unit_temperature: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    unit_pressure: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    # Per cooled unit: its temperature sensor, its cooling status sensor and the settings of
    # its Cooling.
    cooling_temperature: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    cooling_status: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    cooling_start_above: np.ndarray = field(default_factory=lambda: np.empty(0))
    cooling_running_above: np.ndarray = field(default_factory=lambda: np.empty(0))
    cooling_delay_s: np.ndarray = field(default_factory=lambda: np.empty(0))
    # The units in unit-index order and each sensor's engineering unit: what the physics
    # cross-checks (detectors.mass_balance, detectors.vapour_pressure) compile their own
    # arrays from.
    units: tuple[Unit, ...] = ()
    eng_unit: tuple[str, ...] = ()

    @property
    def n(self) -> int:
        return len(self.tags)

    @classmethod
    def from_site(cls, site: Site) -> SensorTable:
        rows = site.iter_sensors()
        sensors = [s for _, _, _, s in rows]

        def col(values: list[float], dtype: type = np.float64) -> np.ndarray:
            return np.asarray(values, dtype=dtype)

        gateway = tuple(f"{e.id}/{u.gateway}" for e, _, u, _ in rows)
        gw_map: dict[str, list[int]] = {}
        for i, g in enumerate(gateway):
            gw_map.setdefault(g, []).append(i)
        tags = tuple(s.tag for s in sensors)
        trends = [s.trend for s in sensors]
        area_ids = tuple(sorted({s.area for s in sensors if s.area is not None}))
        area_pos = {a: i for i, a in enumerate(area_ids)}
        unit_ids = tuple(dict.fromkeys(u.id for _, _, u, _ in rows))
        unit_pos = {u: i for i, u in enumerate(unit_ids)}
        unit_t = np.full(len(unit_ids), -1, np.int64)
        unit_p = np.full(len(unit_ids), -1, np.int64)
        for i, (_, _, u, s) in enumerate(rows):
            if s.kind is Kind.TEMPERATURE and unit_t[unit_pos[u.id]] < 0:
                unit_t[unit_pos[u.id]] = i
            if s.kind is Kind.PRESSURE and unit_p[unit_pos[u.id]] < 0:
                unit_p[unit_pos[u.id]] = i
        tag_index = {t: i for i, t in enumerate(tags)}
        cooled = [
            (int(unit_t[unit_pos[u.id]]), tag_index[u.cooling.status], u.cooling)
            for u in dict((u.id, u) for _, _, u, _ in rows).values()
            if u.cooling is not None
            and u.cooling.status in tag_index
            and unit_t[unit_pos[u.id]] >= 0
        ]  # the config layer refuses a cooling it cannot watch; a bare Site skips it
        return cls(
            tags=tags,
            tag_index=tag_index,
            kind=col([int(s.kind) for s in sensors], np.int8),
            range_lo=col([s.range_lo for s in sensors]),
            range_hi=col([s.range_hi for s in sensors]),
            limit_hh=col([_nan_if_none(s.limits.hh) for s in sensors]),
            limit_h=col([_nan_if_none(s.limits.h) for s in sensors]),
            limit_l=col([_nan_if_none(s.limits.l) for s in sensors]),
            limit_ll=col([_nan_if_none(s.limits.ll) for s in sensors]),
            deadband=col([s.deadband for s in sensors]),
            on_delay_s=col([s.on_delay_s for s in sensors]),
            off_delay_s=col([s.off_delay_s for s in sensors]),
            stale_after_s=col([s.period_s * s.stale_periods for s in sensors]),
            latch=col([s.latch for s in sensors], np.bool_),
            enterprise=tuple(e.id for e, _, _, _ in rows),
            hazard_source=tuple(h.id for _, h, _, _ in rows),
            unit=tuple(u.id for _, _, u, _ in rows),
            gateway=gateway,
            gateway_sensors={g: np.asarray(ix, dtype=np.int64) for g, ix in gw_map.items()},
            rate_limit_per_min=col([_nan_if_none(t.rate_limit_per_min) for t in trends]),
            rate_window_s=col([t.rate_window_s for t in trends]),
            horizon_s=col([_nan_if_none(t.horizon_s) for t in trends]),
            drift_h_sigma=col([_nan_if_none(t.drift_h_sigma) for t in trends]),
            drift_k_sigma=col([t.drift_k_sigma for t in trends]),
            baseline_warmup_n=col([t.baseline_warmup_n for t in trends], np.int64),
            baseline_alpha=col([t.baseline_alpha for t in trends]),
            stuck_window_s=col([_nan_if_none(t.stuck_window_s) for t in trends]),
            resolution=col([t.resolution for t in trends]),
            spike_rate_per_s=col([_nan_if_none(t.spike_rate_per_s) for t in trends]),
            noise_ratio=col([_nan_if_none(t.noise_ratio) for t in trends]),
            drift_off_delay_s=col([t.drift_off_delay_s for t in trends]),
            area=col([area_pos[s.area] if s.area is not None else -1 for s in sensors], np.int32),
            areas=area_ids,
            area_k=col([site.areas.get(a, 2) for a in area_ids], np.int32),
            unit_index=col([unit_pos[u.id] for _, _, u, _ in rows], np.int32),
            unit_temperature=unit_t,
            unit_pressure=unit_p,
            cooling_temperature=col([t for t, _, _ in cooled], np.int64),
            cooling_status=col([k for _, k, _ in cooled], np.int64),
            cooling_start_above=col([c.start_above for _, _, c in cooled]),
            cooling_running_above=col([c.running_above for _, _, c in cooled]),
            cooling_delay_s=col([c.delay_s for _, _, c in cooled]),
            units=tuple(dict((u.id, u) for _, _, u, _ in rows).values()),
            eng_unit=tuple(s.unit for s in sensors),
        )


# ------------------------------------------------------------- data in flight


@dataclass(frozen=True, eq=False)
class Batch:
    """Readings in columns, one row per reading; produced by ingest, trusted downstream.

    `sensor` holds sensor indices into the SensorTable; `ts` epoch seconds (float64);
    `value` float64 (finite); `quality` uint8 (Quality); `flags` uint8 (FLAG_*).
    """

    sensor: np.ndarray
    ts: np.ndarray
    value: np.ndarray
    quality: np.ndarray
    flags: np.ndarray

    def __len__(self) -> int:
        return int(self.sensor.shape[0])

    @classmethod
    def empty(cls) -> Batch:
        return cls.of([], [], [])

    @classmethod
    def of(
        cls,
        sensor: list[int] | np.ndarray,
        ts: list[float] | np.ndarray,
        value: list[float] | np.ndarray,
        quality: list[int] | np.ndarray | None = None,
        flags: list[int] | np.ndarray | None = None,
    ) -> Batch:
        """Build a batch from plain sequences (tests, simulators, replay)."""
        n = len(sensor)
        return cls(
            sensor=np.asarray(sensor, dtype=np.int64),
            ts=np.asarray(ts, dtype=np.float64),
            value=np.asarray(value, dtype=np.float64),
            quality=np.zeros(n, np.uint8) if quality is None else np.asarray(quality, np.uint8),
            flags=np.zeros(n, np.uint8) if flags is None else np.asarray(flags, np.uint8),
        )

    @classmethod
    def concat(cls, batches: list[Batch]) -> Batch:
        if not batches:
            return cls.empty()
        return cls(
            sensor=np.concatenate([b.sensor for b in batches]),
            ts=np.concatenate([b.ts for b in batches]),
            value=np.concatenate([b.value for b in batches]),
            quality=np.concatenate([b.quality for b in batches]),
            flags=np.concatenate([b.flags for b in batches]),
        )


@dataclass(frozen=True, slots=True)
class ConditionChange:
    """A condition became active (or cleared) on one sensor at one time."""

    sensor: int
    condition: Condition
    active: bool
    value: float  # the reading that caused it (NaN for communication loss)
    ts: float  # epoch seconds of that reading (or of the detection, for staleness)
    severity: Severity
    # PREDICT_*: when the trend reaches the limit (epoch s). An already active condition may
    # be reported again with a new eta: an update, not a transition.
    eta_ts: float | None = None


@dataclass(frozen=True, slots=True)
class TransferPlan:
    """An operator's (or the DCS's) plan to move one tank's level to `target`.

    `tag` is the tank's level sensor; `direction` +1 fills, -1 empties; `tolerance` is how
    far past the target (level units) the level may go before OVERRUN (None: the
    detector's default); `expires_ts` ends a plan nobody closed (None: never).
    """

    tag: str
    target: float
    direction: int
    ts: float
    tolerance: float | None = None
    expires_ts: float | None = None
    by: str = ""
    note: str = ""
