"""The limit stage: H/HH/L/LL and the gas levels, with deadband and on/off delays (the rules
are in detectors.decide), for the readings that can change something."""

from __future__ import annotations

import numpy as np

from detectors import decide
from detectors.state import LIMIT_BITS, SLOTS, Params, State, columns, rows_at

_LIMIT_BITS = np.uint32(LIMIT_BITS)


class LimitRules:
    """The limit conditions of every sensor, advanced reading by reading.

    Strictly between its highest low limit and its lowest high limit, a sensor with no limit
    condition active and no timer running wants nothing to change: those readings (most of
    a park, most of the time) are skipped.
    """

    def __init__(self, p: Params) -> None:
        # The condition bit of each slot: a constant, or per sensor where gas differs.
        self.slot_bits = [s.bits(p.is_gas) for s in SLOTS]
        with np.errstate(invalid="ignore"):
            hi = np.fmin.reduce([p.limit[k] for k, s in enumerate(SLOTS) if s.high])
            lo = np.fmax.reduce([p.limit[k] for k, s in enumerate(SLOTS) if not s.high])
        self.quiet_hi = np.where(np.isnan(hi), np.inf, hi)
        self.quiet_lo = np.where(np.isnan(lo), -np.inf, lo)
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
            calm = np.greater(v, self.quiet_lo[rows])
            calm &= v < self.quiet_hi[rows]
        calm &= (old & _LIMIT_BITS) == 0
        calm &= ~st.limit_pending[rows]
        busy = np.flatnonzero(usable & ~calm)
        if busy.size == 0:
            return
        r = rows_at(rows, busy)
        moved = new[busy]
        self._apply_rows(st, p, r, t[busy], v[busy], old[busy], moved)
        new[busy] = moved
        st.limit_pending[r] = ~np.isnan(columns(st.pending_since, r)).all(axis=0)

    def _apply_rows(
        self,
        st: State,
        p: Params,
        rows: np.ndarray,
        t: np.ndarray,
        v: np.ndarray,
        old: np.ndarray,
        new: np.ndarray,
    ) -> None:
        """The rules for one usable reading per sensor index in `rows`, into `new`."""
        deadband = p.deadband[rows]
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
            flip = moving[now_active != was]
            new[flip] ^= bit if isinstance(bit, np.uint32) else bit[flip]
        if self.orphans:
            new &= ~(new & _LIMIT_BITS & ~p.valid_bits[rows])
