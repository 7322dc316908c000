"""The check behind OVERRUN: a level past its transfer plan's target."""

from __future__ import annotations

import numpy as np


def past_target(
    value: np.ndarray,
    target: np.ndarray,
    direction: np.ndarray,
    tolerance: np.ndarray,
    was: np.ndarray,
) -> np.ndarray:
    """Past `target` in the plan's `direction` (+1 filling, -1 emptying) by more than
    `tolerance`; a condition already raised (`was`) holds until the value is back at the
    target. No plan (NaN target) is never past.

    >>> past_target(np.array([14.3, 14.3, 14.05, 13.9]), np.full(4, 14.0),
    ...             np.array([1.0, -1.0, 1.0, 1.0]), np.full(4, 0.2),
    ...             np.array([False, False, False, True]))
    array([ True, False, False, False])
    >>> past_target(np.array([14.05]), np.array([14.0]), np.array([1.0]), np.array([0.2]),
    ...             np.array([True]))
    array([ True])
    """
    excess = direction * (value - target)
    return np.where(was, excess > 0.0, excess > tolerance)
