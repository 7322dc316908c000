"""The notification log on the page (issue 14: failures visible in the API and on the page):
the bar counts sent, pending and given-up notifications of the service's own log, turns red
on a failure and names it in its tooltip, in a real headless Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect, sync_playwright

from hazardwatch.shell.service import Service
from hazardwatch.storage.nflog import Outgoing
from tests.e2e.test_browser import Served, _chromium, _log_in, _loopback_context

pytestmark = pytest.mark.e2e


def _outgoing(key: str, channel: str) -> Outgoing:
    title = "[HIGH] T101.LT hh activate"
    return Outgoing(key, channel, 1, 0, title, {"id": key, "kind": "alarm", "text": title})


def test_the_bar_counts_notifications_and_shows_a_given_up_one(
    served_service: tuple[Served, Service],
) -> None:
    served, svc = served_service
    svc.nflog.enqueue([_outgoing("event:1", "duty-phone"), _outgoing("event:1", "wecom")])
    ids = {n["channel"]: n["id"] for n in svc.nflog.listing()}
    svc.nflog.record(ids["wecom"], 1.0, None)
    svc.nflog.record(ids["duty-phone"], 2.0, "HTTP 502 from the gateway")  # no retry: given up
    outside: list[str] = []
    with sync_playwright() as p:
        browser = _chromium(p)
        try:
            page = _loopback_context(browser, outside).new_page()
            page.goto(served.url + "/")
            _log_in(page, "Li Ming")
            badge = page.get_by_test_id("notify-state")
            expect(badge).to_contain_text("1")
            expect(badge).to_have_attribute("data-state", "failed")
            expect(badge).to_have_attribute(
                "title", "duty-phone: [HIGH] T101.LT hh activate — HTTP 502 from the gateway"
            )
            page.get_by_test_id("lang-switch").click()
            expect(badge).to_have_text("Notifications sent 1 · pending 0 · failed 1")
            expect(page.get_by_test_id("report-link")).to_have_attribute("href", "/report")
        finally:
            browser.close()
    assert outside == [], f"the page tried to reach outside loopback: {outside}"
