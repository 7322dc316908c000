"""A level transmitter's ordinary noise at 1 Hz is no spike; a real jump still is."""

from __future__ import annotations

import numpy as np

from detectors import Detector
from hazardwatch.vocabulary.model import Batch, Condition, Kind, Limits, Trend
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


def _site_detector(on_delay_s: float) -> Detector:
    trend = Trend(spike_rate_per_s=0.18, rate_limit_per_min=None, horizon_s=None)
    lt = f.sensor("LT", Kind.LEVEL, hi=18.0, limits=Limits(hh=16.2, h=15.5), trend=trend,
                  on_delay_s=on_delay_s)  # fmt: skip
    return Detector(f.table(f.site(f.enterprise("e1", f.hazard_source("hs", f.unit("T", lt))))), T0)


def test_a_single_reading_past_hh_raises_hh_unless_an_on_delay_filters_it() -> None:
    """A reading past HH that jumped there faster than any tank fills is SPIKE; without an
    on-delay the limit is judged on it all the same (HH, H and SPIKE): the on-delay is the
    filter the site configures against single readings. With one, nothing but SPIKE.
    Before: SPIKE alone, the HH a site without an on-delay asked for was never raised."""
    rng = np.random.default_rng(4)
    values = 9.0 + rng.normal(0.0, 0.01, 300)
    for on_delay_s, want in ((0.0, {Condition.HH, Condition.H, Condition.SPIKE}),
                             (10.0, {Condition.SPIKE})):  # fmt: skip
        det = _site_detector(on_delay_s)
        for k, v in enumerate(values):
            det.step(Batch.of([0], [T0 + k], [v]))
        jump = det.step(Batch.of([0], [T0 + 300], [16.5]))
        back = det.step(Batch.of([0], [T0 + 301], [9.0]))
        assert {c.condition for c in jump if c.active} == want
        assert {c.condition for c in back if not c.active} == want
