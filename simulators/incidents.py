"""The incidents, operations and faults a scenario can script, beyond overfill and outage.

Each acts on one unit (or one sensor) of the farm from `start_s` for `duration_s` (None: to
the end of the run) and reports its ground truth (see simulators.scenario).
"""

from __future__ import annotations

from typing import Any

from hazardwatch.vocabulary.model import Kind
from simulators.dispersion import FIRST_DETECTOR_DEG, gas_of
from simulators.instruments import Fault, FaultKind
from simulators.physics import Release, TankFarm
from simulators.scenario import Incident, Scenario, ScenarioError
from simulators.thermal import COIL_RATE_C_PER_H

# What a detector should find when an instrument fault is injected (condition labels).
FAULT_CONDITIONS = {
    FaultKind.STUCK: ["stuck"],
    FaultKind.SPIKE: ["spike"],
    FaultKind.DROPOUT: ["comm_loss"],
    FaultKind.BIAS: ["drift"],
    FaultKind.NOISE_BURST: ["noisy"],
    FaultKind.DRIFT: ["drift"],
}


def _positive(what: str, value: float) -> float:
    if not value > 0:
        raise ScenarioError(f"{what} must be > 0, got {value}")
    return float(value)


class Transfer(Incident):
    """A pump transfer into (`direction` "in") or out of ("out") a tank at `rate_m3_h`,
    stopped after `duration_s` or when the level reaches `to_level` (level sensor units)."""

    kind = "transfer"
    category = "operation"

    def __init__(
        self,
        unit_id: str,
        start_s: float,
        rate_m3_h: float,
        direction: str = "in",
        duration_s: float | None = None,
        to_level: float | None = None,
    ) -> None:
        super().__init__(unit_id, start_s, duration_s)
        if direction not in ("in", "out"):
            raise ScenarioError(f"{self.kind} of {unit_id!r}: direction must be 'in' or 'out'")
        self.rate_m3_h = _positive(f"{self.kind} of {unit_id!r}: rate_m3_h", rate_m3_h)
        self.direction = direction
        self.to_level = to_level

    def _sign(self) -> float:
        return 1.0 if self.direction == "in" else -1.0

    def start(self, farm: TankFarm) -> None:
        if self.to_level is not None:  # a transfer to a level is a planned one
            farm.plan(self.unit, self.to_level, int(self._sign()), self.kind)
        farm.force_flow(self.unit, self._sign() * self.rate_m3_h / 3600.0)

    def stop(self, farm: TankFarm) -> None:
        farm.force_flow(self.unit, None)

    def after_tick(self, farm: TankFarm) -> None:
        super().after_tick(farm)
        if not self.active():
            return
        level = float(farm.level[self.unit])
        volume = float(farm.volume_m3[self.unit])
        reached = self.to_level is not None and (level - self.to_level) * self._sign() >= 0
        if reached or (self._sign() < 0 and volume <= 1e-9):
            self.finish(farm)

    def params(self) -> dict[str, Any]:
        return {"direction": self.direction, "rate_m3_h": self.rate_m3_h, "to_level": self.to_level}


class MaintenanceDrain(Transfer):
    """The tank is pumped out for maintenance, to `to_level` (default empty): its level
    alarms fire physically; a unit in maintenance mode should have them suppressed."""

    kind = "maintenance_drain"
    category = "maintenance"

    def __init__(
        self, unit_id: str, start_s: float, rate_m3_h: float, to_level: float | None = None
    ) -> None:
        super().__init__(unit_id, start_s, rate_m3_h, "out", None, to_level)

    def params(self) -> dict[str, Any]:
        return {**super().params(), "maintenance": True}


class Leak(Incident):
    """A release of `rate_kg_s` at the tank's shell (bearing `bearing_deg`, default the side
    of its first gas detector), growing linearly over `ramp_s`; `gas` overrides the gas the
    product gives off."""

    kind = "leak"
    emits_gas = True

    def __init__(
        self,
        unit_id: str,
        start_s: float,
        rate_kg_s: float,
        duration_s: float | None = None,
        ramp_s: float = 0.0,
        gas: str | None = None,
        bearing_deg: float = FIRST_DETECTOR_DEG,
    ) -> None:
        super().__init__(unit_id, start_s, duration_s)
        self.rate_kg_s = _positive(f"leak at {unit_id!r}: rate_kg_s", rate_kg_s)
        self.ramp_s = max(float(ramp_s), 0.0)
        self.gas = gas
        self.bearing_deg = float(bearing_deg)
        self._release: Release | None = None

    def check(self, farm: TankFarm) -> None:
        name = self.gas or farm.units[self.unit].substance
        if gas_of(name) is None:
            raise ScenarioError(
                f"leak at {self.unit_id!r}: no known gas for {name!r}; give `gas` (e.g. H2S)"
            )

    def start(self, farm: TankFarm) -> None:
        self._release = farm.add_release(self.unit, 0.0, self.gas, self.bearing_deg)

    def before_tick(self, farm: TankFarm, dt_s: float) -> None:
        super().before_tick(farm, dt_s)
        if self._release is not None and self.active():
            since = farm.elapsed_s + dt_s / 2 - self.start_s
            grown = 1.0 if self.ramp_s <= 0 else min(1.0, max(since, 0.0) / self.ramp_s)
            self._release.rate_kg_s = self.rate_kg_s * grown

    def stop(self, farm: TankFarm) -> None:
        if self._release is not None:
            self._release.rate_kg_s = 0.0

    def params(self) -> dict[str, Any]:
        gas = self._release.gas if self._release is not None else self.gas
        return {"rate_kg_s": self.rate_kg_s, "ramp_s": self.ramp_s, "gas": gas,
                "bearing_deg": self.bearing_deg}  # fmt: skip


class HeatingFailure(Incident):
    """The heating coil stops: a heated product drifts toward the air temperature."""

    kind = "heating_failure"

    def start(self, farm: TankFarm) -> None:
        farm.thermal.heat_factor[self.unit] = 0.0

    def stop(self, farm: TankFarm) -> None:
        farm.thermal.heat_factor[self.unit] = 1.0


class HeatingRunaway(Incident):
    """The heating runs on regardless of the thermostat at `power_factor` times the coil's
    rating (a steam valve stuck open); a tank without a coil gets a standard one."""

    kind = "heating_runaway"

    def __init__(
        self,
        unit_id: str,
        start_s: float,
        power_factor: float = 3.0,
        duration_s: float | None = None,
    ) -> None:
        super().__init__(unit_id, start_s, duration_s)
        self.power_factor = _positive(f"heating runaway of {unit_id!r}: power_factor", power_factor)

    def start(self, farm: TankFarm) -> None:
        th, k = farm.thermal, self.unit
        if th.heat_w[k] <= 0:
            th.heat_w[k] = th.rho_c[k] * th.geometry.capacity_m3[k] * COIL_RATE_C_PER_H / 3600
        th.runaway[k] = True
        th.heat_factor[k] = self.power_factor

    def stop(self, farm: TankFarm) -> None:
        farm.thermal.runaway[self.unit] = False
        farm.thermal.heat_factor[self.unit] = 1.0

    def params(self) -> dict[str, Any]:
        return {"power_factor": self.power_factor}


class CoolingFailure(Incident):
    """Cooling (refrigeration or the water spray) stops."""

    kind = "cooling_failure"

    def start(self, farm: TankFarm) -> None:
        farm.thermal.cool_factor[self.unit] = 0.0

    def stop(self, farm: TankFarm) -> None:
        farm.thermal.cool_factor[self.unit] = 1.0


class FireExposure(Incident):
    """A pool fire under the tank heats `exposed_fraction` of its wetted shell (API 521)."""

    kind = "fire"

    def __init__(
        self,
        unit_id: str,
        start_s: float,
        exposed_fraction: float = 1.0,
        duration_s: float | None = None,
    ) -> None:
        super().__init__(unit_id, start_s, duration_s)
        if not 0 < exposed_fraction <= 1:
            raise ScenarioError(f"fire at {unit_id!r}: exposed_fraction must be in (0, 1]")
        self.exposed_fraction = float(exposed_fraction)

    def start(self, farm: TankFarm) -> None:
        farm.thermal.fire_fraction[self.unit] = self.exposed_fraction

    def stop(self, farm: TankFarm) -> None:
        farm.thermal.fire_fraction[self.unit] = 0.0

    def params(self) -> dict[str, Any]:
        return {"exposed_fraction": self.exposed_fraction}


class PaddingGas(Incident):
    """The padding-gas regulator fails open: pressure builds at `rate_kpa_per_min` above the
    vapour pressure until the end, when the vessel is vented back."""

    kind = "padding_gas"

    def __init__(
        self,
        unit_id: str,
        start_s: float,
        rate_kpa_per_min: float,
        duration_s: float | None = None,
    ) -> None:
        super().__init__(unit_id, start_s, duration_s)
        self.rate_kpa_per_min = _positive(
            f"padding gas of {unit_id!r}: rate_kpa_per_min", rate_kpa_per_min
        )

    def check(self, farm: TankFarm) -> None:
        if not any(farm.sensors[i].kind == Kind.PRESSURE for i in self._sensors):
            raise ScenarioError(f"padding gas: unit {self.unit_id!r} has no pressure sensor")

    def before_tick(self, farm: TankFarm, dt_s: float) -> None:
        super().before_tick(farm, dt_s)
        if self.active():
            farm.pad_kpa[self.unit] += self.rate_kpa_per_min * dt_s / 60.0

    def stop(self, farm: TankFarm) -> None:
        farm.pad_kpa[self.unit] = 0.0

    def params(self) -> dict[str, Any]:
        return {"rate_kpa_per_min": self.rate_kpa_per_min}


class SensorFault(Scenario):
    """An instrument fault on `tag` from `start_s` for `duration_s` (see FaultKind)."""

    def __init__(
        self,
        tag: str,
        fault: str,
        start_s: float,
        duration_s: float,
        magnitude: float | None = None,
    ) -> None:
        try:
            self.fault = FaultKind(fault)
        except ValueError:
            kinds = ", ".join(k.value for k in FaultKind)
            raise ScenarioError(
                f"sensor fault on {tag!r}: fault {fault!r} is not one of {kinds}"
            ) from None
        self.tag = tag
        self.start_s = float(start_s)
        self.duration_s = _positive(f"sensor fault on {tag!r}: duration_s", duration_s)
        self.magnitude = magnitude
        self._fault: Fault | None = None

    def bind(self, farm: TankFarm) -> None:
        i = farm.tag_index.get(self.tag)
        if i is None:
            raise ScenarioError(f"sensor fault: no sensor tagged {self.tag!r} in the site")
        start = farm.start_ts + self.start_s
        self._fault = farm.instruments.add_fault(
            i, self.fault, start, start + self.duration_s, self.magnitude
        )

    def truth(self) -> list[dict[str, Any]]:
        f = self._fault
        if f is None:
            return []
        return [
            {
                "event": "sensor_fault",
                "category": "fault",
                "tag": self.tag,
                "fault": self.fault.value,
                "magnitude": f.magnitude,
                "onset_ts": f.start_ts,
                "end_ts": f.end_ts,
                "should_alarm": [
                    {"tag": self.tag, "condition": c, "ts": f.start_ts}
                    for c in FAULT_CONDITIONS[self.fault]
                ],
            }
        ]


__all__ = [
    "CoolingFailure",
    "FireExposure",
    "HeatingFailure",
    "HeatingRunaway",
    "Leak",
    "MaintenanceDrain",
    "PaddingGas",
    "SensorFault",
    "Transfer",
]
