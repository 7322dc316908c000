"""A slow, obviously correct detector: one sensor at a time, plain Python floats.

It implements the semantics documented in detectors/decide.py and detectors/step.py
independently of them; tests assert the vectorised Detector gives exactly its answers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from hazardwatch.model import (
    CONDITION_SEVERITY,
    Batch,
    Condition,
    ConditionChange,
    Kind,
    Quality,
    SensorTable,
)

RANGE_TOLERANCE = 0.005
NEVER = float("-inf")

# (table column, raises when high?, condition for non-gas kinds, condition for gas kinds)
LIMITS = (
    ("limit_hh", True, Condition.HH, Condition.GAS2),
    ("limit_h", True, Condition.H, Condition.GAS1),
    ("limit_l", False, Condition.L, None),
    ("limit_ll", False, Condition.LL, None),
)


def _zero_if_nan(x: float) -> float:
    return 0.0 if not math.isfinite(x) else x


@dataclass
class SensorMemory:
    """Everything the reference remembers about one sensor."""

    last_ts: float = NEVER
    last_seen: float = 0.0
    active: set[Condition] = field(default_factory=set)
    pending: dict[Condition, float] = field(default_factory=dict)  # condition -> since


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

    def _reading(self, i: int, t: float, v: float, q: int) -> list[tuple[Condition, bool]]:
        """Apply one reading; return (condition, now active) for each change, in any order."""
        mem = self.sensors[i]
        if t < mem.last_ts:
            self.stats["out_of_order"] += 1
            return []
        self.stats["applied"] += 1
        before = set(mem.active)
        mem.last_ts = t
        mem.last_seen = max(mem.last_seen, t)
        mem.active.discard(Condition.COMM_LOSS)
        if q == Quality.BAD:
            mem.active.add(Condition.BAD_QUALITY)
        else:
            mem.active.discard(Condition.BAD_QUALITY)
            if self._out_of_range(i, v):
                mem.active.add(Condition.OUT_OF_RANGE)
            else:
                mem.active.discard(Condition.OUT_OF_RANGE)
                self._limit_checks(i, t, v)
        after = mem.active
        return [(c, c in after) for c in Condition if (c in before) != (c in after)]

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
        # A process condition this sensor no longer evaluates (restored) ends now.
        for cond in list(mem.active):
            if not cond.is_instrument and cond not in evaluated:
                mem.active.discard(cond)

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
            for cond, active in self._reading(i, t, v, int(batch.quality[k])):
                changes.append(_change(i, cond, active, v, t))
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

    def active_bits(self) -> list[int]:
        return [sum(c.bit for c in mem.active) for mem in self.sensors]


def _change(i: int, cond: Condition, active: bool, v: float, t: float) -> ConditionChange:
    return ConditionChange(i, cond, active, v, t, CONDITION_SEVERITY[cond])


def _ordered(changes: list[ConditionChange]) -> list[ConditionChange]:
    """By ts, then sensor, then condition; stable, so one sensor's readings keep their order."""
    return sorted(changes, key=lambda c: (c.ts, c.sensor, int(c.condition)))
