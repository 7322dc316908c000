"""Detection quality on short simulated scenarios: the issue's targets, qualitatively.

Each test runs a scenario on examples/park.yaml through the live service in simulated time
(benchmarks.detection_run, as `python benchmarks/detection.py` does for the whole library)
and checks the alarms against the simulator's ground truth.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.detection_run import INSTRUMENT, PROCESS, Run, run_scenario, score
from hazardwatch.vocabulary.config import load_site
from hazardwatch.vocabulary.model import Condition, Site
from simulators.library import load_scenario, parse_scenario

PARK = Path(__file__).resolve().parents[2] / "examples" / "park.yaml"


@pytest.fixture(scope="module")
def park() -> Site:
    return load_site(PARK)


def _run(site: Site, text: str) -> Run:
    return run_scenario(parse_scenario(text, site, "test.yaml"))


def test_a_fast_overfill_is_warned_before_half_way_to_hh(park: Site) -> None:
    run = _run(
        park,
        """
name: short-fast-overfill
description: the inflow of a methanol tank opens at 600 s and reaches HH 1200 s later
duration_s: 2100
seed: 21
dt_s: 2
start: "2026-05-12T09:00:00+08:00"
events:
  - {at_s: 600, kind: overfill, unit: e01-T101, time_to_hh_s: 1200}
""",
    )
    s = score(run)
    assert s.hazardous and s.detected
    assert s.peak_condition == "HH" and s.peak_after_s == pytest.approx(1200.0, abs=30.0)
    assert s.first_condition in ("RATE", "PREDICT_HH")  # an early warning, not the limit
    assert s.lead_fraction is not None and s.lead_fraction <= 0.5
    hh = [a.ts for a in run.activations if a.tag == "e01-T101-LT" and a.condition is Condition.HH]
    assert hh and s.first_ts is not None and s.first_ts < hh[0]
    assert s.false_process == 0, s.false_detail


def test_a_normal_hour_raises_no_false_process_alarm(park: Site) -> None:
    run = run_scenario(load_scenario("normal-day-summer", park), duration_s=3600.0)
    s = score(run)
    assert not s.hazardous and s.sensor_hours == pytest.approx(run.n_sensors * 1.0)
    assert [a for a in run.activations if a.condition in PROCESS] == []


def test_a_spiking_sensor_gives_spike_and_no_process_alarm(park: Site) -> None:
    run = _run(
        park,
        """
name: short-spiking-sensor
description: a temperature transmitter spikes for 15 minutes
duration_s: 2400
seed: 22
dt_s: 2
start: "2026-05-12T10:00:00+08:00"
events:
  - {at_s: 900, kind: sensor_fault, tag: e01-T103-TT, fault: spike, duration_s: 900}
""",
    )
    s = score(run)
    on_tag = {a.condition for a in run.activations if a.tag == "e01-T103-TT"}
    assert Condition.SPIKE in on_tag and on_tag <= INSTRUMENT
    assert (s.faults, s.faults_caught, s.faults_as_process) == (1, 1, 0)
    assert s.false_process == 0, s.false_detail
