"""The park generator: valid, deterministic, loadable as a config file, and its CLI spec."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from hazardwatch.vocabulary.config import load_site, parse_site
from hazardwatch.vocabulary.defaults import (
    COMBUSTIBLE_LEVEL1_MAX_LEL_PCT,
    COMBUSTIBLE_LEVEL2_MAX_LEL_PCT,
)
from hazardwatch.vocabulary.model import Kind, SensorTable, Site
from hazardwatch.vocabulary.substances import substance
from simulators import GenerateError, generate_site, parse_generate_spec, site_to_yaml

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "park.yaml"
HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def park() -> Site:
    return generate_site(6, 30, seed=7)


def test_same_seed_builds_the_same_site_and_another_seed_does_not() -> None:
    assert generate_site(4, 10, seed=3) == generate_site(4, 10, seed=3)
    assert generate_site(4, 10, seed=3) != generate_site(4, 10, seed=4)


def test_every_enterprise_gets_exactly_the_tanks_asked_for(park: Site) -> None:
    assert len(park.enterprises) == 6
    for e in park.enterprises:
        assert sum(len(h.units) for h in e.hazard_sources) == 30


def test_tags_and_ids_are_unique_across_the_site(park: Site) -> None:
    tags = [s.tag for _, _, _, s in park.iter_sensors()]
    units = [u.id for _, _, u, _ in park.iter_sensors()]
    assert len(set(tags)) == len(tags)
    assert len({e.id for e in park.enterprises}) == 6
    assert len(set(units)) == sum(len(h.units) for e in park.enterprises for h in e.hazard_sources)


def test_names_are_chinese_with_an_english_gloss(park: Site) -> None:
    for e in park.enterprises:
        assert HAN.search(e.name) and re.search(r"[A-Za-z]{3,}", e.name), e.name
        for h in e.hazard_sources:
            assert HAN.search(h.name) and re.search(r"(tank|sphere) farm", h.name), h.name
            people = {h.responsible.main, h.responsible.technical, h.responsible.operation}
            assert len(people) == 3 and all(HAN.fullmatch(p[0]) for p in people)
            assert 1 <= h.grade <= 4


def test_every_tank_has_level_and_temperature_and_pressure_when_pressurised(park: Site) -> None:
    for _, _, u, _ in park.iter_sensors():
        kinds = Counter(s.kind for s in u.sensors)
        assert kinds[Kind.LEVEL] == 1 and kinds[Kind.TEMPERATURE] == 1
        assert kinds[Kind.PRESSURE] == (1 if u.pressurised else 0)
        assert kinds[Kind.GAS_COMBUSTIBLE] + kinds[Kind.GAS_TOXIC] >= 1


def test_limits_lie_in_range_in_order_and_within_the_gas_ceilings(park: Site) -> None:
    for _, _, u, s in park.iter_sensors():
        lim = s.limits
        present = [v for v in (lim.hh, lim.h, lim.l, lim.ll) if v is not None]
        assert present == sorted(present, reverse=True) and len(set(present)) == len(present)
        assert all(s.range_lo <= v <= s.range_hi for v in present), s
        if s.kind is Kind.GAS_COMBUSTIBLE:
            assert lim.h <= COMBUSTIBLE_LEVEL1_MAX_LEL_PCT
            assert lim.hh <= COMBUSTIBLE_LEVEL2_MAX_LEL_PCT
        if s.kind is Kind.GAS_TOXIC:
            gas = substance(s.substance or u.substance)
            oel_ppm = gas.to_unit(gas.oel_mg_m3 or 0.0, "ppm")
            assert s.unit == "ppm"
            assert 0.99 * oel_ppm <= lim.h <= oel_ppm and lim.hh <= 2 * oel_ppm


def test_a_park_stores_a_mix_of_liquids_and_pressurised_gases() -> None:
    site = generate_site(30, 20, seed=1)
    stored = {u.substance for _, _, u, _ in site.iter_sensors()}
    assert {"methanol", "gasoline", "benzene", "toluene"} <= stored
    assert stored & {"liquefied petroleum gas", "propylene"} and stored & {"ammonia", "chlorine"}
    assert {u.type for _, _, u, _ in site.iter_sensors()} == {
        "vertical_tank",
        "sphere",
        "horizontal_tank",
    }


def test_gas_detectors_of_one_farm_vote_in_one_area(park: Site) -> None:
    members = Counter(s.area for _, _, _, s in park.iter_sensors() if s.area is not None)
    assert members and set(members) == set(park.areas)
    assert all(members[a] >= k for a, k in park.areas.items())
    assert all(s.kind.is_gas for _, _, _, s in park.iter_sensors() if s.area is not None)


def test_gateways_split_an_enterprise_into_blocks(park: Site) -> None:
    table = SensorTable.from_site(park)
    per_enterprise = Counter(key.split("/")[0] for key in table.gateway_sensors)
    assert set(per_enterprise.values()) == {2}  # 30 tanks: blocks of about 20 tanks


def test_the_yaml_loads_back_to_an_equal_site(park: Site) -> None:
    back = parse_site(site_to_yaml(park), source="generated.yaml")
    assert back.enterprises == park.enterprises
    assert (back.park, back.root_topic, back.areas) == (park.park, park.root_topic, park.areas)


def test_a_hand_written_config_survives_the_round_trip_too() -> None:
    site = load_site(EXAMPLE)
    back = parse_site(site_to_yaml(site))
    assert back.enterprises == site.enterprises and back.areas == site.areas


def test_period_s_sets_every_sensor_period() -> None:
    site = generate_site(1, 3, period_s=1.0)
    assert {s.period_s for _, _, _, s in site.iter_sensors()} == {1.0}


@pytest.mark.parametrize(
    ("enterprises", "tanks"), [(0, 5), (2, 0), (100_000, 1)], ids=["no-ent", "no-tank", "huge"]
)
def test_impossible_sizes_are_refused(enterprises: int, tanks: int) -> None:
    with pytest.raises(GenerateError, match="need 1-99999 enterprises"):
        generate_site(enterprises, tanks)


def test_spec_parses_with_an_optional_seed() -> None:
    assert parse_generate_spec("enterprises=100,tanks=50") == {"enterprises": 100, "tanks": 50}
    assert parse_generate_spec(" tanks = 5 , enterprises=2, seed=9") == {
        "tanks": 5,
        "enterprises": 2,
        "seed": 9,
    }


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("enterprises=100", "tanks missing"),
        ("enterprises=100,tanks", "'tanks' is not key=value"),
        ("enterprises=ten,tanks=5", "enterprises must be a whole number, got 'ten'"),
        ("enterprises=1,tanks=5,sites=3", "unknown key 'sites'"),
        ("enterprises=1,tanks=5,tanks=6", "tanks is given twice"),
        ("enterprises=0,tanks=5", "must be at least 1"),
        ("", "'' is not key=value"),
    ],
)
def test_a_malformed_spec_says_what_is_wrong_and_the_expected_form(spec: str, says: str) -> None:
    with pytest.raises(GenerateError) as info:
        parse_generate_spec(spec)
    assert says in str(info.value) and "enterprises=N,tanks=M[,seed=S]" in str(info.value)
