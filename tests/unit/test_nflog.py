"""The notification log (hazardwatch.storage.nflog) and its sender (alerting.sender): one
notification per key and channel, the journal cursor, attempts appended, retries with
exponential backoff and jitter on a fake clock, what survives reopening the file."""

from __future__ import annotations

import random
from pathlib import Path

from alerting.channels import SendError
from alerting.sender import Sender, backoff
from hazardwatch.storage.nflog import NotificationLog, Outgoing
from hazardwatch.vocabulary.clock import FakeClock
from hazardwatch.vocabulary.notify_rules import Retry

T0 = 1_763_800_000.0


def out(key: str, channel: str = "room") -> Outgoing:
    return Outgoing(key, channel, 1, 0, f"title {key}", {"id": key})


class Flaky:
    """A sink failing its first `n` sends; records the clock's time of every send."""

    def __init__(self, n: int, clock: FakeClock) -> None:
        self.n, self.clock, self.sent, self.tries = n, clock, [], []

    def send(self, title: str, body: str) -> None:
        self.tries.append(self.clock.now())
        if len(self.tries) <= self.n:
            raise SendError("503 from the test")
        self.sent.append(body)


def test_one_notification_per_key_and_channel_whatever_is_enqueued_again(tmp_path: Path) -> None:
    log = NotificationLog(tmp_path / "n.db")
    assert log.enqueue([out("event:1"), out("event:1", "mail"), out("event:2")]) == 3
    assert log.enqueue([out("event:1"), out("event:2", "mail")]) == 1
    assert sorted((p.key, p.channel) for p in log.due(T0)) == [
        ("event:1", "mail"), ("event:1", "room"), ("event:2", "mail"), ("event:2", "room"),
    ]  # fmt: skip


def test_the_cursor_only_moves_forward_and_survives_reopening(tmp_path: Path) -> None:
    log = NotificationLog(tmp_path / "n.db")
    assert log.fresh and log.cursor() == 0
    log.enqueue([], cursor=9)
    log.enqueue([], cursor=4)
    log.close()
    again = NotificationLog(tmp_path / "n.db")
    assert not again.fresh and again.cursor() == 9


def test_pending_notifications_and_timers_come_back_after_reopening(tmp_path: Path) -> None:
    log = NotificationLog(tmp_path / "n.db")
    log.enqueue([out("event:1"), out("event:2")], timers=[(5, 2, T0 + 60), (6, 1, T0)])
    log.record(log.due(T0)[0].id, T0, None)
    log.enqueue([], timers=[(6, None, 0.0)])
    log.close()
    again = NotificationLog(tmp_path / "n.db")
    assert [p.key for p in again.due(T0)] == ["event:2"]
    assert again.timers() == {5: (2, T0 + 60)}


def test_retries_back_off_exponentially_with_jitter_then_deliver() -> None:
    clock, log = FakeClock(T0), NotificationLog(":memory:")
    sink = Flaky(4, clock)
    retry = Retry(attempts=8, backoff_s=10.0, backoff_max_s=60.0)
    sender = Sender(log, {"room": sink}, retry, clock, random.Random(1))
    log.enqueue([out("event:1")], now=T0)
    for _ in range(100):  # advance the fake clock one second at a time until delivered
        sender.drain()
        if sink.sent:
            break
        clock.advance(1.0)
    gaps = [b - a for a, b in zip(sink.tries, sink.tries[1:], strict=False)]
    bases = [10.0, 20.0, 40.0, 60.0]  # doubling, capped at backoff_max_s
    assert len(gaps) == 4
    assert all(0.5 * b <= g <= b + 1.0 for g, b in zip(gaps, bases, strict=True)), gaps
    assert len(set(round(g / b, 3) for g, b in zip(gaps, bases, strict=True))) > 1  # jitter
    [row] = log.listing()
    assert [a["outcome"] for a in row["log"]] == ["failed"] * 4 + ["sent"]
    assert log.counts() == {"pending": 0, "sent": 1, "failed": 0, "attempts_failed": 4}


def test_after_the_last_attempt_it_is_failed_and_never_tried_again() -> None:
    clock, log = FakeClock(T0), NotificationLog(":memory:")
    sink = Flaky(100, clock)
    sender = Sender(log, {"room": sink}, Retry(3, 1.0, 1.0), clock, random.Random(2))
    log.enqueue([out("event:1")], now=T0)
    for _ in range(20):
        sender.drain()
        clock.advance(1.0)
    assert len(sink.tries) == 3 and log.counts()["failed"] == 1 and log.next_due() is None


def test_a_channel_missing_from_the_config_fails_at_once() -> None:
    log = NotificationLog(":memory:")
    log.enqueue([out("event:1", "gone")], now=T0)
    Sender(log, {}, Retry(), FakeClock(T0)).drain()
    assert "no channel 'gone'" in log.listing()[0]["log"][0]["error"]
    assert log.counts()["failed"] == 1


def test_backoff_is_capped() -> None:
    r = Retry(backoff_s=1.0, backoff_max_s=30.0)
    assert all(backoff(n, r, random.Random(n)) < 30.0 for n in range(1, 40))
