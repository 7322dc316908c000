"""Staleness: has a sensor been silent for longer than it may be?"""

from __future__ import annotations

import numpy as np


def is_stale(now: float, last_seen: np.ndarray, stale_after_s: np.ndarray) -> np.ndarray:
    """True where `now - last_seen > stale_after_s` (all epoch seconds / seconds).

    `stale_after_s` is the sensor's period times its stale periods (default 3 x 10 s);
    NaN means never stale.

    >>> is_stale(130.0, np.array([100.0, 99.0, 0.0]), np.array([30.0, 30.0, np.nan]))
    array([False,  True, False])
    """
    return np.greater(np.subtract(now, last_seen), stale_after_s)
