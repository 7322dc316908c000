"""Flood on a fake clock (alerting.flood): more than 10 alarms in 10 minutes on a console
puts it in flood (grouped by hazard source, first-out marked, one summary instead of one
notification per alarm); it ends, with hysteresis, when fewer than 5 remain in the window;
other consoles are not affected."""

from __future__ import annotations

from pathlib import Path

from hazardwatch.shell.service import Service, Settings
from hazardwatch.vocabulary.clock import FakeClock
from hazardwatch.vocabulary.config import parse_site
from hazardwatch.vocabulary.model import Condition, ConditionChange
from tests.e2e.harness import E2E_SITE

T0 = 1_763_800_000.0

SECOND_ENTERPRISE = """
  - id: e2
    name: Other Co
    gateway: gw9
    hazard_sources:
      - id: e2-hs1
        name: Solvents
        grade: 3
        responsible: {main: G, technical: H, operation: I}
        units:
          - id: e2-T1
            substance: methanol
            capacity_m3: 500
            sensors:
              - {tag: e2-T1-LT, kind: level, unit: m, range: [0, 20], limits: {hh: 18, h: 17}}
"""

NOTIFY = """
notifications:
  channels:
    room: {webhook: "http://127.0.0.1:9/room"}
  routes: [{channels: [room]}]
  flood: {consoles: {east: [e1]}, window_s: 600, enter_above: 10, exit_below: 5}
"""

# 12 distinct alarms on e1: (tag, condition), e1-hs1 first, then e1-hs2
E1 = [
    (tag, cond)
    for cond in (Condition.HH, Condition.STUCK, Condition.SPIKE)
    for tag in ("e1-T1-LT", "e1-T2-LT", "e1-S1-LT", "e1-S1-PT")
]


def start(data_dir: Path) -> Service:
    site = parse_site(E2E_SITE + SECOND_ENTERPRISE + NOTIFY, "site.yaml")
    settings = Settings(data_dir=data_dir, checkpoint_interval_s=0, judge_silence=False)
    return Service(site, settings, clock=FakeClock(T0))


def raise_(svc: Service, tag: str, condition: Condition, ts: float) -> int:
    c = ConditionChange(svc.table.tag_index[tag], condition, True, 99.0, ts, 3)
    [event] = svc.handle_changes([c])
    return event.alarm.id


def keys(svc: Service) -> list[str]:
    return [r["key"] for r in reversed(svc.nflog.listing(1000))]


def east(svc: Service) -> dict:
    [c] = [c for c in svc.flood.state() if c["console"] == "east"]
    return c


def test_the_eleventh_alarm_in_ten_minutes_starts_a_flood_with_one_summary(
    tmp_path: Path,
) -> None:
    svc = start(tmp_path)
    try:
        ids = [raise_(svc, tag, cond, T0 + 10 * i) for i, (tag, cond) in enumerate(E1[:10])]
        assert len(keys(svc)) == 10 and not east(svc)["flood"]  # ten: one each
        ids.append(raise_(svc, *E1[10], T0 + 100))
        ids.append(raise_(svc, *E1[11], T0 + 110))
        other = raise_(svc, "e2-T1-LT", Condition.HH, T0 + 120)  # console "park"
        assert keys(svc)[10:] == [f"flood:east:{T0 + 100:.3f}:on", keys(svc)[11]]
        assert svc.nflog.listing(1)[0]["alarm_id"] == other  # e2 still one by one
        state = east(svc)
        assert state["flood"] and state["since"] == T0 + 100 and state["alarms_in_window"] == 12
        groups = {g["hazard_source"]: g for g in state["groups"]}
        assert {s: g["count"] for s, g in groups.items()} == {"e1-hs1": 6, "e1-hs2": 6}
        assert groups["e1-hs1"]["first_out"]["id"] == ids[0]  # e1-T1-LT HH, the first raised
        assert groups["e1-hs2"]["first_out"]["id"] == ids[2]  # e1-S1-LT HH
    finally:
        svc.close()


def test_the_flood_ends_with_hysteresis_below_five_in_the_window(tmp_path: Path) -> None:
    svc = start(tmp_path)
    try:
        for i, (tag, cond) in enumerate(E1[:11]):
            raise_(svc, tag, cond, T0 + 10 * i)  # the 11th at T0 + 100
        # at T0 + 640 the window (T0 + 40, T0 + 640] holds those at T0 + 50 .. 100: 6,
        # long below the 11 that began it and still in flood
        svc.tick(T0 + 640)
        assert east(svc)["flood"] and east(svc)["alarms_in_window"] == 6
        svc.tick(T0 + 650)  # 5 left: still in flood (it ends below 5)
        assert east(svc)["flood"] and east(svc)["alarms_in_window"] == 5
        svc.tick(T0 + 660)  # 4 left: over
        assert not east(svc)["flood"]
        assert keys(svc)[-1] == f"flood:east:{T0 + 100:.3f}:off"
        svc.tick(T0 + 670)  # the end is announced once
        assert keys(svc).count(f"flood:east:{T0 + 100:.3f}:off") == 1
        raise_(svc, "e1-T1-TT", Condition.HH, T0 + 700)
        assert keys(svc)[-1].startswith("event:")  # one by one again
    finally:
        svc.close()


def test_the_tick_knows_when_a_flood_can_end(tmp_path: Path) -> None:
    svc = start(tmp_path)
    try:
        for i, (tag, cond) in enumerate(E1[:11]):
            raise_(svc, tag, cond, T0 + 10 * i)
        assert svc.flood.next_due() == T0 + 600  # the oldest alarm leaves the window
    finally:
        svc.close()
