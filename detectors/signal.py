"""The signal-fault stage: SPIKE, STUCK and NOISY from each sensor's own readings.

Runs on in-range, not-bad readings ("measurements"), before any process check:
- SPIKE: the reading jumped from the last good one faster than `spike_rate_per_s`, and
  the previous reading did not already jump there. A spike is flagged and the reading is
  not used at all (limits, window, baseline); SPIKE clears on the next measurement that is
  no spike.
- STEP: the reading after a spike stays where the spike jumped to. No process moves that
  fast, so the instrument shifted (bias, recalibration, reconnection): STEP is raised, the
  second difference starts again, and the caller restarts the trend memory (the window
  and the CUSUM; the baseline moves by the jump: detectors.trends.restart). STEP clears
  once the restarted window is filled again.
- STUCK: no change beyond `resolution` for `stuck_window_s` while the learned baseline
  spread says the sensor normally moves (a warmed-up sigma above 2 x resolution and
  0.01 % of span); clears when the value moves.
- NOISY: the EWMA (~10 readings) of half the second difference, about the sigma of white
  noise and 0 on a ramp, above `noise_ratio` x the baseline sigma (warmed up only);
  clears below 0.8 x that.
While SPIKE, STUCK or NOISY is active the reading feeds no trend, window or baseline.
The limits still judge every reading but a spike (a fault never hides a limit): a STUCK
reading as it is, a NOISY one by its smoothed value (EWMA of ~5 readings), so a burst of
noise does not chatter a limit and a real rise under the noise still reaches it.
"""

from __future__ import annotations

import numpy as np

from detectors.checks import (
    is_spike,
    is_step,
    is_stuck,
    noise_update,
    second_difference,
    smooth_update,
    still_since,
)
from detectors.decide import hold_noisy
from detectors.state import Params, State, columns
from hazardwatch.model import Condition

SPIKE, STUCK, NOISY, STEP = (
    np.uint32(c.bit) for c in (Condition.SPIKE, Condition.STUCK, Condition.NOISY, Condition.STEP)
)
# The faults that keep a reading out of the trends; STEP does not (it restarts them).
FAULT_BITS = SPIKE | STUCK | NOISY


def signal_faults(
    st: State, p: Params, rows: np.ndarray | slice, t: np.ndarray, v: np.ndarray, old: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Update the signal history of `rows` with one measurement each.

    Returns their fault bits (SPIKE, STUCK, NOISY and a new STEP), their baseline sigma
    (detectors.checks.baseline_sigma, which the trend stage reuses: the baseline does not
    move in between) and, when some STEP was found, the jump per row (the value minus the
    last good one; 0 elsewhere), else None.
    """
    newer = 2 * int(st.hist_newer[0])
    older = 2 - newer
    v1, t1 = columns(st.hist[newer : newer + 2], rows)
    v2, t2 = columns(st.hist[older : older + 2], rows)
    noise_before = st.noise[rows]
    prev_value, prev_ts, rate = st.prev_value[rows], st.prev_ts[rows], p.spike_rate_per_s[rows]
    spike = is_spike(v, t, v1, t1, prev_value, prev_ts, rate, noise_before)
    spikes = np.flatnonzero(spike)
    # Only the reading after a spike can confirm it as a STEP: those few are checked. The
    # few already NOISY are found in the same pass.
    faulty = np.flatnonzero((old & (SPIKE | NOISY)) != 0)
    after = faulty[(old[faulty] & SPIKE) != 0]
    was_noisy = np.zeros(v.shape, bool)
    was_noisy[faulty[(old[faulty] & NOISY) != 0]] = True
    if after.size:
        confirmed = is_step(
            v[after], t[after], v1[after], prev_value[after], prev_ts[after], rate[after],
            noise_before[after], np.ones(after.size, bool),
        )  # fmt: skip
        steps = after[confirmed]
    else:
        steps = after
    d2 = second_difference(v, t, v1, t1, v2, t2)
    d2[spikes] = np.nan
    jump = None
    if steps.size:  # the line through two readings of the old level says nothing of the new
        jump = np.zeros(v.shape)
        jump[steps] = v[steps] - v1[steps]
        d2[steps] = np.nan
        v1, t1 = v1.copy(), t1.copy()  # they may be views of the history
        v1[steps] = t1[steps] = np.nan
    noise = noise_update(noise_before, d2)
    # Smoothing and anchor: a slice of rows is updated in place (views of the state), an
    # index array in gathered copies that are written back below. A spike keeps both.
    smooth = st.smooth[rows]
    kept = smooth[spikes]
    smooth = smooth_update(smooth, v, out=smooth)
    smooth[spikes] = kept
    smooth[steps] = v[steps]
    moved_value, moved_ts = st.anchor_value[rows], st.anchor_ts[rows]
    kept_value, kept_ts = moved_value[spikes], moved_ts[spikes]
    still_since(v, t, moved_value, moved_ts, p.resolution[rows], out=(moved_value, moved_ts))
    moved_value[spikes], moved_ts[spikes] = kept_value, kept_ts
    var = st.base_var[rows]
    warmed = st.warm[rows]
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
    sigma = st.base_sigma[rows]  # a view for a slice: trends writes it after its last use
    noisy = warmed & hold_noisy(noise, p.noise_ratio[rows] * sigma, was_noisy)
    st.prev_value[rows], st.prev_ts[rows] = v, t
    if spikes.size == 0 and isinstance(rows, slice) and rows == slice(None):
        # Every sensor's history moves by one: flip which rows are the newer pair.
        st.hist[older][rows], st.hist[older + 1][rows] = v, t
        if steps.size:  # v1, t1 are copies then: the state's are the new (v2, t2)
            st.hist[newer][steps] = st.hist[newer + 1][steps] = np.nan
        st.hist_newer[0] ^= 1
    elif spikes.size == 0:  # v1, t1 may be views of the newer rows, so move them first
        st.hist[older][rows], st.hist[older + 1][rows] = v1, t1
        st.hist[newer][rows], st.hist[newer + 1][rows] = v, t
    else:
        ok = ~spike
        moved = np.where(ok, np.stack([v, t, v1, t1]), np.stack([v1, t1, v2, t2]))
        for row, values in zip((newer, newer + 1, older, older + 1), moved, strict=True):
            st.hist[row][rows] = values
    st.noise[rows] = noise
    if not isinstance(rows, slice):
        st.smooth[rows] = smooth
        st.anchor_value[rows], st.anchor_ts[rows] = moved_value, moved_ts
    fault = noisy * NOISY
    if spikes.size:
        fault[spikes] |= SPIKE
    if steps.size:
        fault[steps] |= STEP
    if late.size:
        fault |= stuck * STUCK
    return fault, sigma, jump
