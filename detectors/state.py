"""The detector's arrays: `Params` it reads (compiled once from the SensorTable) and
`State` it writes (the memory of every sensor). One row (column for 2-D arrays) per
sensor index.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np

from hazardwatch.model import Condition, Kind, SensorTable


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


def _finite_or_zero(a: np.ndarray) -> np.ndarray:
    return np.nan_to_num(np.asarray(a, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)


@dataclass(frozen=True, eq=False)
class Params:
    """Per-sensor settings as arrays; read-only for the detector."""

    is_gas: np.ndarray  # uint32, 1 for gas detectors (arithmetic with condition bits)
    limit: np.ndarray  # float64 (len(SLOTS), n), NaN where not configured or not evaluated
    deadband: np.ndarray  # float64, engineering unit
    on_delay_s: np.ndarray  # float64
    off_delay_s: np.ndarray  # float64
    range_lo: np.ndarray  # float64, engineering unit
    range_hi: np.ndarray  # float64
    stale_after_s: np.ndarray  # float64, NaN: never stale
    valid_bits: np.ndarray  # uint32: the process conditions this sensor can raise

    @property
    def n(self) -> int:
        return int(self.is_gas.shape[0])

    @classmethod
    def from_table(cls, table: SensorTable) -> Params:
        """Compile the table; a NaN deadband or delay means none (0)."""
        kind = np.asarray(table.kind)
        gas = (kind == Kind.GAS_COMBUSTIBLE) | (kind == Kind.GAS_TOXIC)
        limit = np.stack([np.asarray(getattr(table, s.limit), dtype=np.float64) for s in SLOTS])
        for row, s in enumerate(SLOTS):
            if s.gas_condition is None:
                limit[row, gas] = np.nan
        gas_bits = sum(s.gas_condition.bit for s in SLOTS if s.gas_condition is not None)
        gas_bits |= sum(s.condition.bit for s in SLOTS if s.gas_condition is None)
        plain_bits = sum(s.condition.bit for s in SLOTS)
        return cls(
            is_gas=gas.astype(np.uint32),
            limit=limit,
            deadband=_finite_or_zero(table.deadband),
            on_delay_s=_finite_or_zero(table.on_delay_s),
            off_delay_s=_finite_or_zero(table.off_delay_s),
            range_lo=np.asarray(table.range_lo, dtype=np.float64).copy(),
            range_hi=np.asarray(table.range_hi, dtype=np.float64).copy(),
            stale_after_s=np.asarray(table.stale_after_s, dtype=np.float64).copy(),
            valid_bits=np.where(gas, gas_bits, plain_bits).astype(np.uint32),
        )

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, f.name).nbytes for f in fields(self))


@dataclass(frozen=True, eq=False)
class State:
    """What the detector remembers about each sensor."""

    last_value: np.ndarray  # float64, last reading usable for process checks; NaN: none yet
    last_ts: np.ndarray  # float64, ts of the last applied reading; -inf: none yet
    last_seen: np.ndarray  # float64, for staleness: max(start_ts, applied reading ts)
    last_quality: np.ndarray  # uint8, Quality of the last applied reading
    active: np.ndarray  # uint32, bit Condition.bit set while that condition is active
    pending_since: np.ndarray  # float64 (len(SLOTS), n): start of a pending change; NaN: none

    @classmethod
    def new(cls, n: int, start_ts: float) -> State:
        return cls(
            last_value=np.full(n, np.nan),
            last_ts=np.full(n, -np.inf),
            last_seen=np.full(n, float(start_ts)),
            last_quality=np.zeros(n, np.uint8),
            active=np.zeros(n, np.uint32),
            pending_since=np.full((len(SLOTS), n), np.nan),
        )

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, f.name).nbytes for f in fields(self))
