"""The sampling round, compiled: each due window takes its sample and refits its slope, and
the CUSUM and the baseline learn that sample, in one pass over the sensors.

Every reading of a sensor that reports no faster than its window samples comes here, and
the work is sequential per sensor: drop the samples that left the window, add the new
one, refit, run the CUSUM, hold DRIFT, learn. As numpy it took some sixty passes over the
park's arrays (and gathers and scatters for the sensors that sampled); as one compiled
loop (numba) each sensor's memory is read and written once. The arithmetic is the array
code's, operation for operation: every answer is the same, bit for bit.

`rows` are sensor indices (detectors.state.indices) and the reading arrays are aligned
with them; settings and state are the park's whole arrays, indexed by sensor.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import types

from detectors import window
from detectors.checks.baseline import (
    baseline_follow,
    baseline_sigma,
    baseline_step,
    cusum_step,
    drift_threshold,
)
from detectors.checks.trend import least_squares
from detectors.compiled import inlined, kernel, reads, writes
from detectors.decide import hold_drift, significant
from detectors.state import PROCESS_BITS, State
from hazardwatch.vocabulary.model import Condition

_DRIFT = np.int64(Condition.DRIFT.bit)
_PROCESS = np.int64(PROCESS_BITS)
_NOT_DRIFT = np.int64(PROCESS_BITS & ~Condition.DRIFT.bit)
_I, _F, _B, _U = types.int64, types.float64, types.boolean, types.uint32


class Baseline(NamedTuple):
    """A park's learned-baseline arrays (the State's own), as the compiled loops take them."""

    base_mean: np.ndarray
    base_var: np.ndarray
    base_n: np.ndarray
    warm: np.ndarray
    base_sigma: np.ndarray

    @classmethod
    def of(cls, st: State) -> Baseline:
        return cls(*(getattr(st, name) for name in cls._fields))


BASELINE = types.NamedTuple((writes(_F), writes(_F), writes(_F), writes(_B), writes(_F)), Baseline)


@inlined
def _learn(i, value, sigma, learn, b, warmup_n, alpha, sigma_floor):  # fmt: skip
    """Sensor i's baseline learns `value` if `learn` (`sigma`: its spread before); its warm
    flag and spread follow."""
    n, var = b.base_n[i], b.base_var[i]
    if learn:
        mean, var = baseline_step(value, b.base_mean[i], var, n, warmup_n, alpha, sigma)
        b.base_mean[i], b.base_var[i] = mean, var
        n += 1.0
        b.base_n[i] = n
    b.warm[i] = n >= warmup_n
    b.base_sigma[i] = baseline_sigma(var, sigma_floor)


@kernel(
    reads(_I), reads(_F), reads(_F), reads(_B), writes(_B), window.WINDOW,
    writes(_F), writes(_F), writes(_F), writes(_B), writes(_F), writes(_B),
    reads(_F), reads(_F), _I, _B, writes(_F),
)  # fmt: skip
def take_samples(
    rows, t, v, usable, due, w,
    pushed_ts, slope, stderr, is_significant, trend_wake, co_dirty,
    sample_every_s, rate_window_s, rebase_cap, whole, sample_from,
):  # fmt: skip
    """Push each usable reading (t, v) into its sensor's window if that is due (its newest
    sample at least sample_every_s older, or none) and refit the slope of those.

    `due` (bool per row) receives which took a sample; returns how many did. At most
    `rebase_cap` windows whose origin is more than REBASE_S behind are rebased. A round over
    the `whole` park sets `sample_from[0]` to a ts before which no window is due.
    """
    taken = rebased = 0
    soonest = np.inf
    for k in range(rows.shape[0]):
        i = rows[k]
        due[k] = usable[k] and t[k] - pushed_ts[i] >= sample_every_s[i]
        if due[k]:
            taken += 1
            x = window.push(i, t[k], v[k], rate_window_s[i], w)
            if x > window.REBASE_S and rebased < rebase_cap:
                window.rebase(i, w)
                rebased += 1
            pushed_ts[i] = t[k]
            trend_wake[i] = -np.inf  # a new slope: judge RATE and PREDICT_* now
            co_dirty[i] = True
        if whole:  # when this window is next due (NaN: empty and no window: now)
            nxt = pushed_ts[i] + sample_every_s[i]
            soonest = min(soonest, nxt) if nxt == nxt else -np.inf
    if whole:  # 1 ms early: the bound is compared with a max ts, not as t - pushed >= every
        sample_from[0] = soonest - 1e-3
    # The fits in a second pass: interleaved with the pushes' loads from the ring, their
    # chains of divisions left the core waiting (6.2 ms against 4.8 at 100k).
    for k in range(rows.shape[0]):
        if due[k]:
            i = rows[k]
            c, sums = w.count[i], w.sums
            m, se, _, _ = least_squares(
                float(c), sums[0, i], sums[1, i], sums[2, i], sums[3, i], sums[4, i]
            )
            slope[i], stderr[i] = m, se
            is_significant[i] = significant(m, se, c)
    return taken


@kernel(
    reads(_I), reads(_F), reads(_F), reads(_F), writes(_U), reads(_B),
    BASELINE, writes(_F, 2), writes(_F), reads(_F),
    reads(_F), reads(_F), reads(_F), reads(_F), reads(_F), reads(_F), reads(_F),
)  # fmt: skip
def learn_samples(
    rows, t, v, sigma, bits, due, base, cusum, drift_off_since, drift_seen,
    drift_h_sigma, drift_k_sigma, warmup_n, alpha, sigma_floor, drift_off_delay_s, drift_floor,
):  # fmt: skip
    """The CUSUM, DRIFT and the baseline of each row that took a sample (`due`).

    `sigma` is each row's baseline sigma before this reading, `bits` its conditions (DRIFT
    updated in place). The CUSUM runs once the baseline is warm and no other process
    condition is active (DRIFT itself keeps it running); a DRIFT that would clear waits
    for its off-delay, and once it clears the CUSUM starts again from 0. The baseline
    learns the reading only if no process condition is active: it never learns an incident;
    under DRIFT alone it follows (checks.baseline_follow), so a lasting move re-arms.
    `drift_floor` (units) is the least deviation the CUSUM adds up (checks.cusum_step).
    """
    for k in range(rows.shape[0]):
        if not due[k]:
            continue
        i = rows[k]
        value, s, b = v[k], sigma[k], np.int64(bits[k])
        h_sigma = drift_h_sigma[i]
        was = (b & _DRIFT) != 0
        run = (b & _NOT_DRIFT) == 0 and base.warm[i] and h_sigma == h_sigma  # DRIFT set
        drift = was
        if run:
            floor, seen = drift_floor[i], drift_seen[i]
            hi, lo = cusum_step(
                value, base.base_mean[i], s, drift_k_sigma[i], h_sigma, cusum[0, i], cusum[1, i],
                floor, seen,
            )  # fmt: skip
            drift = hold_drift(hi, lo, drift_threshold(s, h_sigma, floor, seen), was)
        if was:  # the off-delay runs from the first reading that wanted DRIFT cleared
            since = drift_off_since[i]
            since = np.nan if drift else (t[k] if np.isnan(since) else since)
            done = t[k] - since >= drift_off_delay_s[i]
            drift_off_since[i] = np.nan if done else since
            drift = not done
        if run:
            if was and not drift:
                hi = lo = 0.0
            cusum[0, i], cusum[1, i] = hi, lo
        b = (b & ~_DRIFT) | (_DRIFT if drift else 0)
        bits[k] = b
        # Under DRIFT alone a warm baseline follows; one learning afresh after a STEP
        # (checks.restart) learns, or DRIFT, judged only once it is warm, is held for ever.
        drifted = drift and (b & _NOT_DRIFT) == 0
        learn = (b & _PROCESS) == 0 or (drifted and not base.warm[i])
        if drifted and base.warm[i]:
            base.base_mean[i], base.base_var[i] = baseline_follow(
                value, base.base_mean[i], base.base_var[i], alpha[i], s
            )
        _learn(i, value, s, learn, base, warmup_n[i], alpha[i], sigma_floor[i])


@kernel(reads(_I), reads(_F), BASELINE, reads(_F), reads(_F), reads(_F))
def learn_baselines(rows, v, base, warmup_n, alpha, sigma_floor):  # fmt: skip
    """Teach the baseline of each of `rows` (no duplicates) one reading; no conditions.

    Every reading taught counts alike (Welford, past the warm-up too): rows given as normal
    operation (replay's --learn-rows) are all normal, while the EWMA would weigh the last of
    them most and keep the narrow spread of the first `warmup_n`."""
    for k in range(rows.shape[0]):
        i = rows[k]
        s = baseline_sigma(base.base_var[i], sigma_floor[i])
        n = base.base_n[i]
        mean, var = baseline_step(v[k], base.base_mean[i], base.base_var[i], n, np.inf, 0.0, s)
        base.base_mean[i], base.base_var[i], base.base_n[i] = mean, var, n + 1.0
        base.warm[i] = n + 1.0 >= warmup_n[i]
        base.base_sigma[i] = baseline_sigma(var, sigma_floor[i])


@kernel(reads(_I), reads(_F), BASELINE, writes(_F), reads(_F), reads(_F), reads(_F))
def learn_excursions(rows, v, base, drift_seen, drift_h_sigma, drift_k_sigma, drift_floor):
    """Each sensor's largest CUSUM sum over learning readings, against the baseline they
    taught, in its sigmas: into `drift_seen` (kept if larger). `rows` sorted by sensor, each
    sensor's readings in ts order; sensors not warm or without DRIFT are skipped. The sums
    are not capped (drift_seen inf): the whole excursion is measured."""
    hi = lo = 0.0
    for k in range(rows.shape[0]):
        i = rows[k]
        if k == 0 or rows[k - 1] != i:
            hi = lo = 0.0
        h_sigma = drift_h_sigma[i]
        if not base.warm[i] or h_sigma != h_sigma:
            continue
        hi, lo = cusum_step(
            v[k], base.base_mean[i], base.base_sigma[i], drift_k_sigma[i], h_sigma, hi, lo,
            drift_floor[i], np.inf,
        )  # fmt: skip
        seen = max(hi, lo) / base.base_sigma[i]
        if seen > drift_seen[i]:
            drift_seen[i] = seen
