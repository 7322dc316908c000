"""The early-warning stage: window, RATE, PREDICT_HH/LL, DRIFT and the learned baseline.

Runs on usable readings only (measured, no signal fault), after the limit checks:
1. the sample enters the window (detectors.window) if the last one entered at least
   `sample_every_s` before, and the slope is refitted; it counts only from enough samples
   over enough of the window's time (detectors.decide);
2. RATE and PREDICT_* follow the slope (rules in detectors.decide); PREDICT_* clears once
   that limit's alarm is active and is not raised while it is (the alarm takes over). While held its
   eta is reported again (active=True, new eta_ts) when it moved enough;
3. on the samples the window takes (not every reading of a fast sensor), the CUSUM runs
   once the baseline is warmed up, except while another process condition of the sensor
   is active (DRIFT itself keeps it running, so DRIFT can clear); it resets
   to 0 when DRIFT clears;
4. the baseline learns the reading only if, after all this, no process condition of the
   sensor is active: it never learns an incident;
5. a STEP (an instrument shift, detectors.signal) restarted the window (`restart`); it
   clears once the window is filled again (decide.window_filled).
"""

from __future__ import annotations

import numpy as np

from detectors import window
from detectors.changes import Changes
from detectors.checks import (
    baseline_sigma,
    baseline_update,
    cusum_update,
    least_squares,
    time_to_high,
    time_to_low,
)
from detectors.decide import (
    ETA_MOVE_FRACTION,
    ETA_MOVE_MIN_S,
    MIN_SPAN_SHARE,
    eta_moved,
    hold_drift,
    hold_predict,
    hold_rate,
    significant,
    window_filled,
)
from detectors.state import (
    PROCESS_BITS,
    SLOTS,
    Params,
    State,
    columns,
    rows_at,
    setting,
    subset,
)
from hazardwatch.model import Condition

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
_PROCESS = np.uint32(PROCESS_BITS)
_TRENDS = RATE | P_HH | P_LL
_NOT_DRIFT = np.uint32(PROCESS_BITS & ~Condition.DRIFT.bit)
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
    # never filled or restarted) takes the first.
    due = t - st.pushed_ts[rows] >= p.sample_every_s[rows]
    if usable is not None:
        due &= usable
    r_due, pos = subset(rows, due)
    few = None  # positions put back after a round run over the whole slice
    if isinstance(rows, slice) and not isinstance(pos, slice) and pos.size * 8 >= due.size * 7:
        # Nearly every window takes a sample (the sampling round of a synchronised park): the
        # round runs over the whole slice, the few rows that take none get their memory back.
        few = np.flatnonzero(~due)
        r_due, pos, kept = rows, slice(None), _keep(st, rows_at(rows, few), _WINDOW)
    some_due = isinstance(pos, slice) or pos.size > 0
    if some_due:
        t_due, v_due = t[pos], v[pos]
        if few is not None:
            t_due = t.copy()
            t_due[few] = np.nan  # no eviction, no rebase: pushed and put back unseen
        count, t0, _, s = window.push(st, r_due, t_due, v_due, setting(p.rate_window_s, r_due))
        st.pushed_ts[r_due] = t_due
        st.trend_wake[r_due] = -np.inf  # a new slope: judge RATE and PREDICT_* now
        # Only a window that took a sample has a new slope (and significance), from the
        # sums the push holds; the value the fit gives now is needed by the few
        # candidates below only.
        slope_r, stderr_r, _ = least_squares(count, s[0], s[1], s[2], s[3], s[4], t_due - t0)
        st.slope[r_due], st.stderr[r_due] = slope_r, stderr_r
        st.significant[r_due] = significant(slope_r, stderr_r, count)
        st.co_dirty[r_due] = True
        if few is not None:
            _put_back(st, rows_at(rows, few), kept)
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
        fit = _fit(st, r, t[cand])[2]
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
    if few is not None:
        r, kept_bits = rows_at(rows, few), bits[few]
        kept = _keep(st, r, _BASELINE)
        bits = _drift_and_baseline(st, p, rows, t, v, sigma, bits)
        _put_back(st, r, kept)
        bits[few] = kept_bits
        return bits
    if isinstance(pos, slice):
        return _drift_and_baseline(st, p, rows, t, v, sigma, bits)
    if some_due:
        bits[pos] = _drift_and_baseline(st, p, r_due, t_due, v_due, sigma[pos], bits[pos])
    return bits


# What a sample changes in the state: the window and its fit, the baseline and the CUSUM.
_WINDOW = (
    *("count", "head", "t0", "v0", "sums", "tail_ts", "pushed_ts"),
    *("slope", "stderr", "significant", "co_dirty", "trend_wake"),
)
_BASELINE = ("base_mean", "base_var", "base_n", "warm", "base_sigma", "cusum", "drift_off_since")


def _keep(st: State, rows: np.ndarray, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Copies of the state `names` of `rows` (with the ring slot a push would write next)."""
    kept = {name: getattr(st, name)[..., rows] for name in names}
    if "head" in kept:
        kept["ring_ts"] = st.ring_ts[kept["head"], rows]
        kept["ring_value"] = st.ring_value[kept["head"], rows]
    return kept


def _put_back(st: State, rows: np.ndarray, kept: dict[str, np.ndarray]) -> None:
    """Undo what a round did to `rows`: write back what `_keep` copied."""
    for name, a in kept.items():
        if name in ("ring_ts", "ring_value"):
            getattr(st, name)[kept["head"], rows] = a
        else:
            getattr(st, name)[..., rows] = a


def _fit(
    st: State, rows: np.ndarray | slice, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(slope, its standard error, fitted value at `t`) of the windows of `rows`."""
    s = columns(st.sums, rows)
    slope, stderr, fit = least_squares(
        st.count[rows], s[0], s[1], s[2], s[3], s[4], t - st.t0[rows]
    )
    fit += st.v0[rows]
    return slope, stderr, fit


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
    for k, bit, condition, high in _PREDICTS:
        limit = p.limit[3 * k][rows]  # HH (gas: second level) or LL
        was = (new & bit) != 0
        seconds = time_to_high(fit, slope, limit) if high else time_to_low(fit, slope, limit)
        # The warning hands over to the limit's alarm when that is raised, not when a reading
        # first touches the limit: a value hovering there through the alarm's on-delay would
        # otherwise raise and clear the warning with every reading.
        alarmed = (bits & SLOTS[3 * k].bits(p.is_gas[rows])) != 0
        now = hold_predict(seconds, horizon, sig, was) & ~alarmed
        eta = t + seconds
        reported = st.eta[k][rows]
        moved = now & was & eta_moved(eta, reported, t)
        reported = np.where(now, np.where(moved | ~was, eta, reported), np.nan)
        st.eta[k][rows] = reported
        with np.errstate(invalid="ignore"):  # NaN eta (no limit) and inf (heading away): never
            # An alarmed limit holds it off until the alarm moves (then LimitRules wakes it).
            raise_at = np.where(~now & sig & ~alarmed, eta - horizon, np.inf)
            gap = np.abs(eta - reported)
            move_at = np.where(now & (gap > ETA_MOVE_MIN_S), eta - gap / ETA_MOVE_FRACTION, np.inf)
        wake = np.fmin(wake, np.fmin(raise_at, move_at))
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


def _drift_and_baseline(
    st: State,
    p: Params,
    rows: np.ndarray | slice,
    t: np.ndarray,
    v: np.ndarray,
    sigma: np.ndarray,
    bits: np.ndarray,
) -> np.ndarray:
    mean, var, n = st.base_mean[rows], st.base_var[rows], st.base_n[rows]
    warm = st.warm[rows]
    h_sigma = setting(p.drift_h_sigma, rows)
    run = (bits & _NOT_DRIFT) == 0
    run &= warm  # n >= warmup_n
    run &= h_sigma == h_sigma  # not NaN: DRIFT configured
    was = (bits & DRIFT) != 0
    any_run = bool(run.any())
    if any_run:
        hi_lo = columns(st.cusum, rows)
        k_sigma = setting(p.drift_k_sigma, rows)
        hi, lo = cusum_update(v, mean, sigma, k_sigma, h_sigma, hi_lo[0], hi_lo[1])
        drift = hold_drift(hi, lo, h_sigma * sigma, was)
        all_run = bool(run.all())
        if not all_run:
            drift = np.where(run, drift, was)
    else:  # nothing warmed up or configured: every CUSUM keeps its sums, DRIFT its state
        drift = was.copy()
    held = np.flatnonzero(was)
    if held.size:  # few: the off-delay of those that would clear
        drift[held] = _off_delay(st, p, rows_at(rows, held), t[held], drift[held])
    if any_run:
        keep = drift | ~was  # a DRIFT that clears resets its sums
        if not all_run:
            keep &= run
        if not keep.all():  # few: reset the cleared, keep the sums of those not run
            other = np.flatnonzero(~keep)
            stay = ~run[other]
            hi[other] = np.where(stay, hi_lo[0][other], 0.0)
            lo[other] = np.where(stay, hi_lo[1][other], 0.0)
        st.cusum[0][rows], st.cusum[1][rows] = hi, lo
    bits = bits & ~DRIFT
    bits |= drift * DRIFT
    learn = (bits & _PROCESS) == 0
    warmup_n = setting(p.warmup_n, rows)
    new_mean, new_var = baseline_update(v, mean, var, n, warmup_n, setting(p.alpha, rows), sigma)
    if not learn.all():
        stay = np.flatnonzero(~learn)
        new_mean[stay], new_var[stay] = mean[stay], var[stay]
    st.base_mean[rows], st.base_var[rows] = new_mean, new_var
    st.base_n[rows] = n = n + learn
    st.warm[rows] = n >= warmup_n
    sigma_floor = setting(p.sigma_floor, rows)
    st.base_sigma[rows] = baseline_sigma(new_var, sigma_floor)  # `sigma` used up
    return bits


def _off_delay(
    st: State, p: Params, rows: np.ndarray, t: np.ndarray, want: np.ndarray
) -> np.ndarray:
    """Whether the active DRIFT of `rows` stays: wanted, or not wanted for less than the
    sensor's drift_off_delay_s (the timer runs from the first reading that wanted it cleared)."""
    since = st.drift_off_since[rows]
    since = np.where(want, np.nan, np.where(np.isnan(since), t, since))
    done = t - since >= p.drift_off_delay_s[rows]
    st.drift_off_since[rows] = np.where(done, np.nan, since)
    return ~done


def restart(st: State, rows: np.ndarray, jump: np.ndarray) -> None:
    """After an instrument STEP of `jump` (units) on `rows`: the window starts again with
    the next sample, the CUSUM from 0, and the baseline moves with the instrument."""
    st.count[rows] = 0
    st.pushed_ts[rows] = -np.inf  # the next usable reading is sampled
    st.significant[rows] = False  # too few samples
    st.trend_wake[rows] = -np.inf
    st.co_dirty[rows] = True
    st.cusum[:, rows] = 0.0
    st.base_mean[rows] += jump


def learn(st: State, p: Params, rows: np.ndarray, v: np.ndarray) -> None:
    """Teach the baseline of `rows` (no duplicates) one reading each; no conditions."""
    mean, var, n = st.base_mean[rows], st.base_var[rows], st.base_n[rows]
    sigma = baseline_sigma(var, p.sigma_floor[rows])
    new_mean, new_var = baseline_update(v, mean, var, n, p.warmup_n[rows], p.alpha[rows], sigma)
    st.base_mean[rows], st.base_var[rows], st.base_n[rows] = new_mean, new_var, n + 1.0
    st.warm[rows] = st.base_n[rows] >= p.warmup_n[rows]
    st.base_sigma[rows] = baseline_sigma(new_var, p.sigma_floor[rows])
