"""COOLING_LOST: a cooled tank past its cooling's on-point while the cooling does not run.

A spray-cooled chlorine vessel on a summer day warms as fast as any tank in the sun; what
tells a failed spray from a hot day is the spray itself. Per cooled unit (SensorTable's
cooling_* arrays, from the site's `cooling:` blocks): the temperature (smoothed, as the
signal stage keeps it) above `start_above` while the status sensor (spray water flow, run
feedback) reads at or below `running_above`, both for `delay_s` of data time, raises
COOLING_LOST on the temperature sensor (detectors.checks.groups.cooling_missing). It holds
until the cooling runs or the temperature falls a deadband below the on-point. A status
never heard from is unknown, not off: its silence is COMM_LOSS's to report.
"""

from __future__ import annotations

import numpy as np

from detectors.changes import Changes
from detectors.checks.groups import cooling_missing
from detectors.rule import Orphans, Round
from detectors.state import State
from hazardwatch.vocabulary.model import Condition, SensorTable

LOST = np.uint32(Condition.COOLING_LOST.bit)


class CoolingRule:
    """The cooled units' settings, one entry per cooled unit; their timers are
    State.cooling_since (at each unit's temperature sensor)."""

    conditions = frozenset({Condition.COOLING_LOST})

    def __init__(self, table: SensorTable) -> None:
        self.temperature = table.cooling_temperature
        self.status = table.cooling_status
        self.start_above = table.cooling_start_above
        self.running_above = table.cooling_running_above
        self.delay_s = table.cooling_delay_s
        self.deadband = table.deadband[self.temperature]
        # Which cooled unit each sensor belongs to (-1: none), as temperature or status.
        self.member = np.full(table.n, -1, np.int64)
        self.member[self.status] = np.arange(self.status.size)
        self.member[self.temperature] = np.arange(self.temperature.size)
        self.orphans = Orphans(Condition.COOLING_LOST)  # restored where no cooling is now

    @property
    def empty(self) -> bool:
        return self.temperature.size == 0 and self.orphans.size == 0

    def judge(self, st: State, rnd: Round, out: Changes) -> None:
        if self.empty:
            return
        self.orphans.release(st, rnd, out)
        if rnd.dense:
            self._judge_at(st, rnd.ts, rnd.usable_ts, out, rnd.number)
        else:
            self._judge_round(st, rnd.sensors, rnd.ts, rnd.usable, out, rnd.number)

    def restore(self, st: State, sensor: int, condition: Condition) -> None:
        """COOLING_LOST restored on a sensor that is not a cooled unit's temperature (the
        site changed): its next reading clears it."""
        if condition is Condition.COOLING_LOST and sensor not in self.temperature:
            self.orphans.add(sensor)

    def _judge_round(
        self,
        st: State,
        sensors: np.ndarray,
        ts: np.ndarray,
        usable: np.ndarray | bool,
        out: Changes,
        round_no: int,
    ) -> None:
        """Re-evaluate the units of `sensors` (readings at `ts`, `usable` per reading or for
        all); record changes."""
        if sensors.size == 0:
            return
        unit = self.member[sensors]
        keep = unit >= 0
        if not keep.any():
            return
        units, at = unit[keep], ts[keep]
        when = np.full(self.temperature.size, -np.inf)
        np.maximum.at(when, units, at)
        self._judge(st, np.unique(units), when, out, round_no)

    def _judge_at(
        self, st: State, at: np.ndarray, usable_at: np.ndarray, out: Changes, round_no: int
    ) -> None:
        """Re-evaluate the units with a reading this round: `at` its ts per sensor (NaN:
        none), `usable_at` the same for usable readings (-inf or NaN: none)."""
        when = np.fmax(at[self.temperature], at[self.status])
        units = np.flatnonzero(~np.isnan(when))
        if units.size:
            self._judge(st, units, when, out, round_no)

    def _judge(
        self, st: State, units: np.ndarray, when: np.ndarray, out: Changes, round_no: int
    ) -> None:
        tt, ss = self.temperature[units], self.status[units]
        smooth = st.smooth[tt]
        temperature = np.where(np.isnan(smooth), st.last_value[tt], smooth)
        was = (st.active[tt] & LOST) != 0
        start = self.start_above[units] - np.where(was, self.deadband[units], 0.0)
        missing = cooling_missing(temperature, st.last_value[ss], start, self.running_above[units])
        t = when[units]
        since = np.where(missing, np.fmin(st.cooling_since[tt], t), np.nan)
        st.cooling_since[tt] = since
        now = missing & (was | (t - since >= self.delay_s[units]))
        flip = np.flatnonzero(now != was)
        if flip.size:
            s = tt[flip]
            st.active[s] ^= LOST
            out.add(
                s, Condition.COOLING_LOST, now[flip], st.last_value[s], t[flip], round_no=round_no
            )
