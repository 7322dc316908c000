"""DRIFT on a level that moved for good: the baseline follows under DRIFT alone and re-arms
(within a few hundred samples, while a creep that goes on stays raised), and a DRIFT held
across an instrument STEP is judged again once the baseline is warm."""

from __future__ import annotations

import numpy as np

from detectors import Detector
from hazardwatch.shell.replay_site import generic_site
from hazardwatch.vocabulary.model import Batch, Condition, SensorTable
from tests.reference import ReferenceDetector

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
    # then, while DRIFT is held (the baseline has not yet followed), the transmitter jumps
    # 40 below where it began: a STEP
    values[1_150:] -= 46.0
    got = run(values)
    assert (1_151, C.STEP, True) in got  # (a SPIKE at the jump, a STEP once it stays)
    drift = drift_changes(got)
    assert drift[0][1] and 1_000 <= drift[0][0] < 1_100
    # The baseline learns the new level afresh (a STEP is the instrument's): with nothing
    # moving after it, DRIFT clears once the baseline is warm (it was held for ever).
    assert len(drift) == 2 and not drift[1][1] and 1_150 < drift[1][0] < 1_450


def test_a_move_for_good_is_usual_within_hundreds_of_samples_so_the_next_one_is_raised() -> None:
    # Following at half the learning pace, the first DRIFT was held for some 2,000 samples
    # (months on an hourly sensor) and the second move, 600 samples on, was never raised.
    values = 100.0 + noise(4_000, seed=5)
    values[1_000:] += 6.0
    values[1_600:] += 6.0
    got = drift_changes(run(values))
    assert got[0][1] and 1_000 <= got[0][0] < 1_100
    assert not got[1][1] and got[1][0] < 1_600  # the new level became usual
    assert got[2][1] and 1_600 <= got[2][0] < 1_700  # and the next move raised again


def test_a_drift_that_goes_on_stays_raised() -> None:
    # A slow leak: the level keeps creeping up (0.02 sigma a sample): the followed baseline
    # never catches up, DRIFT is raised once and held.
    values = 100.0 + noise(4_000, seed=6)
    values[1_000:] += 0.02 * np.arange(3_000)
    got = drift_changes(run(values))
    assert len(got) == 1 and got[0][1] and 1_000 <= got[0][0] < 1_300


def test_the_compiled_follow_equals_the_reference() -> None:
    # The random property test rarely holds DRIFT long enough to follow; here it does.
    tab = SensorTable.from_site(generic_site(["x"], [PERIOD]))
    fast, slow = Detector(tab, T0), ReferenceDetector(tab, T0)
    values = 100.0 + noise(1_200, seed=7)
    values[300:] += 6.0
    values[800:] += 0.05 * np.arange(400)
    got, want = [], []
    for k, v in enumerate(values.tolist()):
        batch = Batch.of([0], [T0 + PERIOD * k], [v])
        got += [(k, c.condition, c.active, c.value) for c in fast.step(batch)]
        want += [(k, c.condition, c.active, c.value) for c in slow.step(batch)]
    assert got == want
    assert sum(c is C.DRIFT for _, c, _, _ in got) >= 2  # raised, followed, cleared
    assert fast.state.base_mean[0] == slow.sensors[0].base_mean
