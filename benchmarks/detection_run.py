"""One simulated scenario through the live service, scored against its ground truth.

`run_scenario` ticks a library scenario's script in simulated time (no MQTT), feeds each
tick's readings as one Batch to a `Service` on a `FakeClock` in a temporary data dir, runs
the stale check after each tick as the live service's periodic check does, and keeps every
alarm activation. `score` compares them with the script's truth (see `Score`).

Who is "involved": a sensor named in any event's `should_alarm`, every sensor of a unit an
event acts on (incidents, transfers, drains), and for an incident that emits gas every gas
detector of the park. A process alarm anywhere else is a false process alarm. Sensor faults
are judged on their own tag: an instrument condition there is a catch, a process alarm there
(when the tag is not also part of an incident) is a fault taken for a process upset.

An incident is detected, and its first warning timed, only on its own signals: its tank's
sensors, the gas detectors of its hazard source, the sensors its truth says should alarm
(where its gas physically crossed a limit), and AREA_GAS raised for an area holding one of
those detectors. A DRIFT on a detector elsewhere in the park is not its warning.

Instrument alarms on healthy sensors: instrument conditions on sensors no fault, outage or
plant event touched, per 100 sensor-days.

`realism` (simulators.realism) runs the scenario on a drawn park: the farm gets the layer,
the service the site as that park's engineer would configure it (`configured`: each
sensor's period its longest healthy silence), and the farm ticks every second at most, so
that gateways polling every 1-10 s are seen as they poll.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from hazardwatch.shell.service import Service, Settings
from hazardwatch.vocabulary.clock import FakeClock
from hazardwatch.vocabulary.model import Batch, Condition, Kind, Site
from ingest.decoded import GatewayStatus
from simulators.library import ScenarioSpec
from simulators.realism import Realism, configured
from simulators.scenario import Incident

# The brief's process conditions: what an operator would act on as a plant upset.
PROCESS = frozenset(
    {
        Condition.HH,
        Condition.H,
        Condition.L,
        Condition.LL,
        Condition.GAS2,
        Condition.GAS1,
        Condition.RATE,
        Condition.PREDICT_HH,
        Condition.PREDICT_LL,
        Condition.DRIFT,
        Condition.AREA_GAS,
        Condition.CO_RISE,
        Condition.OVERRUN,
        Condition.COOLING_LOST,
        Condition.MASS_BALANCE,
    }
)
INSTRUMENT = frozenset(
    {
        Condition.STUCK,
        Condition.SPIKE,
        Condition.NOISY,
        Condition.STEP,
        Condition.COMM_LOSS,
        Condition.OUT_OF_RANGE,
        Condition.BAD_QUALITY,
        Condition.VAPOUR_PRESSURE,
    }
)
# The crossing a ramp is measured against, most severe first ("HH, or the peak").
_PLANT = ("incident", "operation", "maintenance")
_PEAK_ORDER = ("hh", "gas2", "area_gas", "ll", "h", "gas1", "l")
REALISM_TICK_S = 1.0  # the longest tick of a run on a drawn park


@dataclass(frozen=True, slots=True)
class Activation:
    """One alarm occurrence: when the service first raised it."""

    ts: float
    tag: str
    unit: str
    condition: Condition


@dataclass
class Run:
    """What one scenario did: its alarms, its truth and what it touched."""

    name: str
    start_ts: float
    duration_s: float
    n_sensors: int
    activations: list[Activation]
    truth: list[dict[str, Any]]
    unit_tags: dict[str, set[str]]  # unit id -> tags of its sensors
    gas_tags: set[str]
    gas_units: set[str] = field(default_factory=set)  # units of incidents that emit gas
    flow_tags: set[str] = field(default_factory=set)
    source_gas: dict[str, set[str]] = field(default_factory=dict)  # unit -> its farm's detectors
    area_tags: dict[str, set[str]] = field(default_factory=dict)  # gas tag -> its area's tags


def _unit_tags(site: Site) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for _, _, unit, sensor in site.iter_sensors():
        out.setdefault(unit.id, set()).add(sensor.tag)
    return out


def _source_gas(site: Site) -> dict[str, set[str]]:
    """Unit id -> the gas detectors of its hazard source."""
    out: dict[str, set[str]] = {}
    for e in site.enterprises:
        for h in e.hazard_sources:
            gas = {s.tag for u in h.units for s in u.sensors if s.kind.is_gas}
            for u in h.units:
                out.setdefault(u.id, set()).update(gas)
    return out


def _area_tags(site: Site) -> dict[str, set[str]]:
    """Gas tag -> every tag of its voting area (AREA_GAS is raised on one of them)."""
    areas: dict[str, set[str]] = {}
    for _, _, _, s in site.iter_sensors():
        if s.area is not None:
            areas.setdefault(s.area, set()).add(s.tag)
    return {t: tags for tags in areas.values() for t in tags}


def without_cooling(site: Site) -> Site:
    """The same site with no unit's cooling watched (the status sensors stay)."""
    return replace(site, enterprises=tuple(
        replace(e, hazard_sources=tuple(
            replace(h, units=tuple(replace(u, cooling=None) for u in h.units))
            for h in e.hazard_sources
        ))
        for e in site.enterprises
    ))  # fmt: skip


def run_scenario(
    spec: ScenarioSpec,
    duration_s: float | None = None,
    *,
    context: bool = True,
    realism: Realism | None = None,
) -> Run:
    """Run `spec` (for `duration_s`, default its own) through a fresh service; keep its alarms.

    `context=False` withholds the operating context: no transfer plans reach the service
    and it watches no cooling (what the readings alone can tell). `realism`: on a drawn
    park (see the module docstring)."""
    duration = spec.duration_s if duration_s is None else min(duration_s, spec.duration_s)
    realism = realism or Realism()
    script = spec.script(realism=realism)
    farm = script.farm
    dt_s = min(spec.dt_s, REALISM_TICK_S) if realism.active else spec.dt_s
    clock = FakeClock(spec.start_ts)
    activations: list[Activation] = []
    with tempfile.TemporaryDirectory(prefix="hw-detection-") as tmp:
        watched = configured(spec.site if context else without_cooling(spec.site), realism)
        svc = Service(watched, Settings(data_dir=Path(tmp), checkpoint_interval_s=0), clock=clock)
        try:
            to_table = np.array([svc.table.tag_index[s.tag] for s in farm.sensors], dtype=np.int64)
            seen: set[int] = set()

            def keep(events: list[Any]) -> None:
                for e in events:
                    a = e.alarm
                    if a.id not in seen:
                        seen.add(a.id)
                        activations.append(Activation(a.raised_ts, a.tag, a.unit, a.condition))

            down: frozenset[str] = frozenset()

            def on_tick(ts: float, idx: np.ndarray, values: np.ndarray) -> None:
                nonlocal down
                clock.set(ts)
                for plan in farm.take_plans():  # the operators' plans come before their pumps
                    if context:
                        svc.transfers.open(plan)
                # A gateway that drops off the air: its last will (offline) reaches the
                # service at once, as the broker delivers it live; back: it says online.
                now_down = script.gateways_down()
                for key in sorted(now_down ^ down):
                    enterprise, gateway = key.split("/", 1)
                    online = key not in now_down
                    keep(svc.handle_status(GatewayStatus(enterprise, gateway, online, ts)))
                down = now_down
                if idx.size:
                    rows = to_table[idx]
                    batch = Batch.of(rows, np.full(idx.size, ts), values)
                    keep(svc.handle_batch(batch))
                keep(svc.handle_changes(svc.detector.check_stale(ts)))

            script.run(duration, dt_s, on_tick)
        finally:
            svc.close()
    gas = {s.tag for s in farm.sensors if s.kind.is_gas}
    flow = {s.tag for s in farm.sensors if s.kind is Kind.FLOW}
    gas_units = {s.unit_id for s in script.scenarios if isinstance(s, Incident) and s.emits_gas}
    return Run(spec.name, spec.start_ts, duration, len(farm.sensors), activations,
               script.truth(), _unit_tags(spec.site), gas, gas_units, flow,
               _source_gas(spec.site), _area_tags(spec.site))  # fmt: skip


@dataclass
class Score:
    """One scenario against its truth; times in s, None where it does not apply."""

    name: str
    hazardous: bool
    detected: bool | None
    first_ts: float | None
    first_after_s: float | None  # first warning, s after onset
    first_condition: str
    peak_condition: str
    peak_after_s: float | None  # the HH (or peak) crossing, s after onset
    lead_s: float | None
    lead_fraction: float | None
    false_process: int
    false_per_1000h: float
    faults: int  # sensor faults in the scenario
    faults_caught: int  # ... shown as an instrument condition on their tag
    faults_as_process: int  # ... that raised a process alarm on their tag
    sensor_hours: float
    false_detail: list[str] = field(default_factory=list)
    instrument_healthy: int = 0  # instrument alarms on healthy sensors
    healthy_sensor_days: float = 0.0
    instrument_detail: list[str] = field(default_factory=list)

    @property
    def instrument_per_100d(self) -> float:
        """Instrument alarms per 100 sensor-days on healthy sensors."""
        days = self.healthy_sensor_days
        return 100.0 * self.instrument_healthy / days if days else math.nan


def _involved(run: Run) -> set[str]:
    tags: set[str] = set()
    for e in run.truth:
        if e.get("category") not in _PLANT:
            continue  # a sensor fault or an outage involves no process
        tags |= {a["tag"] for a in e.get("should_alarm", [])}
        tags |= run.unit_tags.get(e.get("unit") or "", set())
    if run.gas_units:
        tags |= run.gas_tags
    return tags


def _own_signals(run: Run, incidents: list[dict[str, Any]]) -> tuple[set[str], set[str]]:
    """The incidents' own tags (any process condition) and the tags on which their areas'
    AREA_GAS counts (see the module docstring)."""
    tags: set[str] = set()
    for e in incidents:
        tags |= {a["tag"] for a in e.get("should_alarm", [])}
        tags |= run.unit_tags.get(e["unit"], set())
        tags |= run.source_gas.get(e["unit"], set())
    areas: set[str] = set()
    for t in tags & run.gas_tags:
        areas |= run.area_tags.get(t, set())
    return tags, areas


def _unhealthy(run: Run, involved: set[str]) -> set[str]:
    """Sensors that are not healthy: faulted, behind a gateway off the air, or in an event."""
    out = set(involved)
    for e in run.truth:
        if e.get("category") == "fault":
            out.add(e["tag"])
        out |= set(e.get("tags", []))  # an outage's sensors
    return out


def _peak(incident: dict[str, Any], skip: set[str]) -> tuple[str, float | None]:
    """The most severe limit the incident's process reached and when it first did.

    Flow limits are skipped: an opened inflow crosses them at once, while the hazard is where
    the flow takes the level (or pressure, temperature)."""
    crossings = [c for c in incident.get("crossings", []) if c["tag"] not in skip]
    for cond in _PEAK_ORDER:
        times = [c["ts"] for c in crossings if c["condition"] == cond and c["ts"] is not None]
        if times:
            return cond.upper(), min(times)
    return "", None


def score(run: Run) -> Score:
    """Compare a run's alarms with its truth (see the module docstring)."""
    incidents = [
        e for e in run.truth if e.get("category") == "incident" and e["onset_ts"] is not None
    ]
    faults = [e for e in run.truth if e.get("category") == "fault"]
    involved = _involved(run)
    process = [a for a in run.activations if a.condition in PROCESS]
    false = [a for a in process if a.tag not in involved]
    hours = run.n_sensors * run.duration_s / 3600.0
    s = Score(run.name, bool(incidents), None, None, None, "", "", None, None, None,
              len(false), 1000.0 * len(false) / hours if hours else math.nan,
              len(faults), 0, 0, hours)  # fmt: skip
    s.false_detail = [f"{a.tag}:{a.condition.label}@{a.ts - run.start_ts:.0f}" for a in false]
    unhealthy = _unhealthy(run, involved)
    healthy = [t for tags in run.unit_tags.values() for t in tags if t not in unhealthy]
    sick = [a for a in run.activations if a.condition in INSTRUMENT and a.tag not in unhealthy]
    s.instrument_healthy = len(sick)
    s.healthy_sensor_days = len(healthy) * run.duration_s / 86400.0
    s.instrument_detail = [f"{a.tag}:{a.condition.label}@{a.ts - run.start_ts:.0f}" for a in sick]
    if incidents:
        onset = min(e["onset_ts"] for e in incidents if e["onset_ts"] is not None)
        tags, areas = _own_signals(run, incidents)
        hits = [
            a
            for a in process
            if a.ts >= onset
            and (a.tag in tags or (a.condition is Condition.AREA_GAS and a.tag in areas))
        ]
        s.detected = bool(hits)
        if hits:
            first = min(hits, key=lambda a: a.ts)
            s.first_ts, s.first_condition = first.ts, first.condition.label.upper()
            s.first_after_s = first.ts - onset
        peaks = [_peak(e, run.flow_tags) for e in incidents]
        timed = [(ts, c) for c, ts in peaks if ts is not None]
        if timed:
            ts, s.peak_condition = min(timed)
            s.peak_after_s = ts - onset
            if s.first_ts is not None:
                s.lead_s = ts - s.first_ts
                if s.peak_after_s > 0:
                    s.lead_fraction = (s.first_ts - onset) / s.peak_after_s
    for f in faults:
        on = [a for a in run.activations if a.tag == f["tag"] and a.ts >= f["onset_ts"]]
        end = f["end_ts"] if f["end_ts"] is not None else math.inf
        during = [a for a in on if a.ts <= end + 60.0]
        if any(a.condition in INSTRUMENT for a in during):
            s.faults_caught += 1
        if f["tag"] not in involved and any(a.condition in PROCESS for a in during):
            s.faults_as_process += 1
    return s


__all__ = ["INSTRUMENT", "PROCESS", "Activation", "Run", "Score", "run_scenario", "score"]
