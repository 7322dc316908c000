"""The physics cross-checks on the library scenarios they are for, and on a normal day.

Each test runs a scenario on examples/park.yaml through the live service in simulated time
(benchmarks.detection_run, as `python benchmarks/cross_checks.py` does) and checks where
and when MASS_BALANCE and VAPOUR_PRESSURE were raised.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.detection_run import Run, run_scenario
from hazardwatch.vocabulary.config import load_site
from hazardwatch.vocabulary.model import Condition, Site
from simulators.library import load_scenario

PARK = Path(__file__).resolve().parents[2] / "examples" / "park.yaml"
CHECKS = (Condition.MASS_BALANCE, Condition.VAPOUR_PRESSURE)


@pytest.fixture(scope="module")
def park() -> Site:
    return load_site(PARK)


def _fired(run: Run) -> list[tuple[str, str, float]]:
    """(condition, tag, seconds after start) of every cross-check raised."""
    return [
        (a.condition.label, a.tag, a.ts - run.start_ts)
        for a in run.activations
        if a.condition in CHECKS
    ]


def test_a_gauge_stuck_during_a_fill_is_stuck_by_the_mass_balance_soon_after_the_fill(
    park: Site,
) -> None:
    # The gauge sticks at 300 s, the inflow opens at 600 s (simulators/scenarios). The meters
    # move it, the gauge stands still: the imbalance is the gauge's, an instrument fault.
    run = run_scenario(load_scenario("stuck-level-during-overfill", park), duration_s=2400.0)
    assert _fired(run) == []
    stuck = [a.ts - run.start_ts for a in run.activations
             if a.tag == "e02-T202-LT" and a.condition is Condition.STUCK]  # fmt: skip
    assert stuck and 600.0 < stuck[0] < 1800.0


def test_a_leak_from_an_idle_tank_breaks_its_mass_balance(park: Site) -> None:
    run = run_scenario(load_scenario("leak-idle-tank", park))  # the leak opens at 3600 s
    fired = _fired(run)
    assert [(c, tag) for c, tag, _ in fired] == [("mass_balance", "e02-T203-LT")]
    assert fired[0][2] > 3600.0


def test_a_drifting_pressure_transmitter_leaves_the_vapour_curve(park: Site) -> None:
    run = run_scenario(load_scenario("pressure-transmitter-drift", park), duration_s=6000.0)
    fired = _fired(run)
    assert [(c, tag) for c, tag, _ in fired] == [("vapour_pressure", "e02-V102-PT")]
    assert 1800.0 < fired[0][2] < 6000.0  # the drift starts at 1800 s
    limits = (Condition.HH, Condition.H)
    assert not any(a.tag == "e02-V102-PT" and a.condition in limits for a in run.activations)


def test_a_normal_day_raises_neither_cross_check(park: Site) -> None:
    run = run_scenario(load_scenario("normal-day-summer", park))
    assert _fired(run) == []
