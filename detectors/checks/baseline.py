"""The learned baseline of a sensor (mean and spread) and the CUSUM drift statistic.

Warm-up: the first `warmup_n` readings give a plain running mean and variance (Welford).
Then an EWMA with weight `alpha`, each reading first clipped to mean +- 4 sigma so a
single outlier moves the baseline by little (robust). The detector calls these only
while the sensor has no process condition active, so the baseline never learns an incident.
"""

from __future__ import annotations

import numpy as np

CLIP_SIGMA = 4.0
# The CUSUM takes each deviation clipped to +-CUSUM_CLIP_SIGMA sigma (a winsorised CUSUM):
# one wild reading adds at most (2.5 - k) sigma, so with h = 8 sigma and k = 1 sigma DRIFT
# needs six readings in a row. A sustained shift still gets there; a burst of noise is
# flagged NOISY first (about five readings) and a NOISY reading does not feed the CUSUM.
CUSUM_CLIP_SIGMA = 2.5


def baseline_sigma(var: np.ndarray, sigma_floor: np.ndarray) -> np.ndarray:
    """The spread used as a scale (engineering units): sqrt(var), at least `sigma_floor`.

    >>> baseline_sigma(np.array([4.0, 0.0, np.nan]), np.array([0.1, 0.1, 0.1]))
    array([2. , 0.1, 0.1])
    """
    with np.errstate(invalid="ignore"):
        return np.fmax(np.sqrt(np.fmax(var, 0.0)), sigma_floor)


def baseline_update(
    value: np.ndarray,
    mean: np.ndarray,
    var: np.ndarray,
    base_n: np.ndarray,
    warmup_n: np.ndarray,
    alpha: np.ndarray,
    sigma: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(mean, variance) after learning one reading; `base_n` readings learned before it.

    `sigma` is `baseline_sigma` of the current variance (the scale of the clipping).

    >>> m, v = baseline_update(np.array([4.0, 100.0]), np.array([2.0, 10.0]),
    ...     np.array([4.0, 1.0]), np.array([1.0, 500.0]), np.array([100.0, 100.0]),
    ...     np.array([0.5, 0.5]), np.array([2.0, 1.0]))
    >>> m.tolist(), v.tolist()
    ([3.0, 12.0], [3.0, 4.5])
    """
    warm = np.flatnonzero(base_n < warmup_n)
    with np.errstate(all="ignore"):
        if warm.size == np.size(value):  # a park that just started
            n1 = base_n + 1.0
            d = value - mean
            warm_mean = mean + d / n1
            return warm_mean, var + (d * (value - warm_mean) - var) / n1
        clip = CLIP_SIGMA * sigma
        upper = mean + clip
        c = np.subtract(mean, clip, out=clip)  # the lower bound
        np.maximum(value, c, out=c)
        np.minimum(c, upper, out=c)
        c -= mean
        ewma_mean = np.multiply(alpha, c, out=upper)  # alpha * c, then mean + alpha * c
        ewma_var = ewma_mean * c
        ewma_var += var
        ewma_var *= 1.0 - alpha
        ewma_mean += mean
        if warm.size:  # the few still warming up take the running mean and variance
            v, m, w = value[warm], mean[warm], var[warm]
            n1 = base_n[warm] + 1.0
            d = v - m
            ewma_mean[warm] = warm_mean = m + d / n1
            ewma_var[warm] = w + (d * (v - warm_mean) - w) / n1
    return ewma_mean, ewma_var


def cusum_update(
    value: np.ndarray,
    mean: np.ndarray,
    sigma: np.ndarray,
    k_sigma: np.ndarray,
    h_sigma: np.ndarray,
    cusum_hi: np.ndarray,
    cusum_lo: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided winsorised CUSUM of the deviation from the baseline (engineering units).

    d = value - mean clipped to +-CUSUM_CLIP_SIGMA * sigma; hi += d - k, lo += -d - k
    (k = k_sigma * sigma), each floored at 0 and capped at 2h (h = h_sigma * sigma) so a
    long incident does not take ages to unwind.

    >>> hi, lo = cusum_update(np.array([13.0, 12.0]), np.array([10.0, 10.0]), np.ones(2),
    ...     np.full(2, 0.5), np.full(2, 8.0), np.ones(2), np.full(2, 2.0))
    >>> hi.tolist(), lo.tolist()
    ([3.0, 2.5], [0.0, 0.0])
    """
    with np.errstate(all="ignore"):
        clip = CUSUM_CLIP_SIGMA * sigma
        d = value - mean
        np.minimum(d, clip, out=d)
        np.maximum(d, -clip, out=d)
        k = k_sigma * sigma
        cap = 2.0 * h_sigma * sigma
        hi = cusum_hi + d
        hi -= k
        np.maximum(hi, 0.0, out=hi)
        np.minimum(hi, cap, out=hi)
        lo = np.subtract(cusum_lo, d, out=d)
        lo -= k
        np.maximum(lo, 0.0, out=lo)
        np.minimum(lo, cap, out=lo)
    return hi, lo
