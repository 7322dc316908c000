"""Deciding: turn what the checks measured into condition states.

One place applies the alarm-management rules (ISA-18.2) to every process condition:
- hysteresis: a high condition is raised when the value reaches the limit
  (`value >= limit`) and held until the value falls below `limit - deadband`; a low
  condition mirrors it (raised at `value <= limit`, cleared above `limit + deadband`).
  Reaching the set point counts, as a gas detector alarms on reaching its level.
- delays: a condition changes only after the wanted state has held continuously, by the
  readings' own timestamps, for `on_delay_s` (to raise) or `off_delay_s` (to clear). A
  reading that no longer wants the change resets the timer. A delay of 0 acts on the
  first reading.
Timers are `pending_since` arrays: the ts of the first reading wanting the change, NaN
when nothing is pending. Functions here are pure: they return new arrays.
"""

from __future__ import annotations

import numpy as np

from detectors.checks import at_or_above, at_or_below


def hold_high(
    value: np.ndarray, limit: np.ndarray, deadband: np.ndarray, active: np.ndarray
) -> np.ndarray:
    """Whether a high condition should be active now, with hysteresis (engineering units).

    Inactive: `value >= limit`. Active: `value >= limit - deadband`. A NaN limit
    (not configured) never holds, so a condition left active on it clears.

    >>> hold_high(np.array([80.0, 79.0, 77.9]), np.full(3, 80.0), np.full(3, 2.0),
    ...           np.array([False, True, True]))
    array([ True,  True, False])
    """
    # Arithmetic, not np.where: exact (x - 0.0 == x) and faster on unpredictable masks.
    return at_or_above(value, limit - deadband * active)


def hold_low(
    value: np.ndarray, limit: np.ndarray, deadband: np.ndarray, active: np.ndarray
) -> np.ndarray:
    """Whether a low condition should be active now: mirror of `hold_high`.

    >>> hold_low(np.array([1.0, 1.5, 2.1]), np.full(3, 1.0), np.full(3, 1.0),
    ...          np.array([False, True, True]))
    array([ True,  True, False])
    """
    return at_or_below(value, limit + deadband * active)


def delay(
    want: np.ndarray,
    active: np.ndarray,
    pending_since: np.ndarray,
    ts: np.ndarray,
    on_delay_s: np.ndarray,
    off_delay_s: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Apply on/off delays: returns (new active, new pending_since), times in epoch seconds.

    A change from `active` to `want` happens once it has been wanted continuously for
    the delay of its direction; until then its start is kept in `pending_since`.

    >>> delay(np.array([True, True, False]), np.array([False, False, True]),
    ...       np.array([np.nan, 70.0, np.nan]), np.full(3, 130.0),
    ...       np.full(3, 60.0), np.zeros(3))
    (array([False,  True, False]), array([130.,  nan,  nan]))
    """
    moving = np.flatnonzero(np.not_equal(want, active))
    if moving.size == 0:
        return active.copy(), np.full(np.shape(pending_since), np.nan)
    # Few sensors are ever on their way in or out of a condition: work on those only.
    was = active[moving]
    pending = pending_since[moving]
    t = ts[moving]
    since = np.where(np.isnan(pending), t, pending)
    elapsed = t - since
    waited = np.where(was, elapsed >= off_delay_s[moving], elapsed >= on_delay_s[moving])
    new_active = active.copy()
    new_active[moving] = was ^ waited
    new_pending = np.full(np.shape(pending_since), np.nan)
    new_pending[moving] = np.where(waited, np.nan, since)
    return new_active, new_pending


DECISIONS = (hold_high, hold_low, delay)

__all__ = ["DECISIONS", "delay", "hold_high", "hold_low"]
