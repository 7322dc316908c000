"""The vectorised Detector gives exactly the slow reference's answers on random timelines."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors import Detector
from hazardwatch.vocabulary.model import (
    Batch,
    Condition,
    ConditionChange,
    Kind,
    Limits,
    Sensor,
    SensorTable,
    Trend,
)
from tests.reference import ReferenceDetector
from tests.unit.test_detectors import T0, rows, sensor, table

LIMIT_VALUES = st.none() | st.sampled_from([5.0, 10.0, 20.0, 25.0, 50.0, 80.0, 90.0, 100.0])
# Values on a coarse grid hit limits and limit +- deadband exactly; the rest probe the edges.
VALUES = st.integers(-4, 44).map(lambda k: k * 2.5) | st.sampled_from(
    [-0.5, -0.51, 100.5, 100.51, 150.0, -1e9, math.nan, math.inf, -math.inf]
)
QUALITY = st.sampled_from([0, 0, 0, 1, 2])
# Odd settings, so a slope refitted two ways never sits exactly on a threshold.
TRENDS = st.builds(
    Trend,
    rate_limit_per_min=st.sampled_from([None, 37.7, 151.3, 611.9]),
    rate_window_s=st.sampled_from([300.0, 7.3, 3.1]),
    horizon_s=st.sampled_from([None, 1800.0, 13.7]),
    drift_h_sigma=st.sampled_from([None, 8.0, 2.3]),
    drift_k_sigma=st.sampled_from([0.5, 0.13]),
    baseline_warmup_n=st.sampled_from([1, 3, 100]),
    baseline_alpha=st.sampled_from([0.001, 0.3]),
    stuck_window_s=st.sampled_from([None, 900.0, 3.3]),
    resolution=st.sampled_from([0.0, 0.5, 2.5]),
    spike_rate_per_s=st.sampled_from([None, 3.7, 41.3]),
    noise_ratio=st.sampled_from([None, 5.0, 0.7]),
)


def same_changes(got: list[ConditionChange], want: list[ConditionChange]) -> None:
    """Equal changes; a predicted crossing may differ by rounding (the slope is refitted)."""
    assert rows(got) == rows(want)
    assert [c.severity for c in got] == [c.severity for c in want]
    for g, w in zip(got, want, strict=True):
        assert (g.eta_ts is None) == (w.eta_ts is None), (g, w)
        if w.eta_ts is not None:
            assert math.isclose(g.eta_ts, w.eta_ts, rel_tol=1e-12, abs_tol=1e-6), (g, w)


@st.composite
def sensors(draw: st.DrawFn, i: int) -> Sensor:
    kind = draw(st.sampled_from(list(Kind)))
    limits = Limits(
        hh=draw(LIMIT_VALUES), h=draw(LIMIT_VALUES), l=draw(LIMIT_VALUES), ll=draw(LIMIT_VALUES)
    )
    return sensor(
        f"S{i}",
        kind,
        limits,
        range_lo=0.0,
        range_hi=draw(st.sampled_from([100.0, 100.0, 50.0])),
        deadband=draw(st.sampled_from([0.0, 1.0, 2.5, 5.0, math.nan])),
        on_delay_s=draw(st.sampled_from([0.0, 0.0, 2.0, 5.0])),
        off_delay_s=draw(st.sampled_from([0.0, 0.0, 3.0])),
        period_s=draw(st.sampled_from([1.0, 2.0])),
        stale_periods=draw(st.sampled_from([2.0, 3.0])),
        trend=draw(TRENDS),
    )


@st.composite
def tables(draw: st.DrawFn) -> SensorTable:
    n = draw(st.integers(1, 4))
    gateways = tuple(draw(st.sampled_from(["gw1", "gw2"])) for _ in range(n))
    return table(*(draw(sensors(i)) for i in range(n)), gateways=gateways)


@st.composite
def timelines(draw: st.DrawFn, n: int) -> list[tuple]:
    """Operations in wall-clock order; reading timestamps jitter, repeat and go backwards."""
    ops: list[tuple] = []
    for k in range(draw(st.integers(1, 20))):
        base = T0 + 4.0 * k
        op = draw(st.sampled_from(["step", "step", "step", "stale", "offline"]))
        if op == "step":
            m = draw(st.integers(0, 8))
            readings = [
                (
                    draw(st.integers(0, n - 1)),
                    base + draw(st.integers(-6, 4)) * 0.5,
                    draw(VALUES),
                    draw(QUALITY),
                )
                for _ in range(m)
            ]
            ops.append(("step", readings))
        elif op == "stale":
            ops.append(("stale", base + draw(st.integers(0, 8))))
        else:
            ops.append(("offline", draw(st.sampled_from(["e1/gw1", "e1/gw2"])), base))
    return ops


def restored(n: int) -> st.SearchStrategy[list[tuple[int, Condition]]]:
    return st.lists(st.tuples(st.integers(0, n - 1), st.sampled_from(list(Condition))), max_size=4)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_detector_equals_reference(data: st.DataObject) -> None:
    tab = data.draw(tables())
    ops = data.draw(timelines(tab.n))
    restore = data.draw(restored(tab.n))
    start = T0 + data.draw(st.sampled_from([0.0, -3.0, 6.0]))
    # Both code paths of the Detector: every round lifted to sensor order, and none.
    dense, sparse = Detector(tab, start, dense_from=0.0), Detector(tab, start, dense_from=2.0)
    slow = ReferenceDetector(tab, start)
    for det in (dense, sparse, slow):
        det.restore(restore)
    for op in ops:
        if op[0] == "step":
            cols = list(zip(*op[1], strict=True)) or [[], [], [], []]
            batch = Batch.of(*cols)
            outs = [det.step(batch) for det in (dense, sparse, slow)]
        elif op[0] == "stale":
            outs = [det.check_stale(op[1]) for det in (dense, sparse, slow)]
        else:
            ix = tab.gateway_sensors.get(op[1], np.zeros(0, np.int64))
            outs = [det.gateway_offline(ix, op[2]) for det in (dense, sparse, slow)]
        for got in outs[:2]:
            same_changes(got, outs[2])
    for fast in (dense, sparse):
        assert fast.state.active.tolist() == slow.active_bits()
        for key in ("out_of_order", "applied"):
            assert fast.stats[key] == slow.stats[key], key


@st.composite
def walks(draw: st.DrawFn, n: int) -> list[list[tuple[int, float, float, int]]]:
    """Batches of good readings that ramp, wander, stick and jump: the trend checks' ground."""
    value = [draw(st.integers(4, 36)) * 2.5 for _ in range(n)]
    heading = [draw(st.sampled_from([-5.0, -2.5, 0.0, 2.5, 5.0])) for _ in range(n)]
    ts = [T0] * n
    batches = []
    for _ in range(draw(st.integers(1, 16))):
        batch = []
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, n - 1))
            ts[i] += draw(st.sampled_from([0.0, 0.5, 1.0, 1.0, 2.0, 5.0, 40.0]))
            step = draw(st.sampled_from([0.0, 0.0, 0.0, 0.0, 2.5, -2.5, 5.0, 60.0, -60.0]))
            value[i] = min(max(value[i] + heading[i] + step, 0.0), 100.0)
            batch.append((i, ts[i], value[i], 0))
            if step in (60.0, -60.0) and draw(st.booleans()):
                value[i] -= step  # a spike: back at the next reading
        batches.append(batch)
    return batches


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_trend_checks_equal_reference_on_random_walks(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 3))
    tab = table(*(data.draw(sensors(i)) for i in range(n)))
    dense, sparse = Detector(tab, T0, dense_from=0.0), Detector(tab, T0, dense_from=2.0)
    slow = ReferenceDetector(tab, T0)
    for readings in data.draw(walks(n)):
        batch = Batch.of(*zip(*readings, strict=True))
        outs = [det.step(batch) for det in (dense, sparse, slow)]
        for got in outs[:2]:
            same_changes(got, outs[2])
    for fast in (dense, sparse):
        assert fast.state.active.tolist() == slow.active_bits()


def test_both_paths_equal_reference_on_a_park_of_500() -> None:
    """Hypothesis draws tiny tables; this checks the gathers and scatters at some size."""
    rng = np.random.default_rng(3)
    kinds = [Kind.LEVEL, Kind.TEMPERATURE, Kind.GAS_TOXIC, Kind.PRESSURE]
    tab = table(
        *(
            sensor(f"S{i}", kinds[i % 4], Limits(90.0, 80.0, 20.0, 10.0), on_delay_s=i % 3 * 2.0)
            for i in range(500)
        )
    )
    dense, sparse = Detector(tab, T0, dense_from=0.0), Detector(tab, T0, dense_from=2.0)
    slow = ReferenceDetector(tab, T0)
    for k in range(30):
        m = int(rng.integers(1, 700))
        batch = Batch.of(
            rng.integers(0, 500, m),
            T0 + k + rng.integers(-2, 2, m).astype(float),
            rng.uniform(-5.0, 105.0, m).round(1),
            rng.choice([0, 0, 0, 1, 2], m),
        )
        want = slow.step(batch)
        assert want, "the timeline should change something in every batch"
        same_changes(dense.step(batch), want)
        same_changes(sparse.step(batch), want)
    assert dense.state.active.tolist() == sparse.state.active.tolist() == slow.active_bits()
    assert dense.stats["out_of_order"] == slow.stats["out_of_order"] > 0


def test_reference_agrees_on_a_hand_timeline() -> None:
    """The reference itself gives the known answer (so the property test compares to truth)."""
    tab = table(sensor(on_delay_s=10.0, off_delay_s=5.0))
    ref = ReferenceDetector(tab, T0)
    out = []
    for dt, v in [(0, 85.0), (5, 85.0), (10, 85.0), (11, 70.0), (15, 50.0), (16, 50.0)]:
        out += rows(ref.step(Batch.of([0], [T0 + dt], [v])))
    assert out == [
        (0, Condition.H, True, 85.0, T0 + 10),
        (0, Condition.H, False, 50.0, T0 + 16),
        # Falling 35 in 5 s, but 16 s of data is not yet a trend: no PREDICT_LL.
    ]


def test_a_held_prediction_past_its_limit_reports_its_moving_eta() -> None:
    """Found by the hypothesis test above: a held PREDICT_HH whose line has passed HH while
    the readings (below the line) cleared the HH alarm has eta = ts, moving with the clock;
    its sensor must be judged again once that is ETA_MOVE_MIN_S past the eta reported (the
    detector slept until its next sample and missed the update the reference makes)."""
    trend = Trend(rate_limit_per_min=None, drift_h_sigma=None, baseline_warmup_n=1,
                  stuck_window_s=None, spike_rate_per_s=None, noise_ratio=None)  # fmt: skip
    tab = table(
        sensor(
            "S0", Kind.TEMPERATURE, Limits(hh=50.0), deadband=0.0, on_delay_s=2.0,
            period_s=1.0, stale_periods=2.0, trend=trend,
        )
    )  # fmt: skip
    falling = [57.5, 55.0, 52.5, 50.0, 47.5, 45.0, 42.5, 40.0, 37.5, 35.0, 32.5, 30.0, 27.5]
    steps = [
        [(0.0, v) for v in (7.5, 5.0, 2.5, 0.0, 0.0, 0.0, 0.0)],
        [(0.0, 0.0)],
        [(0.0, 0.0)] * 3,
        [(0.0, 0.0)] * 5,
        [(0.0, 0.0)],
        [(40.0, v) for v in (0.0, *falling[:6])],
        [(40.0, v) for v in falling[6:]],
        [(40.0, v) for v in (25.0, 22.5, 20.0, 17.5)],
        [(40.0, 17.5), (40.0, 75.0), (40.0, 72.5), (80.0, 70.0)],
        [(120.0, 67.5)],
        [(120.0, 65.0), (160.0, 100.0), *[(160.0, v) for v in falling[8:12]], (160.5, 27.5)],
        [(161.5, 25.0), (163.5, 22.5), (165.5, 80.0), (167.5, 17.5), (172.5, 15.0)],
        [(177.5, 12.5), (217.5, 10.0), (217.5, 7.5), (217.5, 5.0), (218.5, 2.5), (220.5, 0.0)],
    ]
    fast, slow = Detector(tab, T0), ReferenceDetector(tab, T0)
    updates = []
    for readings in steps:
        batch = Batch.of(
            [0] * len(readings), [T0 + t for t, _ in readings], [v for _, v in readings]
        )
        got, want = fast.step(batch), slow.step(batch)
        same_changes(got, want)
        updates += [c.ts - T0 for c in got if c.condition is Condition.PREDICT_HH and c.active]
    assert updates[-1] == 220.5, updates  # the moving eta reported again


def test_moves_at_one_instant_count_as_moves_as_in_the_reference() -> None:
    """Found by hypothesis in a fresh clone: readings of one sensor at one timestamp that
    move its value moved the STUCK anchor without counting as moves (the detector compared
    the anchor's ts only), so the reference raised STUCK and the detector did not."""
    trend = Trend(
        rate_limit_per_min=None, rate_window_s=300.0, horizon_s=None, drift_h_sigma=None,
        drift_k_sigma=0.5, baseline_warmup_n=1, baseline_alpha=0.001, stuck_window_s=3.3,
        resolution=0.0, spike_rate_per_s=None, noise_ratio=None,
    )  # fmt: skip
    tab = table(
        sensor(
            "S0",
            Kind.TEMPERATURE,
            Limits(),
            deadband=0.0,
            period_s=1.0,
            stale_periods=2.0,
            trend=trend,
        )
    )
    dense, sparse = Detector(tab, T0, dense_from=0.0), Detector(tab, T0, dense_from=2.0)
    slow = ReferenceDetector(tab, T0)
    zigzag = [0.0, 55.0, 50.0, 45.0, 40.0, 35.0, 30.0, 25.0, 20.0, 15.0, 10.0, 5.0, 60.0]
    zigzag += [55.0, 50.0, 45.0, 40.0, 35.0, 30.0, 25.0, 20.0, 15.0, 10.0, 5.0]
    walk = [[(0, T0, v, 0)] for v in zigzag] + [[(0, T0 + 0.5, 0.0, 0)], [(0, T0 + 5.5, 0.0, 0)]]
    for readings in walk:
        batch = Batch.of(*zip(*readings, strict=True))
        outs = [det.step(batch) for det in (dense, sparse, slow)]
        for got in outs[:2]:
            same_changes(got, outs[2])
    assert Condition.STUCK in {c.condition for c in outs[2]}  # the case is the one it was
