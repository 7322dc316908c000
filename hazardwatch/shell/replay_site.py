"""A site for replay when there is no config: one generic sensor per CSV column."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hazardwatch.shell.replay_csv import Chunk
from hazardwatch.vocabulary.defaults import builtin
from hazardwatch.vocabulary.model import (
    Enterprise,
    HazardSource,
    Kind,
    Limits,
    Responsible,
    Sensor,
    Site,
    Unit,
)

# A wide CSV without a config says nothing of each instrument's range: a range this wide
# means no out-of-range alarms, so only trend, drift and signal-fault checks speak.
GENERIC_RANGE = 1e12


def generic_site(tags: Sequence[str], period_s: Sequence[float]) -> Site:
    """One `generic` sensor per tag, in one unit of one hazard source of enterprise `replay`.

    No limits and a range of +-GENERIC_RANGE: the instrument is unknown. No deadband and
    no resolution either, so the signal-fault checks see every change.
    """
    d = builtin(Kind.GENERIC)
    span = 2 * GENERIC_RANGE
    # Shares of the span mean nothing with an invented span: the span-based settings are off.
    trend = d.trend.merged(
        {"resolution": 0.0, "rate_limit_per_min": None, "spike_rate_per_s": None}
    ).resolve(span)
    sensors = tuple(
        Sensor(
            tag=tag,
            kind=Kind.GENERIC,
            unit="",
            range_lo=-GENERIC_RANGE,
            range_hi=GENERIC_RANGE,
            limits=Limits(),
            deadband=0.0,
            on_delay_s=d.on_delay_s,
            off_delay_s=d.off_delay_s,
            period_s=float(period),
            stale_periods=d.stale_periods,
            latch=False,
            trend=trend,
        )
        for tag, period in zip(tags, period_s, strict=True)
    )
    unit = Unit("replay", "replay", "unknown", 1.0, False, "replay", sensors)
    source = HazardSource("replay", "replay", 4, Responsible("-", "-", "-"), (unit,))
    return Site("replay", "hw", (Enterprise("replay", "replay", (source,)),), "<csv columns>")


def reporting_periods(chunk: Chunk, n: int, default_s: float) -> list[float]:
    """Each sensor's median interval between readings in `chunk`, or `default_s`."""
    periods = [default_s] * n
    order = np.lexsort((chunk.ts, chunk.sensor))
    sensor, ts = chunk.sensor[order], chunk.ts[order]
    gap = np.diff(ts)
    same = (sensor[1:] == sensor[:-1]) & (gap > 0)
    sensor, gap = sensor[1:][same], gap[same]
    if sensor.size == 0:
        return periods
    bounds = np.flatnonzero(np.r_[True, sensor[1:] != sensor[:-1], True])
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        periods[int(sensor[a])] = float(np.median(gap[a:b]))
    return periods
