"""DRIFT judged by the wander a sensor showed in its learning rows (State.drift_seen): the
same wander later is usual, a move beyond it is not."""

from __future__ import annotations

import numpy as np

from detectors import Detector
from hazardwatch.shell.replay_site import generic_site
from hazardwatch.vocabulary.model import Batch, Condition, SensorTable

T0 = 1_763_800_000.0
PERIOD = 60.0
LEARN = 2_000


def wander(n: int, seed: int) -> np.ndarray:
    """A level that wanders by regime (a slow random walk pulled back to 100) plus noise."""
    rng = np.random.default_rng(seed)
    level = np.empty(n)
    x = 0.0
    for k in range(n):
        x += -0.01 * x + rng.normal(0.0, 0.6)
        level[k] = x
    return 100.0 + level + rng.normal(0.0, 1.0, n)


def drift_raised(values: np.ndarray, learn: int) -> list[int]:
    """Reading indices where DRIFT was raised, after `learn` rows given to Detector.learn."""
    det = Detector(SensorTable.from_site(generic_site(["x"], [PERIOD])), T0)
    ts = T0 + PERIOD * np.arange(len(values))
    if learn:
        det.learn(Batch.of([0] * learn, ts[:learn], values[:learn]))
    raised = []
    for k in range(learn, len(values)):
        for c in det.step(Batch.of([0], [ts[k]], [values[k]])):
            if c.condition is Condition.DRIFT and c.active:
                raised.append(k)
    return raised


def test_learning_rows_measure_the_wander() -> None:
    det = Detector(SensorTable.from_site(generic_site(["x"], [PERIOD])), T0)
    flat = 100.0 + np.random.default_rng(1).normal(0.0, 1.0, LEARN)
    ts = T0 + PERIOD * np.arange(LEARN)
    det.learn(Batch.of([0] * LEARN, ts, flat))
    calm = float(det.state.drift_seen[0])
    det = Detector(SensorTable.from_site(generic_site(["x"], [PERIOD])), T0)
    det.learn(Batch.of([0] * LEARN, ts, wander(LEARN, seed=1)))
    assert calm < 8.0 < float(det.state.drift_seen[0])  # white noise drifts by little


def test_the_wander_the_learning_rows_showed_raises_no_drift() -> None:
    values = wander(12_000, seed=7)
    assert drift_raised(values, learn=0) != []  # judged by its noise alone: DRIFT after DRIFT
    assert drift_raised(values[LEARN // 2 :], learn=0) != []
    assert drift_raised(values, learn=LEARN) == []


def test_a_move_beyond_the_wander_still_raises_drift() -> None:
    values = wander(8_000, seed=7)
    # A rise of 0.1 a reading (2 % of its spread) to 40 above: a ramp no STEP or SPIKE sees,
    # far beyond anything the learning rows showed, and it stays.
    values[5_000:] += np.minimum(np.arange(3_000) * 0.1, 40.0)
    raised = drift_raised(values, learn=LEARN)
    assert raised and 5_000 <= raised[0] < 5_400
