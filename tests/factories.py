"""Small builders for the site tree of hazardwatch/vocabulary/model.py, with test-friendly defaults.

Every argument a test cares about is a keyword, so a test shows only what it changes.
"""

from __future__ import annotations

from typing import Any

from hazardwatch.vocabulary.model import (
    Enterprise,
    HazardSource,
    Kind,
    Limits,
    Responsible,
    Sensor,
    SensorTable,
    Site,
    Unit,
)

# The engineering unit a sensor of each kind reports in, when a test does not say.
KIND_UNIT: dict[Kind, str] = {
    Kind.TEMPERATURE: "degC",
    Kind.LEVEL: "m",
    Kind.PRESSURE: "kPa",
    Kind.FLOW: "m3/h",
    Kind.GAS_COMBUSTIBLE: "%LEL",
    Kind.GAS_TOXIC: "ppm",
    Kind.GENERIC: "",
}
GAS_LIMITS = Limits(hh=50.0, h=25.0)
LEVEL_LIMITS = Limits(hh=18.0, h=16.0, l=2.0, ll=1.0)
PEOPLE = Responsible("a", "b", "c")


def sensor(
    tag: str,
    kind: Kind = Kind.LEVEL,
    *,
    unit: str | None = None,
    lo: float = 0.0,
    hi: float = 100.0,
    limits: Limits | None = None,
    deadband: float = 0.0,
    on_delay_s: float = 0.0,
    off_delay_s: float = 0.0,
    period_s: float = 5.0,
    stale_periods: float = 3.0,
    latch: bool | None = None,
    **more: Any,
) -> Sensor:
    """A sensor; unit, limits and latch follow from `kind` unless given.

    `more` passes the remaining Sensor fields (substance, trend, area).
    """
    return Sensor(
        tag=tag,
        kind=kind,
        unit=KIND_UNIT[kind] if unit is None else unit,
        range_lo=lo,
        range_hi=hi,
        limits=(GAS_LIMITS if kind.is_gas else LEVEL_LIMITS) if limits is None else limits,
        deadband=deadband,
        on_delay_s=on_delay_s,
        off_delay_s=off_delay_s,
        period_s=period_s,
        stale_periods=stale_periods,
        latch=kind.is_gas if latch is None else latch,
        **more,
    )


def unit(
    uid: str,
    *sensors: Sensor,
    substance: str = "benzene",
    capacity_m3: float = 1000.0,
    pressurised: bool = False,
    gateway: str = "gw1",
    type: str = "tank",  # named like the Unit field it fills
    camera_url: str | None = None,
) -> Unit:
    """A tank (or another unit) holding `sensors` in the order given."""
    return Unit(uid, type, substance, capacity_m3, pressurised, gateway, sensors, camera_url)


def hazard_source(
    hid: str,
    *units: Unit,
    name: str | None = None,
    grade: int = 2,
    responsible: Responsible = PEOPLE,
) -> HazardSource:
    """A hazard source named after its id unless `name` is given."""
    return HazardSource(hid, hid if name is None else name, grade, responsible, units)


def enterprise(eid: str, *sources: HazardSource, name: str | None = None) -> Enterprise:
    """An enterprise named after its id in capitals unless `name` is given."""
    return Enterprise(eid, eid.upper() if name is None else name, sources)


def site(
    *enterprises: Enterprise,
    park: str = "Test Park",
    root_topic: str = "hw",
    areas: dict[str, int] | None = None,
) -> Site:
    """A park of `enterprises`; `areas` maps a gas voting area to its k."""
    return Site(park, root_topic, enterprises, areas={} if areas is None else dict(areas))


def table(built: Site) -> SensorTable:
    """The site compiled to arrays, as the detectors and ingest see it."""
    return SensorTable.from_site(built)


def sim_sensor(tag: str, kind: Kind, unit: str, lo: float, hi: float, limits: Limits) -> Sensor:
    """A sensor as the simulator tests want it: reporting every second, never latching."""
    return sensor(tag, kind, unit=unit, lo=lo, hi=hi, limits=limits, period_s=1.0, latch=False)
