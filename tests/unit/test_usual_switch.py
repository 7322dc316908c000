"""A sensor that switches between its usual levels raises one STEP, not one per switch."""

from __future__ import annotations

import numpy as np

from detectors import Detector
from hazardwatch.shell.replay_site import generic_site
from hazardwatch.vocabulary.model import Batch, Condition, Kind, Limits, SensorTable, Trend
from tests import factories as f

C = Condition
T0 = 1_763_800_000.0
PERIOD_S = 300.0


def feed(det: Detector, ts: np.ndarray, values: np.ndarray) -> list:
    out = []
    for t, v in zip(ts.tolist(), values.tolist(), strict=True):
        out += det.step(Batch.of([0], [t], [v]))
    return out


def raised(changes: list) -> list[tuple[Condition, float]]:
    return [(c.condition, c.ts) for c in changes if c.active]


def two_levels(days: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A pump's current, every 5 min: 20 A by night and 68 A by day, noise 0.1 A."""
    n = int(days * 86400 / PERIOD_S)
    ts = T0 + PERIOD_S * np.arange(n)
    day = ((ts - T0) % 86400.0) >= 43200.0
    values = np.where(day, 68.0, 20.0) + np.random.default_rng(seed).normal(0.0, 0.1, n)
    return ts, values


def test_switches_between_usual_levels_raise_one_step_not_one_per_switch() -> None:
    det = Detector(SensorTable.from_site(generic_site(["x"], [PERIOD_S])), T0)
    ts, values = two_levels(6, seed=1)
    got = raised(feed(det, ts, values))
    first = ts[144]  # the first switch (after 12 h): not yet known, so a spike then a step
    assert got == [(C.SPIKE, first), (C.STEP, first + PERIOD_S)]


def test_a_spike_well_beyond_the_usual_switches_is_still_a_spike() -> None:
    det = Detector(SensorTable.from_site(generic_site(["x"], [PERIOD_S])), T0)
    ts, values = two_levels(3, seed=2)
    values[500] += 150.0  # 3 x the usual switch, one reading, by day
    got = raised(feed(det, ts, values))
    assert (C.SPIKE, ts[500]) in got
    assert [c for c, _ in got].count(C.STEP) == 1


def test_after_a_step_the_baseline_is_learned_afresh_and_no_drift_follows() -> None:
    """Moved by one reading's jump, the baseline was off by that reading's noise (here 1.9
    sigma) and the CUSUM raised DRIFT on the steady new level."""
    det = Detector(SensorTable.from_site(generic_site(["x"], [60.0])), T0)
    rng = np.random.default_rng(11)
    n = 1440
    ts = T0 + 60.0 * np.arange(n)
    values = 50.0 + rng.normal(0.0, 0.1, n)
    values[720:] += 30.0  # the instrument shifts after 12 h and stays
    values[720] += 0.19  # the first reading of the new level, noisy
    got = raised(feed(det, ts, values))
    assert got == [(C.SPIKE, ts[720]), (C.STEP, ts[721])]


def bursts(n: int, every: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """1 Hz readings around 9, noise 0.01, and one reading 5 higher every `every`."""
    ts = T0 + np.arange(float(n))
    values = 9.0 + np.random.default_rng(seed).normal(0.0, 0.01, n)
    values[every::every] += 5.0
    return ts, values


def test_a_generic_sensor_whose_bursts_are_routine_raises_the_first_only() -> None:
    det = Detector(SensorTable.from_site(generic_site(["x"], [1.0])), T0)
    ts, values = bursts(3000, 500, seed=4)
    assert raised(feed(det, ts, values)) == [(C.SPIKE, ts[500])]


def test_a_sensor_with_a_physical_spike_rate_spikes_every_time() -> None:
    """A level cannot jump 5 m in a second however often its transmitter does."""
    trend = Trend(spike_rate_per_s=0.18, rate_limit_per_min=None, horizon_s=None)
    lt = f.sensor("LT", Kind.LEVEL, hi=18.0, limits=Limits(hh=16.2, h=15.5), trend=trend)
    det = Detector(f.table(f.site(f.enterprise("e1", f.hazard_source("hs", f.unit("T", lt))))), T0)
    ts, values = bursts(3000, 500, seed=4)
    assert raised(feed(det, ts, values)) == [(C.SPIKE, ts[k]) for k in range(500, 3000, 500)]


def noise_bursts(n: int, every: int, sigma: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """1 Hz readings around 50, noise 0.1, and 100 readings of noise `sigma` every `every`."""
    rng = np.random.default_rng(seed)
    ts = T0 + np.arange(float(n))
    values = 50.0 + rng.normal(0.0, 0.1, n)
    for start in range(every, n - 100, every):
        values[start : start + 100] = 50.0 + rng.normal(0.0, sigma, 100)
    return ts, values


def test_a_generic_sensor_whose_noise_bursts_are_routine_stops_raising_noisy() -> None:
    """Five bursts alike: NOISY on the first (and on one whose peak, an EWMA, beat 1.5 x the
    first's), not on each."""
    det = Detector(SensorTable.from_site(generic_site(["x"], [1.0])), T0)
    ts, values = noise_bursts(6000, 1000, 1.0, seed=5)
    got = [c for c, _ in raised(feed(det, ts, values))]
    assert 1 <= got.count(C.NOISY) <= 2


def test_a_burst_well_beyond_those_shown_is_still_an_instrument_fault() -> None:
    det = Detector(SensorTable.from_site(generic_site(["x"], [1.0])), T0)
    ts, values = noise_bursts(6000, 1000, 1.0, seed=5)
    values[4000:4100] = 50.0 + np.random.default_rng(9).normal(0.0, 4.0, 100)
    got = raised(feed(det, ts, values))
    assert [t for c, t in got if c in (C.SPIKE, C.NOISY) and ts[4000] <= t < ts[4100]]
