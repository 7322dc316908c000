"""The limit stage: H/HH/L/LL and the gas levels, with deadband and on/off delays (the rules
are in detectors.decide), for the readings that can change something."""

from __future__ import annotations

import numpy as np

from detectors import decide
from detectors.state import LIMIT_BITS, SLOTS, Params, State

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
        # The condition bit of each slot: a constant, or per sensor where gas differs.
        self.slot_bits = [s.bits(p.is_gas) for s in SLOTS]
        # Set after a restore: conditions the current config cannot raise end on the next
        # measurement of their sensor.
        self.orphans = False

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
        pending = self._apply_rows(st, p, r, t[busy], v[busy], old[busy], moved)
        new[busy] = moved
        st.quiet_lo[r], st.quiet_hi[r] = self._band(p, r, moved, pending)

    def _apply_rows(
        self,
        st: State,
        p: Params,
        rows: np.ndarray,
        t: np.ndarray,
        v: np.ndarray,
        old: np.ndarray,
        new: np.ndarray,
    ) -> np.ndarray:
        """The rules for one usable reading per sensor index in `rows`, into `new`; returns
        where a timer now runs."""
        deadband = p.deadband[rows]
        pending = np.zeros(rows.shape, bool)
        for k, slot in enumerate(SLOTS):
            bit = self.slot_bits[k]
            if not isinstance(bit, np.uint32):
                bit = bit[rows]
            active = (old & bit) != 0
            hold = decide.hold_high if slot.high else decide.hold_low
            want = hold(v, p.limit[k][rows], deadband, active)
            want ^= active
            moving = np.flatnonzero(want)  # few sensors are ever on their way in or out
            pending_row = st.pending_since[k]  # a view: row k of the 2-D array
            at = rows[moving]
            since = pending_row[at]
            pending_row[rows] = np.nan  # a reading that wants what is leaves nothing pending
            if moving.size == 0:
                continue
            was = active[moving]
            now_active, now_pending = decide.delay(
                ~was, was, since, t[moving], p.on_delay_s[at], p.off_delay_s[at]
            )
            pending_row[at] = now_pending
            pending[moving] |= now_pending == now_pending  # not NaN: a timer runs
            flip = moving[now_active != was]
            new[flip] ^= bit if isinstance(bit, np.uint32) else bit[flip]
        if self.orphans:
            new &= ~(new & _LIMIT_BITS & ~p.valid_bits[rows])
        return pending

    def _band(
        self, p: Params, rows: np.ndarray, bits: np.ndarray, pending: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi): the values strictly between which the rules, given condition `bits` and
        no timer, want nothing changed (decide.hold_high/hold_low, to the last bit); empty
        (lo = inf) where a timer runs or a limit bit has no configured limit of the sensor.
        """
        lo, hi = np.full(rows.shape, -np.inf), np.full(rows.shape, np.inf)
        empty = pending | ((bits & _LIMIT_BITS & ~p.valid_bits[rows]) != 0)
        deadband = p.deadband[rows]
        with np.errstate(invalid="ignore"):
            for k, slot in enumerate(SLOTS):
                bit = self.slot_bits[k]
                active = (bits & (bit if isinstance(bit, np.uint32) else bit[rows])) != 0
                limit = p.limit[k][rows]
                empty |= active & np.isnan(limit)  # held on no limit: it clears
                # The same threshold as decide.hold_*; value >= x is value > nextafter(x, -inf)
                # (fmax/fmin skip the NaN of a limit not configured).
                if slot.high:  # active: value >= thr holds it; inactive: value < thr
                    thr = limit - deadband * active
                    np.fmax(lo, np.where(active, np.nextafter(thr, -np.inf), -np.inf), out=lo)
                    np.fmin(hi, np.where(active, np.inf, thr), out=hi)
                else:  # active: value <= thr holds it; inactive: value > thr
                    thr = limit + deadband * active
                    np.fmin(hi, np.where(active, np.nextafter(thr, np.inf), np.inf), out=hi)
                    np.fmax(lo, np.where(active, -np.inf, thr), out=lo)
        lo[empty] = np.inf
        return lo, hi
