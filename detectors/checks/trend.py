"""Trend checks: the least-squares slope of the recent window and the time it needs to a limit.

The window is kept as running sums (detectors.window), so a slope costs O(1) per reading.
The slope is fitted per sensor inside the compiled sampling loop (detectors.sampling).
"""

from __future__ import annotations

import numpy as np

from detectors.compiled import inlined


@inlined
def least_squares(
    n: float, sum_x: float, sum_y: float, sum_xx: float, sum_xy: float, sum_yy: float
) -> tuple[float, float, float, float]:
    """(slope, its standard error, mean x, mean y) of `n` samples from their sums.

    x is time in s and y the value, both from the window's origin; timestamps may be
    irregular. Fewer than 2 samples, or all at one instant, give a NaN slope; the standard
    error needs 3 samples. The line's value at x is mean y + (x - mean x) x slope.

    >>> least_squares(3.0, 3.0, 6.0, 5.0, 10.0, 20.0)  # (0, 0), (1, 2), (2, 4)
    (2.0, 0.0, 1.0, 2.0)
    """
    mean_x = sum_x / n
    mean_y = sum_y / n
    sxx = sum_xx - sum_x * mean_x
    sxy = sum_xy - sum_x * mean_y
    slope = sxy / sxx
    if not (n >= 2.0 and sxx > 0.0):
        slope = np.nan
    sse = sum_yy - sum_y * mean_y
    sse -= sxy * slope
    sse = np.fmax(sse, 0.0)  # rounding may leave a tiny negative
    sse /= n - 2.0
    sse /= sxx
    stderr = np.sqrt(sse)
    if not n >= 3.0:
        stderr = np.nan
    return slope, stderr, mean_x, mean_y


def time_to_high(value: np.ndarray, slope: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """Seconds until a value rising at `slope` (units/s) reaches a high limit.

    0 when already there; inf when not rising; NaN when the limit is not configured.

    >>> time_to_high(np.array([50.0, 50.0, 95.0, 50.0]), np.array([0.5, -1.0, 0.1, 0.5]),
    ...              np.array([80.0, 80.0, 90.0, np.nan]))
    array([60., inf,  0., nan])
    """
    with np.errstate(all="ignore"):
        t = np.where(slope > 0.0, np.fmax((limit - value) / slope, 0.0), np.inf)
    return np.where(np.isnan(limit), np.nan, t)


def time_to_low(value: np.ndarray, slope: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """Seconds until a value falling at `slope` (units/s) reaches a low limit: mirror of above.

    >>> time_to_low(np.array([50.0, 50.0]), np.array([-0.5, 0.5]), np.array([20.0, 20.0]))
    array([60., inf])
    """
    with np.errstate(all="ignore"):
        t = np.where(slope < 0.0, np.fmax((limit - value) / slope, 0.0), np.inf)
    return np.where(np.isnan(limit), np.nan, t)
