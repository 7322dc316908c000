"""A synthetic park of any size, built straight from the model dataclasses (no YAML).

Every sensor is a tank level transmitter, range 0-100, limits h 80 / hh 90 / l 10 / ll 5,
deadband 1, no on/off delay, period 5 s, stale after 3 periods, not latched; each
enterprise has one gateway carrying all its sensors.

>>> site = build_site(1_000, enterprises=4)
>>> len(site.iter_sensors()), len(gateways(site)), len(gateways(site)[0].tags)
(1000, 4, 250)
"""

from __future__ import annotations

from dataclasses import dataclass

from hazardwatch.model import (
    Enterprise,
    HazardSource,
    Kind,
    Limits,
    Responsible,
    Sensor,
    Site,
    Unit,
)

__all__ = ["GATEWAY", "LIMITS", "Gateway", "build_site", "gateways"]

LIMITS = Limits(hh=90.0, h=80.0, l=10.0, ll=5.0)
GATEWAY = "gw1"


@dataclass(frozen=True, slots=True)
class Gateway:
    """One gateway as a publisher sees it: its enterprise, name and tags in sensor order."""

    enterprise: str
    name: str
    tags: tuple[str, ...]


def _level(tag: str) -> Sensor:
    return Sensor(
        tag=tag,
        kind=Kind.LEVEL,
        unit="%",
        range_lo=0.0,
        range_hi=100.0,
        limits=LIMITS,
        deadband=1.0,
        on_delay_s=0.0,
        off_delay_s=0.0,
        period_s=5.0,
        stale_periods=3.0,
        latch=False,
    )


def _split(total: int, parts: int) -> list[int]:
    """`total` spread over `parts` as evenly as possible, larger shares first."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def build_site(n_sensors: int, *, enterprises: int = 20, sources_per_enterprise: int = 10) -> Site:
    """A park of `n_sensors` level sensors, one tank each, spread over the enterprises."""
    if n_sensors < enterprises:
        raise ValueError(f"need at least one sensor per enterprise ({enterprises})")
    people = Responsible("main", "technical", "operation")
    ents = []
    for e, n_ent in enumerate(_split(n_sensors, enterprises)):
        eid = f"E{e:02d}"
        sources = []
        tank = 0
        for h, n_hs in enumerate(_split(n_ent, sources_per_enterprise)):
            units = []
            for _ in range(n_hs):
                tag = f"{eid}-T{tank:05d}-LT"
                unit_id = f"{eid}-T{tank:05d}"
                units.append(
                    Unit(unit_id, "tank", "crude", 5_000.0, False, GATEWAY, (_level(tag),))
                )
                tank += 1
            if units:
                sources.append(
                    HazardSource(f"{eid}-HS{h:02d}", f"farm {h}", 2, people, tuple(units))
                )
        ents.append(Enterprise(eid, f"Enterprise {e}", tuple(sources)))
    return Site(park="bench park", root_topic="hw", enterprises=tuple(ents))


def gateways(site: Site) -> list[Gateway]:
    """The site's gateways with their tags, in sensor-index order."""
    groups: dict[tuple[str, str], list[str]] = {}
    for e, _, u, s in site.iter_sensors():
        groups.setdefault((e.id, u.gateway), []).append(s.tag)
    return [Gateway(ent, gw, tuple(tags)) for (ent, gw), tags in groups.items()]
