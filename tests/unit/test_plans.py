"""OVERRUN: a level past the target of its tank's open transfer plan (detectors.plans)."""

from __future__ import annotations

import numpy as np
import pytest

from detectors import Detector
from hazardwatch.vocabulary.model import Batch, Condition, HazardWatchError, Limits
from tests.unit.test_detectors import T0, sensor, table
from tests.unit.test_trend_checks import OFF, of

C = Condition
# A quiet 18 m tank: no limit near the plan, every trend check off.
LIMITS = Limits(hh=17.5, h=17.0, l=1.0, ll=0.5)


def detector(n: int = 1) -> Detector:
    sensors = [
        sensor(f"LT-{i}", limits=LIMITS, range_hi=18.0, deadband=0.0, trend=OFF) for i in range(n)
    ]
    return Detector(table(*sensors), T0)


def fill(det: Detector, start: float, stop: float, *, every_s: float = 10.0, t0: float = 0.0):
    """A fill at 0.9 m/h from `start` to `stop` m, one reading each `every_s`; all changes."""
    out = []
    steps = round((stop - start) / (0.9 / 3600 * every_s))
    for k in range(steps + 1):
        v = start + (stop - start) * k / steps
        out += det.step(Batch.of([0], [T0 + t0 + k * every_s], [v]))
    return out


def test_a_fill_that_stops_at_its_target_raises_nothing() -> None:
    det = detector()
    assert det.plan(0, 14.0, +1, None, T0) == []
    assert of(fill(det, 12.0, 14.0), C.OVERRUN) == []


def test_a_fill_past_its_target_raises_overrun_at_target_plus_tolerance() -> None:
    det = detector()
    det.plan(0, 13.5, +1, None, T0)  # default tolerance: 1 % of the 18 m span
    raised = of(fill(det, 12.0, 14.5), C.OVERRUN)
    assert len(raised) == 1 and raised[0].active
    # Judged by the smoothed level (~4 readings behind: 1 cm on this ramp) against 13.5 + 0.18
    assert 13.68 < raised[0].value <= 13.71


def test_overrun_holds_until_the_smoothed_level_is_back_at_the_target() -> None:
    det = detector()
    det.plan(0, 10.0, +1, 0.2, T0)
    # Smoothed (EWMA, weight 0.2 a reading): 9.9, 10.22, 10.18, 10.06, 9.97, 10.38
    series = [(0, 9.9), (10, 11.5), (20, 10.0), (30, 9.6), (40, 9.6), (50, 12.0)]
    states = [
        [c.active for c in of(det.step(Batch.of([0], [T0 + t], [v])), C.OVERRUN)] for t, v in series
    ]
    assert states == [[], [True], [], [], [False], [True]]


def test_an_emptying_plan_overruns_below_its_target() -> None:
    det = detector()
    det.plan(0, 4.0, -1, 0.1, T0)
    out = []
    for k, v in enumerate(np.linspace(6.0, 3.0, 31)):
        out += det.step(Batch.of([0], [T0 + 10 * k], [v]))
    raised = of(out, C.OVERRUN)
    # The smoothed level lags ~4 readings: 0.4 m on this steep 0.6 m/min ramp.
    assert [c.active for c in raised] == [True] and 3.4 < raised[0].value < 3.9


def test_closing_the_plan_clears_overrun_at_the_closing_time() -> None:
    det = detector()
    det.plan(0, 10.0, +1, 0.2, T0)
    det.step(Batch.of([0], [T0 + 10], [10.5]))
    cleared = det.unplan(0, T0 + 99)
    assert [(c.condition, c.active, c.ts) for c in cleared] == [(C.OVERRUN, False, T0 + 99)]
    assert of(det.step(Batch.of([0], [T0 + 110], [11.0])), C.OVERRUN) == []
    assert det.plans.rows.size == 0  # nothing left to watch: rounds pay nothing


def test_a_new_plan_is_judged_against_the_last_value_at_once() -> None:
    det = detector()
    det.plan(0, 10.0, +1, 0.2, T0)
    det.step(Batch.of([0], [T0 + 10], [10.5]))
    assert [c.active for c in det.plan(0, 12.0, +1, 0.2, T0 + 20)] == [False]  # raised target
    assert [c.active for c in det.plan(0, 10.0, +1, 0.2, T0 + 30)] == [True]  # lowered again


@pytest.mark.parametrize("dense_from", [0.0, 1.0])
def test_only_the_planned_tank_is_judged_in_a_round_of_many(dense_from: float) -> None:
    det = detector(4)
    det.dense_from = dense_from
    det.plan(2, 5.0, +1, 0.1, T0)
    out = det.step(Batch.of([0, 1, 2, 3], [T0 + 1] * 4, [9.0, 9.0, 9.0, 9.0]))
    assert [(c.sensor, c.active) for c in of(out, C.OVERRUN)] == [(2, True)]


def test_a_restored_overrun_without_a_plan_clears_on_the_next_reading() -> None:
    det = detector()
    det.restore([(0, C.OVERRUN)])
    cleared = of(det.step(Batch.of([0], [T0 + 5], [9.0])), C.OVERRUN)
    assert [(c.active, c.ts) for c in cleared] == [(False, T0 + 5)]


def test_a_noisy_reading_is_not_judged_until_usable() -> None:
    det = detector()
    det.plan(0, 10.0, +1, 0.2, T0)
    assert of(det.step(Batch.of([0], [T0 + 1], [float("nan")])), C.OVERRUN) == []


@pytest.mark.parametrize("target, direction", [(float("nan"), 1), (5.0, 0), (5.0, 2)])
def test_a_plan_needs_a_finite_target_and_a_direction(target: float, direction: int) -> None:
    with pytest.raises(HazardWatchError, match="finite target"):
        detector().plan(0, target, direction, None, T0)
