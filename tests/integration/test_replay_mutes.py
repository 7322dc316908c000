"""Replay and live give the same transitions for a shelve that expires (inside a gap of the
data) and for a gas second-level alarm that latches: both run the same pipeline and tick."""

from __future__ import annotations

import json
from pathlib import Path

from alerting import Acknowledge, Shelve
from hazardwatch.shell.replay import replay
from hazardwatch.shell.service import Service, Settings
from hazardwatch.vocabulary.clock import FakeClock
from hazardwatch.vocabulary.config import parse_site
from hazardwatch.vocabulary.model import Batch, Condition, ConditionChange, Site
from tests.e2e.harness import E2E_SITE

T0 = 1_763_800_000.0
LT, GT = "e1-T1-LT", "e1-T1-GT"


def _settings(data: Path) -> Settings:
    return Settings(data_dir=data, judge_silence=False, checkpoint_interval_s=0)


def shelve_at_start(svc: Service) -> None:
    """Before the data: an acknowledged HH on LT, shelved until T0+61 (the operator's)."""
    i = svc.table.tag_index[LT]
    change = ConditionChange(i, Condition.HH, True, 19.0, T0, Condition.HH.severity)
    [raised] = svc.handle_changes([change])
    svc.pipeline.run([Acknowledge(raised.alarm.id, "li")], T0)
    svc.pipeline.run([Shelve(raised.alarm.id, "li", 61.0, "gauge test")], T0)


def _readings(tmp_path: Path) -> Path:
    """LT stays above HH; GT rises past its second level at T0+10 and falls at T0+30; no
    data from T0+50 to T0+90 (the shelve ends in the gap)."""
    rows = []
    for k in range(120):
        if 50 <= k < 90:
            continue
        gas = 80.0 if 10 <= k < 30 else 2.0
        rows += [f"{T0 + k!r},{LT},19.000\n", f"{T0 + k!r},{GT},{gas:.1f}\n"]
    csv = tmp_path / "run.csv"
    csv.write_text("ts,tag,value\n" + "".join(rows))
    return csv


def _live(site: Site, csv: Path, data: Path) -> list[tuple[object, ...]]:
    """The live service's path: each second its readings, then the tick its loop runs."""
    clock = FakeClock(T0)
    svc = Service(site, _settings(data), clock=clock)
    shelve_at_start(svc)
    by_second: dict[int, list[tuple[float, str, float]]] = {}
    for line in csv.read_text().splitlines()[1:]:
        ts, tag, value = line.split(",")
        by_second.setdefault(int(float(ts) - T0), []).append((float(ts), tag, float(value)))
    events = []
    try:
        for k in range(120):
            clock.set(T0 + k + 1)
            if k in by_second:
                ts, tags, values = zip(*by_second[k], strict=True)
                where = [svc.table.tag_index[t] for t in tags]
                events += svc.handle_batch(Batch.of(where, list(ts), list(values)))
            events += svc.tick()
    finally:
        svc.close()
    return [
        (e.ts, e.alarm.tag, e.alarm.condition.label, e.event.value, e.to_state.value)
        for e in events
    ]


def test_replay_gives_the_live_transitions_for_a_shelve_expiry_and_a_latch(
    tmp_path: Path,
) -> None:
    site = parse_site(E2E_SITE, "e2e.yaml")
    csv = _readings(tmp_path)
    out = tmp_path / "alarms.jsonl"
    replay(csv, out, site=site, prepare=shelve_at_start)
    got = [
        (x["ts"], x["tag"], x["condition"], x["event"], x["to_state"])
        for x in map(json.loads, out.read_text().splitlines())
    ]
    assert got == _live(site, csv, tmp_path / "live")
    # the gas second level latched when its value returned, and stays so
    gas2 = [(event, state) for _, tag, c, event, state in got if (tag, c) == (GT, "gas2")]
    assert gas2 == [("activate", "active_unack"), ("clear", "latched_unack")]
    # the shelve ended inside the gap, at its own time; the alarm still active: announced
    assert (T0 + 61, LT, "hh", "unshelve", "active_unack") in got
