"""Replay with transfer plans: a recorded overfill, its operator's plan, and OVERRUN."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hazardwatch.config import parse_site
from hazardwatch.model import Site
from hazardwatch.replay import deadletter_path, replay
from simulators.record import plans_path, record_run
from simulators.scenario import Overfill
from tests.e2e.harness import E2E_SITE

START = 1_763_800_000.0


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twenty minutes of the e2e park at 5 s ticks; e1-T1 is filled past its 12 m plan."""
    csv = tmp_path_factory.mktemp("rec") / "run.csv"
    overfill = Overfill("e1-T1", 120.0, 0.2, start_level=10.0, planned_level=12.0)
    summary = record_run(
        parse_site(E2E_SITE, "e2e.yaml"), csv, duration_s=1200.0, start_ts=START,
        scenarios=[overfill], rate_hz=1.0, speed=5.0, seed=4,
    )  # fmt: skip
    assert summary["plans"] >= 1 and Path(summary["plans_file"]) == plans_path(csv)
    return csv


def overruns(path: Path) -> list[dict]:
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    return [x for x in lines if x["condition"] == "overrun"]


def test_the_recorded_plan_raises_overrun_where_the_level_passes_it(
    recording: Path, tmp_path: Path
) -> None:
    site: Site = parse_site(E2E_SITE, "e2e.yaml")
    out = tmp_path / "alarms.jsonl"
    summary = replay(recording, out, site=site, plans=plans_path(recording), slice_s=5.0)
    (raised,) = overruns(out)
    assert raised["tag"] == "e1-T1-LT" and raised["event"] == "activate"
    # 12 m + 1 % of the 20 m span, judged on the smoothed level: a little above 12.2 m.
    assert 12.2 < raised["value"] < 12.5
    assert summary.plans_read >= 1 and sum(summary.plans_rejected.values()) == 0
    without = tmp_path / "blind.jsonl"
    replay(recording, without, site=site, slice_s=5.0)
    assert overruns(without) == []  # the readings alone raise no OVERRUN


def test_a_bad_plan_line_is_rejected_with_its_line_number_and_the_rest_used(
    recording: Path, tmp_path: Path
) -> None:
    plans = tmp_path / "plans.jsonl"
    good = plans_path(recording).read_text()
    plans.write_text('{"tag": "e1-T1-LT", "target": 99, "direction": "fill"}\nnot json\n' + good)
    out = tmp_path / "alarms.jsonl"
    summary = replay(recording, out, site=parse_site(E2E_SITE, "e2e.yaml"), plans=plans)
    assert summary.plans_rejected == {"bad_plan": 1, "malformed_json": 1}
    assert len(overruns(out)) == 1
    dead = [json.loads(x) for x in deadletter_path(out).read_text().splitlines()]
    assert any("line 1: target 99" in d["detail"] for d in dead), dead
    assert any(line.startswith("  transfer plans from") for line in summary.lines())
