"""The signal-fault stage: SPIKE, STUCK and NOISY from each sensor's own readings.

Runs on in-range, not-bad readings ("measurements"), before any process check. Each
sensor is judged by what it has shown: on its healthy readings it learns (robustly,
winsorised, during a warm-up of LEARN_WARMUP_N readings and then slowly) its noise level
(half the second difference), its usual rate of change, the smallest step it reports (its
resolution as seen) and how long it is normally still (detectors.checks.faults).
- SPIKE: the reading jumped from the last good one by more than the physical rate
  (`spike_rate_per_s`; at least SPIKE_USUAL_RATES x its usual rate; a generic sensor has
  only the latter) times the time step, plus 8 x its learned noise (at least 6 x the
  short-term noise), and the previous reading did not already jump there. A spike is
  flagged and the reading feeds no window, baseline or trend; the limits judge it (their
  on-delay is the filter against a single reading). SPIKE clears on the next measurement
  that is no spike. Nothing is a spike before the noise is learned; a sensor with a
  physical rate is judged once half-learned (SPIKE_PROVISIONAL_N readings), its allowance
  then at least 8 x its sigma floor. The time step of a sensor with a physical rate is at
  most SPIKE_SCANS x its scan interval as seen (the shortest gap between two readings)
  after a silence shorter than its stale limit and no COMM_LOSS: a report-by-exception
  gateway held the value meanwhile (checks.held_gap); after a loss, the whole gap.
- STEP: the reading after a spike stays where the spike jumped to. No process moves that
  fast, so the instrument shifted (bias, recalibration, reconnection): STEP is raised, the
  second difference starts again, and the caller restarts the trend memory (the window
  and the CUSUM; the baseline is learned afresh: detectors.trends.restart). STEP clears
  once the restarted window is filled again.
- A sensor without a physical spike rate (generic: what it can do is known only from what
  it did) remembers the size of the jumps it has shown, steps and spikes that came back
  (the largest, fading over a week): a later jump no larger than SWITCH_HIGH x that is a
  switch between its usual levels or its usual burst (a pump, a valve, a setpoint
  staircase, a load peak), not a spike: no alarm, the trend memory restarts as at a STEP
  and the reading is used.
- STUCK: no change beyond half the seen resolution for `stuck_window_s` and longer than
  the sensor is still while healthy: STILL_FACTOR x its longest healthy stillness if its
  noise moves it by a count, or as long as the trend it had when it last moved (the
  window's significant slope) would take to carry it PACE_COUNTS resolutions (and
  STILL_FACTOR x the most it did in a healthy stillness); only once
  it has moved STUCK_MIN_MOVES times, and never a gas detector still within its
  zero-suppression band. Also STUCK while a level gauge stays in a stillness its tank's
  flow meters condemned (detectors.mass_balance: the meters moved more than the balance's
  tolerance and the gauge not one count; `balance_still`). Clears when the value moves.
- NOISY: the EWMA (~10 readings) of half the second difference, about the sigma of white
  noise and 0 on a ramp, above `noise_ratio` x the learned noise level (at least half the
  seen resolution and the sigma floor); clears below half that. A sensor without a physical
  spike rate also needs SWITCH_HIGH x the peak of the largest NOISY that ended in the last
  week (checks.step_memory): a burst the size of those it has shown is its usual.
  A gas detector is also NOISY when the same EWMA of its readings lifted to its zero band
  (checks.zero_lifted: anything within the band counts as the band's edge) passes
  `noise_ratio` x the sigma floor: clean air reads nothing above the band, while a detector
  flickering across its suppression threshold learns the flicker as its noise level, high
  enough to hide a burst of ten times its noise reaching level 1.
While SPIKE, STUCK or NOISY is active the reading feeds no trend, window or baseline.
The limits still judge every reading (a fault never hides a limit): a STUCK or SPIKE
reading as it is, a NOISY one by its smoothed value (EWMA of ~5 readings), so a burst of
noise does not chatter a limit and a real rise under the noise still reaches it.
"""

from __future__ import annotations

import numpy as np
from numba import types

from detectors.checks import (
    held_gap,
    is_spike,
    is_step,
    is_stuck,
    is_switch,
    learn_level,
    noise_scale,
    noise_update,
    second_difference,
    seen_gap,
    seen_step,
    smooth_update,
    spike_allowance,
    spike_rate,
    step_memory,
    still_ended,
    still_since,
    zero_lifted,
)
from detectors.checks.faults import (
    LEARN_PLAIN_N,
    LEARN_WARMUP_N,
    PACE_COUNTS,
    STILL_FACTOR,
    STUCK_MIN_MOVES,
    SWITCH_HIGH,
)
from detectors.compiled import kernel, reads, writes
from detectors.decide import hold_noisy
from detectors.state import Params, State, indices
from detectors.trends import restart
from hazardwatch.vocabulary.model import Condition

SPIKE, STUCK, NOISY, STEP = (
    np.uint32(c.bit) for c in (Condition.SPIKE, Condition.STUCK, Condition.NOISY, Condition.STEP)
)
_COMM = np.int64(Condition.COMM_LOSS.bit)
# The faults that keep a reading out of the trends; STEP does not (it restarts them).
FAULT_BITS = SPIKE | STUCK | NOISY
_SPIKE, _STUCK, _NOISY, _STEP = (np.int64(b) for b in (SPIKE, STUCK, NOISY, STEP))
_FAULTS = np.int64(FAULT_BITS)


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
    switched = np.empty(idx.size, np.int64)  # positions of the usual switches, first `switches`
    steps, switches = _signal_round(
        idx, t, v, old, fault, jump, switched,
        st.hist, st.prev_value, st.prev_ts, st.noise, st.noise_above, st.smooth,
        st.anchor_value, st.anchor_ts,
        st.learn_n, st.noise_level, st.usual_rate, st.seen_res, st.scan_s, st.still_max,
        st.pace_max,
        st.moves, st.anchor_pace, st.balance_still, st.step_max, st.step_ts, st.burst_max,
        st.burst_ts, st.noisy_peak, st.slope, st.significant,
        p.spike_rate_per_s, p.stuck_window_s, p.noise_ratio, p.sigma_floor, p.stuck_below,
        p.stale_after_s,
    )  # fmt: skip
    if switches:  # a usual switch restarts the trend memory as a STEP does, silently
        at = switched[:switches]
        restart(st, idx[at], jump[at])
    return fault, st.base_sigma[rows], jump if steps else None


@kernel(
    reads(types.int64), reads(types.float64), reads(types.float64), reads(types.uint32),
    writes(types.uint32), writes(types.float64), writes(types.int64), writes(types.float64, 2),
    *[writes(types.float64)] * 22, reads(types.float64), reads(types.boolean),
    *[reads(types.float64)] * 6,
)  # fmt: skip
def _signal_round(
    rows, t, v, old, fault, jump, switched,
    hist, prev_value, prev_ts, noise, noise_above, smooth, anchor_value, anchor_ts,
    learn_n, noise_level, usual_rate, seen_res, scan_s, still_max, pace_max, moves,
    anchor_pace, balance_still, step_max, step_ts, burst_max, burst_ts, noisy_peak, slope,
    significant, spike_rate_per_s, stuck_window_s, noise_ratio, sigma_floor, stuck_below,
    stale_after_s,
):  # fmt: skip
    """One measurement per row: its fault bits into `fault`, the jump of a new STEP into
    `jump` (other rows: undefined); returns how many STEPs and how many usual switches were
    found (the switches' positions in `switched`, their jumps in `jump`).

    The previous measurement is the newer pair of `hist` unless it was a spike (SPIKE
    active): only a spike is kept in prev_value/prev_ts, which saves every other reading
    two writes. The learned statistics (noise level, usual rate, seen resolution, longest
    stillness) learn only from a measurement that is no spike or step, of a sensor with
    no signal fault active.
    """
    steps = switches = 0
    for k in range(rows.shape[0]):
        i = rows[k]
        value, ts, was = v[k], t[k], np.int64(old[k])
        v1, t1, v2, t2 = hist[0, i], hist[1, i], hist[2, i], hist[3, i]
        noise_before, n_learned, res = noise[i], learn_n[i], seen_res[i]
        level_learned = noise_level[i]
        rate = spike_rate(spike_rate_per_s[i], usual_rate[i])
        physics = spike_rate_per_s[i] > 0.0
        allowance = spike_allowance(
            noise_before, level_learned, n_learned, res, sigma_floor[i] if physics else np.nan
        )
        after_spike = (was & _SPIKE) != 0
        healthy = (was & _FAULTS) == 0
        pv, pt = (prev_value[i], prev_ts[i]) if after_spike else (v1, t1)
        gap, prev_gap = ts - t1, ts - pt
        if physics:  # a silence behind a report-by-exception gateway held the value
            scan, stale, lost = scan_s[i], stale_after_s[i], (was & _COMM) != 0
            gap = held_gap(gap, scan, stale, lost)
            prev_gap = held_gap(prev_gap, scan, stale, lost)
        spike = is_spike(value, v1, gap, pv, prev_gap, rate, allowance)
        switch = False
        # Rarely: a jump the size of those it has shown is a usual switch, where no physical
        # rate is known (a configured one says no process jumps so: a spike stays a spike).
        if spike and not spike_rate_per_s[i] > 0.0:
            remembered = step_memory(step_max[i], step_ts[i], ts)
            if is_switch(value - v1, remembered):
                spike, switch = False, True
                step_max[i] = remembered if remembered > abs(value - v1) else abs(value - v1)
                step_ts[i] = ts
        # Only the reading after a spike can confirm it as a STEP.
        step = after_spike and is_step(value, v1, pv, prev_gap, rate, allowance, True)
        if after_spike and not (spike or switch):  # a step, or a spike that came back:
            # remembered, the next jump of its size is a switch
            size = abs((value if step else pv) - v1)
            remembered = step_memory(step_max[i], step_ts[i], ts)
            step_max[i] = remembered if remembered > size else size
            step_ts[i] = ts
        d2 = np.nan if spike or step or switch else second_difference(value, ts, v1, t1, v2, t2)
        band = stuck_below[i]
        if band > -np.inf and d2 == d2:  # a gas detector: its noise above its zero band too
            d2_above = second_difference(
                zero_lifted(value, band), ts, zero_lifted(v1, band), t1, zero_lifted(v2, band), t2
            )
            noise_above[i] = noise_update(noise_above[i], d2_above)
        # NOISY's threshold, from what was learned before this reading (NaN: not yet).
        scale = noise_scale(level_learned, res)
        scale = scale if scale > sigma_floor[i] else sigma_floor[i]
        threshold = noise_ratio[i] * scale if n_learned >= LEARN_WARMUP_N else np.nan
        if not (spike or step or switch):
            seen = seen_step(res, value, v1)
            if seen != res:  # rarely: the smallest step so far
                res = seen
                seen_res[i] = res
            scan = seen_gap(scan_s[i], ts - t1)
            if scan != scan_s[i]:  # rarely: the shortest gap so far
                scan_s[i] = scan
            if healthy and d2 == d2:
                floor = 0.5 * res if res < np.inf else 0.0
                noise_level[i] = learn_level(level_learned, d2, n_learned, floor)
                dt = ts - t1
                if dt > 0.0:
                    per_s = 1.0 / dt
                    pace = abs(value - v1) * per_s
                    usual_rate[i] = learn_level(usual_rate[i], pace, n_learned, floor * per_s)
                if n_learned < LEARN_PLAIN_N:  # counted only while the count matters
                    learn_n[i] = n_learned + 1.0
        if step or switch:  # the line through two readings of the old level says nothing
            jump[k] = value - v1
            if step:
                steps += 1
            else:
                switched[switches] = k
                switches += 1
            v1 = t1 = np.nan
        level = noise_update(noise_before, d2)
        noise[i] = level
        # A spike keeps the smoothing and the anchor; a step restarts the smoothing.
        if not spike:
            smooth[i] = value if step or switch else smooth_update(smooth[i], value)
            since, at = anchor_ts[i], anchor_value[i]
            anchor_value[i], anchor_ts[i] = still_since(value, ts, at, since, res)
            # it moved (a new anchor: compared by value too, as a sensor may report twice
            # in one instant): a stillness ended; its trend now
            if anchor_ts[i] != since or anchor_value[i] != at:
                pace = anchor_pace[i]
                if since == since:
                    if moves[i] < STUCK_MIN_MOVES:  # counted only while the count matters
                        moves[i] += 1.0
                    still_s, most, most_pace = ts - since, still_max[i], pace_max[i]
                    # Maxima below STUCK's floors change no decision, and a short stillness
                    # cannot lift them there: most readings of a moving sensor skip them.
                    longest = STILL_FACTOR * (still_s if still_s > most else most)
                    counts = abs(pace) * still_s / res
                    paced = STILL_FACTOR * (counts if counts > most_pace else most_pace)
                    if not (longest < stuck_window_s[i] and paced < PACE_COUNTS):
                        still_max[i], pace_max[i] = still_ended(
                            still_s, pace, abs(value - at), res, most, most_pace, healthy,
                            (was & _STUCK) != 0,
                        )  # fmt: skip
                # (a step or switch restarts the trend: the slope before it says nothing)
                now = slope[i] if significant[i] and not (step or switch) else 0.0
                if now != pace:
                    anchor_pace[i] = now
        stuck = False
        still = ts - anchor_ts[i]
        if still >= stuck_window_s[i]:  # still that long: only these few ask
            stuck = is_stuck(
                still, anchor_value[i], anchor_pace[i], stuck_window_s[i], still_max[i],
                pace_max[i], moves[i], noise_level[i], res, stuck_below[i],
            )  # fmt: skip
        if not stuck and balance_still[i] == anchor_ts[i]:  # its meters say it should move
            stuck = True
        was_noisy = (was & _NOISY) != 0
        if burst_max[i] > 0.0 and not spike_rate_per_s[i] > 0.0:  # no physics known
            usual = SWITCH_HIGH * step_memory(burst_max[i], burst_ts[i], ts)
            if usual > threshold:  # a burst the size of those it has shown (NaN stays)
                threshold = usual
        noisy = hold_noisy(level, threshold, was_noisy)
        if not noisy and band > -np.inf and n_learned >= LEARN_WARMUP_N:
            # Above its zero band a gas detector in clean air reads nothing: its noise there
            # is judged against the sigma floor alone (a flicker across the suppression
            # threshold, which the readings as sent learn as noise, cannot hide a burst).
            noisy = hold_noisy(noise_above[i], noise_ratio[i] * sigma_floor[i], was_noisy)
        if noisy:
            if not was_noisy or level > noisy_peak[i]:
                noisy_peak[i] = level
        elif was_noisy:  # a burst ended: remembered
            remembered = step_memory(burst_max[i], burst_ts[i], ts)
            peak = noisy_peak[i]
            burst_max[i] = remembered if remembered > peak else peak
            burst_ts[i] = ts
        if spike:
            prev_value[i], prev_ts[i] = value, ts
        else:
            hist[0, i], hist[1, i], hist[2, i], hist[3, i] = value, ts, v1, t1
        fault[k] = (
            (_SPIKE if spike else 0) | (_STEP if step else 0) | (_STUCK if stuck else 0)
            | (_NOISY if noisy else 0)
        )  # fmt: skip
    return steps, switches
