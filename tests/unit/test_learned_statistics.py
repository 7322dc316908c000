"""Each sensor is judged by what it has shown: its noise, its resolution as seen, its usual
rate and how long it is normally still (detectors.checks.faults), on series with a known
answer and on data shaped like a real park's (quantised gauges at rest, gas detectors at a
suppressed zero, plain noise) rather than our simulator's."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from detectors import Detector
from hazardwatch.shell.replay_site import generic_site
from hazardwatch.vocabulary.defaults import builtin
from hazardwatch.vocabulary.model import Batch, Condition, Kind, Limits, SensorTable
from tests import factories as f

C = Condition
T0 = 1_763_800_000.0
SIGNAL_FAULTS = {C.SPIKE, C.STEP, C.STUCK, C.NOISY}


def park(*sensors: f.Sensor) -> SensorTable:
    return f.table(f.site(f.enterprise("e1", f.hazard_source("hs", f.unit("T1", *sensors)))))


def level_gauge(tag: str = "LT", **more: object) -> f.Sensor:
    """An 18 m level gauge with the built-in level defaults (STUCK after 900 s, 1 %/s spikes)."""
    trend = builtin(Kind.LEVEL).trend.resolve(span=20.0)
    limits = Limits(hh=18.0, h=17.0, l=2.0, ll=1.0)
    return f.sensor(tag, Kind.LEVEL, hi=20.0, limits=limits, trend=trend, **more)


def gas_detector(tag: str = "AT") -> f.Sensor:
    trend = builtin(Kind.GAS_COMBUSTIBLE).trend.resolve(span=100.0)
    return f.sensor(tag, Kind.GAS_COMBUSTIBLE, limits=Limits(hh=50.0, h=25.0), trend=trend)


def feed(det: Detector, ts: np.ndarray, values: np.ndarray, sensor: int = 0) -> list:
    """One reading per step; every change."""
    out = []
    for t, v in zip(ts.tolist(), values.tolist(), strict=True):
        out += det.step(Batch.of([sensor], [t], [v]))
    return out


def conditions(changes: list, active: bool = True) -> list[Condition]:
    return [c.condition for c in changes if c.active is active]


# ------------------------------------------------------------------ the statistics


def test_the_resolution_seen_is_the_smallest_step_of_quantised_data() -> None:
    rng = np.random.default_rng(1)
    ts = T0 + 5.0 * np.arange(3000)
    true = 9.0 + 0.004 * np.sin(np.arange(3000) / 400.0) + rng.normal(0.0, 0.0007, 3000)
    det = Detector(park(level_gauge()), T0)
    feed(det, ts, np.round(true, 3))  # a 1 mm gauge: 9.001 - 9.0 is 0.000999... in floats
    assert det.state.seen_res[0] == pytest.approx(0.001, rel=1e-9)
    # Float rounding of an unchanged value is no step.
    feed(det, ts[-1] + 5.0 + 5.0 * np.arange(5), 9.0 + np.array([0.0, 1e-14, 0.0, 2e-14, 0.0]))
    assert det.state.seen_res[0] == pytest.approx(0.001, rel=1e-9)


def test_noise_learned_robustly_ignores_outliers() -> None:
    rng = np.random.default_rng(2)
    n = 6000
    values = 50.0 + rng.normal(0.0, 1.0, n)
    wild = rng.random(n) < 0.03
    values[wild] += rng.choice([-30.0, 30.0], int(wild.sum()))  # 3 % of readings 30 sigma off
    det = Detector(park(f.sensor("PT", Kind.PRESSURE, limits=Limits())), T0)
    feed(det, T0 + np.arange(n, dtype=float), values)
    # Half the second difference of white noise averages 0.98 sigma; the outliers, one in
    # 11 second differences, would make a plain mean 3.7 sigma.
    assert 0.85 < det.state.noise_level[0] < 1.2
    d2 = 0.5 * np.abs(values[2:] - 2 * values[1:-1] + values[:-2])
    assert d2.mean() > 2.5


def test_the_usual_rate_of_a_ramp_is_its_speed() -> None:
    rng = np.random.default_rng(3)
    ts = T0 + 2.0 * np.arange(2000)
    det = Detector(park(level_gauge()), T0)
    feed(det, ts, 2.0 + 0.004 * (ts - T0) + rng.normal(0.0, 0.0002, ts.size))  # 4 mm/s
    assert det.state.usual_rate[0] == pytest.approx(0.004, rel=0.1)


def test_still_time_learns_the_longest_stillness() -> None:
    """Runs of 30, 120 and 60 s at one value, readings every 10 s: the longest is 120 s.

    (It is kept where it can matter: 3 x 120 s is beyond this sensor's 60 s STUCK window.)"""
    trend = replace(builtin(Kind.LEVEL).trend.resolve(span=20.0), stuck_window_s=60.0)
    det = Detector(park(f.sensor("LT", Kind.LEVEL, hi=20.0, trend=trend)), T0)
    values, t = [], []
    now = T0
    for k, run_s in enumerate([30, 120, 60] * 10):
        for j in range(run_s // 10):
            t.append(now + 10.0 * j)
            values.append(5.0 + 0.01 * (k % 2))
        now += run_s
    feed(det, np.array(t), np.array(values))
    # The last run is still going; the longest healthy one finished is 120 s, forgotten by a
    # share of a week per stillness since.
    assert det.state.still_max[0] == pytest.approx(120.0, rel=0.01)
    assert det.state.moves[0] == 20.0  # 29 moves, counted while the count matters


# ------------------------------------------------------------------ STUCK


def tank_at_rest(hours: float, seed: int, fill_h: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A 1 mm level gauge every 5 s on a tank filled at 1 m/h for `fill_h`, then at rest for
    `hours`: the liquid breathes a few mm with the day's temperature (thermal expansion) and
    the gauge's noise (0.2 mm) is under a count."""
    rng = np.random.default_rng(seed)
    n = int((fill_h + hours) * 720)
    ts = T0 + 5.0 * np.arange(n)
    day = 2 * np.pi * (ts - T0) / 86400.0
    true = 5.0 + np.minimum(ts - T0, fill_h * 3600.0) / 3600.0
    true += 0.003 * np.sin(day) + 0.001 * np.sin(7.3 * day) + rng.normal(0.0, 0.0002, n)
    return ts, np.round(true, 3)


@pytest.mark.parametrize("seed", [4, 5])
def test_a_quantised_tank_at_rest_for_twelve_hours_is_not_stuck(seed: int) -> None:
    det = Detector(park(level_gauge()), T0)
    ts, values = tank_at_rest(12.0, seed, fill_h=2.0)  # the fill teaches it the tank moves
    rest = ts >= T0 + 7200.0
    moved = np.flatnonzero(np.diff(values[rest])) + 1
    assert moved.size > 20  # at rest it moves by a count now and then ...
    assert np.diff(ts[rest][moved]).max() > 900.0  # ... and holds still longer than 900 s
    assert conditions(feed(det, ts, values)) == []


def test_a_gauge_frozen_during_a_fill_is_stuck() -> None:
    det = Detector(park(level_gauge()), T0)
    ts, values = tank_at_rest(6.0, seed=5, fill_h=2.0)
    assert conditions(feed(det, ts, values)) == []
    # Another fill at 1 m/h: the gauge follows for 20 min, then freezes as the fill goes on.
    fill_ts = ts[-1] + 5.0 * np.arange(1, 1441)
    level = values[-1] + (fill_ts - ts[-1]) / 3600.0
    frozen_from = 240
    level[frozen_from:] = level[frozen_from]
    got = feed(det, fill_ts, np.round(level, 3))
    stuck = [c for c in got if c.condition is C.STUCK and c.active]
    assert len(stuck) == 1 and conditions(got) == [C.STUCK]
    assert stuck[0].ts - fill_ts[frozen_from] <= 3600.0  # within the hour the fill goes on


def test_a_gas_detector_reading_a_suppressed_zero_for_a_week_is_not_stuck() -> None:
    """Clean air reads a flat 0 (suppressed below a few %LEL); a puff shows now and then."""
    det = Detector(park(gas_detector()), T0)
    ts = T0 + 30.0 * np.arange(7 * 2880)
    values = np.zeros(ts.size)
    for at in (40, 41, 5000, 9000, 9001, 15000):  # one early, in the baseline's warm-up
        values[at] = 6.0
    got = feed(det, ts, values)
    assert conditions(got) == []


def test_a_generic_column_without_range_is_stuck_once_frozen_after_learning() -> None:
    """A wide CSV's column without a config: a generic sensor, range +-1e12."""
    det = Detector(SensorTable.from_site(generic_site(["x"], [60.0])), T0)
    rng = np.random.default_rng(6)
    ts = T0 + 60.0 * np.arange(600)
    values = 20.0 + rng.normal(0.0, 0.05, 600)
    values[400:] = values[400]  # the column freezes
    got = feed(det, ts, values)
    assert conditions(got) == [C.STUCK]
    stuck = next(c for c in got if c.condition is C.STUCK)
    assert ts[400] + 900.0 <= stuck.ts <= ts[400] + 1800.0


# ------------------------------------------------------------------ SPIKE, STEP, NOISY, PREDICT


def clipped_noise(levels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """n readings per tag: Gaussian around each level, sigma 2 % of it, clipped at 3 sigma."""
    rng = np.random.default_rng(seed)
    sigma = 0.02 * levels
    return levels + sigma * np.clip(rng.normal(0.0, 1.0, (n, levels.size)), -3.0, 3.0)


def test_clipped_gaussian_noise_raises_no_signal_fault_and_predicts_nothing() -> None:
    levels = np.array([30.0, 50.0, 60.0, 40.0])
    kinds = [Kind.LEVEL, Kind.PRESSURE, Kind.TEMPERATURE, Kind.GENERIC]
    sensors = []
    for k, (kind, level) in enumerate(zip(kinds, levels, strict=True)):
        trend = builtin(kind).trend.resolve(span=100.0)
        # H and L 4 sigma away (never reached), HH and LL 6 sigma: a slope that noise made
        # barely significant would reach them within the horizon.
        limits = Limits(hh=level * 1.12, h=level * 1.08, l=level * 0.92, ll=level * 0.88)
        sensors.append(f.sensor(f"S{k}", kind, limits=limits, trend=trend, period_s=1.0))
    det = Detector(park(*sensors), T0)
    readings = clipped_noise(levels, 20_000, seed=7)
    got = []
    idx = np.arange(levels.size)
    for k in range(readings.shape[0]):
        got += det.step(Batch.of(idx, np.full(idx.size, T0 + k), readings[k]))
    assert conditions(got) == []


def test_a_generic_column_without_range_spikes_on_a_real_spike() -> None:
    det = Detector(SensorTable.from_site(generic_site(["x"], [1.0])), T0)
    rng = np.random.default_rng(8)
    values = 100.0 + rng.normal(0.0, 1.0, 400)
    values[300] += 25.0  # one reading 25 sigma off
    got = feed(det, T0 + np.arange(400.0), values)
    assert [(c.condition, c.active, c.ts) for c in got] == [
        (C.SPIKE, True, T0 + 300),
        (C.SPIKE, False, T0 + 301),
    ]


# ------------------------------------------------------------------ DRIFT of a gas detector


def zero_wander(days: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A combustible detector in clean air, every 10 s: a zero wandering +-1 %LEL over days,
    sigma 0.2 %LEL of noise, clipped at 0, shown to 0.1 %LEL."""
    rng = np.random.default_rng(seed)
    n = int(days * 8640)
    ts = T0 + 10.0 * np.arange(n)
    day = 2 * np.pi * (ts - T0) / 86400.0
    zero = 1.0 + 0.7 * np.sin(day / 1.7) + 0.3 * np.sin(day * 2.3 + 1.0)
    return ts, np.round(np.maximum(zero + rng.normal(0.0, 0.2, n), 0.0), 1)


def test_gas_zero_wander_and_a_blip_raise_no_drift_but_a_sustained_rise_does() -> None:
    det = Detector(park(gas_detector()), T0)
    ts, values = zero_wander(4.0 + 600 / 86400, seed=9)
    days = values.size - 60
    for at in range(3000, days, 7919):  # a blip of 4 %LEL for a minute about daily
        values[at : at + 6] += 4.0
    assert conditions(feed(det, ts[:days], values[:days])) == []
    # A rise of 15 % of level 1 (3.75 %LEL) held for ten minutes is a leak starting.
    got = feed(det, ts[days:], values[days:] + 3.75)
    assert conditions(got) == [C.DRIFT]
