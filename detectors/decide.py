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
when nothing is pending.

Early warnings and signal faults get hysteresis as well, as a ratio of their threshold:
- RATE is raised when |slope| > rate limit with at least MIN_SAMPLES samples, the slope
  beyond SIGNIFICANCE standard errors, and the window filled: its samples span
  MIN_SPAN_SHARE of the slope window or number FILLED_SAMPLES (a few samples after a start or
  a gap are not a trend: with few degrees of freedom the significance test lets through a
  few per cent of pure noise), and |slope| - limit beyond SIGNIFICANCE standard errors;
  held while |slope| >= HOLD_RATIO x limit;
- PREDICT_* is raised when the predicted time to the limit is under the horizon even at the
  slowest slope the window allows (the slope less SIGNIFICANCE standard errors, so noise
  around a level well below the limit predicts nothing), on the same sample and
  significance rule; held while under CLEAR_HORIZON x horizon and the trend
  still heads there. The caller clears it once the value has reached the limit (the limit
  alarm takes over). While held, its eta is reported again when it moved by more than
  max(ETA_MOVE_FRACTION of the remaining time, ETA_MOVE_MIN_S);
- DRIFT is raised when a CUSUM sum passes h and held while it stays above h/2, and then for
  the sensor's drift_off_delay_s more (default 300 s; an off-delay: a gas plume that
  meanders over a detector raised and cleared DRIFT every few minutes);
- NOISY is raised above its threshold and held while above NOISY_HOLD_RATIO x threshold
  (a burst of noise has quiet moments: a narrower band chattered on and off).
Functions here are pure: they return new arrays. The rules of a sample's window and
CUSUM and signal faults (`significant`, `hold_drift`, `hold_noisy`) take one sensor's numbers:
the compiled loops (detectors.sampling, detectors.signal) call them per sensor.
"""

from __future__ import annotations

import numpy as np

from detectors.checks import at_or_above, at_or_below
from detectors.compiled import inlined


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


MIN_SAMPLES = 5
MIN_SPAN_SHARE = 0.5  # of rate_window_s the samples of a slope must span to raise anything
FILLED_SAMPLES = 32  # ... or this many samples (half the ring: a fast sensor's whole window)
SIGNIFICANCE = 3.0  # standard errors a slope must exceed before it may raise anything
HOLD_RATIO = 0.8
NOISY_HOLD_RATIO = 0.5
DRIFT_HOLD_RATIO = 0.5  # DRIFT is held while the CUSUM stays above this x its threshold
# A held prediction clears beyond twice its horizon (a noisy slope moved the eta back and
# forth across 1.2 x, chattering on slow fills), and is reported again when its eta moved
# by a quarter of the time left (at a tenth, a slow fill updated every half minute).
CLEAR_HORIZON = 2.0
ETA_MOVE_FRACTION = 0.25
ETA_MOVE_MIN_S = 60.0


@inlined
def significant(slope: float, stderr: float, count: float) -> bool:
    """A slope from enough samples and beyond SIGNIFICANCE standard errors (noise is not a trend).

    >>> significant(1.0, 0.1, 5), significant(1.0, 0.5, 5), significant(1.0, 0.0, 4)
    (True, False, False)
    """
    return count >= MIN_SAMPLES and abs(slope) > SIGNIFICANCE * stderr


def window_filled(
    count: np.ndarray, oldest_ts: np.ndarray, ts: np.ndarray, window_s: np.ndarray
) -> np.ndarray:
    """Whether a window of `count` samples, oldest to newest `ts`, is filled enough to trust
    its slope: spanning MIN_SPAN_SHARE of `window_s` (s), or FILLED_SAMPLES samples.

    >>> window_filled(np.array([16, 11, 40]), np.array([0.0, 100.0, 160.0]),
    ...               np.full(3, 200.0), np.full(3, 300.0))
    array([ True, False,  True])
    """
    return (ts - oldest_ts >= MIN_SPAN_SHARE * window_s) | (count >= FILLED_SAMPLES)


def hold_rate(
    slope_per_min: np.ndarray,
    stderr_per_min: np.ndarray,
    rate_limit_per_min: np.ndarray,
    significant: np.ndarray,
    active: np.ndarray,
) -> np.ndarray:
    """Whether RATE should be active: |slope| beyond the limit (units/min), with hysteresis.

    Raised only when the slope is beyond the limit by SIGNIFICANCE standard errors: a fill
    near its rated rate, seen through instrument noise, is not over it.

    >>> hold_rate(np.array([1.2, -1.2, 0.9, 0.7, 1.2]), np.array([0.0, 0.0, 0.0, 0.0, 0.1]),
    ...           np.full(5, 1.0), np.array([True, True, False, True, True]),
    ...           np.array([False, False, True, True, False]))
    array([ True,  True,  True, False, False])
    """
    with np.errstate(invalid="ignore"):
        speed = np.abs(slope_per_min)
        beyond = speed - rate_limit_per_min > SIGNIFICANCE * stderr_per_min
        raise_ = (speed > rate_limit_per_min) & beyond & significant
        return np.where(active, speed >= HOLD_RATIO * rate_limit_per_min, raise_)


def hold_predict(
    seconds_to_limit: np.ndarray,
    horizon_s: np.ndarray,
    significant: np.ndarray,
    active: np.ndarray,
    sure_seconds: np.ndarray | None = None,
) -> np.ndarray:
    """Whether PREDICT_* should be active: the limit is reached within the horizon (s).

    `seconds_to_limit` is inf when the trend heads away, NaN without a limit. It is raised
    only when `sure_seconds` (the time at the slowest slope the window allows: the slope
    less SIGNIFICANCE standard errors; default `seconds_to_limit`) is under the horizon,
    so a slope that noise alone made barely significant predicts nothing; it is held on
    the fitted slope.

    >>> hold_predict(np.array([100.0, 2000.0, 2000.0, np.inf]), np.full(4, 1800.0),
    ...              np.array([True, True, True, True]), np.array([False, False, True, True]))
    array([ True, False,  True, False])
    >>> hold_predict(np.array([100.0]), np.array([1800.0]), np.array([True]),
    ...              np.array([False]), np.array([5000.0]))  # not sure enough
    array([False])
    """
    sure = seconds_to_limit if sure_seconds is None else sure_seconds
    with np.errstate(invalid="ignore"):
        raise_ = (sure < horizon_s) & significant
        return np.where(active, seconds_to_limit < CLEAR_HORIZON * horizon_s, raise_)


def sure_slope(slope: np.ndarray, stderr: np.ndarray) -> np.ndarray:
    """The slowest slope (units/s) the window allows in the slope's own direction: |slope|
    less SIGNIFICANCE standard errors, 0 when that is not beyond 0; NaN stays NaN.

    >>> sure_slope(np.array([2.0, -2.0, 0.5, np.nan]), np.array([0.5, 0.5, 0.5, 0.1]))
    array([ 0.5, -0.5,  0. ,  nan])
    """
    with np.errstate(invalid="ignore"):
        speed = np.abs(slope) - SIGNIFICANCE * stderr
        return np.where(speed > 0.0, np.copysign(speed, slope), slope * 0.0)


def eta_moved(eta_ts: np.ndarray, reported_eta_ts: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Whether a predicted crossing (epoch s) moved enough from the one reported to report again.

    >>> eta_moved(np.array([1000.0, 1000.0, 140.0, 500.0]),
    ...           np.array([1050.0, 1300.0, 50.0, np.nan]), np.zeros(4))
    array([False,  True,  True,  True])
    """
    with np.errstate(invalid="ignore"):
        allowed = np.fmax(ETA_MOVE_FRACTION * (eta_ts - ts), ETA_MOVE_MIN_S)
        return ~(np.abs(eta_ts - reported_eta_ts) <= allowed)


@inlined
def hold_drift(cusum_hi: float, cusum_lo: float, threshold: float, active: bool) -> bool:
    """Whether DRIFT should be active: a CUSUM sum beyond h (units), held above h/2.

    >>> hold_drift(5.0, 0.0, 4.0, False), hold_drift(3.0, 0.0, 4.0, False)
    (True, False)
    >>> hold_drift(3.0, 0.0, 4.0, True)
    True
    """
    return np.fmax(cusum_hi, cusum_lo) > threshold * (DRIFT_HOLD_RATIO if active else 1.0)


@inlined
def hold_noisy(noise: float, threshold: float, active: bool) -> bool:
    """Whether NOISY should be active: short-term noise beyond the threshold (units), held
    above NOISY_HOLD_RATIO of it.

    >>> hold_noisy(6.0, 5.0, False), hold_noisy(2.6, 5.0, True), hold_noisy(2.4, 5.0, True)
    (True, True, False)
    """
    return noise > threshold * (NOISY_HOLD_RATIO if active else 1.0)


DECISIONS = (
    hold_high,
    hold_low,
    delay,
    window_filled,
    hold_rate,
    hold_predict,
    sure_slope,
    eta_moved,
)
# The rules the compiled sampling loop applies to one sensor at a time (scalars in and out).
SENSOR_DECISIONS = (significant, hold_drift, hold_noisy)

__all__ = [
    "DECISIONS",
    "SENSOR_DECISIONS",
    "delay",
    "eta_moved",
    "hold_drift",
    "hold_high",
    "hold_low",
    "hold_noisy",
    "hold_predict",
    "hold_rate",
    "significant",
    "sure_slope",
    "window_filled",
]
