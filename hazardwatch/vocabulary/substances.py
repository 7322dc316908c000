"""The substances table: exposure limits and LEL of the gases detectors watch for.

The numbers live in `hazardwatch/vocabulary/data/substances.yaml` (data, with provenance per entry);
this module only loads and looks them up.

>>> h2s = substance("H2S")
>>> h2s.name, h2s.oel_mg_m3
('hydrogen sulfide', 10.0)
>>> round(h2s.to_unit(h2s.oel_mg_m3, "ppm"), 3)  # 10 x 24.45 / 34.08
7.174
>>> substance("Hydrogen  Sulfide") is h2s
True
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hazardwatch.vocabulary.model import HazardWatchError

# Litres per mole of an ideal gas at 25 °C and 1 atm: ppm = mg/m³ × MOLAR_VOLUME_L / M.
MOLAR_VOLUME_L = 24.45

# The units a toxic gas detector may report in, as stored on a Sensor.
GAS_CONCENTRATION_UNITS = ("ppm", "mg/m3")


class UnknownSubstanceError(HazardWatchError, LookupError):
    """A substance name that is not in the table."""


@dataclass(frozen=True, slots=True)
class Substance:
    """One gas with its limits in mg/m³ (None where unknown or not applicable)."""

    name: str
    formula: str | None
    aliases: tuple[str, ...]
    molar_mass_g_mol: float
    mac_mg_m3: float | None
    pc_twa_mg_m3: float | None
    pc_stel_mg_m3: float | None
    idlh_mg_m3: float | None
    combustible: bool
    toxic: bool
    lel_vol_pct: float | None = None

    @property
    def oel_mg_m3(self) -> float | None:
        """The occupational exposure limit for set points: MAC where one exists, else PC-TWA."""
        return self.mac_mg_m3 if self.mac_mg_m3 is not None else self.pc_twa_mg_m3

    @property
    def oel_basis(self) -> str:
        """Which limit `oel_mg_m3` is: "MAC", "PC-TWA" or "none"."""
        if self.mac_mg_m3 is not None:
            return "MAC"
        return "PC-TWA" if self.pc_twa_mg_m3 is not None else "none"

    def ppm(self, mg_m3: float) -> float:
        """Convert mg/m³ to ppm at 25 °C, 1 atm.

        >>> round(substance("NH3").ppm(20), 2)
        28.71
        """
        return mg_m3 * MOLAR_VOLUME_L / self.molar_mass_g_mol

    def mg_m3(self, ppm: float) -> float:
        """Convert ppm to mg/m³ at 25 °C, 1 atm."""
        return ppm * self.molar_mass_g_mol / MOLAR_VOLUME_L

    def to_unit(self, mg_m3: float, unit: str) -> float:
        """Express a concentration given in mg/m³ in `unit` ("ppm" or "mg/m3")."""
        if unit == "ppm":
            return self.ppm(mg_m3)
        if unit == "mg/m3":
            return mg_m3
        raise ValueError(f"unit must be one of {GAS_CONCENTRATION_UNITS}, not {unit!r}")


def normalise_name(name: str) -> str:
    """The lookup key of a name: case-folded, with runs of space, '_' and '-' as one space."""
    return re.sub(r"[\s_\-]+", " ", name.strip()).casefold()


class _RawSubstance(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    name: str = Field(min_length=1)
    formula: str | None = None
    aliases: list[str] = []
    molar_mass_g_mol: float = Field(gt=0)
    mac_mg_m3: float | None = Field(default=None, gt=0)
    pc_twa_mg_m3: float | None = Field(default=None, gt=0)
    pc_stel_mg_m3: float | None = Field(default=None, gt=0)
    idlh_mg_m3: float | None = Field(default=None, gt=0)
    idlh_ppm: float | None = Field(default=None, gt=0)
    combustible: bool
    toxic: bool
    lel_vol_pct: float | None = Field(default=None, gt=0, le=100)


class _RawTable(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    substances: list[_RawSubstance]


def _build(raw: _RawSubstance) -> Substance:
    if raw.idlh_ppm is not None and raw.idlh_mg_m3 is not None:
        raise HazardWatchError(f"substance {raw.name!r}: give idlh_ppm or idlh_mg_m3, not both")
    idlh = raw.idlh_mg_m3
    if raw.idlh_ppm is not None:
        idlh = raw.idlh_ppm * raw.molar_mass_g_mol / MOLAR_VOLUME_L
    s = Substance(
        name=raw.name,
        formula=raw.formula,
        aliases=tuple(raw.aliases),
        molar_mass_g_mol=raw.molar_mass_g_mol,
        mac_mg_m3=raw.mac_mg_m3,
        pc_twa_mg_m3=raw.pc_twa_mg_m3,
        pc_stel_mg_m3=raw.pc_stel_mg_m3,
        idlh_mg_m3=idlh,
        combustible=raw.combustible,
        toxic=raw.toxic,
        lel_vol_pct=raw.lel_vol_pct,
    )
    if s.toxic and s.oel_mg_m3 is None:
        raise HazardWatchError(f"substance {s.name!r} is toxic but has neither MAC nor PC-TWA")
    if s.combustible and s.lel_vol_pct is None:
        raise HazardWatchError(f"substance {s.name!r} is combustible but has no lel_vol_pct")
    return s


def parse_table(text: str) -> dict[str, Substance]:
    """Parse a substances YAML document into a lookup of every name, formula and alias.

    A broken table is a packaging bug, so it raises HazardWatchError rather than a ConfigError.
    """
    try:
        table = _RawTable.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValidationError) as exc:
        raise HazardWatchError(f"the substances table is invalid: {exc}") from exc
    index: dict[str, Substance] = {}
    for raw in table.substances:
        s = _build(raw)
        for key in {normalise_name(k) for k in (s.name, s.formula, *s.aliases) if k}:
            if key in index:
                raise HazardWatchError(
                    f"substances table: {key!r} names both {index[key].name!r} and {s.name!r}"
                )
            index[key] = s
    return index


@functools.cache
def _table() -> dict[str, Substance]:
    text = (
        resources.files("hazardwatch.vocabulary")
        .joinpath("data", "substances.yaml")
        .read_text("utf-8")
    )
    return parse_table(text)


def substances() -> tuple[Substance, ...]:
    """Every substance in the table, in file order."""
    return tuple(dict.fromkeys(_table().values()))


def substance(name: str) -> Substance:
    """Look a substance up by name, formula or alias, case-insensitively.

    Raises UnknownSubstanceError (a LookupError) naming the known substances.
    """
    try:
        return _table()[normalise_name(name)]
    except KeyError:
        known = ", ".join(s.name for s in substances())
        raise UnknownSubstanceError(f"unknown substance {name!r}; known: {known}") from None


# ------------------------------------------------- vapour pressure of liquefied gases
#
# A pressurised tank of a liquefied gas holds its liquid at the saturation pressure of the
# liquid's temperature. The Antoine equation gives it: log10(P / bar) = A − B / (T / K + C).
# Coefficients (P absolute, bar; T in kelvin):
#
# - propane: A 4.53678, B 1149.36, C 24.906, valid 277.6-360.8 K (NIST Chemistry WebBook,
#   Antoine parameters from Kemp and Egan, 1938). Gives 8.38 bar at 20 °C, 17.2 bar at 50 °C
#   (saturation tables: 8.36 and 17.1 bar).
# - n-butane: A 4.35576, B 1175.581, C −2.071, valid 272.7-425.1 K (NIST WebBook, Das, Reed
#   et al., 1973). 2.08 bar at 20 °C.
# - ammonia: A 4.86886, B 1113.928, C −10.409, valid 239.6-371.5 K (NIST WebBook, from Stull,
#   1947). 8.49 bar at 20 °C (tables: 8.57 bar).
# - chlorine: log10(P / bar) = 4.0628 − 861.34 / (t / °C + 246.331), i.e. C = −26.819 in
#   kelvin (common Antoine constant table, liquid from 171.9 K). 6.74 bar at 20 °C (tables:
#   6.78 bar).
# - LPG: Raoult's law over a propane/n-butane liquid of 60 / 40 mol %, a middle-of-the-road
#   commercial mixture: 5.9 bar at 20 °C.
#
# Outside their validity ranges the curves are extrapolated (a sphere at −10 °C or in a
# fire), which is good to a few per cent: enough for alarms, not for design. Shared by the
# simulators (what a transmitter reads) and detectors.vapour_pressure (what it should read).

ATMOSPHERE_KPA = 101.325
_KELVIN = 273.15

# (A, B, C) for log10(P/bar) = A − B/(T/K + C); sources above.
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
    """The canonical name of a substance with a vapour-pressure curve here, else None.

    >>> curve_name("LPG"), curve_name("toluene")
    ('liquefied petroleum gas', None)
    """
    try:
        canonical = substance(name).name
    except UnknownSubstanceError:
        canonical = name.strip().lower()
    return canonical if canonical in ANTOINE_BAR_K or canonical in MIXTURES else None


def vapour_pressure_kpa(name: str, temp_c: np.ndarray) -> np.ndarray:
    """Saturation pressure (kPa absolute) of `name` at liquid temperatures `temp_c` (°C).

    >>> round(float(vapour_pressure_kpa("propane", np.array([20.0]))[0]), 0)
    838.0
    """
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
