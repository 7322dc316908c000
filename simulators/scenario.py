"""Scripted incidents with ground truth: what happened, to which tag, and when.

A scenario acts on the farm around each tick (`before_tick`, `after_tick`) and writes down
the truth as it happens; `Script` runs a farm with its scenarios. Times in the truth are
simulated epoch seconds, the same clock as the readings' `ts`. Every truth entry is a
JSON-ready dict with `event` (its kind) and `category`: `incident` (a process upset, with
its limit crossings and the alarms it should raise), `operation` (routine work),
`maintenance`, `fault` (an instrument fault) or `outage` (a gateway off the air).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from hazardwatch.vocabulary.model import Condition, HazardWatchError
from simulators.groundtruth import AreaWatch, LimitWatch
from simulators.physics import TankFarm

DEFAULT_TIME_TO_HH_S = 75.0  # an overfill reaches HH this long after onset: quick for a demo


class ScenarioError(HazardWatchError):
    """A scenario does not fit the site it is run on, or its file is malformed."""


class Scenario:
    """Base of every incident: no effect, no truth. Subclasses override what they need."""

    def bind(self, farm: TankFarm) -> None:
        """Check the scenario against the farm's site; raise ScenarioError if it does not fit."""

    def before_tick(self, farm: TankFarm, dt_s: float) -> None:
        """Act on the farm before it advances `dt_s` seconds."""

    def after_tick(self, farm: TankFarm) -> None:
        """Look at the farm after it advanced; record ground truth."""

    def gateways_down(self) -> frozenset[str]:
        """Gateways ("enterprise/gateway") that must be off the air right now."""
        return frozenset()

    def truth(self) -> list[dict[str, Any]]:
        """What has happened so far, one dict per event."""
        return []


class Incident(Scenario):
    """Something done to one unit from `start_s` (after the start) for `duration_s` (None:
    to the end). Subclasses implement `start` and `stop`; the limit watch is shared."""

    kind = "incident"
    category = "incident"
    emits_gas = False  # watch every gas detector of the park, not just the unit's

    def __init__(self, unit_id: str, start_s: float, duration_s: float | None = None) -> None:
        if duration_s is not None and not duration_s > 0:
            raise ScenarioError(f"{self.kind} of {unit_id!r}: duration_s must be > 0")
        self.unit_id = unit_id
        self.start_s = float(start_s)
        self.duration_s = duration_s
        self.unit = -1
        self.enterprise = ""
        self.onset_ts: float | None = None
        self.end_ts: float | None = None
        self.watch: LimitWatch | None = None
        self.area_watch: AreaWatch | None = None
        self._sensors: list[int] = []

    def bind(self, farm: TankFarm) -> None:
        k = farm.unit_index(self.unit_id)
        if k == -1:
            known = ", ".join(sorted({u.id for u in farm.units})) or "none"
            raise ScenarioError(
                f"{self.kind}: no unit {self.unit_id!r} in the site (units: {known})"
            )
        if k == -2:
            owners = ", ".join(
                farm.unit_enterprise[i] for i, u in enumerate(farm.units) if u.id == self.unit_id
            )
            raise ScenarioError(
                f"{self.kind}: unit id {self.unit_id!r} is ambiguous (enterprises {owners})"
            )
        self.unit = k
        self.enterprise = farm.unit_enterprise[k]
        self._sensors = farm.unit_sensors(k)
        self.check(farm)
        watched = set(self._sensors)
        if self.emits_gas:
            watched |= set(farm.layout.detector_sensor.tolist())
        self.watch = LimitWatch(farm, sorted(watched))
        self.area_watch = AreaWatch(farm, sorted(watched))

    def check(self, farm: TankFarm) -> None:
        """Raise ScenarioError if the unit cannot have this incident."""

    def start(self, farm: TankFarm) -> None:
        """Begin acting on the farm (at `onset_ts`)."""

    def stop(self, farm: TankFarm) -> None:
        """Stop acting on the farm (at `end_ts`)."""

    def active(self) -> bool:
        return self.onset_ts is not None and self.end_ts is None

    def before_tick(self, farm: TankFarm, dt_s: float) -> None:
        if self.onset_ts is None and farm.elapsed_s >= self.start_s - 1e-9:
            self.onset_ts = farm.ts
            assert self.watch is not None
            self.watch.begin(farm, farm.ticks > 0)
            self.start(farm)
        end = None if self.duration_s is None else self.start_s + self.duration_s
        if self.active() and end is not None and farm.elapsed_s >= end - 1e-9:
            self.finish(farm)

    def finish(self, farm: TankFarm) -> None:
        """End the incident now (also for incidents that end themselves)."""
        if self.active():
            self.end_ts = farm.ts
            self.stop(farm)

    def after_tick(self, farm: TankFarm) -> None:
        if self.watch is not None and self.onset_ts is not None:
            self.watch.observe(farm)
        if self.area_watch is not None and self.onset_ts is not None:
            self.area_watch.observe(farm)

    def params(self) -> dict[str, Any]:
        """The incident's own settings, for the truth."""
        return {}

    def truth(self) -> list[dict[str, Any]]:
        crossings = [] if self.watch is None else self.watch.crossings()
        if self.area_watch is not None:
            crossings = sorted(crossings + self.area_watch.crossings(), key=lambda c: c["ts"])
        return [
            {
                "event": self.kind,
                "category": self.category,
                "enterprise": self.enterprise,
                "unit": self.unit_id,
                "onset_ts": self.onset_ts,
                "end_ts": self.end_ts,
                **self.params(),
                "crossings": crossings,
                "should_alarm": [
                    {"tag": c["tag"], "condition": c["condition"], "ts": c["ts"]} for c in crossings
                ],
            }
        ]


class Overfill(Incident):
    """From `start_s` after the start, the tank's inflow opens and never closes.

    The level rises steadily through H and HH (by default reaching HH about 75 s after onset)
    and on to the top of the range, where the tank overflows. `rate_per_min` is in the level
    sensor's unit per minute (at the onset level; a sphere's level then slows and speeds up
    with its cross-section, the volume inflow being constant). `planned_level`: the operator
    planned this transfer to stop there (a transfer plan is made at onset) and forgot it;
    `planned_lift`: the same, planned that far above the level at onset. `start_level`: the
    tank holds this much when the run starts and waits, idle, for the incident (so the
    scenario's timing does not hang on the farm's random starting state).
    """

    kind = "overfill"
    emits_gas = True  # an atmospheric tank's overflow evaporates

    def __init__(
        self,
        unit_id: str,
        start_s: float,
        rate_per_min: float | None = None,
        *,
        time_to_hh_s: float = DEFAULT_TIME_TO_HH_S,
        planned_level: float | None = None,
        start_level: float | None = None,
        planned_lift: float | None = None,
    ) -> None:
        if rate_per_min is not None and not rate_per_min > 0:
            raise ScenarioError(
                f"overfill of {unit_id!r}: rate_per_min must be > 0, got {rate_per_min}"
            )
        if not time_to_hh_s > 0:
            raise ScenarioError(
                f"overfill of {unit_id!r}: time_to_hh_s must be > 0, got {time_to_hh_s}"
            )
        super().__init__(unit_id, start_s)
        self.rate_per_min = rate_per_min
        self.time_to_hh_s = time_to_hh_s
        if planned_level is not None and planned_lift is not None:
            raise ScenarioError(f"overfill of {unit_id!r}: give planned_level or planned_lift")
        self.planned_level = planned_level
        self.planned_lift = planned_lift
        self.start_level = start_level
        self._tag = ""
        self._h: float | None = None
        self._hh: float | None = None
        self._goal = 0.0
        self._q = 0.0  # m³/s
        self._level_rate_min: float | None = None
        self._overflow_ts: float | None = None
        self._prev_volume = 0.0
        self._prev_ts = 0.0

    def check(self, farm: TankFarm) -> None:
        found = farm.level_sensor(self.unit)
        if found is None:
            raise ScenarioError(f"overfill: unit {self.unit_id!r} has no level sensor")
        _, sensor = found
        if self.start_level is not None:
            if not sensor.range_lo <= self.start_level <= sensor.range_hi:
                raise ScenarioError(
                    f"overfill of {self.unit_id!r}: start_level {self.start_level} is outside "
                    f"{sensor.tag}'s range {sensor.range_lo:g}..{sensor.range_hi:g}"
                )
            farm.set_volume(self.unit, farm.volume_at(self.unit, self.start_level))
            farm.force_flow(self.unit, 0.0)  # idle until the incident opens the inflow
        self._tag = sensor.tag
        self._h, self._hh = sensor.limits.h, sensor.limits.hh
        self._goal = self._hh if self._hh is not None else sensor.range_hi

    def start(self, farm: TankFarm) -> None:
        level = float(farm.level[self.unit])
        if self.planned_lift is not None:
            self.planned_level = round(level + self.planned_lift, 3)
        if self.planned_level is not None:
            farm.plan(self.unit, self.planned_level, 1, "operator")
        if self.rate_per_min is not None:
            farm.open_inflow(self.unit, self.rate_per_min / 60.0)
            self._q = farm.forced_flow(self.unit) or 0.0
            self._level_rate_min = self.rate_per_min
        else:
            k = self.unit
            lift = farm.volume_at(k, self._goal) - float(farm.volume_m3[k])
            # Already at HH (odd, but possible with a hand-built site): still rise visibly.
            self._q = max(lift, 0.05 * float(farm.geometry.capacity_m3[k])) / self.time_to_hh_s
            farm.force_flow(k, self._q)
            self._level_rate_min = max(self._goal - level, 0.0) / self.time_to_hh_s * 60.0
        self._prev_volume, self._prev_ts = float(farm.volume_m3[self.unit]), farm.ts

    def after_tick(self, farm: TankFarm) -> None:
        super().after_tick(farm)
        if self.onset_ts is None:
            return
        cap = float(farm.geometry.capacity_m3[self.unit])
        if self._overflow_ts is None and farm.spilled_m3[self.unit] > 0:
            # The inflow is constant, so the instant the tank brims is exact.
            at = self._prev_ts + (cap - self._prev_volume) / max(self._q, 1e-12)
            self._overflow_ts = float(np.clip(at, self._prev_ts, farm.ts))
        self._prev_volume, self._prev_ts = float(farm.volume_m3[self.unit]), farm.ts

    def params(self) -> dict[str, Any]:
        assert self.watch is not None
        return {
            "tag": self._tag,
            "rate_per_min": self._level_rate_min,
            "inflow_m3_h": None if self.onset_ts is None else self._q * 3600.0,
            "h": self._h,
            "hh": self._hh,
            "h_ts": self.watch.first(self._tag, Condition.H),
            "hh_ts": self.watch.first(self._tag, Condition.HH),
            "overflow_ts": self._overflow_ts,
            "planned_level": self.planned_level,
            "start_level": self.start_level,
        }


class GatewayOutage(Scenario):
    """A gateway drops off the air at `start_s` for `duration_s`: its last will fires, and
    none of its sensors reports until it comes back."""

    def __init__(self, enterprise: str, gateway: str, start_s: float, duration_s: float) -> None:
        if not duration_s > 0:
            raise ScenarioError(f"gateway outage of {enterprise}/{gateway}: duration_s must be > 0")
        self.key = f"{enterprise}/{gateway}"
        self.enterprise = enterprise
        self.gateway = gateway
        self.start_s = float(start_s)
        self.duration_s = float(duration_s)
        self._tags: list[str] = []
        self._down = False
        self._onset_ts: float | None = None
        self._end_ts: float | None = None

    def bind(self, farm: TankFarm) -> None:
        self._tags = [
            s.tag
            for e, _, u, s in farm.site.iter_sensors()
            if e.id == self.enterprise and u.gateway == self.gateway
        ]
        if not self._tags:
            known = sorted({f"{e.id}/{u.gateway}" for e, _, u, _ in farm.site.iter_sensors()})
            raise ScenarioError(
                f"gateway outage: no sensors behind gateway {self.key!r} "
                f"(gateways: {', '.join(known) or 'none'})"
            )

    def after_tick(self, farm: TankFarm) -> None:
        # Decided on the tick's end: that is the `ts` of the readings about to be published.
        down = self.start_s - 1e-9 <= farm.elapsed_s < self.start_s + self.duration_s - 1e-9
        if down and self._onset_ts is None:
            self._onset_ts = farm.ts
        if not down and self._down:
            self._end_ts = farm.ts
        self._down = down

    def gateways_down(self) -> frozenset[str]:
        return frozenset({self.key}) if self._down else frozenset()

    def truth(self) -> list[dict[str, Any]]:
        return [
            {
                "event": "gateway_outage",
                "category": "outage",
                "enterprise": self.enterprise,
                "gateway": self.gateway,
                "tags": list(self._tags),
                "onset_ts": self._onset_ts,
                "end_ts": self._end_ts,
                "should_alarm": [
                    {"tag": t, "condition": Condition.COMM_LOSS.label, "ts": self._onset_ts}
                    for t in self._tags
                ]
                if self._onset_ts is not None
                else [],
            }
        ]


class Script:
    """A farm run together with its scenarios; the one place that calls their hooks."""

    def __init__(self, farm: TankFarm, scenarios: Iterable[Scenario] = ()) -> None:
        self.farm = farm
        self.scenarios = tuple(scenarios)
        for s in self.scenarios:
            s.bind(farm)

    def tick(self, dt_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Advance the farm `dt_s` seconds with every scenario acting; return its readings
        (sensor indices and values of the sensors that report, see `TankFarm.tick`)."""
        for s in self.scenarios:
            s.before_tick(self.farm, dt_s)
        out = self.farm.tick(dt_s)
        for s in self.scenarios:
            s.after_tick(self.farm)
        return out

    def run(
        self,
        duration_s: float,
        dt_s: float,
        on_tick: Callable[[float, np.ndarray, np.ndarray], None] | None = None,
    ) -> int:
        """Tick until `duration_s` simulated seconds have passed (the last tick may be
        shorter); call `on_tick(ts, indices, values)` after each. Returns the tick count."""
        if not dt_s > 0:
            raise ValueError(f"dt_s must be > 0, got {dt_s}")
        end = self.farm.elapsed_s + duration_s
        ticks = 0
        for _ in range(int(np.ceil(duration_s / dt_s)) + 1):
            step = min(dt_s, end - self.farm.elapsed_s)
            if step <= 1e-9:
                break
            idx, values = self.tick(step)
            ticks += 1
            if on_tick is not None:
                on_tick(self.farm.ts, idx, values)
        return ticks

    def gateways_down(self) -> frozenset[str]:
        down: frozenset[str] = frozenset()
        for s in self.scenarios:
            down |= s.gateways_down()
        return down

    def truth(self) -> list[dict[str, Any]]:
        return [event for s in self.scenarios for event in s.truth()]

    def ground_truth(self, **meta: Any) -> dict[str, Any]:
        """The whole truth as one JSON-ready document: `meta` (e.g. scenario name, seed),
        the run's start and end, every event, and every alarm that should be raised."""
        events = self.truth()
        should = [
            {**a, "event": e["event"], "unit": e.get("unit")}
            for e in events
            for a in e.get("should_alarm", [])
        ]
        return {
            **meta,
            "start_ts": self.farm.start_ts,
            "end_ts": self.farm.ts,
            "events": events,
            "should_alarm": sorted(should, key=lambda a: (a["ts"] or 0.0, a["tag"])),
        }
