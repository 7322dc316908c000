"""/docs and /redoc in a real headless Chromium: they render with nothing from outside.

Every request the pages make is recorded and anything off loopback is refused, as on an
isolated command-room network: Swagger UI and ReDoc must still show the API.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.e2e.test_browser import ServedPark, _chromium, _loopback_context

pytestmark = pytest.mark.e2e


def test_swagger_ui_and_redoc_render_from_loopback_only(served: ServedPark) -> None:
    outside: list[str] = []
    with sync_playwright() as p:
        browser = _chromium(p)
        try:
            context = _loopback_context(browser, outside)
            page = context.new_page()

            page.goto(served.url + "/docs")
            expect(page.locator(".swagger-ui .info .title")).to_contain_text("HazardWatch")
            # the operations are listed: the bundle ran and read /openapi.json
            expect(page.locator(".opblock-summary-path").first).to_be_visible()
            expect(page.get_by_text("/api/alarms/{alarm_id}/ack")).to_be_visible()

            page.goto(served.url + "/redoc")
            expect(page.locator("h1").first).to_contain_text("HazardWatch")
            expect(page.get_by_text("Acknowledge an alarm").first).to_be_attached()
            page.wait_for_load_state("networkidle")
        finally:
            browser.close()
    assert outside == []
