"""Where things stand in the park, and how leaked gas reaches the detectors.

Layout (deterministic, from the site's order alone): enterprises stand side by side from
west to east, 100 m apart; an enterprise's hazard sources stack from south to north, 40 m
apart; a hazard source's tanks sit on a square grid, row by row, their shells one radius
(at least 10 m) apart. A tank's gas detectors ring it 3 m outside its shell, the first at
bearing 45° (north-east) and the others evenly round. Coordinates are metres east, north.

Dispersion: a ground-level Gaussian plume with full ground reflection,

    C(x, y) = Q / (π u σy σz) · exp(−y² / 2σy²)

with Q the release (kg/s), u the wind speed, x downwind and y crosswind distance of the
detector from the source, and Briggs's open-country dispersion for neutral weather
(Pasquill class D): σy = 0.08 x (1 + 0.0001 x)^−½, σz = 0.06 x (1 + 0.0015 x)^−½. A real
release has a size: an initial spread σ0 = 1.5 m (σz0 = σ0 / 1.5) is added in quadrature,
growing as √(Q / 0.1 kg/s) above 0.1 kg/s (a large flashing release slumps into a wide
cloud), and the cloud reaches about σ0 upwind of the source. Concentrations convert to the
detector's unit with ppm = mg/m³ × 24.45/M and %LEL = vol % / LEL × 100
(hazardwatch.vocabulary.substances).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from hazardwatch.vocabulary.model import Kind, Sensor, Site
from hazardwatch.vocabulary.substances import MOLAR_VOLUME_L, UnknownSubstanceError, substance

SOURCE_SIGMA_M = 1.5  # initial crosswind spread of a small release
SOURCE_REF_KG_S = 0.1  # above this a release's initial size grows as its square root
DETECTOR_OFFSET_M = 3.0
TANK_GAP_MIN_M = 10.0
SOURCE_GAP_M = 40.0
ENTERPRISE_GAP_M = 100.0
FIRST_DETECTOR_DEG = 45.0
# What escapes from products that are not themselves a gas of the table.
EMITTED_GAS = {"sour water": "hydrogen sulfide", "sour-water": "hydrogen sulfide"}


def gas_of(product: str) -> str | None:
    """The canonical name of the gas a product gives off when it leaks, or None."""
    name = EMITTED_GAS.get(product.strip().lower(), product)
    try:
        return substance(name).name
    except UnknownSubstanceError:
        return None


class Layout:
    """Positions of tanks and gas detectors; see the module docstring for the rules."""

    def __init__(self, site: Site, radius_m: np.ndarray) -> None:
        units = [u for e in site.enterprises for h in e.hazard_sources for u in h.units]
        self.unit_xy = np.zeros((len(units), 2))
        self.radius_m = np.asarray(radius_m, dtype=np.float64)
        k, x0 = 0, 0.0
        for e in site.enterprises:
            y0, width = 0.0, 0.0
            for h in e.hazard_sources:
                n = len(h.units)
                if n == 0:
                    continue
                r = float(self.radius_m[k : k + n].max())
                pitch = 2 * r + max(r, TANK_GAP_MIN_M)
                cols = math.ceil(math.sqrt(n))
                for j in range(n):
                    col, row = j % cols, j // cols
                    self.unit_xy[k + j] = (x0 + r + col * pitch, y0 + r + row * pitch)
                rows = math.ceil(n / cols)
                width = max(width, cols * pitch)
                y0 += rows * pitch + SOURCE_GAP_M
                k += n
            x0 += width + ENTERPRISE_GAP_M
        det_xy: list[tuple[float, float]] = []
        det_sensor: list[int] = []
        det_unit: list[int] = []
        i = 0
        for ui, u in enumerate(units):
            gas = [j for j, s in enumerate(u.sensors) if s.kind.is_gas]
            for m, j in enumerate(gas):
                bearing = math.radians(FIRST_DETECTOR_DEG + 360.0 * m / len(gas))
                reach = self.radius_m[ui] + DETECTOR_OFFSET_M
                cx, cy = self.unit_xy[ui]
                det_xy.append((cx + reach * math.sin(bearing), cy + reach * math.cos(bearing)))
                det_sensor.append(i + j)
                det_unit.append(ui)
            i += len(u.sensors)
        self.detector_xy = np.asarray(det_xy, dtype=np.float64).reshape(-1, 2)
        self.detector_sensor = np.asarray(det_sensor, dtype=np.int64)
        self.detector_unit = np.asarray(det_unit, dtype=np.int64)

    def shell_point(self, unit: int, bearing_deg: float) -> np.ndarray:
        """The point on a tank's shell at `bearing_deg` (clockwise from north), at ground."""
        b = math.radians(bearing_deg)
        r = float(self.radius_m[unit])
        return self.unit_xy[unit] + r * np.array([math.sin(b), math.cos(b)])


def plume_kg_m3(
    source_xy: np.ndarray,
    rate_kg_s: float,
    receptor_xy: np.ndarray,
    toward: tuple[float, float],
    speed_ms: float,
) -> np.ndarray:
    """Ground-level concentration (kg/m³) at each receptor from one release.

    >>> far, near = plume_kg_m3(np.zeros(2), 1.0, np.array([[0.0, 50.0], [0.0, 10.0]]),
    ...                         (0.0, 1.0), 2.0)
    >>> bool(near > far > 0)
    True
    """
    d = receptor_xy - source_xy
    wx, wy = toward
    along = d[:, 0] * wx + d[:, 1] * wy
    cross = d[:, 0] * wy - d[:, 1] * wx
    size = SOURCE_SIGMA_M * max(1.0, math.sqrt(rate_kg_s / SOURCE_REF_KG_S))
    x = np.maximum(along, 0.0)
    sigma_y = np.hypot(0.08 * x / np.sqrt(1.0 + 1e-4 * x), size)
    sigma_z = np.hypot(0.06 * x / np.sqrt(1.0 + 1.5e-3 * x), size / 1.5)
    c = rate_kg_s / (math.pi * max(speed_ms, 0.5) * sigma_y * sigma_z)
    c = c * np.exp(-0.5 * (cross / sigma_y) ** 2)
    upwind = np.minimum(along, 0.0) / size
    return c * np.exp(-0.5 * upwind**2)


@functools.cache
def reading_per_kg_m3(kind: Kind, unit: str, detector_gas: str | None, gas: str) -> float:
    """What one kg/m³ of `gas` reads on a detector (its kind, unit and own substance)."""
    leaked = substance(gas)
    ppm = 1e6 * MOLAR_VOLUME_L / leaked.molar_mass_g_mol  # per kg/m³
    if kind == Kind.GAS_COMBUSTIBLE:
        if not leaked.combustible or leaked.lel_vol_pct is None:
            return 0.0
        return ppm * 1e-4 / leaked.lel_vol_pct * 100.0
    if kind == Kind.GAS_TOXIC and detector_gas is not None:
        try:
            same = substance(detector_gas).name == leaked.name
        except UnknownSubstanceError:
            same = False
        if not same:
            return 0.0
        return 1e6 if unit.strip().lower() == "mg/m3" else ppm
    return 0.0


T90_S = {Kind.GAS_COMBUSTIBLE: 30.0, Kind.GAS_TOXIC: 60.0}  # detector response times


@dataclass(slots=True)
class Release:
    """A gas release at a point: a leak, or the vapour of an overflow."""

    unit: int
    xy: np.ndarray
    gas: str
    rate_kg_s: float
    factor: np.ndarray  # reading per kg/m³, per gas detector
    drains_tank: bool = True


class GasField:
    """Every release of the farm and what each gas detector makes of them.

    A detector's reading follows the plume concentration at its position through a
    first-order response with its T90 (30 s combustible, 60 s toxic).
    """

    def __init__(self, layout: Layout, sensors: tuple[Sensor, ...]) -> None:
        self.layout = layout
        self._sensors = sensors
        det = layout.detector_sensor.tolist()
        self._tau = np.array([T90_S[sensors[i].kind] / math.log(10.0) for i in det])
        self.reading = np.zeros(len(det))  # the detectors' lagged plume readings
        self.releases: list[Release] = []

    def add(self, unit: int, rate_kg_s: float, gas: str, bearing_deg: float) -> Release:
        """Start a release of `gas` (a name the substances table knows) at a tank's shell."""
        det = self.layout.detector_sensor.tolist()
        factor = np.array([
            reading_per_kg_m3(self._sensors[i].kind, self._sensors[i].unit,
                              self._sensors[i].substance, gas)
            for i in det
        ])  # fmt: skip
        release = Release(unit, self.layout.shell_point(unit, bearing_deg), gas, rate_kg_s, factor)
        self.releases.append(release)
        return release

    def step(self, dt_s: float, toward: tuple[float, float], speed_ms: float) -> np.ndarray:
        """Advance the detectors' response `dt_s` seconds; return their plume readings."""
        target = np.zeros(self.reading.size)
        xy = self.layout.detector_xy
        for r in self.releases:  # a handful of incidents, never one per tank
            if r.rate_kg_s > 0:
                target += r.factor * plume_kg_m3(r.xy, r.rate_kg_s, xy, toward, speed_ms)
        self.reading += (target - self.reading) * -np.expm1(-dt_s / self._tau)
        return self.reading
