"""Scripted incidents with ground truth: what happened, to which tag, and when.

A scenario acts on the farm around each tick (`before_tick`, `after_tick`) and writes down
the truth as it happens; `Script` runs a farm with its scenarios. Times in the truth are
simulated epoch seconds, the same clock as the readings' `ts`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from hazardwatch.model import HazardWatchError
from simulators.physics import TankFarm

DEFAULT_TIME_TO_HH_S = 75.0  # an overfill reaches HH this long after onset: quick for a demo


class ScenarioError(HazardWatchError):
    """A scenario does not fit the site it is run on."""


class Scenario:
    """Base of every incident: no effect, no truth. Subclasses override what they need."""

    def bind(self, farm: TankFarm) -> None:
        """Check the scenario against the farm's site; raise ScenarioError if it does not fit."""

    def before_tick(self, farm: TankFarm, dt_s: float) -> None:
        """Act on the farm before it advances `dt_s` seconds."""

    def after_tick(self, farm: TankFarm) -> None:
        """Look at the farm after it advanced; record ground truth."""

    def gateways_down(self) -> frozenset[str]:
        """Gateways ("enterprise/gateway") that must be off the air right now."""
        return frozenset()

    def truth(self) -> list[dict[str, Any]]:
        """What has happened so far, one dict per event."""
        return []


class Overfill(Scenario):
    """From `start_s` after the start, the tank's inflow opens and never closes.

    The level rises steadily through H and HH (by default reaching HH about 75 s after onset)
    and on to the top of the range, where the tank overflows. `rate_per_min` is in the level
    sensor's unit per minute.
    """

    def __init__(
        self,
        unit_id: str,
        start_s: float,
        rate_per_min: float | None = None,
        *,
        time_to_hh_s: float = DEFAULT_TIME_TO_HH_S,
    ) -> None:
        if rate_per_min is not None and not rate_per_min > 0:
            raise ScenarioError(
                f"overfill of {unit_id!r}: rate_per_min must be > 0, got {rate_per_min}"
            )
        if not time_to_hh_s > 0:
            raise ScenarioError(
                f"overfill of {unit_id!r}: time_to_hh_s must be > 0, got {time_to_hh_s}"
            )
        self.unit_id = unit_id
        self.start_s = float(start_s)
        self.rate_per_min = rate_per_min
        self.time_to_hh_s = time_to_hh_s
        self._unit = -1
        self._enterprise = ""
        self._tag = ""
        self._goal = 0.0
        self._span = 0.0
        self._marks: dict[str, float | None] = {}
        self._rate_s: float | None = None
        self._onset_ts: float | None = None
        self._crossed: dict[str, float | None] = {}
        self._prev = (0.0, 0.0)  # (ts, level) before the current tick

    def bind(self, farm: TankFarm) -> None:
        hits = [k for k, u in enumerate(farm.units) if u.id == self.unit_id]
        if not hits:
            known = ", ".join(sorted({u.id for u in farm.units})) or "none"
            raise ScenarioError(f"overfill: no unit {self.unit_id!r} in the site (units: {known})")
        if len(hits) > 1:
            owners = ", ".join(farm.unit_enterprise[k] for k in hits)
            raise ScenarioError(
                f"overfill: unit id {self.unit_id!r} is ambiguous (enterprises {owners})"
            )
        found = farm.level_sensor(hits[0])
        if found is None:
            raise ScenarioError(f"overfill: unit {self.unit_id!r} has no level sensor")
        _, sensor = found
        self._unit = hits[0]
        self._enterprise = farm.unit_enterprise[hits[0]]
        self._tag = sensor.tag
        self._goal = sensor.limits.hh if sensor.limits.hh is not None else sensor.range_hi
        self._span = sensor.range_hi - sensor.range_lo
        # The overflow mark is the top of the level range, where the simulated tank spills.
        self._marks = {"h": sensor.limits.h, "hh": sensor.limits.hh, "overflow": sensor.range_hi}
        self._crossed = dict.fromkeys(self._marks)

    def before_tick(self, farm: TankFarm, dt_s: float) -> None:
        level = float(farm.level[self._unit])
        self._prev = (farm.ts, level)
        if self._rate_s is not None or farm.elapsed_s < self.start_s - 1e-9:
            return
        if self.rate_per_min is not None:
            rate_s = self.rate_per_min / 60.0
        else:
            # Already at HH (odd, but possible with a hand-built site): still rise visibly.
            rate_s = max(self._goal - level, 0.05 * self._span) / self.time_to_hh_s
        self._rate_s = rate_s
        self._onset_ts = farm.ts
        for mark, value in self._marks.items():
            if value is not None and level >= value:
                self._crossed[mark] = farm.ts
        farm.open_inflow(self._unit, rate_s)

    def after_tick(self, farm: TankFarm) -> None:
        if self._rate_s is None:
            return
        ts0, level0 = self._prev
        level = float(farm.level[self._unit])
        for mark, value in self._marks.items():
            if value is None or self._crossed[mark] is not None or level < value:
                continue
            # The inflow is constant, so the crossing instant is exact, not the tick's end.
            at = ts0 + (value - level0) / self._rate_s
            self._crossed[mark] = float(np.clip(at, ts0, farm.ts))

    def truth(self) -> list[dict[str, Any]]:
        return [
            {
                "event": "overfill",
                "enterprise": self._enterprise,
                "unit": self.unit_id,
                "tag": self._tag,
                "onset_ts": self._onset_ts,
                "rate_per_min": None if self._rate_s is None else self._rate_s * 60.0,
                "h": self._marks.get("h"),
                "hh": self._marks.get("hh"),
                "h_ts": self._crossed.get("h"),
                "hh_ts": self._crossed.get("hh"),
                "overflow_ts": self._crossed.get("overflow"),
            }
        ]


class GatewayOutage(Scenario):
    """A gateway drops off the air at `start_s` for `duration_s`: its last will fires, and
    none of its sensors reports until it comes back."""

    def __init__(self, enterprise: str, gateway: str, start_s: float, duration_s: float) -> None:
        if not duration_s > 0:
            raise ScenarioError(f"gateway outage of {enterprise}/{gateway}: duration_s must be > 0")
        self.key = f"{enterprise}/{gateway}"
        self.enterprise = enterprise
        self.gateway = gateway
        self.start_s = float(start_s)
        self.duration_s = float(duration_s)
        self._tags: list[str] = []
        self._down = False
        self._onset_ts: float | None = None
        self._end_ts: float | None = None

    def bind(self, farm: TankFarm) -> None:
        self._tags = [
            s.tag
            for e, _, u, s in farm.site.iter_sensors()
            if e.id == self.enterprise and u.gateway == self.gateway
        ]
        if not self._tags:
            known = sorted({f"{e.id}/{u.gateway}" for e, _, u, _ in farm.site.iter_sensors()})
            raise ScenarioError(
                f"gateway outage: no sensors behind gateway {self.key!r} "
                f"(gateways: {', '.join(known) or 'none'})"
            )

    def after_tick(self, farm: TankFarm) -> None:
        # Decided on the tick's end: that is the `ts` of the readings about to be published.
        down = self.start_s - 1e-9 <= farm.elapsed_s < self.start_s + self.duration_s - 1e-9
        if down and self._onset_ts is None:
            self._onset_ts = farm.ts
        if not down and self._down:
            self._end_ts = farm.ts
        self._down = down

    def gateways_down(self) -> frozenset[str]:
        return frozenset({self.key}) if self._down else frozenset()

    def truth(self) -> list[dict[str, Any]]:
        return [
            {
                "event": "gateway_outage",
                "enterprise": self.enterprise,
                "gateway": self.gateway,
                "tags": list(self._tags),
                "onset_ts": self._onset_ts,
                "end_ts": self._end_ts,
            }
        ]


class Script:
    """A farm run together with its scenarios; the one place that calls their hooks."""

    def __init__(self, farm: TankFarm, scenarios: Iterable[Scenario] = ()) -> None:
        self.farm = farm
        self.scenarios = tuple(scenarios)
        for s in self.scenarios:
            s.bind(farm)

    def tick(self, dt_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Advance the farm `dt_s` seconds with every scenario acting; return its readings."""
        for s in self.scenarios:
            s.before_tick(self.farm, dt_s)
        out = self.farm.tick(dt_s)
        for s in self.scenarios:
            s.after_tick(self.farm)
        return out

    def gateways_down(self) -> frozenset[str]:
        down: frozenset[str] = frozenset()
        for s in self.scenarios:
            down |= s.gateways_down()
        return down

    def truth(self) -> list[dict[str, Any]]:
        return [event for s in self.scenarios for event in s.truth()]
