"""Limit checks: is a process value at or beyond a set point?

These only compare; deadband (hysteresis) and on/off delays are decided in `detectors.decide`.
"""

from __future__ import annotations

import numpy as np


def at_or_above(value: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """True where the process value has reached a high set point (`value >= threshold`).

    Both in the sensor's engineering unit (m, degC, kPa, %LEL, ppm...). A NaN threshold
    (limit not configured) or a NaN value is never at or above anything.

    >>> at_or_above(np.array([79.0, 80.0, 81.0, np.nan]), np.array([80.0, 80.0, np.nan, 80.0]))
    array([False,  True, False, False])
    """
    return np.greater_equal(value, threshold)


def at_or_below(value: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """True where the process value has reached a low set point (`value <= threshold`).

    Mirror of `at_or_above`: a NaN threshold or value is never at or below anything.

    >>> at_or_below(np.array([0.4, 0.5, 0.6]), np.array([0.5, 0.5, 0.5]))
    array([ True,  True, False])
    """
    return np.less_equal(value, threshold)
