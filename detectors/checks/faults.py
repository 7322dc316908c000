"""Signal faults: a sensor that spikes, sticks or turns noisy (instrument, not process).

The detector does not use a faulty reading for process checks, the window or the baseline.
Each check takes one sensor's numbers: the compiled signal-fault loop (detectors.signal)
calls them per sensor, inlined.
"""

from __future__ import annotations

import numpy as np

from detectors.compiled import inlined

NOISE_ALPHA = 0.2  # EWMA weight while the noise rises: about the last 5-10 readings
# ... and while it falls: a burst of noise has quiet moments (a toxic detector clipped at 0
# reads several zeros in a row), which must not end NOISY in the middle of the burst.
NOISE_DECAY_ALPHA = 0.05
SMOOTH_ALPHA = 0.2  # EWMA weight of the smoothed value a NOISY sensor's limits judge
# A spike must clear the physical rate by this many sigma of the sensor's white noise.
SPIKE_NOISE_SIGMAS = 6.0


@inlined
def is_spike(
    value: float,
    ts: float,
    ref_value: float,
    ref_ts: float,
    prev_value: float,
    prev_ts: float,
    spike_rate_per_s: float,
    noise: float,
) -> bool:
    """A jump faster than the physics allows (`spike_rate_per_s`, units/s) plus the noise.

    Jumping from the last good reading (`ref_*`) is a spike unless the previous reading
    (`prev_*`) already jumped there too: two readings in a row confirm a real step. The
    jump must also clear SPIKE_NOISE_SIGMAS times the sensor's own white-noise estimate
    (`noise`): at 1 Hz the rate allowance alone is only a few sigma of an ordinary level
    transmitter's noise. Before the sensor has a noise estimate (NaN, its first three
    readings) nothing is judged a spike.

    >>> is_spike(90.0, 10.0, 50.0, 9.0, 50.0, 9.0, 5.0, 0.1)
    True
    >>> is_spike(90.0, 10.0, 50.0, 9.0, 89.0, 9.0, 5.0, 0.1)  # the previous one jumped too
    False
    >>> is_spike(90.0, 10.0, 50.0, 9.0, 50.0, 9.0, 5.0, np.nan)  # no noise estimate yet
    False
    >>> is_spike(57.0, 10.0, 50.0, 9.0, 50.0, 9.0, 5.0, 1.0)  # within 5/s + 6 sigma
    False
    """
    allowance = SPIKE_NOISE_SIGMAS * noise
    if not abs(value - ref_value) > (ts - ref_ts) * spike_rate_per_s + allowance:
        return False  # NaN allowance compares False: not judged yet
    return abs(value - prev_value) > spike_rate_per_s * (ts - prev_ts) + allowance


@inlined
def is_step(
    value: float,
    ts: float,
    ref_value: float,
    prev_value: float,
    prev_ts: float,
    spike_rate_per_s: float,
    noise: float,
    prev_spiked: bool,
) -> bool:
    """A jump faster than the physics that the next reading confirms: the instrument shifted.

    The previous reading (`prev_*`) was judged a spike (`prev_spiked`: it jumped from the
    last good reading `ref_*` faster than `spike_rate_per_s` allows) and this one stays
    where it jumped to: within the physical rate plus SPIKE_NOISE_SIGMAS of the noise of
    the spike, and nearer to it than to the last good value. A process cannot move that
    fast, so it is a bias, a recalibration or a reconnection, not a process change.

    >>> is_step(90.0, 11.0, 50.0, 89.0, 10.0, 5.0, 0.1, True)
    True
    >>> is_step(50.2, 11.0, 50.0, 89.0, 10.0, 5.0, 0.1, True)  # back: it was a spike
    False
    """
    to_prev = abs(value - prev_value)
    near_prev = to_prev <= spike_rate_per_s * (ts - prev_ts) + SPIKE_NOISE_SIGMAS * noise
    return prev_spiked and near_prev and to_prev < abs(value - ref_value)


@inlined
def second_difference(value: float, ts: float, v1: float, t1: float, v2: float, t2: float) -> float:
    """Half the distance of a reading from the line through the two before it (units).

    A ramp gives 0, white noise of sigma s about 1.0 s on average; NaN without history.

    >>> second_difference(3.0, 3.0, 2.0, 2.0, 1.0, 1.0)  # on the line through (1, 1), (2, 2)
    0.0
    >>> second_difference(5.0, 3.0, 2.0, 2.0, 1.0, 1.0)
    1.0
    """
    d = abs(value - ((v1 - v2) * (ts - t1) / (t1 - t2) + v1)) * 0.5
    return d if np.isfinite(d) else np.nan


@inlined
def noise_update(noise: float, second_diff: float) -> float:
    """EWMA of the second difference, weight NOISE_ALPHA up and NOISE_DECAY_ALPHA down;
    the first one starts it, a NaN one changes nothing.

    >>> noise_update(np.nan, 2.0), noise_update(1.0, 2.0), noise_update(1.0, np.nan)
    (2.0, 1.2, 1.0)
    >>> noise_update(1.0, 0.0)
    0.95
    """
    step = second_diff - noise
    up = np.maximum(step, 0.0) * (NOISE_ALPHA - NOISE_DECAY_ALPHA)
    step = step * NOISE_DECAY_ALPHA + up + noise
    if np.isnan(step):
        if np.isnan(second_diff):
            return noise
        if np.isnan(noise):
            return second_diff
    return step


@inlined
def smooth_update(smooth: float, value: float) -> float:
    """EWMA (weight SMOOTH_ALPHA) of the measurements; the first one starts it.

    >>> smooth_update(np.nan, 4.0), smooth_update(10.0, 20.0)
    (4.0, 12.0)
    """
    if np.isnan(smooth):
        return value
    return (value - smooth) * SMOOTH_ALPHA + smooth


@inlined
def still_since(
    value: float, ts: float, anchor_value: float, anchor_ts: float, resolution: float
) -> tuple[float, float]:
    """(anchor value, anchor ts): where and since when the value has stayed within resolution.

    >>> still_since(1.5, 9.0, 1.0, 2.0, 0.5), still_since(7.0, 9.0, 1.0, 2.0, 0.5)
    ((1.0, 2.0), (7.0, 9.0))
    >>> still_since(1.0, 9.0, np.nan, 2.0, 0.5)  # no anchor yet: the first reading moves
    (1.0, 9.0)
    """
    if abs(value - anchor_value) <= resolution:
        return anchor_value, anchor_ts
    return value, ts


@inlined
def is_stuck(
    ts: float, anchor_ts: float, stuck_window_s: float, sigma: float, moving_sigma: float
) -> bool:
    """No change beyond resolution for `stuck_window_s` while the baseline says it moves.

    `sigma` is the learned baseline spread (NaN while warming up) and `moving_sigma` the
    spread above which the sensor counts as one that normally moves.

    >>> is_stuck(1000.0, 0.0, 900.0, 1.0, 0.01), is_stuck(1000.0, 500.0, 900.0, 1.0, 0.01)
    (True, False)
    >>> is_stuck(1000.0, 0.0, 900.0, 0.0, 0.01)  # a sensor that does not normally move
    False
    """
    return ts - anchor_ts >= stuck_window_s and sigma > moving_sigma
