"""The cross-sensor stage: AREA_GAS (k of n gas detectors of an area) and CO_RISE.

AREA_GAS: for each area, the gas detectors with GAS1 or GAS2 active are counted; at
`area_k` or more the area's anchor (its lowest sensor index) raises AREA_GAS with the
count as value; it clears when the count falls below k. Recounted whenever a gas bit of
an area member changed; the change carries the latest ts of the readings that moved it.
CO_RISE: for a unit with a temperature and a pressure sensor, both slopes positive and
each above half its RATE limit (no rate limit: above SIGNIFICANCE standard errors), each
from at least MIN_SAMPLES samples (and, to raise, from filled windows: detectors.decide),
raise CO_RISE on the pressure sensor; it is held while both stay above 0.8 x those thresholds.
Re-evaluated for the units whose sensors took a usable reading.
"""

from __future__ import annotations

import numpy as np

from detectors import window
from detectors.changes import Changes
from detectors.checks import area_count, co_rising
from detectors.decide import HOLD_RATIO, MIN_SAMPLES, SIGNIFICANCE, window_filled
from detectors.rule import Round
from detectors.state import Params, State
from hazardwatch.vocabulary.model import Condition

GAS_BITS = np.uint32(Condition.GAS1.bit | Condition.GAS2.bit)
AREA = np.uint32(Condition.AREA_GAS.bit)
CO = np.uint32(Condition.CO_RISE.bit)


class AreaVote:
    """AREA_GAS as a rule (detectors.rule): recounts the areas whose members' gas bits moved."""

    conditions = frozenset({Condition.AREA_GAS})

    def __init__(self, p: Params) -> None:
        self._p = p
        self._recount = False  # a restore marked gas bits: recount every area once

    def judge(self, st: State, rnd: Round, out: Changes) -> None:
        p = self._p
        if p.area_k.size == 0:
            return
        if rnd.gas_moved.size:
            at = rnd.gas_moved
            vote_areas(st, p, rnd.sensors[at], rnd.ts[at], out, rnd.number)
        if self._recount:
            self._recount = False
            members = p.area_members
            when = np.full(members.size, np.nanmax(rnd.ts))
            vote_areas(st, p, members, when, out, rnd.number)

    def restore(self, st: State, sensor: int, condition: Condition) -> None:
        self._recount |= condition is Condition.AREA_GAS or bool(condition.bit & GAS_BITS)


class CoRise:
    """CO_RISE as a rule (detectors.rule): judges the units whose sensors took a usable
    reading."""

    conditions = frozenset({Condition.CO_RISE})

    def __init__(self, p: Params) -> None:
        self._p = p

    def judge(self, st: State, rnd: Round, out: Changes) -> None:
        if rnd.dense:
            co_rise_at(st, self._p, rnd.usable_ts, out, rnd.number)
        elif self._p.unit_pressure.size:
            at = rnd.usable_positions
            co_rise(st, self._p, rnd.sensors[at], rnd.ts[at], out, rnd.number)

    def restore(self, st: State, sensor: int, condition: Condition) -> None:
        st.co_dirty[sensor] = True  # any restored condition: its unit is judged again


def _latest_per_group(
    group: np.ndarray, ts: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray]:
    """The groups (areas, units) of some sensors, `group` per sensor (-1: none), ascending,
    and per group of all `n_groups` the latest ts among those sensors (-inf: none)."""
    keep = group >= 0
    when = np.full(n_groups, -np.inf)
    if not keep.any():
        return group[:0], when
    np.maximum.at(when, group[keep], ts[keep])
    return np.unique(group[keep]), when


def vote_areas(
    st: State, p: Params, sensors: np.ndarray, ts: np.ndarray, out: Changes, round_no: int
) -> None:
    """Recount the areas of `sensors` (whose gas bits changed at `ts`); record changes."""
    if sensors.size == 0 or p.area_k.size == 0:
        return
    areas, when = _latest_per_group(p.area[sensors], ts, p.area_k.size)
    if areas.size == 0:
        return
    anchors = p.area_anchor[areas]
    if areas.size * 4 < p.area_k.size:  # a few areas: count only their members
        begin, size = p.area_start[areas], np.diff(p.area_start)[areas]
        first = np.cumsum(size) - size  # where each area (its anchor first) lands in `sub`
        sub = p.area_grouped[np.repeat(begin - first, size) + np.arange(first[-1] + size[-1])]
        votes = area_count(p.area[sub], (st.active[sub] & GAS_BITS) != 0)[first]
    else:
        members = p.area_members
        count = area_count(p.area[members], (st.active[members] & GAS_BITS) != 0)
        votes = count[np.searchsorted(members, anchors)]
    now = votes >= p.area_k[areas]
    was = (st.active[anchors] & AREA) != 0
    flip = np.flatnonzero(now != was)
    if flip.size:
        a = anchors[flip]
        st.active[a] ^= AREA
        out.add(a, Condition.AREA_GAS, now[flip], votes[flip], when[areas[flip]], round_no=round_no)


def co_rise(
    st: State, p: Params, sensors: np.ndarray, ts: np.ndarray, out: Changes, round_no: int
) -> None:
    """Re-evaluate CO_RISE for the units of `sensors` (usable readings at `ts`)."""
    if p.unit_pressure.size == 0:
        return
    if sensors.size * 8 >= p.n:  # much of the park: mark sensors rather than sort pairs
        at = np.full(p.n, -np.inf)
        at[sensors] = ts
        co_rise_at(st, p, at, out, round_no)
        return
    # Only the units _co_rise_pairs would judge (both of a unit's sensors alike).
    pair = p.pair_of[sensors]
    some = np.maximum(pair, 0)
    tt, pp = p.unit_temperature[some], p.unit_pressure[some]
    judge = (pair >= 0) & (st.co_dirty[tt] | st.co_dirty[pp] | st.co_waiting[pp])
    if not judge.any():
        return
    pairs, when = _latest_per_group(np.where(judge, pair, -1), ts, p.unit_pressure.size)
    if pairs.size == 0:
        return
    _co_rise_pairs(st, p, pairs, when, out, round_no)


def co_rise_at(st: State, p: Params, at: np.ndarray, out: Changes, round_no: int) -> None:
    """Re-evaluate CO_RISE for the units with a usable reading: `at` its ts per sensor, -inf
    (or NaN) for none."""
    if p.unit_pressure.size == 0:
        return
    when = np.fmax(at[p.unit_temperature], at[p.unit_pressure])
    pairs = np.flatnonzero(when > -np.inf)
    _co_rise_pairs(st, p, pairs, when, out, round_no)


def _co_rise_pairs(
    st: State, p: Params, pairs: np.ndarray, when: np.ndarray, out: Changes, round_no: int
) -> None:
    """CO_RISE of the units `pairs` (rows of unit_temperature/pressure), `when` their ts."""
    tt, pp = p.unit_temperature, p.unit_pressure
    if pairs.size < tt.size:
        tt, pp = tt[pairs], pp[pairs]
    # Judged as before unless a slope window of the unit moved (State.co_dirty) or it waits
    # for its windows to fill: nothing else CO_RISE reads changes in between.
    judge = np.flatnonzero(st.co_dirty[tt] | st.co_dirty[pp] | st.co_waiting[pp])
    if judge.size < pairs.size:
        if judge.size == 0:
            return
        pairs, tt, pp = pairs[judge], tt[judge], pp[judge]
    st.co_dirty[tt] = st.co_dirty[pp] = st.co_waiting[pp] = False
    was = (st.active[pp] & CO) != 0
    slope_t, slope_p = st.slope[tt], st.slope[pp]
    if p.rates_nonnegative:
        # Thresholds are then >= 0: only a held pair or one with both slopes up can hold.
        live = np.flatnonzero(was | ((slope_t > 0.0) & (slope_p > 0.0)))
        if live.size < pairs.size:
            pairs, tt, pp, was = pairs[live], tt[live], pp[live], was[live]
            slope_t, slope_p = slope_t[live], slope_p[live]
    scale = np.where(was, HOLD_RATIO, 1.0)
    ok = (st.count[tt] >= MIN_SAMPLES) & (st.count[pp] >= MIN_SAMPLES)
    now = ok & co_rising(
        slope_t * 60.0,
        slope_p * 60.0,
        scale * _threshold(st, p, tt),
        scale * _threshold(st, p, pp),
    )
    raising = np.flatnonzero(now & ~was)  # few: only they pay for the window check
    if raising.size:
        now[raising] = filled = _filled(st, p, tt[raising]) & _filled(st, p, pp[raising])
        st.co_waiting[pp[raising[~filled]]] = True
    flip = np.flatnonzero(now != was)
    if flip.size:
        s = pp[flip]
        st.active[s] ^= CO
        out.add(
            s, Condition.CO_RISE, now[flip], st.last_value[s], when[pairs[flip]], round_no=round_no
        )


def _filled(st: State, p: Params, s: np.ndarray) -> np.ndarray:
    """Whether the slope windows of sensors `s` are filled (decide.window_filled)."""
    oldest = window.oldest_ts(st, s)
    return window_filled(st.count[s], oldest, st.last_ts[s], p.rate_window_s[s])


def _threshold(st: State, p: Params, s: np.ndarray) -> np.ndarray:
    """Half the RATE limit (units/min), or SIGNIFICANCE standard errors without one (>= 0)."""
    limit = p.rate_limit_per_min[s]
    se = np.nan_to_num(st.stderr[s], nan=np.inf) * 60.0
    return np.where(np.isnan(limit), SIGNIFICANCE * se, 0.5 * limit)
