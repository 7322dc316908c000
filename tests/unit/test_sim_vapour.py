"""Pressure of liquefied gases: the vapour-pressure correlation and the farm that follows it."""

from __future__ import annotations

import numpy as np
import pytest

from hazardwatch.vocabulary.model import (
    Kind,
    Limits,
    Site,
)
from hazardwatch.vocabulary.substances import ATMOSPHERE_KPA, pressure_unit, vapour_pressure_kpa
from simulators.incidents import FireExposure
from simulators.physics import TankFarm
from simulators.scenario import Script
from tests.factories import enterprise, hazard_source, sim_sensor, site, unit

START_TS = 1_781_000_000.0


def sphere_site(substance: str = "propane", pressure_unit_name: str = "MPa") -> Site:
    span = {"MPa": 2.5, "kPa": 2500.0, "bar": 25.0}[pressure_unit_name]
    sensors = (
        sim_sensor("V1-LT", Kind.LEVEL, "m", 0.0, 15.7, Limits(hh=12.6, h=12.0, l=1.6, ll=0.8)),
        sim_sensor("V1-TT", Kind.TEMPERATURE, "degC", -40.0, 200.0, Limits(hh=45.0, h=40.0)),
        sim_sensor("V1-PT", Kind.PRESSURE, pressure_unit_name, 0.0, span, Limits()),
    )
    sphere = unit(
        "V1", *sensors, substance=substance, capacity_m3=2000.0, pressurised=True, type="sphere"
    )
    hs = hazard_source("HS1", sphere, name="spheres", grade=1)
    return site(enterprise("e1", hs), park="park")


def test_propane_vapour_pressure_matches_saturation_tables_at_20_and_50_degc() -> None:
    # Saturated propane: 8.36 bar at 20 °C and 17.13 bar at 50 °C (absolute).
    p20, p50 = vapour_pressure_kpa("propane", np.array([20.0, 50.0]))
    assert p20 == pytest.approx(836.0, rel=0.02)
    assert p50 == pytest.approx(1713.0, rel=0.02)


def test_other_liquefied_gases_match_their_tables_at_20_degc() -> None:
    t = np.array([20.0])
    assert vapour_pressure_kpa("NH3", t)[0] == pytest.approx(857.0, rel=0.02)  # 8.57 bar
    assert vapour_pressure_kpa("liquid chlorine", t)[0] == pytest.approx(678.0, rel=0.02)
    assert vapour_pressure_kpa("butane", t)[0] == pytest.approx(208.0, rel=0.02)
    lpg = vapour_pressure_kpa("LPG", t)[0]
    assert vapour_pressure_kpa("butane", t)[0] < lpg < vapour_pressure_kpa("propane", t)[0]


def test_vapour_pressure_rises_with_temperature() -> None:
    t = np.linspace(-30.0, 70.0, 101)
    for gas in ("propane", "butane", "LPG", "ammonia", "chlorine"):
        assert np.all(np.diff(vapour_pressure_kpa(gas, t)) > 0), gas


def test_pressure_units_convert_to_kpa_and_know_absolute() -> None:
    assert pressure_unit("MPa") == (1000.0, False)
    assert pressure_unit("kPa") == (1.0, False)
    assert pressure_unit("bar") == (100.0, False)
    assert pressure_unit("bara") == (100.0, True)
    assert pressure_unit("MPa(a)") == (1000.0, True)
    assert pressure_unit("furlongs") is None


@pytest.mark.parametrize("unit", ["MPa", "kPa", "bar"])
def test_a_propane_sphere_reads_the_gauge_vapour_pressure_of_its_liquid_in_its_unit(
    unit: str,
) -> None:
    farm = TankFarm(sphere_site(pressure_unit_name=unit), np.random.default_rng(1), START_TS)
    per_kpa = {"MPa": 1e-3, "kPa": 1.0, "bar": 1e-2}[unit]
    for _ in range(30):
        farm.tick(60.0)
        temp = farm.liquid_temp_c[0]
        expected = (vapour_pressure_kpa("propane", np.array([temp]))[0] - ATMOSPHERE_KPA) * per_kpa
        assert farm.true_values[2] == pytest.approx(expected, rel=1e-9)
        assert farm.true_values[1] == pytest.approx(temp)


def test_a_fire_heats_a_propane_sphere_and_its_pressure_rises_with_the_temperature() -> None:
    site = sphere_site()
    script = Script(TankFarm(site, np.random.default_rng(2), START_TS), [FireExposure("V1", 600)])
    temps, pressures = [], []
    for _ in range(180):
        script.tick(60.0)
        temps.append(script.farm.true_values[1])
        pressures.append(script.farm.true_values[2])
    t, p = np.array(temps), np.array(pressures)
    assert t[-1] > t[9] + 20.0  # the fire heats the liquid by tens of degrees in hours
    assert np.all(np.diff(p[12:]) > 0) and np.all(np.diff(t[12:]) > 0)
    assert np.corrcoef(t, p)[0, 1] > 0.95
