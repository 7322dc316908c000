"""The detection benchmark's scoring: own signals, healthy sensors, the worst of the draws."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks.detection import DRAW_COLUMNS, draw_row
from benchmarks.detection_run import (
    Activation,
    Run,
    Score,
    _area_tags,
    _source_gas,
    _unit_tags,
    score,
)
from hazardwatch.vocabulary.config import load_site
from hazardwatch.vocabulary.model import Condition, Site

PARK = Path(__file__).resolve().parents[2] / "examples" / "park.yaml"
T0 = 1_780_000_000.0


@pytest.fixture(scope="module")
def park() -> Site:
    return load_site(PARK)


def overfill(unit: str, onset_s: float, hh_s: float) -> dict[str, Any]:
    crossing = {"tag": f"{unit}-LT", "condition": "hh", "ts": T0 + hh_s}
    return {
        "event": "overfill", "category": "incident", "unit": unit, "onset_ts": T0 + onset_s,
        "end_ts": None, "crossings": [crossing], "should_alarm": [],
    }  # fmt: skip


def make_run(site: Site, activations: list[Activation], truth: list[dict[str, Any]]) -> Run:
    """A day's run; the incidents' units emit gas (as an overfill's overflow does)."""
    gas_units = {e["unit"] for e in truth if e["category"] == "incident"}
    tags = [s for _, _, _, s in site.iter_sensors()]
    return Run(
        "test", T0, 86400.0, len(tags), activations, truth, _unit_tags(site),
        {s.tag for s in tags if s.kind.is_gas}, gas_units, set(),
        source_gas=_source_gas(site), area_tags=_area_tags(site),
    )  # fmt: skip


def test_a_drift_on_a_detector_of_another_farm_is_not_the_incidents_warning(park: Site) -> None:
    truth = [overfill("e01-T101", 100.0, 1100.0)]
    elsewhere = Activation(T0 + 150.0, "e02-V101-GT1", "e02-V101", Condition.DRIFT)
    own_farm = Activation(T0 + 400.0, "e01-T103-GT", "e01-T103", Condition.DRIFT)
    s = score(make_run(park, [elsewhere], truth))
    assert s.detected is False and s.lead_fraction is None
    s = score(make_run(park, [elsewhere, own_farm], truth))
    assert s.detected and s.first_condition == "DRIFT"
    assert s.first_after_s == pytest.approx(300.0) and s.lead_fraction == pytest.approx(0.3)


def test_instrument_alarms_count_on_healthy_sensors_only(park: Site) -> None:
    fault = {"event": "sensor_fault", "category": "fault", "tag": "e01-T102-TT",
             "onset_ts": T0, "end_ts": None}  # fmt: skip
    alarms = [
        Activation(T0 + 10.0, "e01-T102-TT", "e01-T102", Condition.STUCK),  # the faulted one
        Activation(T0 + 20.0, "e01-T104-LT", "e01-T104", Condition.STUCK),
        Activation(T0 + 30.0, "e02-V101-PT", "e02-V101", Condition.NOISY),
        Activation(T0 + 40.0, "e02-V101-PT", "e02-V101", Condition.H),  # a process alarm
    ]
    s = score(make_run(park, alarms, [fault]))
    n = sum(len(u.sensors) for e in park.enterprises for h in e.hazard_sources for u in h.units)
    assert s.instrument_healthy == 2
    assert s.healthy_sensor_days == pytest.approx(n - 1)
    assert s.instrument_per_100d == pytest.approx(200.0 / (n - 1))


def draw(name: str, lead: float | None, false_h: float, instr: int, peak: bool = True) -> Score:
    s = Score(name, True, lead is not None, None, None, "RATE", "HH", 100.0 if peak else None,
              None, lead, int(false_h), false_h, 0, 0, 0, 1000.0)  # fmt: skip
    s.instrument_healthy, s.healthy_sensor_days = instr, 100.0
    return s


def test_the_draw_table_shows_the_mean_and_the_worst_draw() -> None:
    draws = [draw("x", 0.2, 0.0, 1), draw("x", 0.4, 2.0, 5), draw("x", 0.3, 1.0, 0)]
    row = dict(zip(DRAW_COLUMNS, draw_row("x", draws), strict=True))
    assert row["detected"] == "3/3"
    assert (row["lead frac mean"], row["lead frac worst"]) == ("0.30", "0.40")
    assert (row["false/1000 h mean"], row["false/1000 h worst"]) == ("1.00", "2.00")
    assert (row["instr/100 d mean"], row["instr/100 d worst"]) == ("2.00", "5.00")
    draws.append(draw("x", None, 0.0, 0))  # a draw that never warned is the worst
    row = dict(zip(DRAW_COLUMNS, draw_row("x", draws), strict=True))
    assert row["detected"] == "3/4" and row["lead frac worst"] == "not warned"
    quick = [draw("x", None, 0.0, 0, peak=False)]  # ended before the peak: nothing to judge
    assert dict(zip(DRAW_COLUMNS, draw_row("x", quick), strict=True))["lead frac worst"] == "-"
