"""Signal faults: a sensor that spikes, sticks or turns noisy (instrument, not process).

The detector does not use a faulty reading for process checks, the window or the baseline.
Each check takes one sensor's numbers: the compiled signal-fault loop (detectors.signal)
calls them per sensor, inlined.

Every threshold is set by what the sensor itself has shown (learned on its healthy
readings, during a warm-up and then slowly): its white-noise level, the smallest step it
reports (its resolution as seen), its usual rate of change and how long it is normally
still. The configured physical limits (a spike rate, a resolution or span) are floors.
"""

from __future__ import annotations

import numpy as np

from detectors.compiled import inlined

NOISE_ALPHA = 0.2  # EWMA weight while the noise rises: about the last 5-10 readings
# ... and while it falls: a burst of noise has quiet moments (a toxic detector clipped at 0
# reads several zeros in a row), which must not end NOISY in the middle of the burst.
NOISE_DECAY_ALPHA = 0.05
SMOOTH_ALPHA = 0.2  # EWMA weight of the smoothed value a NOISY sensor's limits judge
# A spike must clear the physical rate by this many sigma of the sensor's white noise
# (its short-term estimate) ...
SPIKE_NOISE_SIGMAS = 6.0
# ... and this many of its learned noise level: readings of Gaussian noise clipped at 3
# sigma differ by at most 6 sigma, and the short-term estimate alone dips well below sigma.
SPIKE_LEARNED_SIGMAS = 8.0
# A jump must also clear this many times the sensor's usual rate of change (units/s) over
# its time step: a sensor without a physical rate (generic) is judged by its own pace.
SPIKE_USUAL_RATES = 3.0
# Behind a report-by-exception gateway a silent sensor held its value: the gateway scanned
# it every scan interval and sent nothing while it stayed within the deadband. So a jump
# after a silence shorter than the stale limit (and no communication loss) is judged
# against the physical rate over this many scan intervals as seen (the shortest gap between
# two readings), not over the whole silence.
SPIKE_SCANS = 4.0
# Before the noise is learned (LEARN_WARMUP_N readings) a sensor with a physical rate is
# judged a spike once it has taught this many: the allowance then is at least
# SPIKE_LEARNED_SIGMAS x its sigma floor (a sensor behind such a gateway may take an hour
# to send 32 readings, and a loose connection's jumps must not teach it their size).
SPIKE_PROVISIONAL_N = 16.0
# The learned statistics: readings (second differences) before they are trusted; then an
# EWMA of this weight (about the last 500 healthy readings), each reading winsorised at
# LEARN_CLIP times the estimate so an outlier moves it by little (robust).
LEARN_WARMUP_N = 32.0
LEARN_ALPHA = 0.002
LEARN_CLIP = 3.0
LEARN_PLAIN_N = 1.0 / LEARN_ALPHA - 1.0  # from here on the mean's weight is below the EWMA's
# The second difference extrapolates the line of the two readings before at most this many
# times their spacing.
D2_REACH = 2.0
# A step between two readings smaller than this share of their magnitude is float rounding.
FLOAT_STEP = 1e-9
# STUCK: still (no change beyond half the seen resolution), once the sensor has moved
# STUCK_MIN_MOVES times (it is one that moves), and longer than it can be while healthy:
# - a sensor whose noise moves it by a count or more (learned noise level above half the
#   seen resolution) at least STILL_FACTOR times its longest healthy stillness (a max that
#   forgets over STILL_MEMORY_S);
# - any sensor while the trend it had when it last moved would have carried it PACE_COUNTS
#   resolutions by now, and STILL_FACTOR times as many as in any healthy stillness (a gauge
#   frozen during a fill; a tank whose fills stop dead and then wait long for a count
#   learns that). A quantised gauge on a tank at rest or a temperature overnight waits
#   long for its next count: its trend says so.
# A STUCK that ends by a move of at most RECOVERY_COUNTS resolutions was a healthy sensor
# after all (a frozen one jumps to the truth): its stillness is learned.
STILL_FACTOR = 3.0
STILL_MEMORY_S = 7 * 86400.0
STUCK_MIN_MOVES = 20.0
PACE_COUNTS = 10.0
RECOVERY_COUNTS = 2.0
_PER_MEMORY_S = 1.0 / STILL_MEMORY_S
# A jump of at most SWITCH_HIGH times the steps the sensor has confirmed (the largest in
# the last STILL_MEMORY_S, fading linearly) is a switch between its usual levels (a pump,
# a valve, a batch, a setpoint staircase), not a spike: its trend memory restarts, no alarm.
SWITCH_HIGH = 1.5


@inlined
def is_spike(
    value: float,
    ref_value: float,
    ref_gap_s: float,
    prev_value: float,
    prev_gap_s: float,
    spike_rate_per_s: float,
    allowance: float,
) -> bool:
    """A jump faster than the physics allows (`spike_rate_per_s`, units/s) plus the noise.

    Jumping from the last good reading (`ref_value`, `ref_gap_s` before: see `held_gap`) is
    a spike unless the previous reading (`prev_*`) already jumped there too: two readings
    in a row confirm a real step. The jump must also clear `allowance` (units, from
    `spike_allowance`: the sensor's noise). Before the sensor has learned its noise (NaN
    allowance) nothing is judged a spike.

    >>> is_spike(90.0, 50.0, 1.0, 50.0, 1.0, 5.0, 0.6)
    True
    >>> is_spike(90.0, 50.0, 1.0, 89.0, 1.0, 5.0, 0.6)  # the previous one jumped too
    False
    >>> is_spike(90.0, 50.0, 1.0, 50.0, 1.0, 5.0, np.nan)  # no noise learned yet
    False
    >>> is_spike(57.0, 50.0, 1.0, 50.0, 1.0, 5.0, 6.0)  # within 5/s + 6
    False
    """
    if not abs(value - ref_value) > ref_gap_s * spike_rate_per_s + allowance:
        return False  # NaN allowance compares False: not judged yet
    return abs(value - prev_value) > spike_rate_per_s * prev_gap_s + allowance


@inlined
def is_step(
    value: float,
    ref_value: float,
    prev_value: float,
    prev_gap_s: float,
    spike_rate_per_s: float,
    allowance: float,
    prev_spiked: bool,
) -> bool:
    """A jump faster than the physics that the next reading confirms: the instrument shifted.

    The previous reading (`prev_value`, `prev_gap_s` before) was judged a spike
    (`prev_spiked`: it jumped from the last good reading `ref_value` faster than
    `spike_rate_per_s` allows) and this one stays where it jumped to: within the physical
    rate plus the noise `allowance` of the spike, and nearer to it than to the last good
    value. A process cannot move that fast, so it is a bias, a recalibration or a
    reconnection, not a process change.

    >>> is_step(90.0, 50.0, 89.0, 1.0, 5.0, 0.6, True)
    True
    >>> is_step(50.2, 50.0, 89.0, 1.0, 5.0, 0.6, True)  # back: it was a spike
    False
    """
    to_prev = abs(value - prev_value)
    near_prev = to_prev <= spike_rate_per_s * prev_gap_s + allowance
    return prev_spiked and near_prev and to_prev < abs(value - ref_value)


@inlined
def held_gap(gap_s: float, scan_s: float, stale_after_s: float, comm_lost: bool) -> float:
    """The time (s) over which the process can have moved a jump that ends a silence of
    `gap_s`: at most SPIKE_SCANS scan intervals (`scan_s`, as seen; inf: none yet) if the
    silence was shorter than the stale limit (`stale_after_s`; NaN: never stale) and no
    communication loss (`comm_lost`): a gateway that reports by exception held the value
    while it stayed within the deadband. After a loss, or a gap longer than the stale limit
    (a replay's gap in history), the whole gap: the value may have moved all along.

    >>> held_gap(79.0, 2.0, 1500.0, False), held_gap(5.0, 2.0, 1500.0, False)
    (8.0, 5.0)
    >>> held_gap(79.0, 2.0, 1500.0, True), held_gap(79.0, 2.0, 60.0, False)
    (79.0, 79.0)
    >>> held_gap(79.0, np.inf, 1500.0, False), held_gap(79.0, 2.0, np.nan, False)
    (79.0, 79.0)
    """
    if comm_lost or not gap_s <= stale_after_s:
        return gap_s
    held = SPIKE_SCANS * scan_s
    return held if held < gap_s else gap_s


@inlined
def seen_gap(scan_s: float, gap_s: float) -> float:
    """The shortest positive gap between two readings seen so far (s; inf: none yet): the
    sensor's scan interval as its gateway polls it.

    >>> seen_gap(np.inf, 3.0), seen_gap(3.0, 2.5), seen_gap(3.0, 0.0), seen_gap(3.0, np.nan)
    (3.0, 2.5, 3.0, 3.0)
    """
    return gap_s if gap_s > 0.0 and gap_s < scan_s else scan_s


@inlined
def noise_scale(noise_level: float, seen_res: float) -> float:
    """The sensor's noise as a scale (units): its learned level, at least half the smallest
    step it has shown (a quantised sensor at rest shows no noise but its last digit).

    >>> noise_scale(0.3, 0.1), noise_scale(0.01, 0.1), noise_scale(np.nan, np.inf)
    (0.3, 0.05, 0.0)
    """
    half = 0.5 * seen_res if seen_res < np.inf else 0.0
    return noise_level if noise_level > half else half


@inlined
def spike_allowance(
    noise: float, noise_level: float, learn_n: float, seen_res: float, provisional: float
) -> float:
    """How far beyond the physical rate a jump must go to be a spike (units): the larger of
    SPIKE_NOISE_SIGMAS short-term noise (`noise`) and SPIKE_LEARNED_SIGMAS learned noise;
    NaN (nothing is a spike) until LEARN_WARMUP_N readings have taught the noise, or, with
    a `provisional` floor (units: the sigma floor of a sensor with a physical rate; NaN:
    none), SPIKE_PROVISIONAL_N readings, and then at least SPIKE_LEARNED_SIGMAS x the floor.

    >>> spike_allowance(0.1, 0.2, 100.0, 0.0, np.nan), spike_allowance(0.5, 0.2, 100.0, 0.0, 1.0)
    (1.6, 3.0)
    >>> spike_allowance(0.1, 0.2, 3.0, 0.0, np.nan), spike_allowance(0.1, 0.2, 20.0, 0.0, np.nan)
    (nan, nan)
    >>> spike_allowance(0.1, 0.2, 20.0, 0.0, 0.5), spike_allowance(0.1, 0.2, 3.0, 0.0, 0.5)
    (4.0, nan)
    """
    if not learn_n >= LEARN_WARMUP_N:
        if not (learn_n >= SPIKE_PROVISIONAL_N and provisional == provisional):
            return np.nan
        floor = SPIKE_LEARNED_SIGMAS * provisional
    else:
        floor = 0.0
    learned = SPIKE_LEARNED_SIGMAS * noise_scale(noise_level, seen_res)
    short = SPIKE_NOISE_SIGMAS * noise
    most = short if short > learned else learned
    return most if most > floor else floor


@inlined
def spike_rate(spike_rate_per_s: float, usual_rate: float) -> float:
    """The rate a jump must beat (units/s): the physical one, at least SPIKE_USUAL_RATES times
    the learned usual rate; NaN (no spike check) stays NaN.

    >>> spike_rate(1.0, 0.1), spike_rate(0.0, 0.1), spike_rate(np.nan, 0.1)
    (1.0, 0.30000000000000004, nan)
    """
    pace = SPIKE_USUAL_RATES * usual_rate
    return pace if pace > spike_rate_per_s else spike_rate_per_s


@inlined
def step_memory(step_max: float, step_ts: float, ts: float) -> float:
    """The size of the steps the sensor has confirmed (units): the largest, remembered at
    `step_ts`, faded linearly to 0 over STILL_MEMORY_S; 0 before any.

    >>> step_memory(10.0, 0.0, 0.0), step_memory(10.0, 0.0, 0.5 * STILL_MEMORY_S)
    (10.0, 5.0)
    >>> step_memory(0.0, -np.inf, 5.0), step_memory(10.0, 0.0, 2.0 * STILL_MEMORY_S)
    (0.0, 0.0)
    """
    keep = 1.0 - (ts - step_ts) * _PER_MEMORY_S
    return step_max * keep if keep > 0.0 else 0.0


@inlined
def is_switch(jump: float, remembered: float) -> bool:
    """Whether a jump (units) is a switch between the sensor's usual levels: at most
    SWITCH_HIGH times the steps it has confirmed (`remembered`, step_memory; 0: none).

    >>> is_switch(48.0, 48.0), is_switch(-60.0, 48.0), is_switch(10.0, 48.0)
    (True, True, True)
    >>> is_switch(100.0, 48.0), is_switch(5.0, 0.0)
    (False, False)
    """
    return remembered > 0.0 and abs(jump) <= SWITCH_HIGH * remembered


@inlined
def second_difference(value: float, ts: float, v1: float, t1: float, v2: float, t2: float) -> float:
    """Half the distance of a reading from the line through the two before it (units).

    A ramp gives 0, white noise of sigma s about 1.0 s on average; NaN without history.

    >>> second_difference(3.0, 3.0, 2.0, 2.0, 1.0, 1.0)  # on the line through (1, 1), (2, 2)
    0.0
    >>> second_difference(5.0, 3.0, 2.0, 2.0, 1.0, 1.0)
    1.0
    >>> second_difference(1.0, 600.0, 1.0, 1.0, 0.5, 0.0)  # not 0.5 x 599 s extrapolated
    0.5
    """
    ratio = (ts - t1) / (t1 - t2)
    # Irregular reports (a heartbeat after a burst of changes) would stretch the line of two
    # close readings far: the extrapolation is capped at D2_REACH x their spacing.
    if ratio > D2_REACH:  # (two readings at one ts give no line: inf, then NaN)
        ratio = D2_REACH if ratio < np.inf else np.nan
    d = abs(value - ((v1 - v2) * ratio + v1)) * 0.5
    return d if np.isfinite(d) else np.nan


@inlined
def zero_lifted(value: float, zero_band: float) -> float:
    """A reading as the noise estimate sees it: a gas detector reads 0 for anything within
    its zero-suppression band (`zero_band`; -inf for other kinds), so a reading there counts
    as the band's edge. The jump between a suppressed 0 and the first reading above the
    threshold is the suppression's, not noise: taken as it is, a clean-air detector that
    flickers across its threshold learns a noise level of the threshold's size, and a real
    burst of noise stays under 5 x that. NaN stays NaN.

    >>> zero_lifted(0.0, 2.5), zero_lifted(2.0, 2.5), zero_lifted(7.0, 2.5)
    (2.5, 2.5, 7.0)
    >>> zero_lifted(-3.0, -np.inf), zero_lifted(np.nan, 2.5)
    (-3.0, nan)
    """
    return zero_band if value < zero_band else value


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
def learn_level(level: float, x: float, learn_n: float, floor: float) -> float:
    """A robust running level of x >= 0 (the noise, the usual rate): the mean of the first
    readings, then an EWMA of weight LEARN_ALPHA; each x winsorised at LEARN_CLIP times the
    level (at least `floor`), so outliers move it by little. `learn_n` x learned before
    (a NaN level starts again from x).

    >>> learn_level(np.nan, 2.0, 0.0, 0.0), learn_level(1.0, 3.0, 1.0, 0.0)
    (2.0, 2.0)
    >>> learn_level(1.0, 100.0, 1.0, 0.0)  # an outlier counts as 3 x the level
    2.0
    >>> learn_level(1.0, 0.0, 1000.0, 0.0)
    0.998
    """
    if not learn_n > 0.0 or level != level:
        return x
    gain = LEARN_ALPHA if learn_n >= LEARN_PLAIN_N else 1.0 / (learn_n + 1.0)
    cap = LEARN_CLIP * (level if level > floor else floor)
    return (min(x, cap) - level) * gain + level


@inlined
def seen_step(seen_res: float, value: float, v1: float) -> float:
    """The smallest non-zero step between two successive readings seen so far (units; inf:
    none yet). Steps under FLOAT_STEP of the readings' magnitude are float rounding.

    >>> seen_step(np.inf, 5.002, 5.001), seen_step(0.001, 5.0, 5.003)
    (0.0009999999999994458, 0.001)
    >>> seen_step(0.001, 5.0, 5.0 + 1e-12), seen_step(0.001, 5.0, np.nan)
    (0.001, 0.001)
    """
    d = abs(value - v1)
    big = abs(value) if abs(value) > abs(v1) else abs(v1)
    if d > FLOAT_STEP * big and d < seen_res:
        return d
    return seen_res


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
    value: float, ts: float, anchor_value: float, anchor_ts: float, seen_res: float
) -> tuple[float, float]:
    """(anchor value, anchor ts): where and since when the value has stayed within half the
    resolution the sensor has shown (`seen_res`; inf: none yet) and float rounding.

    >>> still_since(1.04, 9.0, 1.0, 2.0, 0.1), still_since(1.1, 9.0, 1.0, 2.0, 0.1)
    ((1.0, 2.0), (1.1, 9.0))
    >>> still_since(1.0, 9.0, np.nan, 2.0, 0.5)  # no anchor yet: the first reading moves
    (1.0, 9.0)
    >>> still_since(1.0 + 1e-13, 9.0, 1.0, 2.0, np.inf)  # rounding is no move
    (1.0, 2.0)
    """
    d = abs(value - anchor_value)
    half = 0.5 * seen_res if seen_res < np.inf else 0.0
    big = abs(value) if abs(value) > abs(anchor_value) else abs(anchor_value)
    if d <= half or d <= FLOAT_STEP * big:
        return anchor_value, anchor_ts
    return value, ts


@inlined
def still_update(most: float, value: float, still_s: float) -> float:
    """The most of a stillness measure (its length in s, or the resolutions its trend would
    have moved) after one more stillness of `still_s` measuring `value`: a max that forgets,
    each stillness lowering the old max by its share of STILL_MEMORY_S.

    >>> still_update(600.0, 60.0, 60.0), still_update(600.0, 900.0, 900.0)
    (599.9404761904761, 900.0)
    """
    keep = 1.0 - still_s * _PER_MEMORY_S
    old = most * (keep if keep > 0.0 else 0.0)
    return value if value > old else old


@inlined
def is_stuck(
    still_s: float,
    anchor_value: float,
    anchor_pace: float,
    stuck_window_s: float,
    still_max: float,
    pace_max: float,
    moves: float,
    noise_level: float,
    seen_res: float,
    stuck_below: float,
) -> bool:
    """Still for `still_s` (no change beyond half the seen resolution `seen_res`) longer
    than the sensor can be while healthy: at least `stuck_window_s`, having moved (`moves`
    >= STUCK_MIN_MOVES), at a value above `stuck_below` (a gas detector's zero-suppression
    band: clean air reads a flat zero), and either STILL_FACTOR times its longest healthy
    stillness `still_max` where its noise (`noise_level`) moves it by a count, or so long
    that the trend it had when it last moved (`anchor_pace`, units/s; 0: none) would have
    carried it PACE_COUNTS resolutions and STILL_FACTOR times the most it carried it in a
    healthy stillness (`pace_max`, resolutions).

    >>> is_stuck(1000.0, 5.0, 0.0, 900.0, 60.0, 0.0, 50.0, 0.5, 0.1, -np.inf)  # noisy, flat
    True
    >>> is_stuck(1000.0, 5.0, 0.0, 900.0, 600.0, 0.0, 50.0, 0.5, 0.1, -np.inf)  # was 600 s
    False
    >>> is_stuck(1000.0, 5.0, 0.0, 900.0, 60.0, 0.0, 50.0, 0.01, 0.1, -np.inf)  # at rest
    False
    >>> is_stuck(1000.0, 5.0, 0.01, 900.0, 6000.0, 1.0, 50.0, 0.01, 0.1, -np.inf)  # in a fill
    True
    >>> is_stuck(1000.0, 5.0, 0.01, 900.0, 6000.0, 50.0, 50.0, 0.01, 0.1, -np.inf)  # its fills
    False
    >>> is_stuck(1000.0, 5.0, 0.0, 900.0, 60.0, 0.0, 3.0, 0.5, 0.1, -np.inf)  # never moved
    False
    >>> is_stuck(1000.0, 0.0, 0.0, 900.0, 60.0, 0.0, 50.0, 0.5, 0.1, 5.0)  # a gas zero
    False
    """
    if not (still_s >= stuck_window_s and moves >= STUCK_MIN_MOVES and anchor_value > stuck_below):
        return False
    if noise_level > 0.5 * seen_res and still_s >= STILL_FACTOR * still_max:
        return True
    counts = abs(anchor_pace) * still_s / seen_res  # resolutions the trend would have moved
    return counts >= PACE_COUNTS and counts >= STILL_FACTOR * pace_max


@inlined
def still_ended(
    still_s: float,
    pace: float,
    step: float,
    seen_res: float,
    still_max: float,
    pace_max: float,
    healthy: bool,
    was_stuck: bool,
) -> tuple[float, float]:
    """(still_max, pace_max) after a stillness of `still_s` ended with a move of `step`
    (units), `pace` the trend it had begun with (units/s): learned if the sensor was
    `healthy`, or `was_stuck` and moved by at most RECOVERY_COUNTS resolutions.

    >>> still_ended(60.0, 0.125, 0.5, 0.5, 30.0, 2.0, True, False)  # 15 resolutions
    (60.0, 15.0)
    >>> still_ended(6000.0, 0.01, 3.0, 0.1, 30.0, 2.0, False, True)  # jumped: it was stuck
    (30.0, 2.0)
    """
    if healthy or (was_stuck and step <= RECOVERY_COUNTS * seen_res):
        counts = abs(pace) * still_s / seen_res
        return still_update(still_max, still_s, still_s), still_update(pace_max, counts, still_s)
    return still_max, pace_max
