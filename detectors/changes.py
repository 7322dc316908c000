"""Changes found during one detector call, kept as columns and turned into objects at the end."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

import numpy as np

from hazardwatch.vocabulary.model import Condition, ConditionChange

_CONDITIONS = tuple(Condition)
_SEVERITY = tuple(c.severity for c in _CONDITIONS)
_CODES = np.array([int(c) for c in _CONDITIONS], np.int64)
_SHIFTS = _CODES.astype(np.uint32)  # Condition.bit is 1 << int(condition)
_PREDICTS = (int(Condition.PREDICT_HH), int(Condition.PREDICT_LL))  # the rows of State.eta
_ALL = slice(None)
_FIELDS = ("sensor", "condition", "active", "value", "ts", "severity", "eta_ts")


def _builder() -> Callable[..., ConditionChange]:
    """A constructor of ConditionChange taking every field in order.

    The frozen dataclass's __init__ goes through object.__setattr__ per field (about 3 us
    per change, a few hundred changes per step in a busy park); its slot descriptors set
    the same fields at half the cost. Any other shape of the class gets its own __init__.
    """
    if tuple(f.name for f in fields(ConditionChange)) != _FIELDS or "__slots__" not in vars(
        ConditionChange
    ):
        return ConditionChange
    new = object.__new__
    s0, s1, s2, s3, s4, s5, s6 = (vars(ConditionChange)[f].__set__ for f in _FIELDS)

    def build(*f: Any) -> ConditionChange:
        c = new(ConditionChange)
        s0(c, f[0]), s1(c, f[1]), s2(c, f[2]), s3(c, f[3]), s4(c, f[4]), s5(c, f[5]), s6(c, f[6])
        return c

    return build


_build = _builder()


class Changes:
    """Collects changes as columns; `result()` sorts them and builds ConditionChanges."""

    def __init__(self) -> None:
        self._cols: list[tuple[np.ndarray, ...]] = []

    def add_diff(
        self,
        sensor: np.ndarray,
        diff: np.ndarray,
        new: np.ndarray,
        value: np.ndarray,
        ts: np.ndarray,
        round_no: int,
        eta: np.ndarray | None = None,
        rows: np.ndarray | slice = _ALL,
    ) -> np.ndarray:
        """Record every bit set in `diff` (old ^ new condition bits) for the rows of one round;
        return the positions of the rows that changed.

        `eta` is State.eta (PREDICT_HH, PREDICT_LL by sensor): `rows` maps a round's rows
        to sensors (a slice: a block of sensors in order).
        """
        hit = np.flatnonzero(diff != 0)  # a bool mask: nonzero() on uint32 is ~10x slower
        if hit.size == 0:
            return hit
        # Every (row, condition) pair at once: a row's bits spread over the columns.
        i, col = np.nonzero((diff[hit, None] >> _SHIFTS) & 1)
        r, c = hit[i], _CODES[col]
        active = ((new[r] >> _SHIFTS[col]) & 1).astype(bool)
        e = np.full(r.size, np.nan)
        if eta is not None:
            for k, condition in enumerate(_PREDICTS):
                sel = np.flatnonzero(c == condition)
                if sel.size:
                    at = r[sel] + (rows.start or 0) if isinstance(rows, slice) else rows[r[sel]]
                    e[sel] = eta[k][at]
        self._cols.append((ts[r], sensor[r], c, active, value[r], e, np.full(r.size, round_no)))
        return hit

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
            b = [np.full(k, x) if np.ndim(x) == 0 else x for x in (ts, active, value, eta)]
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
            _build(s, _CONDITIONS[c], a, v, t, _SEVERITY[c], None if e != e else e)
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
