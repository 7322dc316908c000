"""Notifications to real endpoints on loopback: our signed webhook to the test's own HTTP
receiver, apprise's json:// target to the same, e-mail through apprise to an aiosmtpd
server the test starts; a receiver that fails N times (retries with backoff, every attempt
in the delivery log) and one that never answers right (given up, counted)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerting.channels import AppriseSink, Sink, Webhook
from alerting.sender import Sender
from hazardwatch.storage.nflog import NotificationLog, Outgoing
from hazardwatch.vocabulary.clock import SystemClock
from hazardwatch.vocabulary.notify_rules import Retry
from tests.receivers import http_receiver, smtp_server
from tests.waiting import until

pytestmark = pytest.mark.integration

FAST = Retry(attempts=5, backoff_s=0.01, backoff_max_s=0.05)


@pytest.fixture
def nflog(tmp_path: Path) -> Iterator[NotificationLog]:
    log = NotificationLog(tmp_path / "notifications.db")
    yield log
    log.close()


def outgoing(key: str = "event:7", channel: str = "x") -> Outgoing:
    body = {"id": key, "kind": "alarm", "text": "[HIGH] e1-T1-LT hh activate (18.5)"}
    return Outgoing(key, channel, 7, 0, "[HIGH] e1-T1-LT hh activate", body)


def run(nflog: NotificationLog, sinks: dict[str, Sink], retry: Retry = FAST) -> Sender:
    sender = Sender(nflog, sinks, retry, SystemClock(), idle_s=0.02)
    sender.start()
    return sender


async def test_a_webhook_gets_the_logged_body_signed_with_hmac_sha256(
    nflog: NotificationLog,
) -> None:
    with http_receiver() as rx:
        nflog.enqueue([outgoing()])
        sender = run(nflog, {"x": Webhook(rx.url + "/hook", secret="s3cret")})
        try:
            await until(lambda: nflog.counts()["sent"] == 1, "the webhook delivery")
        finally:
            sender.stop()
    [got] = rx.ok
    assert got.path == "/hook" and got.json()["id"] == "event:7"
    expected = hmac.new(b"s3cret", got.body, hashlib.sha256).hexdigest()
    assert got.headers["x-hazardwatch-signature"] == f"sha256={expected}"
    assert got.headers["x-hazardwatch-delivery"] == "event:7"
    assert got.headers["content-type"] == "application/json"


async def test_a_receiver_failing_three_times_gets_it_on_the_fourth_attempt(
    nflog: NotificationLog,
) -> None:
    with http_receiver(fail_first=3) as rx:
        nflog.enqueue([outgoing()])
        sender = run(nflog, {"x": Webhook(rx.url)})
        try:
            await until(lambda: nflog.counts()["sent"] == 1, "delivery after three failures")
        finally:
            sender.stop()
    assert len(rx.refused) == 3 and len(rx.ok) == 1
    assert {r.body for r in rx.refused} == {rx.ok[0].body}  # the same body every attempt
    [row] = nflog.listing()
    assert [a["outcome"] for a in row["log"]] == ["failed"] * 3 + ["sent"]
    assert "500" in row["log"][0]["error"] and row["attempts"] == 4
    times = [a["ts"] for a in row["log"]]
    assert times == sorted(times)
    assert nflog.counts() == {"pending": 0, "sent": 1, "failed": 0, "attempts_failed": 3}


async def test_a_receiver_that_always_fails_is_given_up_after_the_attempts_and_counted(
    nflog: NotificationLog,
) -> None:
    with http_receiver(fail_first=1000) as rx:
        nflog.enqueue([outgoing()])
        sender = run(nflog, {"x": Webhook(rx.url)}, Retry(3, 0.01, 0.02))
        try:
            await until(lambda: nflog.counts()["failed"] == 1, "giving up")
        finally:
            sender.stop()
    assert len(rx.refused) == 3 and rx.ok == []
    assert nflog.counts() == {"pending": 0, "sent": 0, "failed": 1, "attempts_failed": 3}


async def test_an_unreachable_webhook_is_a_failed_attempt_not_a_crash(
    nflog: NotificationLog,
) -> None:
    with http_receiver() as rx:
        dead = rx.url  # the port is free again once the receiver stops
    nflog.enqueue([outgoing()])
    sender = run(nflog, {"x": Webhook(dead)}, Retry(2, 0.01, 0.02))
    try:
        await until(lambda: nflog.counts()["failed"] == 1, "giving up")
    finally:
        sender.stop()
    assert "unreachable" in nflog.listing()[0]["log"][0]["error"]


async def test_apprise_json_target_reaches_a_local_http_receiver(nflog: NotificationLog) -> None:
    with http_receiver() as rx:
        nflog.enqueue([outgoing(channel="ops")])
        target = rx.url.replace("http://", "json://") + "/apprise"
        sender = run(nflog, {"ops": AppriseSink((target,))})
        try:
            await until(lambda: nflog.counts()["sent"] == 1, "the apprise delivery")
        finally:
            sender.stop()
    [got] = rx.ok
    assert got.path == "/apprise"
    assert got.json()["title"] == "[HIGH] e1-T1-LT hh activate"
    assert "e1-T1-LT hh activate (18.5)" in got.json()["message"]


async def test_e_mail_through_apprise_reaches_a_local_smtp_server(nflog: NotificationLog) -> None:
    with smtp_server() as box:
        url = f"mailto://{box.host}:{box.port}?from=hw@park.example&to=duty@park.example"
        nflog.enqueue([outgoing(channel="mail")])
        sender = run(nflog, {"mail": AppriseSink((url,))})
        try:
            await until(lambda: nflog.counts()["sent"] == 1, "the e-mail")
        finally:
            sender.stop()
        [mail] = box.messages
    assert mail["Subject"] == "[HIGH] e1-T1-LT hh activate"
    assert mail["To"] == "duty@park.example"
    text = "".join(p.get_payload(decode=True).decode() for p in mail.walk() if not p.is_multipart())
    assert "e1-T1-LT hh activate (18.5)" in text and "event:7" in text


def test_the_logged_body_is_the_json_of_the_outgoing(nflog: NotificationLog) -> None:
    nflog.enqueue([outgoing()])
    [p] = nflog.due(0.0)
    assert json.loads(p.body)["id"] == "event:7"
