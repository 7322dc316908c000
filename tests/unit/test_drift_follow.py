"""DRIFT on a level that moved for good: the baseline follows under DRIFT alone and re-arms,
and a DRIFT held across an instrument STEP is judged again once the baseline is warm."""

from __future__ import annotations

import numpy as np

from detectors import Detector
from hazardwatch.shell.replay_site import generic_site
from hazardwatch.vocabulary.model import Batch, Condition, SensorTable

C = Condition
T0 = 1_763_800_000.0
PERIOD = 60.0


def run(values: np.ndarray) -> list[tuple[int, Condition, bool]]:
    """A generic sensor read every minute: (reading index, condition, active) of each change."""
    det = Detector(SensorTable.from_site(generic_site(["x"], [PERIOD])), T0)
    out = []
    for k, v in enumerate(values.tolist()):
        for c in det.step(Batch.of([0], [T0 + PERIOD * k], [v])):
            out.append((k, c.condition, c.active))
    return out


def noise(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 1.0, n)


def drift_changes(changes: list[tuple[int, Condition, bool]]) -> list[tuple[int, bool]]:
    return [(k, active) for k, c, active in changes if c is C.DRIFT]


def test_a_level_that_moved_for_good_clears_drift_and_the_next_move_raises_it_again() -> None:
    values = 100.0 + noise(20_000, seed=3)
    values[2_000:] += 6.0  # moved for good: a new usual level
    values[16_000:] += 6.0  # and moved again later
    got = drift_changes(run(values))
    assert got[0][1] and 2_000 <= got[0][0] < 2_100  # raised soon after the move
    assert got[1] == (got[1][0], False) and got[1][0] < 16_000  # the new level became usual
    raised_again = [k for k, active in got[2:] if active]
    assert raised_again and 16_000 <= raised_again[0] < 16_100


def test_a_drift_held_across_an_instrument_step_is_judged_again() -> None:
    values = 100.0 + noise(3_000, seed=4)
    values[1_000:] += 6.0  # DRIFT
    values[1_500:] -= 46.0  # then the transmitter jumps 40 below where it began: a STEP
    got = run(values)
    assert (1_501, C.STEP, True) in got  # (a SPIKE at the jump, a STEP once it stays)
    drift = drift_changes(got)
    assert drift[0][1] and 1_000 <= drift[0][0] < 1_100
    # The baseline learns the new level afresh (a STEP is the instrument's): with nothing
    # moving after it, DRIFT clears once the baseline is warm (it was held for ever).
    assert len(drift) == 2 and not drift[1][1] and 1_500 < drift[1][0] < 1_800
