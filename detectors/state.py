"""The detector's arrays: `Params` it reads (compiled once from the SensorTable) and
`State` it writes (the memory of every sensor). One row (column for 2-D arrays) per
sensor index.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from functools import cache, cached_property
from typing import Any, NamedTuple

import numpy as np

from hazardwatch.vocabulary.defaults import GAS_DRIFT_FLOOR_OF_LEVEL1, GAS_ZERO_BAND_OF_LEVEL1
from hazardwatch.vocabulary.model import Condition, Kind, SensorTable, Trend


class Slot(NamedTuple):
    """One limit of a sensor: which set point, which way, which condition it raises."""

    limit: str  # SensorTable column
    high: bool  # True: raised at value >= limit; False: at value <= limit
    condition: Condition  # for non-gas kinds
    gas_condition: Condition | None  # for gas kinds; None: not evaluated on gas detectors

    def condition_for(self, gas: bool) -> Condition:
        """The condition this slot raises on a gas or a non-gas sensor."""
        if gas and self.gas_condition is not None:
            return self.gas_condition
        return self.condition

    def bits(self, gas: np.ndarray) -> np.ndarray | np.uint32:
        """The condition bit per sensor, `gas` being 0/1 (uint32) per sensor."""
        if self.gas_condition is None:
            return np.uint32(self.condition.bit)
        step = np.uint32(self.gas_condition.bit - self.condition.bit)  # positive: GAS* > HH/H
        return np.uint32(self.condition.bit) + gas * step


# The order of rows in Params.limit and State.pending_since.
SLOTS: tuple[Slot, ...] = (
    Slot("limit_hh", True, Condition.HH, Condition.GAS2),
    Slot("limit_h", True, Condition.H, Condition.GAS1),
    Slot("limit_l", False, Condition.L, None),
    Slot("limit_ll", False, Condition.LL, None),
)

PROCESS_BITS = sum(c.bit for c in Condition if not c.is_instrument)
LIMIT_BITS = sum(s.condition.bit for s in SLOTS) | sum(
    s.gas_condition.bit for s in SLOTS if s.gas_condition is not None
)


# Samples kept per sensor for the least-squares slope: the window is the last
# `rate_window_s` seconds or the last RING_SIZE samples, whichever is shorter. A sensor
# reporting faster than 0.9 x rate_window_s / RING_SIZE feeds the window at that spacing,
# so the window spans its configured time (at 1 Hz, 64 samples would be only 64 s).
RING_SIZE = 64
WINDOW_SAMPLE_SHARE = 0.9


def _finite_or_zero(a: np.ndarray) -> np.ndarray:
    return np.nan_to_num(np.asarray(a, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)


def _column(table: SensorTable, name: str, default: float | None) -> np.ndarray:
    """A trend column as float64; a table built without it gets the Trend default."""
    a = np.asarray(getattr(table, name), dtype=np.float64)
    if a.shape[0] != table.n:
        return np.full(table.n, np.nan if default is None else float(default))
    return a.copy()


def _index(table: SensorTable, name: str, n: int) -> np.ndarray:
    a = np.asarray(getattr(table, name), dtype=np.int64)
    return a.copy() if a.shape[0] == n else np.full(n, -1, np.int64)


@dataclass(frozen=True, eq=False)
class Params:
    """Per-sensor settings as arrays; read-only for the detector. NaN switches a check off."""

    is_gas: np.ndarray  # uint32, 1 for gas detectors (arithmetic with condition bits)
    limit: np.ndarray  # float64 (len(SLOTS), n), NaN where not configured or not evaluated
    deadband: np.ndarray  # float64, engineering unit
    on_delay_s: np.ndarray  # float64
    off_delay_s: np.ndarray  # float64
    range_lo: np.ndarray  # float64, engineering unit
    range_hi: np.ndarray  # float64
    stale_after_s: np.ndarray  # float64, NaN: never stale
    valid_bits: np.ndarray  # uint32: the limit conditions this sensor can raise
    # Early warning and signal faults (see hazardwatch.vocabulary.model.Trend for meaning and
    # units).
    rate_limit_per_min: np.ndarray
    rate_window_s: np.ndarray
    sample_every_s: np.ndarray  # the window takes at most one sample per this many s
    horizon_s: np.ndarray
    drift_h_sigma: np.ndarray
    drift_k_sigma: np.ndarray
    warmup_n: np.ndarray  # float64 count
    alpha: np.ndarray
    stuck_window_s: np.ndarray
    resolution: np.ndarray
    spike_rate_per_s: np.ndarray
    noise_ratio: np.ndarray
    drift_off_delay_s: np.ndarray  # DRIFT's off-delay, s
    sigma_floor: np.ndarray  # smallest baseline sigma trusted (resolution, 0.1 % of span)
    drift_floor: np.ndarray  # least deviation DRIFT adds up, units (gas: share of level 1)
    stuck_below: np.ndarray  # still at or below this is never STUCK (gas: zero suppression)
    # Cross-sensor groups.
    area: np.ndarray  # int64, area per sensor, -1: none
    area_k: np.ndarray  # int64 per area: votes that raise AREA_GAS
    area_anchor: np.ndarray  # int64 per area: the lowest sensor index of the area
    area_members: np.ndarray  # int64: every sensor with an area, ascending
    area_grouped: np.ndarray  # int64: the same sensors by area, ascending within one
    area_start: np.ndarray  # int64 per area, and one more: where it begins in area_grouped
    unit_index: np.ndarray  # int64 per sensor
    unit_temperature: np.ndarray  # int64 per unit with both sensors
    unit_pressure: np.ndarray  # int64 per unit with both sensors (CO_RISE is raised here)
    pair_of: np.ndarray  # int64 per sensor: its row in unit_temperature/pressure, -1: none

    @property
    def n(self) -> int:
        return int(self.is_gas.shape[0])

    @cached_property
    def rates_nonnegative(self) -> bool:
        """No RATE limit below 0 (unset ones included): CO_RISE thresholds are then >= 0."""
        return not bool((self.rate_limit_per_min < 0.0).any())

    @classmethod
    def from_table(cls, table: SensorTable, ring_size: int = RING_SIZE) -> Params:
        """Compile the table; a NaN deadband or delay means none (0)."""
        n = table.n
        kind = np.asarray(table.kind)
        d = Trend()
        rate_window_s = _column(table, "rate_window_s", d.rate_window_s)
        gas = (kind == Kind.GAS_COMBUSTIBLE) | (kind == Kind.GAS_TOXIC)
        limit = np.stack([np.asarray(getattr(table, s.limit), dtype=np.float64) for s in SLOTS])
        for row, s in enumerate(SLOTS):
            if s.gas_condition is None:
                limit[row, gas] = np.nan
        gas_bits = sum(s.gas_condition.bit for s in SLOTS if s.gas_condition is not None)
        gas_bits |= sum(s.condition.bit for s in SLOTS if s.gas_condition is None)
        plain_bits = sum(s.condition.bit for s in SLOTS)
        range_lo = np.asarray(table.range_lo, dtype=np.float64).copy()
        range_hi = np.asarray(table.range_hi, dtype=np.float64).copy()
        resolution = _finite_or_zero(_column(table, "resolution", d.resolution))
        span = _finite_or_zero(range_hi - range_lo)
        span[span >= UNKNOWN_SPAN] = 0.0  # no instrument's range: no floors from it
        level1 = _finite_or_zero(limit[1])
        spike_rate_per_s = _column(table, "spike_rate_per_s", d.spike_rate_per_s)
        # A generic sensor has no physics to go by: its own usual rate is the yardstick.
        spike_rate_per_s[(kind == Kind.GENERIC) & np.isnan(spike_rate_per_s)] = 0.0
        area = _index(table, "area", n)
        n_areas = len(table.areas)
        members = np.flatnonzero(area >= 0)
        anchor = np.full(n_areas, -1, np.int64)
        # Reversed assignment leaves the lowest index of each area.
        anchor[area[members[::-1]]] = members[::-1]
        area_k = np.asarray(table.area_k, dtype=np.int64)
        if area_k.shape[0] != n_areas:
            area_k = np.full(n_areas, 2, np.int64)
        ut = np.asarray(table.unit_temperature, dtype=np.int64)
        up = np.asarray(table.unit_pressure, dtype=np.int64)
        paired = (ut >= 0) & (up >= 0) if ut.shape == up.shape else np.zeros(0, bool)
        ut, up = (ut[paired], up[paired]) if paired.size else (ut[:0], up[:0])
        pair_of = np.full(n, -1, np.int64)
        pair_of[ut] = np.arange(ut.size)
        pair_of[up] = np.arange(up.size)
        sample_every_s = WINDOW_SAMPLE_SHARE * rate_window_s / ring_size
        params = cls(
            is_gas=gas.astype(np.uint32),
            limit=limit,
            deadband=_finite_or_zero(table.deadband),
            on_delay_s=_finite_or_zero(table.on_delay_s),
            off_delay_s=_finite_or_zero(table.off_delay_s),
            range_lo=range_lo,
            range_hi=range_hi,
            stale_after_s=np.asarray(table.stale_after_s, dtype=np.float64).copy(),
            valid_bits=np.where(gas, gas_bits, plain_bits).astype(np.uint32),
            rate_limit_per_min=_column(table, "rate_limit_per_min", d.rate_limit_per_min),
            rate_window_s=rate_window_s,
            # No window (NaN): inf, so only an empty window (pushed_ts -inf) takes a sample.
            sample_every_s=np.where(np.isnan(sample_every_s), np.inf, sample_every_s),
            horizon_s=_column(table, "horizon_s", d.horizon_s),
            drift_h_sigma=_column(table, "drift_h_sigma", d.drift_h_sigma),
            drift_k_sigma=_column(table, "drift_k_sigma", d.drift_k_sigma),
            warmup_n=np.fmax(_column(table, "baseline_warmup_n", d.baseline_warmup_n), 1.0),
            alpha=_column(table, "baseline_alpha", d.baseline_alpha),
            stuck_window_s=_column(table, "stuck_window_s", d.stuck_window_s),
            resolution=resolution,
            spike_rate_per_s=spike_rate_per_s,
            noise_ratio=_column(table, "noise_ratio", d.noise_ratio),
            drift_off_delay_s=_column(table, "drift_off_delay_s", d.drift_off_delay_s),
            sigma_floor=np.fmax(
                np.fmax(resolution, SIGMA_FLOOR_OF_SPAN * span),
                np.where(gas, GAS_SIGMA_FLOOR_OF_LEVEL1 * level1, 0.0),
            ),
            drift_floor=np.where(gas, GAS_DRIFT_FLOOR_OF_LEVEL1 * level1, 0.0),
            stuck_below=np.where(gas, GAS_ZERO_BAND_OF_LEVEL1 * level1, -np.inf),
            area=area,
            area_k=area_k,
            area_anchor=anchor,
            area_members=members,
            area_grouped=members[np.argsort(area[members], kind="stable")],
            area_start=np.concatenate(
                [[0], np.cumsum(np.bincount(area[members], minlength=n_areas))]
            ).astype(np.int64),
            unit_index=_index(table, "unit_index", n),
            unit_temperature=ut,
            unit_pressure=up,
            pair_of=pair_of,
        )
        return replace(params, **_shared_settings(params, n))

    @property
    def nbytes(self) -> int:
        return sum(_memory(getattr(self, f.name)) for f in fields(self))


def _shared_settings(p: Params, n: int) -> dict[str, np.ndarray]:
    """The float settings every sensor shares, as read-only zero-stride views of one value.

    A shared setting then costs one cached value per pass instead of a park-sized array read
    from memory (or gathered) every step; the arithmetic is the same, element for element.
    """
    out = {}
    for f in fields(p):
        a = getattr(p, f.name)
        if a.ndim == 1 and a.shape[0] == n > 1 and a.dtype == np.float64:
            if np.array_equal(a, np.broadcast_to(a[:1], a.shape), equal_nan=True):
                out[f.name] = np.broadcast_to(a[:1].copy(), a.shape)
    return out


def _memory(a: np.ndarray) -> int:
    """Bytes an array holds: a zero-stride (broadcast) array holds one element."""
    return a.itemsize if a.ndim == 1 and a.strides[0] == 0 else a.nbytes


# A baseline sigma below 0.1 % of the span is not trusted as the scale of DRIFT and NOISY
# (a gas detector reading a flat 0 would otherwise alarm on its first digit). [product default]
SIGMA_FLOOR_OF_SPAN = 1e-3
# A gas detector's scale is its first alarm level, not its span: reading near zero, its
# learned spread is mostly the first digit and clipping at 0. A sigma under 5 % of the first
# level is not trusted, so DRIFT needs a sustained rise of several per cent of level 1 (about
# a typical detector's zero stability) and not a wobble of its last digit. [product default]
GAS_SIGMA_FLOOR_OF_LEVEL1 = 0.05
# A span this wide is no instrument's range (replay gives a wide CSV's columns +-1e12): it
# sets no floor (sigma, resolution), so such a sensor is judged by what it has shown.
UNKNOWN_SPAN = 1e11


@dataclass(frozen=True, eq=False)
class State:
    """What the detector remembers about each sensor."""

    last_value: np.ndarray  # float64, last reading usable for process checks; NaN: none yet
    last_ts: np.ndarray  # float64, ts of the last applied reading; -inf: none yet
    last_seen: np.ndarray  # float64, for staleness: max(start_ts, applied reading ts)
    last_quality: np.ndarray  # uint8, Quality of the last applied reading
    active: np.ndarray  # uint32, bit Condition.bit set while that condition is active
    pending_since: np.ndarray  # float64 (len(SLOTS), n): start of a pending change; NaN: none
    # Limits: a judged value strictly between these changes no limit condition and no timer
    # (detectors.limit_rules); lo = inf sends the next reading through the rules.
    quiet_lo: np.ndarray
    quiet_hi: np.ndarray
    # Sliding window: ring of accepted samples, (RING_SIZE, n) so one slot is contiguous,
    # and running sums of x = ts - t0, y = value - v0 (a per-sensor origin keeps them exact).
    ring_ts: np.ndarray
    ring_value: np.ndarray
    head: np.ndarray  # int64: the slot the next sample goes to
    count: np.ndarray  # int64: samples in the window
    t0: np.ndarray
    v0: np.ndarray
    sums: np.ndarray  # float64 (5, n): sum x, y, xx, xy, yy
    pushed_ts: np.ndarray  # float64, ts of the newest sample in the window; -inf: empty
    # float64 (1,): no window takes a sample before this ts (a lower bound, set by a round
    # over the whole park; -inf: unknown). A synchronised park's steps between two samples
    # skip the sampling loop.
    sample_from: np.ndarray
    tail_ts: np.ndarray  # float64, ts of the oldest sample in the window (count > 0)
    slope: np.ndarray  # float64, units/s of the window after the last accepted sample
    stderr: np.ndarray  # float64, standard error of that slope
    significant: np.ndarray  # bool: decide.significant of slope, stderr and count
    eta: np.ndarray  # float64 (2, n): last reported eta of PREDICT_HH, PREDICT_LL
    # RATE and PREDICT_* of a sensor cannot change before this ts unless its window takes a
    # sample or one of its limit alarms moves (both reset it to -inf): the trend stage skips
    # its sensor until then (detectors.trends).
    trend_wake: np.ndarray  # float64
    # CO_RISE (detectors.vote) judges a unit again only when one of these is set: a slope
    # window (or CO_RISE itself, by a restore) of the sensor moved since; the unit's pressure
    # sensor wants CO_RISE raised but a window is not filled yet.
    co_dirty: np.ndarray  # bool
    co_waiting: np.ndarray  # bool
    # COOLING_LOST (detectors.cooling), on a cooled unit's temperature sensor: ts its cooling
    # began to be missed; NaN: it is not.
    cooling_since: np.ndarray  # float64
    # Learned baseline and CUSUM.
    base_n: np.ndarray  # float64: readings learned
    warm: np.ndarray  # bool: base_n >= Params.warmup_n (the baseline is warmed up)
    base_mean: np.ndarray
    base_var: np.ndarray
    base_sigma: np.ndarray  # checks.baseline_sigma of base_var: kept, as var moves only on samples
    cusum: np.ndarray  # float64 (2, n): upper, lower
    drift_off_since: np.ndarray  # float64: first reading that wanted DRIFT cleared; NaN: none
    # The largest CUSUM sum the learning rows showed (Detector.learn), in sigmas of the
    # baseline they taught (0: none): that much wander is usual (checks.drift_threshold).
    drift_seen: np.ndarray
    # Signal faults.
    # The previous measurement while it was a spike (SPIKE active; otherwise it is the newer
    # pair of hist) and its ts.
    prev_value: np.ndarray
    prev_ts: np.ndarray
    # float64 (4, n): the last two non-spike measurements, newer first: v1, t1, v2, t2.
    hist: np.ndarray
    noise: np.ndarray  # EWMA of half the second difference (about sigma of white noise)
    # The same of a gas detector's readings lifted to its zero band (checks.zero_lifted):
    # its noise above the band, where clean air reads nothing (NaN for other kinds).
    noise_above: np.ndarray
    smooth: np.ndarray  # EWMA of the measurements: what the limits judge while NOISY
    anchor_value: np.ndarray  # STUCK: value when the sensor last moved beyond resolution
    anchor_ts: np.ndarray
    # What each sensor has shown, learned on its healthy readings (detectors.checks.faults):
    learn_n: np.ndarray  # float64: readings learned (second differences; counted to ~500)
    noise_level: np.ndarray  # robust level of half the second difference (~ white-noise sigma)
    usual_rate: np.ndarray  # robust level of |change| / dt between readings, units/s
    seen_res: np.ndarray  # smallest non-zero step between two readings; inf: none yet
    scan_s: np.ndarray  # shortest positive gap between two readings (s): its scan; inf
    # The longest healthy stillness (s), and the most resolutions its trend would have moved
    # in one: maxima that slowly forget, kept once they can matter (beyond STUCK's floors).
    still_max: np.ndarray
    pace_max: np.ndarray
    moves: np.ndarray  # float64: times the value moved beyond half seen_res (counted to 20)
    anchor_pace: np.ndarray  # the window's significant slope when it last moved (0: none)
    # STUCK by the mass balance (detectors.mass_balance): the anchor_ts of a level gauge's
    # stillness its tank's meters condemned (NaN: none); STUCK while that stillness lasts.
    balance_still: np.ndarray
    # The largest STEP (or usual switch) it has shown (units) and when: a memory that fades
    # (checks.step_memory); a jump of about that size is a switch, not a spike.
    step_max: np.ndarray
    step_ts: np.ndarray
    # The largest burst of noise it has shown (its short-term noise at the peak of a NOISY
    # that ended, units) and when; the peak of the NOISY now active.
    burst_max: np.ndarray
    burst_ts: np.ndarray
    noisy_peak: np.ndarray

    @classmethod
    def new(
        cls,
        n: int,
        start_ts: float,
        ring_size: int = RING_SIZE,
        sigma_floor: np.ndarray | None = None,
    ) -> State:
        """A park never heard from; `sigma_floor` is Params.sigma_floor (default 0)."""

        def nan(*shape: int) -> np.ndarray:
            return np.full(shape or (n,), np.nan)

        return cls(
            last_value=nan(),
            last_ts=np.full(n, -np.inf),
            last_seen=np.full(n, float(start_ts)),
            last_quality=np.zeros(n, np.uint8),
            active=np.zeros(n, np.uint32),
            pending_since=nan(len(SLOTS), n),
            quiet_lo=np.full(n, np.inf),
            quiet_hi=np.full(n, -np.inf),
            ring_ts=nan(ring_size, n),
            ring_value=nan(ring_size, n),
            head=np.zeros(n, np.int64),
            count=np.zeros(n, np.int64),
            t0=np.zeros(n),
            v0=np.zeros(n),
            sums=np.zeros((5, n)),
            pushed_ts=np.full(n, -np.inf),
            sample_from=np.full(1, -np.inf),
            tail_ts=nan(),
            slope=nan(),
            stderr=nan(),
            significant=np.zeros(n, bool),
            eta=nan(2, n),
            trend_wake=np.full(n, -np.inf),
            co_dirty=np.ones(n, bool),
            co_waiting=np.zeros(n, bool),
            cooling_since=nan(),
            base_n=np.zeros(n),
            warm=np.zeros(n, bool),
            base_mean=np.zeros(n),
            base_var=np.zeros(n),
            base_sigma=np.zeros(n) if sigma_floor is None else np.array(sigma_floor, np.float64),
            cusum=np.zeros((2, n)),
            drift_off_since=nan(),
            drift_seen=np.zeros(n),
            prev_value=nan(),
            prev_ts=nan(),
            hist=nan(4, n),
            noise=nan(),
            noise_above=nan(),
            smooth=nan(),
            anchor_value=nan(),
            anchor_ts=nan(),
            learn_n=np.zeros(n),
            noise_level=nan(),
            usual_rate=nan(),
            seen_res=np.full(n, np.inf),
            scan_s=np.full(n, np.inf),
            still_max=np.zeros(n),
            pace_max=np.zeros(n),
            moves=np.zeros(n),
            anchor_pace=np.zeros(n),
            balance_still=nan(),
            step_max=np.zeros(n),
            step_ts=np.full(n, -np.inf),
            burst_max=np.zeros(n),
            burst_ts=np.full(n, -np.inf),
            noisy_peak=np.zeros(n),
        )

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, f.name).nbytes for f in fields(self))


def rows_at(rows: np.ndarray | slice, positions: np.ndarray) -> np.ndarray:
    """The state rows at `positions` of a round's rows (a slice or sensor indices)."""
    return positions + (rows.start or 0) if isinstance(rows, slice) else rows[positions]


def subset(rows: np.ndarray | slice, mask: np.ndarray) -> tuple[np.ndarray | slice, Any]:
    """(state rows, positions) of the rows where `mask` holds; all rows stay a slice."""
    if mask.all():
        return rows, slice(None)
    pos = np.flatnonzero(mask)
    return (pos + (rows.start or 0) if isinstance(rows, slice) else rows[pos]), pos


@cache
def _arange(start: int, stop: int) -> np.ndarray:
    return np.arange(start, stop)  # writeable, like every index array: one compiled variant


def indices(rows: np.ndarray | slice, n: int) -> np.ndarray:
    """The state rows of a round (of a park of n) as sensor indices; a slice's are made once."""
    if isinstance(rows, slice):
        start, stop, _ = rows.indices(n)
        return _arange(start, stop)
    return rows
