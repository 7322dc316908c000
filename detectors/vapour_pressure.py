"""VAPOUR_PRESSURE: a liquefied-gas tank's pressure away from its gas's vapour pressure.

A pressurised tank of a liquefied gas holds its liquid at the saturation pressure of the
liquid's temperature (hazardwatch.vocabulary.substances: Antoine, the curves the simulators use).
Per
pressurised unit of a gas with a curve, a pressure and a temperature sensor (SensorTable.
units; the unit's VapourCheck): the pressure (smoothed, as the signal stage keeps it) minus
the vapour pressure at the temperature, in kPa; beyond `tolerance_kpa` plus `tolerance_pct`
of the vapour pressure (absolute) either way for `delay_s` of data time raises
VAPOUR_PRESSURE on the pressure sensor, with the departure (kPa) as value. It clears below
HOLD_RATIO of the tolerance. A non-condensable in the vapour space (air, nitrogen) reads
high; a failing pressure transmitter or a temperature sensor gone wrong reads either way.
"""

from __future__ import annotations

import numpy as np

from detectors.changes import Changes
from detectors.rule import Orphans, Round
from detectors.state import State
from hazardwatch.vocabulary.model import Condition, Kind, SensorTable
from hazardwatch.vocabulary.substances import (
    ATMOSPHERE_KPA,
    curve_name,
    pressure_unit,
    vapour_pressure_kpa,
)

BIT = np.uint32(Condition.VAPOUR_PRESSURE.bit)
HOLD_RATIO = 0.8  # an active departure holds down to this share of its tolerance
_KELVIN_OFFSET = {"degc": 0.0, "°c": 0.0, "c": 0.0, "k": -273.15}


def departure_kpa(
    pressure_kpa: np.ndarray, vapour_kpa: np.ndarray, absolute: np.ndarray
) -> np.ndarray:
    """Pressure read (kPa, gauge unless `absolute`) minus the vapour pressure (kPa absolute).

    >>> departure_kpa(np.array([737.0, 838.0]), np.array([838.0, 838.0]), np.array([False, True]))
    array([0.325, 0.   ])
    """
    return pressure_kpa + np.where(absolute, 0.0, ATMOSPHERE_KPA) - vapour_kpa


class VapourPressure:
    """VAPOUR_PRESSURE as a rule (detectors.rule), vectorised per gas over its tanks."""

    conditions = frozenset({Condition.VAPOUR_PRESSURE})

    def __init__(self, table: SensorTable) -> None:
        rows = []
        for unit in table.units:
            curve = curve_name(unit.substance)
            if not (unit.pressurised and unit.vapour.enabled and curve is not None):
                continue
            p = next((s for s in unit.sensors if s.kind is Kind.PRESSURE), None)
            t = next((s for s in unit.sensors if s.kind is Kind.TEMPERATURE), None)
            if p is None or t is None:
                continue
            found = pressure_unit(p.unit)
            offset = _KELVIN_OFFSET.get(t.unit.strip().lower())
            if found is None or offset is None:
                continue  # a unit the curve cannot be read in: no check
            rows.append((table.tag_index[p.tag], table.tag_index[t.tag], curve, found, offset,
                         unit.vapour))  # fmt: skip
        self.pressure = np.asarray([r[0] for r in rows], np.int64)
        self.temperature = np.asarray([r[1] for r in rows], np.int64)
        self.kpa_per = np.asarray([r[3][0] for r in rows], np.float64)
        self.absolute = np.asarray([r[3][1] for r in rows], bool)
        self.offset_c = np.asarray([r[4] for r in rows], np.float64)
        self.tolerance_kpa = np.asarray([r[5].tolerance_kpa for r in rows], np.float64)
        self.tolerance_pct = np.asarray([r[5].tolerance_pct for r in rows], np.float64)
        self.delay_s = np.asarray([r[5].delay_s for r in rows], np.float64)
        curves = [r[2] for r in rows]
        self.curves = {c: np.flatnonzero([x == c for x in curves]) for c in dict.fromkeys(curves)}
        self.member = np.full(table.n, -1, np.int64)
        self.member[self.temperature] = np.arange(len(rows))
        self.member[self.pressure] = np.arange(len(rows))
        self.since = np.full(len(rows), np.nan)  # departure beyond tolerance since
        self.orphans = Orphans(Condition.VAPOUR_PRESSURE)

    @property
    def empty(self) -> bool:
        return self.pressure.size == 0 and self.orphans.size == 0

    def judge(self, st: State, rnd: Round, out: Changes) -> None:
        if self.empty:
            return
        self.orphans.release(st, rnd, out)
        if self.pressure.size == 0:
            return
        at = rnd.usable_positions
        sensors, ts = rnd.sensors[at], rnd.ts[at]
        unit = self.member[sensors]
        keep = (unit >= 0) & (ts > -np.inf)  # NaN: no reading
        if not keep.any():
            return
        when = np.full(self.pressure.size, -np.inf)
        np.maximum.at(when, unit[keep], ts[keep])
        self._judge(st, np.unique(unit[keep]), when, out, rnd.number)

    def restore(self, st: State, sensor: int, condition: Condition) -> None:
        """VAPOUR_PRESSURE restored on a sensor that is no checked tank's pressure (the site
        changed): its next reading clears it. On one that is, its next reading judges it."""
        if condition is Condition.VAPOUR_PRESSURE and sensor not in self.pressure:
            self.orphans.add(sensor)

    def _judge(
        self, st: State, units: np.ndarray, when: np.ndarray, out: Changes, round_no: int
    ) -> None:
        pp, tt = self.pressure[units], self.temperature[units]
        pressure = _smoothed(st, pp) * self.kpa_per[units]
        temp_c = _smoothed(st, tt) + self.offset_c[units]
        was = (st.active[pp] & BIT) != 0
        vapour = np.empty(units.size)
        # A temperature far off any tank's (a broken sensor) may overflow the curve: then
        # the departure is infinite, which is beyond any tolerance, as it should be.
        with np.errstate(all="ignore"):
            for curve, rows in self.curves.items():  # one whole-array call per gas
                mine = np.isin(units, rows)
                vapour[mine] = vapour_pressure_kpa(curve, temp_c[mine])
            gap = departure_kpa(pressure, vapour, self.absolute[units])
            tolerance = self.tolerance_kpa[units] + self.tolerance_pct[units] / 100.0 * vapour
            beyond = np.abs(gap) > np.where(was, HOLD_RATIO, 1.0) * tolerance
        t = when[units]
        since = np.where(beyond, np.fmin(self.since[units], t), np.nan)
        self.since[units] = since
        known = ~np.isnan(gap)  # NaN: a sensor not yet heard, no judgement
        now = np.where(known, beyond & (was | (t - since >= self.delay_s[units])), was)
        flip = np.flatnonzero(now != was)
        if flip.size:
            s = pp[flip]
            st.active[s] ^= BIT
            out.add(s, Condition.VAPOUR_PRESSURE, now[flip], gap[flip], t[flip], round_no=round_no)


def _smoothed(st: State, s: np.ndarray) -> np.ndarray:
    """The sensors' smoothed values where the signal stage keeps one, else their last."""
    smooth = st.smooth[s]
    return np.where(np.isnan(smooth), st.last_value[s], smooth)
