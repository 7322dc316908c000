"""The early-warning stage: window, RATE, PREDICT_HH/LL, DRIFT and the learned baseline.

Runs on usable readings only (measured, no signal fault), after the limit checks:
1. the sample enters the window (detectors.window) if the last one entered at least
   `sample_every_s` before, and the slope is refitted; it counts only from enough samples
   over enough of the window's time (detectors.decide);
2. RATE and PREDICT_* follow the slope (rules in detectors.decide; PREDICT_* is raised on
   the sure slope, the slope less its uncertainty); PREDICT_* clears once
   that limit's alarm is active and is not raised while it is (the alarm takes over). While held its
   eta is reported again (active=True, new eta_ts) when it moved enough;
3. on the samples the window takes (not every reading of a fast sensor), the CUSUM runs
   once the baseline is warmed up, except while another process condition of the sensor
   is active (DRIFT itself keeps it running, so DRIFT can clear); it resets
   to 0 when DRIFT clears;
4. the baseline learns the reading only if, after all this, no process condition of the
   sensor is active: it never learns an incident;
5. a STEP (an instrument shift, detectors.signal) restarted the window (`restart`); it
   clears once the window is filled again (decide.window_filled), or on a good reading a
   window or more after the one before it (a sensor slower than its window).
Steps 1, 3 and 4 are sequential per sensor and run as compiled loops (detectors.sampling);
RATE and PREDICT_* are numpy over the few sensors whose trend can change.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from detectors import window
from detectors.changes import Changes
from detectors.checks import time_to_high, time_to_low
from detectors.decide import (
    ETA_MOVE_FRACTION,
    ETA_MOVE_MIN_S,
    MIN_SPAN_SHARE,
    eta_moved,
    hold_predict,
    hold_rate,
    sure_slope,
    window_filled,
)
from detectors.sampling import (
    Baseline,
    learn_baselines,
    learn_excursions,
    learn_samples,
    take_samples,
)
from detectors.state import (
    SLOTS,
    Params,
    State,
    indices,
    rows_at,
)
from detectors.window import REBASE_SHARE
from hazardwatch.vocabulary.model import Condition

RATE, P_HH, P_LL, DRIFT, STEP = (
    np.uint32(c.bit)
    for c in (
        Condition.RATE,
        Condition.PREDICT_HH,
        Condition.PREDICT_LL,
        Condition.DRIFT,
        Condition.STEP,
    )
)
_TRENDS = RATE | P_HH | P_LL
_PREDICTS = ((0, P_HH, Condition.PREDICT_HH, True), (1, P_LL, Condition.PREDICT_LL, False))


def advance_trends(
    st: State,
    p: Params,
    rows: np.ndarray | slice,
    reading: tuple[np.ndarray, np.ndarray, np.ndarray],
    sigma: np.ndarray,
    bits: np.ndarray,
    out: Changes,
    round_no: int,
    usable: np.ndarray | None = None,
) -> np.ndarray:
    """Apply one usable reading (sensor, ts, value) per sensor in `rows`; return their new
    condition bits.

    `sigma` is their baseline sigma (checks.baseline_sigma), `bits` their conditions after
    this reading's limit checks (updated in place); eta updates of held PREDICT_* go
    straight to `out`. With `usable` (a mask over `rows`, a slice), only the readings it
    marks are applied: the others' state and bits stay as they are.
    """
    sensor, t, v = reading
    # The window takes a sample every sample_every_s (so RING_SIZE slots span the whole
    # rate_window_s however fast the sensor reports); an empty window (pushed_ts -inf:
    # never filled or restarted) takes the first. Those refit their slope.
    idx = indices(rows, st.count.size)
    due = np.empty(idx.size, bool)
    whole = isinstance(rows, slice) and idx.size == st.count.size
    cap = max(64, int((idx.size if isinstance(rows, slice) else st.count.size) * REBASE_SHARE))
    if idx.size and float(t.max()) < st.sample_from[0]:
        taken = 0  # no window is due (a synchronised park between two samples)
    else:
        taken = take_samples(
            idx, t, v, _every(idx.size) if usable is None else usable, due, window.Window.of(st),
            st.pushed_ts, st.slope, st.stderr, st.significant, st.trend_wake, st.co_dirty,
            p.sample_every_s, p.rate_window_s, cap, whole, st.sample_from,
        )  # fmt: skip
    # Between samples a sensor's RATE and PREDICT_* change only at its trend_wake (set
    # below when they are judged): the others skip the fit and the rules.
    awake = t >= st.trend_wake[rows]
    sig = st.significant[rows] & awake
    if usable is not None:
        sig &= usable
    sig = np.flatnonzero(sig)
    fill_at = None  # significant, but the window does not span enough yet:
    if sig.size:  # few sensors have a significant slope: check their time span only
        r = rows_at(rows, sig)
        oldest, window_s = window.oldest_ts(st, r), p.rate_window_s[r]
        filled = window_filled(st.count[r], oldest, t[sig], window_s)
        if not filled.all():  # it will, at fill_at, unless a sample comes first
            short = ~filled
            late = r[short]
            fill_at = _early(oldest[short] + MIN_SPAN_SHARE * window_s[short], t[sig[short]])
            st.trend_wake[late] = np.inf  # lowered to fill_at below
            sig = sig[filled]
    # Only a significant slope raises a trend condition and only an active one is held:
    # the rest (most of a quiet park) skip RATE and PREDICT_* altogether. `bits` is
    # updated in place from here on.
    cand, cand_sig = sig, None  # None: every candidate is significant
    flagged = (bits & (STEP | _TRENDS)) != 0
    if usable is not None:
        flagged &= usable
    flagged = np.flatnonzero(flagged)
    if flagged.size:
        flags = bits[flagged]
        stepped = flagged[(flags & STEP) != 0]
        if stepped.size:
            r = rows_at(rows, stepped)
            oldest = window.oldest_ts(st, r)
            refilled = window_filled(st.count[r], oldest, t[stepped], p.rate_window_s[r])
            # A sensor that reports less often than its window spans (an hourly series, a
            # gauge heard at its heartbeat) never fills it again: the good reading after
            # the step, a window or more later, ends the STEP (`hist`: newer first).
            refilled |= st.hist[1, r] - st.hist[3, r] > p.rate_window_s[r]
            bits[stepped[refilled]] &= ~STEP
        held = flagged[(flags & _TRENDS) != 0]
        held = held[awake[held]]
        if held.size:  # masks, not union1d/isin: both sort
            is_sig = np.zeros(bits.shape, bool)
            is_sig[sig] = True
            is_cand = is_sig.copy()
            is_cand[held] = True
            cand = np.flatnonzero(is_cand)
            cand_sig = is_sig[cand]
    if cand.size:
        r = rows_at(rows, cand)
        fit = _fit(st, r, t[cand])
        if cand_sig is None:
            cand_sig = np.ones(cand.shape, bool)
        fitted = (st.slope[r], st.stderr[r], fit, cand_sig)
        reading = (sensor[cand], t[cand], v[cand])
        bits[cand], wake = _rate_and_predict(st, p, r, reading, fitted, bits[cand], out, round_no)
        st.trend_wake[r] = _early(wake, t[cand])
    if fill_at is not None:
        st.trend_wake[late] = np.fmin(st.trend_wake[late], fill_at)
    # The CUSUM and the baseline take the samples the window takes: readings closer than
    # sample_every_s are mostly the same noise again, and a CUSUM that summed them would
    # drift faster the faster a sensor reports.
    if taken:
        learn_samples(
            idx, t, v, sigma, bits, due, Baseline.of(st), st.cusum,
            st.drift_off_since, st.drift_seen, p.drift_h_sigma, p.drift_k_sigma, p.warmup_n,
            p.alpha, p.sigma_floor, p.drift_off_delay_s, p.drift_floor,
        )  # fmt: skip
    return bits


@cache
def _every(n: int) -> np.ndarray:
    return np.ones(n, bool)  # writeable, like every mask: one compiled variant


def _fit(st: State, rows: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The value at `t` of the line fitted to the windows of `rows` (their st.slope, fitted
    when the window took its last sample); NaN for an empty window."""
    n = st.count[rows]
    with np.errstate(invalid="ignore", divide="ignore"):
        fit = t - st.t0[rows]
        fit -= st.sums[0, rows] / n  # x from the window's mean
        fit *= st.slope[rows]
        fit += st.sums[1, rows] / n
    fit += st.v0[rows]
    empty = n == 0  # restarted: st.slope is the old window's
    if empty.any():
        fit[empty] = np.nan
    return fit


def _rate_and_predict(
    st: State,
    p: Params,
    rows: np.ndarray,
    reading: tuple[np.ndarray, np.ndarray, np.ndarray],
    fitted: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    bits: np.ndarray,
    out: Changes,
    round_no: int,
) -> tuple[np.ndarray, np.ndarray]:
    """RATE and PREDICT_* for candidate `rows`: reading (sensor, ts, value) and the fitted
    (slope units/s, its standard error, value at ts, significant). Returns their new bits
    and the ts before which neither can change (trend_wake, before the margin of _early).

    Until the window takes its next sample the line is fixed, and with it RATE and the
    predicted crossing (eta = ts + time to the limit is the same at every ts): a warning
    not raised is raised once eta - ts falls under the horizon, one held is reported again
    once its eta moved by more than eta_moved's allowance, which shrinks as ts nears it.
    Nothing else moves them but a limit alarm (LimitRules wakes the sensor then)."""
    sensor, t, v = reading
    slope, stderr, fit, sig = fitted
    limit_per_min = p.rate_limit_per_min[rows]
    rate = hold_rate(slope * 60.0, stderr * 60.0, limit_per_min, sig, (bits & RATE) != 0)
    new = (bits & ~RATE) | rate * RATE
    horizon = p.horizon_s[rows]
    wake = np.full(rows.shape, np.inf)
    sure = sure_slope(slope, stderr)
    with np.errstate(invalid="ignore", divide="ignore"):
        # A line at the sure slope through the fit reaches the limit within the horizon from
        # the ts the fit is `horizon x sure / slope` short of the limit's eta.
        sure_share = sure / slope
    for k, bit, condition, high in _PREDICTS:
        limit = p.limit[3 * k][rows]  # HH (gas: second level) or LL
        was = (new & bit) != 0
        time_to = time_to_high if high else time_to_low
        seconds = time_to(fit, slope, limit)
        sure_seconds = time_to(fit, sure, limit)
        # The warning hands over to the limit's alarm when that is raised, not when a reading
        # first touches the limit: a value hovering there through the alarm's on-delay would
        # otherwise raise and clear the warning with every reading.
        alarmed = (bits & SLOTS[3 * k].bits(p.is_gas[rows])) != 0
        now = hold_predict(seconds, horizon, sig, was, sure_seconds) & ~alarmed
        eta = t + seconds
        reported = st.eta[k][rows]
        moved = now & was & eta_moved(eta, reported, t)
        reported = np.where(now, np.where(moved | ~was, eta, reported), np.nan)
        st.eta[k][rows] = reported
        with np.errstate(invalid="ignore"):  # NaN eta (no limit) and inf (heading away): never
            # An alarmed limit holds it off until the alarm moves (then LimitRules wakes it).
            raise_at = np.where(~now & sig & ~alarmed, eta - horizon * sure_share, np.inf)
            gap = np.abs(eta - reported)
            move_at = np.where(now & (gap > ETA_MOVE_MIN_S), eta - gap / ETA_MOVE_FRACTION, np.inf)
            # Once the line has reached the limit (the alarm not raised: the readings are
            # below the fit), eta = ts moves with the clock: reported again ETA_MOVE_MIN_S
            # after the eta last reported.
            crossed_at = np.where(now, np.fmax(eta, reported + ETA_MOVE_MIN_S), np.inf)
        wake = np.fmin(wake, np.fmin(np.fmin(raise_at, move_at), crossed_at))
        hit = np.flatnonzero(moved)
        if hit.size:
            out.add(sensor[hit], condition, True, v[hit], t[hit], eta[hit], round_no)
        new = (new & ~bit) | now * bit
    return new, wake


def _early(wake: np.ndarray, t: np.ndarray) -> np.ndarray:
    """`wake` a little early (1 ms and a millionth of the time to it): eta is recomputed at
    each ts with its own rounding, and judging a reading too many is harmless. NaN: now."""
    with np.errstate(invalid="ignore"):
        early = wake - (1e-3 + 1e-6 * np.abs(wake - t))
    bad = np.isnan(early)
    if bad.any():  # inf - inf (never) or a NaN wake (now)
        early[bad] = np.where(wake[bad] == np.inf, np.inf, -np.inf)
    return early


def restart(st: State, rows: np.ndarray, jump: np.ndarray) -> None:
    """After an instrument STEP (or a usual switch) of `jump` (units) on `rows`: the window
    starts again with the next sample, the CUSUM from 0, and the baseline is learned afresh
    (warmed up again before the CUSUM runs): moved by the jump of one reading, its mean
    would be off by that reading's noise, and the CUSUM took the error for a drift."""
    st.count[rows] = 0
    st.pushed_ts[rows] = -np.inf  # the next usable reading is sampled
    st.sample_from[0] = -np.inf
    st.significant[rows] = False  # too few samples
    st.trend_wake[rows] = -np.inf
    st.co_dirty[rows] = True
    st.cusum[:, rows] = 0.0
    st.base_mean[rows] += jump
    st.base_n[rows] = 0.0
    st.warm[rows] = False


def learn(st: State, p: Params, rows: np.ndarray, v: np.ndarray) -> None:
    """Teach the baseline of `rows` (no duplicates) one reading each; no conditions."""
    learn_baselines(
        np.asarray(rows, np.int64), np.asarray(v, np.float64), Baseline.of(st),
        p.warmup_n, p.alpha, p.sigma_floor,
    )  # fmt: skip


def learn_wander(st: State, p: Params, rows: np.ndarray, v: np.ndarray) -> None:
    """Note in State.drift_seen how far learning readings drifted from the baseline they
    taught (`rows` sorted by sensor, each sensor's readings in ts order)."""
    learn_excursions(
        np.asarray(rows, np.int64), np.asarray(v, np.float64), Baseline.of(st), st.drift_seen,
        p.drift_h_sigma, p.drift_k_sigma, p.drift_floor,
    )  # fmt: skip
