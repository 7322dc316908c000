"""Tank-farm physics: the true state of every tank and what its instruments read.

Everything is held in arrays, one row per tank or per sensor, and advanced with whole-array
numpy operations: a tick costs the same Python work for ten sensors as for a million.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hazardwatch.model import Kind, Sensor, Site, Unit

_IDLE, _MOVING = 0, 1
_KELVIN = 273.15


@dataclass(frozen=True, slots=True)
class Climate:
    """The ambient air: a daily cosine around a mean, peaking in the early afternoon."""

    mean_c: float = 15.0
    amplitude_c: float = 6.0
    peak_hour: float = 14.0  # local time
    utc_offset_h: float = 8.0  # China Standard Time

    def ambient_c(self, ts: float) -> float:
        """Air temperature at epoch seconds `ts`, in degC.

        >>> Climate().ambient_c(6 * 3600.0)  # 06:00 UTC is 14:00 at UTC+8
        21.0
        """
        hour = (ts / 3600.0 + self.utc_offset_h) % 24.0
        return self.mean_c + self.amplitude_c * math.cos(2 * math.pi * (hour - self.peak_hour) / 24)


@dataclass(frozen=True, slots=True)
class Operations:
    """How the (simulated) operators move product in and out of the tanks.

    Rates are fractions of the level range per hour, so a 20 m tank fills at 0.6-2 m/h.
    Operators aim well inside the L..H band: a normal day raises no level alarm.
    """

    rate_span_per_h: tuple[float, float] = (0.03, 0.10)
    idle_s: tuple[float, float] = (600.0, 3600.0)
    band_margin: float = 0.10  # fraction of the L..H band kept clear at each end
    liquid_tau_s: tuple[float, float] = (4 * 3600.0, 10 * 3600.0)  # lag behind the air
    wander_tau_s: float = 300.0  # correlation time of flow/generic/gas wander


NOISE_SPAN = 0.002  # instrument noise, standard deviation as a fraction of span
COUNTS = 10_000  # the instrument resolves at least this many steps over its span
VAPOUR_B_K = 2300.0  # Clausius-Clapeyron slope of a light hydrocarbon (propane ~2260 K)


def operating_band(sensor: Sensor) -> tuple[float, float]:
    """Where a process value normally lives: between L and H, else the instrument range."""
    lim = sensor.limits
    lo = next((x for x in (lim.l, lim.ll) if x is not None), sensor.range_lo)
    hi = next((x for x in (lim.h, lim.hh) if x is not None), sensor.range_hi)
    lo, hi = max(lo, sensor.range_lo), min(hi, sensor.range_hi)
    if hi <= lo:  # inconsistent limits: fall back to the range rather than invent a band
        return sensor.range_lo, sensor.range_hi
    return lo, hi


class TankFarm:
    """Every tank of a site, advanced together; `tick` returns one reading per sensor.

    Sensor indices follow `Site.iter_sensors()` (the same as `SensorTable.from_site`).
    All randomness comes from `rng`, so one seed gives one history.
    """

    def __init__(
        self,
        site: Site,
        rng: np.random.Generator,
        start_ts: float,
        *,
        climate: Climate | None = None,
        operations: Operations | None = None,
    ) -> None:
        self.site = site
        self.start_ts = float(start_ts)
        self.climate = climate or Climate()
        self.ops = operations or Operations()
        self._rng = rng
        self._elapsed = 0.0
        units: list[Unit] = []
        enterprises: list[str] = []
        sensors: list[Sensor] = []
        unit_of: list[int] = []
        level_ref: list[int] = []  # the first level sensor of each unit keeps its level
        for e in site.enterprises:
            for h in e.hazard_sources:
                for u in h.units:
                    level_ref.append(-1)
                    for s in u.sensors:
                        if s.kind == Kind.LEVEL and level_ref[-1] < 0:
                            level_ref[-1] = len(sensors)
                        sensors.append(s)
                        unit_of.append(len(units))
                    units.append(u)
                    enterprises.append(e.id)
        self.units: tuple[Unit, ...] = tuple(units)
        self.unit_enterprise: tuple[str, ...] = tuple(enterprises)
        self._sensors = sensors
        self._index = np.arange(len(sensors), dtype=np.int64)
        self._index.setflags(write=False)
        self._unit_of = np.asarray(unit_of, dtype=np.int64)
        self._level_ref = np.asarray(level_ref, dtype=np.int64)
        self._init_instruments()
        self._init_tanks()
        self._init_process()

    # ------------------------------------------------------------------ set-up

    def _init_instruments(self) -> None:
        lo = np.array([s.range_lo for s in self._sensors], dtype=np.float64)
        hi = np.array([s.range_hi for s in self._sensors], dtype=np.float64)
        span = np.maximum(hi - lo, 1e-9)
        self._lo, self._hi = lo, hi
        self._kind = np.array([int(s.kind) for s in self._sensors], dtype=np.int8)
        noise = NOISE_SPAN * span
        gas = (self._kind == Kind.GAS_COMBUSTIBLE) | (self._kind == Kind.GAS_TOXIC)
        level1 = np.array([self._gas_level1(s) for s in self._sensors], dtype=np.float64)
        # A detector near zero is quiet: its noise must not reach the first level by itself.
        self._noise_sd = np.where(gas, np.minimum(noise, 0.05 * level1), noise)
        # A power of ten, never coarser than one unit, so 1234/1000 prints as 1.234.
        decimals = np.maximum(0.0, -np.floor(np.log10(span / COUNTS)))
        self._inv_res = 10.0**decimals
        self._gas = np.flatnonzero(gas)
        self._level1 = level1

    @staticmethod
    def _gas_level1(s: Sensor) -> float:
        if s.limits.h is not None:
            return float(s.limits.h)
        return 0.05 * (s.range_hi - s.range_lo) if s.kind.is_gas else math.inf

    def _init_tanks(self) -> None:
        rng, ops, n_u = self._rng, self.ops, len(self.units)
        lo = np.zeros(n_u)
        top = np.full(n_u, 10.0)
        band_lo, band_hi = np.full(n_u, 2.0), np.full(n_u, 8.0)
        for k in np.flatnonzero(self._level_ref >= 0).tolist():
            s = self._sensors[self._level_ref[k]]
            lo[k], top[k] = s.range_lo, s.range_hi
            b_lo, b_hi = operating_band(s)
            width = b_hi - b_lo
            margin = min(
                max(ops.band_margin * width, 6 * NOISE_SPAN * (top[k] - lo[k])), 0.4 * width
            )
            band_lo[k], band_hi[k] = b_lo + margin, b_hi - margin
        self._tank_lo, self._tank_top = lo, top
        self._band_lo, self._band_hi = band_lo, band_hi
        self._span = np.maximum(top - lo, 1e-9)
        self._level = rng.uniform(band_lo, band_hi)
        self._phase = np.full(n_u, _IDLE, dtype=np.int8)
        self._target = self._level.copy()
        self._rate = np.zeros(n_u)  # level units per second, signed
        self._idle_left = rng.uniform(0.0, ops.idle_s[1], n_u)
        self._forced = np.full(n_u, np.nan)  # an inflow no operator stops (scenarios)
        # Liquid temperature: start on the steady daily cycle the lag would have settled into.
        self._tau = rng.uniform(*ops.liquid_tau_s, n_u)
        self._bias_c = rng.uniform(-1.0, 1.0, n_u)
        c = self.climate
        omega = 2 * math.pi / 86400.0
        hour = (self.start_ts / 3600.0 + c.utc_offset_h) % 24.0
        phase = 2 * math.pi * (hour - c.peak_hour) / 24 - np.arctan(omega * self._tau)
        gain = 1.0 / np.sqrt(1.0 + (omega * self._tau) ** 2)
        self._liquid_c = c.mean_c + self._bias_c + c.amplitude_c * gain * np.cos(phase)

    def _init_process(self) -> None:
        rng, n, kind, c = self._rng, len(self._sensors), self._kind, self.climate
        bands = np.array([operating_band(s) for s in self._sensors], dtype=np.float64).reshape(n, 2)
        mid, half = bands.mean(axis=1), (bands[:, 1] - bands[:, 0]) / 2
        # Flow, generic and gauge pressure on atmospheric tanks wander around mid-band.
        self._ou_mu = mid.copy()
        self._ou_sd = 0.1 * half
        combustible = kind == Kind.GAS_COMBUSTIBLE
        toxic = kind == Kind.GAS_TOXIC
        self._ou_mu[combustible] = rng.uniform(0.3, 1.2, int(combustible.sum()))
        self._ou_sd[combustible] = 0.15
        l1 = self._level1[toxic]
        self._ou_mu[toxic] = l1 * rng.uniform(0.02, 0.08, l1.size)
        self._ou_sd[toxic] = 0.02 * l1
        self._ou_x = self._ou_mu.copy()

        self._lvl = np.flatnonzero(kind == Kind.LEVEL)
        self._lvl_unit = self._unit_of[self._lvl]

        # Temperatures follow the air where the air fits the band; a heated product sits mid-band.
        self._tmp = np.flatnonzero(kind == Kind.TEMPERATURE)
        self._tmp_unit = self._unit_of[self._tmp]
        swing = c.amplitude_c + 1.0 + 6 * NOISE_SPAN * (self._hi - self._lo)
        fits = (bands[:, 0] <= c.mean_c - swing) & (c.mean_c + swing <= bands[:, 1])
        self._tmp_offset = np.where(fits, 0.0, mid - c.mean_c)[self._tmp]

        pressurised = np.array([u.pressurised for u in self.units], dtype=bool)
        on_vessel = (kind == Kind.PRESSURE) & pressurised[self._unit_of]
        self._prs = np.flatnonzero(on_vessel)
        self._prs_unit = self._unit_of[self._prs]
        t_ref = c.mean_c + self._bias_c[self._prs_unit] + _KELVIN
        # Scale so a full swing of the air moves the pressure half-way to L or H.
        full = np.expm1(VAPOUR_B_K * (c.amplitude_c + 1.0) / t_ref**2)
        self._prs_tref_k = t_ref
        self._prs_mid = mid[self._prs]
        self._prs_k = 0.5 * half[self._prs] / np.maximum(full, 1e-9)

    # ------------------------------------------------------------------ state

    @property
    def ts(self) -> float:
        """Simulated time now, epoch seconds."""
        return self.start_ts + self._elapsed

    @property
    def elapsed_s(self) -> float:
        return self._elapsed

    @property
    def n_sensors(self) -> int:
        return len(self._sensors)

    @property
    def level(self) -> np.ndarray:
        """True level per unit (read-only), in the unit of its first level sensor."""
        view = self._level.view()
        view.setflags(write=False)
        return view

    @property
    def liquid_temp_c(self) -> np.ndarray:
        """True liquid temperature per unit (read-only), degC."""
        view = self._liquid_c.view()
        view.setflags(write=False)
        return view

    def level_sensor(self, unit: int) -> tuple[int, Sensor] | None:
        """Index and definition of the unit's first level sensor, the one its level is kept in."""
        i = int(self._level_ref[unit])
        return None if i < 0 else (i, self._sensors[i])

    def open_inflow(self, unit: int, rate_per_s: float) -> None:
        """Open an inflow that no operator stops: the level rises until the tank overflows."""
        self._forced[unit] = float(rate_per_s)

    # ------------------------------------------------------------------ time

    def tick(self, dt_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Advance `dt_s` seconds; return (sensor indices, readings) for every sensor."""
        if not dt_s >= 0.0:
            raise ValueError(f"dt_s must be >= 0, got {dt_s}")
        t0 = self.ts
        self._elapsed += dt_s
        self._step_levels(dt_s)
        self._step_temperature(t0, dt_s)
        return self._index, self._read(dt_s)

    def _step_levels(self, dt: float) -> None:
        rng, ops = self._rng, self.ops
        n_u = self._level.size
        u_dir, u_target, u_rate, u_idle = rng.random((4, n_u))
        forced = ~np.isnan(self._forced)
        level = self._level

        # Operators start a transfer when a tank has idled long enough: fill if it has room.
        self._idle_left -= dt
        start = (self._phase == _IDLE) & (self._idle_left <= 0) & ~forced
        room = (self._band_hi - level) / np.maximum(self._band_hi - self._band_lo, 1e-9)
        fill = u_dir < np.clip(room, 0.1, 0.9)
        reach = 0.3 + 0.7 * u_target
        target = np.where(
            fill, level + (self._band_hi - level) * reach, level - (level - self._band_lo) * reach
        )
        lo_r, hi_r = ops.rate_span_per_h
        rate = self._span * (lo_r + (hi_r - lo_r) * u_rate) / 3600.0 * np.where(fill, 1.0, -1.0)
        self._target = np.where(start, target, self._target)
        self._rate = np.where(start, rate, self._rate)
        self._phase[start] = _MOVING

        moving = (self._phase == _MOVING) & ~forced
        new = level + np.where(moving, self._rate * dt, 0.0)
        reached = moving & (
            (self._rate >= 0) & (new >= self._target) | (self._rate < 0) & (new <= self._target)
        )
        new = np.where(reached, self._target, new)
        self._phase[reached] = _IDLE
        self._idle_left = np.where(
            reached, ops.idle_s[0] + (ops.idle_s[1] - ops.idle_s[0]) * u_idle, self._idle_left
        )

        new = np.where(forced, level + np.nan_to_num(self._forced) * dt, new)
        self._level = np.clip(new, self._tank_lo, self._tank_top)  # empty, or overflowing

    def _step_temperature(self, t0: float, dt: float) -> None:
        if dt <= 0:
            return
        air = self.climate.ambient_c(t0 + dt / 2) + self._bias_c
        self._liquid_c += (air - self._liquid_c) * -np.expm1(-dt / self._tau)

    def _read(self, dt: float) -> np.ndarray:
        rng = self._rng
        n = self._index.size
        a = np.exp(-dt / self.ops.wander_tau_s)
        shock = rng.standard_normal(n)
        self._ou_x = (
            self._ou_mu
            + (self._ou_x - self._ou_mu) * a
            + self._ou_sd * math.sqrt(1 - a * a) * shock
        )
        true = self._ou_x.copy()
        true[self._gas] = np.maximum(true[self._gas], 0.0)
        true[self._lvl] = self._level[self._lvl_unit]
        true[self._tmp] = self._liquid_c[self._tmp_unit] + self._tmp_offset
        t_k = self._liquid_c[self._prs_unit] + _KELVIN
        vapour = np.expm1(VAPOUR_B_K * (1.0 / self._prs_tref_k - 1.0 / t_k))
        true[self._prs] = self._prs_mid + self._prs_k * vapour

        value = true + self._noise_sd * rng.standard_normal(n)
        value = np.rint(value * self._inv_res) / self._inv_res
        np.clip(value, self._lo, self._hi, out=value)
        value[self._gas] = np.maximum(value[self._gas], 0.0)
        return value
