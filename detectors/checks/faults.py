"""Signal faults: a sensor that spikes, sticks or turns noisy (instrument, not process).

The detector does not use a faulty reading for process checks, the window or the baseline.
"""

from __future__ import annotations

import numpy as np

NOISE_ALPHA = 0.2  # EWMA weight while the noise rises: about the last 5-10 readings
# ... and while it falls: a burst of noise has quiet moments (a toxic detector clipped at 0
# reads several zeros in a row), which must not end NOISY in the middle of the burst.
NOISE_DECAY_ALPHA = 0.05
SMOOTH_ALPHA = 0.2  # EWMA weight of the smoothed value a NOISY sensor's limits judge
# A spike must clear the physical rate by this many sigma of the sensor's white noise.
SPIKE_NOISE_SIGMAS = 6.0


def is_spike(
    value: np.ndarray,
    ts: np.ndarray,
    ref_value: np.ndarray,
    ref_ts: np.ndarray,
    prev_value: np.ndarray,
    prev_ts: np.ndarray,
    spike_rate_per_s: np.ndarray,
    noise: np.ndarray,
) -> np.ndarray:
    """A jump faster than the physics allows (`spike_rate_per_s`, units/s) plus the noise.

    Jumping from the last good reading (`ref_*`) is a spike unless the previous reading
    (`prev_*`) already jumped there too: two readings in a row confirm a real step. The
    jump must also clear SPIKE_NOISE_SIGMAS times the sensor's own white-noise estimate
    (`noise`): at 1 Hz the rate allowance alone is only a few sigma of an ordinary level
    transmitter's noise. Before the sensor has a noise estimate (NaN, its first three
    readings) nothing is judged a spike.

    >>> is_spike(np.array([90.0, 90.0, 50.5, 90.0]), np.full(4, 10.0), np.full(4, 50.0),
    ...     np.full(4, 9.0), np.array([50.0, 89.0, 50.0, 50.0]), np.full(4, 9.0),
    ...     np.full(4, 5.0), np.array([0.1, 0.1, 0.1, np.nan]))
    array([ True, False, False, False])
    >>> is_spike(np.array([57.0]), np.array([10.0]), np.array([50.0]), np.array([9.0]),
    ...     np.array([50.0]), np.array([9.0]), np.array([5.0]), np.array([1.0]))
    array([False])
    """
    allowance = SPIKE_NOISE_SIGMAS * noise
    with np.errstate(all="ignore"):
        jump = np.subtract(value, ref_value)
        np.abs(jump, out=jump)
        allowed = np.subtract(ts, ref_ts)
        allowed *= spike_rate_per_s
        allowed += allowance
        spike = np.greater(jump, allowed)
        # Rare: only a jump from the last good reading asks whether the previous one jumped.
        cand = np.flatnonzero(spike)
        if cand.size:
            value, prev_value, prev_ts = value[cand], prev_value[cand], prev_ts[cand]
            rate, allowance = spike_rate_per_s[cand], allowance[cand]
            spike[cand] = np.abs(value - prev_value) > rate * (ts[cand] - prev_ts) + allowance
    return spike  # NaN allowance compares False: not judged yet


def is_step(
    value: np.ndarray,
    ts: np.ndarray,
    ref_value: np.ndarray,
    prev_value: np.ndarray,
    prev_ts: np.ndarray,
    spike_rate_per_s: np.ndarray,
    noise: np.ndarray,
    prev_spiked: np.ndarray,
) -> np.ndarray:
    """A jump faster than the physics that the next reading confirms: the instrument shifted.

    The previous reading (`prev_*`) was judged a spike (`prev_spiked`: it jumped from the
    last good reading `ref_*` faster than `spike_rate_per_s` allows) and this one stays
    where it jumped to: within the physical rate plus SPIKE_NOISE_SIGMAS of the noise of
    the spike, and nearer to it than to the last good value. A process cannot move that
    fast, so it is a bias, a recalibration or a reconnection, not a process change.

    >>> is_step(np.array([90.0, 50.2, 90.0]), np.full(3, 11.0), np.full(3, 50.0),
    ...     np.array([89.0, 89.0, 89.0]), np.full(3, 10.0), np.full(3, 5.0),
    ...     np.full(3, 0.1), np.array([True, True, False]))
    array([ True, False, False])
    """
    allowance = SPIKE_NOISE_SIGMAS * noise
    with np.errstate(all="ignore"):
        to_prev = np.abs(value - prev_value)
        near_prev = to_prev <= spike_rate_per_s * (ts - prev_ts) + allowance
        return prev_spiked & near_prev & (to_prev < np.abs(value - ref_value))


def second_difference(
    value: np.ndarray,
    ts: np.ndarray,
    v1: np.ndarray,
    t1: np.ndarray,
    v2: np.ndarray,
    t2: np.ndarray,
) -> np.ndarray:
    """Half the distance of a reading from the line through the two before it (units).

    A ramp gives 0, white noise of sigma s about 1.0 s on average; NaN without history.

    >>> second_difference(np.array([3.0, 5.0]), np.array([3.0, 3.0]), np.array([2.0, 2.0]),
    ...     np.array([2.0, 2.0]), np.array([1.0, 1.0]), np.array([1.0, 1.0]))
    array([0., 1.])
    """
    with np.errstate(all="ignore"):
        d = np.subtract(v1, v2)
        gap = np.subtract(ts, t1)
        d *= gap
        d /= np.subtract(t1, t2, out=gap)
        d += v1  # the predicted value
        np.subtract(value, d, out=d)
        np.abs(d, out=d)
        d *= 0.5
    finite = np.isfinite(d)
    return d if finite.all() else np.where(finite, d, np.nan)


def noise_update(noise: np.ndarray, second_diff: np.ndarray) -> np.ndarray:
    """EWMA of the second difference, weight NOISE_ALPHA up and NOISE_DECAY_ALPHA down;
    the first one starts it.

    >>> noise_update(np.array([np.nan, 1.0, 1.0, 1.0]), np.array([2.0, 2.0, np.nan, 0.0]))
    array([2.  , 1.2 , 1.  , 0.95])
    """
    with np.errstate(invalid="ignore"):
        # gap * (DECAY + (ALPHA - DECAY) * [gap > 0]) without a select on a random mask.
        step = np.subtract(second_diff, noise)
        up = np.maximum(step, 0.0)
        up *= NOISE_ALPHA - NOISE_DECAY_ALPHA
        step *= NOISE_DECAY_ALPHA
        step += up
        step += noise
    # A NaN step means a NaN input (or inf - inf): those few take the rule in full.
    odd = np.flatnonzero(np.isnan(step))
    if odd.size:
        n, d = noise[odd], second_diff[odd]
        step[odd] = np.where(np.isnan(d), n, np.where(np.isnan(n), d, step[odd]))
    return step


def smooth_update(
    smooth: np.ndarray, value: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """EWMA (weight SMOOTH_ALPHA) of the measurements; the first one starts it.

    `out` (may be `smooth` itself) receives the result instead of a new array.

    >>> smooth_update(np.array([np.nan, 10.0]), np.array([4.0, 20.0]))
    array([ 4., 12.])
    """
    odd = np.flatnonzero(np.isnan(smooth))  # the first measurement starts it
    with np.errstate(invalid="ignore"):
        step = np.subtract(value, smooth)
        step *= SMOOTH_ALPHA
        step = np.add(step, smooth, out=step if out is None else out)
    if odd.size:
        step[odd] = value[odd]
    return step


def still_since(
    value: np.ndarray,
    ts: np.ndarray,
    anchor_value: np.ndarray,
    anchor_ts: np.ndarray,
    resolution: np.ndarray,
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(anchor value, anchor ts): where and since when the value has stayed within resolution.

    `out` (may be the anchor arrays themselves) receives the result instead of new arrays.

    >>> still_since(np.array([1.0, 1.5, 7.0]), np.full(3, 9.0), np.array([1.0, 1.0, np.nan]),
    ...     np.full(3, 2.0), np.full(3, 0.5))
    (array([1., 1., 7.]), array([2., 2., 9.]))
    """
    with np.errstate(invalid="ignore"):
        d = np.subtract(value, anchor_value)
        np.abs(d, out=d)
        moved = d <= resolution
    np.logical_not(moved, out=moved)  # NaN anchor: the first reading moves
    if out is None:
        new_value, new_ts = anchor_value.copy(), anchor_ts.copy()
    else:
        new_value, new_ts = out
        if new_value is not anchor_value:
            new_value[...] = anchor_value
        if new_ts is not anchor_ts:
            new_ts[...] = anchor_ts
    np.copyto(new_value, value, where=moved)
    np.copyto(new_ts, ts, where=moved)
    return new_value, new_ts


def is_stuck(
    ts: np.ndarray,
    anchor_ts: np.ndarray,
    stuck_window_s: np.ndarray,
    sigma: np.ndarray,
    moving_sigma: np.ndarray,
) -> np.ndarray:
    """No change beyond resolution for `stuck_window_s` while the baseline says it moves.

    `sigma` is the learned baseline spread (NaN while warming up) and `moving_sigma` the
    spread above which the sensor counts as one that normally moves.

    >>> is_stuck(np.full(3, 1000.0), np.array([0.0, 500.0, 0.0]), np.full(3, 900.0),
    ...          np.array([1.0, 1.0, 0.0]), np.full(3, 0.01))
    array([ True, False, False])
    """
    with np.errstate(invalid="ignore"):
        return (ts - anchor_ts >= stuck_window_s) & (sigma > moving_sigma)
