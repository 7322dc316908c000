"""The tank-farm physics and scripted incidents, without a broker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hazardwatch.vocabulary.config import load_site
from hazardwatch.vocabulary.model import (
    Kind,
    Limits,
    Responsible,
    Sensor,
    SensorTable,
    Site,
    Unit,
)
from simulators import (
    Climate,
    GatewayOutage,
    Overfill,
    ScenarioError,
    Script,
    TankFarm,
    parse_broker_url,
)
from simulators.fleet import PublisherError
from tests.factories import enterprise, hazard_source, sensor, site, unit

START_TS = 1_763_800_000.0  # 2025-11-22 08:26:40 UTC, 16:26 at UTC+8
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "park.yaml"


def _sensor(tag: str, kind: Kind, lo: float, hi: float, limits: Limits, **more: Any) -> Sensor:
    return sensor(tag, kind, lo=lo, hi=hi, limits=limits, period_s=1.0, **more)


def tank(uid: str, gateway: str, *, pressurised: bool = False) -> Unit:
    sensors = [
        _sensor(f"{uid}_LT", Kind.LEVEL, 0.0, 20.0, Limits(hh=18.0, h=16.0, l=2.0, ll=1.0)),
        _sensor(f"{uid}_TT", Kind.TEMPERATURE, -20.0, 80.0, Limits(hh=50.0, h=40.0, l=-5.0)),
        _sensor(f"{uid}_GC", Kind.GAS_COMBUSTIBLE, 0.0, 100.0, Limits(hh=50.0, h=25.0)),
        _sensor(f"{uid}_GT", Kind.GAS_TOXIC, 0.0, 100.0, Limits(hh=13.2, h=6.6), substance="H2S"),
        _sensor(f"{uid}_FT", Kind.FLOW, 0.0, 200.0, Limits(h=180.0)),
    ]
    if pressurised:
        limits = Limits(hh=1800.0, h=1600.0, l=300.0)
        sensors.append(_sensor(f"{uid}_PT", Kind.PRESSURE, 0.0, 2500.0, limits))
    substance = "propane" if pressurised else "toluene"
    return unit(
        uid,
        *sensors,
        substance=substance,
        capacity_m3=5000.0,
        pressurised=pressurised,
        gateway=gateway,
    )


def make_site(n_tanks: int = 4, root: str = "hw") -> Site:
    """One enterprise, one hazard source; tank T2 is pressurised; two gateways."""
    units = tuple(tank(f"T{k + 1}", f"gw{k % 2 + 1}", pressurised=k == 1) for k in range(n_tanks))
    people = Responsible("Wang", "Li", "Zhang")
    hs = hazard_source("HS1", *units, name="Tank farm 1", responsible=people)
    return site(enterprise("acme", hs, name="Acme Chemicals"), park="Test park", root_topic=root)


def series(
    site: Site, seed: int, steps: int, dt: float = 1.0, scenarios: tuple = ()
) -> tuple[np.ndarray, Script]:
    script = Script(TankFarm(site, np.random.default_rng(seed), START_TS), scenarios)
    return np.stack([script.tick(dt)[1] for _ in range(steps)]), script


def tag_column(site: Site, tag: str) -> int:
    return SensorTable.from_site(site).tag_index[tag]


# ------------------------------------------------------------------ determinism


def test_same_seed_gives_identical_series_and_another_seed_does_not() -> None:
    site = make_site()
    a, _ = series(site, seed=7, steps=200)
    b, _ = series(site, seed=7, steps=200)
    c, _ = series(site, seed=8, steps=200)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_tick_returns_every_sensor_in_sensor_table_order() -> None:
    site = make_site()
    farm = TankFarm(site, np.random.default_rng(0), START_TS)
    idx, values = farm.tick(1.0)
    table = SensorTable.from_site(site)
    np.testing.assert_array_equal(idx, np.arange(table.n))
    assert values.shape == (table.n,)
    assert np.all((values >= table.range_lo) & (values <= table.range_hi))
    assert farm.ts == START_TS + 1.0


def test_readings_are_quantised_to_a_decimal_resolution() -> None:
    values, _ = series(make_site(), seed=3, steps=50)
    # Spans of 20..2500 units resolve to 0.001..1: every value is a short decimal.
    assert all(len(repr(v).split(".")[-1]) <= 3 for v in values.ravel().tolist())


def test_negative_dt_is_refused() -> None:
    farm = TankFarm(make_site(), np.random.default_rng(0), START_TS)
    with pytest.raises(ValueError, match="dt_s"):
        farm.tick(-1.0)


# ------------------------------------------------------------------ normal operation


def test_levels_start_between_l_and_h() -> None:
    site = make_site(n_tanks=20)
    for seed in range(20):
        farm = TankFarm(site, np.random.default_rng(seed), START_TS)
        assert np.all((farm.level > 2.0) & (farm.level < 16.0))


def test_levels_move_and_stay_within_l_h_for_an_hour_without_incidents() -> None:
    site = make_site(n_tanks=12)
    script = Script(TankFarm(site, np.random.default_rng(11), START_TS))
    rows, true = [], []
    for _ in range(1800):
        rows.append(script.tick(2.0)[1])
        true.append(script.farm.level.copy())
    values = np.stack(rows)
    cols = [tag_column(site, f"T{k + 1}_LT") for k in range(12)]
    levels = values[:, cols]
    assert levels.min() > 2.0 and levels.max() < 16.0
    # Operators move product (pumps at 35-70 % of the 180 m³/h flow H, 0.25-0.5 m/h in these
    # 250 m² tanks): most tanks' true level changes in an hour.
    moved = np.ptp(np.stack(true), axis=0)
    assert np.sum(moved > 0.1) >= 6


def test_gas_detectors_stay_near_zero_below_level1_without_incidents() -> None:
    site = make_site(n_tanks=12)
    values, _ = series(site, seed=5, steps=1800, dt=2.0)
    table = SensorTable.from_site(site)
    comb = values[:, table.kind == Kind.GAS_COMBUSTIBLE]
    tox = values[:, table.kind == Kind.GAS_TOXIC]
    assert comb.min() >= 0.0 and tox.min() >= 0.0
    assert comb.max() < 3.0  # near zero, far below 25 %LEL
    assert tox.max() < 6.6 / 2  # a small fraction of level1


def test_liquid_temperature_lags_the_air_and_peaks_in_the_afternoon() -> None:
    site = make_site(n_tanks=2)
    farm = TankFarm(site, np.random.default_rng(0), START_TS)
    days = 2 * 24 * 12
    temps = np.empty(days)
    for i in range(days):
        farm.tick(300.0)
        temps[i] = farm.liquid_temp_c[0]
    ts = START_TS + 300.0 * np.arange(1, days + 1)
    last_day = slice(days // 2, days)
    peak_hour = (ts[last_day][np.argmax(temps[last_day])] / 3600 + 8) % 24
    assert 14.5 < peak_hour < 22.0  # after the air's 14:00 peak
    swing = np.ptp(temps[last_day])
    assert 0.5 < swing < 12.0  # damped: less than the air's 12 degC swing
    assert Climate().ambient_c(6 * 3600.0) == pytest.approx(21.0)


def test_pressure_rises_with_temperature_and_sits_between_l_and_h() -> None:
    site = make_site(n_tanks=2)
    values, _ = series(site, seed=2, steps=2 * 24 * 12, dt=300.0)
    temp = values[:, tag_column(site, "T2_TT")]
    pres = values[:, tag_column(site, "T2_PT")]
    assert np.corrcoef(temp, pres)[0, 1] > 0.9
    hot, cold = temp > np.quantile(temp, 0.9), temp < np.quantile(temp, 0.1)
    assert pres[hot].mean() > pres[cold].mean() + 20.0
    assert pres.min() > 300.0 and pres.max() < 1600.0


# ------------------------------------------------------------------ overfill


def test_overfill_crosses_h_then_hh_at_the_times_in_the_truth() -> None:
    site = make_site()
    overfill = Overfill("T1", start_s=60.0)
    script = Script(TankFarm(site, np.random.default_rng(1), START_TS), [overfill])
    farm, col = script.farm, tag_column(site, "T1_LT")
    ts, true_level, reading = [], [], []
    for _ in range(400):
        _, values = script.tick(1.0)
        ts.append(farm.ts)
        true_level.append(farm.level[0])
        reading.append(values[col])
    ts_a, true_a, read_a = np.array(ts), np.array(true_level), np.array(reading)
    (truth,) = script.truth()
    assert truth["event"] == "overfill" and truth["tag"] == "T1_LT" and truth["unit"] == "T1"
    assert truth["onset_ts"] == pytest.approx(START_TS + 60.0)
    assert truth["onset_ts"] < truth["h_ts"] < truth["hh_ts"] < truth["overflow_ts"]
    assert 55.0 <= truth["hh_ts"] - truth["onset_ts"] <= 95.0  # demo-quick: HH in ~60-90 s
    for mark, at in ((16.0, truth["h_ts"]), (18.0, truth["hh_ts"])):
        # The true level is below the mark on every tick before the recorded instant, above after
        # (the default rate lands exactly on HH at a tick: allow for rounding there).
        assert np.all(true_a[ts_a < at - 1e-6] < mark)
        assert np.all(true_a[ts_a >= at - 1e-6] >= mark - 1e-9)
        # So are the readings, but for noise (6 sigma of 0.04 m) at the recorded rate.
        slack = 6 * 0.04 / (truth["rate_per_min"] / 60.0)
        assert np.all(read_a[ts_a < at - slack] < mark) and np.all(
            read_a[ts_a > at + slack] >= mark
        )
    # The inflow never stops: the tank overflows and stays at the top of the range.
    assert np.all(read_a[ts_a > truth["overflow_ts"] + 1] > 19.8) and read_a.max() <= 20.0


def test_overfill_leaves_other_tanks_within_l_h_and_below_hh_for_an_hour() -> None:
    site = make_site(n_tanks=8)
    values, script = series(
        site, seed=4, steps=1800, dt=2.0, scenarios=(Overfill("T3", start_s=600.0),)
    )
    table = SensorTable.from_site(site)
    for k in range(8):
        level = values[:, table.tag_index[f"T{k + 1}_LT"]]
        if k + 1 == 3:
            assert level.max() >= 18.0
        else:
            assert level.min() > 2.0 and level.max() < 16.0, f"T{k + 1}"
    assert script.truth()[0]["hh_ts"] is not None


def test_overfill_with_an_explicit_rate_rises_at_that_rate() -> None:
    overfill = Overfill("T1", start_s=0.0, rate_per_min=0.6)
    script = Script(TankFarm(make_site(), np.random.default_rng(0), START_TS), [overfill])
    before = float(script.farm.level[0])
    for _ in range(10):
        script.tick(1.0)
    assert float(script.farm.level[0]) - before == pytest.approx(0.1)
    assert script.truth()[0]["rate_per_min"] == pytest.approx(0.6)


def test_truth_is_empty_until_the_incident_starts() -> None:
    script = Script(
        TankFarm(make_site(), np.random.default_rng(0), START_TS), [Overfill("T1", start_s=30.0)]
    )
    script.tick(1.0)
    (truth,) = script.truth()
    assert truth["onset_ts"] is None and truth["h_ts"] is None and truth["hh_ts"] is None


def test_a_scenario_naming_an_unknown_unit_or_gateway_is_refused_with_the_name() -> None:
    farm = TankFarm(make_site(), np.random.default_rng(0), START_TS)
    with pytest.raises(ScenarioError, match=r"'T9'.*T1, T2"):
        Script(farm, [Overfill("T9", start_s=0.0)])
    with pytest.raises(ScenarioError, match=r"'acme/gw9'.*acme/gw1"):
        Script(farm, [GatewayOutage("acme", "gw9", start_s=0.0, duration_s=1.0)])
    with pytest.raises(ScenarioError, match="rate_per_min"):
        Overfill("T1", start_s=0.0, rate_per_min=-1.0)


# ------------------------------------------------------------------ gateway outage


def test_gateway_outage_holds_its_gateway_down_for_its_duration() -> None:
    outage = GatewayOutage("acme", "gw2", start_s=10.0, duration_s=5.0)
    script = Script(TankFarm(make_site(), np.random.default_rng(0), START_TS), [outage])
    down = []
    for _ in range(20):
        script.tick(1.0)
        down.append(bool(script.gateways_down()))
    # Readings stamped t=10..14 are off the air; t=15 is back.
    assert down == [False] * 9 + [True] * 5 + [False] * 6
    (truth,) = script.truth()
    assert truth["onset_ts"] == START_TS + 10.0 and truth["end_ts"] == START_TS + 15.0
    gw2 = [s.tag for _, _, u, s in make_site().iter_sensors() if u.gateway == "gw2"]
    assert truth["tags"] == gw2 and "T2_PT" in gw2


def test_broker_urls_are_parsed_or_refused() -> None:
    assert parse_broker_url("mqtt://localhost") == ("localhost", 1883)
    with pytest.raises(PublisherError, match="expected mqtt://HOST:PORT"):
        parse_broker_url("http://localhost:1883")
    with pytest.raises(PublisherError, match="broker URL"):
        parse_broker_url("mqtt://localhost:notaport")


# ------------------------------------------------------------------ the example park


def test_example_park_runs_an_hour_without_level_or_gas_alarms() -> None:
    site = load_site(EXAMPLE)
    table = SensorTable.from_site(site)
    values, _ = series(site, seed=0, steps=360, dt=10.0)
    assert values.shape == (360, table.n)
    assert np.all((values >= table.range_lo) & (values <= table.range_hi))
    level = table.kind == Kind.LEVEL
    with np.errstate(invalid="ignore"):
        assert not np.any(values[:, level] >= table.limit_hh[level])
        gas = (table.kind == Kind.GAS_COMBUSTIBLE) | (table.kind == Kind.GAS_TOXIC)
        assert not np.any(values[:, gas] >= table.limit_h[gas])
