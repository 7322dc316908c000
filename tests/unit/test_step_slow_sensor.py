"""A STEP on a sensor that reports less often than its slope window spans ends.

A STEP (an instrument shift) restarts the sensor's slope window and clears once the window
is filled again. An hourly series, or a gauge heard only at its heartbeat, never holds two
samples in a 300 s window, so its STEP was held for ever (NAB's nyc_taxi, 30-min data: for
months; the TravelTime series for 5-200 h). Its next good reading, a window or more later,
ends it; a fast sensor's STEP still waits for its window.
"""

from __future__ import annotations

import numpy as np
import pytest

from detectors import Detector
from hazardwatch.vocabulary.model import Batch, Condition, Kind, Limits, SensorTable, Trend
from tests import factories as f
from tests.reference import ReferenceDetector

T0 = 1_763_800_000.0


def _table(period_s: float) -> SensorTable:
    trend = Trend(spike_rate_per_s=0.001, rate_window_s=300.0)
    s = f.sensor("X", Kind.LEVEL, hi=100.0, limits=Limits(), period_s=period_s, trend=trend)
    return f.table(f.site(f.enterprise("e1", f.hazard_source("hs", f.unit("T", s)))))


def _steps(period_s: float, n: int) -> list[tuple[float, bool]]:
    """`n` readings every `period_s` around 50, a shift to 70 two thirds in: the STEP's
    (reading index, active) changes, the compiled detector's and the reference's alike."""
    rng = np.random.default_rng(3)
    values = 50.0 + rng.normal(0.0, 0.05, n)
    values[2 * n // 3 :] += 20.0
    got = []
    for det in (Detector(_table(period_s), T0), ReferenceDetector(_table(period_s), T0)):
        seen = []
        for k, v in enumerate(values):
            batch = Batch.of([0], [T0 + period_s * (k + 1)], [float(v)])
            seen += [(k, c.active) for c in det.step(batch) if c.condition is Condition.STEP]
        got.append(seen)
    assert got[0] == got[1], got
    return got[0]


def test_an_hourly_sensor_s_step_ends_on_its_next_good_reading() -> None:
    seen = _steps(3600.0, 120)  # five days at one reading an hour
    assert seen[0] == (81, True)  # the reading after the shift confirms it
    assert seen[1:] == [(82, False)]  # and the next one, an hour later, ends it


@pytest.mark.parametrize("period_s", [1.0, 5.0])
def test_a_fast_sensor_s_step_still_waits_for_its_window(period_s: float) -> None:
    seen = _steps(period_s, 600)
    assert seen[0] == (401, True)
    # cleared once the restarted window spans half of its 300 s, not on the next reading
    assert seen[1][1] is False and (seen[1][0] - 401) * period_s >= 150.0
