"""A slow, obviously correct detector: one sensor at a time, plain Python floats.

It implements the semantics documented in detectors/decide.py, step.py, signal.py,
trends.py and window.py independently of them; tests assert the vectorised Detector
gives its answers. The slope here is refitted from the stored window (two passes), not
from running sums, so predicted times agree to rounding only; the baseline, CUSUM and
signal-fault arithmetic is the same formula, so those agree exactly. Cross-sensor rules
(AREA_GAS, CO_RISE) are not modelled here. They are process conditions of the sensor that
carries them (an area's anchor, a tank's pressure sensor), so in the Detector they freeze
that sensor's CUSUM and baseline as any alarm does; on timelines where they are raised the
two can differ on DRIFT there (tests/unit/test_detector_fast_paths.py picks one that agrees).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from hazardwatch.vocabulary.model import (
    Batch,
    Condition,
    ConditionChange,
    Kind,
    Quality,
    SensorTable,
    Trend,
)

RANGE_TOLERANCE = 0.005
NEVER = float("-inf")
NAN = math.nan
RING_SIZE = 64
WINDOW_SAMPLE_SHARE = 0.9
MIN_SAMPLES, SIGNIFICANCE, HOLD_RATIO, CLEAR_HORIZON = 5, 3.0, 0.8, 2.0
NOISY_HOLD_RATIO, CUSUM_CLIP_SIGMA, SMOOTH_ALPHA = 0.5, 2.5, 0.2
MIN_SPAN_SHARE, FILLED_SAMPLES = 0.5, 32
NOISE_ALPHA, NOISE_DECAY_ALPHA, CLIP_SIGMA = 0.2, 0.05, 4.0
SPIKE_NOISE_SIGMAS, SPIKE_LEARNED_SIGMAS, SPIKE_USUAL_RATES = 6.0, 8.0, 3.0
SPIKE_SCANS, SPIKE_PROVISIONAL_N = 4.0, 16.0  # a held silence; spikes before the warm-up
LEARN_WARMUP_N, LEARN_ALPHA, LEARN_CLIP, FLOAT_STEP = 32.0, 0.002, 3.0, 1e-9
STILL_FACTOR, STILL_MEMORY_S, STUCK_MIN_MOVES, PACE_COUNTS = 3.0, 7 * 86400.0, 20.0, 10.0
RECOVERY_COUNTS = 2.0
SWITCH_HIGH = 1.5  # a jump up to this x the steps confirmed (fading) is a usual switch
UNKNOWN_SPAN, GAS_SIGMA_OF_LEVEL1 = 1e11, 0.05
GAS_DRIFT_FLOOR_OF_LEVEL1, GAS_ZERO_BAND_OF_LEVEL1, DRIFT_FLOOR_H = 0.1, 0.2, 8.0
DRIFT_FOLLOW_SHARE = 5.0  # x the baseline's pace while DRIFT alone is active (at most 1)
LIMIT_CONDITIONS = {Condition.HH, Condition.H, Condition.L, Condition.LL}
LIMIT_CONDITIONS |= {Condition.GAS1, Condition.GAS2}
FAULTS = (Condition.SPIKE, Condition.STUCK, Condition.NOISY)

# (table column, raises when high?, condition for non-gas kinds, condition for gas kinds)
LIMITS = (
    ("limit_hh", True, Condition.HH, Condition.GAS2),
    ("limit_h", True, Condition.H, Condition.GAS1),
    ("limit_l", False, Condition.L, None),
    ("limit_ll", False, Condition.LL, None),
)


def _zero_if_nan(x: float) -> float:
    return 0.0 if not math.isfinite(x) else x


def fmax(a: float, b: float) -> float:
    """numpy.fmax: the larger, ignoring a NaN."""
    if math.isnan(a):
        return b
    if math.isnan(b):
        return a
    return max(a, b)


def clip(x: float, lo: float, hi: float) -> float:
    return min(max(x, lo), hi)


def _learn_level(level: float, x: float, n: float, floor: float) -> float:
    """A robust running level: the mean of the first x, then an EWMA of weight LEARN_ALPHA,
    each x winsorised at LEARN_CLIP times the level (at least `floor`)."""
    if not n > 0.0 or math.isnan(level):
        return x
    cap = LEARN_CLIP * (level if level > floor else floor)
    return level + max(1.0 / (n + 1.0), LEARN_ALPHA) * (min(x, cap) - level)


def _time_to(limit: float, value: float, slope: float, high: bool) -> float:
    """Seconds until `value` moving at `slope` reaches a high (or low) limit."""
    if math.isnan(limit):
        return NAN
    if slope > 0.0 if high else slope < 0.0:
        return fmax((limit - value) / slope, 0.0)
    return math.inf


def fit_line(window: Iterable[tuple[float, float]], t: float) -> tuple[float, float, float]:
    """(slope per s, its standard error, fitted value at t) by plain least squares."""
    pts = list(window)
    n = len(pts)
    if n < 2:
        return NAN, NAN, NAN
    t_first = pts[0][0]
    xs = [p[0] - t_first for p in pts]
    ys = [p[1] for p in pts]
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if not sxx > 0.0:
        return NAN, NAN, NAN
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    syy = sum((y - my) ** 2 for y in ys)
    slope = sxy / sxx
    se = math.sqrt(max(syy - slope * sxy, 0.0) / (n - 2) / sxx) if n >= 3 else NAN
    return slope, se, my + slope * (t - t_first - mx)


@dataclass
class SensorMemory:
    """Everything the reference remembers about one sensor."""

    last_ts: float = NEVER
    last_seen: float = 0.0
    active: set[Condition] = field(default_factory=set)
    pending: dict[Condition, float] = field(default_factory=dict)  # condition -> since
    window: deque[tuple[float, float]] = field(default_factory=deque)
    pushed_ts: float = NEVER  # ts of the newest sample in the window
    eta: dict[Condition, float] = field(default_factory=dict)  # last reported eta
    base_n: float = 0.0
    base_mean: float = 0.0
    base_var: float = 0.0
    cusum_hi: float = 0.0
    cusum_lo: float = 0.0
    drift_off_since: float = NAN
    prev: tuple[float, float] = (NAN, NAN)  # previous measurement (value, ts)
    hist: tuple[float, float, float, float] = (NAN, NAN, NAN, NAN)  # v1, t1, v2, t2
    noise: float = NAN
    noise_above: float = NAN  # a gas detector's, of its readings lifted to its zero band
    smooth: float = NAN
    anchor: tuple[float, float] = (NAN, NAN)  # value, ts
    # What the sensor has shown (healthy readings only).
    learn_n: float = 0.0
    noise_level: float = NAN
    usual_rate: float = NAN
    seen_res: float = math.inf
    scan_s: float = math.inf  # the shortest positive gap between two readings
    still_max: float = 0.0
    pace_max: float = 0.0
    moves: float = 0.0
    pace: float = 0.0  # the slope at the window's last sample if significant, else 0
    anchor_pace: float = 0.0  # pace when the value last moved
    step_max: float = 0.0  # the largest step or usual switch shown, remembered at step_ts
    step_ts: float = NEVER
    burst_max: float = 0.0  # the largest NOISY peak it has shown, remembered at burst_ts
    burst_ts: float = NEVER
    noisy_peak: float = 0.0


class ReferenceDetector:
    """Same public surface as detectors.Detector, one loop iteration per reading."""

    def __init__(self, table: SensorTable, start_ts: float) -> None:
        self.table = table
        self.sensors = [SensorMemory(last_seen=float(start_ts)) for _ in range(table.n)]
        self.stats = {"out_of_order": 0, "bad_ts": 0, "applied": 0}

    # -------------------------------------------------------------- per sensor rules

    def _limits(self, i: int) -> list[tuple[float, bool, Condition]]:
        """(limit, high, condition) this sensor evaluates."""
        gas = Kind(int(self.table.kind[i])) in (Kind.GAS_COMBUSTIBLE, Kind.GAS_TOXIC)
        out = []
        for column, high, plain, gas_condition in LIMITS:
            limit = float(getattr(self.table, column)[i])
            if gas:
                if gas_condition is None:
                    out.append((math.nan, high, plain))
                else:
                    out.append((limit, high, gas_condition))
            else:
                out.append((limit, high, plain))
        return out

    def _out_of_range(self, i: int, v: float) -> bool:
        lo, hi = float(self.table.range_lo[i]), float(self.table.range_hi[i])
        if not math.isfinite(v):
            return True
        tol = RANGE_TOLERANCE * (hi - lo)
        return v < lo - tol or v > hi + tol

    def _setting(self, column: str, i: int) -> float:
        return float(getattr(self.table, column)[i])

    def _drift_off_delay(self, i: int) -> float:
        column = self.table.drift_off_delay_s  # a table built by hand may not have it
        return float(column[i]) if column.shape[0] == self.table.n else Trend().drift_off_delay_s

    def _reading(self, i: int, t: float, v: float, q: int) -> list[tuple[Condition, bool, float]]:
        """Apply one reading; return (condition, active, eta) per change and eta update."""
        mem = self.sensors[i]
        self._updates: list[tuple[Condition, bool, float]] = []
        if t < mem.last_ts:
            self.stats["out_of_order"] += 1
            return []
        self.stats["applied"] += 1
        before = set(mem.active)
        mem.last_ts = t
        mem.last_seen = max(mem.last_seen, t)
        lost = Condition.COMM_LOSS in mem.active
        mem.active.discard(Condition.COMM_LOSS)
        mem.active.discard(Condition.CLOCK_AHEAD)  # none of these is flagged FLAG_TS_AHEAD
        if q == Quality.BAD:
            mem.active.add(Condition.BAD_QUALITY)
        else:
            mem.active.discard(Condition.BAD_QUALITY)
            if self._out_of_range(i, v):
                mem.active.add(Condition.OUT_OF_RANGE)
            else:
                mem.active.discard(Condition.OUT_OF_RANGE)
                faults = self._signal(i, t, v, lost)
                for c in FAULTS:
                    (mem.active.add if c in faults else mem.active.discard)(c)
                if Condition.STEP in faults:
                    mem.active.add(Condition.STEP)
                # The limits judge a spike too: their on-delay is the filter.
                self._limit_checks(i, t, mem.smooth if Condition.NOISY in faults else v)
                if not faults & set(FAULTS):
                    self._trends(i, t, v)
                    # No transfer plans, no cooling, no flow meters and no pressurised
                    # tanks here: a restored OVERRUN, COOLING_LOST, MASS_BALANCE or
                    # VAPOUR_PRESSURE ends on a usable reading; so does a restored RELATION
                    # where no group is. A group is never judged here: these runs hold
                    # fewer samples than its warm-up (detectors.multivariate.MIN_WARMUP).
                    mem.active.discard(Condition.OVERRUN)
                    mem.active.discard(Condition.COOLING_LOST)
                    mem.active.discard(Condition.MASS_BALANCE)
                    mem.active.discard(Condition.VAPOUR_PRESSURE)
                    if not self._grouped(i):
                        mem.active.discard(Condition.RELATION)
        after = mem.active
        flips = [
            (c, c in after, mem.eta.get(c, NAN)) for c in Condition if (c in before) != (c in after)
        ]
        return flips + self._updates

    def _limit_checks(self, i: int, t: float, v: float) -> None:
        mem = self.sensors[i]
        deadband = _zero_if_nan(float(self.table.deadband[i]))
        on_delay = _zero_if_nan(float(self.table.on_delay_s[i]))
        off_delay = _zero_if_nan(float(self.table.off_delay_s[i]))
        evaluated = set()
        for limit, high, cond in self._limits(i):
            evaluated.add(cond)
            active = cond in mem.active
            if high:
                threshold = limit - deadband if active else limit
                want = v >= threshold
            else:
                threshold = limit + deadband if active else limit
                want = v <= threshold
            if want == active:
                mem.pending.pop(cond, None)
                continue
            since = mem.pending.get(cond, t)
            delay = off_delay if active else on_delay
            if t - since >= delay:
                mem.pending.pop(cond, None)
                if want:
                    mem.active.add(cond)
                else:
                    mem.active.discard(cond)
            else:
                mem.pending[cond] = since
        # A limit condition this sensor no longer evaluates (restored) ends now.
        for cond in list(mem.active):
            if cond in LIMIT_CONDITIONS and cond not in evaluated:
                mem.active.discard(cond)

    # -------------------------------------------------------------- signal faults

    def _span(self, i: int) -> float:
        """The instrument span; 0 where none is known (a range of +-1e12 is none)."""
        span = _zero_if_nan(self._setting("range_hi", i) - self._setting("range_lo", i))
        return 0.0 if span >= UNKNOWN_SPAN else span

    def _resolution(self, i: int) -> float:
        return _zero_if_nan(self._setting("resolution", i))

    def _level1(self, i: int) -> float:
        return _zero_if_nan(self._setting("limit_h", i))

    def _sigma_floor(self, i: int) -> float:
        """At least resolution and 0.1 % of a known span, and for gas 5 % of level 1."""
        floor = fmax(self._resolution(i), 1e-3 * self._span(i))
        if self._is_gas(i):
            floor = fmax(floor, GAS_SIGMA_OF_LEVEL1 * self._level1(i))
        return floor

    def _sigma(self, i: int) -> float:
        """The baseline sigma used as a scale, at least the sigma floor."""
        return fmax(math.sqrt(max(self.sensors[i].base_var, 0.0)), self._sigma_floor(i))

    def _grouped(self, i: int) -> bool:
        """Whether sensor i is in a RELATION group: a generic sensor of a unit with two."""
        generic = self.table.kind == int(Kind.GENERIC)
        if not generic[i]:
            return False
        return int((generic & (self.table.unit_index == self.table.unit_index[i])).sum()) >= 2

    def _is_gas(self, i: int) -> bool:
        return Kind(int(self.table.kind[i])) in (Kind.GAS_COMBUSTIBLE, Kind.GAS_TOXIC)

    def _warmed(self, i: int) -> bool:
        return self.sensors[i].base_n >= fmax(self._setting("baseline_warmup_n", i), 1.0)

    def _spike_rate(self, i: int) -> float:
        """The physical spike rate (a generic sensor without one: 0), at least 3 x the usual
        rate learned; NaN: no spike check."""
        rate = self._setting("spike_rate_per_s", i)
        if math.isnan(rate) and Kind(int(self.table.kind[i])) is Kind.GENERIC:
            rate = 0.0
        if math.isnan(rate):
            return NAN
        pace = SPIKE_USUAL_RATES * self.sensors[i].usual_rate
        return pace if pace > rate else rate

    def _noise_scale(self, i: int) -> float:
        """Learned noise, at least half the smallest step seen."""
        mem = self.sensors[i]
        half = 0.5 * mem.seen_res if math.isfinite(mem.seen_res) else 0.0
        return mem.noise_level if mem.noise_level > half else half

    def _learned(self, i: int) -> bool:
        return self.sensors[i].learn_n >= LEARN_WARMUP_N

    def _still(self, i: int, t: float, v: float, healthy: bool) -> None:
        """Move the STUCK anchor when the value left half the seen resolution; learn how long
        it was still, and how far its trend would have carried it meanwhile."""
        mem = self.sensors[i]
        value, since = mem.anchor
        d = abs(v - value)
        half = 0.5 * mem.seen_res if math.isfinite(mem.seen_res) else 0.0
        if d <= half or d <= FLOAT_STEP * max(abs(v), abs(value)):
            return
        mem.anchor = (v, t)
        pace, mem.anchor_pace = mem.anchor_pace, mem.pace
        if math.isnan(since):
            return
        mem.moves += 1.0
        recovered = Condition.STUCK in mem.active and d <= RECOVERY_COUNTS * mem.seen_res
        if healthy or recovered:
            still = t - since
            keep = max(1.0 - still * (1.0 / STILL_MEMORY_S), 0.0)
            mem.still_max = max(still, mem.still_max * keep)
            mem.pace_max = max(abs(pace) * still / mem.seen_res, mem.pace_max * keep)

    def _signal(self, i: int, t: float, v: float, lost: bool) -> set[Condition]:
        mem = self.sensors[i]
        rate = self._spike_rate(i)
        v1, t1, v2, t2 = mem.hist
        pv, pt = mem.prev
        physics = self._setting("spike_rate_per_s", i) > 0.0
        allowance = NAN  # nothing is a spike before the noise is learned
        early = physics and mem.learn_n >= SPIKE_PROVISIONAL_N  # ... or half-learned
        if self._learned(i) or early:  # 6 x the short-term noise, at least 8 x the learned
            allowance = fmax(SPIKE_NOISE_SIGMAS * mem.noise, -math.inf)
            allowance = max(allowance, SPIKE_LEARNED_SIGMAS * self._noise_scale(i))
            if not self._learned(i):  # and 8 x the sigma floor
                allowance = max(allowance, SPIKE_LEARNED_SIGMAS * self._sigma_floor(i))
        gap, prev_gap = t - t1, t - pt
        if physics and not lost:  # a silence shorter than the stale limit held the value
            held = SPIKE_SCANS * mem.scan_s
            stale = self._setting("stale_after_s", i)
            gap = held if gap <= stale and held < gap else gap
            prev_gap = held if prev_gap <= stale and held < prev_gap else prev_gap
        spike = abs(v - v1) > rate * gap + allowance and abs(v - pv) > rate * prev_gap + allowance
        near_prev = abs(v - pv) <= rate * prev_gap + allowance
        step = Condition.SPIKE in mem.active and near_prev and abs(v - pv) < abs(v - v1)
        # The steps it has shown, remembered fading linearly over STILL_MEMORY_S: a jump no
        # larger than SWITCH_HIGH x that is a switch between its usual levels, not a spike.
        remembered = mem.step_max * max(1.0 - (t - mem.step_ts) * (1.0 / STILL_MEMORY_S), 0.0)
        switch = spike and 0.0 < remembered and abs(v - v1) <= SWITCH_HIGH * remembered
        switch = switch and not self._setting("spike_rate_per_s", i) > 0.0  # no physics known
        if switch or step:
            spike = False
            mem.step_max, mem.step_ts = max(remembered, abs(v - v1)), t
        elif Condition.SPIKE in mem.active and not spike:  # the spike came back: its size
            mem.step_max, mem.step_ts = max(remembered, abs(pv - v1)), t
        healthy = not mem.active & set(FAULTS)
        threshold = NAN
        learned = self._learned(i)  # before this reading teaches anything
        if learned:
            scale = max(self._noise_scale(i), self._sigma_floor(i))
            threshold = self._setting("noise_ratio", i) * scale
        mem.prev = (v, t)
        faults = set()
        if spike:
            faults.add(Condition.SPIKE)
        elif step or switch:
            # The instrument shifted (or the sensor switched level as it does): its history,
            # window and CUSUM start again there.
            if step:
                faults.add(Condition.STEP)
            mem.base_mean += v - v1
            mem.base_n = 0.0  # learned afresh
            mem.cusum_hi = mem.cusum_lo = 0.0
            mem.window.clear()
            mem.pace = 0.0
            mem.smooth = v
            self._still(i, t, v, healthy)
            mem.hist = (v, t, NAN, NAN)
        else:
            mem.smooth = (
                v if math.isnan(mem.smooth) else mem.smooth + SMOOTH_ALPHA * (v - mem.smooth)
            )
            d2 = d2_above = NAN
            if t1 != t2:  # the line of the two before, extrapolated 2 x their spacing at most
                d = 0.5 * abs(v - (v1 + (v1 - v2) * min((t - t1) / (t1 - t2), 2.0)))
                d2 = d if math.isfinite(d) else NAN
                # A gas detector reads 0 anywhere in its zero band: lifted to the band's
                # edge, its readings show the noise above the band.
                band = GAS_ZERO_BAND_OF_LEVEL1 * self._level1(i)
                a, b, c = (band if x < band else x for x in (v, v1, v2))
                d = 0.5 * abs(a - (b + (b - c) * min((t - t1) / (t1 - t2), 2.0)))
                d2_above = d if math.isfinite(d) else NAN
            step_size = abs(v - v1)
            if FLOAT_STEP * max(abs(v), abs(v1)) < step_size < mem.seen_res:
                mem.seen_res = step_size
            if 0.0 < t - t1 < mem.scan_s:
                mem.scan_s = t - t1
            if healthy and not math.isnan(d2):
                floor = 0.5 * mem.seen_res if math.isfinite(mem.seen_res) else 0.0
                mem.noise_level = _learn_level(mem.noise_level, d2, mem.learn_n, floor)
                if t - t1 > 0.0:
                    per_s = 1.0 / (t - t1)
                    mem.usual_rate = _learn_level(
                        mem.usual_rate, abs(v - v1) * per_s, mem.learn_n, floor * per_s
                    )
                mem.learn_n += 1.0
            if self._is_gas(i) and not math.isnan(d2):
                mem.noise_above = (
                    d2_above
                    if math.isnan(mem.noise_above)
                    else mem.noise_above
                    + (NOISE_ALPHA if d2_above > mem.noise_above else NOISE_DECAY_ALPHA)
                    * (d2_above - mem.noise_above)
                )
            if not math.isnan(d2):
                mem.noise = (
                    d2
                    if math.isnan(mem.noise)
                    else mem.noise
                    + (NOISE_ALPHA if d2 > mem.noise else NOISE_DECAY_ALPHA) * (d2 - mem.noise)
                )
            self._still(i, t, v, healthy)
            mem.hist = (v, t, v1, t1)
        still = t - mem.anchor[1]
        stuck_below = GAS_ZERO_BAND_OF_LEVEL1 * self._level1(i) if self._is_gas(i) else -math.inf
        if (
            still >= self._setting("stuck_window_s", i)
            and mem.moves >= STUCK_MIN_MOVES
            and mem.anchor[0] > stuck_below
        ):
            # Still longer than its noise lets it be, or than its trend when it last moved.
            flicker = mem.noise_level > 0.5 * mem.seen_res
            counts = abs(mem.anchor_pace) * still / mem.seen_res
            if (flicker and still >= STILL_FACTOR * mem.still_max) or (
                counts >= PACE_COUNTS and counts >= STILL_FACTOR * mem.pace_max
            ):
                faults.add(Condition.STUCK)
        was_noisy = Condition.NOISY in mem.active
        if mem.burst_max > 0.0 and not self._setting("spike_rate_per_s", i) > 0.0:
            # A burst of noise the size of those it has shown is its usual (no physics known).
            keep = max(1.0 - (t - mem.burst_ts) * (1.0 / STILL_MEMORY_S), 0.0)
            usual = SWITCH_HIGH * (mem.burst_max * keep)
            if usual > threshold:
                threshold = usual
        threshold *= NOISY_HOLD_RATIO if was_noisy else 1.0
        # A gas detector's noise above its zero band, against its sigma floor alone.
        above = self._setting("noise_ratio", i) * self._sigma_floor(i)
        above *= NOISY_HOLD_RATIO if was_noisy else 1.0
        gas_burst = self._is_gas(i) and learned and mem.noise_above > above
        if mem.noise > threshold or gas_burst:
            faults.add(Condition.NOISY)
            if not was_noisy or mem.noise > mem.noisy_peak:
                mem.noisy_peak = mem.noise
        elif was_noisy:  # a burst ended: remembered
            keep = max(1.0 - (t - mem.burst_ts) * (1.0 / STILL_MEMORY_S), 0.0)
            mem.burst_max, mem.burst_ts = max(mem.burst_max * keep, mem.noisy_peak), t
        return faults

    # -------------------------------------------------------------- early warnings

    def _trends(self, i: int, t: float, v: float) -> None:
        mem = self.sensors[i]
        w = mem.window
        window_s = self._setting("rate_window_s", i)
        pushed = not w or t - mem.pushed_ts >= WINDOW_SAMPLE_SHARE * window_s / RING_SIZE
        if pushed:
            if len(w) == RING_SIZE:
                w.popleft()
            w.append((t, v))
            mem.pushed_ts = t
            while w[0][0] < t - window_s:
                w.popleft()
        slope, se, fit = fit_line(w, t)
        # The slowest slope the window allows: what a prediction is raised on.
        sure = math.copysign(max(abs(slope) - SIGNIFICANCE * se, 0.0), slope)
        if math.isnan(slope) or math.isnan(se):
            sure = slope if math.isnan(slope) else 0.0
        filled = t - w[0][0] >= MIN_SPAN_SHARE * window_s
        filled = filled or len(w) >= FILLED_SAMPLES
        # A STEP ends once the restarted window is filled again, or on a good reading a
        # window or more after the good one before it (a sensor slower than its window).
        if filled or mem.hist[1] - mem.hist[3] > window_s:
            mem.active.discard(Condition.STEP)
        sig = len(w) >= MIN_SAMPLES and abs(slope) > SIGNIFICANCE * se and filled
        limit = self._setting("rate_limit_per_min", i)
        speed = abs(slope * 60.0)
        if Condition.RATE in mem.active:
            rate = speed >= HOLD_RATIO * limit
        else:
            rate = speed > limit and speed - limit > SIGNIFICANCE * se * 60.0 and sig
        (mem.active.add if rate else mem.active.discard)(Condition.RATE)
        horizon = self._setting("horizon_s", i)
        lims = self._limits(i)
        for cond, (limit, _, alarm), high in (
            (Condition.PREDICT_HH, lims[0], True),
            (Condition.PREDICT_LL, lims[3], False),
        ):
            was = cond in mem.active
            seconds = _time_to(limit, fit, slope, high)
            reached = alarm in mem.active
            if was:
                now = seconds < CLEAR_HORIZON * horizon and not reached
            else:
                sure_seconds = _time_to(limit, fit, sure, high)
                now = sure_seconds < horizon and sig and not reached
            eta = t + seconds
            if not now:
                mem.active.discard(cond)
                mem.eta.pop(cond, None)
                continue
            mem.active.add(cond)
            if not was:
                mem.eta[cond] = eta
            elif not abs(eta - mem.eta.get(cond, NAN)) <= fmax(0.25 * (eta - t), 60.0):
                mem.eta[cond] = eta
                self._updates.append((cond, True, eta))
        if pushed:  # the CUSUM and the baseline take the samples the window takes
            mem.pace = slope if len(w) >= MIN_SAMPLES and abs(slope) > SIGNIFICANCE * se else 0.0
            self._drift_and_baseline(i, t, v)

    def _drift_and_baseline(self, i: int, t: float, v: float) -> None:
        mem = self.sensors[i]
        sigma = self._sigma(i)
        h_sigma = self._setting("drift_h_sigma", i)
        others = any(not c.is_instrument and c != Condition.DRIFT for c in mem.active)
        was = Condition.DRIFT in mem.active
        if was and not (self._warmed(i) and not others and not math.isnan(h_sigma)):
            mem.drift_off_since = NAN  # a frozen DRIFT is still wanted: no off-delay runs
        if self._warmed(i) and not others and not math.isnan(h_sigma):
            # A gas detector's floor: a deviation under 10 % of level 1 never adds up.
            floor = GAS_DRIFT_FLOOR_OF_LEVEL1 * self._level1(i) if self._is_gas(i) else 0.0
            c = fmax(CUSUM_CLIP_SIGMA * sigma, 2.0 * floor)
            d = clip(v - mem.base_mean, -c, c)
            k = fmax(self._setting("drift_k_sigma", i) * sigma, floor)
            h = max(h_sigma * sigma, DRIFT_FLOOR_H * floor)
            cap = 2.0 * h
            hi = clip(mem.cusum_hi + d - k, 0.0, cap)
            lo = clip(mem.cusum_lo - d - k, 0.0, cap)
            drift = fmax(hi, lo) > h * (0.5 if was else 1.0)
            if was and not drift:  # the off-delay
                since = t if math.isnan(mem.drift_off_since) else mem.drift_off_since
                drift = t - since < self._drift_off_delay(i)
                mem.drift_off_since = since if drift else NAN
            elif was:
                mem.drift_off_since = NAN
            if drift:
                mem.active.add(Condition.DRIFT)
                mem.cusum_hi, mem.cusum_lo = hi, lo
            else:
                mem.active.discard(Condition.DRIFT)
                mem.cusum_hi, mem.cusum_lo = (0.0, 0.0) if was else (hi, lo)
        process = [c for c in mem.active if not c.is_instrument]
        if not process or (process == [Condition.DRIFT] and not self._warmed(i)):
            self._learn(i, v)  # (learning afresh after a STEP, DRIFT held)
        elif process == [Condition.DRIFT]:  # drifted: the mean follows, faster
            c = clip(v, mem.base_mean - CLIP_SIGMA * sigma, mem.base_mean + CLIP_SIGMA * sigma)
            c -= mem.base_mean
            alpha = min(DRIFT_FOLLOW_SHARE * self._setting("baseline_alpha", i), 1.0)
            mem.base_mean += alpha * c  # the level only: the spread is learned on normal rows

    def _learn(self, i: int, v: float) -> None:
        mem = self.sensors[i]
        mean, var, n = mem.base_mean, mem.base_var, mem.base_n
        if n < fmax(self._setting("baseline_warmup_n", i), 1.0):
            n1 = n + 1.0
            d = v - mean
            mem.base_mean = mean + d / n1
            mem.base_var = var + (d * (v - mem.base_mean) - var) / n1
        else:
            sigma = self._sigma(i)
            alpha = self._setting("baseline_alpha", i)
            c = clip(v, mean - CLIP_SIGMA * sigma, mean + CLIP_SIGMA * sigma) - mean
            mem.base_mean = mean + alpha * c
            mem.base_var = (1.0 - alpha) * (var + alpha * c * c)
        mem.base_n = n + 1.0

    # -------------------------------------------------------------- public surface

    def step(self, batch: Batch) -> list[ConditionChange]:
        rows = []
        for k in range(len(batch)):
            t = float(batch.ts[k])
            if not math.isfinite(t):
                self.stats["bad_ts"] += 1
                continue
            rows.append((t, k))
        rows.sort(key=lambda r: r[0])  # stable: equal ts keep arrival order
        changes = []
        for t, k in rows:
            i = int(batch.sensor[k])
            v = float(batch.value[k])
            for cond, active, eta in self._reading(i, t, v, int(batch.quality[k])):
                changes.append(_change(i, cond, active, v, t, eta))
        return _ordered(changes)

    def check_stale(self, now: float) -> list[ConditionChange]:
        changes = []
        for i, mem in enumerate(self.sensors):
            stale_after = float(self.table.stale_after_s[i])
            if now - mem.last_seen > stale_after and Condition.COMM_LOSS not in mem.active:
                mem.active.add(Condition.COMM_LOSS)
                changes.append(_change(i, Condition.COMM_LOSS, True, math.nan, float(now)))
        return _ordered(changes)

    def gateway_offline(self, sensors: Iterable[int], ts: float) -> list[ConditionChange]:
        changes = []
        for i in sorted(set(int(s) for s in sensors)):
            mem = self.sensors[i]
            if Condition.COMM_LOSS not in mem.active:
                mem.active.add(Condition.COMM_LOSS)
                changes.append(_change(i, Condition.COMM_LOSS, True, math.nan, float(ts)))
        return _ordered(changes)

    def restore(self, active: Iterable[tuple[int, Condition]]) -> None:
        for i, cond in active:
            mem = self.sensors[int(i)]
            mem.active.add(Condition(cond))
            mem.pending.pop(Condition(cond), None)
            mem.eta.pop(Condition(cond), None)

    def active_bits(self) -> list[int]:
        return [sum(c.bit for c in mem.active) for mem in self.sensors]


def _change(
    i: int, cond: Condition, active: bool, v: float, t: float, eta: float = NAN
) -> ConditionChange:
    eta_ts = None if math.isnan(eta) else eta
    return ConditionChange(i, cond, active, v, t, cond.severity, eta_ts)


def _ordered(changes: list[ConditionChange]) -> list[ConditionChange]:
    """By ts, then sensor, then condition; stable, so one sensor's readings keep their order."""
    return sorted(changes, key=lambda c: (c.ts, c.sensor, int(c.condition)))
