"""COOLING_LOST (detectors.cooling), the `cooling:` block of the site config, and the
simulated spray that feeds it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from detectors import Detector
from hazardwatch.vocabulary.config import ConfigError, load_site, parse_site
from hazardwatch.vocabulary.model import Batch, Condition, Cooling, Kind, Limits, SensorTable
from simulators.library import load_scenario
from tests.factories import enterprise, hazard_source, sensor, site, unit

T0 = 1_763_800_000.0
C = Condition
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "park.yaml"
SPRAY = Cooling(status="V1-FS", start_above=30.5, running_above=2.0, delay_s=300.0)


def cooled_table(cooling: Cooling | None = SPRAY) -> SensorTable:
    tt = sensor("V1-TT", Kind.TEMPERATURE, hi=60.0, limits=Limits(hh=40.0, h=35.0), deadband=0.5)
    fs = sensor("V1-FS", Kind.FLOW, hi=20.0, limits=Limits())
    vessel = unit("V1", tt, fs, substance="chlorine")
    vessel = dataclasses.replace(vessel, cooling=cooling)
    return SensorTable.from_site(site(enterprise("e1", hazard_source("hs1", vessel))))


def run(det: Detector, series: list[tuple[float, float, float]]) -> list:
    """(seconds after T0, temperature, spray flow) per step; the COOLING_LOST changes."""
    out = []
    for dt, temp, flow in series:
        out += det.step(Batch.of([0, 1], [T0 + dt] * 2, [temp, flow]))
    return [(c.ts - T0, c.active) for c in out if c.condition is C.COOLING_LOST]


def test_hot_without_spray_for_the_delay_raises_on_the_temperature_sensor() -> None:
    det = Detector(cooled_table(), T0)
    series = [(10.0 * k, 31.0, 0.0) for k in range(40)]
    assert run(det, series) == [(300.0, True)]  # after 300 s of data time, not at once
    assert det.state.active[0] & C.COOLING_LOST.bit  # the temperature carries it


def test_a_spray_that_starts_in_time_raises_nothing() -> None:
    det = Detector(cooled_table(), T0)
    starts = [(10.0 * k, 31.0, 0.0 if k < 20 else 12.0) for k in range(60)]
    assert run(det, starts) == []


def test_a_spray_that_only_cycles_below_the_on_point_raises_nothing() -> None:
    det = Detector(cooled_table(), T0)
    cool = [(10.0 * k, 29.0 + 0.01 * k, 0.0) for k in range(100)]  # up to 29.99, spray off
    assert run(det, cool) == []


def test_cleared_when_the_spray_runs_or_the_vessel_cools_a_deadband_below() -> None:
    det = Detector(cooled_table(), T0)
    hot = [(10.0 * k, 31.0, 0.0) for k in range(31)]
    assert run(det, hot) == [(300.0, True)]
    assert run(det, [(310.0, 31.0, 12.0)]) == [(310.0, False)]
    det = Detector(cooled_table(), T0)
    run(det, hot)
    # Smoothed temperature falls through 30.5 (hold) and clears below 30.0 (deadband 0.5).
    falling = [(310.0 + 10 * k, 29.0, 0.0) for k in range(12)]
    changes = run(det, falling)
    assert len(changes) == 1 and not changes[0][1] and changes[0][0] > 320.0


def test_a_status_never_heard_is_unknown_not_off() -> None:
    det = Detector(cooled_table(), T0)
    out = []
    for k in range(40):
        out += det.step(Batch.of([0], [T0 + 10 * k], [33.0]))
    assert [c for c in out if c.condition is C.COOLING_LOST] == []


def test_cooling_block_errors_name_the_file_path_and_fix() -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        "status: e03-V201-FS, start_above: 30.5", "status: e03-V999-FS, start_above: 30.5"
    )
    with pytest.raises(ConfigError) as err:
        parse_site(text, "park.yaml")
    assert any(
        p.startswith("park.yaml: enterprises[2].hazard_sources[1].units[0].cooling.status:")
        and "'e03-V999-FS' is not a sensor of unit 'e03-V201' (its sensors: e03-V201-LT" in p
        for p in err.value.problems
    ), err.value.problems


def test_the_example_park_cools_its_chlorine_vessels() -> None:
    table = SensorTable.from_site(load_site(EXAMPLE))
    watched = [table.tags[i] for i in table.cooling_temperature]
    status = [table.tags[i] for i in table.cooling_status]
    assert watched == ["e03-V201-TT", "e03-V202-TT"]
    assert status == ["e03-V201-FS", "e03-V202-FS"]


def test_the_simulated_spray_flow_follows_its_thermostat_and_stops_when_it_fails() -> None:
    spec = load_scenario("cooling-failure", load_site(EXAMPLE))
    script = spec.script()
    farm = script.farm
    units = [farm.unit_index("e03-V201"), farm.unit_index("e03-V202")]
    meters = [farm.tag_index["e03-V201-FS"], farm.tag_index["e03-V202-FS"]]
    seen: list[tuple[float, np.ndarray, np.ndarray]] = []

    def on_tick(ts: float, idx: np.ndarray, values: np.ndarray) -> None:
        on = farm.thermal.cooler_on[units].copy()
        seen.append((ts - spec.start_ts, on, farm.true_values[meters].copy()))

    script.run(spec.duration_s, 60.0, on_tick)
    healthy = [(on[0], flow[0]) for _, on, flow in seen]  # V201's spray works all day
    assert any(on for on, _ in healthy) and not all(on for on, _ in healthy)
    assert all((flow > 2.0) == on for on, flow in healthy)  # it reads the spray it sees
    failed = [(on[1], flow[1]) for t, on, flow in seen if t > 7200]  # V202's failed at 2 h
    assert any(on for on, _ in failed)  # its thermostat asks for water ...
    assert max(flow for _, flow in failed) == 0.0  # ... and none flows


@pytest.mark.parametrize("dense_from", [0.0, 1.0])
def test_a_restored_cooling_lost_where_no_cooling_is_watched_clears_on_its_next_reading(
    dense_from: float,
) -> None:
    det = Detector(cooled_table(cooling=None), T0)
    det.dense_from = dense_from
    det.restore([(0, C.COOLING_LOST)])
    out = det.step(Batch.of([0, 1], [T0 + 5] * 2, [33.0, 0.0]))
    assert [(c.sensor, c.condition, c.active, c.ts) for c in out] == [
        (0, C.COOLING_LOST, False, T0 + 5)
    ]
    (cooling,) = [r for r in det.rules if Condition.COOLING_LOST in r.conditions]
    assert cooling.empty  # nothing left to watch
