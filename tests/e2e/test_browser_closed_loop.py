"""The control-room page's closed loop in a real headless Chromium (issue 13 section 5).

Precedence and first-out, the horn, shelve and its return, reset of a latched gas alarm,
disposal and closing, the language switch and the trend chart, each against the app served
by uvicorn as the service serves it. Screenshots go to tmp_path and to tests/e2e/screenshots/
(git-ignored), to look at after a run.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, Route, expect, sync_playwright

from alerting import Tick
from hazardwatch.shell.service import Service
from hazardwatch.shell.timers import MuteExpiry
from hazardwatch.vocabulary.model import AlarmState, Batch, Condition
from tests.accounts import PASSWORD
from tests.e2e.test_browser import (
    Served,
    ServedPark,
    _chromium,
    _log_in,
    _loopback_context,
    _row,
)

pytestmark = pytest.mark.e2e

SCREENSHOTS = Path(__file__).parent / "screenshots"


def _keep(page: Page, tmp_path: Path, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    for folder in (tmp_path, SCREENSHOTS):
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True, animations="disabled")


@pytest.fixture
def page_of(served: ServedPark) -> Iterator[Page]:
    """A logged-in operator's page on `served`; asserts it reached nothing but loopback."""
    outside: list[str] = []
    with sync_playwright() as p:
        browser = _chromium(p)
        try:
            context = _loopback_context(browser, outside)
            page = context.new_page()
            page.goto(served.url + "/")
            _log_in(page, "Zhang Wei")
            expect(page.get_by_test_id("live-state")).to_have_attribute("data-state", "open")
            yield page
            context.close()
        finally:
            browser.close()
    assert outside == [], f"the page tried to reach outside loopback: {outside}"


def _ids(page: Page) -> list[int]:
    rows = page.get_by_test_id("alarm-list").get_by_test_id("alarm-row")
    return [int(x) for x in rows.evaluate_all("rs => rs.map(r => r.dataset.alarmId)")]


def test_alarms_sort_by_precedence_mark_first_out_and_a_new_high_one_sounds(
    served: ServedPark, page_of: Page, tmp_path: Path
) -> None:
    page = page_of
    temp_h = served.raise_alarm("T101.TT", Condition.H, 41.0).alarm  # medium, hs1's first
    level_hh = served.raise_alarm("T101.LT", Condition.HH, 18.7).alarm  # high
    gas1 = served.raise_alarm("T201.GT", Condition.GAS1, 30.0).alarm  # medium, gas
    gas2 = served.raise_alarm("T201.GT", Condition.GAS2, 55.0).alarm  # high, gas
    expect(page.get_by_test_id("alarm-row")).to_have_count(4)
    # high before medium; the gas alarm first among each; then newest first
    assert _ids(page) == [gas2.id, level_hh.id, gas1.id, temp_h.id]
    expect(_row(page, temp_h.id)).to_have_attribute("data-first-out", "true")
    expect(_row(page, temp_h.id).get_by_test_id("first-out")).to_have_text("首出")
    expect(_row(page, gas1.id)).to_have_attribute("data-first-out", "true")
    for later in (level_hh, gas2):
        expect(_row(page, later.id)).to_have_attribute("data-first-out", "false")
    # The gas rule the page applies to live events: level first, then toxic over combustible.
    order = page.evaluate(
        """() => {
          const kinds = {A: "gas_combustible", B: "gas_toxic", C: "gas_combustible", D: "level"};
          const a = (id, tag, condition) =>
            ({id, tag, condition, priority: "high", raised_ts: 100 + id});
          const alarms = [a(1, "A", "gas1"), a(2, "B", "gas1"), a(3, "C", "gas2"), a(4, "D", "hh")];
          return HazardWatchAlarms.byPrecedence(alarms, (tag) => kinds[tag]).map((x) => x.id);
        }"""
    )
    assert order == [3, 2, 1, 4]

    # The horn: nothing for what was there already at load... (these came live: it sounds)
    horn = page.get_by_test_id("tone-toggle")
    expect(horn).to_have_attribute("data-sounding", "true")
    expect(horn).to_have_attribute("data-beeps", re.compile(r"^[1-9]"))
    horn.click()  # silenced: not acknowledged
    expect(horn).to_have_attribute("data-muted", "true")
    expect(horn).to_have_attribute("data-sounding", "false")
    expect(_row(page, gas2.id)).to_have_attribute("data-state", "active_unack")
    beeps = int(horn.get_attribute("data-beeps") or "0")
    # a new high-priority alarm sounds again
    served.raise_alarm("T301.PT", Condition.HH, 420.0)
    expect(horn).to_have_attribute("data-sounding", "true")
    expect(horn).to_have_attribute("data-muted", "false")
    expect(horn).not_to_have_attribute("data-beeps", str(beeps))
    _keep(page, tmp_path, "precedence")


def test_an_operator_shelves_an_alarm_and_it_returns_when_the_shelve_ends(
    served: ServedPark, page_of: Page, tmp_path: Path
) -> None:
    page = page_of
    alarm = served.raise_alarm("T101.LT", Condition.HH, 18.7).alarm
    row = _row(page, alarm.id)
    row.get_by_test_id("ack-button").click()
    expect(row).to_have_attribute("data-state", "active_ack")

    row.get_by_test_id("shelve-button").click()
    dialog = page.get_by_test_id("shelve-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_test_id("shelve-duration").fill("1")  # minutes
    dialog.get_by_test_id("shelve-reason").fill("pump test")
    dialog.get_by_test_id("shelve-submit").click()
    expect(dialog).to_be_hidden()
    expect(row).to_have_count(0)  # gone from the live tab
    expect(page.get_by_test_id("tab-count-shelved")).to_have_text("1")
    expect(page.get_by_test_id("tab-count-active")).to_have_text("0")
    page.get_by_test_id("tab-shelved").click()
    expect(row).to_have_attribute("data-muted", "shelved")
    expect(row.get_by_test_id("alarm-state")).to_contain_text("搁置")
    (marker,) = served.on_loop(lambda: served.park.manager.mutes.markers(None))
    assert (marker.who, marker.why) == ("Zhang Wei", "pump test")
    assert marker.until_ts == pytest.approx(served.park.clock.now() + 60, abs=5)
    expect(row.get_by_test_id("mute-until")).not_to_have_text("—")
    _keep(page, tmp_path, "shelved")

    # The service's clock passes the expiry: the tick ends the shelve and re-announces it.
    def expire() -> None:
        served.park.clock.set(marker.until_ts + 1)
        tick = Tick(served.park.pipeline, [MuteExpiry(served.park.manager.mutes)])
        assert tick(served.park.clock.now())

    served.on_loop(expire)
    expect(page.get_by_test_id("tab-count-shelved")).to_have_text("0")
    page.get_by_test_id("tab-active").click()
    expect(row).to_have_attribute("data-state", "active_unack")  # acknowledged again
    expect(row).to_have_attribute("data-muted", "")
    expect(row).to_have_class(re.compile(r"\bunacked\b"))


def test_a_latched_gas_alarm_is_reset_then_disposed_of_and_closed(
    served: ServedPark, page_of: Page, tmp_path: Path
) -> None:
    page = page_of
    alarm = served.raise_alarm("T201.GT", Condition.GAS2, 60.0).alarm
    row = _row(page, alarm.id)
    expect(row).to_have_attribute("data-state", "active_unack")
    expect(row.get_by_test_id("reset-button")).to_have_count(0)  # still active: no reset

    # The gas returns below the limit: the alarm stays, latched, until someone resets it.
    served.on_loop(lambda: served.park.change("T201.GT", Condition.GAS2, False, 3.0, publish=True))
    expect(row).to_have_attribute("data-state", "latched_unack")
    expect(row.get_by_test_id("alarm-state")).to_contain_text("锁定")
    row.get_by_test_id("ack-button").click()
    expect(row).to_have_attribute("data-state", "latched_ack")  # silencing is not a reset
    row.get_by_test_id("reset-button").click()
    expect(row).to_have_count(0)  # back to normal: off the live list
    expect(page.get_by_test_id("tab-count-unclosed")).to_have_text("1")

    page.get_by_test_id("tab-unclosed").click()
    expect(row).to_have_attribute("data-state", "normal")
    expect(row.get_by_test_id("alarm-disposal")).to_have_text("未处置")
    expect(row).to_have_attribute("data-overdue", "false")
    row.get_by_test_id("close-button").click()  # no disposal record yet: refused
    toast = page.get_by_test_id("toast")
    expect(toast).to_contain_text("(409)")
    expect(toast).to_contain_text("has no disposal record")

    row.get_by_test_id("dispose-button").click()
    dialog = page.get_by_test_id("dispose-dialog")
    dialog.get_by_test_id("dispose-cause").select_option("equipment")
    dialog.get_by_test_id("dispose-action").fill("replaced the flange gasket")
    dialog.get_by_test_id("dispose-attachment").fill("http://127.0.0.1/cam/T201.jpg")
    dialog.get_by_test_id("dispose-submit").click()
    expect(row.get_by_test_id("alarm-disposal")).to_contain_text("设备")
    expect(row.get_by_test_id("alarm-disposal")).to_contain_text("replaced the flange gasket")
    _keep(page, tmp_path, "unclosed")
    row.get_by_test_id("close-button").click()
    expect(row).to_have_count(0)
    expect(page.get_by_test_id("tab-count-unclosed")).to_have_text("0")

    done = served.on_loop(lambda: served.park.manager.get(alarm.id))
    assert done.state is AlarmState.NORMAL and done.closed_by == "Zhang Wei"
    assert done.disposal is not None
    assert (done.disposal.cause.value, done.disposal.by) == ("equipment", "Zhang Wei")
    assert done.disposal.attachment_url == "http://127.0.0.1/cam/T201.jpg"


def test_an_overdue_unclosed_alarm_is_marked(served: ServedPark, page_of: Page) -> None:
    page = page_of
    alarm = served.raise_alarm("T101.TT", Condition.H, 41.0).alarm  # medium: 72 h deadline
    served.on_loop(lambda: served.park.clock.set(time.time() + 73 * 3600))
    page.get_by_test_id("tab-unclosed").click()
    row = _row(page, alarm.id)
    expect(row).to_have_attribute("data-overdue", "true")
    expect(row.get_by_test_id("overdue")).to_have_text("超期")
    expect(row.get_by_test_id("alarm-age")).to_contain_text("73 小时")


def test_the_language_switches_and_is_kept(
    served: ServedPark, page_of: Page, tmp_path: Path
) -> None:
    page = page_of
    alarm = served.raise_alarm("T101.LT", Condition.HH, 18.7).alarm
    row = _row(page, alarm.id)
    # a park named in Chinese: Chinese by default
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_test_id("tab-active")).to_contain_text("实时报警")
    expect(row).to_contain_text("HH 高高")
    expect(row.get_by_test_id("ack-button")).to_have_text("确认")

    page.get_by_test_id("lang-switch").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_test_id("tab-active")).to_contain_text("Live alarms")
    expect(row).to_contain_text("HH High-high")
    expect(row.get_by_test_id("ack-button")).to_have_text("Acknowledge")
    expect(row.get_by_test_id("alarm-state")).to_contain_text("● UNACK")
    expect(page.get_by_test_id("operator")).to_contain_text("Operator: Zhang Wei")
    expect(page.get_by_test_id("live-state")).to_have_text("LIVE")
    _keep(page, tmp_path, "english")

    page.reload()  # the choice is kept in this browser
    expect(page.get_by_test_id("live-state")).to_have_text("LIVE")
    expect(_row(page, alarm.id)).to_contain_text("HH High-high")
    page.get_by_test_id("lang-switch").click()
    expect(page.get_by_test_id("live-state")).to_have_text("实时")


def test_a_predicted_crossing_shows_on_the_sensor_trend(served: ServedPark, page_of: Page) -> None:
    page = page_of
    eta = time.time() + 20 * 60
    warning = served.raise_alarm("T101.LT", Condition.PREDICT_HH, 15.2, eta_ts=eta).alarm
    _row(page, warning.id).get_by_test_id("trend-open").click()
    dialog = page.get_by_test_id("trend-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_test_id("trend-title")).to_contain_text("T101.LT")
    expect(dialog.get_by_test_id("trend-eta")).to_be_visible()
    chart = dialog.get_by_test_id("trend-chart")
    expect(chart).to_have_attribute("data-eta-ts", str(eta))
    expect(chart).to_have_attribute("data-limits", "hh,h,l,ll")
    expect(chart.locator("canvas")).to_have_count(1)
    dialog.get_by_test_id("trend-close").click()
    expect(dialog).to_be_hidden()


def test_the_trend_chart_draws_stored_readings_with_the_limits(
    served_service: tuple[Served, Service], tmp_path: Path
) -> None:
    served, svc = served_service
    lt = svc.table.tag_index["T101.LT"]
    now = time.time()
    ts = [now - 3000 + 30 * i for i in range(100)]

    def feed() -> None:
        svc.clock.set(ts[-1])  # type: ignore[attr-defined]
        batch = Batch.of([lt] * len(ts), ts, [10 + i / 20 for i in range(len(ts))])
        svc.store.write(batch)  # as the ingest loop stores what it takes in
        svc.handle_batch(batch)

    served.on_loop(feed)
    outside: list[str] = []
    with sync_playwright() as p:
        browser = _chromium(p)
        try:
            context = _loopback_context(browser, outside)
            page = context.new_page()
            page.goto(served.url + "/")
            _log_in(page, "Li Ming")
            expect(page.get_by_test_id("live-state")).to_have_attribute("data-state", "open")
            page.evaluate("() => HazardWatchTrend.open('T101.LT')")
            chart = page.get_by_test_id("trend-chart")
            expect(chart).to_have_attribute("data-points", re.compile(r"^[1-9]\d*$"))
            expect(chart).to_have_attribute("data-limits", "hh,h,l,ll")
            expect(page.get_by_test_id("trend-empty")).to_be_hidden()
            page.get_by_test_id("trend-ranges").locator('[data-range-s="604800"]').click()
            expect(
                page.get_by_test_id("trend-ranges").locator('[data-range-s="604800"]')
            ).to_have_attribute("aria-pressed", "true")
            expect(chart.locator("canvas")).to_have_count(1)
            _keep(page, tmp_path, "trend")
            context.close()
        finally:
            browser.close()
    assert outside == [], f"the page tried to reach outside loopback: {outside}"


def test_the_shelve_form_refuses_more_than_the_parks_maximum_before_sending(
    served: ServedPark, page_of: Page
) -> None:
    page = page_of
    shelves: list[str] = []
    page.on("request", lambda r: shelves.append(r.url) if r.url.endswith("/shelve") else None)
    alarm = served.raise_alarm("T101.LT", Condition.HH, 18.7).alarm
    most_s = served.on_loop(lambda: served.park.manager.policy.shelve_max_s)
    most_h = int(most_s // 3600)
    row = _row(page, alarm.id)
    row.get_by_test_id("shelve-button").click()
    dialog = page.get_by_test_id("shelve-dialog")
    expect(dialog.get_by_test_id("shelve-max")).to_contain_text(f"{most_h} 小时")
    presets = dialog.get_by_test_id("shelve-presets").locator("option")
    offered = [float(v) for v in presets.evaluate_all("os => os.map(o => o.value)")]
    assert offered and max(offered) == most_s / 60, offered  # none past the maximum

    dialog.get_by_test_id("shelve-duration").fill(str(most_s / 60 + 60))  # an hour too long
    dialog.get_by_test_id("shelve-reason").fill("long pump test")
    error = dialog.get_by_test_id("shelve-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text(f"不能超过 {most_h} 小时")
    dialog.get_by_test_id("shelve-submit").click()
    expect(dialog).to_be_visible()  # refused here: nothing sent
    assert shelves == []

    dialog.get_by_test_id("shelve-duration").fill(str(most_s / 60))  # the maximum itself
    expect(error).to_be_hidden()
    dialog.get_by_test_id("shelve-submit").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id("tab-count-shelved")).to_have_text("1")
    (marker,) = served.on_loop(lambda: served.park.manager.mutes.markers(None))
    assert marker.until_ts == pytest.approx(served.park.clock.now() + most_s, abs=5)
    assert len(shelves) == 1


def test_a_viewer_sees_no_action_buttons_an_operator_does(served: ServedPark) -> None:
    live = served.raise_alarm("T101.LT", Condition.HH, 18.7).alarm
    gone = served.raise_alarm("T201.GT", Condition.GAS2, 60.0).alarm
    served.on_loop(lambda: served.park.change("T201.GT", Condition.GAS2, False, 3.0, publish=True))
    outside: list[str] = []
    with sync_playwright() as p:
        browser = _chromium(p)
        try:
            for name, role, shown in (("Viv", "viewer", 0), ("Zhang Wei", "operator", 1)):
                context = _loopback_context(browser, outside)
                page = context.new_page()
                page.goto(served.url + "/")
                _log_in(page, name, PASSWORD)
                expect(page.get_by_test_id("operator")).to_contain_text(f"({role})")
                row = _row(page, live.id)
                expect(row).to_have_attribute("data-state", "active_unack")
                for button in ("ack-button", "shelve-button", "dispose-button"):
                    expect(row.get_by_test_id(button)).to_have_count(shown)
                expect(_row(page, gone.id).get_by_test_id("reset-button")).to_have_count(shown)
                # nor the transfer plan form
                expect(page.get_by_test_id("plan-form")).to_be_visible(visible=bool(shown))
                context.close()
        finally:
            browser.close()
    assert outside == [], f"the page tried to reach outside loopback: {outside}"


def test_the_page_takes_the_gas_rule_from_the_servers_condition_table(
    served: ServedPark,
) -> None:
    """The page sorts live events itself; the gas rule it sorts by is the server's: a table
    ranking combustible over toxic (as no park does) turns the page's order round."""

    def swapped(route: Route) -> None:
        table = route.fetch().json()
        for row in table["conditions"]:
            ranks = row.get("gas_rank", {})
            if "gas_toxic" in ranks:
                ranks["gas_toxic"], ranks["gas_combustible"] = (
                    ranks["gas_combustible"],
                    ranks["gas_toxic"],
                )
        route.fulfill(json=table)

    order_of = """() => {
      const kinds = {A: "gas_combustible", B: "gas_toxic", C: "gas_combustible", D: "level"};
      const a = (id, tag, condition) =>
        ({id, tag, condition, priority: "high", raised_ts: 100 + id});
      const alarms = [a(1, "A", "gas1"), a(2, "B", "gas1"), a(3, "C", "gas2"), a(4, "D", "hh")];
      return HazardWatchAlarms.byPrecedence(alarms, (tag) => kinds[tag]).map((x) => x.id);
    }"""
    outside: list[str] = []
    with sync_playwright() as p:
        browser = _chromium(p)
        try:
            for swap, expected in ((False, [3, 2, 1, 4]), (True, [3, 1, 2, 4])):
                context = _loopback_context(browser, outside)
                page = context.new_page()
                if swap:
                    page.route("**/api/conditions", swapped)
                page.goto(served.url + "/")
                _log_in(page, "Zhang Wei", PASSWORD)
                expect(page.get_by_test_id("live-state")).to_have_attribute("data-state", "open")
                expect(page.get_by_test_id("tab-count-active")).to_have_text("0")
                # The page sorts by the table its snapshot loaded: wait for that, not the tabs
                # (the routed fetch of the swapped table can land after them).
                page.wait_for_function("() => HazardWatch.model.conditions.size > 0")
                table = page.evaluate("async () => (await HazardWatch.getJSON('/api/conditions'))")
                ranks = {r["condition"]: r["gas_rank"] for r in table["conditions"]}
                assert (ranks["gas2"]["gas_toxic"] > ranks["gas2"]["gas_combustible"]) != swap
                assert ranks["hh"] == {}, json.dumps(ranks)
                assert page.evaluate(order_of) == expected, swap
                context.close()
        finally:
            browser.close()
    assert outside == [], f"the page tried to reach outside loopback: {outside}"
