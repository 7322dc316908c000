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
from detectors.state import Params, State
from hazardwatch.model import Condition, HazardWatchError

OVERRUN = np.uint32(Condition.OVERRUN.bit)
DEFAULT_TOLERANCE_SPAN = 0.01  # of the instrument span, when the plan gives no tolerance


class Plans:
    """The open transfer plans, at most one per sensor, as arrays over every sensor."""

    def __init__(self, params: Params) -> None:
        n = params.n
        self._span = params.range_hi - params.range_lo
        self.target = np.full(n, np.nan)
        self.direction = np.zeros(n)
        self.tolerance = np.zeros(n)
        self.watched = np.zeros(n, np.bool_)  # a plan, or OVERRUN to clear (restored)
        self.rows = np.empty(0, np.int64)  # the watched sensors, ascending

    def set(self, sensor: int, target: float, direction: int, tolerance: float | None) -> None:
        if not math.isfinite(target) or direction not in (-1, 1):
            raise HazardWatchError(f"plan of sensor {sensor}: need a finite target, direction ±1")
        if tolerance is None:
            # Not the limit deadband (often 5 % of span, a hysteresis for chatter): a level
            # gauge reads to mm, and a plan is missed by the first centimetres past it.
            tolerance = DEFAULT_TOLERANCE_SPAN * float(self._span[sensor])
        self.target[sensor], self.direction[sensor] = target, direction
        self.tolerance[sensor] = tolerance
        self._watch(sensor, True)

    def drop(self, sensor: int) -> None:
        self.target[sensor] = np.nan
        self._watch(sensor, False)

    def watch_orphan(self, sensor: int) -> None:
        """OVERRUN restored on a sensor without a plan: judge it so that it clears."""
        self._watch(sensor, True)

    def _watch(self, sensor: int, on: bool) -> None:
        self.watched[sensor] = on
        self.rows = np.flatnonzero(self.watched)


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
        plans.watched[ended] = False
        plans.rows = np.flatnonzero(plans.watched)


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
