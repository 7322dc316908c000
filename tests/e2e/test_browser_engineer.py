"""The engineer's view in a real headless Chromium (issue 15 section 3): a sensor's stored
history with its limits, a suggestion offered, a lower H proposed and back-tested (more H
alarms in the candidate column, a recorded incident warned of earlier), a refused change
shown as the loader words it, the change applied with a reason and seen in the versions,
then rolled back; an operator gets no form and the server refuses the change. Screenshots
go to tmp_path."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Page, expect

from alerting import Alarm, AlarmEvent, Cause, Disposal, Event, Journal, Priority
from hazardwatch.shell.service import Service, Settings
from hazardwatch.storage.accounts import Role
from hazardwatch.storage.limits import LimitBook, LimitError
from hazardwatch.vocabulary.clock import FakeClock
from hazardwatch.vocabulary.model import AlarmState, Batch, Condition
from tests.accounts import CHEAP, PASSWORD
from tests.e2e.test_browser import Served, loopback_browser
from tests.unit.test_limits import CONFIG

pytestmark = pytest.mark.e2e

HOURS = 2
PERIOD_S = 600  # one fill and draw-off of the tank
PEAKS = (7.5, 8.5)  # alternate cycles: below H (8) and above it; HH (9) never reached


def _levels(now: float) -> tuple[np.ndarray, np.ndarray]:
    """Two hours at 1 Hz ending a second ago: cycles peaking alternately at 7.5 and 8.5 m."""
    t = np.arange(HOURS * 3600, dtype=np.float64)
    peak = np.where((t // PERIOD_S) % 2 == 0, PEAKS[0], PEAKS[1])
    level = 5.0 + (peak - 5.0) * (0.5 - 0.5 * np.cos(2 * math.pi * t / PERIOD_S))
    return now - t.size + t, level


def _incident_ts(now: float) -> float:
    """When the level first passes H (8 m) in the fourth cycle (one peaking at 8.5 m)."""
    ts, level = _levels(now)
    return float(ts[np.flatnonzero((level > 8.0) & (ts > ts[0] + 3 * PERIOD_S))[0]])


def _record_incident(path: Path, ts: float) -> None:
    """An H on T1-LT raised at `ts` and disposed of as a process incident, as the live
    service journals it: what the back-test measures its runs' first warnings against."""
    active = AlarmState.ACTIVE_UNACK
    raised = Alarm(
        1, 0, "T1-LT", Condition.H, Priority.MEDIUM, active, "e1", "hs1", "T1", 8.0, ts, ts
    )
    disposed = replace(
        raised,
        changed_ts=ts + 300,
        disposal=Disposal(Cause.PROCESS, "stopped the fill", "op", ts + 300),
    )
    with Journal(path) as journal:
        journal.append(AlarmEvent(0, raised, Event.ACTIVATE, AlarmState.NORMAL, active, ts))
        journal.append(AlarmEvent(0, disposed, Event.DISPOSE, active, active, ts + 300, "op"))


@pytest.fixture
def served_limits(tmp_path: Path) -> Iterator[tuple[Served, Service]]:
    """A whole Service with limits as audited data, a stored history of T1-LT, an engineer
    and an operator, behind uvicorn."""
    config = tmp_path / "park.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    data = tmp_path / "data"
    data.mkdir()
    now = time.time()
    _record_incident(data / "alarms.db", _incident_ts(now))
    with LimitBook(config, data / "alarms.db") as book:
        svc = Service(
            book.site(), Settings(data_dir=data, checkpoint_interval_s=0), FakeClock(now),
            limits=book,
        )  # fmt: skip
        svc.accounts.hasher = CHEAP
        svc.accounts.add_user("Wang Gong", Role.ENGINEER, PASSWORD)
        svc.accounts.add_user("Li Ming", Role.OPERATOR, PASSWORD)
        ts, level = _levels(now)
        lt = svc.table.tag_index["T1-LT"]
        for a in range(0, ts.size, 1000):
            svc.store.write(
                Batch.of([lt] * len(ts[a : a + 1000]), ts[a : a + 1000], level[a : a + 1000])
            )
        served = Served(svc.app, svc.hub).start()
        try:
            yield served, svc
        finally:
            served.stop()
            svc.close()


def _cell(page: Page, key: str) -> int:
    return int(page.get_by_test_id(key).inner_text())


def test_an_engineer_backtests_applies_and_rolls_back_a_lower_h(
    served_limits: tuple[Served, Service], tmp_path: Path
) -> None:
    served, svc = served_limits
    assert svc.limits is not None
    with loopback_browser() as open_page:
        page = open_page(served.url + "/", "Wang Gong")
        view = page.get_by_test_id("engineer")
        expect(view).to_be_visible()
        expect(page.get_by_test_id("eng-sensor")).to_have_value("T1-LT")
        expect(page.get_by_test_id("eng-current")).to_contain_text("H 8.00")
        expect(page.get_by_test_id("eng-version")).to_have_attribute("data-version", "0")
        chart = page.get_by_test_id("eng-chart")
        expect(chart).to_have_attribute("data-points", re.compile(r"^[1-9]\d*$"))
        expect(chart).to_have_attribute("data-limits", "HH,H")
        expect(chart.locator("canvas")).to_have_count(1)

        # The suggestion is offered, labelled, and only fills the form when asked.
        expect(page.get_by_test_id("eng-suggestion")).to_contain_text("nothing applied")
        expect(page.get_by_test_id("eng-h")).to_have_value("8")
        page.get_by_test_id("eng-use-suggestion").click()
        expect(page.get_by_test_id("eng-h")).not_to_have_value("8")
        assert svc.limits.latest_version() == 0

        # A lower H, back-tested on the stored history: the cycles peaking at 7.5 m
        # now alarm too.
        page.get_by_test_id("eng-hh").fill("9")
        page.get_by_test_id("eng-h").fill("7")
        expect(chart).to_have_attribute("data-limits", "HH,H,H proposed")
        page.get_by_test_id("eng-backtest").click()
        expect(page.get_by_test_id("eng-result")).to_be_visible(timeout=60_000)
        expect(page.get_by_test_id("eng-progress")).to_have_attribute("data-status", "done")
        now_h, cand_h = _cell(page, "bt-current-h"), _cell(page, "bt-candidate-h")
        assert 1 <= now_h < cand_h, (now_h, cand_h)
        expect(page.get_by_test_id("bt-h")).to_have_class(re.compile(r"\bchanged\b"))
        expect(page.get_by_test_id("bt-current-hh")).to_have_count(0)  # HH never reached
        expect(page.get_by_test_id("eng-result-summary")).to_contain_text(
            f"{HOURS * 3600} stored readings"
        )
        # The recorded incident (an H disposed as process): the candidate's H at 7 m
        # warns of it earlier than the current 8 m, in both languages.
        incident = page.get_by_test_id("eng-incident")
        expect(incident).to_have_count(1)
        expect(incident).to_have_attribute("data-alarm-id", "1")
        expect(incident).to_have_attribute("data-scope", "tag")
        expect(incident).to_have_attribute("data-verdict", "earlier")
        expect(incident).to_contain_text("T1-LT")
        now_s = float(
            incident.get_by_test_id("eng-incident-current").get_attribute("data-lead-s") or "nan"
        )
        cand_s = float(
            incident.get_by_test_id("eng-incident-candidate").get_attribute("data-lead-s") or "nan"
        )
        assert now_s < cand_s < now_s + 600, (now_s, cand_s)
        expect(incident.get_by_test_id("eng-incident-candidate")).to_contain_text("before")
        expect(incident.get_by_test_id("eng-incident-verdict")).to_contain_text("earlier")
        expect(page.get_by_test_id("eng-no-incidents")).to_be_hidden()
        page.get_by_test_id("lang-switch").click()
        expect(incident.get_by_test_id("eng-incident-candidate")).to_contain_text("提前")
        expect(incident.get_by_test_id("eng-incident-verdict")).to_contain_text("早")
        expect(page.get_by_test_id("eng-h")).to_have_value("7")  # the proposal is kept
        page.get_by_test_id("lang-switch").click()
        expect(incident.get_by_test_id("eng-incident-verdict")).to_contain_text("earlier")
        page.screenshot(path=str(tmp_path / "engineer-backtest.png"), full_page=True)
        assert svc.limits.latest_version() == 0  # a back-test applies nothing

        # A change the config loader refuses: its own message, as the server says it.
        with pytest.raises(LimitError) as err:
            svc.limits.candidate({"T1-LT": {"limits": {"h": 9.5}}})
        page.get_by_test_id("eng-h").fill("9.5")
        page.get_by_test_id("eng-reason").fill("try above HH")
        page.get_by_test_id("eng-apply").click()
        error = page.get_by_test_id("eng-error")
        expect(error).to_have_attribute("data-status", "422")
        expect(error).to_contain_text("(422)")
        expect(error).to_contain_text(err.value.problems[0].split(": ", 1)[-1])
        assert svc.limits.latest_version() == 0

        # Applied with a reason: a new version, in the history, run by the detector.
        page.get_by_test_id("eng-h").fill("7")
        page.get_by_test_id("eng-reason").fill("more warning before overfill")
        page.get_by_test_id("eng-apply").click()
        expect(page.get_by_test_id("eng-version")).to_have_attribute("data-version", "1")
        expect(error).to_be_hidden()
        expect(page.get_by_test_id("eng-current")).to_contain_text("H 7.00")
        row = page.locator('[data-testid="eng-version-row"][data-version="1"]')
        expect(row).to_contain_text("Wang Gong")
        expect(row).to_contain_text("more warning before overfill")
        expect(row).to_contain_text('"h":7')
        shown = svc.limits.show("T1-LT")
        assert shown["version"] == 1 and shown["effective"]["limits"]["h"] == 7.0
        (v1,) = svc.limits.history("T1-LT")
        assert (v1.who, v1.reason, v1.change) == (
            "Wang Gong",
            "more warning before overfill",
            {"limits": {"h": 7}},
        )
        assert svc.site is svc.view.site  # the running service took it

        # Rolled back to the config file's limits: a new version, H back at 8.
        page.get_by_test_id("eng-rollback-config").click()
        expect(page.get_by_test_id("eng-version")).to_have_attribute("data-version", "2")
        expect(page.get_by_test_id("eng-current")).to_contain_text("H 8.00")
        back = page.locator('[data-testid="eng-version-row"][data-version="2"]')
        expect(back).to_contain_text("rolled back to version 0")
        assert svc.limits.show("T1-LT")["effective"]["limits"]["h"] == 8.0
        assert svc.limits.history("T1-LT")[0].rollback_of == 0
        page.screenshot(path=str(tmp_path / "engineer-rolled-back.png"), full_page=True)
        page.context.close()

        # An operator: no engineer's view, and the server refuses the change.
        page = open_page(served.url + "/", "Li Ming")
        expect(page.get_by_test_id("live-state")).to_have_attribute("data-state", "open")
        expect(page.get_by_test_id("engineer")).to_be_hidden()
        status = page.evaluate(
            """async () => (await HazardWatchSession.api("/api/limits/T1-LT", {
                 method: "POST", headers: {"Content-Type": "application/json"},
                 body: JSON.stringify({change: {limits: {h: 7}}, reason: "not mine"}),
               })).status"""
        )
        assert status == 403
        assert svc.limits.latest_version() == 2
        page.screenshot(path=str(tmp_path / "operator.png"), full_page=True)
        page.context.close()


def test_the_engineer_chart_and_the_trend_dialog_draw_with_one_function(
    served_limits: tuple[Served, Service],
) -> None:
    served, _ = served_limits
    with loopback_browser() as open_page:
        page = open_page(served.url + "/", "Wang Gong")
        chart = page.get_by_test_id("eng-chart")
        expect(chart).to_have_attribute("data-limits", "HH,H")
        # Record the boxes trend.js's exported drawing is called for.
        page.evaluate(
            """() => {
              const draw = HazardWatchTrend.draw;
              window.drawnInto = [];
              HazardWatchTrend.draw = (box, what) => {
                window.drawnInto.push(box.dataset.testid);
                return draw(box, what);
              };
            }"""
        )
        page.get_by_test_id("eng-h").fill("7")  # the proposal redraws the engineer's chart
        expect(chart).to_have_attribute("data-limits", "HH,H,H proposed")
        expect(chart.locator("canvas")).to_have_count(1)
        page.evaluate("() => HazardWatchTrend.open('T1-LT')")
        trend = page.get_by_test_id("trend-chart")
        expect(trend).to_have_attribute("data-limits", "hh,h")
        expect(trend).to_have_attribute("data-points", re.compile(r"^[1-9]\d*$"))
        expect(trend.locator("canvas")).to_have_count(1)
        # the engineer's view draws through trend.js's function (the dialog calls it inside)
        assert "eng-chart" in page.evaluate("() => window.drawnInto")
        # one drawing: the same series, in the same words, in both
        legend = "ths => ths.map(x => x.textContent.trim())"
        heads = [
            box.locator(".u-legend .u-series th").evaluate_all(legend)[:4] for box in (chart, trend)
        ]
        assert heads[0] == heads[1] and heads[0][1] == "Value (m)", heads
        page.context.close()
