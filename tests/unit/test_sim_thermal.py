"""Liquid temperature: air, sun, coils, failures and the inertia of the liquid."""

from __future__ import annotations

import numpy as np
import pytest

from hazardwatch.vocabulary.model import (
    Kind,
    Limits,
    Site,
    Unit,
)
from simulators.incidents import CoolingFailure, HeatingFailure, HeatingRunaway
from simulators.physics import TankFarm
from simulators.scenario import Script
from simulators.weather import Climate
from tests import factories

START_TS = 1_781_000_000.0


def _tank(uid: str, temp_limits: Limits, substance: str = "toluene") -> Unit:
    lim = Limits(hh=14.4, h=13.8, l=1.2, ll=0.8)
    sensors = (
        factories.sensor(f"{uid}-LT", hi=16.0, limits=lim, period_s=1.0),
        factories.sensor(
            f"{uid}-TT", Kind.TEMPERATURE, lo=-20.0, hi=120.0, limits=temp_limits, period_s=1.0
        ),
    )
    return factories.unit(uid, *sensors, substance=substance, capacity_m3=3000.0)


def site(*units: Unit) -> Site:
    hs = factories.hazard_source("HS1", *units, name="farm")
    return factories.site(factories.enterprise("e1", hs), park="park")


def daily_swing(farm: TankFarm, unit: int, days: int = 3) -> float:
    temps = []
    for _ in range(days * 24 * 6):
        farm.tick(600.0)
        temps.append(farm.liquid_temp_c[unit])
    return float(np.ptp(temps[-24 * 6 :]))


def test_a_fuller_tank_swings_less_with_the_day_than_an_emptier_one() -> None:
    farm = TankFarm(site(_tank("A", Limits(hh=45.0, h=40.0)), _tank("B", Limits(hh=45.0, h=40.0))),
                    np.random.default_rng(0), START_TS)  # fmt: skip
    farm.force_flow(0, 0.0)
    farm.force_flow(1, 0.0)
    farm.set_volume(0, 2700.0)  # 90 % full
    farm.set_volume(1, 400.0)  # 13 % full
    tau = farm.thermal.tau_s(farm.volume_m3, farm.level_m)
    assert tau[0] > 2 * tau[1]  # thermal inertia grows with the liquid held
    swing_full = daily_swing(farm, 0)
    farm2 = TankFarm(site(_tank("A", Limits(hh=45.0, h=40.0)), _tank("B", Limits(hh=45.0, h=40.0))),
                     np.random.default_rng(0), START_TS)  # fmt: skip
    farm2.force_flow(1, 0.0)
    farm2.set_volume(1, 400.0)
    swing_low = daily_swing(farm2, 1)
    assert 0.1 < swing_full < swing_low < 12.0  # both damped below the air's 12 °C swing


def test_the_liquid_lags_the_air_and_peaks_after_it() -> None:
    farm = TankFarm(site(_tank("A", Limits(hh=45.0, h=40.0))), np.random.default_rng(1), START_TS)
    temps, ts = [], []
    for _ in range(3 * 24 * 6):
        farm.tick(600.0)
        temps.append(farm.liquid_temp_c[0])
        ts.append(farm.ts)
    last = slice(-24 * 6, None)
    peak_hour = (np.array(ts)[last][np.argmax(np.array(temps)[last])] / 3600 + 8) % 24
    assert 13.0 < peak_hour < 23.0  # the sun peaks at noon, the air at 14:00; the liquid later


def test_a_heated_product_holds_its_setpoint_and_cools_when_the_heating_fails() -> None:
    # Benzene-like: kept above 8 °C, above the average air of a cold day (2 ± 5 °C), so it
    # is a heated product held at mid-band.
    cold = Climate(mean_c=2.0, amplitude_c=5.0)
    unit = _tank("A", Limits(hh=40.0, h=35.0, l=8.0, ll=6.0), "benzene")
    farm = TankFarm(site(unit), np.random.default_rng(2), START_TS, climate=cold)
    setpoint = farm.thermal.heat_set[0]
    assert setpoint == pytest.approx((8.0 + 35.0) / 2)
    mild = TankFarm(site(unit), np.random.default_rng(2), START_TS, climate=Climate())
    assert mild.thermal.heat_set[0] == pytest.approx(13.0)  # mild air: frost protection only
    script = Script(farm, [HeatingFailure("A", 24 * 3600.0)])
    temps = []
    for _ in range(2 * 24 * 6):
        script.tick(600.0)
        temps.append(farm.liquid_temp_c[0])
    held, after = np.array(temps[:144]), np.array(temps[144:])
    assert np.all(np.abs(held - setpoint) < 1.5)
    assert after[-1] < setpoint - 3.0 and after[-1] < after[0]


def test_runaway_heating_crosses_h_and_hh_and_the_truth_says_when() -> None:
    unit = _tank("A", Limits(hh=45.0, h=40.0))
    farm = TankFarm(site(unit), np.random.default_rng(3), START_TS)
    runaway = HeatingRunaway("A", 600.0, power_factor=8.0)
    script = Script(farm, [runaway])
    temps, ts = [], []
    for _ in range(24 * 6):
        script.tick(600.0)
        temps.append(farm.true_values[1])
        ts.append(farm.ts)
    (truth,) = script.truth()
    crossed = {c["condition"]: c["ts"] for c in truth["crossings"] if c["tag"] == "A-TT"}
    assert set(crossed) == {"h", "hh"}
    t, temp = np.array(ts), np.array(temps)
    for cond, mark in (("h", 40.0), ("hh", 45.0)):
        assert np.all(temp[t < crossed[cond] - 1e-6] < mark)
        assert np.all(temp[t >= crossed[cond]] >= mark)


def test_cooling_failure_lets_a_refrigerated_product_warm_toward_the_air() -> None:
    # A product whose H is below the average air is refrigerated at mid-band.
    unit = _tank("A", Limits(hh=12.0, h=10.0, l=0.0), "ammonia")
    farm = TankFarm(site(unit), np.random.default_rng(4), START_TS)
    assert farm.thermal.cool_set[0] == pytest.approx(5.0)
    script = Script(farm, [CoolingFailure("A", 12 * 3600.0)])
    temps = []
    for _ in range(3 * 24 * 6):
        script.tick(600.0)
        temps.append(farm.liquid_temp_c[0])
    assert max(temps[:72]) < 6.5 and temps[-1] > 10.0
