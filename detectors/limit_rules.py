"""The limit stage: H/HH/L/LL and the gas levels, with deadband and on/off delays (the rules
are in detectors.decide), for the readings that can change something."""

from __future__ import annotations

import numpy as np

from detectors import decide
from detectors.state import LIMIT_BITS, SLOTS, Params, State
from hazardwatch.vocabulary.model import Condition

_LIMIT_BITS = np.uint32(LIMIT_BITS)


class LimitRules:
    """The limit conditions of every sensor, advanced reading by reading.

    Each sensor keeps the band of values in which no limit condition wants to change and no
    timer runs (State.quiet_lo < value < State.quiet_hi, strict): a reading inside it is
    skipped (most of a park, most of the time, alarms held steady included). The band is
    recomputed whenever a reading goes through the rules; empty, it sends the next reading
    through them.
    """

    def __init__(self, p: Params) -> None:
        self._p = p
        # The condition bit of each slot (rows) for a non-gas sensor, and what a gas
        # detector adds to it (Slot.bits): bits = base + is_gas * gas_step.
        self.base = np.array([[s.condition.bit] for s in SLOTS], np.uint32)
        self.gas_step = np.array(
            [[0 if s.gas_condition is None else s.gas_condition.bit - s.condition.bit]
             for s in SLOTS],
            np.uint32,
        )  # fmt: skip
        # Set after a restore: conditions the current config cannot raise end on the next
        # measurement of their sensor.
        self.orphans = False

    def restore(self, st: State, sensor: int, condition: Condition) -> None:
        """A restored condition: the sensor's next reading goes through the limit rules; a
        restored limit condition starts with no timer, and one its sensor's config can no
        longer raise ends on that reading."""
        st.quiet_lo[sensor] = np.inf
        gas = bool(self._p.is_gas[sensor])
        for row, slot in enumerate(SLOTS):
            if condition == slot.condition_for(gas):
                st.pending_since[row, sensor] = np.nan
        if condition.bit & LIMIT_BITS and not (int(self._p.valid_bits[sensor]) & condition.bit):
            self.orphans = True

    def apply(
        self,
        st: State,
        p: Params,
        rows: np.ndarray | slice,
        reading: tuple[np.ndarray, np.ndarray],
        usable: np.ndarray,
        old: np.ndarray,
        new: np.ndarray,
    ) -> None:
        """Limit conditions for the usable readings (ts, value) of `rows`, into `new` (in
        place); other rows keep them and their timers."""
        t, v = reading
        with np.errstate(invalid="ignore"):
            calm = np.greater(v, st.quiet_lo[rows])
            calm &= v < st.quiet_hi[rows]
        busy = np.flatnonzero(usable & ~calm)
        if busy.size == 0:
            return
        r = busy + (rows.start or 0) if isinstance(rows, slice) else rows[busy]
        moved = new[busy]
        # Every slot at once: arrays (len(SLOTS), rows).
        slots = (self.base + p.is_gas[r] * self.gas_step, p.limit.take(r, axis=1), p.deadband[r])
        pending = self._apply_rows(st, p, r, (t[busy], v[busy]), old[busy], moved, slots)
        new[busy] = moved
        # A limit alarm that moved changes what PREDICT_* may do (it hands over to the
        # alarm): the trend stage judges the sensor again (State.trend_wake).
        woken = ((moved ^ old[busy]) & _LIMIT_BITS) != 0
        if woken.any():
            st.trend_wake[r[woken]] = -np.inf
        slot_bits, limit, deadband = slots
        active = (moved & slot_bits) != 0
        st.quiet_lo[r], st.quiet_hi[r] = _band(limit, deadband, active)
        # Empty where a timer runs or a limit bit has no configured limit of the sensor.
        empty = pending | ((moved & _LIMIT_BITS & ~p.valid_bits[r]) != 0)
        empty |= (active & np.isnan(limit)).any(axis=0)
        st.quiet_lo[r[empty]] = np.inf

    def _apply_rows(
        self,
        st: State,
        p: Params,
        rows: np.ndarray,
        reading: tuple[np.ndarray, np.ndarray],
        old: np.ndarray,
        new: np.ndarray,
        slots: tuple[np.ndarray, np.ndarray, np.ndarray],
    ) -> np.ndarray:
        """The rules for one usable reading (ts, value) per sensor index in `rows`, into
        `new`; `slots` their (condition bit, limit) per slot and deadband. Returns where a
        timer now runs."""
        t, v = reading
        slot_bits, limit, deadband = slots
        active = (old & slot_bits) != 0
        want = np.empty(active.shape, bool)
        want[_HIGH] = decide.hold_high(v, limit[_HIGH], deadband, active[_HIGH])
        want[_LOW] = decide.hold_low(v, limit[_LOW], deadband, active[_LOW])
        want ^= active
        slot, moving = np.nonzero(want)  # few sensors are ever on their way in or out
        at = rows[moving]
        since = st.pending_since[slot, at]
        st.pending_since[:, rows] = np.nan  # a reading that wants what is leaves nothing pending
        pending = np.zeros(rows.shape, bool)
        if moving.size:
            was = active[slot, moving]
            now_active, now_pending = decide.delay(
                ~was, was, since, t[moving], p.on_delay_s[at], p.off_delay_s[at]
            )
            st.pending_since[slot, at] = now_pending
            pending[moving[now_pending == now_pending]] = True  # not NaN: a timer runs
            flip = np.flatnonzero(now_active != was)
            # Two slots of one sensor may flip at once: xor.at applies both.
            np.bitwise_xor.at(new, moving[flip], slot_bits[slot[flip], moving[flip]])
        if self.orphans:
            new &= ~(new & _LIMIT_BITS & ~p.valid_bits[rows])
        return pending


# Rows of SLOTS (and of Params.limit) with a high limit, and with a low one.
_HIGH = [k for k, s in enumerate(SLOTS) if s.high]
_LOW = [k for k, s in enumerate(SLOTS) if not s.high]


def _band(
    limit: np.ndarray, deadband: np.ndarray, active: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi): the values strictly between which decide.hold_high/hold_low, given which
    slots are `active` (arrays (len(SLOTS), rows)), want nothing changed, to the last bit:
    value >= x is value > nextafter(x, -inf); fmax/fmin skip the NaN of an unset limit."""
    with np.errstate(invalid="ignore"):
        hi_on, lo_on = active[_HIGH], active[_LOW]
        thr = limit[_HIGH] - deadband * hi_on  # active: value >= thr holds; else value < thr
        lo = np.where(hi_on, np.nextafter(thr, -np.inf), -np.inf)
        hi = np.where(hi_on, np.inf, thr)
        thr = limit[_LOW] + deadband * lo_on  # active: value <= thr holds; else value > thr
        hi = np.concatenate([hi, np.where(lo_on, np.nextafter(thr, np.inf), np.inf)])
        lo = np.concatenate([lo, np.where(lo_on, -np.inf, thr)])
        # No limit at all (every row NaN): no bound.
        return np.fmax(np.fmax.reduce(lo), -np.inf), np.fmin(np.fmin.reduce(hi), np.inf)
