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
from numba import types

from detectors.checks import (
    is_spike,
    is_step,
    is_stuck,
    noise_update,
    second_difference,
    smooth_update,
    still_since,
)
from detectors.compiled import kernel, reads, writes
from detectors.decide import hold_noisy
from detectors.state import Params, State, indices
from hazardwatch.model import Condition

SPIKE, STUCK, NOISY, STEP = (
    np.uint32(c.bit) for c in (Condition.SPIKE, Condition.STUCK, Condition.NOISY, Condition.STEP)
)
# The faults that keep a reading out of the trends; STEP does not (it restarts them).
FAULT_BITS = SPIKE | STUCK | NOISY
_SPIKE, _STUCK, _NOISY, _STEP = (np.int64(b) for b in (SPIKE, STUCK, NOISY, STEP))


def signal_faults(
    st: State, p: Params, rows: np.ndarray | slice, t: np.ndarray, v: np.ndarray, old: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Update the signal history of `rows` with one measurement each.

    Returns their fault bits (SPIKE, STUCK, NOISY and a new STEP), their baseline sigma
    (st.base_sigma, which the trend stage reuses: the baseline does not move in between)
    and, when some STEP was found, the jump per row (the value minus the last good one; the
    other rows' are undefined), else None. One compiled pass over the sensors (`_signal_round`).
    """
    idx = indices(rows, st.noise.size)
    fault, jump = np.empty(idx.size, np.uint32), np.empty(idx.size)  # jump: written at steps
    steps = _signal_round(
        idx, t, v, old, fault, jump,
        st.hist, st.prev_value, st.prev_ts, st.noise, st.smooth,
        st.anchor_value, st.anchor_ts, st.base_var, st.warm, st.base_sigma,
        p.spike_rate_per_s, p.resolution, p.stuck_window_s, p.moving_sigma, p.noise_ratio,
    )  # fmt: skip
    return fault, st.base_sigma[rows], jump if steps else None


@kernel(
    reads(types.int64), reads(types.float64), reads(types.float64), reads(types.uint32),
    writes(types.uint32), writes(types.float64), writes(types.float64, 2),
    *[writes(types.float64)] * 6, reads(types.float64), reads(types.boolean),
    *[reads(types.float64)] * 6,
)  # fmt: skip
def _signal_round(
    rows, t, v, old, fault, jump,
    hist, prev_value, prev_ts, noise, smooth, anchor_value, anchor_ts,
    base_var, warm, base_sigma,
    spike_rate_per_s, resolution, stuck_window_s, moving_sigma, noise_ratio,
):  # fmt: skip
    """One measurement per row: its fault bits into `fault`, the jump of a new STEP into
    `jump` (other rows: undefined); returns how many STEPs were found.

    The previous measurement is the newer pair of `hist` unless it was a spike (SPIKE
    active): only a spike is kept in prev_value/prev_ts, which saves every other reading
    two writes.
    """
    steps = 0
    for k in range(rows.shape[0]):
        i = rows[k]
        value, ts, was = v[k], t[k], np.int64(old[k])
        v1, t1, v2, t2 = hist[0, i], hist[1, i], hist[2, i], hist[3, i]
        noise_before, rate = noise[i], spike_rate_per_s[i]
        after_spike = (was & _SPIKE) != 0
        pv, pt = (prev_value[i], prev_ts[i]) if after_spike else (v1, t1)
        spike = is_spike(value, ts, v1, t1, pv, pt, rate, noise_before)
        # Only the reading after a spike can confirm it as a STEP.
        step = after_spike and is_step(value, ts, v1, pv, pt, rate, noise_before, True)
        d2 = np.nan if spike or step else second_difference(value, ts, v1, t1, v2, t2)
        if step:  # the line through two readings of the old level says nothing of the new
            jump[k] = value - v1
            steps += 1
            v1 = t1 = np.nan
        level = noise_update(noise_before, d2)
        noise[i] = level
        # A spike keeps the smoothing and the anchor; a step restarts the smoothing.
        if not spike:
            smooth[i] = value if step else smooth_update(smooth[i], value)
            anchor_value[i], anchor_ts[i] = still_since(
                value, ts, anchor_value[i], anchor_ts[i], resolution[i]
            )
        stuck = False
        if ts - anchor_ts[i] >= stuck_window_s[i]:  # still that long: only these few ask
            learned = np.sqrt(base_var[i]) if warm[i] else np.nan  # if it normally moves
            stuck = is_stuck(ts, anchor_ts[i], stuck_window_s[i], learned, moving_sigma[i])
        noisy = warm[i] and hold_noisy(level, noise_ratio[i] * base_sigma[i], (was & _NOISY) != 0)
        if spike:
            prev_value[i], prev_ts[i] = value, ts
        else:
            hist[0, i], hist[1, i], hist[2, i], hist[3, i] = value, ts, v1, t1
        fault[k] = (
            (_SPIKE if spike else 0) | (_STEP if step else 0) | (_STUCK if stuck else 0)
            | (_NOISY if noisy else 0)
        )  # fmt: skip
    return steps
