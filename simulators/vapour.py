"""Vapour pressure of liquefied gases, and pressure units.

A pressurised tank of a liquefied gas holds its liquid at the saturation pressure of the
liquid's temperature. The Antoine equation gives it:

    log10(P / bar) = A − B / (T / K + C)

Coefficients (P absolute, bar; T in kelvin):

- propane: A 4.53678, B 1149.36, C 24.906, valid 277.6-360.8 K (NIST Chemistry WebBook,
  Antoine parameters from Kemp and Egan, 1938). Gives 8.38 bar at 20 °C, 17.2 bar at 50 °C
  (saturation tables: 8.36 and 17.1 bar).
- n-butane: A 4.35576, B 1175.581, C −2.071, valid 272.7-425.1 K (NIST WebBook, Das, Reed
  et al., 1973). 2.08 bar at 20 °C.
- ammonia: A 4.86886, B 1113.928, C −10.409, valid 239.6-371.5 K (NIST WebBook, from Stull,
  1947). 8.49 bar at 20 °C (tables: 8.57 bar).
- chlorine: log10(P / bar) = 4.0628 − 861.34 / (t / °C + 246.331), i.e. C = −26.819 in
  kelvin (common Antoine constant table, liquid from 171.9 K). 6.74 bar at 20 °C (tables:
  6.78 bar).
- LPG: Raoult's law over a propane/n-butane liquid of 60 / 40 mol %, a middle-of-the-road
  commercial mixture: 5.9 bar at 20 °C.

Outside their validity ranges the curves are extrapolated (a sphere at −10 °C or in a fire),
which is good to a few per cent: enough for alarms, not for design.

>>> round(float(vapour_pressure_kpa("propane", np.array([20.0]))[0]), 0)
838.0
"""

from __future__ import annotations

import numpy as np

from hazardwatch.substances import UnknownSubstanceError, substance

ATMOSPHERE_KPA = 101.325
_KELVIN = 273.15

# (A, B, C) for log10(P/bar) = A − B/(T/K + C); see the module docstring for sources.
ANTOINE_BAR_K: dict[str, tuple[float, float, float]] = {
    "propane": (4.53678, 1149.36, 24.906),
    "butane": (4.35576, 1175.581, -2.071),
    "ammonia": (4.86886, 1113.928, -10.409),
    "chlorine": (4.0628, 861.34, 246.331 - _KELVIN),
}
# Liquefied mixtures: mole fractions of pure components (Raoult's law).
MIXTURES: dict[str, dict[str, float]] = {
    "liquefied petroleum gas": {"propane": 0.6, "butane": 0.4},
}

# Pressure units a sensor may report in: kPa per unit. "(a)" / "abs" / "bara" mean absolute.
_KPA_PER: dict[str, float] = {
    "mpa": 1000.0,
    "kpa": 1.0,
    "pa": 1e-3,
    "bar": 100.0,
    "mbar": 0.1,
    "psi": 6.894757,
    "kgf/cm2": 98.0665,
}


def curve_name(name: str) -> str | None:
    """The canonical name of a substance with a vapour-pressure curve here, else None."""
    try:
        canonical = substance(name).name
    except UnknownSubstanceError:
        canonical = name.strip().lower()
    return canonical if canonical in ANTOINE_BAR_K or canonical in MIXTURES else None


def vapour_pressure_kpa(name: str, temp_c: np.ndarray) -> np.ndarray:
    """Saturation pressure (kPa absolute) of `name` at liquid temperatures `temp_c` (°C)."""
    key = curve_name(name)
    if key is None:
        raise KeyError(f"no vapour-pressure curve for {name!r}")
    parts = MIXTURES.get(key, {key: 1.0})
    t_k = np.asarray(temp_c, dtype=np.float64) + _KELVIN
    total = np.zeros_like(t_k)
    for part, x in parts.items():
        a, b, c = ANTOINE_BAR_K[part]
        total += x * 100.0 * 10.0 ** (a - b / (t_k + c))
    return total


def pressure_unit(unit: str) -> tuple[float, bool] | None:
    """(kPa per unit, absolute?) for a pressure sensor's unit, or None if unknown.

    >>> pressure_unit("MPa"), pressure_unit("bara")
    ((1000.0, False), (100.0, True))
    """
    u = unit.strip().lower().replace(" ", "")
    absolute = False
    for suffix in ("(a)", "(abs)", "abs", "a"):
        if u.endswith(suffix) and u[: -len(suffix)] in _KPA_PER:
            u, absolute = u[: -len(suffix)], True
            break
    for suffix in ("(g)", "g"):
        if u.endswith(suffix) and u[: -len(suffix)] in _KPA_PER:
            u = u[: -len(suffix)]
            break
    factor = _KPA_PER.get(u)
    return None if factor is None else (factor, absolute)
