"""Replay with transfer plans: a recorded overfill, its operator's plan, and OVERRUN; a plan
expires in replay as in the live service (the same tick)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hazardwatch.shell.replay import deadletter_path, replay
from hazardwatch.shell.replay_plans import load_plans
from hazardwatch.shell.service import Service, Settings
from hazardwatch.vocabulary.clock import FakeClock
from hazardwatch.vocabulary.config import parse_site
from hazardwatch.vocabulary.model import Batch, Site
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


# ------------------------------------------------------------------ plan expiry, as live

T0 = 1_763_800_000.0
LT = "e1-T1-LT"


def _expiring_plan_files(tmp_path: Path) -> tuple[Path, Path]:
    """A fill past its plan's 12.5 m, the plan expiring at T0+61 inside a gap of the data
    (T0+50 .. T0+90): OVERRUN raised on the way up, cleared when the plan expires."""
    rows = []
    for k in range(120):
        if 50 <= k < 90:
            continue
        level = min(12.0 + 0.1 * max(k - 10, 0), 13.5)
        rows.append(f"{T0 + k!r},{LT},{level:.3f}\n")
    csv = tmp_path / "fill.csv"
    csv.write_text("ts,tag,value\n" + "".join(rows))
    plans = tmp_path / "fill.plans.jsonl"
    plan = {"tag": LT, "target": 12.5, "direction": "fill", "ts": T0 + 1, "expires_in_s": 60}
    plans.write_text(json.dumps(plan) + "\n")
    return csv, plans


def _live_with_plans(site: Site, csv: Path, plans: Path, data: Path) -> list[tuple]:
    """The live service's path on the same data: each second, the plans made by then, the
    readings of that second, then the tick its periodic loop runs (no stale check: the
    replay below does not judge silence either)."""
    clock = FakeClock(T0)
    svc = Service(site, Settings(data_dir=data, judge_silence=False), clock=clock)
    recorded = load_plans(plans, svc.table)
    by_second: dict[int, list[tuple[float, float]]] = {}
    for line in csv.read_text().splitlines()[1:]:
        ts, _, value = line.split(",")
        by_second.setdefault(int(float(ts) - T0), []).append((float(ts), float(value)))
    events = []
    try:
        for k in range(120):
            clock.set(T0 + k + 1)
            for plan in recorded.due(clock.now()):
                events += svc.handle_plan(plan)
            if k in by_second:
                ts, values = zip(*by_second[k], strict=True)
                where = [svc.table.tag_index[LT]] * len(ts)
                events += svc.handle_batch(Batch.of(where, list(ts), list(values)))
            events += svc.tick()
    finally:
        svc.close()
    return [(e.ts, e.alarm.tag, e.alarm.condition.label, e.event.value) for e in events]


def test_replay_expires_a_plan_in_a_gap_as_the_live_service_does(tmp_path: Path) -> None:
    site: Site = parse_site(E2E_SITE, "e2e.yaml")
    csv, plans = _expiring_plan_files(tmp_path)
    out = tmp_path / "alarms.jsonl"
    replay(csv, out, site=site, plans=plans)
    got = [
        (x["ts"], x["tag"], x["condition"], x["event"])
        for x in map(json.loads, out.read_text().splitlines())
    ]
    assert got == _live_with_plans(site, csv, plans, tmp_path / "live")
    overrun = [(ts, event) for ts, _, condition, event in got if condition == "overrun"]
    assert len(overrun) == 2 and overrun[0][1] == "activate"
    assert overrun[1] == (T0 + 61, "clear")  # the plan expired inside the gap
