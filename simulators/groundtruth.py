"""Ground truth: when the true (noise-free) process values first cross their limits.

A `LimitWatch` follows some sensors from an incident's onset and records, per sensor and
limit, the first instant the true value is at or beyond it, interpolated linearly inside
the tick. Limits map to the conditions a detector should raise: HH/H (value ≥ limit) and
L/LL (value ≤ limit) on process sensors, GAS2/GAS1 (≥ second/first level) on gas
detectors. For gas the true value is the noise-free detector response (the sensing cell's
lag is part of the physics of gas reaching it), so a gas alarm in the truth is one a
healthy detector really shows. An `AreaWatch` records when k detectors of a voting area
first stand at their first level together (AREA_GAS on the area's anchor sensor).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hazardwatch.vocabulary.model import Condition

if TYPE_CHECKING:
    from simulators.physics import TankFarm


def _marks(farm: TankFarm, sensor: int) -> list[tuple[Condition, float, bool]]:
    """(condition, limit, rising?) for every configured limit of a sensor."""
    s = farm.sensors[sensor]
    lim = s.limits
    if s.kind.is_gas:
        pairs = [(Condition.GAS2, lim.hh, True), (Condition.GAS1, lim.h, True)]
    else:
        pairs = [
            (Condition.HH, lim.hh, True),
            (Condition.H, lim.h, True),
            (Condition.L, lim.l, False),
            (Condition.LL, lim.ll, False),
        ]
    return [(c, float(v), up) for c, v, up in pairs if v is not None]


class LimitWatch:
    """First crossings of every limit of `sensors`, from `begin` on."""

    def __init__(self, farm: TankFarm, sensors: list[int]) -> None:
        self._rows: list[tuple[int, Condition, float, bool]] = [
            (i, c, v, up) for i in sensors for c, v, up in _marks(farm, i)
        ]
        self._sensor = np.array([r[0] for r in self._rows], dtype=np.int64)
        self._limit = np.array([r[2] for r in self._rows], dtype=np.float64)
        self._rising = np.array([r[3] for r in self._rows], dtype=bool)
        self._at = np.full(len(self._rows), np.nan)
        self._prev: np.ndarray | None = None
        self._prev_ts = 0.0
        self._tags = [farm.sensors[r[0]].tag for r in self._rows]
        self.started = False

    def begin(self, farm: TankFarm, has_values: bool) -> None:
        """Start watching at the farm's time now; `has_values`: it has ticked at least once."""
        self.started = True
        self._prev = farm.true_values[self._sensor].copy() if has_values else None
        self._prev_ts = farm.ts
        if self._prev is not None:
            self._mark(self._prev, None, farm.ts)

    def observe(self, farm: TankFarm) -> None:
        """Look at the true values after a tick."""
        if not self.started:
            return
        now = farm.true_values[self._sensor]
        self._mark(now, self._prev, farm.ts)
        self._prev, self._prev_ts = now.copy(), farm.ts

    def _mark(self, now: np.ndarray, prev: np.ndarray | None, ts: float) -> None:
        beyond = np.where(self._rising, now >= self._limit, now <= self._limit)
        new = beyond & np.isnan(self._at)
        if not new.any():
            return
        at = np.full(now.size, ts)
        if prev is not None:
            step = now - prev
            with np.errstate(divide="ignore", invalid="ignore"):
                frac = np.where(step != 0, (self._limit - prev) / step, 1.0)
            at = self._prev_ts + np.clip(frac, 0.0, 1.0) * (ts - self._prev_ts)
        self._at = np.where(new, at, self._at)

    def first(self, tag: str, condition: Condition) -> float | None:
        """When `condition` was first reached on `tag`, or None."""
        for k, (_, c, _, _) in enumerate(self._rows):
            if self._tags[k] == tag and c == condition and not np.isnan(self._at[k]):
                return float(self._at[k])
        return None

    def crossings(self) -> list[dict[str, Any]]:
        """Every crossing so far, by time: {tag, condition, limit, ts}."""
        out = [
            {"tag": self._tags[k], "condition": r[1].label, "limit": r[2], "ts": float(self._at[k])}
            for k, r in enumerate(self._rows)
            if not np.isnan(self._at[k])
        ]
        return sorted(out, key=lambda x: (x["ts"], x["tag"], x["condition"]))


class AreaWatch:
    """When k of the n gas detectors of a voting area first stand at their first level
    together (AREA_GAS, raised on the area's anchor: its lowest sensor index)."""

    def __init__(self, farm: TankFarm, sensors: list[int]) -> None:
        members: dict[str, list[int]] = {}
        for i in sensors:
            s = farm.sensors[i]
            if s.kind.is_gas and s.area is not None and s.limits.h is not None:
                members.setdefault(s.area, []).append(i)
        anchors: dict[str, int] = {}
        for i, s in enumerate(farm.sensors):
            if s.area is not None:
                anchors.setdefault(s.area, i)
        self.areas = [a for a in sorted(members) if len(members[a]) >= farm.site.areas.get(a, 2)]
        self._k = np.array([farm.site.areas.get(a, 2) for a in self.areas], dtype=np.int64)
        self._anchor = [farm.sensors[anchors[a]].tag for a in self.areas]
        self._member = np.array([i for a in self.areas for i in members[a]], dtype=np.int64)
        self._group = np.array(
            [g for g, a in enumerate(self.areas) for _ in members[a]], dtype=np.int64
        )
        self._level1 = np.array([farm.sensors[i].limits.h or 0.0 for i in self._member.tolist()])
        self._at = np.full(len(self.areas), np.nan)

    def observe(self, farm: TankFarm) -> None:
        if not self.areas:
            return
        beyond = farm.true_values[self._member] >= self._level1
        votes = np.bincount(self._group, weights=beyond, minlength=len(self.areas))
        self._at = np.where((votes >= self._k) & np.isnan(self._at), farm.ts, self._at)

    def crossings(self) -> list[dict[str, Any]]:
        """{tag (the anchor), condition "area_gas", area, limit (k), ts} per confirmed area."""
        return [
            {"tag": self._anchor[g], "condition": Condition.AREA_GAS.label, "area": a,
             "limit": int(self._k[g]), "ts": float(self._at[g])}
            for g, a in enumerate(self.areas)
            if not np.isnan(self._at[g])
        ]  # fmt: skip
