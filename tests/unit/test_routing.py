"""Routing: which channels hear of an alarm event or an escalation step (alerting.routes),
and the `notifications:` section's checks (hazardwatch.vocabulary.notify_rules)."""

from __future__ import annotations

import pytest

from alerting import Alarm, AlarmEvent, Event, Priority
from alerting.routes import Routes
from hazardwatch.vocabulary.config import ConfigError, parse_site
from hazardwatch.vocabulary.model import AlarmState, Condition, Site
from tests.e2e.harness import E2E_SITE

NOTIFY = """
notifications:
  channels:
    room: {webhook: "http://127.0.0.1:9/room"}
    ammonia: {webhook: "http://127.0.0.1:9/nh3"}
    c_phone: {webhook: "http://127.0.0.1:9/c"}
    b_phone: {webhook: "http://127.0.0.1:9/b"}
    a_phone: {webhook: "http://127.0.0.1:9/a"}
    park: {apprise: ["json://127.0.0.1:9/park"]}
    safety: {webhook: "http://127.0.0.1:9/safety"}
  people: {C: [c_phone], B: [b_phone], A: [a_phone]}
  supervision: [park]
  routes:
    - {channels: [room], priorities: [high, medium], events: [activate, clear]}
    - {channels: [ammonia], hazard_sources: [e1-hs2]}
    - {channels: [safety], levels: [2]}
  quiet:
    - {priorities: [low]}
"""


def site(extra: str = NOTIFY) -> Site:
    return parse_site(E2E_SITE + extra, "site.yaml")


def router(s: Site) -> Routes:
    people = {h.id: h.responsible for e in s.enterprises for h in e.hazard_sources}
    return Routes(s.notifications, people)


def alarm(priority: Priority, source: str = "e1-hs1", muted: str | None = None) -> Alarm:
    return Alarm(5, 0, "e1-T1-LT", Condition.HH, priority, AlarmState.ACTIVE_UNACK,
                 "e1", source, "e1-T1", 18.5, 0.0, 0.0, muted=muted)  # fmt: skip


def event(a: Alarm, what: Event = Event.ACTIVATE, seq: int = 11) -> AlarmEvent:
    return AlarmEvent(seq, a, what, AlarmState.NORMAL, a.state, 0.0)


def channels(out: list) -> list[str]:
    return [o.channel for o in out]


def test_a_high_alarm_goes_to_the_routes_of_its_priority_keyed_by_its_journal_seq() -> None:
    [out] = router(site()).for_event(event(alarm(Priority.HIGH)))
    assert (out.channel, out.key, out.level) == ("room", "event:11", 0)
    assert out.body["alarm"]["tag"] == "e1-T1-LT" and out.body["event"] == "activate"


def test_a_route_per_hazard_source_adds_its_channel() -> None:
    out = router(site()).for_event(event(alarm(Priority.MEDIUM, "e1-hs2")))
    assert channels(out) == ["room", "ammonia"]


def test_a_route_hears_only_its_events() -> None:
    r, a = router(site()), alarm(Priority.HIGH, "e1-hs2")
    assert channels(r.for_event(event(a, Event.CLEAR))) == ["room"]  # ammonia: activate only
    assert channels(r.for_event(event(a, Event.ACK))) == []


def test_a_quiet_rule_holds_low_priority_back_from_every_channel() -> None:
    assert router(site()).for_event(event(alarm(Priority.LOW, "e1-hs2"))) == []


def test_a_muted_transition_reaches_nobody() -> None:
    assert router(site()).for_event(event(alarm(Priority.HIGH, muted="shelved"))) == []


def test_escalation_goes_operation_technical_main_then_supervision() -> None:
    r, a = router(site()), alarm(Priority.HIGH)  # e1-hs1: main A, technical B, operation C
    steps = [r.for_escalation(a, step, 100.0) for step in (1, 2, 3, 4, 5)]
    assert [channels(s) for s in steps] == [
        ["c_phone"],
        ["b_phone", "safety"],  # the route of level 2 beside the technical person
        ["a_phone"],
        ["park"],
        ["park"],  # repeated: supervision again
    ]
    assert [s[0].key for s in steps[:2]] == ["escalation:5:1", "escalation:5:2"]
    assert steps[0][0].body["person"] == "C" and steps[3][0].body["level_name"] == "supervision"


def test_a_hazard_source_whose_people_have_no_channel_escalates_to_nobody_there() -> None:
    # e1-hs2's people (D, E, F) are not under people:, only the level-2 route hears
    r, a = router(site()), alarm(Priority.HIGH, "e1-hs2")
    assert [channels(r.for_escalation(a, s, 0.0)) for s in (1, 2)] == [[], ["safety"]]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("  routes: [{channels: [pager]}]", "notifications.routes[0].channels[0]: no channel"),
        ("  people: {A: [pager]}", "notifications.people.A[0]: no channel 'pager'"),
        (
            "  channels: {x: {webhook: 'http://h/'}}\n"
            "  routes: [{channels: [x], hazard_sources: [e9-hs1]}]",
            "notifications.routes[0].hazard_sources[0]: no hazard source 'e9-hs1'",
        ),
        (
            "  channels: {x: {webhook: 'http://h/', secret_env: HW_TEST_UNSET_SECRET}}",
            "environment variable HW_TEST_UNSET_SECRET is not set",
        ),
        ("  channels: {x: {webhook: 'http://h/', apprise: ['json://h/']}}", "give either"),
        ("  flood: {consoles: {east: [e9]}}", "notifications.flood.consoles.east[0]: no enter"),
        (
            "  flood: {consoles: {east: [e1], west: [e1]}}",
            "notifications.flood.consoles.west[0]: enterprise 'e1' is already on console 'east'",
        ),
        ("  flood: {enter_above: 10, exit_below: 11}", "exit_below must not be above"),
        ("  chatter: {count: 1}", "notifications.chatter.count"),
    ],
)
def test_a_notifications_section_that_names_nothing_is_refused_naming_the_path(
    section: str, message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        site(f"notifications:\n{section}\n")
    assert message in str(err.value)


def test_a_webhook_secret_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HW_TEST_HOOK_SECRET", "s3cret")
    s = site(
        "notifications:\n  channels: {x: {webhook: 'http://h/', secret_env: HW_TEST_HOOK_SECRET}}\n"
    )
    assert s.notifications.channels["x"].secret == "s3cret"
