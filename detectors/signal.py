"""The signal-fault stage: SPIKE, STUCK and NOISY from each sensor's own readings.

Runs on in-range, not-bad readings ("measurements"), before any process check:
- SPIKE: the reading jumped from the last good one faster than `spike_rate_per_s`, and
  the previous reading did not already jump there (two in a row confirm a real step). A
  spike is flagged and the reading is not used for process checks, the window or the
  baseline; SPIKE clears on the next measurement that is no spike.
- STUCK: no change beyond `resolution` for `stuck_window_s` while the learned baseline
  spread says the sensor normally moves (a warmed-up sigma above 2 x resolution and
  0.01 % of span); clears when the value moves.
- NOISY: the EWMA (~10 readings) of half the second difference, about the sigma of white
  noise and 0 on a ramp, above `noise_ratio` x the baseline sigma (warmed up only);
  clears below 0.8 x that.
While any is active the reading is not used for process checks, like OUT_OF_RANGE.
"""

from __future__ import annotations

import numpy as np

from detectors.checks import (
    baseline_sigma,
    is_spike,
    is_stuck,
    noise_update,
    second_difference,
    still_since,
)
from detectors.decide import hold_noisy
from detectors.state import Params, State, columns
from hazardwatch.model import Condition

SPIKE, STUCK, NOISY = (
    np.uint32(c.bit) for c in (Condition.SPIKE, Condition.STUCK, Condition.NOISY)
)
FAULT_BITS = SPIKE | STUCK | NOISY


def signal_faults(
    st: State, p: Params, rows: np.ndarray | slice, t: np.ndarray, v: np.ndarray, old: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Update the signal history of `rows` with one measurement each.

    Returns their fault bits and their baseline sigma (detectors.checks.baseline_sigma,
    which the trend stage reuses: the baseline does not move in between).
    """
    v1, t1, v2, t2 = columns(st.hist, rows)
    noise_before = st.noise[rows]
    spike = is_spike(
        v, t, v1, t1, st.prev_value[rows], st.prev_ts[rows], p.spike_rate_per_s[rows],
        noise_before,
    )  # fmt: skip
    spikes = np.flatnonzero(spike)
    d2 = second_difference(v, t, v1, t1, v2, t2)
    d2[spikes] = np.nan
    noise = noise_update(noise_before, d2)
    a_value, a_ts = st.anchor_value[rows], st.anchor_ts[rows]
    moved_value, moved_ts = still_since(v, t, a_value, a_ts, p.resolution[rows])
    moved_value[spikes], moved_ts[spikes] = a_value[spikes], a_ts[spikes]
    var = st.base_var[rows]
    warmed = st.base_n[rows] >= p.warmup_n[rows]
    window = p.stuck_window_s[rows]
    # STUCK needs a still anchor older than its window: only those few pay for the rest.
    with np.errstate(invalid="ignore"):
        late = np.flatnonzero(t - moved_ts >= window)
    stuck = np.zeros(spike.shape, bool)
    if late.size:
        with np.errstate(invalid="ignore"):
            learned = np.where(warmed[late], np.sqrt(var[late]), np.nan)
        stuck[late] = is_stuck(
            t[late], moved_ts[late], window[late], learned, p.moving_sigma[rows][late]
        )
    sigma = baseline_sigma(var, p.sigma_floor[rows])
    noisy = warmed & hold_noisy(noise, p.noise_ratio[rows] * sigma, (old & NOISY) != 0)
    st.prev_value[rows], st.prev_ts[rows] = v, t
    if spikes.size == 0:  # the common case; v1, t1 may be views of rows 0, 1, so move them first
        st.hist[2][rows], st.hist[3][rows] = v1, t1
        st.hist[0][rows], st.hist[1][rows] = v, t
    else:
        ok = ~spike
        st.hist[:, rows] = np.where(ok, np.stack([v, t, v1, t1]), np.stack([v1, t1, v2, t2]))
    st.noise[rows] = noise
    st.anchor_value[rows], st.anchor_ts[rows] = moved_value, moved_ts
    fault = noisy * NOISY
    if spikes.size:
        fault[spikes] |= SPIKE
    if late.size:
        fault |= stuck * STUCK
    return fault, sigma
