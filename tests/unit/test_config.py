"""The site config: the example park, every kind of broken config, defaults, substances."""

from __future__ import annotations

import copy
import doctest
import math
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from hazardwatch.vocabulary import config, config_schema, defaults, substances
from hazardwatch.vocabulary.config import KINDS, ConfigError, load_site, parse_site
from hazardwatch.vocabulary.model import Kind, SensorTable, Site
from hazardwatch.vocabulary.substances import UnknownSubstanceError, substance

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "park.yaml"

H2S_OEL_PPM = 10 * 24.45 / 34.08  # MAC 10 mg/m³, M 34.08 g/mol

UNIT = "enterprises[0].hazard_sources[0].units[0]"
LT = f"{UNIT}.sensors[0]"  # level
GT = f"{UNIT}.sensors[1]"  # combustible gas
AT = f"{UNIT}.sensors[2]"  # toxic gas (H2S)


def base() -> dict[str, Any]:
    """A small valid config; each test breaks one thing in a fresh copy."""
    return copy.deepcopy(
        {
            "park": {"name": "Test Park"},
            "enterprises": [
                {
                    "id": "e1",
                    "name": "测试化工 Test Chemical",
                    "hazard_sources": [
                        {
                            "id": "hs1",
                            "name": "Tank farm",
                            "grade": 2,
                            "responsible": {"main": "A", "technical": "B", "operation": "C"},
                            "units": [
                                {
                                    "id": "T1",
                                    "substance": "methanol",
                                    "capacity_m3": 1000,
                                    "sensors": [
                                        {
                                            "tag": "T1-LT",
                                            "kind": "level",
                                            "unit": "m",
                                            "range": [0, 20],
                                            "limits": {"hh": 18.5, "h": 17.5, "l": 1.0, "ll": 0.5},
                                        },
                                        {
                                            "tag": "T1-GT",
                                            "kind": "gas_combustible",
                                            "unit": "%LEL",
                                            "range": [0, 100],
                                        },
                                        {
                                            "tag": "T1-AT",
                                            "kind": "gas_toxic",
                                            "substance": "H2S",
                                            "unit": "ppm",
                                            "range": [0, 100],
                                        },
                                    ],
                                }
                            ],
                        }
                    ],
                }
            ],
        }
    )


def parse(cfg: dict[str, Any]) -> Site:
    return parse_site(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), source="park.yaml")


def problems(cfg: dict[str, Any] | str) -> list[str]:
    text = cfg if isinstance(cfg, str) else yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False)
    with pytest.raises(ConfigError) as info:
        parse_site(text, source="park.yaml")
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


def unit(cfg: dict[str, Any]) -> dict[str, Any]:
    return cfg["enterprises"][0]["hazard_sources"][0]["units"][0]


def sensor(cfg: dict[str, Any], i: int) -> dict[str, Any]:
    return unit(cfg)["sensors"][i]


def add_unit(cfg: dict[str, Any], unit_id: str, tag: str) -> dict[str, Any]:
    new = copy.deepcopy(unit(cfg))
    new["id"] = unit_id
    new["sensors"] = [dict(sensor(cfg, 0), tag=tag)]
    cfg["enterprises"][0]["hazard_sources"][0]["units"].append(new)
    return new


# ------------------------------------------------------------------ the example park


@pytest.fixture(scope="module")
def park() -> Site:
    return load_site(EXAMPLE)


def test_example_park_has_the_promised_size(park: Site) -> None:
    sources = [h for e in park.enterprises for h in e.hazard_sources]
    units = [u for h in sources for u in h.units]
    rows = park.iter_sensors()
    assert len(park.enterprises) >= 3
    assert len(sources) >= 6
    assert {h.grade for h in sources} == {1, 2, 3, 4}
    assert len(units) >= 20
    assert 90 <= len(rows) <= 110
    assert park.source == str(EXAMPLE)
    assert park.root_topic == "hw"


def test_example_tanks_carry_level_temperature_and_pressure_where_pressurised(park: Site) -> None:
    units = [u for e in park.enterprises for h in e.hazard_sources for u in h.units]
    for u in units:
        kinds = {s.kind for s in u.sensors}
        assert {Kind.LEVEL, Kind.TEMPERATURE} <= kinds, u.id
        assert (Kind.PRESSURE in kinds) == u.pressurised, u.id
    assert any(u.pressurised and u.substance == "LPG" for u in units)
    assert any(u.pressurised and u.substance == "ammonia" for u in units)


def test_example_gas_detectors_watch_the_right_substances(park: Site) -> None:
    sensors = [s for *_, s in park.iter_sensors()]
    toxic = {s.substance for s in sensors if s.kind is Kind.GAS_TOXIC}
    assert {"hydrogen sulfide", "ammonia", "benzene"} <= toxic
    assert sum(s.kind is Kind.GAS_COMBUSTIBLE for s in sensors) >= 10
    assert all(s.period_s == 2.0 for s in sensors)  # defaults.all reached every sensor
    assert all(s.latch == s.kind.is_gas for s in sensors)


def test_example_compiles_to_a_sensor_table(park: Site) -> None:
    table = SensorTable.from_site(park)
    assert table.n == len(park.iter_sensors())
    lt = table.tag_index["e01-T101-LT"]
    assert table.kind[lt] == Kind.LEVEL
    assert (table.limit_hh[lt], table.limit_h[lt], table.limit_l[lt], table.limit_ll[lt]) == (
        16.2,
        15.5,
        1.5,
        1.0,
    )
    assert table.deadband[lt] == pytest.approx(0.9)  # 5 % of an 18 m span
    assert table.on_delay_s[lt] == 10.0  # the park's level default, over ISA's 60 s
    assert table.stale_after_s[lt] == 6.0  # 3 periods of 2 s
    tt = table.tag_index["e01-T101-TT"]
    assert table.limit_hh[tt] == 45.0
    assert np.isnan(table.limit_l[tt]) and np.isnan(table.limit_ll[tt])
    gt = table.tag_index["e01-T101-GT"]
    assert (table.limit_h[gt], table.limit_hh[gt]) == (20.0, 40.0)
    assert np.isnan(table.limit_l[gt])
    assert table.latch[gt] and not table.latch[lt]
    assert table.on_delay_s[gt] == 0.0
    at = table.tag_index["e01-T301-AT1"]
    assert table.limit_h[at] == pytest.approx(H2S_OEL_PPM)
    assert table.gateway[table.tag_index["e01-T201-LT"]] == "e01/gw2"
    assert table.gateway[lt] == "e01/gw1"


# ------------------------------------------------------------ broken configs, one by one


def _set(path: Callable[[dict[str, Any]], dict[str, Any]], **fields: Any) -> Callable:
    def mutate(cfg: dict[str, Any]) -> None:
        path(cfg).update(fields)

    return mutate


def _del(path: Callable[[dict[str, Any]], dict[str, Any]], key: str) -> Callable:
    def mutate(cfg: dict[str, Any]) -> None:
        del path(cfg)[key]

    return mutate


def _ent(cfg: dict[str, Any]) -> dict[str, Any]:
    return cfg["enterprises"][0]


def _hs(cfg: dict[str, Any]) -> dict[str, Any]:
    return cfg["enterprises"][0]["hazard_sources"][0]


def _lt(cfg: dict[str, Any]) -> dict[str, Any]:
    return sensor(cfg, 0)


def _gt(cfg: dict[str, Any]) -> dict[str, Any]:
    return sensor(cfg, 1)


def _at(cfg: dict[str, Any]) -> dict[str, Any]:
    return sensor(cfg, 2)


BROKEN: dict[str, tuple[Callable[[dict[str, Any]], None], list[str]]] = {
    "missing_required_field": (_del(_ent, "name"), ["enterprises[0].name: required field"]),
    "unknown_field_typo": (
        _set(_lt, limts={"hh": 1}),
        [f"{LT}.limts: unknown field 'limts'; did you mean 'limits'?"],
    ),
    "unknown_defaults_kind": (
        lambda c: c.update(defaults={"levle": {"on_delay_s": 5}}),
        ["defaults.levle: unknown field 'levle'; did you mean 'level'?"],
    ),
    "wrong_type_text_for_number": (
        _set(unit, capacity_m3="lots"),
        [f"{UNIT}.capacity_m3: expected a number, got the text 'lots'"],
    ),
    "wrong_type_quoted_number": (
        _set(unit, capacity_m3="1000"),
        [f"{UNIT}.capacity_m3: expected a number, got the text '1000'; write the number without"],
    ),
    "wrong_type_bool_for_number": (
        _set(_lt, on_delay_s=True),
        [f"{LT}.on_delay_s: expected a number, got a boolean (true)"],
    ),
    "wrong_type_number_for_tag": (
        _set(_lt, tag=101),
        [f"{LT}.tag: expected text, got the number 101; put it in quotes"],
    ),
    "nan_limit": (_set(_lt, limits={"hh": math.nan}), [f"{LT}.limits.hh: must be a finite"]),
    "unknown_kind": (
        _set(_lt, kind="levl"),
        [
            f"{LT}.kind: unknown kind 'levl'; valid kinds: temperature, level, pressure, flow, "
            "gas_combustible, gas_toxic, generic"
        ],
    ),
    "range_reversed": (
        _set(_lt, range=[20, 0], limits={}),
        [f"{LT}.range: low end (20.0) must be below high end (0.0)"],
    ),
    "range_one_number": (_set(_lt, range=[20]), [f"{LT}.range: expected [lo, hi], two numbers"]),
    "limit_order": (
        _set(_lt, limits={"hh": 12.0, "h": 14.5}),
        [f"{LT}.limits: HH (12.0) must be above H (14.5)"],
    ),
    "limit_equal": (
        _set(_lt, limits={"hh": 15, "h": 15}),
        [f"{LT}.limits: HH (15.0) must be above H (15.0)"],
    ),
    "limit_order_low": (
        _set(_lt, limits={"l": 0.5, "ll": 1.0}),
        [f"{LT}.limits: L (0.5) must be above LL (1.0)"],
    ),
    "gas_level_order": (
        _set(_gt, limits={"level1": 20, "level2": 15}),
        [f"{GT}.limits: level2 (15.0) must be above level1 (20.0)"],
    ),
    "limit_outside_range": (
        _set(_lt, limits={"hh": 25}),
        [f"{LT}.limits.hh: 25.0 m lies outside the instrument range [0.0, 20.0]"],
    ),
    "bad_tag_characters": (
        _set(_lt, tag="T1/LT#"),
        [f"{LT}.tag: tag 'T1/LT#' must be 1-64 characters of letters, digits"],
    ),
    "tag_too_long": (_set(_lt, tag="T" * 65), [f"{LT}.tag: tag 'TTTT"]),
    "bad_enterprise_id": (
        _set(_ent, id="e 1"),
        ["enterprises[0].id: enterprise id 'e 1' may only contain letters, digits, '_' and '-'"],
    ),
    "grade_too_high": (
        _set(_hs, grade=5),
        ["hazard_sources[0].grade: GB 18218 grade must be 1, 2, 3 or 4", "got 5"],
    ),
    "grade_zero": (_set(_hs, grade=0), ["hazard_sources[0].grade: GB 18218 grade", "got 0"]),
    "negative_delay": (
        _set(_lt, on_delay_s=-5),
        [f"{LT}.on_delay_s: must not be negative (got -5)"],
    ),
    "negative_deadband": (
        _set(_lt, deadband=-0.1),
        [f"{LT}.deadband: must not be negative (got -0.1)"],
    ),
    "zero_period": (_set(_lt, period_s=0), [f"{LT}.period_s: must be greater than 0"]),
    "deadband_wider_than_span": (
        _set(_lt, deadband=25),
        [f"{LT}.deadband: deadband 25.0 must be smaller than the instrument span 20.0"],
    ),
    "negative_default_delay": (
        lambda c: c.update(defaults={"all": {"off_delay_s": -1}}),
        ["park.yaml: defaults.all.off_delay_s: must not be negative (got -1)"],
    ),
    "combustible_range_beyond_100": (
        _set(_gt, range=[0, 120]),
        [f"{GT}.range: a %LEL range must lie within [0, 100]"],
    ),
    "substance_on_level_sensor": (
        _set(_lt, substance="methanol"),
        [f"{LT}.substance: only gas detectors name a substance; remove it"],
    ),
    "deadband_and_pct": (
        _set(_lt, deadband=0.2, deadband_pct=1),
        [f"{LT}: give deadband (absolute) or deadband_pct (of span), not both"],
    ),
    "deadband_never_clears": (
        _set(_lt, deadband=1.0, limits={"h": 0.5}),
        [f"{LT}.deadband: deadband 1.0 m would keep the H alarm at 0.5 m from ever clearing"],
    ),
    "combustible_unit": (
        _set(_gt, unit="ppm"),
        [f"{GT}.unit: a gas_combustible sensor reads in %LEL, not 'ppm'"],
    ),
    "combustible_level1_ceiling": (
        _set(_gt, limits={"level1": 30}),
        [
            f"{GT}.limits.level1: first-level alarm 30.0 %LEL is above the 25.0 %LEL ceiling "
            "of GB/T 50493-2019",
            "set level1 to 25.0 or less",
        ],
    ),
    "combustible_level2_ceiling": (
        _set(_gt, limits={"level2": 60}),
        [f"{GT}.limits.level2: second-level alarm 60.0 %LEL is above the 50.0 %LEL ceiling"],
    ),
    "hh_on_gas_detector": (
        _set(_gt, limits={"hh": 40}),
        [f"{GT}.limits: a gas detector's limits are level1 (first level) and level2"],
    ),
    "level1_on_level_sensor": (
        _set(_lt, limits={"level1": 4}),
        [f"{LT}.limits: level1/level2 are for gas detectors; a level sensor uses hh, h, l, ll"],
    ),
    "toxic_unknown_substance": (
        _set(_at, substance="unobtainium"),
        [
            f"{AT}.substance: unknown substance 'unobtainium'; known toxic substances: "
            "hydrogen sulfide, carbon monoxide, ammonia"
        ],
    ),
    "toxic_substance_not_toxic": (
        _set(_at, substance="methane"),
        [f"{AT}.substance: methane is not toxic in the substances table"],
    ),
    "toxic_without_substance": (
        lambda c: (_at(c).pop("substance"), unit(c).update(substance="gasoline")),
        [f"{AT}.substance: a gas_toxic sensor needs substance: (its unit's substance 'gasoline'"],
    ),
    "toxic_unit": (
        _set(_at, unit="%LEL"),
        [f"{AT}.unit: a gas_toxic sensor reads in ppm or mg/m3"],
    ),
    "toxic_level1_above_oel": (
        _set(_at, limits={"level1": 8}),
        [
            f"{AT}.limits.level1: level1 8.0 ppm is above 100 % of the OEL of hydrogen sulfide "
            "(MAC 10.0 mg/m3 = 7.174 ppm; ceiling 7.174 ppm), the limit of GB/T 50493-2019",
            "set range_cannot_reach_oel: true and keep level1 <= 5 % IDLH = 5.0 ppm",
        ],
    ),
    "toxic_level2_above_oel": (
        _set(_at, limits={"level2": 15}),
        [f"{AT}.limits.level2: level2 15.0 ppm is above 200 % of the OEL", "ceiling 14.35 ppm"],
    ),
    "toxic_level1_above_idlh_share": (
        _set(_at, range_cannot_reach_oel=True, limits={"level1": 6, "level2": 10}),
        [
            f"{AT}.limits.level1: level1 6.0 ppm is above 5 % of the IDLH of hydrogen sulfide "
            "(IDLH 100.0 ppm; ceiling 5.0 ppm), the limit of GB/T 50493-2019"
        ],
    ),
    "toxic_level2_above_idlh_share": (
        _set(_at, range_cannot_reach_oel=True, limits={"level1": 4, "level2": 12}),
        [f"{AT}.limits.level2: level2 12.0 ppm is above 10 % of the IDLH", "ceiling 10.0 ppm"],
    ),
    "toxic_default_outside_range": (
        _set(_at, range=[0, 10]),
        [
            f"{AT}.limits.level2: 14.35 ppm (default: 200 % of the OEL) lies outside the "
            "instrument range [0.0, 10.0]; widen the range or set the limit explicitly"
        ],
    ),
    "oel_flag_on_combustible": (
        _set(_gt, range_cannot_reach_oel=True),
        [f"{GT}.range_cannot_reach_oel: applies only to gas_toxic sensors"],
    ),
    "duplicate_tag": (
        lambda c: add_unit(c, "T2", "T1-LT"),
        [
            f"{UNIT.replace('units[0]', 'units[1]')}.sensors[0].tag: duplicate tag 'T1-LT', "
            f"already used at {LT}.tag"
        ],
    ),
    "duplicate_unit_id": (
        lambda c: add_unit(c, "T1", "T2-LT"),
        ["units[1].id: duplicate unit id 'T1', already used at"],
    ),
    "duplicate_hazard_source_id": (
        lambda c: _ent(c)["hazard_sources"].append(dict(copy.deepcopy(_hs(c)), units=[])),
        ["hazard_sources[1].id: duplicate hazard source id 'hs1'"],
    ),
    "duplicate_enterprise_id": (
        lambda c: c["enterprises"].append(dict(copy.deepcopy(_ent(c)), hazard_sources=[])),
        ["enterprises[1].id: duplicate enterprise id 'e1', already used at enterprises[0].id"],
    ),
    "bad_gateway_id": (
        _set(unit, gateway="gw/1"),
        [f"{UNIT}.gateway: gateway id 'gw/1' may only contain"],
    ),
    "bad_root_topic": (
        lambda c: c["park"].update(root_topic="hw/#"),
        ["park.root_topic: 'hw/#' is not a usable MQTT topic root"],
    ),
    "camera_url_not_a_url": (
        _set(unit, camera_url="camera 7"),
        [f"{UNIT}.camera_url: 'camera 7' is not a URL"],
    ),
    "no_enterprises": (
        lambda c: c.update(enterprises=[]),
        ["park.yaml: enterprises: the list is empty; add at least one item"],
    ),
    # ------------------------------------------------ trend settings
    "trend_zero_window": (
        _set(_lt, trend={"rate_window_s": 0}),
        [f"{LT}.trend.rate_window_s: must be greater than 0 (got 0)"],
    ),
    "trend_negative_stuck_window": (
        _set(_lt, trend={"stuck_window_s": -60}),
        [f"{LT}.trend.stuck_window_s: must be greater than 0 (got -60)"],
    ),
    "trend_zero_horizon": (
        _set(_lt, trend={"horizon_s": 0}),
        [f"{LT}.trend.horizon_s: must be greater than 0 (got 0)"],
    ),
    "trend_unknown_field": (
        _set(_lt, trend={"horizon": 600}),
        [f"{LT}.trend.horizon: unknown field 'horizon'; did you mean 'horizon_s'?"],
    ),
    "trend_window_cannot_be_off": (
        _set(_lt, trend={"rate_window_s": "off"}),
        [f"{LT}.trend.rate_window_s: this setting cannot be switched off; give a number"],
    ),
    "trend_drift_off_delay_cannot_be_off": (
        _set(_lt, trend={"drift_off_delay_s": "off"}),
        [f"{LT}.trend.drift_off_delay_s: this setting cannot be switched off; give a number"],
    ),
    "trend_off_misspelt": (
        _set(_lt, trend={"horizon_s": "of"}),
        [
            f"{LT}.trend.horizon_s: expected a number, got the text 'of'; "
            "or write off (or null) to switch the check off"
        ],
    ),
    "trend_both_forms": (
        _set(_lt, trend={"rate_limit_per_min": 0.1, "rate_limit_pct_per_min": 1}),
        [
            f"{LT}.trend: give rate_limit_per_min (absolute) or rate_limit_pct_per_min "
            "(of span), not both"
        ],
    ),
    "trend_drift_k_not_below_h": (
        _set(_gt, trend={"drift_h_sigma": 4, "drift_k_sigma": 4}),
        [f"{GT}.trend.drift_k_sigma: drift_k_sigma (4.0) must be smaller than drift_h_sigma (4.0)"],
    ),
    "trend_drift_k_against_default_h": (
        _set(_gt, trend={"drift_k_sigma": 9}),
        [f"{GT}.trend.drift_k_sigma: drift_k_sigma (9.0) must be smaller than drift_h_sigma (8.0)"],
    ),
    "trend_noise_ratio_one": (
        _set(_lt, trend={"noise_ratio": 1}),
        [f"{LT}.trend.noise_ratio: must be greater than 1 (got 1)"],
    ),
    "trend_alpha_above_one": (
        _set(_lt, trend={"baseline_alpha": 2.0}),
        [f"{LT}.trend.baseline_alpha: must be at most 1 (got 2.0)"],
    ),
    "trend_warmup_fraction": (
        _set(_lt, trend={"baseline_warmup_n": 2.5}),
        [f"{LT}.trend.baseline_warmup_n: expected a whole number, got the number 2.5"],
    ),
    "defaults_trend_drift": (
        lambda c: c.update(defaults={"gas_toxic": {"trend": {"drift_k_sigma": 10}}}),
        [
            "park.yaml: defaults.gas_toxic.trend.drift_k_sigma: gas_toxic: drift_k_sigma "
            "(10.0) must be smaller than drift_h_sigma (8.0)"
        ],
    ),
    "defaults_all_trend_drift": (
        lambda c: c.update(defaults={"all": {"trend": {"drift_h_sigma": 0.25}}}),
        ["defaults.all.trend.drift_k_sigma: gas_toxic: drift_k_sigma (1.0) must be smaller"],
    ),
    "defaults_trend_unknown_field": (
        lambda c: c.update(defaults={"level": {"trend": {"stuck_window": 60}}}),
        ["defaults.level.trend.stuck_window: unknown field 'stuck_window'; did you mean"],
    ),
    "max_fill_rate_zero": (
        _set(unit, max_fill_rate_m_per_h=0),
        [f"{UNIT}.max_fill_rate_m_per_h: must be greater than 0 (got 0)"],
    ),
    "max_fill_rate_for_a_level_in_percent": (
        lambda c: (
            unit(c).update(max_fill_rate_m_per_h=2.0),
            _lt(c).update(unit="%", range=[0, 100], limits={"hh": 90}),
        ),
        [f"{LT}.unit: the tank's max_fill_rate_m_per_h cannot become a rate limit"],
    ),
    # ------------------------------------------------ gas areas
    "area_unknown": (
        lambda c: (c.update(areas={"north": {"k": 1}}), _gt(c).update(area="A9")),
        [f"{GT}.area: unknown area 'A9'; define it under areas: (defined: north)"],
    ),
    "area_misspelt": (
        lambda c: (c.update(areas={"north": {"k": 1}}), _gt(c).update(area="nort")),
        [f"{GT}.area: unknown area 'nort'; did you mean 'north'?"],
    ),
    "area_fewer_detectors_than_k": (
        lambda c: (
            c.update(areas={"A1": {"k": 3}}),
            _gt(c).update(area="A1"),
            _at(c).update(area="A1"),
        ),
        [
            "park.yaml: areas.A1.k: area 'A1' needs at least k = 3 gas detectors to vote, "
            "but only 2 name it (T1-GT, T1-AT); lower k or add area: A1 to more detectors"
        ],
    ),
    "area_without_detectors": (
        lambda c: c.update(areas={"A1": {}}),
        ["areas.A1.k: area 'A1' needs at least k = 2 gas detectors to vote, but only 0"],
    ),
    "area_k_zero": (
        lambda c: (c.update(areas={"A1": {"k": 0}}), _gt(c).update(area="A1")),
        ["park.yaml: areas.A1.k: must be at least 1 (got 0)"],
    ),
    "area_on_level_sensor": (
        lambda c: (c.update(areas={"A1": {"k": 1}}), _lt(c).update(area="A1")),
        [f"{LT}.area: only gas detectors vote in an area (k of n); a level sensor cannot"],
    ),
    "area_bad_id": (
        lambda c: (c.update(areas={"A 1": {"k": 1}}), _gt(c).update(area="A 1")),
        ["park.yaml: areas.A 1: area id 'A 1' may only contain letters"],
    ),
    "area_unknown_field": (
        lambda c: c.update(areas={"A1": {"n": 2}}),
        ["areas.A1.n: unknown field 'n' (allowed: k)"],
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_config_names_file_path_and_problem(case: str) -> None:
    mutate, expected = BROKEN[case]
    cfg = base()
    mutate(cfg)
    found = problems(cfg)
    assert all(p.startswith("park.yaml: ") for p in found), found
    text = "\n".join(found)
    for part in expected:
        assert part in text, f"{part!r} not in:\n{text}"


def test_base_config_is_valid() -> None:
    # the broken cases are only meaningful if the unbroken one loads
    site = parse(base())
    assert [s.tag for *_, s in site.iter_sensors()] == ["T1-LT", "T1-GT", "T1-AT"]


def test_every_problem_is_reported_not_only_the_first() -> None:
    cfg = base()
    sensor(cfg, 0)["limits"] = {"hh": 12.0, "h": 14.5}
    sensor(cfg, 1)["limits"] = {"level1": 30}
    _hs(cfg)["grade"] = 7
    found = problems(cfg)
    assert len(found) == 3, found
    assert "park.yaml: enterprises[0].hazard_sources[0].grade: GB 18218" in found[0]


def test_every_structural_problem_is_reported_together() -> None:
    cfg = base()
    sensor(cfg, 0)["limts"] = {}
    sensor(cfg, 1)["kind"] = "gas"
    del _ent(cfg)["name"]
    assert len(problems(cfg)) == 3


def test_yaml_syntax_error_gives_the_line() -> None:
    text = "park:\n  name: x\nenterprises: [\n  {id: e1\n"
    (msg,) = problems(text)
    assert msg.startswith("park.yaml: line ")
    assert "YAML syntax error" in msg


def test_tab_indentation_gives_line_and_column() -> None:
    (msg,) = problems("park:\n\tname: x\n")
    assert msg.startswith("park.yaml: line 2, column 1: YAML syntax error")


def test_duplicate_yaml_key_is_reported_with_its_line() -> None:
    text = yaml.safe_dump(base(), allow_unicode=True, sort_keys=False).replace(
        "  name: Test Park", "  name: Test Park\n  name: Other Park"
    )
    found = problems(text)
    assert found == [
        "park.yaml: line 3: duplicate key 'name' in one mapping; only the last "
        "would count, so remove or rename one"
    ]


def test_top_level_list_is_refused() -> None:
    (msg,) = problems("- park\n- enterprises\n")
    assert msg == (
        "park.yaml: (top level): expected a mapping with keys park, defaults, areas, "
        "enterprises; got a list"
    )


def test_empty_file_is_refused() -> None:
    (msg,) = problems("# nothing here\n")
    assert msg == "park.yaml: (top level): the file is empty; it needs park: and enterprises:"


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_site(tmp_path / "nope.yaml")
    (msg,) = info.value.problems
    assert msg.startswith(f"{tmp_path / 'nope.yaml'}: (file): file not found")


def test_non_utf8_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("park: {name: Caf\xe9}\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_site(path)


def test_load_site_uses_the_path_as_given(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    cfg = base()
    sensor(cfg, 0)["limits"] = {"hh": 12.0, "h": 14.5}
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_site(path)
    assert info.value.problems == [f"{path}: {LT}.limits: HH (12.0) must be above H (14.5)"]


def test_config_error_is_a_hazardwatch_error() -> None:
    from hazardwatch.vocabulary.model import HazardWatchError

    assert issubclass(ConfigError, HazardWatchError)


# ------------------------------------------------------------------ defaults


def _only(site: Site, tag: str) -> Any:
    return next(s for *_, s in site.iter_sensors() if s.tag == tag)


def test_builtin_defaults_per_kind() -> None:
    cfg = base()
    extra = [
        {"tag": "T1-TT", "kind": "temperature", "unit": "degC", "range": [-20, 80]},
        {"tag": "T1-PT", "kind": "pressure", "unit": "MPa", "range": [0, 2.5]},
        {"tag": "T1-FT", "kind": "flow", "unit": "m3/h", "range": [0, 400]},
        {"tag": "T1-XT", "kind": "generic", "unit": "mm/s", "range": [0, 50]},
    ]
    unit(cfg)["sensors"] += extra
    site = parse(cfg)
    expected = {  # tag: (deadband, on_delay_s, off_delay_s, latch)
        "T1-LT": (1.0, 60.0, 60.0, False),
        "T1-TT": (1.0, 60.0, 60.0, False),
        "T1-PT": (0.05, 15.0, 15.0, False),
        "T1-FT": (20.0, 15.0, 15.0, False),
        "T1-XT": (0.5, 0.0, 0.0, False),
        "T1-GT": (2.0, 0.0, 0.0, True),
        "T1-AT": (2.0, 0.0, 0.0, True),
    }
    for tag, (deadband, on, off, latch) in expected.items():
        s = _only(site, tag)
        assert (s.on_delay_s, s.off_delay_s, s.latch) == (on, off, latch), tag
        assert s.deadband == pytest.approx(deadband), tag
        assert (s.period_s, s.stale_periods) == (10.0, 3.0), tag


def test_defaults_section_overrides_all_then_kind_then_sensor() -> None:
    cfg = base()
    cfg["defaults"] = {
        "all": {"period_s": 2, "on_delay_s": 5},
        "level": {"on_delay_s": 30, "deadband_pct": 1},
        "gas_toxic": {"latch": False},
    }
    sensor(cfg, 1)["on_delay_s"] = 0
    site = parse(cfg)
    lt, gt, at = (_only(site, t) for t in ("T1-LT", "T1-GT", "T1-AT"))
    assert (lt.on_delay_s, lt.deadband, lt.period_s) == (30.0, 0.2, 2.0)
    assert (gt.on_delay_s, gt.period_s, gt.latch) == (0.0, 2.0, True)
    assert (at.on_delay_s, at.latch) == (5.0, False)


def test_sensor_settings_override_defaults() -> None:
    cfg = base()
    sensor(cfg, 0).update(deadband=0.3, off_delay_s=10, stale_periods=5, latch=True)
    lt = _only(parse(cfg), "T1-LT")
    assert (lt.deadband, lt.on_delay_s, lt.off_delay_s, lt.stale_periods, lt.latch) == (
        0.3,
        60.0,
        10.0,
        5.0,
        True,
    )


def test_toxic_defaults_are_100_and_200_percent_of_oel_in_ppm() -> None:
    at = _only(parse(base()), "T1-AT")
    assert at.substance == "hydrogen sulfide"
    assert at.unit == "ppm"
    assert at.limits.h == pytest.approx(H2S_OEL_PPM)
    assert at.limits.hh == pytest.approx(2 * H2S_OEL_PPM)
    assert at.limits.h == pytest.approx(7.1743, abs=1e-4)
    assert at.limits.l is None and at.limits.ll is None


def test_toxic_defaults_in_mg_m3_are_the_oel_itself() -> None:
    cfg = base()
    sensor(cfg, 2).update(unit="mg/m³", range=[0, 50])
    at = _only(parse(cfg), "T1-AT")
    assert (at.unit, at.limits.h, at.limits.hh) == ("mg/m3", 10.0, 20.0)


def test_toxic_limits_at_the_oel_are_accepted() -> None:
    cfg = base()
    sensor(cfg, 2)["limits"] = {"level1": 7.17, "level2": 14.3}
    at = _only(parse(cfg), "T1-AT")
    assert (at.limits.h, at.limits.hh) == (7.17, 14.3)


def test_toxic_range_cannot_reach_oel_defaults_to_idlh_shares() -> None:
    cfg = base()
    sensor(cfg, 2).update(
        substance="ammonia", range=[0, 1000], range_cannot_reach_oel=True, deadband=5
    )
    at = _only(parse(cfg), "T1-AT")
    # NIOSH IDLH of ammonia 300 ppm: 5 % and 10 %
    assert at.limits.h == pytest.approx(15.0)
    assert at.limits.hh == pytest.approx(30.0)


def test_toxic_substance_defaults_to_the_units_substance() -> None:
    cfg = base()
    unit(cfg)["substance"] = "液氨"
    del sensor(cfg, 2)["substance"]
    at = _only(parse(cfg), "T1-AT")
    assert at.substance == "ammonia"
    assert at.limits.h == pytest.approx(20 * 24.45 / 17.03)


def test_combustible_defaults_are_the_ceilings() -> None:
    gt = _only(parse(base()), "T1-GT")
    assert (gt.unit, gt.limits.h, gt.limits.hh) == ("%LEL", 25.0, 50.0)
    assert gt.substance == "methanol"  # from its unit


def test_combustible_limits_at_the_ceilings_are_accepted() -> None:
    cfg = base()
    sensor(cfg, 1)["limits"] = {"level1": 25, "level2": 50}
    assert _only(parse(cfg), "T1-GT").limits.hh == 50.0


def test_kind_names_match_the_model() -> None:
    literal = config_schema.RawSensor.model_fields["kind"].annotation
    assert set(typing.get_args(literal)) == set(KINDS) == {k.label for k in Kind}


def test_parsed_site_is_frozen() -> None:
    site = parse(base())
    with pytest.raises(AttributeError):
        site.park = "other"  # type: ignore[misc]


# ------------------------------------------------------------ trend settings, areas


def _extra_kinds(cfg: dict[str, Any]) -> None:
    unit(cfg)["sensors"] += [
        {"tag": "T1-TT", "kind": "temperature", "unit": "degC", "range": [-20, 80]},
        {"tag": "T1-PT", "kind": "pressure", "unit": "MPa", "range": [0, 2.5]},
        {"tag": "T1-FT", "kind": "flow", "unit": "m3/h", "range": [0, 400]},
        {"tag": "T1-XT", "kind": "generic", "unit": "mm/s", "range": [0, 50]},
    ]


def test_builtin_trend_defaults_per_kind() -> None:
    cfg = base()
    _extra_kinds(cfg)
    site = parse(cfg)
    # tag: (rate /min, horizon s, drift h sigma, spike /s); spans 20 m, 100 degC, 2.5 MPa, ...
    expected = {
        "T1-LT": (0.4, 1800.0, None, 0.2),  # 2 % and 1 % of 20 m; level moves by operation
        # 3 degC/h; 0.5 % of 100 degC per s; temperature and pressure follow the weather
        "T1-TT": (0.05, 1800.0, None, 0.5),
        "T1-PT": (0.125, 1800.0, None, 0.025),  # 5 % and 1 % of 2.5 MPa
        "T1-FT": (None, None, None, None),  # flow steps when a pump starts
        "T1-XT": (None, 1800.0, 8.0, None),
        "T1-GT": (None, None, 8.0, None),  # a real leak can jump; limits do the work
        "T1-AT": (None, None, 8.0, None),
    }
    for tag, (rate, horizon, drift, spike) in expected.items():
        s = _only(site, tag)
        t = s.trend
        assert t.rate_limit_per_min == pytest.approx(rate), tag
        assert (t.horizon_s, t.drift_h_sigma) == (horizon, drift), tag
        assert t.spike_rate_per_s == pytest.approx(spike), tag
        k_sigma = 1.0 if s.kind.is_gas or s.kind is Kind.GENERIC else 0.5
        noise = None if s.kind is Kind.FLOW else 5.0  # a flow's noise follows its pumps
        assert (t.stuck_window_s, t.noise_ratio, t.drift_k_sigma) == (900.0, noise, k_sigma), tag
        window = 1800.0 if s.kind is Kind.TEMPERATURE else 300.0
        assert (t.rate_window_s, t.baseline_warmup_n, t.baseline_alpha) == (window, 100, 0.001)
        assert t.resolution == pytest.approx(0.001 * (s.range_hi - s.range_lo)), tag


def test_trend_settings_override_all_then_kind_then_sensor() -> None:
    cfg = base()
    _extra_kinds(cfg)
    cfg["defaults"] = {
        "all": {"trend": {"stuck_window_s": 600, "noise_ratio": "off"}},
        "temperature": {"trend": {"rate_limit_pct_per_min": 1, "horizon_s": 900}},
        "gas_combustible": {"trend": {"horizon_s": 300, "drift_h_sigma": None}},
    }
    sensor(cfg, 3)["trend"] = {"horizon_s": 600, "stuck_window_s": "off", "resolution": 0.5}
    sensor(cfg, 0)["trend"] = {"rate_limit_per_min": 0.05, "spike_rate_pct_per_s": None}
    site = parse(cfg)
    tt, lt, gt, at = (_only(site, t).trend for t in ("T1-TT", "T1-LT", "T1-GT", "T1-AT"))
    # the kind's share of span replaced the built-in absolute 2 degC/min
    assert tt.rate_limit_per_min == pytest.approx(1.0)
    assert (tt.horizon_s, tt.stuck_window_s, tt.noise_ratio, tt.resolution) == (
        600.0,
        None,
        None,
        0.5,
    )
    assert lt.rate_limit_per_min == 0.05 and lt.spike_rate_per_s is None
    assert (lt.stuck_window_s, lt.noise_ratio) == (600.0, None)
    assert (gt.horizon_s, gt.drift_h_sigma) == (300.0, None)
    assert (at.horizon_s, at.drift_h_sigma) == (None, 8.0)  # toxic is another kind


def test_sensor_trend_mapping_compiles_to_table_columns() -> None:
    cfg = base()
    sensor(cfg, 0)["trend"] = {
        "horizon_s": "off", "drift_h_sigma": 6, "drift_k_sigma": 1, "drift_off_delay_s": 90
    }  # fmt: skip
    table = SensorTable.from_site(parse(cfg))
    lt = table.tag_index["T1-LT"]
    assert np.isnan(table.horizon_s[lt])
    assert (table.drift_h_sigma[lt], table.drift_k_sigma[lt]) == (6.0, 1.0)
    assert table.drift_off_delay_s[lt] == 90.0 and table.drift_off_delay_s[1] == 300.0
    assert table.rate_limit_per_min[lt] == pytest.approx(0.4)
    assert np.isnan(table.rate_limit_per_min[table.tag_index["T1-GT"]])


def test_level_rate_limit_comes_from_the_tanks_rated_fill_rate() -> None:
    cfg = base()
    unit(cfg)["max_fill_rate_m_per_h"] = 3.0
    assert _only(parse(cfg), "T1-LT").trend.rate_limit_per_min == pytest.approx(0.06)
    sensor(cfg, 0).update(unit="mm", range=[0, 20000], limits={"hh": 18500}, deadband=100)
    assert _only(parse(cfg), "T1-LT").trend.rate_limit_per_min == pytest.approx(60.0)
    # the tank's rate wins over the park's level default; the sensor's own over both
    cfg["defaults"] = {"level": {"trend": {"rate_limit_pct_per_min": 5}}}
    assert _only(parse(cfg), "T1-LT").trend.rate_limit_per_min == pytest.approx(60.0)
    sensor(cfg, 0)["trend"] = {"rate_limit_per_min": "off"}
    assert _only(parse(cfg), "T1-LT").trend.rate_limit_per_min is None
    # other kinds in the tank are not touched by its fill rate
    assert _only(parse(cfg), "T1-GT").trend.rate_limit_per_min is None


def test_gas_areas_fill_the_site_and_the_table() -> None:
    cfg = base()
    cfg["areas"] = {"tank-top": {"k": 2}, "pump-pit": {}}
    add_unit(cfg, "T2", "T2-LT")
    extra = [
        {"tag": f"T2-GT{i}", "kind": "gas_combustible", "unit": "%LEL", "range": [0, 100]}
        for i in (1, 2)
    ]
    unit(cfg)["sensors"] += extra
    sensor(cfg, 1)["area"] = sensor(cfg, 2)["area"] = "tank-top"
    sensor(cfg, 3)["area"] = sensor(cfg, 4)["area"] = "pump-pit"
    site = parse(cfg)
    assert site.areas == {"tank-top": 2, "pump-pit": 2}
    assert _only(site, "T1-AT").area == "tank-top" and _only(site, "T1-LT").area is None
    table = SensorTable.from_site(site)
    assert table.areas == ("pump-pit", "tank-top")
    by_tag = {
        t: table.areas[a] if a >= 0 else None for t, a in zip(table.tags, table.area, strict=True)
    }
    assert by_tag == {
        "T1-LT": None,
        "T1-GT": "tank-top",
        "T1-AT": "tank-top",
        "T2-GT1": "pump-pit",
        "T2-GT2": "pump-pit",
        "T2-LT": None,
    }
    assert list(table.area_k) == [2, 2]


def test_example_park_has_gas_areas_and_rated_fill_rates(park: Site) -> None:
    assert len(park.areas) >= 3 and set(park.areas.values()) == {2}
    sensors = [s for *_, s in park.iter_sensors()]
    for area, k in park.areas.items():
        members = [s for s in sensors if s.area == area]
        assert k <= len(members) <= 3, area
        assert all(s.kind.is_gas for s in members), area
    substances = {u.substance for *_, u, s in park.iter_sensors() if s.area is not None}
    assert {"LPG", "ammonia"} <= substances
    lt = _only(park, "e01-T101-LT")
    assert lt.trend.rate_limit_per_min == pytest.approx(2.0 * 1.2 / 60)  # 2 m/h rated fill
    assert _only(park, "e01-T201-TT").trend.rate_limit_per_min == 0.05  # the default: 3 degC/h


# ------------------------------------------------------------------ substances

OEL_TABLE = {  # GB/T 50493-2019 first-level values, mg/m³ (standards.md)
    "H2S": 10,
    "CO": 20,
    "NH3": 20,
    "Cl2": 1,
    "SO2": 5,
    "NO2": 5,
    "benzene": 6,
    "HCN": 1,
    "HCl": 7.5,
    "toluene": 50,
    "methanol": 25,
    "phosgene": 0.5,
}


@pytest.mark.parametrize("name", sorted(OEL_TABLE))
def test_substance_oel_matches_the_standard_table(name: str) -> None:
    s = substance(name)
    assert s.toxic
    assert s.oel_mg_m3 == OEL_TABLE[name]
    assert s.idlh_mg_m3 is not None and s.idlh_mg_m3 > s.oel_mg_m3


@pytest.mark.parametrize(
    "name",
    [
        "methane",
        "propane",
        "butane",
        "LPG",
        "gasoline",
        "ethanol",
        "methanol",
        "toluene",
        "benzene",
        "hydrogen",
        "ethylene",
    ],
)
def test_combustibles_have_a_lel(name: str) -> None:
    s = substance(name)
    assert s.combustible
    assert s.lel_vol_pct is not None and 0 < s.lel_vol_pct < 20


def test_substance_lookup_by_alias_is_case_insensitive() -> None:
    h2s = substance("H2S")
    for name in ("hydrogen sulfide", "Hydrogen Sulphide", "h2s", "硫化氢", " hydrogen_sulfide "):
        assert substance(name) is h2s


def test_oel_is_mac_where_present_else_pc_twa() -> None:
    cl2, co = substance("Cl2"), substance("CO")
    assert (cl2.oel_basis, cl2.oel_mg_m3) == ("MAC", cl2.mac_mg_m3)
    assert co.mac_mg_m3 is None
    assert (co.oel_basis, co.oel_mg_m3) == ("PC-TWA", 20.0)
    assert co.pc_stel_mg_m3 == 30.0


def test_ppm_conversion_uses_the_molar_volume_at_25_degrees() -> None:
    h2s = substance("H2S")
    assert h2s.ppm(10) == pytest.approx(H2S_OEL_PPM)
    assert h2s.mg_m3(h2s.ppm(10)) == pytest.approx(10)
    assert h2s.idlh_mg_m3 == pytest.approx(100 * 34.08 / 24.45)  # NIOSH 100 ppm


def test_unknown_substance_lists_the_known_ones() -> None:
    with pytest.raises(
        UnknownSubstanceError, match=r"unknown substance 'kryptonite'; known: .*hydrogen sulfide"
    ):
        substance("kryptonite")
    with pytest.raises(LookupError):
        substance("kryptonite")


def test_substances_table_entries_are_unique() -> None:
    table = substances.substances()
    assert len({s.name for s in table}) == len(table) >= 20


def test_broken_substances_table_is_refused() -> None:
    from hazardwatch.vocabulary.model import HazardWatchError

    text = "substances:\n  - {name: x, molar_mass_g_mol: 1, combustible: false, toxic: true}\n"
    with pytest.raises(HazardWatchError, match="toxic but has neither MAC nor PC-TWA"):
        substances.parse_table(text)


@pytest.mark.parametrize("module", [config, defaults, substances])
def test_doctests(module: Any) -> None:
    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0


def test_a_misspelt_kind_hides_none_of_the_files_other_problems() -> None:
    """Issue 17: a misspelt kind used to hide every check that needs the whole site."""
    cfg = base()
    add_unit(cfg, "T 2", "T1-AT")  # a bad id, and a tag T1-AT already has
    sensor(cfg, 0).update(kind="levle", limits={"hh": 12.0, "h": 14.5})  # H above HH too
    sensor(cfg, 1)["range"] = [0]  # a schema error: this sensor is set aside
    _hs(cfg)["grade"] = 7
    unit(cfg)["camera_url"] = "cam-1"
    _ent(cfg)["hazard_sources"].append(copy.deepcopy(_hs(cfg)) | {"id": "hs2", "grade": 9})
    _ent(cfg)["hazard_sources"][1]["units"] = [{"id": "T3", "substance": "methanol"}]
    found = problems(cfg)
    text = "\n".join(found)
    hs2 = "enterprises[0].hazard_sources[1]"
    expected = [
        # the schema's, with their fixes
        f"park.yaml: {LT}.kind: unknown kind 'levle'; valid kinds: temperature, level,",
        f"park.yaml: {GT}.range: expected [lo, hi], two numbers; got 1 item(s)",
        f"park.yaml: {hs2}.units[0].capacity_m3: required field is missing; add it",
        # and the site's, found in the same pass, the kind read as level
        f"park.yaml: {LT}.limits: HH (12.0) must be above H (14.5)",
        "park.yaml: enterprises[0].hazard_sources[0].grade: GB 18218 grade must be 1, 2, 3 or 4",
        f"park.yaml: {UNIT}.camera_url: 'cam-1' is not a URL; write it like rtsp://host/stream",
        "park.yaml: enterprises[0].hazard_sources[0].units[1].id: unit id 'T 2' may only",
        "park.yaml: enterprises[0].hazard_sources[0].units[1].sensors[0].tag: duplicate tag",
        f"park.yaml: {hs2}.grade: GB 18218 grade must be 1, 2, 3 or 4",
    ]
    for part in expected:
        assert sum(part in p for p in found) == 1, f"{part!r} not once in:\n{text}"
    assert len(found) == len(expected), text
    assert found[0].endswith("did you mean 'level'? (its other checks assumed it)")
    # the set-aside gas detector is not reported again as missing from anything
    assert "T1-GT" not in text


def test_paths_after_a_set_aside_item_keep_the_files_numbering() -> None:
    cfg = base()
    sensor(cfg, 0)["limts"] = {}  # sensors[0] set aside
    sensor(cfg, 2)["limits"] = {"hh": 5, "h": 8}  # still sensors[2] in the message
    found = problems(cfg)
    assert found[0].startswith(f"park.yaml: {LT}.limts: unknown field 'limts'; did you mean")
    assert [p.split(": ")[1] for p in found[1:]] == [f"{AT}.limits"], found
