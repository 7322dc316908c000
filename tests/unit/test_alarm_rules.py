"""The site config's `alarms:` block: the shelve maximum and the disposal deadlines per
priority reach the alarm manager's policy; defaults 8 h, 24 h high, 72 h otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerting import AlarmPolicy, InvalidAction, Priority, Shelve
from hazardwatch.shell.service import Service, Settings
from hazardwatch.vocabulary.clock import FakeClock
from hazardwatch.vocabulary.config import ConfigError, parse_site
from hazardwatch.vocabulary.model import AlarmRules, Condition, ConditionChange
from tests.e2e.harness import E2E_SITE

H = 3600.0
RULES = """
alarms:
  shelve_max_h: 2
  disposal_deadline_h: {high: 4, low: 100}
"""


def test_the_alarms_block_sets_the_shelve_maximum_and_the_deadlines() -> None:
    site = parse_site(E2E_SITE + RULES, "site.yaml")
    assert site.alarms == AlarmRules(2.0, {"high": 4.0, "medium": 72.0, "low": 100.0})
    policy = AlarmPolicy.from_rules(site.alarms)
    assert policy.shelve_max_s == 2 * H
    assert [policy.deadline_s(p) / H for p in Priority] == [100.0, 72.0, 4.0]


def test_without_the_block_the_defaults_hold() -> None:
    rules = parse_site(E2E_SITE, "site.yaml").alarms
    assert rules == AlarmRules() and AlarmPolicy.from_rules(rules) == AlarmPolicy()


@pytest.mark.parametrize(
    ("block", "where"),
    [
        ("alarms: {shelve_max_h: 0}", "alarms.shelve_max_h"),
        ("alarms: {disposal_deadline_h: {high: -1}}", "alarms.disposal_deadline_h.high"),
        ("alarms: {disposal_deadline_h: {urgent: 1}}", "alarms.disposal_deadline_h.urgent"),
    ],
)
def test_a_bad_alarms_block_names_its_path(block: str, where: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_site(E2E_SITE + "\n" + block + "\n", "site.yaml")
    assert any(where in p for p in caught.value.problems), caught.value.problems


def test_the_service_refuses_a_shelve_past_the_configured_maximum(tmp_path: Path) -> None:
    site = parse_site(E2E_SITE + RULES, "site.yaml")
    settings = Settings(data_dir=tmp_path, checkpoint_interval_s=0, judge_silence=False)
    svc = Service(site, settings, clock=FakeClock(1_763_800_000.0))
    try:
        i = svc.table.tag_index["e1-T1-LT"]
        change = ConditionChange(i, Condition.HH, True, 19.0, svc.clock.now(), 3)
        [a] = svc.handle_changes([change])
        with pytest.raises(InvalidAction, match="at most 2 h"):
            svc.pipeline.run([Shelve(a.alarm.id, "li", 2 * H + 1)])
        assert svc.pipeline.run([Shelve(a.alarm.id, "li", 2 * H)])[0].alarm.muted == "shelved"
    finally:
        svc.close()
