"""Scenario files: a YAML timeline of events, validated against a site, and the library.

Format (one mapping per file; unknown keys are errors):

```yaml
name: fast-overfill            # required, the library name
description: ...               # required, what happens and what should be seen
duration_s: 3600               # required, simulated seconds to run
seed: 1                        # required, the random seed: same seed, same readings
dt_s: 1                        # optional tick (s) a runner should use; default 1
start: "2026-05-12T08:00:00+08:00"   # optional simulated start (ISO 8601 with offset,
                                     # or epoch s); default 2026-06-01 00:00 at UTC+8
site: examples/park.yaml       # optional, informational: the site it was written for
climate: {mean_c: 30, amplitude_c: 6, wind_from_deg: 135, wind_speed_ms: 3}  # optional,
                               # any field of simulators.weather.Climate
events:                        # optional list, each with `at_s` (s after start) and `kind`
  - {at_s: 300, kind: overfill, unit: e01-T101, rate_per_min: 0.05}
```

Event kinds and their fields (required first, `|` optional):

- overfill: unit | rate_per_min (level units/min) or time_to_hh_s, planned_level (the
  operator's transfer plan, made at onset: they meant to stop there) or planned_lift (the
  plan as a rise above the level at onset), start_level (the
  tank's level when the run starts; it waits idle for the incident)
- transfer: unit, rate_m3_h | direction (in/out, default in), duration_s, to_level
- maintenance_drain: unit, rate_m3_h | to_level (default empty)
- leak: unit, rate_kg_s | duration_s, ramp_s, gas (e.g. H2S), bearing_deg
- heating_failure, cooling_failure: unit | duration_s
- heating_runaway: unit | power_factor (default 3), duration_s
- fire: unit | exposed_fraction (0-1, default 1), duration_s
- padding_gas: unit, rate_kpa_per_min | duration_s
- sensor_fault: tag, fault (stuck, spike, dropout, bias, noise_burst, drift), duration_s
  | magnitude (engineering units; per hour for drift; a factor for noise_burst)
- gateway_offline: gateway ("enterprise/gateway"), duration_s

Problems are reported as `FILE: PATH: PROBLEM`, every one found, in one ScenarioError.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from hazardwatch.vocabulary.model import Site
from simulators.incidents import (
    CoolingFailure,
    FireExposure,
    HeatingFailure,
    HeatingRunaway,
    Leak,
    MaintenanceDrain,
    PaddingGas,
    SensorFault,
    Transfer,
)
from simulators.physics import TankFarm
from simulators.realism import Realism
from simulators.scenario import GatewayOutage, Overfill, Scenario, ScenarioError, Script
from simulators.weather import Climate

DEFAULT_START_TS = dt.datetime(2026, 6, 1, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()
_TOP = {"name", "description", "duration_s", "seed", "dt_s", "start", "site", "climate", "events"}
_TEXT = {"unit", "tag", "gateway", "direction", "gas", "fault", "kind"}
# kind -> (required fields, optional fields, builder from the checked fields)
_EVENTS: dict[str, tuple[set[str], set[str], Callable[[dict[str, Any]], Scenario]]] = {
    "overfill": (
        {"unit"},
        {"rate_per_min", "time_to_hh_s", "planned_level", "planned_lift", "start_level"},
        lambda e: Overfill(e["unit"], e["at_s"], e.get("rate_per_min"),
                           time_to_hh_s=e.get("time_to_hh_s", 75.0),
                           planned_level=e.get("planned_level"),
                           start_level=e.get("start_level"),
                           planned_lift=e.get("planned_lift")),
    ),
    "transfer": (
        {"unit", "rate_m3_h"},
        {"direction", "duration_s", "to_level"},
        lambda e: Transfer(e["unit"], e["at_s"], e["rate_m3_h"], e.get("direction", "in"),
                           e.get("duration_s"), e.get("to_level")),
    ),
    "maintenance_drain": (
        {"unit", "rate_m3_h"},
        {"to_level"},
        lambda e: MaintenanceDrain(e["unit"], e["at_s"], e["rate_m3_h"], e.get("to_level")),
    ),
    "leak": (
        {"unit", "rate_kg_s"},
        {"duration_s", "ramp_s", "gas", "bearing_deg"},
        lambda e: Leak(e["unit"], e["at_s"], e["rate_kg_s"], e.get("duration_s"),
                       e.get("ramp_s", 0.0), e.get("gas"), e.get("bearing_deg", 45.0)),
    ),
    "heating_failure": (
        {"unit"},
        {"duration_s"},
        lambda e: HeatingFailure(e["unit"], e["at_s"], e.get("duration_s")),
    ),
    "cooling_failure": (
        {"unit"},
        {"duration_s"},
        lambda e: CoolingFailure(e["unit"], e["at_s"], e.get("duration_s")),
    ),
    "heating_runaway": (
        {"unit"},
        {"power_factor", "duration_s"},
        lambda e: HeatingRunaway(e["unit"], e["at_s"], e.get("power_factor", 3.0),
                                 e.get("duration_s")),
    ),
    "fire": (
        {"unit"},
        {"exposed_fraction", "duration_s"},
        lambda e: FireExposure(e["unit"], e["at_s"], e.get("exposed_fraction", 1.0),
                               e.get("duration_s")),
    ),
    "padding_gas": (
        {"unit", "rate_kpa_per_min"},
        {"duration_s"},
        lambda e: PaddingGas(e["unit"], e["at_s"], e["rate_kpa_per_min"], e.get("duration_s")),
    ),
    "sensor_fault": (
        {"tag", "fault", "duration_s"},
        {"magnitude"},
        lambda e: SensorFault(e["tag"], e["fault"], e["at_s"], e["duration_s"], e.get("magnitude")),
    ),
    "gateway_offline": (
        {"gateway", "duration_s"},
        set(),
        lambda e: GatewayOutage(*e["gateway"].split("/", 1), e["at_s"], e["duration_s"]),
    ),
}  # fmt: skip


@dataclass(frozen=True)
class ScenarioSpec:
    """A scenario file, checked against a site; `build` makes fresh scenario instances."""

    name: str
    description: str
    duration_s: float
    seed: int
    dt_s: float
    start_ts: float
    climate: Climate
    events: tuple[dict[str, Any], ...]
    site: Site
    source: str

    def build(self) -> list[Scenario]:
        """New scenario objects for one run (they keep state, so never share them)."""
        return [_EVENTS[e["kind"]][2](e) for e in self.events]

    def farm(self, start_ts: float | None = None, realism: Realism | None = None) -> TankFarm:
        """The site's farm with this scenario's seed, climate and start (or `start_ts`), and
        a realism layer if given (simulators.realism; default: none)."""
        start = self.start_ts if start_ts is None else start_ts
        rng = np.random.default_rng(self.seed)
        return TankFarm(self.site, rng, start, climate=self.climate, realism=realism)

    def script(self, start_ts: float | None = None, realism: Realism | None = None) -> Script:
        """A ready-to-tick run: `script().run(spec.duration_s, spec.dt_s)`."""
        return Script(self.farm(start_ts, realism), self.build())


def library() -> list[str]:
    """Names of the scenarios shipped in simulators/scenarios/."""
    folder = resources.files("simulators").joinpath("scenarios")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_scenario(name_or_path: str, site: Site) -> ScenarioSpec:
    """Load a library scenario by name, or a scenario file by path, checked against `site`."""
    if name_or_path in library():
        entry = resources.files("simulators").joinpath("scenarios", f"{name_or_path}.yaml")
        text, source = entry.read_text("utf-8"), f"scenarios/{name_or_path}.yaml"
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise ScenarioError(
                f"{name_or_path}: no such scenario file, nor a library scenario "
                f"(library: {', '.join(library())})"
            )
        try:
            text, source = path.read_text("utf-8"), str(path)
        except (OSError, UnicodeDecodeError) as err:
            raise ScenarioError(f"{path}: cannot read: {err}") from None
    return parse_scenario(text, site, source)


def parse_scenario(text: str, site: Site, source: str = "<text>") -> ScenarioSpec:
    """Parse and check one scenario document; every problem goes into one ScenarioError."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ScenarioError(f"{source}: not valid YAML: {err}") from None
    return _Checker(source, site).spec(raw)


class _Checker:
    def __init__(self, source: str, site: Site) -> None:
        self.source = source
        self.site = site
        self.problems: list[str] = []
        units: dict[str, int] = {}
        for e in site.enterprises:
            for h in e.hazard_sources:
                for u in h.units:
                    units[u.id] = units.get(u.id, 0) + 1
        self.units = units
        self.tags = {s.tag for _, _, _, s in site.iter_sensors()}
        self.gateways = {f"{e.id}/{u.gateway}" for e, _, u, _ in site.iter_sensors()}

    def problem(self, path: str, what: str) -> None:
        self.problems.append(f"{self.source}: {path}: {what}")

    def number(self, raw: dict[str, Any], key: str, path: str, *, positive: bool) -> float | None:
        value = raw.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(f"{path}{key}", f"must be a number, got {value!r}")
            return None
        if (positive and not value > 0) or (not positive and not value >= 0):
            self.problem(f"{path}{key}", f"must be {'> 0' if positive else '>= 0'}, got {value}")
            return None
        return float(value)

    def spec(self, raw: Any) -> ScenarioSpec:
        if not isinstance(raw, dict):
            raise ScenarioError(
                f"{self.source}: the file must be a mapping (name: ..., events: [...])"
            )
        for key in sorted(set(raw) - _TOP):
            self.problem(str(key), f"unknown key; expected one of {', '.join(sorted(_TOP))}")
        for key in ("name", "description"):
            if not isinstance(raw.get(key), str) or not raw[key].strip():
                self.problem(key, "required text is missing")
        duration = self.number(raw, "duration_s", "", positive=True) or 0.0
        seed = raw.get("seed")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            self.problem("seed", f"must be a whole number >= 0, got {seed!r}")
        dt_s = self.number(raw, "dt_s", "", positive=True) if "dt_s" in raw else 1.0
        start = self.start(raw.get("start"))
        climate = self.climate(raw.get("climate", {}))
        events = raw.get("events", [])
        checked: list[dict[str, Any]] = []
        if not isinstance(events, list):
            self.problem("events", "must be a list of events")
        else:
            for n, event in enumerate(events):
                ok = self.event(event, f"events[{n}]", duration)
                if ok is not None:
                    checked.append(ok)
        if self.problems:
            raise ScenarioError("\n".join(self.problems))
        spec = ScenarioSpec(raw["name"], raw["description"].strip(), duration, seed, dt_s or 1.0,
                            start, climate, tuple(checked), self.site, self.source)  # fmt: skip
        try:
            spec.build()  # the constructors' own checks (signs, fault names)
        except ScenarioError as err:
            raise ScenarioError(f"{self.source}: {err}") from None
        return spec

    def start(self, value: Any) -> float:
        if value is None:
            return DEFAULT_START_TS
        if isinstance(value, dt.datetime):
            when = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        else:
            try:
                when = dt.datetime.fromisoformat(str(value))
            except ValueError:
                self.problem(
                    "start", f"must be ISO 8601 with an offset or epoch seconds: {value!r}"
                )
                return DEFAULT_START_TS
        if when.tzinfo is None:
            self.problem("start", f"needs a UTC offset (e.g. +08:00): {value!r}")
        return when.timestamp()

    def climate(self, value: Any) -> Climate:
        fields = {f.name for f in dataclasses.fields(Climate)}
        if not isinstance(value, dict):
            self.problem("climate", "must be a mapping of Climate fields")
            return Climate()
        good: dict[str, float] = {}
        for key, v in value.items():
            if key not in fields:
                self.problem(
                    f"climate.{key}", f"unknown; expected one of {', '.join(sorted(fields))}"
                )
            elif isinstance(v, bool) or not isinstance(v, int | float):
                self.problem(f"climate.{key}", f"must be a number, got {v!r}")
            else:
                good[key] = float(v)
        return Climate(**good)

    def event(self, raw: Any, path: str, duration: float) -> dict[str, Any] | None:
        if not isinstance(raw, dict):
            self.problem(path, "must be a mapping with at_s and kind")
            return None
        before = len(self.problems)
        kind = raw.get("kind")
        if kind not in _EVENTS:
            self.problem(f"{path}.kind", f"{kind!r} is not one of {', '.join(sorted(_EVENTS))}")
            return None
        required, optional, _ = _EVENTS[kind]
        for key in sorted(required - set(raw)):
            self.problem(f"{path}.{key}", f"required for {kind}")
        for key in sorted(set(raw) - required - optional - {"at_s", "kind"}):
            allowed = ", ".join(sorted(required | optional | {"at_s", "kind"}))
            self.problem(f"{path}.{key}", f"unknown for {kind}; expected one of {allowed}")
        at = self.number(raw, "at_s", f"{path}.", positive=False)
        if at is not None and at > duration:
            self.problem(f"{path}.at_s", f"{at:g} is after the end of the run ({duration:g} s)")
        for key in sorted((required | optional) & set(raw) - _TEXT):
            self.number(raw, key, f"{path}.", positive=key not in ("to_level", "bearing_deg"))
        for key in sorted((required | optional) & set(raw) & _TEXT):
            if not isinstance(raw[key], str):
                self.problem(f"{path}.{key}", f"must be text, got {raw[key]!r}")
        self.references(raw, path)
        return dict(raw) if len(self.problems) == before else None

    def references(self, raw: dict[str, Any], path: str) -> None:
        unit = raw.get("unit")
        if isinstance(unit, str):
            count = self.units.get(unit, 0)
            if count == 0:
                self.problem(f"{path}.unit", f"no unit {unit!r} in site {self.site.source}")
            elif count > 1:
                self.problem(f"{path}.unit", f"unit id {unit!r} is ambiguous in the site")
        tag = raw.get("tag")
        if isinstance(tag, str) and tag not in self.tags:
            self.problem(f"{path}.tag", f"no sensor tagged {tag!r} in site {self.site.source}")
        gateway = raw.get("gateway")
        if isinstance(gateway, str) and gateway not in self.gateways:
            known = ", ".join(sorted(self.gateways))
            self.problem(f"{path}.gateway", f"no gateway {gateway!r} (gateways: {known})")
