"""The control-room page in a real headless Chromium, against the app served by uvicorn.

The app runs as the service runs it: uvicorn on its own event loop thread, alarms raised
and published on that loop. Every request the page makes is checked: only loopback is
allowed, as on an isolated command-room network.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    Playwright,
    Route,
    expect,
    sync_playwright,
)

from alerting import AlarmEvent, Event
from dashboards import Server, create_app
from hazardwatch.shell.service import Service
from hazardwatch.storage.accounts import Role
from hazardwatch.vocabulary.model import AlarmState, Batch, Condition
from tests.accounts import PASSWORD, bearer, make_accounts
from tests.unit.test_api import Park

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0

T = TypeVar("T")


class Served:
    """An app behind uvicorn on 127.0.0.1, its own event loop on a background thread."""

    def __init__(self, app: Any, hub: Any) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
        self.server = Server(config, hub=hub)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="uvicorn", daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            await self.server.serve(sockets=[self.sock])

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by start() and stop()
            self.failure = exc

    def start(self) -> Self:
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.server.started and time.monotonic() < deadline:
            if not self.thread.is_alive():
                raise RuntimeError(f"uvicorn did not start: {self.failure!r}")
            time.sleep(0.02)
        if not self.server.started:
            raise TimeoutError(f"uvicorn not started after {START_TIMEOUT_S}s")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(STOP_TIMEOUT_S)
        self.sock.close()
        assert not self.thread.is_alive(), "uvicorn did not shut down"
        assert self.failure is None, repr(self.failure)

    def on_loop(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the server's event loop, as the service's own code runs."""
        assert self.loop is not None

        async def call() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(timeout=5)


class ServedPark(Served):
    """The dashboards' Park (tests.unit.test_api) served as the service serves it."""

    def __init__(self, journal_path: Path) -> None:
        self.park = Park.build(journal_path)
        self.park.clock.set(time.time())  # the page shows today's times as HH:MM:SS
        self.accounts = make_accounts(journal_path.parent / "accounts.db")
        self.accounts.add_user("Zhang Wei", Role.OPERATOR, PASSWORD)
        self.accounts.add_user("Viv", Role.VIEWER, PASSWORD)
        app = create_app(self.park.view(), accounts=self.accounts)
        super().__init__(app, self.park.hub)

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            self.park.journal.close()
            self.accounts.close()

    def raise_alarm(
        self, tag: str, condition: Condition, value: float, eta_ts: float | None = None
    ) -> AlarmEvent:
        """Apply a condition change and publish what it caused, like the service does.

        A new `eta_ts` for an active PREDICT_* alarm makes an UPDATE event.
        """

        def apply() -> AlarmEvent:
            event = self.park.change(tag, condition, True, value, eta_ts=eta_ts, publish=True)
            self.park.clock.set(time.time())
            return event

        return self.on_loop(apply)


def _chromium(p: Playwright) -> Browser:
    # Missing setup fails here with its fix; a skip would pass a machine that never ran the page.
    assert shutil.which(CHROMIUM), (
        f"no {CHROMIUM}: `scripts/setup.sh test` installs Debian's chromium"
    )
    return p.chromium.launch(
        executable_path=CHROMIUM,
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    )


def _loopback_context(
    browser: Browser, outside: list[str], alarm_fetches: list[str] | None = None
) -> BrowserContext:
    """A browser context that lets the page reach loopback only (the rest is recorded)."""

    def loopback_only(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname not in ("127.0.0.1", "localhost"):
            outside.append(url)
            route.abort()
            return
        if alarm_fetches is not None and urlsplit(url).path == "/api/alarms":
            alarm_fetches.append(url)
        route.continue_()

    context = browser.new_context(viewport={"width": 1600, "height": 900})
    context.route("**/*", loopback_only)
    return context


@contextmanager
def loopback_browser() -> Iterator[Callable[[str, str], Page]]:
    """Chromium that may reach loopback only; yields `open_page(url, name)`, a new context's
    page at `url` logged in as `name`. At the end: closed, and nothing outside was asked for."""
    outside: list[str] = []
    with sync_playwright() as p:
        browser = _chromium(p)

        def open_page(url: str, name: str) -> Page:
            page = _loopback_context(browser, outside).new_page()
            page.goto(url)
            _log_in(page, name)
            return page

        try:
            yield open_page
        finally:
            browser.close()
    assert outside == [], f"the page tried to reach outside loopback: {outside}"


def _row(page: Page, alarm_id: int) -> Locator:
    return page.locator(f'[data-testid="alarm-row"][data-alarm-id="{alarm_id}"]')


def _log_in(page: Page, name: str, password: str = PASSWORD) -> None:
    """The page asks for a login before it shows anything: answer it."""
    expect(page.get_by_test_id("login-dialog")).to_be_visible()
    page.get_by_test_id("login-name").fill(name)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()


def test_page_shows_alarms_live_and_acknowledges_on_loopback_only(
    served: ServedPark, tmp_path: Path
) -> None:
    first = served.raise_alarm("T101.LT", Condition.HH, 18.7)
    outside: list[str] = []
    alarm_fetches: list[str] = []

    with sync_playwright() as p:
        browser = _chromium(p)
        try:
            context = _loopback_context(browser, outside, alarm_fetches)
            page = context.new_page()
            page.goto(served.url + "/")
            _log_in(page, "Zhang Wei")

            expect(page.get_by_test_id("live-state")).to_have_attribute("data-state", "open")
            expect(page.get_by_test_id("operator")).to_contain_text("Zhang Wei (operator)")
            expect(page.get_by_test_id("park-name")).to_have_text("测试化工园区 Test Park")
            row = _row(page, first.alarm.id)
            expect(row).to_have_attribute("data-state", "active_unack")
            expect(row).to_have_class(re.compile(r"\bunacked\b"))
            expect(row.get_by_test_id("alarm-state")).to_contain_text("未确认")
            expect(row).to_contain_text("HH 高高")
            expect(row).to_contain_text("18.70")
            expect(row).to_have_css("animation-name", "blink")  # retried: rows are redrawn
            expect(page.get_by_test_id("tile-hs1")).to_have_attribute("data-colour", "red")
            expect(page.get_by_test_id("tile-count-hs1")).to_have_text("1")
            expect(page.get_by_test_id("tile-hs3")).to_have_attribute("data-colour", "blue")

            # Raised after the page loaded: it can only arrive over the live channel.
            second = served.raise_alarm("T301.PT", Condition.HH, 420.0)
            expect(_row(page, second.alarm.id)).to_have_attribute("data-state", "active_unack")
            expect(page.get_by_test_id("tile-hs3")).to_have_attribute("data-colour", "red")
            expect(page.get_by_test_id("alarm-row")).to_have_count(2)
            assert len(alarm_fetches) == 1, alarm_fetches

            # The ack names the logged-in operator.
            row.get_by_test_id("ack-button").click()
            expect(row).to_have_attribute("data-state", "active_ack")
            expect(row).not_to_have_class(re.compile(r"\bunacked\b"))
            expect(row.get_by_test_id("ack-button")).to_have_count(0)
            expect(row.get_by_test_id("alarm-state")).to_contain_text("Zhang Wei")
            expect(page.get_by_test_id("tile-unacked-hs1")).to_contain_text("0 未确认")
            expect(page.get_by_test_id("tile-count-hs1")).to_have_text("1")
            acked = served.on_loop(lambda: served.park.manager.get(first.alarm.id))
            assert acked.state is AlarmState.ACTIVE_ACK
            assert acked.acked_by == "Zhang Wei"

            # An early warning (预警) looks unlike an alarm (报警) and counts down to its limit.
            warning = served.raise_alarm(
                "T101.LT", Condition.PREDICT_HH, 15.2, eta_ts=time.time() + 12 * 60 + 30
            )
            warned = _row(page, warning.alarm.id)
            expect(warned).to_have_attribute("data-category", "early_warning")
            expect(warned.get_by_test_id("alarm-category")).to_have_text("预警")
            expect(warned).to_contain_text("PREDICT_HH 预计超高高")
            expect(warned.get_by_test_id("alarm-eta")).to_contain_text("预计 12 分钟后到限")
            expect(warned.get_by_test_id("alarm-state")).to_have_text("● 未确认 预警")
            expect(row.get_by_test_id("alarm-category")).to_have_text("报警")
            expect(row.get_by_test_id("alarm-eta")).to_have_count(0)
            looks = "n => getComputedStyle(n).borderTopStyle + ' ' + getComputedStyle(n).color"
            badge_of = {
                r: r.get_by_test_id("alarm-category").evaluate(looks) for r in (row, warned)
            }
            assert badge_of[row] != badge_of[warned], badge_of
            edge = "r => getComputedStyle(r).borderLeftStyle"
            assert (row.evaluate(edge), warned.evaluate(edge)) == ("solid", "dashed")

            # The trend steepens: the same alarm, same state, a nearer time of crossing.
            update = served.raise_alarm(
                "T101.LT", Condition.PREDICT_HH, 15.9, eta_ts=time.time() + 5 * 60 + 30
            )
            assert (update.event, update.alarm.id) == (Event.UPDATE, warning.alarm.id)
            expect(warned.get_by_test_id("alarm-eta")).to_contain_text("预计 5 分钟后到限")
            expect(warned).to_contain_text("15.90")
            expect(warned).to_have_attribute("data-state", "active_unack")
            expect(page.get_by_test_id("alarm-row")).to_have_count(3)
            expect(page.get_by_test_id("tile-count-hs1")).to_have_text("2")
            assert len(alarm_fetches) == 1, alarm_fetches

            for path in (tmp_path / "control-room.png", Path("/tmp/hw-page.png")):
                page.screenshot(path=str(path), full_page=True, animations="disabled")
            context.close()
        finally:
            browser.close()

    assert outside == [], f"the page tried to reach outside loopback: {outside}"
    assert (tmp_path / "control-room.png").stat().st_size > 0


def test_shutdown_is_not_held_up_by_an_open_live_stream(tmp_path: Path) -> None:
    service = ServedPark(tmp_path / "journal.sqlite").start()
    try:
        with (
            httpx.Client(timeout=5.0, headers=bearer(service.accounts, Role.VIEWER)) as client,
            client.stream("GET", service.url + "/api/live") as stream,
        ):
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            assert next(lines) == "retry: 3000"
            assert service.park.hub.subscribers == 1
            service.server.should_exit = True
            service.thread.join(STOP_TIMEOUT_S)
            assert not service.thread.is_alive(), "an open stream held up shutdown"
            assert [line for line in lines if line.startswith("data:")] == []
    finally:
        service.stop()


def test_page_plans_a_transfer_shows_its_overrun_and_closes_it(
    served_service: tuple[Served, Service],
) -> None:
    served, svc = served_service
    lt = svc.table.tag_index["T101.LT"]

    def level(value: float) -> None:
        def feed() -> None:
            now = time.time()
            svc.clock.set(now)  # type: ignore[attr-defined]
            svc.handle_batch(Batch.of([lt], [now], [value]))

        served.on_loop(feed)

    level(12.0)
    outside: list[str] = []
    with sync_playwright() as p:
        browser = _chromium(p)
        try:
            context = _loopback_context(browser, outside)
            page = context.new_page()
            page.goto(served.url + "/")
            _log_in(page, "Li Ming")
            expect(page.get_by_test_id("no-transfers")).to_be_visible()
            expect(page.locator('[data-testid="plan-tanks"] option[value="T101"]')).to_have_count(1)

            # A plan the site cannot take is refused with the server's reason.
            page.get_by_test_id("plan-unit").fill("T101")
            page.get_by_test_id("plan-target").fill("19.5")
            page.get_by_test_id("plan-submit").click()
            expect(page.get_by_test_id("toast")).to_contain_text("at or past HH 18")
            expect(page.get_by_test_id("transfer-row")).to_have_count(0)

            page.get_by_test_id("plan-target").fill("13.5")
            page.get_by_test_id("plan-submit").click()
            plan = page.get_by_test_id("transfer-row")
            expect(plan).to_have_count(1)
            expect(plan).to_have_attribute("data-tag", "T101.LT")
            expect(plan).to_contain_text("进料")  # from the level, 12.0 below 13.5
            expect(plan).to_contain_text("Li Ming")
            expect(plan.get_by_test_id("transfer-target")).to_have_text("13.50")
            expect(page.get_by_test_id("transfer-count")).to_have_text("1")

            for _ in range(10):  # the smoothed level passes 13.5 + 1 % of the 20 m span
                level(14.2)
            warned = page.locator('[data-testid="alarm-row"][data-category="early_warning"]')
            expect(warned).to_contain_text("OVERRUN 超计划液位")
            expect(warned).to_contain_text("14.20")

            plan.get_by_test_id("plan-close").click()
            expect(page.get_by_test_id("transfer-row")).to_have_count(0)
            expect(page.get_by_test_id("no-transfers")).to_be_visible()
            expect(warned).to_have_attribute("data-state", "cleared_unack")
            (closed,) = served.on_loop(lambda: svc.transfers.book.transfers(True))
            assert (closed.close_reason, closed.closed_by) == ("closed", "Li Ming")
            context.close()
        finally:
            browser.close()
    assert outside == [], f"the page tried to reach outside loopback: {outside}"


def test_a_viewer_logs_in_sees_the_alarms_but_cannot_acknowledge(
    served: ServedPark, tmp_path: Path
) -> None:
    raised = served.raise_alarm("T101.LT", Condition.HH, 18.7)
    outside: list[str] = []
    with sync_playwright() as p:
        browser = _chromium(p)
        try:
            context = _loopback_context(browser, outside)
            page = context.new_page()
            page.goto(served.url + "/")
            expect(page.get_by_test_id("alarm-row")).to_have_count(0)  # nothing before a login

            _log_in(page, "Viv", "not her password")
            expect(page.get_by_test_id("login-error")).to_contain_text("wrong name or password")
            page.get_by_test_id("login-password").fill(PASSWORD)
            page.get_by_test_id("login-submit").click()
            expect(page.get_by_test_id("login-dialog")).to_be_hidden()
            expect(page.get_by_test_id("operator")).to_contain_text("Viv (viewer)")

            row = _row(page, raised.alarm.id)
            expect(row).to_have_attribute("data-state", "active_unack")
            expect(row.get_by_test_id("ack-button")).to_have_count(0)  # no button to press
            # and the server refuses the acknowledgement anyway
            refused = page.evaluate(
                f"""async () => {{
                  const r = await HazardWatchSession.api("/api/alarms/{raised.alarm.id}/ack",
                    {{method: "POST"}});
                  return [r.status, (await r.json()).detail];
                }}"""
            )
            assert refused[0] == 403 and "needs the operator role; Viv is viewer" in refused[1]
            expect(row).to_have_attribute("data-state", "active_unack")
            state = served.on_loop(lambda: served.park.manager.get(raised.alarm.id).state)
            assert state is AlarmState.ACTIVE_UNACK
            page.screenshot(path=str(tmp_path / "viewer-refused.png"), animations="disabled")

            # Logging out ends the session: a reload asks for a login again.
            page.get_by_test_id("logout").click()
            expect(page.get_by_test_id("login-dialog")).to_be_visible()
            context.close()
        finally:
            browser.close()
    assert outside == [], f"the page tried to reach outside loopback: {outside}"
