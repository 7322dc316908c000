"""A level transmitter's ordinary noise at 1 Hz is no spike; a real jump still is."""

from __future__ import annotations

import numpy as np

from detectors import Detector
from hazardwatch.model import Batch, Condition, Kind, Limits, Trend
from tests import factories as f

T0 = 1_763_800_000.0


def _detector() -> Detector:
    trend = Trend(spike_rate_per_s=0.18, rate_limit_per_min=None, horizon_s=None)  # 1 % of 18 m
    lt = f.sensor("LT", Kind.LEVEL, hi=18.0, limits=Limits(hh=16.2, h=15.5), trend=trend)
    return Detector(f.table(f.site(f.enterprise("e1", f.hazard_source("hs", f.unit("T", lt))))), T0)


def test_noise_at_one_hertz_raises_no_spike_but_a_jump_does() -> None:
    det = _detector()
    rng = np.random.default_rng(3)
    # sd 0.06 m: a difference of two readings exceeds 0.18 m (the rate allowance) in ~3 %.
    values = 9.0 + rng.normal(0.0, 0.06, 3000)
    changes = []
    for k, v in enumerate(values):
        changes += det.step(Batch.of([0], [T0 + k], [v]))
    assert not [c for c in changes if c.condition is Condition.SPIKE]
    jump = det.step(Batch.of([0], [T0 + 3000], [14.0]))
    assert [c.condition for c in jump if c.active] == [Condition.SPIKE]
