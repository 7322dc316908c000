"""Gas from a leak to the detectors: distance, wind and the detector's unit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hazardwatch.vocabulary.model import (
    Kind,
    Limits,
    Sensor,
    Site,
)
from simulators.dispersion import Layout, plume_kg_m3, reading_per_kg_m3
from simulators.incidents import Leak
from simulators.physics import TankFarm
from simulators.scenario import Script
from simulators.weather import Climate
from tests.factories import enterprise, hazard_source, sensor, site, unit

START_TS = 1_781_000_000.0


def _gas(tag: str, kind: Kind, unit: str, substance: str | None = None) -> Sensor:
    lim = Limits(hh=50.0, h=25.0) if kind == Kind.GAS_COMBUSTIBLE else Limits(hh=14.3, h=7.2)
    return sensor(tag, kind, unit=unit, limits=lim, period_s=1.0, latch=True, substance=substance)


def _level(tag: str, hi: float) -> Sensor:
    return sensor(tag, hi=hi, limits=Limits(), period_s=1.0, latch=False)


def ring_site(n_tanks: int = 2) -> Site:
    """Propane bullets in a row, each ringed by four combustible detectors (45°, 135°, ...)."""
    units = []
    for k in range(n_tanks):
        level = _level(f"V{k}-LT", 3.0)
        gas = tuple(_gas(f"V{k}-GT{j}", Kind.GAS_COMBUSTIBLE, "%LEL") for j in range(4))
        bullet = unit(
            f"V{k}",
            level,
            *gas,
            substance="propane",
            capacity_m3=100.0,
            pressurised=True,
            type="horizontal",
        )
        units.append(bullet)
    hs = hazard_source("HS1", *units, name="bullets", grade=1)
    return site(enterprise("e1", hs), park="park")


def test_detectors_ring_their_tank_and_tanks_stand_apart() -> None:
    site = ring_site()
    layout = Layout(site, np.array([1.5, 1.5]))
    centre = layout.unit_xy[0]
    ring = layout.detector_xy[:4] - centre
    assert np.hypot(ring[:, 0], ring[:, 1]) == pytest.approx([4.5] * 4)  # 3 m off the shell
    bearings = np.degrees(np.arctan2(ring[:, 0], ring[:, 1])) % 360
    assert bearings == pytest.approx([45.0, 135.0, 225.0, 315.0])
    assert np.hypot(*(layout.unit_xy[1] - layout.unit_xy[0])) >= 2 * 1.5 + 10.0


def test_the_plume_falls_with_distance_and_away_from_its_axis() -> None:
    src = np.zeros(2)
    downwind = np.array([[0.0, d] for d in (5.0, 10.0, 20.0, 40.0, 80.0)])
    c = plume_kg_m3(src, 0.1, downwind, (0.0, 1.0), 2.0)
    assert np.all(np.diff(c) < 0)
    off_axis = plume_kg_m3(src, 0.1, np.array([[0.0, 20.0], [3.0, 20.0], [6.0, 20.0]]),
                           (0.0, 1.0), 2.0)  # fmt: skip
    assert off_axis[0] > off_axis[1] > off_axis[2]
    upwind = plume_kg_m3(src, 0.1, np.array([[0.0, -20.0]]), (0.0, 1.0), 2.0)
    assert upwind[0] < 1e-12 * c[2]
    faster = plume_kg_m3(src, 0.1, downwind, (0.0, 1.0), 4.0)
    assert faster == pytest.approx(c / 2)


def test_concentrations_convert_to_lel_and_ppm() -> None:
    # 1 kg/m³ of propane (M 44.1) is 554,000 ppm, 55.4 vol %, 2,640 %LEL (LEL 2.1 %).
    assert reading_per_kg_m3(Kind.GAS_COMBUSTIBLE, "%LEL", None, "propane") == pytest.approx(
        1e6 * 24.45 / 44.10 * 1e-4 / 2.1 * 100
    )
    assert reading_per_kg_m3(Kind.GAS_TOXIC, "ppm", "H2S", "hydrogen sulfide") == pytest.approx(
        1e6 * 24.45 / 34.08
    )
    assert reading_per_kg_m3(Kind.GAS_TOXIC, "mg/m3", "H2S", "hydrogen sulfide") == 1e6
    assert reading_per_kg_m3(Kind.GAS_TOXIC, "ppm", "NH3", "hydrogen sulfide") == 0.0
    assert reading_per_kg_m3(Kind.GAS_COMBUSTIBLE, "%LEL", None, "chlorine") == 0.0


@pytest.mark.parametrize("toward_deg", [45.0, 153.0, 225.0, 297.0])
def test_a_leaks_nearest_downwind_detector_reads_highest(toward_deg: float) -> None:
    site = ring_site()
    steady = Climate(wind_from_deg=(toward_deg + 180.0) % 360, wind_speed_ms=2.0,
                     wind_sway_deg=0.0, wind_gust_ms=0.0)  # fmt: skip
    farm = TankFarm(site, np.random.default_rng(5), START_TS, climate=steady)
    script = Script(farm, [Leak("V0", 0.0, 0.3, bearing_deg=45.0)])  # on GT0's side
    for _ in range(120):
        script.tick(1.0)
    ring = farm.true_values[1:5]  # V0's four detectors, noise-free
    layout = farm.layout
    offset = layout.detector_xy[:4] - layout.shell_point(0, 45.0)
    rad = math.radians(toward_deg)
    along = offset @ np.array([math.sin(rad), math.cos(rad)])
    bearing = np.degrees(np.arctan2(offset[:, 0], offset[:, 1])) % 360
    off_axis = np.abs((bearing - toward_deg + 180.0) % 360 - 180.0)
    downwind = np.flatnonzero(off_axis < 30.0)
    assert downwind.size == 1  # the wind blows from the leak toward exactly one detector
    (nearest,) = downwind
    assert int(np.argmax(ring)) == nearest
    assert ring[nearest] > 25.0  # first level reached
    upwind = ring[along < -2.0]
    assert np.all(upwind < 25.0)  # a whiff at most, never an alarm
    # The neighbouring tank's detectors, 20 m and more away and off the axis, stay quiet
    # unless the wind blows at them.
    assert farm.true_values[6:10].max() < ring[nearest]


def test_a_toxic_detector_sees_only_its_own_gas() -> None:
    h2s = _gas("T-AT1", Kind.GAS_TOXIC, "ppm", "H2S")
    nh3 = _gas("T-AT2", Kind.GAS_TOXIC, "ppm", "NH3")
    tank = unit("T", _level("T-LT", 14.0), h2s, nh3, substance="sour water", capacity_m3=2000.0)
    sour = site(enterprise("e1", hazard_source("HS1", tank, name="sour", grade=4)), park="park")
    calm = Climate(wind_from_deg=225.0, wind_sway_deg=0.0, wind_gust_ms=0.0)
    script = Script(TankFarm(sour, np.random.default_rng(0), START_TS, climate=calm),
                    [Leak("T", 0.0, 0.001)])  # fmt: skip
    for _ in range(120):
        script.tick(1.0)
    assert script.farm.true_values[1] > 14.3  # H2S blown straight onto AT1 (at 45°)
    assert script.farm.true_values[2] < 7.2 * 0.2  # the ammonia detector: background only
