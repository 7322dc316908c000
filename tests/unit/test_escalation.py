"""Escalation on a fake clock (alerting.escalation): an unacknowledged alarm goes to the
hazard source's operation, technical, main person, then park supervision, again while
unacknowledged; acknowledgement, a shelve or the clear stop it; its timers survive a
restart, and a step that fell due while the service was down is sent at start."""

from __future__ import annotations

from pathlib import Path

from alerting import Acknowledge, Shelve
from hazardwatch.shell.service import Service, Settings
from hazardwatch.vocabulary.clock import FakeClock
from hazardwatch.vocabulary.config import parse_site
from hazardwatch.vocabulary.model import Condition, ConditionChange
from tests.e2e.harness import E2E_SITE

T0 = 1_763_800_000.0

NOTIFY = """
notifications:
  channels:
    c: {webhook: "http://127.0.0.1:9/c"}
    b: {webhook: "http://127.0.0.1:9/b"}
    a: {webhook: "http://127.0.0.1:9/a"}
    park: {webhook: "http://127.0.0.1:9/park"}
  people: {C: [c], B: [b], A: [a]}
  supervision: [park]
  escalation: {after_s: {high: 300, medium: 900, low: null}, repeat: %s}
"""


def start(data_dir: Path, now: float = T0, repeat: bool = True) -> Service:
    site = parse_site(E2E_SITE + NOTIFY % ("true" if repeat else "false"), "site.yaml")
    settings = Settings(data_dir=data_dir, checkpoint_interval_s=0, judge_silence=False)
    return Service(site, settings, clock=FakeClock(now))


def change(svc: Service, tag: str, condition: Condition, active: bool, ts: float) -> int:
    c = ConditionChange(svc.table.tag_index[tag], condition, active, 99.0, ts, 3)
    [event] = svc.handle_changes([c])
    return event.alarm.id


def sent(svc: Service) -> list[tuple[str, str]]:
    """(key, channel) of every escalation notification logged, oldest first."""
    rows = svc.nflog.listing(1000)
    return [(r["key"], r["channel"]) for r in reversed(rows) if r["key"].startswith("esc")]


def test_an_unacknowledged_high_alarm_goes_up_the_responsible_people_then_again(
    tmp_path: Path,
) -> None:
    svc = start(tmp_path)
    try:
        a = change(svc, "e1-T1-LT", Condition.HH, True, T0)  # e1-hs1: main A, tech B, op C
        svc.tick(T0 + 299)
        assert sent(svc) == []
        for k in range(1, 6):
            svc.tick(T0 + 300 * k)
        assert sent(svc) == [
            (f"escalation:{a}:1", "c"),
            (f"escalation:{a}:2", "b"),
            (f"escalation:{a}:3", "a"),
            (f"escalation:{a}:4", "park"),
            (f"escalation:{a}:5", "park"),  # repeated while unacknowledged
        ]
        assert svc.ticker.next_due() == T0 + 1800
    finally:
        svc.close()


def test_without_repeat_it_stops_at_supervision(tmp_path: Path) -> None:
    svc = start(tmp_path, repeat=False)
    try:
        change(svc, "e1-T1-LT", Condition.HH, True, T0)
        for k in range(1, 8):
            svc.tick(T0 + 300 * k)
        assert [ch for _, ch in sent(svc)] == ["c", "b", "a", "park"]
        assert svc.escalation.next_due() is None
    finally:
        svc.close()


def test_acknowledgement_shelve_and_clear_each_stop_it(tmp_path: Path) -> None:
    svc = start(tmp_path)
    try:
        acked = change(svc, "e1-T1-LT", Condition.HH, True, T0)
        shelved = change(svc, "e1-T2-LT", Condition.HH, True, T0)
        cleared = change(svc, "e1-T1-TT", Condition.HH, True, T0)
        svc.tick(T0 + 300)
        assert len(sent(svc)) == 3  # step 1 of each
        svc.pipeline.run([Acknowledge(acked, "li")], T0 + 310)
        svc.pipeline.run([Shelve(shelved, "li", 3600.0, "pump test")], T0 + 320)
        change(svc, "e1-T1-TT", Condition.HH, False, T0 + 330)
        for k in range(2, 6):
            svc.tick(T0 + 300 * k)
        assert sorted(sent(svc)) == sorted(
            [(f"escalation:{i}:1", "c") for i in (acked, shelved, cleared)]
        )
        assert svc.escalation.next_due() is None and svc.nflog.timers() == {}
    finally:
        svc.close()


def test_low_priority_never_escalates_and_medium_waits_its_own_delay(tmp_path: Path) -> None:
    svc = start(tmp_path)
    try:
        change(svc, "e1-T1-LT", Condition.STUCK, True, T0)  # low by default
        medium = change(svc, "e1-T2-LT", Condition.H, True, T0)  # medium by default
        svc.tick(T0 + 899)
        assert sent(svc) == []
        svc.tick(T0 + 900)
        assert sent(svc) == [(f"escalation:{medium}:1", "c")]
    finally:
        svc.close()


def test_timers_survive_a_restart_and_a_step_due_while_down_is_sent_at_start(
    tmp_path: Path,
) -> None:
    svc = start(tmp_path)
    a = change(svc, "e1-T1-LT", Condition.HH, True, T0)
    svc.tick(T0 + 300)  # step 1
    svc.close()  # down from T0 + 300 to T0 + 1000: step 2 fell due at T0 + 600
    svc = start(tmp_path, T0 + 1000)
    try:
        assert svc.nflog.timers() == {a: (2, T0 + 600)}
        svc.tick(T0 + 1000)  # the first tick after start
        svc.tick(T0 + 1001)
        assert sent(svc) == [(f"escalation:{a}:1", "c"), (f"escalation:{a}:2", "b")]
        assert svc.escalation.next_due() == T0 + 1300  # one delay after the late step
    finally:
        svc.close()


def test_an_alarm_acknowledged_while_down_stops_its_timer_at_start(tmp_path: Path) -> None:
    svc = start(tmp_path)
    a = change(svc, "e1-T1-LT", Condition.HH, True, T0)
    # acknowledged through another door while the timer is not told: only the journal knows
    svc.escalation.notify = lambda events, colours: None  # type: ignore[method-assign]
    svc.pipeline.run([Acknowledge(a, "li")], T0 + 10)
    assert svc.nflog.timers() == {a: (1, T0 + 300)}
    svc.close()
    svc = start(tmp_path, T0 + 1000)
    try:
        svc.tick(T0 + 1000)
        assert sent(svc) == [] and svc.nflog.timers() == {}
    finally:
        svc.close()


def test_a_site_with_nowhere_to_escalate_to_sets_no_timer(tmp_path: Path) -> None:
    site = parse_site(E2E_SITE, "site.yaml")
    settings = Settings(data_dir=tmp_path, checkpoint_interval_s=0, judge_silence=False)
    svc = Service(site, settings, clock=FakeClock(T0))
    try:
        change(svc, "e1-T1-LT", Condition.HH, True, T0)
        assert svc.escalation.next_due() is None
    finally:
        svc.close()
