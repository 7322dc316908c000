"""The Detector: applies batches of readings to the state and reports condition changes.

Per reading, in ts order per sensor (limit rules: see detectors.decide):
- older than the sensor's last applied reading: ignored, counted `out_of_order`;
- any applied reading clears COMM_LOSS and moves `last_seen` (the reading's own ts);
- quality BAD: BAD_QUALITY; the value is no measurement (OUT_OF_RANGE, the signal faults
  and the process conditions keep their state and timers);
- otherwise BAD_QUALITY clears and OUT_OF_RANGE follows the range check (0.5 % of span
  tolerance, non-finite values out of range); an out-of-range reading keeps the process
  conditions as they were;
- an in-range reading is a measurement: the signal faults SPIKE, STUCK, NOISY and STEP
  follow it (detectors.signal). Every measurement is checked against the limits (while
  NOISY by its smoothed value), a spike too: a fault never hides a limit. A single reading
  past HH is filtered by the limit's on-delay, the filter the site configures; with none
  (a gas detector's level 2 alarms at once, GB/T 50493) it raises HH, and SPIKE beside it;
- a measurement without SPIKE, STUCK or NOISY is usable: the early warnings RATE,
  PREDICT_*, DRIFT and the baseline follow it (detectors.trends);
- after each round the round rules (detectors.rules, one protocol: detectors.rule): the
  cross-sensor AREA_GAS and CO_RISE (detectors.vote), OVERRUN of the tanks with a transfer
  plan (detectors.plans) and COOLING_LOST (detectors.cooling).
Changes come back sorted by ts, then sensor, then condition. PREDICT_* changes carry
`eta_ts`; a held PREDICT_* whose eta moved is reported again with active=True.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields

import numpy as np

from detectors import checks, plans, rules, trends, vote
from detectors.changes import Changes
from detectors.compiled import compile_kernels
from detectors.limit_rules import LimitRules
from detectors.rounds import InOrder, lift, rounds
from detectors.rule import Learns, Round, Rule
from detectors.signal import FAULT_BITS, signal_faults
from detectors.state import RING_SIZE, Params, State, rows_at, subset
from hazardwatch.vocabulary.model import (
    FLAG_TS_AHEAD,
    Batch,
    Condition,
    ConditionChange,
    HazardWatchError,
    SensorTable,
)

_COMM = np.uint32(Condition.COMM_LOSS.bit)
_BAD = np.uint32(Condition.BAD_QUALITY.bit)
_OOR = np.uint32(Condition.OUT_OF_RANGE.bit)
_INSTRUMENT_BITS = _COMM | _BAD | _OOR
_NOISY, _STEP = (np.uint32(c.bit) for c in (Condition.NOISY, Condition.STEP))
_NONE = np.zeros(0, np.int64)
_AHEAD = np.uint8(FLAG_TS_AHEAD)
# Params that say which sensors a park has and how they group: a retune keeps them.
_STRUCTURE = frozenset({"is_gas", "valid_bits", "area", "area_k", "area_anchor", "area_members",
                        "area_grouped", "area_start", "unit_index", "unit_temperature",
                        "unit_pressure", "pair_of"})  # fmt: skip


class Detector:
    """Every sensor's conditions, kept in arrays and advanced one batch at a time.

    `start_ts`: a sensor never heard from counts as last seen at `start_ts`.
    `range_tolerance`: fraction of the instrument span a value may pass the range by.
    `ring_size`: samples kept per sensor for the slope (see detectors.window).
    `dense_from`: a speed knob only; rounds with at least this fraction of all sensors
    are computed over every sensor with masks instead of gathering per reading.
    """

    def __init__(
        self,
        table: SensorTable,
        start_ts: float,
        *,
        range_tolerance: float = checks.RANGE_TOLERANCE,
        dense_from: float = 0.1,
        ring_size: int = RING_SIZE,
    ) -> None:
        self.params = Params.from_table(table, ring_size)
        self.state = State.new(self.params.n, start_ts, ring_size, self.params.sigma_floor)
        self.range_tolerance = float(range_tolerance)
        self.dense_from = float(dense_from)
        self._sensors = np.arange(self.params.n)
        self.stats: dict[str, int] = {
            "batches": 0,
            "readings": 0,
            "applied": 0,
            "out_of_order": 0,
            "bad_ts": 0,
            "changes": 0,
        }
        # Set by _rounds for a batch of every sensor once (detectors.rounds.lift uses it).
        self._in_order: InOrder | None = None
        self.limits = LimitRules(self.params)
        self.rules: tuple[Rule, ...] = rules.build(self.params, table)
        self.plans = next(r for r in self.rules if isinstance(r, plans.Plans))
        # The per-sensor loops, compiled now (numba caches the machine code: only a machine's
        # first run takes seconds, better spent here than on the first batch).
        compile_kernels()

    # ------------------------------------------------------------------ readings

    def step(self, batch: Batch) -> list[ConditionChange]:
        """Apply a batch in time order; return only the conditions that changed.

        Several readings of one sensor are applied one after another in ts order (ties in
        arrival order); a reading older than its sensor's last applied ts is ignored and
        counted as `out_of_order`, a non-finite ts as `bad_ts`. Sensor indices must come
        from this detector's SensorTable (ingest resolves them); others raise.
        """
        self.stats["batches"] += 1
        m = len(batch)
        self.stats["readings"] += m
        if m == 0:
            return []
        sensor, ts, value, quality = batch.sensor, batch.ts, batch.value, batch.quality
        if sensor.min() < 0 or sensor.max() >= self.params.n:
            # numpy would wrap a negative index onto another sensor: refuse instead.
            raise HazardWatchError(
                f"batch has sensor indices outside 0..{self.params.n - 1}; "
                "resolve tags against the SensorTable this Detector was built from"
            )
        # Rare: readings ingest moved to receipt time because their clock ran ahead.
        flagged = batch.flags & _AHEAD
        ahead = flagged != 0 if flagged.any() else None
        finite = np.isfinite(ts)
        if not finite.all():
            self.stats["bad_ts"] += int(m - np.count_nonzero(finite))
            sensor, ts, value, quality = sensor[finite], ts[finite], value[finite], quality[finite]
            ahead = None if ahead is None else ahead[finite]
        out = Changes()
        for round_no, sel in enumerate(self._rounds(sensor, ts)):
            if sel is None:
                self._apply(sensor, ts, value, quality, out, round_no, ahead)
            else:
                a = None if ahead is None else ahead[sel]
                self._apply(sensor[sel], ts[sel], value[sel], quality[sel], out, round_no, a)
        changes = out.result()
        self.stats["changes"] += len(changes)
        return changes

    def learn(self, batch: Batch) -> None:
        """Teach the baselines from readings (for example the first rows of a history).

        Only measurements (good or uncertain quality, in range, finite ts) are learned, in
        ts order per sensor, by the baselines and by the rules that learn (the groups of
        RELATION); then the largest CUSUM sum they show against the baseline they taught
        becomes the sensor's usual wander (State.drift_seen: DRIFT needs more). Nothing else
        changes and no condition is raised or cleared. Give all learning rows in one call:
        each call measures its own rows' wander.
        """
        sensor, ts, value, quality = batch.sensor, batch.ts, batch.value, batch.quality
        if len(batch) and (sensor.min() < 0 or sensor.max() >= self.params.n):
            raise HazardWatchError(f"batch has sensor indices outside 0..{self.params.n - 1}")
        p = self.params
        keep = np.isfinite(ts) & ~checks.bad_quality(quality)
        keep &= ~checks.out_of_range(
            value, p.range_lo[sensor], p.range_hi[sensor], self.range_tolerance
        )
        sensor, ts, value = sensor[keep], ts[keep], value[keep]
        learners = [r for r in self.rules if isinstance(r, Learns)]
        for sel in self._rounds(sensor, ts):
            idx, v = (sensor, value) if sel is None else (sensor[sel], value[sel])
            trends.learn(self.state, p, idx, v)
            for rule in learners:
                rule.learn(idx, v)
        # Then how far they wandered from the baseline they taught: that much is usual.
        order = np.lexsort((ts, sensor))
        trends.learn_wander(self.state, p, sensor[order], value[order])

    def _rounds(self, sensor: np.ndarray, ts: np.ndarray) -> list[np.ndarray | None]:
        found, self._in_order = rounds(sensor, ts, self.params.n)
        return found

    def _apply(
        self,
        idx: np.ndarray,
        t: np.ndarray,
        v: np.ndarray,
        q: np.ndarray,
        out: Changes,
        round_no: int,
        ahead: np.ndarray | None = None,
    ) -> None:
        """Apply one reading per sensor in `idx` (no duplicates); `ahead` marks the readings
        flagged FLAG_TS_AHEAD (None: none).

        A round covering much of the park is lifted into sensor order first: three
        scatters then replace two dozen gathers and scatters of state and parameters.
        """
        n = self.params.n
        if idx.size >= self.dense_from * n:
            t_all, v_all, q_all = lift(idx, t, v, q, n, self._in_order)
            applied, usable, measured, gas = self._advance(
                slice(None), self._sensors, t_all, v_all, q_all, out, round_no
            )
            if ahead is not None:
                ahead_all = np.zeros(n, bool)
                ahead_all[idx] = ahead
                ahead = ahead_all
            sensors, ts, values, dense = self._sensors, t_all, v_all, True
        else:
            applied, usable, measured, gas = self._advance(idx, idx, t, v, q, out, round_no)
            sensors, ts, values, dense = idx, t, v, False
        rnd = Round(
            sensors=sensors,
            ts=ts,
            values=values,
            applied=applied,
            usable=usable,
            measured=measured,
            gas_moved=gas,
            number=round_no,
            dense=dense,
            ahead=ahead,
        )
        for rule in self.rules:
            rule.judge(self.state, rnd, out)

    def _advance(
        self,
        rows: np.ndarray | slice,
        sensor: np.ndarray,
        t: np.ndarray,
        v: np.ndarray,
        q: np.ndarray,
        out: Changes,
        round_no: int,
    ) -> tuple[np.ndarray, np.ndarray | bool, np.ndarray, np.ndarray]:
        """Advance the state at `rows` (sensor indices, or a slice of them) by one reading
        each; the cross-sensor rules are left to the caller.

        Returns which readings were applied (not older than their sensor's last), which
        were usable (True: all), which were measurements (in range, not bad, whatever the
        signal faults said) and the positions whose gas level bits changed. With `rows` a
        slice, reads of state are views, so everything is read before anything is written.
        """
        st, p = self.state, self.params
        last_ts, old = st.last_ts[rows], st.active[rows]
        fresh = t >= last_ts  # NaN ts is never fresh
        applied = int(np.count_nonzero(fresh))
        all_fresh = applied == fresh.size  # the common case: skip every masked blend
        self.stats["applied"] += applied
        if not all_fresh:
            self.stats["out_of_order"] += int(np.count_nonzero(~fresh & ~np.isnan(t)))
            if applied == 0:
                return fresh, False, fresh, _NONE
        bad = checks.bad_quality(q)
        oor = checks.out_of_range(v, p.range_lo[rows], p.range_hi[rows], self.range_tolerance)
        # Any reading ends comm loss; a bad one is no measurement, so it keeps OUT_OF_RANGE.
        new = old & ~_INSTRUMENT_BITS
        if bad.any():
            new |= bad * _BAD
            new |= np.where(bad, old & _OOR, oor * _OOR)
            measured = fresh & ~bad & ~oor
        else:
            new |= oor * _OOR
            measured = fresh & ~oor
        if not all_fresh:
            new = np.where(fresh, new, old)
        usable = judged = measured
        sigma, judged_value = None, v
        masked = False  # a slice of rows whose trends skip the few unusable readings by mask
        if measured.any():
            r, pos = subset(rows, measured)
            fault, sigma, jump = signal_faults(st, p, r, t[pos], v[pos], old[pos])
            if fault.any():
                new[pos] = (new[pos] & ~FAULT_BITS) | fault
                usable = measured.copy()
                usable[pos] = ok = (fault & FAULT_BITS) == 0
                masked = isinstance(rows, slice) and isinstance(pos, slice)
                if not masked:
                    sigma = sigma[ok]
                judged_value = self._rare_faults(rows, pos, fault, jump, v)
            elif not isinstance(pos, slice):  # faults held before are cleared
                new[pos] &= ~FAULT_BITS
            else:
                new &= ~FAULT_BITS
        all_judged = bool(judged.all())
        if all_judged or judged.any():
            self.limits.apply(st, p, rows, (t, judged_value), judged, old, new)
        all_usable = all_judged if usable is judged else bool(usable.all())
        if masked and not all_usable:  # no park-sized gathers for a few faulty readings
            reading = (sensor, t, v)
            new = trends.advance_trends(st, p, rows, reading, sigma, new, out, round_no, usable)
        elif all_usable or usable.any():
            r, pos = subset(rows, usable)
            bits = new[pos]
            reading = (sensor[pos], t[pos], v[pos])
            bits = trends.advance_trends(st, p, r, reading, sigma, bits, out, round_no)
            if isinstance(pos, slice):
                new = bits
            else:
                new[pos] = bits
        diff = old ^ new
        moved = out.add_diff(sensor, diff, new, v, t, round_no, st.eta, rows)
        gas_moved = moved[(diff[moved] & vote.GAS_BITS) != 0] if p.area_k.size else _NONE
        if all_fresh:
            st.last_ts[rows], st.last_quality[rows] = t, q
            if isinstance(rows, slice):
                last_seen = st.last_seen[rows]
                np.fmax(last_seen, t, out=last_seen)
            else:
                st.last_seen[rows] = np.fmax(st.last_seen[rows], t)
        else:
            last_seen, last_quality = st.last_seen[rows], st.last_quality[rows]
            st.last_ts[rows] = np.where(fresh, t, last_ts)
            st.last_seen[rows] = np.where(fresh, np.fmax(last_seen, t), last_seen)
            st.last_quality[rows] = np.where(fresh, q, last_quality)
        st.active[rows] = new
        st.last_value[rows] = v if all_usable else np.where(usable, v, st.last_value[rows])
        return fresh, True if all_usable else usable, measured, gas_moved

    def _rare_faults(
        self,
        rows: np.ndarray | slice,
        pos: np.ndarray | slice,
        fault: np.ndarray,
        jump: np.ndarray | None,
        v: np.ndarray,
    ) -> np.ndarray:
        """Restart the trend memory of the readings that confirmed a STEP; return the values
        the limits judge (a NOISY reading by its smoothed value). `fault` per `pos`."""
        judged_value = v
        noisy = np.flatnonzero((fault & _NOISY) != 0)
        if noisy.size:
            at = rows_at(pos, noisy)  # positions in this round's arrays
            judged_value = v.copy()
            judged_value[at] = self.state.smooth[rows_at(rows, at)]
        if jump is not None:
            stepped = np.flatnonzero((fault & _STEP) != 0)
            at = rows_at(pos, stepped)
            trends.restart(self.state, rows_at(rows, at), jump[stepped])
        return judged_value

    # ------------------------------------------------------------------ silence

    def check_stale(self, now: float) -> list[ConditionChange]:
        """Raise COMM_LOSS (ts=now, value NaN) where `now - last_seen > stale_after_s`."""
        st = self.state
        silent = checks.is_stale(now, st.last_seen, self.params.stale_after_s)
        rows = np.flatnonzero(silent & ((st.active & _COMM) == 0))
        return self._raise_comm_loss(rows, now)

    def gateway_offline(self, sensors: np.ndarray, ts: float) -> list[ConditionChange]:
        """A gateway's last will fired: COMM_LOSS for its sensors now, without waiting."""
        rows = np.unique(np.asarray(sensors, dtype=np.int64))
        rows = rows[(self.state.active[rows] & _COMM) == 0]
        return self._raise_comm_loss(rows, ts)

    def _raise_comm_loss(self, rows: np.ndarray, ts: float) -> list[ConditionChange]:
        self.state.active[rows] |= _COMM
        out = Changes()
        out.add(rows, Condition.COMM_LOSS, True, np.nan, float(ts))
        changes = out.result()
        self.stats["changes"] += len(changes)
        return changes

    # ------------------------------------------------------------------ plans

    def plan(
        self, sensor: int, target: float, direction: int, tolerance: float | None, ts: float
    ) -> list[ConditionChange]:
        """Open (or replace) the transfer plan of a level sensor and judge its last value
        against it now (see detectors.plans)."""
        self.plans.set(int(sensor), float(target), int(direction), tolerance)
        return self._judge_plan(int(sensor), ts)

    def unplan(self, sensor: int, ts: float) -> list[ConditionChange]:
        """Close the transfer plan of a sensor: its OVERRUN clears at `ts`."""
        self.plans.drop(int(sensor))
        self.plans.watch(int(sensor), True)  # judged once more, so its OVERRUN clears
        return self._judge_plan(int(sensor), ts)

    def _judge_plan(self, sensor: int, ts: float) -> list[ConditionChange]:
        out = Changes()
        at = np.array([sensor])
        plans.judge(self.state, self.plans, at, np.array([float(ts)]), out)
        changes = out.result()
        self.stats["changes"] += len(changes)
        return changes

    # ------------------------------------------------------------------ settings

    def retune(self, table: SensorTable) -> np.ndarray:
        """Take new settings (limits, deadbands, delays, trend settings) from `table`, a
        table of the same sensors, keeping every sensor's memory (windows, baselines,
        timers, active conditions). Returns the sensors whose settings changed.

        The Params object stays the one every stage holds; its arrays are swapped. Each
        changed sensor's next reading goes through the limit rules and the trend checks
        again, so an alarm its new limits no longer hold clears by the ordinary rules.
        """
        p = self.params
        new = Params.from_table(table, self.state.ring_ts.shape[0])
        for name in _STRUCTURE:
            if not np.array_equal(getattr(p, name), getattr(new, name)):
                raise HazardWatchError(
                    f"retune: the table's {name} differs; only settings may change "
                    "without a restart"
                )
        moved = np.zeros(p.n, bool)
        for f in fields(p):
            old, now = getattr(p, f.name), getattr(new, f.name)
            per_sensor = old.shape[-1:] == (p.n,) and now.shape == old.shape
            if f.name not in _STRUCTURE and per_sensor and old.dtype.kind == "f":
                differs = ~((old == now) | (np.isnan(old) & np.isnan(now)))
                moved |= differs.any(axis=0) if differs.ndim == 2 else differs
        for f in fields(p):
            object.__setattr__(p, f.name, getattr(new, f.name))
        p.__dict__.pop("rates_nonnegative", None)  # a cached_property of the old arrays
        rows = np.flatnonzero(moved)
        st = self.state
        st.quiet_lo[rows] = np.inf  # judged by the limit rules on their next reading
        st.trend_wake[rows] = -np.inf
        st.co_dirty[rows] = True
        return rows

    # ------------------------------------------------------------------ restart

    def restore(self, active: Iterable[tuple[int, Condition]]) -> None:
        """Mark conditions already active (from the alarm journal) without reporting them.

        Each then clears by the ordinary rules; a process condition the sensor's current
        config cannot raise clears on the sensor's next usable reading.
        """
        st = self.state
        for sensor, condition in active:
            i, c = int(sensor), Condition(condition)
            st.active[i] |= np.uint32(c.bit)
            st.trend_wake[i] = -np.inf  # its trend warnings are judged again
            if c in (Condition.PREDICT_HH, Condition.PREDICT_LL):
                # No eta known: the next held prediction reports one.
                st.eta[int(c == Condition.PREDICT_LL), i] = np.nan
            for rule in (self.limits, *self.rules):
                rule.restore(st, i, c)
