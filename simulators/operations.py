"""The simulated operators: when and how fast they move product in and out of the tanks.

An idle tank waits 10-60 minutes, then its operator starts a transfer toward a random
target well inside the tank's L..H band (filling if it has room, else emptying) at the
tank's pump rate, and stops on reaching it. A scenario can take a tank from the operators
(see TankFarm.force_flow); they take it back idle. A realism layer's `Pace` varies each
transfer's rate and keeps some tanks still at night.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hazardwatch.vocabulary.model import Sensor
from simulators.realism import Pace

_IDLE, _MOVING = 0, 1


@dataclass(frozen=True, slots=True)
class Operations:
    """How the (simulated) operators move product in and out of the tanks.

    Pump rates are fractions of the capacity per hour (a tank with a flow meter pumps at
    35-70 % of its flow H limit instead), so a 20 m tank fills at 0.6-2 m/h. Operators aim
    well inside the L..H band: a normal day raises no level alarm.
    """

    rate_span_per_h: tuple[float, float] = (0.03, 0.10)
    idle_s: tuple[float, float] = (600.0, 3600.0)
    band_margin: float = 0.10  # fraction of the L..H band kept clear at each end
    wander_tau_s: float = 300.0  # correlation time of generic/gas background wander


def operating_band(sensor: Sensor) -> tuple[float, float]:
    """Where a process value normally lives: between L and H, else the instrument range."""
    lim = sensor.limits
    lo = next((x for x in (lim.l, lim.ll) if x is not None), sensor.range_lo)
    hi = next((x for x in (lim.h, lim.hh) if x is not None), sensor.range_hi)
    lo, hi = max(lo, sensor.range_lo), min(hi, sensor.range_hi)
    if hi <= lo:  # inconsistent limits: fall back to the range rather than invent a band
        return sensor.range_lo, sensor.range_hi
    return lo, hi


class Operators:
    """The operators of every tank, as arrays: phase, target volume, pump flow, idle time."""

    def __init__(
        self,
        ops: Operations,
        band_lo_m3: np.ndarray,
        band_hi_m3: np.ndarray,
        pump_m3_s: np.ndarray,
        volume_m3: np.ndarray,
        rng: np.random.Generator,
        pace: Pace | None = None,
    ) -> None:
        n = volume_m3.size
        self.ops = ops
        self.pace = pace
        self.band_lo, self.band_hi = band_lo_m3, band_hi_m3
        self.pump_rate = pump_m3_s
        self._rng = rng
        self._phase = np.full(n, _IDLE, dtype=np.int8)
        self._target = volume_m3.copy()
        self._pump = np.zeros(n)  # m³/s, signed (+ into the tank)
        self._idle_left = rng.uniform(0.0, ops.idle_s[1], n)
        self.started = np.empty(0, np.int64)

    def targets(self, units: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Target volume (m³) and direction (+1 fill, -1 empty) of the transfers of `units`."""
        return self._target[units], np.where(self._pump[units] >= 0, 1, -1)

    def hand_back(self, unit: int) -> None:
        """A scenario returns a tank: idle, its next transfer after the shortest wait."""
        self._phase[unit] = _IDLE
        self._idle_left[unit] = self.ops.idle_s[0]

    def step(
        self, volume_m3: np.ndarray, dt: float, held: np.ndarray, resting: np.ndarray | bool = False
    ) -> np.ndarray:
        """The operators' net flow (m³/s) into each tank over the next `dt` seconds; tanks
        `held` by a scenario get 0 and keep their operator's state; `resting` tanks start
        no transfer (one under way runs to its end)."""
        ops, n = self.ops, volume_m3.size
        u_dir, u_target, u_idle = self._rng.random((3, n))
        vol, lo, hi = volume_m3, self.band_lo, self.band_hi
        self._idle_left -= dt
        start = (self._phase == _IDLE) & (self._idle_left <= 0) & ~held & ~np.asarray(resting)
        room = (hi - vol) / np.maximum(hi - lo, 1e-9)
        fill = u_dir < np.clip(room, 0.1, 0.9)
        reach = 0.3 + 0.7 * u_target
        target = np.where(fill, vol + (hi - vol) * reach, vol - (vol - lo) * reach)
        self._target = np.where(start, target, self._target)
        rate = self.pump_rate
        if self.pace is not None and self.pace.varies_rate and start.any():
            rate = np.minimum(rate * self.pace.factors(n), self.pace.max_m3_s)
        self._pump = np.where(start, rate * np.where(fill, 1.0, -1.0), self._pump)
        self._phase[start] = _MOVING
        self.started = np.flatnonzero(start)  # transfers begun this step (their plans)

        moving = (self._phase == _MOVING) & ~held
        new = vol + np.where(moving, self._pump * dt, 0.0)
        up, down = self._pump >= 0, self._pump < 0
        reached = moving & (up & (new >= self._target) | down & (new <= self._target))
        flow = np.where(moving, self._pump, 0.0)
        flow = np.where(reached, (self._target - vol) / max(dt, 1e-9), flow)
        self._phase[reached] = _IDLE
        wait = ops.idle_s[0] + (ops.idle_s[1] - ops.idle_s[0]) * u_idle
        self._idle_left = np.where(reached, wait, self._idle_left)
        return flow
