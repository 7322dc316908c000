"""Changes found during one detector call, kept as columns and turned into objects at the end."""

from __future__ import annotations

import numpy as np

from hazardwatch.model import CONDITION_SEVERITY, Condition, ConditionChange

_CONDITIONS = tuple(Condition)
_SEVERITY = tuple(CONDITION_SEVERITY[c] for c in _CONDITIONS)


class Changes:
    """Collects changes as columns; `result()` sorts them and builds ConditionChanges."""

    def __init__(self) -> None:
        self._cols: list[tuple[np.ndarray, ...]] = []

    def add_diff(
        self,
        sensor: np.ndarray,
        old: np.ndarray,
        new: np.ndarray,
        value: np.ndarray,
        ts: np.ndarray,
        round_no: int,
        eta: dict[Condition, np.ndarray] | None = None,
    ) -> None:
        """Record every bit that differs between `old` and `new` for rows of one round.

        `eta` gives, for some conditions, the predicted crossing per row (NaN: none).
        """
        diff = old ^ new
        rows = np.flatnonzero(diff)
        if rows.size == 0:
            return
        diff, new = diff[rows], new[rows]
        for c in _CONDITIONS:
            hit = np.flatnonzero(diff & np.uint32(c.bit))
            if hit.size:
                r = rows[hit]
                e = eta[c][r] if eta is not None and c in eta else np.full(r.size, np.nan)
                active = (new[hit] & np.uint32(c.bit)) != 0
                self._add(ts[r], sensor[r], c, active, value[r], e, round_no)

    def add(
        self,
        sensor: np.ndarray,
        condition: Condition,
        active: np.ndarray | bool,
        value: np.ndarray | float,
        ts: np.ndarray | float,
        eta: np.ndarray | float = np.nan,
        round_no: int = 0,
    ) -> None:
        """Record `condition` on each of `sensor` (scalars broadcast)."""
        k = sensor.size
        if k:
            b = [np.broadcast_to(np.asarray(x), (k,)) for x in (ts, active, value, eta)]
            self._add(b[0], sensor, condition, b[1], b[2], b[3], round_no)

    def _add(
        self,
        ts: np.ndarray,
        sensor: np.ndarray,
        condition: Condition,
        active: np.ndarray,
        value: np.ndarray,
        eta: np.ndarray,
        round_no: int,
    ) -> None:
        k = sensor.size
        self._cols.append(
            (ts, sensor, np.full(k, int(condition)), active, value, eta, np.full(k, round_no))
        )

    def result(self) -> list[ConditionChange]:
        """By ts, then sensor, then condition; one sensor's rounds keep their order."""
        if not self._cols:
            return []
        ts, sensor, cond, active, value, eta, rnd = (
            np.concatenate(c) for c in zip(*self._cols, strict=True)
        )
        order = np.lexsort((rnd, cond, sensor, ts))
        return [
            ConditionChange(s, _CONDITIONS[c], a, v, t, _SEVERITY[c], None if e != e else e)
            for t, s, c, a, v, e in zip(
                ts[order].tolist(),
                sensor[order].tolist(),
                cond[order].tolist(),
                active[order].tolist(),
                value[order].tolist(),
                eta[order].tolist(),
                strict=True,
            )
        ]
