"""A zero-suppressed gas detector behind a report-by-exception gateway: a burst of noise is
NOISY (an instrument fault), never a gas level; clean air flickering across the suppression
threshold is nothing (detectors.signal, checks.zero_lifted)."""

from __future__ import annotations

import numpy as np

from detectors import Detector
from hazardwatch.vocabulary.model import Condition
from tests.unit.test_learned_statistics import T0, conditions, feed, gas_detector, park

C = Condition
SUPPRESS_LEL = 3.8  # reads 0 below this
SIGMA_LEL = 1.2  # the detector's noise in clean air (a little under 5 % of level 1)
ZERO_LEL = 1.5  # its zero, drifted up: clean air flickers across the threshold
DEADBAND_LEL, HEARTBEAT_S, PERIOD_S = 0.5, 120.0, 2.0


def sent(ts: np.ndarray, scale: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """What the gateway sends of a detector in clean air (its zero at ZERO_LEL) read every
    PERIOD_S, its noise `scale` x SIGMA_LEL: quantised to 0.1 %LEL, 0 below SUPPRESS_LEL,
    and only on a move by the deadband or at a heartbeat."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 1.0, ts.size) * SIGMA_LEL * scale
    value = np.round(np.maximum(ZERO_LEL + noise, 0.0), 1)
    value[value < SUPPRESS_LEL] = 0.0
    keep, last, last_ts = [], np.nan, -np.inf
    for k, (t, v) in enumerate(zip(ts.tolist(), value.tolist(), strict=True)):
        if not abs(v - last) < DEADBAND_LEL or t - last_ts >= HEARTBEAT_S:
            keep.append(k)
            last, last_ts = v, t
    return ts[keep], value[keep]


def clean_air_then_burst(hours: float, burst_s: float, seed: int) -> tuple[np.ndarray, ...]:
    """Clean air for `hours`, then `burst_s` of ten times the noise (sigma 12 %LEL)."""
    ts = T0 + PERIOD_S * np.arange(int((hours * 3600 + burst_s) / PERIOD_S))
    return sent(ts, np.where(ts - T0 >= hours * 3600, 10.0, 1.0), seed)


def test_a_noise_burst_reaching_level_1_is_noisy_and_raises_no_gas_level() -> None:
    """Ten times its noise for 15 minutes: single readings past level 1 (25 %LEL) between
    suppressed zeros. Before: the flicker across the threshold had taught a noise level of
    the threshold's size, the burst stayed under 5 x that, and each such reading was GAS1."""
    ts, values = clean_air_then_burst(hours=3.0, burst_s=900.0, seed=4)
    assert (values > 25.0).sum() >= 3  # the burst does reach level 1
    got = feed(Detector(park(gas_detector()), T0), ts, values)
    assert C.NOISY in conditions(got)
    assert not {C.GAS1, C.GAS2} & set(conditions(got))


def test_clean_air_flickering_across_the_suppression_threshold_is_not_noisy() -> None:
    """A day of clean air: 0, now and then a reading just above the threshold, 0 again."""
    ts = T0 + PERIOD_S * np.arange(int(86400 / PERIOD_S))
    ts, values = sent(ts, np.ones(ts.size), seed=5)
    assert ((values > 0) & (values < 6.0)).sum() > 500  # it does flicker
    assert conditions(feed(Detector(park(gas_detector()), T0), ts, values)) == []
