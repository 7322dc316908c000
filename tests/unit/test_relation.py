"""RELATION (detectors.multivariate): a group of generic sensors leaving its learned relation."""

from __future__ import annotations

import numpy as np
import pytest

from detectors import Detector
from detectors.multivariate import (
    MIN_WARMUP,
    hotelling_t2,
    shrunk_inverse,
)
from hazardwatch.vocabulary.model import Batch, Condition, Kind, Limits, SensorTable, Unit
from tests.factories import enterprise, hazard_source, sensor, site

T0 = 1_763_800_000.0
R = Condition.RELATION


def _rig(n_generic: int = 2, *tank_kinds: Kind) -> SensorTable:
    """One unit of `n_generic` generic sensors (range unknown, as a wide CSV's columns) and
    a tank of `tank_kinds`."""
    rig = tuple(
        sensor(f"X{j}", Kind.GENERIC, lo=-1e12, hi=1e12, limits=Limits()) for j in range(n_generic)
    )
    tank = tuple(sensor(f"T-{k.label}", k, hi=100.0, limits=Limits()) for k in tank_kinds)
    units = [Unit("rig", "rig", "unknown", 1.0, False, "gw", rig)]
    if tank:
        units.append(Unit("T", "tank", "benzene", 100.0, False, "gw", tank))
    return SensorTable.from_site(site(enterprise("e", hazard_source("h", *units))))


def _pair(rng: np.random.Generator, k: int, sign: float = 1.0) -> np.ndarray:
    """`k` rows of two sensors moving together (sign +1) or against each other (-1)."""
    x = rng.normal(50.0, 10.0, k)
    return np.column_stack([x, sign * (x - 50.0) + 50.0 + rng.normal(0.0, 0.5, k)])


def _feed(det: Detector, rows: np.ndarray, t0: float, learn: bool = False) -> list:
    out = []
    for k, row in enumerate(rows):
        batch = Batch.of(np.arange(row.size), np.full(row.size, t0 + 5.0 * k), row)
        if learn:
            det.learn(batch)
        else:
            out += [c for c in det.step(batch) if c.condition is R]
    return out


def test_hotelling_t2_equals_the_slow_formula() -> None:
    rng = np.random.default_rng(1)
    cov = np.cov(rng.normal(size=(3, 50)))
    inv = shrunk_inverse(cov[None], np.ones((1, 3)), np.full(1, 0.05))
    x, mean = rng.normal(size=(1, 3)), rng.normal(size=(1, 3))
    t2, terms = hotelling_t2(x, mean, inv)
    dev = (x - mean)[0]
    assert t2[0] == pytest.approx(float(dev @ inv[0] @ dev))
    assert terms.sum() == pytest.approx(t2[0])


def test_a_broken_relation_raises_while_each_sensor_stays_in_its_range() -> None:
    rng = np.random.default_rng(7)
    det = Detector(_rig(), T0)
    _feed(det, _pair(rng, 500), T0, learn=True)
    assert _feed(det, _pair(rng, 200), T0 + 3000) == []  # the learned relation: quiet
    broken = _pair(rng, 20, sign=-1.0)
    # Each sensor alone stays where it was while learning.
    assert broken.min() > 10.0 and broken.max() < 90.0
    changes = _feed(det, broken, T0 + 5000)
    raised = [c for c in changes if c.active]
    assert raised, "the broken relation raised nothing"
    first = raised[0]
    assert first.sensor in (0, 1) and first.value > 0.0
    assert first.ts <= T0 + 5000 + 5.0 * 6  # within a few samples of the break
    assert [c.active for c in changes] == [True], "a broken relation chattered"
    cleared = _feed(det, _pair(rng, 40), T0 + 6000)
    assert [(c.sensor, c.active) for c in cleared] == [(first.sensor, False)]


def test_normal_operation_raises_nothing_over_a_long_run() -> None:
    rng = np.random.default_rng(11)
    det = Detector(_rig(4), T0)
    rows = rng.multivariate_normal([0, 10, 20, 30], np.diag([1, 4, 9, 16]) + 0.5, 6000)
    _feed(det, rows[:1000], T0, learn=True)
    assert _feed(det, rows[1000:], T0 + 10_000) == []


def test_a_group_warms_up_live_without_learning_rows() -> None:
    rng = np.random.default_rng(3)
    det = Detector(_rig(), T0)
    early = _feed(det, _pair(rng, MIN_WARMUP, sign=-1.0), T0)  # the warm-up: learned only
    assert early == []
    assert any(c.active for c in _feed(det, _pair(rng, 30, sign=1.0), T0 + 5000))


def test_tank_process_sensors_form_no_group() -> None:
    """Level, temperature, pressure and flow move by operation: they are left out."""
    table = _rig(1, Kind.LEVEL, Kind.TEMPERATURE, Kind.PRESSURE, Kind.FLOW)
    det = Detector(table, T0)
    (rule,) = [r for r in det.rules if R in r.conditions]
    assert rule.buckets == []
    rng = np.random.default_rng(5)
    rows = rng.normal(50.0, 5.0, (600, table.n))
    rows[300:, 1] = 100.0 - rows[300:, 2]  # a relation broken among tank sensors
    assert _feed(det, rows, T0) == []


def test_a_restored_relation_clears_by_the_ordinary_rule() -> None:
    rng = np.random.default_rng(9)
    det = Detector(_rig(), T0)
    _feed(det, _pair(rng, 300), T0, learn=True)
    det.restore([(1, R)])
    changes = _feed(det, _pair(rng, 20), T0 + 2000)
    assert [(c.sensor, c.active) for c in changes] == [(1, False)]
    assert not det.state.active[1] & R.bit


def test_a_restored_relation_where_no_group_is_now_clears_on_its_next_reading() -> None:
    table = _rig(1, Kind.LEVEL)
    det = Detector(table, T0)
    det.restore([(1, R)])
    changes = det.step(Batch.of([0, 1], [T0 + 1.0] * 2, [1.0, 50.0]))
    assert [(c.sensor, c.condition, c.active) for c in changes] == [(1, R, False)]
