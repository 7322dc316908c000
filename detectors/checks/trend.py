"""Trend checks: the least-squares slope of the recent window and the time it needs to a limit.

The window is kept as running sums (detectors.window), so a slope costs O(1) per reading.
"""

from __future__ import annotations

import numpy as np


def least_squares(
    count: np.ndarray,
    sum_x: np.ndarray,
    sum_y: np.ndarray,
    sum_xx: np.ndarray,
    sum_xy: np.ndarray,
    sum_yy: np.ndarray,
    x_now: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slope (units/s), its standard error, and the fitted value at `x_now`.

    x is time in s and y the value, both from a per-sensor origin; timestamps may be
    irregular. Fewer than 2 samples, or all at one instant, give NaN; the standard error
    needs 3 samples.

    >>> s, se, fit = least_squares(np.array([3.0]), np.array([3.0]), np.array([6.0]),
    ...     np.array([5.0]), np.array([10.0]), np.array([20.0]), np.array([3.0]))
    >>> float(s[0]), float(se[0]), float(fit[0])
    (2.0, 0.0, 6.0)
    """
    with np.errstate(all="ignore"):
        n = np.asarray(count, np.float64)
        mean_x = sum_x / n
        mean_y = sum_y / n
        sxx = sum_x * mean_x
        np.subtract(sum_xx, sxx, out=sxx)
        sxy = sum_x * mean_y
        np.subtract(sum_xy, sxy, out=sxy)
        slope = sxy / sxx
        no_fit = ~((n >= 2.0) & (sxx > 0.0))
        if no_fit.any():
            slope[no_fit] = np.nan
        sse = sum_y * mean_y
        np.subtract(sum_yy, sse, out=sse)  # syy
        sxy *= slope
        sse -= sxy
        np.fmax(sse, 0.0, out=sse)  # rounding may leave a tiny negative
        n_2 = n - 2.0
        sse /= n_2
        sse /= sxx
        stderr = np.sqrt(sse, out=sse)
        few = ~(n >= 3.0)
        if few.any():
            stderr[few] = np.nan
        fit = np.subtract(x_now, mean_x, out=mean_x)
        fit *= slope
        fit += mean_y
    return slope, stderr, fit


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
