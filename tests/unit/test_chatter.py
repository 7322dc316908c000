"""Chattering on a fake clock (alerting.chatter): the same alarm raised 3 times in 60 s is
flagged and counted; with `auto_shelve_s` it is shelved by "hazardwatch" with the reason,
through the pipeline (journalled, in the audit)."""

from __future__ import annotations

from pathlib import Path

from hazardwatch.shell.service import Service, Settings
from hazardwatch.vocabulary.clock import FakeClock
from hazardwatch.vocabulary.config import parse_site
from hazardwatch.vocabulary.model import Condition, ConditionChange
from tests.e2e.harness import E2E_SITE

T0 = 1_763_800_000.0


def start(data_dir: Path, auto_shelve: str = "null") -> Service:
    notify = (
        f"notifications:\n  chatter: {{count: 3, window_s: 60, auto_shelve_s: {auto_shelve}}}\n"
    )
    site = parse_site(E2E_SITE + notify, "site.yaml")
    settings = Settings(data_dir=data_dir, checkpoint_interval_s=0, judge_silence=False)
    return Service(site, settings, clock=FakeClock(T0))


def bounce(svc: Service, times: list[float], tag: str = "e1-T1-LT") -> int:
    """Raise and clear the same alarm at each time; returns its id."""
    i = svc.table.tag_index[tag]
    ids = set()
    for t in times:
        [up] = svc.handle_changes([ConditionChange(i, Condition.H, True, 17.5, t, 2)])
        svc.handle_changes([ConditionChange(i, Condition.H, False, 16.0, t + 1, 2)])
        ids.add(up.alarm.id)
    [alarm_id] = ids  # unacknowledged: the same alarm each time
    return alarm_id


def test_three_activations_in_sixty_seconds_are_flagged_once(tmp_path: Path) -> None:
    svc = start(tmp_path)
    try:
        alarm_id = bounce(svc, [T0, T0 + 20, T0 + 40, T0 + 50])
        [row] = svc.nflog.chattering()
        assert (row["tag"], row["condition"], row["episodes"], row["alarm_id"]) == (
            "e1-T1-LT", "h", 1, alarm_id,
        )  # fmt: skip
        assert row["last_ts"] == T0 + 40
        bounce(svc, [T0 + 200, T0 + 210, T0 + 220])  # a second episode
        assert svc.nflog.chattering()[0]["episodes"] == 2
    finally:
        svc.close()


def test_two_in_a_minute_or_three_spread_wider_are_not_chattering(tmp_path: Path) -> None:
    svc = start(tmp_path)
    try:
        bounce(svc, [T0, T0 + 30])
        bounce(svc, [T0 + 100, T0 + 100 + 31], "e1-T2-LT")
        bounce(svc, [T0 + 100 + 62], "e1-T2-LT")  # three, but the first left the window
        assert svc.nflog.chattering() == []
    finally:
        svc.close()


def test_auto_shelve_shelves_a_chattering_alarm_with_an_audit_entry(tmp_path: Path) -> None:
    svc = start(tmp_path, "600")
    try:
        alarm_id = bounce(svc, [T0, T0 + 10, T0 + 20])
        svc.tick(T0 + 22)
        alarm = svc.alarms.get(alarm_id)
        assert alarm.muted == "shelved"
        [marker] = svc.alarms.mutes.markers()
        assert (marker.who, marker.until_ts) == ("hazardwatch", T0 + 22 + 600)
        [entry] = [r for r in svc.alarms.operator_actions(10) if r["action"] == "shelve"]
        assert entry["who"] == "hazardwatch"
        assert entry["detail"] == "auto-shelved: chattering, 3 activations in 60 s"
        svc.tick(T0 + 23)  # shelved once
        assert len(svc.journal.history(alarm_id)) == 7  # 3 x (activate, clear) + shelve
    finally:
        svc.close()


def test_without_auto_shelve_a_chattering_alarm_stays_unshelved(tmp_path: Path) -> None:
    svc = start(tmp_path)
    try:
        alarm_id = bounce(svc, [T0, T0 + 10, T0 + 20])
        svc.tick(T0 + 22)
        assert svc.alarms.get(alarm_id).muted is None
    finally:
        svc.close()
