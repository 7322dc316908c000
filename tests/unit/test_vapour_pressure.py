"""VAPOUR_PRESSURE: a liquefied-gas tank's pressure against its curve, on known series."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from detectors import Detector
from hazardwatch.vocabulary.config import parse_site
from hazardwatch.vocabulary.model import Batch, Condition, Kind, Limits, SensorTable, VapourCheck
from hazardwatch.vocabulary.substances import ATMOSPHERE_KPA, vapour_pressure_kpa
from simulators.record import site_to_yaml
from tests.factories import enterprise, hazard_source, sensor, site, unit

T0 = 1_781_000_000.0
DT = 5.0
VP = Condition.VAPOUR_PRESSURE
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "park.yaml"


def _table(
    substance: str = "propane",
    pressurised: bool = True,
    vapour: VapourCheck | None = None,
    pressure_unit: str = "MPa",
) -> SensorTable:
    span = {"MPa": 2.5, "bara": 25.0}[pressure_unit]
    sensors = (
        sensor("V1-TT", Kind.TEMPERATURE, lo=-40.0, hi=60.0, limits=Limits()),
        sensor("V1-PT", Kind.PRESSURE, unit=pressure_unit, lo=0.0, hi=span, limits=Limits()),
    )
    u = unit("V1", *sensors, substance=substance, pressurised=pressurised, type="sphere")
    if vapour is not None:
        u = dataclasses.replace(u, vapour=vapour)
    return SensorTable.from_site(site(enterprise("e1", hazard_source("hs1", u))))


def _gauge_mpa(temp_c: np.ndarray, substance: str = "propane") -> np.ndarray:
    return (vapour_pressure_kpa(substance, temp_c) - ATMOSPHERE_KPA) / 1000.0


def _run(table: SensorTable, temp_c: np.ndarray, pressure: np.ndarray) -> list[tuple[float, bool]]:
    """One reading of each sensor every DT; VAPOUR_PRESSURE changes as (ts, active), all
    of them on the pressure sensor."""
    det = Detector(table, T0)
    seen = []
    for k in range(temp_c.size):
        ts = T0 + DT * k
        changes = det.step(Batch.of([0, 1], [ts, ts], [temp_c[k], pressure[k]]))
        mine = [c for c in changes if c.condition is VP]
        assert all(c.sensor == 1 for c in mine), mine
        seen += [(c.ts, c.active) for c in mine]
    return seen


def _day(n: int = 1440) -> np.ndarray:
    """A sphere's liquid warming from 12 to 28 °C over the series, with sensor noise."""
    rng = np.random.default_rng(3)
    return np.linspace(12.0, 28.0, n) + rng.normal(0.0, 0.1, n)


def test_a_tank_on_its_curve_raises_nothing_while_it_warms() -> None:
    temp = _day()
    pressure = _gauge_mpa(temp) + np.random.default_rng(4).normal(0.0, 0.005, temp.size)
    assert _run(_table(), temp, pressure) == []


def test_a_pressure_transmitter_drifting_up_raises_after_its_delay() -> None:
    temp = _day()
    drift = np.clip(np.arange(temp.size) - 360, 0, None) * DT * 0.2 / 3600.0  # 0.2 MPa/h
    seen = _run(_table(), temp, _gauge_mpa(temp) + drift)
    assert seen and seen[0][1] is True
    # Tolerance 50 kPa + 8 % of ~0.75 MPa abs ~ 110 kPa: reached ~33 min into the drift,
    # then 300 s of delay.
    took = seen[0][0] - (T0 + DT * 360)
    assert 1800.0 <= took <= 2700.0


def test_a_temperature_sensor_reading_far_low_raises() -> None:
    temp = _day()
    seen = _run(_table(), np.where(np.arange(temp.size) > 300, temp - 20.0, temp), _gauge_mpa(temp))
    assert seen and seen[0][1] is True and seen[0][0] > T0 + DT * 300


def test_a_departure_that_ends_clears() -> None:
    temp = _day()
    pressure = _gauge_mpa(temp)
    pressure[300:700] += 0.3  # 300 kPa of air in the vapour space, then vented
    seen = _run(_table(), temp, pressure)
    assert [a for _, a in seen] == [True, False]
    assert seen[1][0] >= T0 + DT * 700


def test_absolute_units_count_the_atmosphere_once() -> None:
    temp = _day()
    bara = vapour_pressure_kpa("propane", temp) / 100.0
    assert _run(_table(pressure_unit="bara"), temp, bara) == []


def test_no_check_without_a_curve_pressurisation_or_when_switched_off() -> None:
    temp = _day(300)
    far = np.full(temp.size, 2.0)  # 2 MPa: far off propane's curve at these temperatures
    for table in (
        _table(substance="benzene"),
        _table(pressurised=False),
        _table(vapour=VapourCheck(enabled=False)),
    ):
        assert _run(table, temp, far) == []
    assert _run(_table(vapour=VapourCheck(delay_s=0.0)), temp, far)[0][1] is True


def test_a_restored_departure_on_another_sensor_clears_on_its_next_reading() -> None:
    det = Detector(_table(), T0)
    det.restore([(0, VP), (1, VP)])
    changes = det.step(Batch.of([0, 1], [T0, T0], [20.0, float(_gauge_mpa(np.array([20.0]))[0])]))
    assert sorted((c.sensor, c.active) for c in changes if c.condition is VP) == [
        (0, False),
        (1, False),
    ]


def test_a_vapour_check_block_reaches_the_model_and_the_example_park_checks_its_gases() -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        "  - id: e03-V201\n",
        "  - id: e03-V201\n            vapour_check: {enabled: false}\n",
    )
    site = parse_site(text, "park.yaml")
    units = {u.id: u for e in site.enterprises for h in e.hazard_sources for u in h.units}
    assert units["e03-V201"].vapour == VapourCheck(enabled=False)
    assert units["e02-V101"].vapour == VapourCheck()
    (rule,) = [r for r in Detector(SensorTable.from_site(site), T0).rules if VP in r.conditions]
    table = SensorTable.from_site(site)
    assert [table.tags[i] for i in rule.pressure] == [
        "e02-V101-PT", "e02-V102-PT", "e02-V103-PT", "e02-V104-PT",
        "e03-V101-PT", "e03-V102-PT", "e03-V202-PT",
    ]  # fmt: skip


def test_balance_and_vapour_check_blocks_survive_the_config_round_trip() -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        "  - id: e03-V201\n",
        "  - id: e03-V201\n            vapour_check: {tolerance_kpa: 300}\n",
    )
    site = parse_site(text, "park.yaml")
    back = parse_site(site_to_yaml(site))
    assert back.enterprises == site.enterprises


def test_a_restored_departure_on_its_own_pressure_sensor_clears_back_on_the_curve() -> None:
    det = Detector(_table(), T0)
    det.restore([(1, VP)])
    on_curve = float(_gauge_mpa(np.array([20.0]))[0])
    changes = det.step(Batch.of([0, 1], [T0, T0], [20.0, on_curve]))
    assert [(c.sensor, c.active) for c in changes if c.condition is VP] == [(1, False)]
