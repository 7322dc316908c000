"""Which alarm comes first on the page and in the API, and the first-out of each source.

Order: priority, then the gas rule (toxic before combustible at the same level, second
level before first; gas before other alarms of the same priority), then newest first.
The first-out alarm of a hazard source is its earliest raised alarm still open: the one
that tells what started an incident.

>>> from hazardwatch.vocabulary.model import Condition, Kind
>>> gas_rank(Condition.GAS2, Kind.GAS_COMBUSTIBLE) > gas_rank(Condition.GAS1, Kind.GAS_TOXIC)
True
>>> gas_rank(Condition.GAS1, Kind.GAS_TOXIC) > gas_rank(Condition.GAS1, Kind.GAS_COMBUSTIBLE)
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

from alerting.alarm import Alarm
from hazardwatch.vocabulary.model import Condition, Kind

_LEVEL = {Condition.GAS2: 2, Condition.GAS1: 1}
_SUBSTANCE = {Kind.GAS_TOXIC: 2, Kind.GAS_COMBUSTIBLE: 1}


def gas_rank(condition: Condition, kind: Kind | None) -> int:
    """Larger comes first: level (second over first), then toxic over combustible; 0 for
    every alarm that is not a gas level alarm."""
    level = _LEVEL.get(condition, 0)
    if level == 0 or kind is None:
        return 0
    return 2 * level + _SUBSTANCE.get(kind, 0)


def by_precedence(alarms: Iterable[Alarm], kind_of: Callable[[int], Kind | None]) -> list[Alarm]:
    """`alarms` most urgent first; `kind_of(sensor)` gives a sensor's kind (None if gone)."""
    return sorted(
        alarms,
        key=lambda a: (a.priority, gas_rank(a.condition, kind_of(a.sensor)), a.raised_ts, a.id),
        reverse=True,
    )


def mark_first_out(alarms: list[Alarm], open_alarms: Iterable[Alarm]) -> list[Alarm]:
    """`alarms` with `first_out` set on the earliest raised open alarm of each hazard source
    (judged among `open_alarms`, all the open alarms, not just those listed)."""
    first: dict[str, tuple[float, int]] = {}
    for a in open_alarms:
        mark = (a.raised_ts, a.id)
        if a.is_open and (a.hazard_source not in first or mark < first[a.hazard_source]):
            first[a.hazard_source] = mark
    return [
        replace(a, first_out=True) if first.get(a.hazard_source) == (a.raised_ts, a.id) else a
        for a in alarms
    ]
