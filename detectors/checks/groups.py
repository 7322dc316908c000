"""Cross-sensor rules: gas detectors of an area vote; temperature and pressure rise together."""

from __future__ import annotations

import numpy as np


def area_count(area: np.ndarray, alarmed: np.ndarray) -> np.ndarray:
    """Per sensor, how many detectors of its area are alarmed (float; 0 without an area).

    `area` is the area index per sensor (-1: none), `alarmed` a bool per sensor.

    >>> area_count(np.array([0, 0, 1, -1, 0]), np.array([True, True, True, True, False]))
    array([2., 2., 1., 0., 2.])
    """
    member = area >= 0
    if not member.any():
        return np.zeros(area.shape, np.float64)
    counts = np.bincount(area[member], weights=np.asarray(alarmed[member], np.float64))
    return np.where(member, counts[np.where(member, area, 0)], 0.0)


def co_rising(
    slope_t: np.ndarray, slope_p: np.ndarray, threshold_t: np.ndarray, threshold_p: np.ndarray
) -> np.ndarray:
    """Temperature and pressure of one tank both rising faster than their thresholds.

    Slopes and thresholds per unit, each in its sensor's units/min; a NaN never rises.

    >>> co_rising(np.array([1.0, 1.0]), np.array([5.0, 5.0]), np.array([0.5, 0.5]),
    ...           np.array([4.0, 6.0]))
    array([ True, False])
    """
    return np.greater(slope_t, threshold_t) & np.greater(slope_p, threshold_p)


def cooling_missing(
    temperature: np.ndarray,
    status: np.ndarray,
    start_above: np.ndarray,
    running_above: np.ndarray,
) -> np.ndarray:
    """A cooled unit hotter than its cooling's on-point while its status says it is off.

    Per cooled unit; a NaN temperature or status (never heard) is never missing.

    >>> cooling_missing(np.array([31.0, 31.0, 29.0, 31.0]), np.array([0.0, 20.0, 0.0, np.nan]),
    ...                 np.full(4, 30.5), np.full(4, 0.5))
    array([ True, False, False, False])
    """
    return np.greater(temperature, start_above) & np.less_equal(status, running_above)
