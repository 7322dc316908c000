"""The alarm performance report, printed to PDF by Chromium: the figures the page shows
(from GET /api/report over a real journal) are in the PDF's text."""

from __future__ import annotations

import io
import re
import time
import unicodedata

from playwright.sync_api import expect, sync_playwright
from pypdf import PdfReader

from hazardwatch.vocabulary.model import Condition
from tests.e2e.test_browser import ServedPark, _chromium, _log_in, _loopback_context


def test_the_printed_report_carries_the_figures_of_the_page(served: ServedPark) -> None:
    for tag, condition, value in (
        ("T101.LT", Condition.HH, 18.7),
        ("T101.TT", Condition.H, 41.0),
        ("T301.PT", Condition.HH, 420.0),
    ):
        served.raise_alarm(tag, condition, value)
    until = time.time() + 60
    outside: list[str] = []
    with sync_playwright() as p:
        browser = _chromium(p)
        try:
            page = _loopback_context(browser, outside).new_page()
            page.goto(served.url + "/")
            _log_in(page, "Viv")  # a viewer may read the report
            expect(page.get_by_test_id("operator")).to_contain_text("Viv")
            page.goto(f"{served.url}/report?since={until - 3600}&until={until}")
            expect(page.get_by_test_id("report")).to_have_attribute("data-state", "ready")
            figures = {
                name: page.locator(f'[data-figure="{name}"]').inner_text()
                for name in ("alarms", "per_hour", "verdict", "peak_10_min", "flood_pct",
                             "standing", "online_pct")
            }  # fmt: skip
            top = page.locator('[data-rows="top"] tr').all_inner_texts()
            pdf = page.pdf(format="A4", print_background=False)
        finally:
            browser.close()
    assert outside == []
    assert figures["alarms"] == "3"
    assert figures["standing"] == "3"
    assert figures["verdict"] == "very likely to be acceptable"
    pages = PdfReader(io.BytesIO(pdf)).pages
    # NFKC: Chromium sets "fl" and "fi" as ligatures, which come out as one character
    text = " ".join(
        unicodedata.normalize("NFKC", "".join(pg.extract_text() for pg in pages)).split()
    )
    assert "Alarm performance report" in text
    for name, shown in figures.items():
        assert " ".join(shown.split()) in text, (name, shown)
    assert len(top) == 3
    for row in top:
        tag = row.split()[0]
        assert re.search(rf"{re.escape(tag)} hh? \d+ 33\.333", text), (row, text)
