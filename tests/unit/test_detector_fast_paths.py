"""The Detector's fast paths give the slow reference's answers.

The property tests draw tiny tables and short timelines; these drive a small park past a
full ring (one sample leaves as one enters), through time eviction of a short window, with
CO_RISE pairs and gas areas voting after dense and sparse rounds alike. The reference does
not model the cross-sensor rules: there dense and sparse rounds must agree with each other.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from detectors import RING_SIZE, Detector
from detectors.changes import Changes
from detectors.sampling import learn_baselines, learn_samples, take_samples
from detectors.signal import _signal_round
from detectors.window import samples
from hazardwatch.vocabulary.model import (
    Batch,
    Condition,
    ConditionChange,
    Enterprise,
    HazardSource,
    Kind,
    Limits,
    Responsible,
    SensorTable,
    Severity,
    Site,
    Trend,
    Unit,
)
from tests.reference import ReferenceDetector
from tests.unit.test_detector_reference import same_changes
from tests.unit.test_detectors import T0, sensor

KINDS = (Kind.LEVEL, Kind.TEMPERATURE, Kind.PRESSURE, Kind.GAS_COMBUSTIBLE)
CROSS = (Condition.AREA_GAS, Condition.CO_RISE)
CROSS_BITS = sum(c.bit for c in CROSS)


def own(changes: list[ConditionChange]) -> list[ConditionChange]:
    """The changes of single-sensor rules (those the reference models)."""
    return [c for c in changes if c.condition not in CROSS]


def busy_park(short_windows: bool, n_units: int = 12, window_s: float = 70.0) -> SensorTable:
    """Tanks of four sensors (level, temperature, pressure, gas), every check on.

    Slopes over 70 s windows (at 1 Hz each reading enters, 0.9 x 70 / 64 < 1 s, and the ring
    of RING_SIZE fills before time evicts anything) or, with `short_windows`,
    on odd tanks over 20 s (evicted by time at 1 Hz); gas detectors of two tanks vote in
    one area (k = 2).
    """
    units = []
    for u in range(n_units):
        trend = Trend(
            rate_limit_per_min=37.7,
            rate_window_s=20.3 if short_windows and u % 2 else window_s,
            horizon_s=173.0,
            drift_h_sigma=5.3,
            baseline_warmup_n=7,
            baseline_alpha=0.05,
            stuck_window_s=13.3,
            resolution=0.01,
            spike_rate_per_s=9.7,
            noise_ratio=3.3,
        )
        sensors = tuple(
            sensor(
                f"S{4 * u + k}",
                kind,
                Limits(hh=50.0, h=25.0) if kind.is_gas else Limits(90.0, 80.0, 20.0, 10.0),
                deadband=1.0 if kind.is_gas else 2.0,
                on_delay_s=float((0, 2, 5)[(u + k) % 3]),
                off_delay_s=0.0 if kind.is_gas else 3.0,
                period_s=1.0,
                trend=trend,
                area=f"A{u // 2}" if kind.is_gas else None,
            )
            for k, kind in enumerate(KINDS)
        )
        units.append(Unit(f"T{u}", "tank", "crude", 1000.0, False, "gw1", sensors))
    source = HazardSource("hs1", "Tank farm 1", 2, Responsible("a", "b", "c"), tuple(units))
    areas = {f"A{a}": 2 for a in range((n_units + 1) // 2)}
    site = Site("park", "hw", (Enterprise("e1", "E1", (source,)),), areas=areas)
    return SensorTable.from_site(site)


def readings(n: int, steps: int, seed: int) -> list[Batch]:
    """One reading per sensor per second in shuffled order: ramps across the limits, noise,
    a few spikes, flat stretches, bad and out-of-range readings and silent sensors."""
    rng = np.random.default_rng(seed)
    value = rng.uniform(30.0, 70.0, n)
    heading = rng.choice([-0.7, -0.2, 0.0, 0.0, 0.3, 0.9], n)
    out = []
    for k in range(steps):
        if k % 40 == 20:
            heading = -heading  # turn back: conditions clear as well as raise
        value = np.clip(value + heading + rng.normal(0.0, 0.3, n), 0.0, 100.0)
        v = value.copy()
        flat = (np.arange(n) % 7 == 3) & (k % 60 >= 30)  # after 30 s of moving: STUCK
        v[flat] = 42.0
        spike = rng.random(n) < 0.01
        v[spike] += 40.0
        v[rng.random(n) < 0.005] = 130.0  # out of range
        quality = np.where(rng.random(n) < 0.005, 2, 0)
        heard = rng.random(n) > 0.02
        order = rng.permutation(np.flatnonzero(heard))
        out.append(Batch.of(order, np.full(order.size, T0 + k), v[order], quality[order]))
    return out


def test_dense_and_sparse_rounds_equal_the_reference_past_a_full_ring() -> None:
    seen: set[Condition] = set()
    for seed, short_windows in ((7, True), (7, False)):
        tab = busy_park(short_windows)
        dense, sparse = Detector(tab, T0, dense_from=0.0), Detector(tab, T0, dense_from=2.0)
        slow = ReferenceDetector(tab, T0)
        for batch in readings(tab.n, 2 * RING_SIZE + 20, seed):
            want, fast = slow.step(batch), dense.step(batch)
            assert sparse.step(batch) == fast
            same_changes(own(fast), want)
            seen |= {c.condition for c in fast}
        assert dense.state.active.tolist() == sparse.state.active.tolist()
        assert (dense.state.active & ~np.uint32(CROSS_BITS)).tolist() == slow.active_bits()
        count = dense.state.count.reshape(-1, 4)
        if short_windows:
            assert (count[1::2] < 25).all()  # 20 s windows at 1 Hz: evicted by time
        else:
            # Full rings (one leaves as one enters) but those a STEP restarted lately.
            assert (count == RING_SIZE).mean() >= 0.75
    # The timelines exercise the rules whose fast paths differ from the plain loop.
    assert {Condition.H, Condition.L, Condition.GAS1, Condition.GAS2, Condition.RATE} <= seen
    assert {Condition.SPIKE, Condition.STUCK, Condition.NOISY, Condition.DRIFT} <= seen
    assert Condition.STEP in seen
    assert {Condition.OUT_OF_RANGE, Condition.BAD_QUALITY, *CROSS} <= seen


def test_each_compiled_loop_is_built_once_whatever_the_park() -> None:
    """Settings shared by the whole park (one broadcast value) or set per sensor, dense and
    gathered rounds, learning: numba builds one variant of each loop, not one per mix of
    array layouts it meets (seconds each)."""
    from benchmarks.bench_detector import park

    kernels = (take_samples, learn_samples, learn_baselines, _signal_round)
    for tab in (busy_park(True), park(64)):
        for dense_from in (0.0, 2.0):
            det = Detector(tab, T0, dense_from=dense_from)
            for batch in readings(tab.n, 40, 3):
                det.step(batch)
            det.learn(batch)
    assert [len(k.signatures) for k in kernels] == [1, 1, 1, 1]


def test_an_unsynchronised_park_equals_the_reference_through_full_rings_and_a_gap() -> None:
    # 200 s windows sample every 2.8 s, so about a third of them take a sample per step and
    # the trend stage runs on a subset of a dense round. Sensors on whole seconds sample every
    # 3 s and fill their rings (64 samples in 192 s); those whose ts spread over 0.9 s sample
    # less evenly and lose samples by time. A third of the park falls silent for 80 s, so its
    # windows lose many samples at once when it reports again.
    tab = busy_park(False, window_s=200.0)
    dense, sparse = Detector(tab, T0, dense_from=0.0), Detector(tab, T0, dense_from=2.0)
    slow = ReferenceDetector(tab, T0)
    rng = np.random.default_rng(11)
    for k, batch in enumerate(readings(tab.n, 330, 5)):
        keep = ~((batch.sensor % 3 == 0) & (200 <= k < 280))
        ts = batch.ts[keep] + rng.uniform(0.0, 0.9, int(keep.sum())) * (batch.sensor[keep] % 2)
        batch = Batch(batch.sensor[keep], ts, batch.value[keep], batch.quality[keep],
                      batch.flags[keep])  # fmt: skip
        want, fast = slow.step(batch), dense.step(batch)
        assert sparse.step(batch) == fast
        same_changes(own(fast), want)
    assert (dense.state.active & ~np.uint32(CROSS_BITS)).tolist() == slow.active_bits()
    # The dense round's masks and the sparse round's gathers leave the same memory, bit for
    # bit.
    for f in dataclasses.fields(dense.state):
        if f.name == "sample_from":  # a bound only a round over the whole park sets
            continue
        a, b = getattr(dense.state, f.name), getattr(sparse.state, f.name)
        assert a.tobytes() == b.tobytes(), f.name
    count = dense.state.count
    assert (count == RING_SIZE).any()
    assert ((count > 40) & (count < RING_SIZE)).any()  # evicted by time
    # The running sums are those of the samples the window holds.
    st = dense.state
    for i in np.flatnonzero(count):
        ts, vs = np.array(samples(st, int(i))).T
        x, y = ts - st.t0[i], vs - st.v0[i]
        want = [x.sum(), y.sum(), (x * x).sum(), (x * y).sum(), (y * y).sum()]
        assert np.allclose(st.sums[:, i], want, rtol=1e-9, atol=1e-6), i


def test_trend_warnings_between_samples_equal_the_reference() -> None:
    """Between two samples of its window a sensor's RATE and PREDICT_* are skipped until
    their trend_wake: the raise as eta - ts passes under the horizon, the eta reported
    again as ts nears it, the hand-over to HH must still come at the reading the plain
    loop gives them, not at the next sample."""
    trend = Trend(rate_limit_per_min=0.6, rate_window_s=300.0, horizon_s=600.0)
    n = 24
    tab = SensorTable.from_site(
        Site("park", "hw", (Enterprise("e1", "E1", (HazardSource(
            "hs1", "Tank farm 1", 2, Responsible("a", "b", "c"),
            tuple(Unit(f"T{i}", "tank", "crude", 1000.0, False, "gw1", (sensor(
                f"L{i}", Kind.LEVEL, Limits(90.0, 80.0, 20.0, 10.0), period_s=1.0,
                trend=trend),)) for i in range(n)),
        ),)),))
    )  # fmt: skip
    dense, sparse = Detector(tab, T0, dense_from=0.0), Detector(tab, T0, dense_from=2.0)
    slow = ReferenceDetector(tab, T0)
    rng = np.random.default_rng(3)
    # Accelerating fills (the eta keeps moving), each crossing HH in the run.
    speed, accel = rng.uniform(0.03, 0.05, n), rng.uniform(4e-5, 8e-5, n)
    seen: list[ConditionChange] = []
    for k in range(900):
        # ts jitter: samples (every 4.2 s) fall on different readings per sensor.
        ts = T0 + k + rng.uniform(0.0, 0.5, n)
        value = np.minimum(40.0 + speed * k + accel * k * k, 99.0) + rng.normal(0.0, 0.01, n)
        batch = Batch.of(np.arange(n), ts, value)
        want, fast = slow.step(batch), dense.step(batch)
        assert sparse.step(batch) == fast
        same_changes(fast, want)
        seen += fast
    predict = [c for c in seen if c.condition is Condition.PREDICT_HH]
    raised = {c.sensor for c in predict if c.active}
    cleared = {c.sensor for c in predict if not c.active}
    reported_again = [c for c in predict if c.active and c.sensor in {d.sensor for d in predict[
        : predict.index(c)] if d.active}]  # fmt: skip
    hh = {c.sensor for c in seen if c.condition is Condition.HH and c.active}
    assert len(raised) == n and hh == raised == cleared  # every fill: warned, then HH took over
    assert len(reported_again) >= n  # the moving eta was reported again


def test_changes_are_the_objects_their_constructor_builds() -> None:
    out = Changes()
    out.add(np.array([3, 1]), Condition.PREDICT_HH, True, np.array([5.0, 6.0]), T0, T0 + 60.0)
    out.add(np.array([2]), Condition.HH, False, 7.0, T0 - 1.0)
    got = out.result()
    want = [
        ConditionChange(2, Condition.HH, False, 7.0, T0 - 1.0, Severity.HIGH, None),
        ConditionChange(1, Condition.PREDICT_HH, True, 6.0, T0, Severity.MEDIUM, T0 + 60.0),
        ConditionChange(3, Condition.PREDICT_HH, True, 5.0, T0, Severity.MEDIUM, T0 + 60.0),
    ]
    assert got == want
    assert [type(c) for c in got] == [ConditionChange] * 3
    assert [hash(c) for c in got] == [hash(c) for c in want]
    with pytest.raises(dataclasses.FrozenInstanceError):
        got[0].active = True  # type: ignore[misc]
