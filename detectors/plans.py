"""Transfer plans and the OVERRUN rule (detectors.checks.plans.past_target).

Level alone cannot tell a transfer the operator will stop from one they forgot: a slow
overfill rises exactly like a routine fill until it passes where routine fills stop. The
operator's plan (fill T201 to 13.5 m) is the missing fact. While a tank's level sensor has
an open plan, each usable reading moves the judgement: the smoothed level (the EWMA of ~5
readings the signal stage keeps, so a gauge's ripple at the target does not chatter) past
the target in the plan's direction by more than the tolerance raises OVERRUN; back at the
target, or the plan closed, clears it. Plans are few; a round pays nothing while none is open.
"""

from __future__ import annotations

import math

import numpy as np

from detectors.changes import Changes
from detectors.checks.plans import past_target
from detectors.rule import Round
from detectors.state import Params, State
from hazardwatch.vocabulary.model import Condition, HazardWatchError

OVERRUN = np.uint32(Condition.OVERRUN.bit)
DEFAULT_TOLERANCE_SPAN = 0.01  # of the instrument span, when the plan gives no tolerance


class Plans:
    """The open transfer plans, at most one per sensor, as arrays over every sensor; the
    OVERRUN rule (detectors.rule) judges the watched sensors that took a usable reading."""

    conditions = frozenset({Condition.OVERRUN})

    def __init__(self, params: Params) -> None:
        n = params.n
        self._params = params
        self.target = np.full(n, np.nan)
        self.direction = np.zeros(n)
        self.tolerance = np.zeros(n)
        self.watched = np.zeros(n, np.bool_)  # a plan, or OVERRUN to clear (restored)
        self._rows: np.ndarray | None = np.empty(0, np.int64)

    @property
    def rows(self) -> np.ndarray:
        """The watched sensors, ascending; found again only after a plan came or went, so
        a restart that opens thousands of plans does not scan the park for each."""
        if self._rows is None:
            self._rows = np.flatnonzero(self.watched)
        return self._rows

    def set(self, sensor: int, target: float, direction: int, tolerance: float | None) -> None:
        if not math.isfinite(target) or direction not in (-1, 1):
            raise HazardWatchError(f"plan of sensor {sensor}: need a finite target, direction ±1")
        if tolerance is None:
            # Not the limit deadband (often 5 % of span, a hysteresis for chatter): a level
            # gauge reads to mm, and a plan is missed by the first centimetres past it.
            p = self._params
            tolerance = DEFAULT_TOLERANCE_SPAN * float(p.range_hi[sensor] - p.range_lo[sensor])
        self.target[sensor], self.direction[sensor] = target, direction
        self.tolerance[sensor] = tolerance
        self.watch(sensor, True)

    def drop(self, sensor: int) -> None:
        self.target[sensor] = np.nan
        self.watch(sensor, False)

    def judge(self, st: State, rnd: Round, out: Changes) -> None:
        if rnd.dense:
            judge_at(st, self, rnd.usable_ts, out, rnd.number)
        else:
            judge_round(st, self, rnd.sensors, rnd.ts, rnd.usable, out, rnd.number)

    def restore(self, st: State, sensor: int, condition: Condition) -> None:
        if condition is Condition.OVERRUN and np.isnan(self.target[sensor]):
            self.watch(sensor, True)  # no plan came back with it: its next reading clears it

    def watch(self, sensors: int | np.ndarray, on: bool) -> None:
        """Judge `sensors` after each of their usable readings (on), or no more (off). A
        sensor with OVERRUN restored and no plan is watched so that it clears."""
        self.watched[sensors] = on
        self._rows = None


def judge(
    st: State, plans: Plans, rows: np.ndarray, ts: np.ndarray, out: Changes, round_no: int = 0
) -> None:
    """OVERRUN of watched `rows` whose last usable value came at `ts`; record changes."""
    if rows.size == 0:
        return
    was = (st.active[rows] & OVERRUN) != 0
    value = st.last_value[rows]  # reported: the reading, as every change reports it
    smooth = st.smooth[rows]
    judged = np.where(np.isnan(smooth), value, smooth)
    now = past_target(judged, plans.target[rows], plans.direction[rows], plans.tolerance[rows], was)
    flip = np.flatnonzero(now != was)
    if flip.size:
        s = rows[flip]
        st.active[s] ^= OVERRUN
        out.add(s, Condition.OVERRUN, now[flip], value[flip], ts[flip], round_no=round_no)
    ended = rows[~now & np.isnan(plans.target[rows])]
    if ended.size:  # cleared orphans need no more watching
        plans.watch(ended, False)


def judge_at(st: State, plans: Plans, at: np.ndarray, out: Changes, round_no: int) -> None:
    """OVERRUN after a park-sized round: `at` the ts of each sensor's usable reading
    (-inf or NaN: none)."""
    rows = plans.rows
    if rows.size:
        ok = at[rows] > -np.inf  # NaN is not greater either
        judge(st, plans, rows[ok], at[rows][ok], out, round_no)


def judge_round(
    st: State, plans: Plans, idx: np.ndarray, t: np.ndarray, usable: np.ndarray | bool,
    out: Changes, round_no: int,
) -> None:  # fmt: skip
    """OVERRUN after a round of readings at sensors `idx` (times `t`; `usable` per reading)."""
    if plans.rows.size == 0:
        return
    keep = plans.watched[idx] if usable is True else plans.watched[idx] & usable
    if keep.any():
        judge(st, plans, idx[keep], t[keep], out, round_no)
