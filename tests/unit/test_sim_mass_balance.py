"""Level from mass balance: volume change equals the integrated flows, through any geometry."""

from __future__ import annotations

import numpy as np
import pytest

from hazardwatch.vocabulary.model import (
    Kind,
    Limits,
    Site,
    Unit,
)
from simulators.incidents import MaintenanceDrain, Transfer
from simulators.physics import TankFarm
from simulators.scenario import Overfill, Script
from tests.factories import enterprise, hazard_source, sim_sensor, site, unit

START_TS = 1_781_000_000.0


def _unit(uid: str, utype: str, cap: float, height: float, pressurised: bool) -> Unit:
    lim = Limits(hh=0.9 * height, h=0.85 * height, l=0.1 * height, ll=0.05 * height)
    sensors = (
        sim_sensor(f"{uid}-LT", Kind.LEVEL, "m", 0.0, height, lim),
        sim_sensor(f"{uid}-TT", Kind.TEMPERATURE, "degC", -40.0, 100.0, Limits(hh=45.0, h=40.0)),
    )
    substance = "propane" if pressurised else "toluene"
    return unit(
        uid, *sensors, substance=substance, capacity_m3=cap, pressurised=pressurised, type=utype
    )


def mixed_site() -> Site:
    units = (
        _unit("T1", "tank", 5000.0, 20.0, False),
        _unit("S1", "sphere", 2000.0, 15.7, True),
        _unit("B1", "horizontal", 50.0, 2.6, True),
        _unit("T2", "vertical", 3000.0, 16.0, False),
    )
    return site(enterprise("e1", hazard_source("HS1", *units, name="farm")), park="park")


def test_volume_change_equals_integrated_net_flow_for_every_shape() -> None:
    site = mixed_site()
    script = Script(
        TankFarm(site, np.random.default_rng(3), START_TS),
        [Transfer("S1", 600, 150.0, "out", duration_s=1800), Transfer("B1", 300, 40.0, "in")],
    )
    farm = script.farm
    # The volume is recomputed from the true level through each tank's geometry: an
    # independent path from the flows the farm integrated.
    start = farm.geometry.volume(farm.level_m)
    integral = np.zeros(4)
    for _ in range(1200):
        script.tick(4.0)
        integral += farm.net_flow_m3_s * 4.0
    moved = farm.geometry.volume(farm.level_m) - start
    spilled = farm.spilled_m3
    assert moved + spilled == pytest.approx(integral, abs=1e-6 * farm.geometry.capacity_m3.max())
    assert np.abs(integral).min() > 1.0  # every tank moved product
    assert spilled[2] > 0  # the bullet was overfilled at 40 m³/h and brimmed over


def test_an_overflowing_tank_stays_full_and_counts_what_spilled() -> None:
    script = Script(TankFarm(mixed_site(), np.random.default_rng(0), START_TS),
                    [Overfill("T1", 0.0, rate_per_min=1.0)])  # fmt: skip
    farm = script.farm
    for _ in range(30):
        script.tick(60.0)
    assert farm.volume_m3[0] == pytest.approx(5000.0)
    assert farm.level[0] == pytest.approx(20.0)
    inflow = script.truth()[0]["inflow_m3_h"] / 3600.0
    assert farm.spilled_m3[0] > 0
    # Whatever came in and did not fit spilled: in = stored + spilled.
    start = farm.spilled_m3[0] + farm.volume_m3[0] - inflow * 1800.0
    assert 0 <= start < 5000.0


def test_maintenance_drain_empties_the_tank_and_hands_it_back_to_the_operators() -> None:
    drain = MaintenanceDrain("T2", 60.0, 3000.0)
    script = Script(TankFarm(mixed_site(), np.random.default_rng(1), START_TS), [drain])
    for _ in range(240):
        script.tick(30.0)
    (truth,) = drain.truth()
    assert truth["end_ts"] is not None and truth["maintenance"] is True
    conditions = [c["condition"] for c in truth["crossings"] if c["tag"] == "T2-LT"]
    assert conditions[:2] == ["l", "ll"]
    assert script.farm.forced_flow(3) is None
