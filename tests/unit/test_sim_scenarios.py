"""Scenario files and their ground truth, run against the example park without a broker."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from hazardwatch.vocabulary.config import load_site
from hazardwatch.vocabulary.model import SensorTable, Site
from simulators.library import ScenarioSpec, library, load_scenario, parse_scenario
from simulators.scenario import ScenarioError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "park.yaml"
TICKS_PER_RUN = 240  # coarse steps: every scenario runs its whole duration in well under a second


@pytest.fixture(scope="module")
def park() -> Site:
    return load_site(EXAMPLE)


def test_the_library_ships_the_named_scenarios() -> None:
    names = library()
    assert len(names) >= 12
    for needed in ("fast-overfill", "slow-overfill", "small-leak-one-detector",
                   "large-leak-many-detectors", "runaway-heating", "pressure-buildup",
                   "cooling-failure", "stuck-level-during-overfill", "spiking-sensor",
                   "gateway-outage", "maintenance-draining"):  # fmt: skip
        assert needed in names
    assert sum(n.startswith("normal-day") for n in names) >= 3


@pytest.mark.parametrize("name", library())
def test_every_library_scenario_loads_and_runs_its_duration(name: str, park: Site) -> None:
    spec = load_scenario(name, park)
    assert spec.name == name and spec.description and spec.duration_s > 0
    script = spec.script()
    dt = max(spec.dt_s, spec.duration_s / TICKS_PER_RUN)
    table = SensorTable.from_site(park)
    beyond: set[str] = set()

    def check(ts: float, idx: np.ndarray, values: np.ndarray) -> None:
        with np.errstate(invalid="ignore"):
            high = values >= np.fmin(table.limit_h[idx], table.limit_hh[idx])
            low = values <= np.fmax(table.limit_l[idx], table.limit_ll[idx])
        beyond.update(table.tags[i] for i in idx[high | low].tolist())

    ticks = script.run(spec.duration_s, dt, check)
    assert ticks == pytest.approx(spec.duration_s / dt, abs=1)
    assert script.farm.elapsed_s == pytest.approx(spec.duration_s)
    truth = script.ground_truth(scenario=name, seed=spec.seed)
    assert json.loads(json.dumps(truth)) == truth  # plain JSON, nothing numpy
    assert len(truth["events"]) == len(spec.events)
    for event in truth["events"]:
        assert event["onset_ts"] is not None, event  # every scripted event happened
    if name.startswith("normal-day") or name == "busy-transfer-day":
        assert truth["should_alarm"] == []
        assert beyond == set()  # not one reading at or beyond a limit all day


def test_the_same_seed_gives_identical_readings_and_truth(park: Site) -> None:
    spec = load_scenario("small-leak-one-detector", park)

    def run(seed_spec: ScenarioSpec) -> tuple[np.ndarray, dict]:
        script = seed_spec.script()
        rows = []
        script.run(900.0, 5.0, lambda ts, idx, v: rows.append(v.copy()))
        return np.array(rows), script.ground_truth()

    a, truth_a = run(spec)
    b, truth_b = run(spec)
    np.testing.assert_array_equal(a, b)
    assert truth_a == truth_b
    other = dataclasses.replace(spec, seed=spec.seed + 1)
    c, _ = run(other)
    assert not np.array_equal(a, c)


SHORT_OVERFILL = """
name: quick-overfill
description: e01-T101 overfills at 0.5 m/min from one minute in
duration_s: 2700
seed: 21
start: "2026-05-12T09:00:00+08:00"
events:
  - {at_s: 60, kind: overfill, unit: e01-T101, rate_per_min: 0.5}
"""


def test_ground_truth_level_crossings_are_when_the_true_level_crosses(park: Site) -> None:
    spec = parse_scenario(SHORT_OVERFILL, park)
    script = spec.script()
    farm = script.farm
    col = farm.tag_index["e01-T101-LT"]
    ts, level = [], []
    script.run(spec.duration_s, 2.0, lambda t, idx, v: (ts.append(t), level.append(
        farm.true_values[col])))  # fmt: skip
    ts_a, level_a = np.array(ts), np.array(level)
    (truth,) = script.truth()
    assert truth["onset_ts"] == pytest.approx(spec.start_ts + 60.0)
    for mark, at in ((15.5, truth["h_ts"]), (16.2, truth["hh_ts"])):
        assert at is not None
        assert np.all(level_a[ts_a < at - 1e-6] < mark)  # below before the recorded instant
        assert np.all(level_a[ts_a >= at] >= mark - 1e-9)  # at or above from then on
        # The level rises at 0.5 m/min, so the instant is exact to well under a tick.
        k = np.searchsorted(ts_a, at)
        assert at == pytest.approx(ts_a[k - 1] + (mark - level_a[k - 1]) / (0.5 / 60.0), abs=1e-6)
    should = {(a["tag"], a["condition"]) for a in truth["should_alarm"]}
    assert {("e01-T101-LT", "h"), ("e01-T101-LT", "hh")} <= should
    assert truth["overflow_ts"] > truth["hh_ts"]


def test_ground_truth_gas_crossings_match_the_detectors_true_values(park: Site) -> None:
    spec = load_scenario("large-leak-many-detectors", park)
    script = spec.script()
    farm = script.farm
    first: dict[str, float] = {}
    level1 = {s.tag: s.limits.h for s in farm.sensors if s.kind.is_gas}

    area_first: dict[str, float] = {}

    def look(t: float, idx: np.ndarray, v: np.ndarray) -> None:
        votes: dict[str, int] = {}
        for i in farm.layout.detector_sensor.tolist():
            s = farm.sensors[i]
            if farm.true_values[i] >= level1[s.tag]:
                first.setdefault(s.tag, t)
                if s.area is not None:
                    votes[s.area] = votes.get(s.area, 0) + 1
        for area, n in votes.items():
            if n >= park.areas.get(area, 2):
                area_first.setdefault(area, t)

    script.run(spec.duration_s, 2.0, look)
    (truth,) = script.truth()
    gas1 = {c["tag"]: c["ts"] for c in truth["crossings"] if c["condition"] == "gas1"}
    assert len({tag.rsplit("-", 1)[0] for tag in gas1}) >= 2  # detectors of several tanks
    assert set(gas1) == set(first)
    for tag, at in gas1.items():
        assert first[tag] - 2.0 <= at <= first[tag]  # inside the tick where it crossed
    # Area votes (k of n at first level together) confirmed at the tick they were.
    areas = {c["area"]: c["ts"] for c in truth["crossings"] if c["condition"] == "area_gas"}
    assert areas == area_first and areas
    assert {a["condition"] for a in truth["should_alarm"]} >= {"gas1", "area_gas"}


def test_a_dropout_fault_omits_the_sensor_from_the_ticks_readings(park: Site) -> None:
    spec = parse_scenario(
        "name: d\ndescription: d\nduration_s: 60\nseed: 1\nevents:\n"
        "  - {at_s: 10, kind: sensor_fault, tag: e03-V101-AT1, fault: dropout, duration_s: 20}\n",
        park,
    )
    script = spec.script()
    col = script.farm.tag_index["e03-V101-AT1"]
    seen = []
    script.run(60.0, 1.0, lambda t, idx, v: seen.append(col in idx.tolist()))
    assert seen == [True] * 9 + [False] * 20 + [True] * 31
    (truth,) = script.truth()
    assert truth["end_ts"] - truth["onset_ts"] == 20.0
    assert truth["should_alarm"][0]["condition"] == "comm_loss"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "name: x\ndescription: x\nduration_s: 60\nseed: 1\nevents: [{at_s: 1, kind: overfill,"
            " unit: e09-T1}]\n",
            r"events\[0\]\.unit: no unit 'e09-T1'",
        ),
        (
            "name: x\ndescription: x\nduration_s: 60\nseed: 1\nevents: [{at_s: 1, kind: flood}]\n",
            r"events\[0\]\.kind: 'flood' is not one of",
        ),
        (
            "name: x\ndescription: x\nduration_s: 60\nseed: 1\nevents: [{at_s: 1, kind: leak,"
            " unit: e01-T101}]\n",
            r"events\[0\]\.rate_kg_s: required for leak",
        ),
        (
            "name: x\ndescription: x\nduration_s: 60\nseed: 1\nevents: [{at_s: 90, kind: fire,"
            " unit: e01-T101}]\n",
            r"events\[0\]\.at_s: 90 is after the end",
        ),
        (
            "name: x\ndescription: x\nduration_s: 60\nseed: 1\nevents: [{at_s: 1,"
            " kind: sensor_fault, tag: e01-T101-LT, fault: melted, duration_s: 5}]\n",
            r"fault 'melted' is not one of",
        ),
        ("name: x\ndescription: x\nduration_s: -5\nseed: 1\n", r"duration_s: must be > 0"),
        ("name: x\ndescription: x\nduration_s: 5\nseed: 1\nspeed: 3\n", r"speed: unknown key"),
        (
            "name: x\ndescription: x\nduration_s: 5\nseed: 1\nclimate: {sunshine: 3}\n",
            r"climate\.sunshine: unknown",
        ),
        ("name: [unclosed\n", r"not valid YAML"),
        (
            "name: x\ndescription: x\nduration_s: 60\nseed: 1\nevents: [{at_s: 1, kind: "
            "gateway_offline, gateway: e01/gw9, duration_s: 5}]\n",
            r"no gateway 'e01/gw9'",
        ),
    ],
)
def test_bad_scenario_files_are_refused_naming_file_path_and_problem(
    text: str, problem: str, park: Site, tmp_path: Path
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=problem) as err:
        load_scenario(str(path), park)
    assert str(path) in str(err.value)


def test_an_unknown_scenario_name_lists_the_library(park: Site) -> None:
    with pytest.raises(ScenarioError, match="fast-overfill"):
        load_scenario("no-such-scenario", park)


def test_operators_plan_every_transfer_they_start_and_stop_at_the_plan(park: Site) -> None:
    spec = load_scenario("busy-transfer-day", park)
    script = spec.script()
    farm = script.farm
    levels: dict[str, float] = {}
    plans = []

    def on_tick(ts: float, idx: np.ndarray, values: np.ndarray) -> None:
        for plan in farm.take_plans():
            unit = int(farm._unit_of[farm.tag_index[plan.tag]])
            plans.append((plan, float(farm.level[unit]), unit))

    script.run(6 * 3600.0, 10.0, on_tick)
    ops = [p for p in plans if p[0].by == "operator"]
    assert len(ops) >= 10
    for plan, level_then, _ in ops:
        lt = farm.sensors[farm.tag_index[plan.tag]]
        assert plan.direction == (1 if plan.target > level_then else -1)
        assert lt.limits.ll < plan.target < lt.limits.hh  # inside the band, as they aim
    # A finished plan leaves the level at its target (the operator stops the pump there).
    last = {}
    for plan, _, unit in ops:
        last[unit] = plan
    finished = [(u, p) for u, p in last.items() if farm.operators._phase[u] == 0]
    assert finished
    for unit, plan in finished:
        levels[plan.tag] = float(farm.level[unit])
        assert abs(levels[plan.tag] - plan.target) < 0.01


def test_an_overfill_with_a_planned_level_plans_it_at_onset(park: Site) -> None:
    spec = load_scenario("slow-overfill", park)
    script = spec.script()
    script.run(700.0, 10.0)
    mine = [p for p in script.farm.take_plans() if p.tag == "e02-T201-LT"]
    assert [(p.target, p.direction, p.ts - spec.start_ts) for p in mine] == [(13.5, 1, 600.0)]
    (truth,) = [e for e in script.truth() if e.get("event") == "overfill"]
    assert truth["planned_level"] == 13.5  # the truth names the plan the operator made


def test_an_overfill_with_a_planned_lift_plans_that_far_above_its_onset_level(
    park: Site,
) -> None:
    from simulators.scenario import Overfill, Script

    spec = load_scenario("normal-day-spring", park)
    script = Script(spec.script().farm, [Overfill("e01-T101", 60.0, planned_lift=1.0)])
    farm = script.farm
    script.run(60.0, 10.0)  # the incident starts with the next tick
    farm.take_plans()
    unit = farm.unit_index("e01-T101")
    level_at_onset = float(farm.level[unit])
    script.run(10.0, 10.0)
    (plan,) = [p for p in farm.take_plans() if p.tag == "e01-T101-LT"]
    assert plan.target == pytest.approx(level_at_onset + 1.0, abs=1e-3)
    with pytest.raises(ScenarioError, match="planned_level or planned_lift"):
        Overfill("e01-T101", 60.0, planned_level=5.0, planned_lift=1.0)
