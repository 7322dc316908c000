"""Exactly one notification per transition per route across a SIGKILL mid-send and a
restart: the service's own process is killed while a webhook request is in flight; a new
service on the same data dir sends what was pending, and what was sent is not sent again.
Also: the service routes journalled events, shows the delivery log at /api/notifications,
and routes at start what the journal holds past the notification log's cursor.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from alerting import Acknowledge, Notifications, Routes
from hazardwatch.shell.service import Service, Settings
from hazardwatch.storage.accounts import Role
from hazardwatch.storage.nflog import NotificationLog
from hazardwatch.vocabulary.clock import FakeClock
from hazardwatch.vocabulary.config import parse_site
from hazardwatch.vocabulary.model import Condition, ConditionChange
from tests.accounts import bearer
from tests.e2e.harness import E2E_SITE
from tests.integration.test_alarm_durability import _read_line
from tests.receivers import http_receiver
from tests.unit.test_api import TestClient

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_763_800_000.0
TAGS = ["e1-T1-LT", "e1-T2-LT", "e1-S1-LT", "e1-T1-TT", "e1-S1-PT"]


def notify_site(url: str) -> str:
    return (
        E2E_SITE
        + f"""
notifications:
  channels:
    room: {{webhook: "{url}/room"}}
    nh3: {{webhook: "{url}/nh3"}}
  routes:
    - {{channels: [room]}}
    - {{channels: [nh3], hazard_sources: [e1-hs2]}}
  retry: {{attempts: 5, backoff_s: 0.01, backoff_max_s: 0.02}}
"""
    )


def start(data_dir: Path, url: str, now: float = T0) -> Service:
    settings = Settings(data_dir=data_dir, checkpoint_interval_s=0, judge_silence=False)
    return Service(parse_site(notify_site(url), "site.yaml"), settings, clock=FakeClock(now))


def raise_hh(svc: Service, tag: str, ts: float) -> int:
    change = ConditionChange(svc.table.tag_index[tag], Condition.HH, True, 99.0, ts, 3)
    [event] = svc.handle_changes([change])
    return event.seq


CHILD = """
import sys, time
from pathlib import Path
from tests.integration.test_notify_durability import T0, TAGS, raise_hh, start

svc = start(Path(sys.argv[1]), sys.argv[2])
svc.sender.start()
seqs = [raise_hh(svc, tag, T0 + i) for i, tag in enumerate(TAGS)]
print(" ".join(map(str, seqs)), flush=True)
time.sleep(60)  # the parent kills it first
"""


def test_no_notification_is_lost_or_sent_twice_after_sigkill_mid_send(tmp_path: Path) -> None:
    with http_receiver(hold_after=2) as rx:
        with subprocess.Popen(
            [sys.executable, "-c", CHILD, str(tmp_path), rx.url],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        ) as proc:  # fmt: skip
            try:
                seqs = [int(s) for s in _read_line(proc).split()]
                for _ in range(600):  # bounded: the third request arrives and is held
                    if rx.held or proc.poll() is not None:
                        break
                    time.sleep(0.05)
                assert len(rx.held) == 1, "the third notification never reached the receiver"
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
        assert proc.returncode == -signal.SIGKILL
        rx.hold_after = None
        rx.release.set()  # the held request ends unanswered: not a delivery
        svc = start(tmp_path, rx.url, T0 + 60)
        try:
            svc.sender.drain()
            counts = svc.nflog.counts()
        finally:
            svc.close()
    # e1-S1-* are in e1-hs2: two routes each; the rest one
    expected = Counter(
        {
            f"event:{s}": 2 if tag.startswith("e1-S1") else 1
            for s, tag in zip(seqs, TAGS, strict=True)
        }
    )
    delivered = Counter(r.json()["id"] for r in rx.ok)
    assert delivered == expected
    assert len({(r.path, r.json()["id"]) for r in rx.ok}) == len(rx.ok)  # none twice
    assert rx.held[0].json()["id"] in delivered  # the one in flight was sent after restart
    assert counts == {"pending": 0, "sent": sum(expected.values()), "failed": 0,
                      "attempts_failed": 0}  # fmt: skip


def test_the_service_routes_its_events_and_shows_the_delivery_log(tmp_path: Path) -> None:
    with http_receiver(fail_first=1) as rx:
        svc = start(tmp_path, rx.url)
        try:
            seq = raise_hh(svc, "e1-T1-LT", T0)
            alarm_id = svc.alarms.alarms()[0].id
            svc.pipeline.run([Acknowledge(alarm_id, "li")], T0 + 1)  # routes hear activate only
            svc.sender.drain()  # the first attempt fails (500)
            svc.clock.advance(1.0)
            svc.sender.drain()
            headers = bearer(svc.accounts, Role.VIEWER)
            with TestClient(svc.app, base_url="http://127.0.0.1", headers=headers) as client:
                answer = client.get("/api/notifications")
                failed = client.get("/api/notifications", params={"state": "failed"})
        finally:
            svc.close()
    assert [r.json()["id"] for r in rx.ok] == [f"event:{seq}"]
    assert answer.status_code == 200 and failed.json()["notifications"] == []
    body = answer.json()
    assert body["counts"] == {"pending": 0, "sent": 1, "failed": 0, "attempts_failed": 1}
    [row] = body["notifications"]
    assert (row["key"], row["channel"], row["alarm_id"], row["state"]) == (
        f"event:{seq}", "room", alarm_id, "sent",
    )  # fmt: skip
    assert [a["outcome"] for a in row["log"]] == ["failed", "sent"]


def test_events_journalled_but_not_routed_before_a_kill_are_routed_at_start(
    tmp_path: Path,
) -> None:
    svc = start(tmp_path, "http://127.0.0.1:9")
    try:
        seqs = [raise_hh(svc, tag, T0 + i) for i, tag in enumerate(TAGS[:2])]
        routes = Routes(svc.site.notifications, {})
        # the kill's window: journalled, then the log's write never happened
        fresh = NotificationLog(tmp_path / "other.db")
        notifier = Notifications(routes, fresh)
        assert notifier.catch_up(svc.journal.events_after) == 2
        assert notifier.catch_up(svc.journal.events_after) == 0  # once
        assert sorted(p.key for p in fresh.due(T0)) == [f"event:{s}" for s in seqs]
        fresh.close()
    finally:
        svc.close()


def test_a_new_notification_log_beside_an_old_journal_announces_no_history(
    tmp_path: Path,
) -> None:
    svc = start(tmp_path, "http://127.0.0.1:9")
    raise_hh(svc, "e1-T1-LT", T0)
    svc.close()
    (tmp_path / "notifications.db").unlink()
    for extra in ("-wal", "-shm"):
        (tmp_path / f"notifications.db{extra}").unlink(missing_ok=True)
    svc = start(tmp_path, "http://127.0.0.1:9")
    try:
        assert svc.nflog.counts()["pending"] == 0
        assert svc.nflog.cursor() == svc.journal.last_seq() > 0
    finally:
        svc.close()


def test_the_body_is_documented_json(tmp_path: Path) -> None:
    svc = start(tmp_path, "http://127.0.0.1:9")
    try:
        raise_hh(svc, "e1-T1-LT", T0)
        [p] = svc.nflog.due(T0)
        body = json.loads(p.body)
    finally:
        svc.close()
    assert set(body) == {"id", "kind", "level", "event", "from_state", "to_state", "ts", "text",
                         "alarm"}  # fmt: skip
    assert body["alarm"]["tag"] == "e1-T1-LT" and body["kind"] == "alarm"
