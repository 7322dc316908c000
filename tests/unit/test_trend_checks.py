"""Early warnings and signal faults on synthetic series with a known answer."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from detectors import Detector
from detectors.state import RING_SIZE
from detectors.window import REBASE_S, samples
from hazardwatch.vocabulary.model import (
    Batch,
    Condition,
    Enterprise,
    HazardSource,
    Kind,
    Limits,
    Responsible,
    Sensor,
    SensorTable,
    Site,
    Trend,
    Unit,
)
from tests.unit.test_detectors import T0, rows, sensor, table

C = Condition
# Every check off; each test switches on what it proves.
OFF = Trend(
    rate_limit_per_min=None,
    horizon_s=None,
    drift_h_sigma=None,
    stuck_window_s=None,
    spike_rate_per_s=None,
    noise_ratio=None,
)


def with_(**kw: object) -> Trend:
    fields = {f: getattr(OFF, f) for f in Trend.__slots__}
    fields.update(kw)
    return Trend(**fields)


def run(det: Detector, series: list[tuple[float, float]], i: int = 0) -> list:
    """Feed (seconds after T0, value) one reading per step; return every change."""
    out = []
    for dt, v in series:
        out += det.step(Batch.of([i], [T0 + dt], [v]))
    return out


def of(changes: list, condition: Condition) -> list:
    return [c for c in changes if c.condition is condition]


# ------------------------------------------------------------------ slope


def test_slope_of_a_noiseless_ramp_with_irregular_timestamps_is_exact() -> None:
    det = Detector(table(sensor(trend=OFF)), T0)
    ts = np.cumsum([0.0, 1.0, 7.5, 0.5, 3.0, 12.0, 2.25, 9.0])
    run(det, [(t, 20.0 + 0.05 * t) for t in ts])
    assert det.state.slope[0] == pytest.approx(0.05, rel=1e-12)
    assert det.state.stderr[0] == pytest.approx(0.0, abs=1e-12)


def test_slope_of_a_noisy_ramp_equals_a_least_squares_fit_of_the_window() -> None:
    rng = np.random.default_rng(5)
    det = Detector(table(sensor(trend=with_(rate_window_s=300.0))), T0)
    ts = np.cumsum(rng.uniform(2.0, 15.0, 200))
    run(det, [(t, 30.0 + 0.01 * t + rng.normal(0.0, 0.3)) for t in ts])
    window = samples(det.state, 0)
    t, v = np.array(window).T
    assert t[-1] - t[0] <= 300.0 and len(window) <= RING_SIZE
    assert det.state.slope[0] == pytest.approx(np.polyfit(t - t[0], v, 1)[0], rel=1e-9)
    assert det.state.slope[0] == pytest.approx(0.01, abs=0.005)


def test_window_keeps_the_last_ring_size_samples_when_readings_come_fast() -> None:
    # A 7 s window samples every 0.9 * 7 / 64 s: each reading 0.1 s apart enters it.
    det = Detector(table(sensor(trend=with_(rate_window_s=7.0))), T0)
    run(det, [(0.1 * k, 50.0) for k in range(RING_SIZE + 10)])
    assert int(det.state.count[0]) == RING_SIZE
    assert samples(det.state, 0)[0][0] == pytest.approx(T0 + 1.0)


def test_a_fast_sensor_feeds_its_window_at_a_spacing_that_spans_the_window() -> None:
    det = Detector(table(sensor(trend=with_(rate_window_s=300.0))), T0)
    run(det, [(float(k), 50.0 + 0.01 * k) for k in range(1000)])  # 1 Hz
    t = [ts for ts, _ in samples(det.state, 0)]
    gaps = np.diff(t)
    assert t[-1] - t[0] == pytest.approx(300.0, abs=5.0) and len(t) <= RING_SIZE
    assert gaps.min() >= 0.9 * 300.0 / RING_SIZE
    assert det.state.slope[0] == pytest.approx(0.01, rel=1e-9)


@pytest.mark.parametrize("dense_from", [0.0, 2.0])
def test_full_and_filling_rings_in_one_batch_fit_their_own_windows(dense_from: float) -> None:
    rng = np.random.default_rng(8)
    trend = with_(rate_window_s=70.0)  # a sample per second enters: 0.9 * 70 / 64 < 1
    det = Detector(
        table(*(sensor(f"S{i}", trend=trend) for i in range(3))), T0, dense_from=dense_from
    )
    for k in range(RING_SIZE + 40):
        who = [0, 1] if k < RING_SIZE - 20 else [0, 1, 2]  # sensor 2 starts late
        det.step(Batch.of(who, [T0 + k] * len(who), rng.uniform(40.0, 60.0, len(who))))
    assert det.state.count.tolist() == [RING_SIZE, RING_SIZE, 60]
    for i in range(3):
        t, v = np.array(samples(det.state, i)).T
        assert det.state.slope[i] == pytest.approx(np.polyfit(t - t[0], v, 1)[0], rel=1e-9)


def test_a_gap_longer_than_the_window_empties_it_and_clears_rate() -> None:
    det = Detector(table(sensor(trend=with_(rate_limit_per_min=6.0, rate_window_s=60.0))), T0)
    got = run(det, [(k * 5.0, 40.0 + k * 1.0) for k in range(8)])  # 12 /min
    # Raised once the samples span half the 60 s window.
    assert [(c.active, c.ts) for c in of(got, C.RATE)] == [(True, T0 + 30.0)]
    got = run(det, [(1000.0, 47.0)])
    assert int(det.state.count[0]) == 1 and math.isnan(det.state.slope[0])
    assert [(c.condition, c.active) for c in got] == [(C.RATE, False)]


def test_sensor_with_no_data_yet_has_no_slope_and_is_left_alone() -> None:
    det = Detector(table(sensor(trend=with_(rate_window_s=60.0)), sensor("B", trend=OFF)), T0)
    run(det, [(k, 10.0 * k) for k in range(6)])
    assert det.state.count.tolist() == [6, 0]
    assert math.isnan(det.state.slope[1]) and det.state.base_n[1] == 0.0


def test_non_finite_and_bad_readings_stay_out_of_the_window() -> None:
    det = Detector(table(sensor(trend=with_(rate_window_s=60.0))), T0)
    run(det, [(0, 10.0), (1, math.nan), (2, math.inf), (3, 12.0)])
    det.step(Batch.of([0], [T0 + 4], [99.0], quality=[2]))
    assert [v for _, v in samples(det.state, 0)] == [10.0, 12.0]


def test_slope_stays_exact_across_origin_rebases() -> None:
    det = Detector(table(sensor(range_hi=1e6, trend=with_(rate_window_s=100.0))), T0)
    run(det, [(10.0 * k, 1000.0 + 0.25 * 10.0 * k) for k in range(int(3 * REBASE_S / 10))])
    assert det.state.slope[0] == pytest.approx(0.25, rel=1e-12)
    assert det.state.t0[0] > T0 + 2 * REBASE_S - 200.0


# ------------------------------------------------------------------ RATE


def test_rate_raises_above_its_limit_and_clears_below_eight_tenths() -> None:
    det = Detector(table(sensor(trend=with_(rate_limit_per_min=3.0, rate_window_s=30.0))), T0)
    series = [(k * 5.0, 20.0 + k * 0.25 * 5.0) for k in range(10)]  # 15 /min
    t_end, v_end = series[-1]
    series += [(t_end + k * 5.0, v_end + k * 0.2 * 5.0) for k in range(1, 10)]  # 12 /min
    series += [(t_end + 45 + k * 5.0, v_end + 9.0 + k * 0.04 * 5.0) for k in range(1, 10)]
    got = of(run(det, series), C.RATE)
    assert [c.active for c in got] == [True, False]
    assert got[0].ts == T0 + 20.0  # the fifth sample
    assert det.state.slope[0] * 60.0 < 0.8 * 3.0


def test_rate_off_when_its_limit_is_none() -> None:
    det = Detector(table(sensor(trend=OFF)), T0)
    assert of(run(det, [(k, 10.0 * k) for k in range(8)]), C.RATE) == []


# ------------------------------------------------------------------ PREDICT


def predicting(**kw: object) -> Detector:
    return Detector(table(sensor(trend=with_(horizon_s=1800.0, **kw))), T0)


def test_time_to_limit_on_a_ramp_equals_the_analytic_crossing() -> None:
    det = predicting()
    got = run(det, [(10.0 * k, 50.0 + 0.05 * 10.0 * k) for k in range(30)])
    (raised,) = of(got, C.PREDICT_HH)
    assert raised.active and raised.ts == T0 + 150.0  # the samples span half the window
    assert raised.eta_ts == pytest.approx(T0 + 800.0, abs=1e-6)  # (90 - 50) / 0.05
    assert [c.condition for c in got] == [C.PREDICT_HH]  # a steady trend: no updates


def test_predict_ll_on_a_falling_level_carries_its_eta() -> None:
    det = predicting()
    got = of(run(det, [(10.0 * k, 60.0 - 0.1 * 10.0 * k) for k in range(20)]), C.PREDICT_LL)
    assert [(c.active, c.ts) for c in got] == [(True, T0 + 150.0)]
    assert got[0].eta_ts == pytest.approx(T0 + 500.0, abs=1e-6)


def test_predict_is_reported_again_when_the_eta_moves_enough() -> None:
    det = predicting(rate_window_s=100.0)
    series = [(10.0 * k, 40.0 + 0.02 * 10.0 * k) for k in range(20)]  # eta 2500 s away
    series += [(200.0 + 10.0 * k, 44.0 + 0.05 * 10.0 * k) for k in range(1, 40)]
    got = of(run(det, series), C.PREDICT_HH)
    assert got and all(c.active and c.eta_ts is not None for c in got[:-1])
    assert len(got) >= 3, "the eta moved a lot: it must be reported again"
    for before, after in itertools.pairwise(got[:-1]):
        moved = abs(after.eta_ts - before.eta_ts)
        assert moved > max(0.1 * (after.eta_ts - after.ts), 30.0)
    assert [c.eta_ts for c in got[:-1]] == sorted([c.eta_ts for c in got[:-1]], reverse=True)


def test_predict_clears_when_the_trend_turns_and_when_the_limit_is_reached() -> None:
    det = predicting(rate_window_s=100.0)
    up = [(10.0 * k, 60.0 + 1.0 * k) for k in range(8)]
    down = [(80.0 + 10.0 * k, 67.0 - 1.0 * k) for k in range(1, 12)]
    got = of(run(det, up + down), C.PREDICT_HH)
    assert [c.active for c in got] == [True] * (len(got) - 1) + [False]
    assert got[-1].eta_ts is None and got[-1].ts > T0 + 80.0
    det = predicting(rate_window_s=100.0)
    got = run(det, [(10.0 * k, 80.0 + 1.0 * k) for k in range(12)])
    assert [(c.condition, c.active) for c in got if c.ts == T0 + 100.0] == [
        (C.HH, True),
        (C.PREDICT_HH, False),
    ]


def test_noise_never_predicts_a_crossing() -> None:
    rng = np.random.default_rng(11)
    det = predicting()
    got = run(det, [(10.0 * k, 50.0 + rng.normal(0.0, 1.0)) for k in range(600)])
    assert of(got, C.PREDICT_HH) == [] and of(got, C.PREDICT_LL) == []


def test_no_trend_before_the_window_is_filled() -> None:
    det = predicting(rate_window_s=300.0)
    got = run(det, [(10.0 * k, 50.0 + 0.5 * k) for k in range(16)])
    assert [c.ts for c in of(got, C.PREDICT_HH)] == [T0 + 150.0]  # 16 samples over 150 s
    det = predicting(rate_window_s=70.0)  # every reading 1 s apart enters the window
    got = run(det, [(1.0 * k, 50.0 + 0.05 * k) for k in range(40)])
    assert [c.ts for c in of(got, C.PREDICT_HH)] == [T0 + 31.0]  # 32 samples: filled


def test_predict_hands_over_to_the_hh_alarm_without_chattering() -> None:
    trend = with_(horizon_s=1800.0, rate_window_s=60.0)
    det = Detector(table(sensor(trend=trend, on_delay_s=30.0, limits=Limits(hh=90.0))), T0)
    ramp = [(float(k), 50.0 + 0.5 * k) for k in range(80)]  # reaches 89.5 at 79 s
    hover = [(80.0 + k, 89.5 + (k % 2)) for k in range(40)]  # 89.5 / 90.5: HH pending
    above = [(120.0 + k, 91.0) for k in range(40)]
    got = run(det, ramp + hover + above)
    predict = [(c.active, c.ts) for c in of(got, C.PREDICT_HH)]
    (hh,) = of(got, C.HH)
    raised = [ts for active, ts in predict if active]
    assert raised[0] < T0 + 80.0 and predict[-1] == (False, hh.ts)  # one warning, then HH
    assert [a for a, _ in predict].count(False) == 1


def test_predict_needs_five_samples() -> None:
    det = predicting()
    assert run(det, [(10.0 * k, 50.0 + 5.0 * k) for k in range(4)]) == []


# ------------------------------------------------------------------ DRIFT and baseline


def test_drift_on_a_slow_creep_comes_long_before_the_limit() -> None:
    rng = np.random.default_rng(2)
    trend = with_(drift_h_sigma=8.0, drift_k_sigma=0.5, baseline_warmup_n=50, horizon_s=1800.0)
    det = Detector(table(sensor(trend=trend)), T0)
    calm = [(10.0 * k, 50.0 + rng.normal(0.0, 0.2)) for k in range(60)]
    creep = [(600.0 + 10.0 * k, 50.0 + 0.02 * k + rng.normal(0.0, 0.2)) for k in range(2000)]
    got = run(det, calm + creep)
    first = got[0]
    assert (first.condition, first.active) == (C.DRIFT, True)
    assert first.value < 52.0, "drift seen in the first tenth of the way to H (80)"
    h = of(got, C.H)[0]
    assert h.ts - first.ts > 10_000.0
    # Under DRIFT the baseline follows at a slower pace than the creep: DRIFT holds to H.
    assert [c.active for c in of(got, C.DRIFT) if c.ts <= h.ts] == [True]
    assert det.state.base_mean[0] < 60.0


def test_baseline_does_not_learn_while_the_sensor_is_in_alarm() -> None:
    det = Detector(table(sensor(trend=with_(baseline_warmup_n=10, drift_h_sigma=8.0))), T0)
    run(det, [(k, 50.0 + (k % 2)) for k in range(10)])
    mean, n = det.state.base_mean[0], det.state.base_n[0]
    got = run(det, [(10 + k, 95.0) for k in range(20)])
    assert [c.condition for c in got] == [C.HH, C.H]
    assert det.state.base_mean[0] == mean and det.state.base_n[0] == n
    run(det, [(40, 50.0)])
    assert det.state.base_n[0] == n + 1


def test_a_fast_sensor_feeds_its_cusum_and_baseline_the_samples_its_window_takes() -> None:
    # 0.9 x 300 / 64 = 4.2 s: a 1 Hz sensor gives every fifth reading, so a CUSUM does not
    # add up the same noise five times over and DRIFT does not depend on the report rate.
    trend = with_(rate_window_s=300.0, drift_h_sigma=8.0, baseline_warmup_n=10)
    det = Detector(table(sensor(trend=trend)), T0)
    run(det, [(float(k), 50.0 + 0.1 * (k % 2)) for k in range(421)])
    assert det.state.base_n[0] == 85.0  # readings at 0, 5, ..., 420 s


def test_drift_clears_when_the_value_returns_and_its_cusum_resets() -> None:
    # readings 1 s apart all feed a 60 s window, and so the CUSUM and the baseline
    trend = with_(drift_h_sigma=4.0, drift_k_sigma=0.5, baseline_warmup_n=20, rate_window_s=60.0)
    det = Detector(table(sensor(trend=trend)), T0)
    run(det, [(k, 50.0 + (k % 2)) for k in range(20)])  # sigma 0.5
    got = run(det, [(20 + k, 52.0) for k in range(10)])
    assert [(c.condition, c.active) for c in got] == [(C.DRIFT, True)]
    got = run(det, [(30 + k, 50.5) for k in range(30)])
    assert got == [] and det.state.cusum[0, 0] < 2.0 * 0.5  # below h/2: the off-delay runs
    got = run(det, [(60 + k, 50.5) for k in range(300)])
    # Cleared by the first reading drift_off_delay_s (default 300) after the first that
    # wanted it cleared.
    (cleared,) = got
    assert (cleared.condition, cleared.active) == (C.DRIFT, False)
    assert T0 + 30 + 300.0 <= cleared.ts <= T0 + 60 + 300.0
    assert det.state.cusum[:, 0].tolist() == [0.0, 0.0]


def test_drift_that_returns_within_its_off_delay_never_clears() -> None:
    trend = with_(drift_h_sigma=4.0, drift_k_sigma=0.5, baseline_warmup_n=20, rate_window_s=60.0)
    det = Detector(table(sensor(trend=trend)), T0)
    run(det, [(k, 50.0 + (k % 2)) for k in range(20)])
    assert of(run(det, [(20 + k, 52.0) for k in range(10)]), C.DRIFT)
    plume = [(30 + k, 50.5 if (k // 60) % 2 else 53.0) for k in range(600)]  # 1 min on/off
    assert run(det, plume) == []


@pytest.mark.parametrize("off_delay_s", [0.0, 60.0])
def test_drift_off_delay_is_a_setting_of_each_sensor(off_delay_s: float) -> None:
    trend = with_(
        drift_h_sigma=4.0, drift_k_sigma=0.5, baseline_warmup_n=20, rate_window_s=60.0,
        drift_off_delay_s=off_delay_s,
    )  # fmt: skip
    det = Detector(table(sensor(trend=trend)), T0)
    run(det, [(k, 50.0 + (k % 2)) for k in range(20)])
    assert of(run(det, [(20 + k, 52.0) for k in range(10)]), C.DRIFT)
    got = of(run(det, [(30 + k, 50.5) for k in range(200)]), C.DRIFT)
    assert [c.active for c in got] == [False]
    wanted_clear = got[0].ts - off_delay_s  # the timer started at the first quiet reading
    assert T0 + 30 <= wanted_clear <= T0 + 60


def test_learn_teaches_the_baseline_and_raises_nothing() -> None:
    det = Detector(table(sensor(trend=with_(baseline_warmup_n=4)), sensor("B", trend=OFF)), T0)
    batch = Batch.of([0, 0, 1, 0, 0, 0], [T0 + k for k in range(6)], [1, 2, 95, 3, 4, 500.0])
    det.learn(batch)
    assert det.state.base_n.tolist() == [4.0, 1.0]  # 500 is out of range
    assert det.state.base_mean[0] == pytest.approx(2.5)
    assert det.state.base_var[0] == pytest.approx(1.25)
    assert det.state.active.tolist() == [0, 0] and det.state.last_ts[0] == -math.inf


def test_learn_weighs_every_reading_taught_alike() -> None:
    # Rows given as normal operation are all normal: a quiet start must not narrow the spread
    # (the EWMA after the warm-up kept most of the first 100 readings' sigma of 0.1).
    det = Detector(table(sensor(trend=with_(baseline_warmup_n=100))), T0)
    rng = np.random.default_rng(5)
    values = 50.0 + np.concatenate([rng.normal(0, 0.1, 100), rng.normal(0, 1.0, 900)])
    det.learn(Batch.of([0] * 1000, (T0 + np.arange(1000.0)).tolist(), values.tolist()))
    assert det.state.base_mean[0] == pytest.approx(values.mean())
    assert det.state.base_sigma[0] == pytest.approx(values.std(), rel=1e-9)


# ------------------------------------------------------------------ signal faults


def test_a_flat_value_on_a_sensor_that_normally_moves_is_stuck() -> None:
    trend = with_(stuck_window_s=60.0, baseline_warmup_n=20, resolution=0.1)
    det = Detector(table(sensor(trend=trend)), T0)
    # It moves by its last digit (0.1) at every reading, 10 s apart: still 10 s at most.
    run(det, [(10.0 * k, 50.0 + 0.1 * (k % 2)) for k in range(30)])
    # Then frozen: still since 300 s, STUCK after 60 s (more than 3 x 10 s).
    got = run(det, [(300.0 + 10.0 * k, 52.0) for k in range(8)])
    assert [(c.condition, c.active, c.ts) for c in got] == [(C.STUCK, True, T0 + 360.0)]
    got = run(det, [(400.0, 52.1)])
    assert [(c.condition, c.active) for c in got] == [(C.STUCK, False)]


def test_a_sensor_that_never_moves_is_never_stuck() -> None:
    det = Detector(table(sensor(trend=with_(stuck_window_s=60.0, baseline_warmup_n=20))), T0)
    assert run(det, [(10.0 * k, 50.0) for k in range(200)]) == []


def test_a_spike_is_an_instrument_fault_not_a_process_alarm() -> None:
    # With an on-delay (every process kind has one by default), the filter against single
    # readings: the limits judge the spike, the delay keeps it from alarming.
    trend = with_(spike_rate_per_s=1.0, baseline_warmup_n=5, rate_window_s=60.0)
    det = Detector(table(sensor(trend=trend, on_delay_s=10.0)), T0)
    run(det, [(k, 50.0) for k in range(40)])  # its noise is learned from 34 readings
    got = run(det, [(40, 99.0), (41, 50.0)])
    assert rows(got) == [(0, C.SPIKE, True, 99.0, T0 + 40), (0, C.SPIKE, False, 50.0, T0 + 41)]
    assert det.state.last_value[0] == 50.0 and det.state.base_n[0] == 41.0  # 99 not learned


def test_a_jump_the_next_reading_confirms_is_an_instrument_step() -> None:
    det = Detector(table(sensor(trend=with_(spike_rate_per_s=1.0))), T0)
    run(det, [(k, 50.0) for k in range(40)])
    got = run(det, [(40, 95.0), (41, 95.5)])
    # The limits judge the jump and the shifted reading: a fault never hides a limit (and
    # without an on-delay nothing filters the first reading).
    assert [(c.condition, c.active, c.ts) for c in got] == [
        (C.HH, True, T0 + 40),
        (C.H, True, T0 + 40),
        (C.SPIKE, True, T0 + 40),
        (C.SPIKE, False, T0 + 41),
        (C.STEP, True, T0 + 41),
    ]


def test_a_bias_step_restarts_the_trend_memory_instead_of_predicting_hh() -> None:
    trend = with_(
        spike_rate_per_s=0.05, rate_limit_per_min=1.0, horizon_s=1800.0, rate_window_s=60.0,
        drift_h_sigma=8.0, drift_k_sigma=1.0, baseline_warmup_n=20,
    )  # fmt: skip
    det = Detector(table(sensor(trend=trend)), T0)
    rng = np.random.default_rng(3)
    run(det, [(k, 40.0 + rng.normal(0.0, 0.05)) for k in range(100)])
    mean_before = det.state.base_mean[0]
    got = run(det, [(100 + k, 45.0 + rng.normal(0.0, 0.05)) for k in range(100)])
    # Without the restart the 5-unit jump is a slope of ~5/min in a 60 s window: RATE and
    # PREDICT_HH. As a step it is an instrument fault only, cleared once the window refilled.
    assert [(c.condition, c.active, c.ts) for c in got] == [
        (C.SPIKE, True, T0 + 100),
        (C.SPIKE, False, T0 + 101),
        (C.STEP, True, T0 + 101),
        (C.STEP, False, T0 + 131),
    ]
    assert det.state.base_mean[0] - mean_before == pytest.approx(5.0, abs=0.3)
    assert samples(det.state, 0)[0][0] >= T0 + 101  # nothing from before the step


def test_a_noisy_sensor_still_reaches_its_limit_by_its_smoothed_value() -> None:
    trend = with_(noise_ratio=5.0, baseline_warmup_n=30, rate_window_s=60.0)
    det = Detector(table(sensor(trend=trend, limits=Limits(hh=90.0, h=80.0))), T0)
    run(det, [(k, 50.0 + 0.2 * (k % 2)) for k in range(40)])  # its noise learned
    got = run(det, [(40 + k, 85.0 + 8.0 * (-1) ** k) for k in range(30)])
    assert [(c.condition, c.active) for c in got][:2] == [(C.NOISY, True), (C.H, True)]
    assert of(got, C.HH) == []  # its single readings of 93 are noise, not the level
    assert det.state.smooth[0] == pytest.approx(85.0, abs=2.0)


def test_one_wild_reading_cannot_raise_drift_but_a_sustained_shift_does() -> None:
    trend = with_(drift_h_sigma=8.0, drift_k_sigma=1.0, baseline_warmup_n=50, rate_window_s=60.0)
    det = Detector(table(sensor(trend=trend, limits=Limits())), T0)
    rng = np.random.default_rng(4)
    run(det, [(k, 50.0 + rng.normal(0.0, 1.0)) for k in range(50)])
    assert of(run(det, [(50, 70.0), (51, 50.0)]), C.DRIFT) == []  # 20 sigma, once
    got = run(det, [(52 + k, 54.0) for k in range(12)])  # 4 sigma, clipped to 2.5
    assert [(c.condition, c.active) for c in got] == [(C.DRIFT, True)]
    assert got[0].ts >= T0 + 52 + 5  # (2.5 - 1) sigma per reading: six readings for 8


def test_a_noise_burst_raises_noisy_and_clears_when_calm() -> None:
    trend = with_(noise_ratio=5.0, baseline_warmup_n=30, rate_window_s=60.0)
    det = Detector(table(sensor(trend=trend)), T0)
    run(det, [(k, 50.0 + 0.2 * (k % 2)) for k in range(40)])  # its noise learned
    got = run(det, [(40 + k, 45.0 + 40.0 * (k % 2)) for k in range(10)])  # 85 would be H
    assert [(c.condition, c.active) for c in got] == [(C.NOISY, True)]
    # A quiet moment inside the burst does not end it; the noise estimate decays slowly.
    assert run(det, [(50 + k, 50.0 + 0.2 * (k % 2)) for k in range(10)]) == []
    got = run(det, [(60 + k, 50.0 + 0.2 * (k % 2)) for k in range(150)])
    assert [(c.condition, c.active) for c in got] == [(C.NOISY, False)]


def test_a_steady_ramp_is_not_noise() -> None:
    det = Detector(table(sensor(trend=with_(noise_ratio=2.0, baseline_warmup_n=10))), T0)
    run(det, [(k, 50.0 + 0.1 * (k % 2)) for k in range(40)])
    got = run(det, [(40 + k, 50.0 + 1.0 * k) for k in range(40)])
    assert of(got, C.NOISY) == [] and of(got, C.H)  # the ramp reaches H and is used
    assert det.state.noise[0] < 0.1


# ------------------------------------------------------------------ cross-sensor


def site_table(units: list[tuple[Sensor, ...]], areas: dict[str, int] | None = None) -> SensorTable:
    us = tuple(Unit(f"T{k}", "tank", "crude", 1000.0, True, "gw1", s) for k, s in enumerate(units))
    source = HazardSource("hs1", "farm", 2, Responsible("a", "b", "c"), us)
    return SensorTable.from_site(
        Site("park", "hw", (Enterprise("e1", "E1", (source,)),), areas=areas or {})
    )


def gas(tag: str, area: str) -> Sensor:
    return sensor(tag, Kind.GAS_COMBUSTIBLE, Limits(hh=50.0, h=25.0), trend=OFF, area=area)


def test_k_of_n_area_vote_raises_area_gas_on_the_anchor() -> None:
    tab = site_table(
        [(sensor("LT-1", trend=OFF),), (gas("AT-1", "A1"), gas("AT-2", "A1"), gas("AT-3", "A1"))],
        {"A1": 2},
    )
    det = Detector(tab, T0)
    assert rows(det.step(Batch.of([2], [T0], [30.0]))) == [(2, C.GAS1, True, 30.0, T0)]
    got = rows(det.step(Batch.of([3, 0], [T0 + 1, T0 + 1], [60.0, 50.0])))
    assert got == [
        (1, C.AREA_GAS, True, 2.0, T0 + 1),  # the anchor: lowest index of the area
        (3, C.GAS2, True, 60.0, T0 + 1),
        (3, C.GAS1, True, 60.0, T0 + 1),
    ]
    got = rows(det.step(Batch.of([1], [T0 + 2], [26.0])))  # a third vote: no change
    assert got == [(1, C.GAS1, True, 26.0, T0 + 2)]
    det.step(Batch.of([2], [T0 + 3], [0.0]))
    got = rows(det.step(Batch.of([3], [T0 + 4], [0.0])))
    assert (1, C.AREA_GAS, False, 1.0, T0 + 4) in got


def test_co_rise_comes_before_either_sensor_reaches_h() -> None:
    temp = sensor("TT-1", Kind.TEMPERATURE, trend=with_(rate_limit_per_min=1.0))
    press = sensor(
        "PT-1",
        Kind.PRESSURE,
        Limits(hh=900.0, h=800.0),
        range_hi=1000.0,
        trend=with_(rate_limit_per_min=10.0),
    )
    det = Detector(site_table([(temp, press)]), T0)
    got = []
    for k in range(500):  # 0.6 degC/min and 6 kPa/min: 0.6 of each RATE limit
        got += det.step(Batch.of([0, 1], [T0 + 10.0 * k] * 2, [40.0 + 0.1 * k, 400.0 + k]))
    first = got[0]
    assert (first.sensor, first.condition, first.active, first.ts) == (
        1,
        C.CO_RISE,
        True,
        T0 + 150.0,  # once both windows span half their 300 s
    )
    assert of(got, C.RATE) == []
    assert min(c.ts for c in got if c.condition in (C.H, C.HH)) > first.ts + 3000.0
