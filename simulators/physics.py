"""Tank-farm physics: the true state of every tank and what its instruments read.

Everything is held in arrays, one row per tank or per sensor, and advanced with whole-array
numpy operations: a tick costs the same Python work for ten sensors as for a million.

- Level: a mass balance in m³ (the operators' pump transfers, simulators.operations;
  scenario flows; leaks), turned into level through each tank's geometry
  (hazardwatch.vocabulary.geometry); a tank overflows at the top of its level range, and an
  atmospheric tank's overflow evaporates 2 % of the spilled mass round its shell. Level
  sensors in m, cm or mm measure from the bottom; others (e.g. %) span the tank's height.
- Temperature: simulators.thermal (air, sun, coils, spray, fire, liquid inertia).
- Pressure: simulators.pressure (vapour pressure of liquefied gases, breather valves).
- Flow: the tank's net pump transfer, m³/h. Gas: a small background plus the plumes of
  every release (simulators.dispersion) through the detector's response. Generic sensors
  wander around mid-band.
- Instruments: simulators.instruments (noise, resolution, drift, faults).
- Realism (simulators.realism, off by default): the instruments' noise, steps and gas
  habits, the gateways' reporting (periods, report by exception), transfers at varied
  rates, quiet nights, and the level's thermal expansion.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from hazardwatch.vocabulary.geometry import Geometry, height_from_capacity, shape_of
from hazardwatch.vocabulary.model import Kind, Sensor, Site, TransferPlan, Unit
from simulators.dispersion import GasField, Layout, Release, gas_of
from simulators.instruments import NOISE_SPAN, Instruments, gas_level1
from simulators.operations import Operations, Operators, operating_band
from simulators.pressure import PressureGauges
from simulators.realism import Pace, Readout, Realism, expansion_per_k
from simulators.thermal import Thermal, product
from simulators.weather import Climate, Wind

__all__ = ["NOISE_SPAN", "Climate", "Operations", "TankFarm", "operating_band"]

_LENGTH_M = {"m": 1.0, "cm": 0.01, "mm": 0.001}
SPILL_VAPOUR_FRACTION = 0.02
SPRAY_FLOW_SPAN = 0.6  # a running spray's water flow, as a share of its meter's range
MAX_PENDING_PLANS = 10_000  # transfer plans kept for a runner to take (oldest dropped)
SPILL_VAPOUR_MAX_KG_S = 5.0
SPILL_BEARINGS = (0.0, 90.0, 180.0, 270.0)


class TankFarm:
    """Every tank of a site, advanced together; `tick` returns the readings of a step.

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
        realism: Realism | None = None,
    ) -> None:
        self.site = site
        self.realism = realism or Realism()
        # Off, the layer draws nothing: today's streams and readings stay bit for bit.
        self.readout = Readout(self.realism, site) if self.realism.active else None
        self.start_ts = float(start_ts)
        self.climate = climate or Climate()
        self.ops = operations or Operations()
        # Independent streams, so that a sensor added to one tank does not reshuffle every
        # other tank's state: the tanks (levels, pumps, operators), their heat, the weather,
        # and the instruments (whose stream also draws each tick's noise).
        tanks_rng, heat_rng, weather_rng, self._rng = rng.spawn(4)
        self._tanks_rng = tanks_rng
        self._elapsed = 0.0
        units: list[Unit] = []
        enterprises: list[str] = []
        sensors: list[Sensor] = []
        unit_of: list[int] = []
        for e in site.enterprises:
            for h in e.hazard_sources:
                for u in h.units:
                    for s in u.sensors:
                        sensors.append(s)
                        unit_of.append(len(units))
                    units.append(u)
                    enterprises.append(e.id)
        self.units: tuple[Unit, ...] = tuple(units)
        self.unit_enterprise: tuple[str, ...] = tuple(enterprises)
        self.sensors: tuple[Sensor, ...] = tuple(sensors)
        self.tag_index = {s.tag: i for i, s in enumerate(sensors)}
        self._index = np.arange(len(sensors), dtype=np.int64)
        self._index.setflags(write=False)
        self._unit_of = np.asarray(unit_of, dtype=np.int64)
        self._kind = np.array([int(s.kind) for s in sensors], dtype=np.int8)
        # Cooling status sensors (the spray's water flow) read the cooling, not the pumps.
        status = {u.cooling.status for u in units if u.cooling is not None}
        self._is_status = np.array([s.tag in status for s in sensors], dtype=bool)
        self._status = np.flatnonzero(self._is_status)
        self._first = {k: self._first_sensor(k) for k in (Kind.LEVEL, Kind.TEMPERATURE, Kind.FLOW)}
        self._level_ref = self._first[Kind.LEVEL]
        self.instruments = Instruments(sensors, self._rng, self.readout)
        self._init_geometry()
        self.layout = Layout(site, self.geometry.radius_m)
        self.wind = Wind(self.climate, weather_rng)
        self._init_tanks()
        temp_ref = self._first[Kind.TEMPERATURE]
        bands = np.array(
            [operating_band(sensors[i]) if i >= 0 else (np.nan, np.nan) for i in temp_ref]
        ).reshape(-1, 2)
        pressurised = np.array([u.pressurised for u in units], dtype=bool)
        self.thermal = Thermal(
            self.geometry, [product(u.substance) for u in units], bands, pressurised,
            self.climate, heat_rng, self.start_ts, self._volume, self.level_m,
        )  # fmt: skip
        self._init_sensors()
        self._init_expansion()
        self._spill: dict[int, list[Release]] = {}
        self.spilled_m3 = np.zeros(len(units))
        self._true = np.zeros(len(sensors))
        self.last_mask: np.ndarray | None = None
        self.ticks = 0
        # Bounded: a runner that never takes them (a CSV recording) must not grow without end.
        self.plans: deque[TransferPlan] = deque(maxlen=MAX_PENDING_PLANS)

    def _first_sensor(self, kind: Kind) -> np.ndarray:
        out = np.full(len(self.units), -1, dtype=np.int64)
        for i in np.flatnonzero((self._kind == kind) & ~self._is_status)[::-1].tolist():
            out[self._unit_of[i]] = i
        return out

    # ------------------------------------------------------------------ set-up

    def _level_scale(self, s: Sensor, height_m: float) -> tuple[float, float]:
        """(reading at empty, metres per reading unit) of a level sensor on a tank."""
        per_m = _LENGTH_M.get(s.unit.strip().lower())
        if per_m is not None:
            return 0.0, per_m
        return s.range_lo, height_m / max(s.range_hi - s.range_lo, 1e-9)

    def _init_geometry(self) -> None:
        shapes, heights, caps = [], [], []
        for k, u in enumerate(self.units):
            shape = shape_of(u.type, u.pressurised)
            ref = int(self._level_ref[k])
            per_m = _LENGTH_M.get(self.sensors[ref].unit.strip().lower()) if ref >= 0 else None
            if per_m is not None and self.sensors[ref].range_hi > 0:
                height = self.sensors[ref].range_hi * per_m
            else:
                height = height_from_capacity(shape, u.capacity_m3)
            shapes.append(shape)
            heights.append(height)
            caps.append(u.capacity_m3)
        self.geometry = Geometry.build(shapes, heights, caps)
        self._lvl = np.flatnonzero(self._kind == Kind.LEVEL)
        self._lvl_unit = self._unit_of[self._lvl]
        scales = [
            self._level_scale(self.sensors[i], float(self.geometry.height_m[self._unit_of[i]]))
            for i in self._lvl.tolist()
        ]
        self._lvl_zero = np.array([z for z, _ in scales], dtype=np.float64)
        self._lvl_m_per = np.array([m for _, m in scales], dtype=np.float64)

    def _to_m(self, unit: np.ndarray, reading: np.ndarray) -> np.ndarray:
        """Level readings of each unit's reference sensor to metres."""
        ref = self._level_ref[unit]
        pos = np.searchsorted(self._lvl, ref)
        return (reading - self._lvl_zero[pos]) * self._lvl_m_per[pos]

    def _from_m(self, unit: np.ndarray, level_m: np.ndarray) -> np.ndarray:
        """Levels in metres to readings of each unit's reference sensor (`_to_m` inverted)."""
        pos = np.searchsorted(self._lvl, self._level_ref[unit])
        return self._lvl_zero[pos] + level_m / self._lvl_m_per[pos]

    def _init_tanks(self) -> None:
        rng, ops, g, n_u = self._tanks_rng, self.ops, self.geometry, len(self.units)
        band_lo, band_hi = 0.2 * g.height_m, 0.8 * g.height_m
        has_ref = np.flatnonzero(self._level_ref >= 0)
        for k in has_ref.tolist():
            s = self.sensors[self._level_ref[k]]
            b_lo, b_hi = operating_band(s)
            width = b_hi - b_lo
            margin = min(
                max(ops.band_margin * width, 6 * NOISE_SPAN * (s.range_hi - s.range_lo)),
                0.4 * width,
            )
            band_lo[k], band_hi[k] = b_lo + margin, b_hi - margin
        if has_ref.size:
            band_lo[has_ref] = self._to_m(has_ref, band_lo[has_ref])
            band_hi[has_ref] = self._to_m(has_ref, band_hi[has_ref])
        self._volume = g.volume(rng.uniform(band_lo, band_hi))
        self.level_m = g.level(self._volume)
        self._forced = np.full(n_u, np.nan)  # a flow no operator stops (scenarios), m³/s
        self.net_flow_m3_s = np.zeros(n_u)
        lo_r, hi_r = ops.rate_span_per_h
        rate = g.capacity_m3 * rng.uniform(lo_r, hi_r, n_u) / 3600.0
        for k, i in enumerate(self._first[Kind.FLOW].tolist()):
            s = self.sensors[i] if i >= 0 else None
            if s is not None and s.unit.strip().lower() in ("m3/h", "m³/h"):
                rate[k] = operating_band(s)[1] * rng.uniform(0.35, 0.7) / 3600.0
        self._pump_rate = rate
        pace = None
        if self.realism.active:
            pace = Pace(self.realism, n_u)
            pace.max_m3_s = self._max_pump_m3_s(band_lo, band_hi)
        self.operators = Operators(
            ops, g.volume(band_lo), g.volume(band_hi), rate, self._volume, rng, pace
        )
        self._density = np.array([product(u.substance).density_kg_m3 for u in self.units])

    def _max_pump_m3_s(self, band_lo_m: np.ndarray, band_hi_m: np.ndarray) -> np.ndarray:
        """The fastest a transfer may run: 80 % of the tank's rated fill rate where its
        narrowest cross-section in the band is, and 90 % of its flow meter's H."""
        g, out = self.geometry, np.full(len(self.units), np.inf)
        step = 1e-3 * g.height_m
        area = np.minimum(
            (g.volume(band_lo_m + step) - g.volume(band_lo_m)) / step,
            (g.volume(band_hi_m) - g.volume(band_hi_m - step)) / step,
        )
        for k, i in enumerate(self._level_ref.tolist()):
            rated = None if i < 0 else self.sensors[i].trend.rate_limit_per_min
            if rated is not None:
                pos = int(np.searchsorted(self._lvl, i))
                out[k] = 0.8 * rated * self._lvl_m_per[pos] / 60.0 * area[k]
        for k, i in enumerate(self._first[Kind.FLOW].tolist()):
            s = self.sensors[i] if i >= 0 else None
            if s is not None and s.unit.strip().lower() in ("m3/h", "m³/h"):
                out[k] = min(out[k], 0.9 * operating_band(s)[1] / 3600.0)
        # Never below the routine rate itself (the operators' own choice stays possible).
        return np.maximum(out, self._pump_rate)

    def _init_expansion(self) -> None:
        """Thermal expansion (realism): the liquid's volume grows by its expansion
        coefficient per kelvin above the temperature it had at the start; the mass balance
        keeps volumes at that reference temperature."""
        self._beta: np.ndarray | None = None
        if self.realism.thermal_expansion:
            self._beta = np.array([expansion_per_k(u.substance) for u in self.units])
            self._ref_c = self.thermal.liquid_c.copy()
            self.level_m = self._level_of(self._volume)

    def _level_of(self, volume_m3: np.ndarray) -> np.ndarray:
        """Level (m) of the liquid whose volume at the reference temperature is `volume_m3`."""
        if self._beta is None:
            return self.geometry.level(volume_m3)
        grown = volume_m3 * (1.0 + self._beta * (self.thermal.liquid_c - self._ref_c))
        return self.geometry.level(np.clip(grown, 0.0, self.geometry.capacity_m3))

    def _init_sensors(self) -> None:
        rng, n, kind, sensors = self._rng, len(self.sensors), self._kind, self.sensors
        bands = np.array([operating_band(s) for s in sensors], dtype=np.float64).reshape(n, 2)
        mid, half = bands.mean(axis=1), (bands[:, 1] - bands[:, 0]) / 2
        self._ou_mu, self._ou_sd = mid.copy(), 0.1 * half
        combustible, toxic = kind == Kind.GAS_COMBUSTIBLE, kind == Kind.GAS_TOXIC
        self._ou_mu[combustible] = rng.uniform(0.3, 1.2, int(combustible.sum()))
        # A detector's zero is steady: the background wanders less than the cell's own noise.
        self._ou_sd[combustible] = 0.05
        l1 = np.array([gas_level1(s) for s in sensors])[toxic]
        self._ou_mu[toxic] = l1 * rng.uniform(0.02, 0.08, l1.size)
        self._ou_sd[toxic] = 0.005 * l1
        self._ou_x = self._ou_mu.copy()
        self._tmp = np.flatnonzero(kind == Kind.TEMPERATURE)
        self._flw = np.flatnonzero((kind == Kind.FLOW) & ~self._is_status)
        self._flw_per_m3h = np.array(
            [1.0 if sensors[i].unit.strip().lower() in ("m3/h", "m³/h") else math.nan
             for i in self._flw.tolist()]
        )  # fmt: skip
        prs = np.flatnonzero(kind == Kind.PRESSURE)
        self._prs = prs
        self.pressure = PressureGauges(
            [sensors[i] for i in prs.tolist()], self._unit_of[prs], self.units, bands[prs]
        )
        self.pad_kpa = np.zeros(len(self.units))  # padding gas a scenario adds, kPa
        self.gas = GasField(self.layout, self.sensors)

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
        return len(self.sensors)

    @property
    def volume_m3(self) -> np.ndarray:
        """True liquid volume per unit (read-only), m³."""
        return _read_only(self._volume)

    @property
    def level(self) -> np.ndarray:
        """True level per unit (read-only), in the unit of its first level sensor (else m)."""
        out = self.level_m.copy()
        has = np.flatnonzero(self._level_ref >= 0)
        out[has] = self._from_m(has, self.level_m[has])
        return _read_only(out)

    @property
    def liquid_temp_c(self) -> np.ndarray:
        """True liquid temperature per unit (read-only), degC."""
        return _read_only(self.thermal.liquid_c)

    @property
    def true_values(self) -> np.ndarray:
        """Noise-free value of every sensor after the last tick (read-only), sensor units."""
        return _read_only(self._true)

    def unit_index(self, unit_id: str) -> int:
        """The index of a unit by id; -1 if there is none, -2 if the id is ambiguous."""
        hits = [k for k, u in enumerate(self.units) if u.id == unit_id]
        return hits[0] if len(hits) == 1 else (-1 if not hits else -2)

    def level_sensor(self, unit: int) -> tuple[int, Sensor] | None:
        """Index and definition of the unit's first level sensor, the one its level is kept in."""
        i = int(self._level_ref[unit])
        return None if i < 0 else (i, self.sensors[i])

    def force_flow(self, unit: int, m3_per_s: float | None) -> None:
        """Hold a unit's net pump flow (m³/s, + in) past the operators; None hands it back."""
        self._forced[unit] = math.nan if m3_per_s is None else float(m3_per_s)
        if m3_per_s is None:
            self.operators.hand_back(unit)

    def forced_flow(self, unit: int) -> float | None:
        """The flow (m³/s) a scenario holds on a unit, or None if the operators have it."""
        q = float(self._forced[unit])
        return None if math.isnan(q) else q

    def open_inflow(self, unit: int, rate_per_s: float) -> None:
        """Open an inflow that no operator stops, in level units per second at today's level."""
        here = float(self.level[unit])
        step = 1e-4 * float(self.geometry.height_m[unit])
        dv = self.volume_at(unit, here + step) - self.volume_at(unit, here - step)
        self.force_flow(unit, dv / (2 * step) * rate_per_s)

    def volume_at(self, unit: int, level: float) -> float:
        """The volume (m³) of a unit at `level`, in its level sensor's unit (else metres)."""
        h = self.level_m.copy()
        ref = self.level_sensor(unit)
        if ref is None:
            h[unit] = level
        else:
            pos = int(np.searchsorted(self._lvl, ref[0]))
            h[unit] = (level - self._lvl_zero[pos]) * self._lvl_m_per[pos]
        return float(self.geometry.volume(h)[unit])

    def set_volume(self, unit: int, volume_m3: float) -> None:
        """Put `volume_m3` of liquid in a unit now (a scenario's or a test's starting state)."""
        self._volume[unit] = min(max(float(volume_m3), 0.0), float(self.geometry.capacity_m3[unit]))
        self.level_m = self._level_of(self._volume)

    def unit_sensors(self, unit: int) -> list[int]:
        """Indices of a unit's sensors."""
        return np.flatnonzero(self._unit_of == unit).tolist()

    def add_release(
        self, unit: int, rate_kg_s: float, gas: str | None = None, bearing_deg: float = 45.0
    ) -> Release:
        """Start a gas release at a unit's shell; change `rate_kg_s` on the returned object."""
        name = gas_of(gas or self.units[unit].substance)
        if name is None:
            raise ValueError(f"unit {self.units[unit].id!r}: no known gas for a release")
        return self.gas.add(unit, float(rate_kg_s), name, bearing_deg)

    @property
    def releases(self) -> list[Release]:
        """Gas releases so far (leaks, overflow vapour); rates may have fallen to 0."""
        return self.gas.releases

    # ------------------------------------------------------------------ time

    def tick(self, dt_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Advance `dt_s` seconds; return (sensor indices, readings) of the sensors that
        report (all of them but those in dropout)."""
        if not dt_s >= 0.0:
            raise ValueError(f"dt_s must be >= 0, got {dt_s}")
        t0 = self.ts
        self._elapsed += dt_s
        if dt_s > 0:
            self.wind.step(dt_s)
        self._step_volumes(dt_s)
        self.thermal.step(t0, dt_s, self._volume, self.level_m)
        if self._beta is not None:  # the level follows the liquid's new temperature
            self.level_m = self._level_of(self._volume)
        self._true = self._true_values(dt_s)
        values, mask = self.instruments.read(self._true, self.ts, dt_s, self._rng)
        if self.readout is not None:  # what the gateways send of it
            mask = self.readout.report(self.ts, values, mask)
        self.last_mask = mask
        self.ticks += 1
        if mask is None:
            return self._index, values
        return self._index[mask], values[mask]

    def _step_volumes(self, dt: float) -> None:
        n_u, vol = self._volume.size, self._volume
        forced = ~np.isnan(self._forced)
        rest = False if self.operators.pace is None else self.operators.pace.at_rest(self.ts)
        flow = self.operators.step(vol, dt, forced, rest)
        if self.operators.started.size:
            self._plan_transfers(self.operators.started)
        flow = np.where(forced, np.nan_to_num(self._forced), flow)
        self.net_flow_m3_s = flow
        leak = np.zeros(n_u)
        for r in self.releases:
            if r.drains_tank:
                leak[r.unit] += r.rate_kg_s / self._density[r.unit]
        new = vol + (flow - leak) * dt
        spill = np.maximum(new - self.geometry.capacity_m3, 0.0)
        self.spilled_m3 += spill
        self._volume = np.clip(new, 0.0, self.geometry.capacity_m3)
        self.level_m = self._level_of(self._volume)
        self._update_spill_vapour(spill, dt)

    def _plan_transfers(self, units: np.ndarray) -> None:
        """The operators' plans for the transfers they start (only tanks with a level sensor)."""
        units = units[self._level_ref[units] >= 0]
        if units.size == 0:
            return
        target_m3, direction = self.operators.targets(units)
        volume = self._volume.copy()
        volume[units] = target_m3
        targets = self._from_m(units, self.geometry.level(volume)[units])
        for u, target, sign in zip(
            units.tolist(), targets.tolist(), direction.tolist(), strict=True
        ):
            self.plan(u, target, sign, "operator")

    def plan(self, unit: int, target: float, direction: int, by: str) -> None:
        """An operator plans a transfer of `unit` to `target` (its level sensor's unit) now;
        the plans wait in `plans` for whoever runs the farm (see `take_plans`)."""
        ref = self.level_sensor(unit)
        if ref is not None:
            self.plans.append(TransferPlan(ref[1].tag, round(target, 3), direction, self.ts, by=by))

    def take_plans(self) -> list[TransferPlan]:
        """The plans made since the last call, oldest first."""
        out = list(self.plans)
        self.plans.clear()
        return out

    def _update_spill_vapour(self, spill_m3: np.ndarray, dt: float) -> None:
        """An overflowing atmospheric tank runs down its whole shell into the bund: its
        vapour rises from four points round the tank (the tank's own detectors see it
        whatever the wind)."""
        for k in sorted(set(np.flatnonzero(spill_m3 > 0).tolist()) | set(self._spill)):
            if self.units[k].pressurised:
                continue
            rate = 0.0 if dt <= 0 else spill_m3[k] / dt * self._density[k] * SPILL_VAPOUR_FRACTION
            rate = min(rate, SPILL_VAPOUR_MAX_KG_S)
            if k not in self._spill:
                if gas_of(self.units[k].substance) is None or rate <= 0:
                    continue
                self._spill[k] = [self.add_release(k, 0.0, bearing_deg=b) for b in SPILL_BEARINGS]
            for r in self._spill[k]:
                r.drains_tank = False
                r.rate_kg_s = rate / len(SPILL_BEARINGS)

    def _true_values(self, dt: float) -> np.ndarray:
        n = self._index.size
        a = math.exp(-dt / self.ops.wander_tau_s)
        shock = self._rng.standard_normal(n)
        self._ou_x = self._ou_mu + (self._ou_x - self._ou_mu) * a
        self._ou_x += self._ou_sd * math.sqrt(1 - a * a) * shock
        true = self._ou_x.copy()
        gas = self.instruments.gas
        true[gas] = np.maximum(true[gas], 0.0)
        pos = np.arange(self._lvl.size)
        true[self._lvl] = self._lvl_zero[pos] + self.level_m[self._lvl_unit] / self._lvl_m_per
        true[self._tmp] = self.thermal.liquid_c[self._unit_of[self._tmp]]
        per = self._flw_per_m3h
        flow_m3h = np.abs(self.net_flow_m3_s[self._unit_of[self._flw]]) * 3600.0
        true[self._flw] = np.where(np.isnan(per), true[self._flw], flow_m3h * per)
        flow_fraction = self.net_flow_m3_s / np.maximum(self._pump_rate, 1e-9)
        true[self._prs] = self.pressure.read(
            self.thermal.liquid_c, flow_fraction, self.pad_kpa, self.climate.mean_c
        )
        if self._status.size:
            unit = self._unit_of[self._status]
            th = self.thermal
            spraying = th.cooler_on[unit] & (th.cool_w[unit] * th.cool_factor[unit] > 0)
            rated = np.array([self.sensors[i].range_hi for i in self._status.tolist()])
            true[self._status] = np.where(spraying, SPRAY_FLOW_SPAN * rated, 0.0)
        det = self.layout.detector_sensor
        if det.size:
            true[det] += self.gas.step(dt, self.wind.toward, self.wind.speed_ms)
        return true


def _read_only(a: np.ndarray) -> np.ndarray:
    view = a.view()
    view.setflags(write=False)
    return view
