"""The vectorised detector: each check and each rule on a known timeline."""

from __future__ import annotations

import doctest
import importlib
import inspect
import math

import numpy as np
import pytest

import detectors
from detectors import CHECKS, DECISIONS, Detector
from detectors.checks import SENSOR_CHECKS
from detectors.decide import SENSOR_DECISIONS
from hazardwatch.vocabulary.model import (
    Batch,
    Condition,
    ConditionChange,
    Enterprise,
    HazardSource,
    HazardWatchError,
    Kind,
    Limits,
    Quality,
    Responsible,
    Sensor,
    SensorTable,
    Severity,
    Site,
    Trend,
    Unit,
)

T0 = 1_763_800_000.0
HH, H, L, LL = Condition.HH, Condition.H, Condition.L, Condition.LL
GAS1, GAS2 = Condition.GAS1, Condition.GAS2
OOR, BAD, COMM = Condition.OUT_OF_RANGE, Condition.BAD_QUALITY, Condition.COMM_LOSS


def sensor(
    tag: str = "LT-1",
    kind: Kind = Kind.LEVEL,
    limits: Limits | None = None,
    *,
    range_lo: float = 0.0,
    range_hi: float = 100.0,
    deadband: float = 2.0,
    on_delay_s: float = 0.0,
    off_delay_s: float = 0.0,
    period_s: float = 10.0,
    stale_periods: float = 3.0,
    trend: Trend | None = None,
    area: str | None = None,
) -> Sensor:
    return Sensor(
        tag=tag,
        kind=kind,
        unit="%LEL" if kind.is_gas else "m",
        range_lo=range_lo,
        range_hi=range_hi,
        limits=limits if limits is not None else Limits(hh=90.0, h=80.0, l=20.0, ll=10.0),
        deadband=deadband,
        on_delay_s=on_delay_s,
        off_delay_s=off_delay_s,
        period_s=period_s,
        stale_periods=stale_periods,
        latch=False,
        trend=trend if trend is not None else Trend(),
        area=area,
    )


def table(*sensors: Sensor, gateways: tuple[str, ...] | None = None) -> SensorTable:
    """A one-enterprise site with one tank per sensor (gateway per tank as given)."""
    gws = gateways or ("gw1",) * len(sensors)
    units = tuple(
        Unit(f"T{i}", "tank", "crude", 1000.0, False, gw, (s,))
        for i, (s, gw) in enumerate(zip(sensors, gws, strict=True))
    )
    source = HazardSource("hs1", "Tank farm 1", 2, Responsible("a", "b", "c"), units)
    return SensorTable.from_site(Site("park", "hw", (Enterprise("e1", "E1", (source,)),)))


def rows(changes: list[ConditionChange]) -> list[tuple]:
    """Changes as comparable tuples (NaN values become None)."""
    return [
        (c.sensor, c.condition, c.active, None if math.isnan(c.value) else c.value, c.ts)
        for c in changes
    ]


def feed(det: Detector, sensor_ix: int, timeline: list[tuple[float, float]]) -> list[tuple]:
    """One reading per step at (seconds after T0, value); all changes, as rows."""
    out = []
    for dt, v in timeline:
        out += rows(det.step(Batch.of([sensor_ix], [T0 + dt], [v])))
    return out


# ------------------------------------------------------------------ the checks


def test_docstring_examples_pass() -> None:
    names = [
        "checks.limits",
        "checks.instrument",
        "checks.stale",
        "checks.trend",
        "checks.baseline",
        "checks.faults",
        "checks.groups",
        "decide",
        "state",
        "step",
    ]
    modules = [importlib.import_module(f"detectors.{n}") for n in names]
    for module in modules:
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, module.__name__
    assert sum(doctest.testmod(m).attempted for m in modules) >= 8


SAMPLES = {
    "value": np.array([-1.0, 0.0, 50.0, 80.0, np.nan, np.inf, -np.inf, 100.6]),
    "threshold": np.array([80.0, np.nan, 50.0, 80.0, 80.0, 80.0, 0.0, 100.0]),
    "limit": np.array([80.0, np.nan, 50.0, 80.0, 80.0, 80.0, 0.0, 100.0]),
    "deadband": np.array([2.0, 2.0, np.nan, 0.0, 1.0, 1.0, 1.0, 1.0]),
    "active": np.array([True, False, True, True, False, True, False, True]),
    "want": np.array([False, False, True, True, True, False, False, True]),
    "pending_since": np.array([np.nan, 10.0, np.nan, 5.0, np.nan, 0.0, np.nan, 1.0]),
    "ts": np.array([10.0, 20.0, 30.0, 40.0, np.nan, 60.0, 70.0, 80.0]),
    "on_delay_s": np.array([0.0, 15.0, 60.0, np.nan, 0.0, 0.0, 5.0, 5.0]),
    "off_delay_s": np.array([0.0, 15.0, 60.0, 0.0, np.nan, 0.0, 5.0, 5.0]),
    "range_lo": np.array([0.0, 0.0, np.nan, 0.0, 0.0, 0.0, 0.0, 0.0]),
    "range_hi": np.array([100.0, 100.0, 100.0, np.nan, 100.0, 100.0, 100.0, 100.0]),
    "quality": np.array([0, 1, 2, 0, 1, 2, 0, 3], dtype=np.uint8),
    "now": 100.0,
    "last_seen": np.array([0.0, 90.0, np.nan, 50.0, 100.0, -np.inf, 69.0, 71.0]),
    "stale_after_s": np.array([30.0, 30.0, 30.0, np.nan, 0.0, 30.0, 30.0, 30.0]),
    # Trend, baseline and signal-fault checks: edge cases in every column.
    "count": np.array([0, 1, 2, 3, 5, 64, 5, 10]),
    "n": np.array([0.0, 1.0, 2.0, 3.0, 5.0, 64.0, 5.0, 10.0]),
    "sum_x": np.array([0.0, 1.0, 3.0, 6.0, np.nan, np.inf, 10.0, 45.0]),
    "sum_y": np.array([0.0, 2.0, 1.0, -3.0, 5.0, 1.0, np.inf, 4.5]),
    "sum_xx": np.array([0.0, 1.0, 5.0, 14.0, 30.0, np.inf, 20.0, 285.0]),
    "sum_xy": np.array([0.0, 2.0, 2.0, -9.0, 10.0, 1.0, np.nan, 28.5]),
    "sum_yy": np.array([0.0, 4.0, 0.5, 9.0, 5.0, 0.0, 1.0, 2.85]),
    "x_now": np.array([0.0, 1.0, 2.0, np.nan, 4.0, np.inf, 4.0, 9.0]),
    "slope": np.array([0.5, -0.5, 0.0, np.nan, np.inf, -np.inf, 1e-300, 2.0]),
    "stderr": np.array([0.1, np.nan, 0.0, 1.0, np.inf, 0.0, 0.0, 0.5]),
    "slope_per_min": np.array([1.0, -2.0, 0.0, np.nan, np.inf, 0.5, 1.0, 3.0]),
    "stderr_per_min": np.array([0.1, np.nan, 0.0, 1.0, np.inf, 0.0, 0.0, 0.5]),
    "rate_limit_per_min": np.array([0.5, 1.0, np.nan, 1.0, 1.0, 0.0, 1.0, 3.0]),
    "significant": np.array([True, True, False, True, False, True, True, False]),
    "oldest_ts": np.array([0.0, np.nan, 10.0, 100.0, np.inf, 5.0, 0.0, 1.0]),
    "window_s": np.array([300.0, 300.0, np.nan, 0.0, 300.0, 10.0, np.inf, 1.0]),
    "seconds_to_limit": np.array([10.0, np.inf, np.nan, 0.0, 2000.0, 100.0, 1.0, 5.0]),
    "horizon_s": np.array([1800.0, 1800.0, 1800.0, np.nan, 1800.0, 0.0, 60.0, 1.0]),
    "eta_ts": np.array([100.0, np.nan, np.inf, 50.0, 0.0, 1e12, 70.0, 80.0]),
    "reported_eta_ts": np.array([np.nan, 100.0, np.inf, 10.0, 0.0, 1.0, 69.0, 80.0]),
    "var": np.array([1.0, 0.0, np.nan, -1e-18, np.inf, 4.0, 1e-12, 2.0]),
    "sigma_floor": np.array([0.1, 0.1, 0.0, 0.0, 0.1, np.nan, 0.0, 0.1]),
    "mean": np.array([50.0, 0.0, np.nan, 10.0, np.inf, 0.0, 1.0, 80.0]),
    "base_n": np.array([0.0, 1.0, 99.0, 100.0, 5.0, 1e6, 0.0, 200.0]),
    "warmup_n": np.array([100.0, 100.0, 100.0, 100.0, 1.0, 10.0, np.nan, 100.0]),
    "alpha": np.array([0.001, 0.01, 0.5, np.nan, 1.0, 0.0, 0.1, 0.001]),
    "sigma": np.array([1.0, 0.0, np.nan, 2.0, np.inf, 0.1, 1.0, 0.5]),
    "k_sigma": np.array([0.5, 0.5, 0.5, np.nan, 0.5, 0.0, 1.0, 0.5]),
    "h_sigma": np.array([8.0, 8.0, np.nan, 8.0, 8.0, 0.0, 4.0, 8.0]),
    "cusum_hi": np.array([0.0, 1.0, 2.0, np.nan, np.inf, 0.0, 3.0, 10.0]),
    "cusum_lo": np.array([0.0, 0.0, 1.0, 2.0, 0.0, np.nan, 3.0, 10.0]),
    "ref_value": np.array([50.0, np.nan, 0.0, 80.0, np.inf, 1.0, 70.0, 99.0]),
    "ref_ts": np.array([9.0, np.nan, 30.0, 40.0, 49.0, np.inf, 69.0, 79.0]),
    "prev_value": np.array([50.0, 0.0, np.nan, 80.0, 1.0, 1.0, 70.0, 99.0]),
    "prev_ts": np.array([9.0, 19.0, np.nan, 40.0, 49.0, 59.0, 70.0, 79.0]),
    "spike_rate_per_s": np.array([1.0, np.nan, 1.0, 0.0, 1.0, 1.0, 1.0, np.inf]),
    "v1": np.array([1.0, np.nan, 2.0, 80.0, np.inf, 1.0, 70.0, 99.0]),
    "t1": np.array([9.0, 19.0, 30.0, 39.0, 49.0, 59.0, 69.0, 79.0]),
    "v2": np.array([0.0, 0.0, np.nan, 79.0, 1.0, -np.inf, 70.0, 98.0]),
    "t2": np.array([8.0, 18.0, 29.0, 39.0, 48.0, 58.0, 68.0, np.nan]),
    "noise": np.array([np.nan, 1.0, 0.0, np.inf, 2.0, 0.5, 1.0, 0.1]),
    "prev_spiked": np.array([True, True, False, True, True, False, True, True]),
    "smooth": np.array([np.nan, 0.0, 50.0, np.inf, 1.0, 2.0, -1.0, 80.0]),
    "second_diff": np.array([1.0, np.nan, 0.0, 1.0, np.inf, 0.5, np.nan, 0.2]),
    "anchor_value": np.array([np.nan, 0.0, 50.0, 80.0, 1.0, np.inf, 70.0, 100.0]),
    "anchor_ts": np.array([np.nan, 0.0, 10.0, 20.0, 30.0, 40.0, -np.inf, 70.0]),
    "resolution": np.array([0.0, 0.1, np.nan, 0.5, 1.0, 0.0, 0.1, 1.0]),
    "stuck_window_s": np.array([900.0, np.nan, 10.0, 0.0, 900.0, 1.0, 1.0, 5.0]),
    "allowance": np.array([0.6, np.nan, 0.0, 1.0, np.inf, 6.0, 0.5, 0.1]),
    "noise_level": np.array([np.nan, 0.2, 0.0, 1.0, np.inf, 0.01, 0.3, 0.05]),
    "learn_n": np.array([0.0, 31.0, 32.0, 100.0, np.nan, 1e6, 1.0, 40.0]),
    "seen_res": np.array([np.inf, 0.1, 0.0, np.nan, 1.0, 0.5, 0.01, 0.001]),
    "usual_rate": np.array([np.nan, 0.1, 0.0, 1.0, np.inf, 0.5, 2.0, 0.3]),
    "level": np.array([np.nan, 1.0, 0.0, 2.0, np.inf, 0.5, 1.0, 0.2]),
    "x": np.array([1.0, 100.0, 0.0, np.nan, 2.0, np.inf, 0.5, 0.2]),
    "floor": np.array([0.0, 0.0, 0.5, 1.0, np.nan, 0.1, 0.0, np.inf]),
    "still_max": np.array([0.0, 60.0, 600.0, np.nan, np.inf, 5.0, 1e6, 30.0]),
    "moves": np.array([0.0, 20.0, 19.0, 50.0, np.nan, 1e6, 20.0, 100.0]),
    "still_s": np.array([1000.0, 900.0, 0.0, np.nan, np.inf, 1e7, 5.0, 30.0]),
    "anchor_pace": np.array([0.0, 0.01, -0.01, np.nan, np.inf, 0.0, 1e-9, 0.5]),
    "most": np.array([0.0, 60.0, 600.0, np.nan, np.inf, 5.0, 1e6, 30.0]),
    "pace": np.array([0.0, 0.01, -0.01, np.nan, np.inf, 0.0, 1e-9, 0.5]),
    "step": np.array([0.1, 3.0, 0.0, np.nan, np.inf, 0.2, 1e-9, 0.5]),
    "pace_max": np.array([0.0, 2.0, 50.0, np.nan, np.inf, 0.0, 1e6, 3.0]),
    "step_max": np.array([0.0, 48.0, 10.0, np.nan, np.inf, 5.0, 1e6, 3.0]),
    "step_ts": np.array([-np.inf, 0.0, 5.0, np.nan, np.inf, -1e6, 1e9, 3.0]),
    "jump": np.array([48.0, -60.0, 0.0, np.nan, np.inf, -1.0, 1e6, 3.0]),
    "remembered": np.array([48.0, 48.0, 0.0, 1.0, np.nan, np.inf, 1e6, 2.0]),
    "healthy": np.array([True, False, False, True, False, True, False, True]),
    "was_stuck": np.array([False, True, True, False, True, False, True, True]),
    "stuck_below": np.array([-np.inf, 5.0, 0.0, -np.inf, 1.0, np.nan, -np.inf, 120.0]),
    "zero_band": np.array([-np.inf, 5.0, 0.0, -np.inf, 1.0, np.nan, 2.5, 120.0]),
    "drift_floor": np.array([0.0, 2.5, 0.0, np.nan, 1.0, 0.0, np.inf, 0.5]),
    "ref_gap_s": np.array([1.0, np.nan, 0.0, 79.0, np.inf, 8.0, -1.0, 3.0]),
    "prev_gap_s": np.array([1.0, 2.0, np.nan, 79.0, 0.0, np.inf, 8.0, -1.0]),
    "gap_s": np.array([79.0, 5.0, 0.0, np.nan, np.inf, -1.0, 1e6, 8.0]),
    "scan_s": np.array([2.0, 2.0, np.inf, 1.0, 3.0, 0.0, np.nan, 2.0]),
    "comm_lost": np.array([False, True, False, False, True, False, False, True]),
    "provisional": np.array([np.nan, 0.5, 0.1, 0.0, np.inf, np.nan, 1.0, 0.1]),
    "drift_seen": np.array([0.0, 10.0, 0.0, np.nan, np.inf, 4.0, 1.0, 20.0]),
    "area": np.array([0, 0, -1, 1, 2, -1, 1, 0]),
    "alarmed": np.array([True, False, True, True, True, False, True, True]),
    "slope_t": np.array([1.0, np.nan, 0.0, 2.0, np.inf, -1.0, 1.0, 3.0]),
    "slope_p": np.array([1.0, 1.0, 1.0, np.nan, 1.0, 1.0, -1.0, 3.0]),
    "threshold_t": np.array([0.5, 0.5, 0.0, 0.5, 0.5, np.nan, 0.5, 1.0]),
    "threshold_p": np.array([0.5, 0.5, 0.5, 0.5, np.nan, 0.5, 0.5, 1.0]),
    "target": np.array([-2.0, np.nan, 40.0, 90.0, 1.0, 5.0, 0.0, 100.0]),
    "direction": np.array([1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0]),
    "tolerance": np.array([0.5, 0.1, 0.0, 1.0, 0.2, np.nan, 1.0, 0.5]),
    "was": np.array([False, True, False, True, False, True, False, True]),
    "temperature": np.array([31.0, np.nan, 20.0, 40.0, np.inf, 30.5, -5.0, 35.0]),
    "status": np.array([0.0, 0.0, np.nan, 20.0, 0.0, 0.5, 1.0, -np.inf]),
    "start_above": np.array([30.5, 30.5, 30.5, np.nan, 30.5, 30.5, -10.0, 30.0]),
    "running_above": np.array([0.5, 0.5, 0.5, 0.5, np.nan, 0.5, 0.5, 0.5]),
}


@pytest.mark.parametrize("fn", CHECKS + DECISIONS, ids=lambda f: f.__name__)
def test_every_check_keeps_shape_and_never_mutates(fn) -> None:
    names = [p.name for p in inspect.signature(fn).parameters.values() if p.default is p.empty]
    missing = [n for n in names if n not in SAMPLES]
    assert not missing, f"add sample arrays for {missing} to SAMPLES"
    args = {
        n: np.copy(SAMPLES[n]) if isinstance(SAMPLES[n], np.ndarray) else SAMPLES[n] for n in names
    }
    with np.errstate(all="raise"):
        result = fn(**args)
    outputs = result if isinstance(result, tuple) else (result,)
    for out in outputs:
        assert isinstance(out, np.ndarray)
        assert out.shape == SAMPLES["value"].shape
        assert out.dtype in (np.bool_, np.float64)
    for n in names:
        np.testing.assert_array_equal(args[n], SAMPLES[n])
    assert fn.__doc__ and ">>>" in fn.__doc__


@pytest.mark.parametrize("fn", SENSOR_CHECKS + SENSOR_DECISIONS, ids=lambda f: f.__name__)
def test_every_sensor_check_compiles_to_what_python_computes(fn) -> None:
    """The per-sensor checks run compiled (numba) in the sampling loop: on every edge case
    (NaN, inf, zero counts) the machine code answers what the same function answers in
    Python, bit for bit, and never raises."""
    names = list(inspect.signature(fn.py_func).parameters)
    missing = [n for n in names if n not in SAMPLES]
    assert not missing, f"add sample arrays for {missing} to SAMPLES"
    for k in range(SAMPLES["value"].size):
        args = [SAMPLES[n][k].item() for n in names]
        got = fn(*args)
        with np.errstate(all="ignore"):
            want = fn.py_func(*(np.float64(a) if isinstance(a, float) else a for a in args))
        got, want = (got, want) if isinstance(got, tuple) else ((got,), (want,))
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert isinstance(g, bool | float)
            assert g == w or (math.isnan(g) and math.isnan(w)), (fn.__name__, k, args, got, want)
    assert fn.__doc__ and ">>>" in fn.__doc__


def test_limit_checks_known_answers() -> None:
    v = np.array([79.99, 80.0, 80.01])
    assert detectors.checks.at_or_above(v, np.full(3, 80.0)).tolist() == [False, True, True]
    assert detectors.checks.at_or_below(v, np.full(3, 80.0)).tolist() == [True, True, False]


def test_out_of_range_allows_half_a_percent_of_span() -> None:
    lo, hi = np.full(4, 0.0), np.full(4, 200.0)  # tolerance = 1.0
    v = np.array([-1.0, -1.01, 201.0, 201.01])
    assert detectors.checks.out_of_range(v, lo, hi).tolist() == [False, True, False, True]


def test_stale_known_answer() -> None:
    got = detectors.checks.is_stale(100.0, np.array([70.0, 69.9]), np.array([30.0, 30.0]))
    assert got.tolist() == [False, True]


# ------------------------------------------------------------------ limits and hysteresis


def test_each_limit_raises_its_condition_with_severity() -> None:
    det = Detector(table(sensor(), sensor("LT-2"), sensor("LT-3"), sensor("LT-4")), T0)
    changes = det.step(Batch.of([0, 1, 2, 3], [T0] * 4, [85.0, 95.0, 15.0, 5.0]))
    assert rows(changes) == [
        (0, H, True, 85.0, T0),
        (1, HH, True, 95.0, T0),
        (1, H, True, 95.0, T0),
        (2, L, True, 15.0, T0),
        (3, L, True, 5.0, T0),
        (3, LL, True, 5.0, T0),
    ]
    assert [c.severity for c in changes[:2]] == [Severity.MEDIUM, Severity.HIGH]


def test_reaching_the_limit_raises_and_clearing_needs_the_deadband() -> None:
    det = Detector(table(sensor(deadband=2.0)), T0)
    got = feed(det, 0, [(0, 80.0), (1, 78.0), (2, 77.99)])
    assert got == [(0, H, True, 80.0, T0), (0, H, False, 77.99, T0 + 2)]


def test_low_limit_mirrors_high() -> None:
    det = Detector(table(sensor(deadband=2.0)), T0)
    got = feed(det, 0, [(0, 20.0), (1, 22.0), (2, 22.01)])
    assert got == [(0, L, True, 20.0, T0), (0, L, False, 22.01, T0 + 2)]


def test_noise_of_half_a_deadband_around_a_limit_gives_exactly_one_alarm() -> None:
    rng = np.random.default_rng(7)
    det = Detector(table(sensor(deadband=2.0)), T0)
    noise = rng.uniform(-1.0, 1.0, 500)
    got = feed(det, 0, [(i, 80.0 + x) for i, x in enumerate(noise)])
    assert [(s, c, a) for s, c, a, _, _ in got] == [(0, H, True)]


def test_unconfigured_limit_never_triggers() -> None:
    det = Detector(table(sensor(limits=Limits(hh=None, h=80.0))), T0)
    assert [c.condition for c in det.step(Batch.of([0], [T0], [99.0]))] == [H]
    assert det.step(Batch.of([0], [T0 + 1], [0.0])) == [
        ConditionChange(0, H, False, 0.0, T0 + 1, Severity.MEDIUM)
    ]


def test_gas_detector_raises_first_and_second_level_at_once_and_no_low() -> None:
    gas = sensor("AT-1", Kind.GAS_COMBUSTIBLE, Limits(hh=50.0, h=25.0, l=5.0, ll=1.0), deadband=1.0)
    det = Detector(table(gas), T0)
    assert feed(det, 0, [(0, 25.0), (1, 60.0), (2, 0.0)]) == [
        (0, GAS1, True, 25.0, T0),
        (0, GAS2, True, 60.0, T0 + 1),
        (0, GAS2, False, 0.0, T0 + 2),
        (0, GAS1, False, 0.0, T0 + 2),
    ]


# ------------------------------------------------------------------ delays


def test_on_delay_excursion_shorter_than_delay_raises_nothing() -> None:
    det = Detector(table(sensor(on_delay_s=60.0)), T0)
    assert feed(det, 0, [(0, 85.0), (30, 85.0), (59, 85.0), (60, 70.0), (70, 85.0)]) == []


def test_on_delay_excursion_as_long_as_delay_raises_once() -> None:
    det = Detector(table(sensor(on_delay_s=60.0)), T0)
    got = feed(det, 0, [(0, 85.0), (30, 85.0), (60, 86.0), (90, 85.0)])
    assert got == [(0, H, True, 86.0, T0 + 60)]


def test_off_delay_keeps_the_condition_until_normal_long_enough() -> None:
    det = Detector(table(sensor(off_delay_s=30.0)), T0)
    got = feed(det, 0, [(0, 85.0), (10, 50.0), (20, 85.0), (30, 50.0), (59, 50.0), (60, 50.0)])
    assert got == [(0, H, True, 85.0, T0), (0, H, False, 50.0, T0 + 60)]


# ------------------------------------------------------------------ instrument faults


def test_out_of_range_is_a_fault_not_a_process_alarm() -> None:
    det = Detector(table(sensor()), T0)
    assert feed(det, 0, [(0, 150.0), (1, 100.5), (2, 150.0), (3, 50.0)]) == [
        (0, OOR, True, 150.0, T0),
        (0, HH, True, 100.5, T0 + 1),
        (0, H, True, 100.5, T0 + 1),
        (0, OOR, False, 100.5, T0 + 1),
        (0, OOR, True, 150.0, T0 + 2),
        (0, HH, False, 50.0, T0 + 3),
        (0, H, False, 50.0, T0 + 3),
        (0, OOR, False, 50.0, T0 + 3),
    ]


def test_out_of_range_reading_keeps_process_state_and_timers() -> None:
    det = Detector(table(sensor(on_delay_s=20.0)), T0)
    got = feed(det, 0, [(0, 85.0), (10, -50.0), (20, 85.0)])
    assert got == [
        (0, OOR, True, -50.0, T0 + 10),
        (0, H, True, 85.0, T0 + 20),
        (0, OOR, False, 85.0, T0 + 20),
    ]


def test_non_finite_value_is_out_of_range_and_never_raises() -> None:
    det = Detector(table(sensor()), T0)
    got = feed(det, 0, [(0, math.nan), (1, math.inf)])
    assert got == [(0, OOR, True, None, T0)]


def test_bad_quality_is_a_fault_and_uncertain_is_used() -> None:
    det = Detector(table(sensor()), T0)
    b = Batch.of([0], [T0], [95.0], quality=[Quality.BAD])
    assert rows(det.step(b)) == [(0, BAD, True, 95.0, T0)]
    b = Batch.of([0], [T0 + 1], [85.0], quality=[Quality.UNCERTAIN])
    assert rows(det.step(b)) == [(0, H, True, 85.0, T0 + 1), (0, BAD, False, 85.0, T0 + 1)]


def test_bad_reading_keeps_out_of_range_until_a_real_measurement() -> None:
    det = Detector(table(sensor()), T0)
    det.step(Batch.of([0], [T0], [500.0]))
    assert det.step(Batch.of([0], [T0 + 1], [50.0], quality=[Quality.BAD])) == [
        ConditionChange(0, BAD, True, 50.0, T0 + 1, Severity.LOW)
    ]
    assert [(c.condition, c.active) for c in det.step(Batch.of([0], [T0 + 2], [50.0]))] == [
        (OOR, False),
        (BAD, False),
    ]


# ------------------------------------------------------------------ silence


def test_stale_raises_after_stale_after_s_and_next_reading_clears() -> None:
    det = Detector(table(sensor(period_s=10.0, stale_periods=3.0)), T0)
    assert det.check_stale(T0 + 30.0) == []
    assert rows(det.check_stale(T0 + 30.5)) == [(0, COMM, True, None, T0 + 30.5)]
    assert det.check_stale(T0 + 60.0) == []  # already active: no repeat
    b = Batch.of([0], [T0 + 61], [50.0], quality=[Quality.BAD])
    assert rows(det.step(b)) == [(0, BAD, True, 50.0, T0 + 61), (0, COMM, False, 50.0, T0 + 61)]
    assert det.check_stale(T0 + 91.0) == []
    assert [c.condition for c in det.check_stale(T0 + 91.5)] == [COMM]


def test_reading_older_than_start_does_not_age_the_sensor() -> None:
    det = Detector(table(sensor(period_s=10.0, stale_periods=3.0)), T0)
    det.step(Batch.of([0], [T0 - 20.0], [50.0]))  # buffered in a gateway before we started
    assert det.check_stale(T0 + 30.0) == []
    assert [c.condition for c in det.check_stale(T0 + 31.0)] == [COMM]


def test_gateway_offline_raises_comm_loss_for_its_sensors_at_once() -> None:
    t = table(sensor("A"), sensor("B"), sensor("C"), gateways=("gw1", "gw2", "gw1"))
    det = Detector(t, T0)
    det.step(Batch.of([0, 1, 2], [T0] * 3, [50.0] * 3))
    got = det.gateway_offline(t.gateway_sensors["e1/gw1"], T0 + 1)
    assert rows(got) == [(0, COMM, True, None, T0 + 1), (2, COMM, True, None, T0 + 1)]
    assert det.gateway_offline(t.gateway_sensors["e1/gw1"], T0 + 2) == []
    # the sensor on the other gateway goes stale by itself; the offline ones do not repeat
    assert rows(det.check_stale(T0 + 100)) == [(1, COMM, True, None, T0 + 100)]
    assert rows(det.step(Batch.of([2], [T0 + 101], [50.0]))) == [(2, COMM, False, 50.0, T0 + 101)]


# ------------------------------------------------------------------ restart


def test_restored_condition_clears_when_process_returns_to_normal() -> None:
    det = Detector(table(sensor(), sensor("B")), T0)
    det.restore([(0, HH), (0, H), (1, COMM)])
    assert det.step(Batch.of([0], [T0], [85.0])) == [
        ConditionChange(0, HH, False, 85.0, T0, Severity.HIGH)
    ]
    assert rows(det.step(Batch.of([0, 1], [T0 + 1] * 2, [50.0, 50.0]))) == [
        (0, H, False, 50.0, T0 + 1),
        (1, COMM, False, 50.0, T0 + 1),
    ]
    assert det.state.active.tolist() == [0, 0]


def test_restored_condition_the_kind_cannot_raise_clears_on_next_reading() -> None:
    det = Detector(table(sensor("AT-1", Kind.GAS_TOXIC, Limits(hh=20.0, h=10.0))), T0)
    det.restore([(0, HH), (0, GAS1)])
    assert rows(det.step(Batch.of([0], [T0], [15.0]))) == [(0, HH, False, 15.0, T0)]
    assert det.state.active[0] == GAS1.bit


# ------------------------------------------------------------------ batches


def test_readings_of_one_sensor_in_one_batch_apply_in_time_order() -> None:
    det = Detector(table(sensor(), sensor("B")), T0)
    b = Batch.of([0, 1, 0, 0], [T0 + 2, T0 + 1, T0, T0 + 2], [50.0, 85.0, 85.0, 85.0])
    assert rows(det.step(b)) == [
        (0, H, True, 85.0, T0),
        (1, H, True, 85.0, T0 + 1),
        (0, H, False, 50.0, T0 + 2),
        (0, H, True, 85.0, T0 + 2),
    ]
    assert det.state.last_ts.tolist() == [T0 + 2, T0 + 1]


def test_out_of_order_readings_are_ignored_and_counted() -> None:
    det = Detector(table(sensor()), T0)
    det.step(Batch.of([0], [T0 + 10], [50.0]))
    assert det.step(Batch.of([0, 0], [T0 + 5, T0 + 9], [95.0, 95.0])) == []
    assert det.stats["out_of_order"] == 2
    assert [c.condition for c in det.step(Batch.of([0], [T0 + 10], [85.0]))] == [H]


def test_step_does_not_mutate_the_batch() -> None:
    det = Detector(table(sensor(), sensor("B")), T0)
    b = Batch.of([1, 0, 1], [T0 + 1, T0, T0], [95.0, math.nan, 5.0], [0, 2, 1])
    copies = [a.copy() for a in (b.sensor, b.ts, b.value, b.quality)]
    det.step(b)
    for a, c in zip((b.sensor, b.ts, b.value, b.quality), copies, strict=True):
        np.testing.assert_array_equal(a, c)


def test_non_finite_timestamps_are_dropped_and_counted() -> None:
    det = Detector(table(sensor()), T0)
    assert det.step(Batch.of([0, 0], [math.nan, math.inf], [95.0, 95.0])) == []
    assert det.stats["bad_ts"] == 2
    assert det.state.last_ts[0] == -math.inf


def test_sensor_index_outside_the_table_is_refused() -> None:
    det = Detector(table(sensor()), T0)
    for bad in (-1, 1):
        with pytest.raises(HazardWatchError, match=r"outside 0\.\.0"):
            det.step(Batch.of([bad], [T0], [50.0]))


def test_state_is_arrays_one_row_per_sensor() -> None:
    det = Detector(table(sensor(), sensor("B"), sensor("C")), T0)
    assert det.state.active.dtype == np.uint32 and det.state.active.shape == (3,)
    assert det.state.last_seen.tolist() == [T0] * 3
    assert det.state.nbytes > 0
