"""What the pressure transmitters of the farm read, from the state of their tanks.

- A pressurised tank of a liquefied gas with a known curve (hazardwatch.vocabulary.substances) sits
at the
  vapour pressure of its liquid temperature, plus any padding gas a scenario adds.
- A pressurised tank of something without a curve swings around its L..H mid-band with
  the liquid temperature (Clausius-Clapeyron with a light hydrocarbon's 2,300 K slope).
- An atmospheric tank breathes within its breather valve's band, −0.5..+2 kPa gauge: pushed
  to the pressure setting by filling and to the vacuum setting by emptying.

Readings are gauge in the sensor's own unit (MPa, kPa, bar...; absolute where the unit
says so, e.g. `bara`, `MPa(a)`).
"""

from __future__ import annotations

import numpy as np

from hazardwatch.vocabulary.model import Sensor, Unit
from hazardwatch.vocabulary.substances import (
    ATMOSPHERE_KPA,
    curve_name,
    pressure_unit,
    vapour_pressure_kpa,
)

BREATHER_KPA = (-0.5, 2.0)  # vacuum and pressure settings of an atmospheric tank's valve
CLAUSIUS_B_K = 2300.0


class PressureGauges:
    """Every pressure sensor of the farm, grouped so a step is a few whole-array calls."""

    def __init__(
        self,
        sensors: list[Sensor],
        unit_of: np.ndarray,
        units: tuple[Unit, ...],
        bands: np.ndarray,
    ) -> None:
        """`sensors` are the pressure sensors, `unit_of` their units' indices, `bands` (n, 2)
        their L..H operating bands in the sensor's unit."""
        found = [pressure_unit(s.unit) or (1.0, False) for s in sensors]
        self.unit_of = np.asarray(unit_of, dtype=np.int64)
        self.kpa_per = np.array([f for f, _ in found], dtype=np.float64)
        self.absolute = np.array([a for _, a in found], dtype=bool)
        pressurised = [units[u].pressurised for u in self.unit_of.tolist()]
        curves = [curve_name(units[u].substance) for u in self.unit_of.tolist()]
        groups: dict[str, list[int]] = {}
        for j, (c, p) in enumerate(zip(curves, pressurised, strict=True)):
            if c is not None and p:
                groups.setdefault(c, []).append(j)
        self.groups = {c: np.asarray(ix, dtype=np.int64) for c, ix in groups.items()}
        self.fallback = np.array(
            [p and c is None for c, p in zip(curves, pressurised, strict=True)], dtype=bool
        )
        bands = np.asarray(bands, dtype=np.float64).reshape(-1, 2)
        self.mid_kpa = bands.mean(axis=1) * self.kpa_per
        self.half_kpa = (bands[:, 1] - bands[:, 0]) / 2 * self.kpa_per

    def read(
        self,
        liquid_c: np.ndarray,
        flow_fraction: np.ndarray,
        pad_kpa: np.ndarray,
        mean_air_c: float,
    ) -> np.ndarray:
        """True readings, sensor units, from per-unit liquid temperature (°C), net pump flow as
        a fraction of the pump's rate (+ filling) and padding gas (kPa)."""
        temp = liquid_c[self.unit_of]
        frac = flow_fraction[self.unit_of]
        lo, hi = BREATHER_KPA
        out = hi * np.clip(frac, 0.0, 1.0) + lo * np.clip(-frac, 0.0, 1.0)
        swing = np.expm1(CLAUSIUS_B_K * (temp - mean_air_c) / (mean_air_c + 273.15) ** 2)
        out = np.where(self.fallback, self.mid_kpa + 0.5 * self.half_kpa * swing, out)
        for curve, ix in self.groups.items():  # one whole-array call per substance
            out[ix] = vapour_pressure_kpa(curve, temp[ix]) - ATMOSPHERE_KPA
        out += pad_kpa[self.unit_of]
        out += np.where(self.absolute, ATMOSPHERE_KPA, 0.0)
        return out / self.kpa_per
