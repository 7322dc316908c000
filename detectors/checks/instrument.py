"""Instrument checks: is a reading a measurement at all?

A reading outside its instrument's range, or flagged bad by the device, says nothing
about the process; the detector raises an instrument fault and keeps the process
conditions as they were.
"""

from __future__ import annotations

import numpy as np

from hazardwatch.vocabulary.model import Quality

# Transmitters over- and under-range a little (4-20 mA loops read 3.8-20.5 mA), so a value
# just past the range end is still a measurement. [mem] a default, configurable per Detector.
RANGE_TOLERANCE = 0.005  # fraction of the instrument span


def out_of_range(
    value: np.ndarray,
    range_lo: np.ndarray,
    range_hi: np.ndarray,
    tolerance: float = RANGE_TOLERANCE,
) -> np.ndarray:
    """True where a value lies outside `[range_lo - tol, range_hi + tol]`, tol = tolerance * span.

    Value and range in the engineering unit; `tolerance` a fraction of the span
    (0.005 = 0.5 %). A non-finite value is no measurement and counts as out of range; a
    NaN range end means that end is not configured and is never crossed.

    >>> out_of_range(np.array([-0.6, -0.4, 100.4, 100.6, np.inf]),
    ...              np.zeros(5), np.full(5, 100.0))
    array([ True, False, False,  True,  True])
    """
    if range_lo.strides == range_hi.strides == (0,):  # one range shared by all: work it out once
        range_lo, range_hi = range_lo[:1], range_hi[:1]
    tol = np.subtract(range_hi, range_lo, dtype=np.float64)
    tol *= tolerance
    hi = range_hi + tol
    lo = np.subtract(range_lo, tol, out=tol)
    out = np.isfinite(value)
    np.logical_not(out, out=out)
    side = np.less(value, lo)
    out |= side
    out |= np.greater(value, hi, out=side)
    return out


def bad_quality(quality: np.ndarray) -> np.ndarray:
    """True where the device flagged its reading bad (Quality.BAD); uncertain is still used.

    >>> bad_quality(np.array([0, 1, 2], dtype=np.uint8))
    array([False, False,  True])
    """
    return np.equal(quality, int(Quality.BAD))
