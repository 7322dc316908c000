"""The learned baseline of a sensor (mean and spread) and the CUSUM drift statistic.

Warm-up: the first `warmup_n` readings give a plain running mean and variance (Welford).
Then an EWMA with weight `alpha`, each reading first clipped to mean +- 4 sigma so a
single outlier moves the baseline by little (robust). The detector calls these only
while the sensor has no process condition active, so the baseline never learns an incident;
with DRIFT alone active it follows, faster than it learns (baseline_follow).
"""

from __future__ import annotations

import numpy as np

from detectors.compiled import inlined

CLIP_SIGMA = 4.0
# While DRIFT is the only process condition the baseline's level still follows the
# readings, at this multiple of its usual pace (a weight of at most 1): a level that moved
# for good becomes the sensor's usual level within about 1 / (5 alpha) samples (200 at the
# default alpha), DRIFT clears and re-arms for the next change. At half the pace (before) a
# DRIFT on an hourly sensor took months to unwind (NAB's ambient temperature: 69 days, over
# a labelled failure) and hid every move after it. The spread is not learned meanwhile
# (only normal readings teach it): a creep that goes on (a leak) keeps a lag of its slope /
# (5 alpha) behind it, in the sigmas of normal operation, and DRIFT stays raised.
DRIFT_FOLLOW_SHARE = 5.0
# The CUSUM takes each deviation clipped to +-CUSUM_CLIP_SIGMA sigma (a winsorised CUSUM):
# one wild reading adds at most (2.5 - k) sigma, so with h = 8 sigma and k = 1 sigma DRIFT
# needs six readings in a row. A sustained shift still gets there; a burst of noise is
# flagged NOISY first (about five readings) and a NOISY reading does not feed the CUSUM.
CUSUM_CLIP_SIGMA = 2.5
# A sensor's DRIFT floor (Params.drift_floor, units: a gas detector's share of its first
# level) is the CUSUM's least slack; its threshold is at least this many floors. A reading,
# clipped at two floors, adds at most one: DRIFT needs eight samples far beyond the floor
# (a blip of a minute does not raise it) or more just beyond it (a sustained rise does).
DRIFT_FLOOR_H = 8.0
# A sensor whose learning rows (Detector.learn: replay's --learn-rows, normal operation by
# definition) already drifted by some CUSUM sum shows that much wander as its usual: DRIFT
# needs this many times the largest sum it showed (State.drift_seen). Without learning rows
# drift_seen is 0 and the threshold is h_sigma sigmas, as before.
DRIFT_SEEN_MARGIN = 1.5


@inlined
def baseline_sigma(var: float, sigma_floor: float) -> float:
    """The spread used as a scale (engineering units): sqrt(var), at least `sigma_floor`.

    >>> baseline_sigma(4.0, 0.1), baseline_sigma(0.0, 0.1), baseline_sigma(np.nan, 0.1)
    (2.0, 0.1, 0.1)
    """
    return np.fmax(np.sqrt(np.fmax(var, 0.0)), sigma_floor)


@inlined
def baseline_step(
    value: float,
    mean: float,
    var: float,
    base_n: float,
    warmup_n: float,
    alpha: float,
    sigma: float,
) -> tuple[float, float]:
    """(mean, variance) after learning one reading; `base_n` readings learned before it.

    `sigma` is `baseline_sigma` of the current variance (the scale of the clipping).

    >>> baseline_step(4.0, 2.0, 4.0, 1.0, 100.0, 0.5, 2.0)  # warming up: Welford
    (3.0, 3.0)
    >>> baseline_step(100.0, 10.0, 1.0, 500.0, 100.0, 0.5, 1.0)  # 100 clipped to 10 + 4
    (12.0, 4.5)
    """
    if base_n < warmup_n:
        n1 = base_n + 1.0
        d = value - mean
        new_mean = mean + d / n1
        return new_mean, var + (d * (value - new_mean) - var) / n1
    clip = CLIP_SIGMA * sigma
    c = np.minimum(np.maximum(value, mean - clip), mean + clip) - mean
    step = alpha * c
    return step + mean, (step * c + var) * (1.0 - alpha)


@inlined
def baseline_follow(
    value: float, mean: float, var: float, alpha: float, sigma: float
) -> tuple[float, float]:
    """(mean, variance) after following one reading while drifted: the mean takes the
    EWMA's step at DRIFT_FOLLOW_SHARE times its pace (at most a weight of 1), the reading
    clipped as when learning; the variance stays (it is learned on normal readings only).

    >>> baseline_follow(100.0, 10.0, 1.0, 0.05, 1.0)  # 100 clipped to 10 + 4, a quarter step
    (11.0, 1.0)
    >>> baseline_follow(100.0, 10.0, 1.0, 0.5, 1.0)  # at most the reading itself (clipped)
    (14.0, 1.0)
    """
    a = DRIFT_FOLLOW_SHARE * alpha
    a = a if a < 1.0 else 1.0
    clip = CLIP_SIGMA * sigma
    c = np.minimum(np.maximum(value, mean - clip), mean + clip) - mean
    step = a * c
    return mean + step, var


@inlined
def cusum_step(
    value: float,
    mean: float,
    sigma: float,
    k_sigma: float,
    h_sigma: float,
    cusum_hi: float,
    cusum_lo: float,
    drift_floor: float,
    drift_seen: float,
) -> tuple[float, float]:
    """Two-sided winsorised CUSUM of the deviation from the baseline (engineering units).

    d = value - mean clipped to +-max(CUSUM_CLIP_SIGMA * sigma, 2 x drift_floor);
    hi += d - k, lo += -d - k (k = k_sigma * sigma, at least `drift_floor`: a deviation
    smaller than the floor never adds up), each floored at 0 and capped at 2h
    (h = `drift_threshold`) so a long incident does not take ages to unwind.

    >>> cusum_step(13.0, 10.0, 1.0, 0.5, 8.0, 1.0, 2.0, 0.0, 0.0)
    (3.0, 0.0)
    >>> cusum_step(12.0, 10.0, 1.0, 0.5, 8.0, 1.0, 2.0, 0.0, 0.0)
    (2.5, 0.0)
    >>> cusum_step(12.0, 10.0, 1.0, 0.5, 8.0, 1.0, 2.0, 2.5, 0.0)  # under the floor: no drift
    (0.5, 0.0)
    """
    clip = CUSUM_CLIP_SIGMA * sigma
    clip = np.fmax(clip, 2.0 * drift_floor)
    d = np.maximum(np.minimum(value - mean, clip), -clip)
    k = np.fmax(k_sigma * sigma, drift_floor)
    cap = 2.0 * drift_threshold(sigma, h_sigma, drift_floor, drift_seen)
    hi = np.minimum(np.maximum(cusum_hi + d - k, 0.0), cap)
    lo = np.minimum(np.maximum(cusum_lo - d - k, 0.0), cap)
    return hi, lo


@inlined
def drift_threshold(sigma: float, h_sigma: float, drift_floor: float, drift_seen: float) -> float:
    """The CUSUM's decision threshold h (units): h_sigma sigmas, or DRIFT_SEEN_MARGIN times the
    largest sum the learning rows showed (`drift_seen`, in sigmas) if more, at least
    DRIFT_FLOOR_H times `drift_floor`.

    >>> drift_threshold(1.0, 8.0, 0.0, 0.0), drift_threshold(1.0, 8.0, 2.5, 0.0)
    (8.0, 20.0)
    >>> drift_threshold(2.0, 8.0, 0.0, 10.0)  # learned: it wandered by a sum of 10 sigmas
    30.0
    >>> drift_threshold(1.0, np.nan, 2.5, 10.0)  # DRIFT off
    nan
    """
    seen = DRIFT_SEEN_MARGIN * drift_seen
    h = (seen if seen > h_sigma else h_sigma) * sigma  # NaN h_sigma (DRIFT off) stays NaN
    floor = DRIFT_FLOOR_H * drift_floor
    return floor if h < floor else h
