"""The sender: a thread that drains the notification log, so sending never blocks the
reading path or the alarm pipeline's lock.

Each due notification is tried once per turn; a failure is logged as an attempt and tried
again after an exponential backoff with jitter (`backoff`), until the retry policy's
attempts are spent ("failed", counted). A notification still pending when the process
stops (or is killed) is sent after the restart: the log, not memory, says what is due.
What a kill between a receiver's answer and our record of it may cause is one repeat, with
the same `X-HazardWatch-Delivery` key (alerting.channels).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Mapping

from alerting.channels import SendError, Sink
from hazardwatch.storage.nflog import NotificationLog
from hazardwatch.vocabulary.clock import Clock
from hazardwatch.vocabulary.notify_rules import Retry

log = logging.getLogger("hazardwatch.notify")


def backoff(failures: int, retry: Retry, rng: random.Random) -> float:
    """Seconds to wait after the `failures`-th failed attempt: base * 2**(failures - 1),
    capped, times a random factor in [0.5, 1) (spreads the retries of many notifications).

    >>> r = Retry(backoff_s=1.0, backoff_max_s=5.0)
    >>> [0.5 <= backoff(n, r, random.Random(n)) / min(5.0, 2.0 ** (n - 1)) < 1 for n in (1, 3, 9)]
    [True, True, True]
    """
    return min(retry.backoff_max_s, retry.backoff_s * 2.0 ** (failures - 1)) * rng.uniform(0.5, 1)


class Sender:
    """Drains `nflog` into `sinks` (channel name -> sink) on its own thread (`start`,
    `stop`), or one turn at a time (`drain`, for tests on a fake clock)."""

    def __init__(
        self,
        nflog: NotificationLog,
        sinks: Mapping[str, Sink],
        retry: Retry,
        clock: Clock,
        rng: random.Random | None = None,
        idle_s: float = 1.0,
    ) -> None:
        self._log, self._sinks, self._retry, self._clock = nflog, sinks, retry, clock
        self._rng = rng or random.Random()
        self._idle_s = idle_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def drain(self) -> int:
        """Try every notification due now once; returns how many were tried."""
        tried = 0
        while batch := self._log.due(self._clock.now()):
            for p in batch:
                self._attempt(p.id, p.channel, p.title, p.body, p.attempts)
                tried += 1
                if self._stop.is_set():
                    return tried
        return tried

    def _attempt(self, nid: int, channel: str, title: str, body: str, attempts: int) -> None:
        sink = self._sinks.get(channel)
        error: str | None = None
        if sink is None:
            error = f"no channel {channel!r} in the site config"
        else:
            try:
                sink.send(title, body)
            except SendError as e:
                error = str(e)
        now = self._clock.now()
        retry_at = None
        if error is not None:
            failures = attempts + 1
            if sink is not None and failures < self._retry.attempts:
                retry_at = now + backoff(failures, self._retry, self._rng)
            log.warning("notification %d to %s failed (attempt %d): %s",
                        nid, channel, failures, error)  # fmt: skip
        self._log.record(nid, now, error, retry_at)

    def poke(self) -> None:
        """Something new is in the log: look now."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.drain()
            except Exception:  # a log error: say so, keep the thread, try again later
                log.exception("notification sender turn failed")
            due = self._log.next_due() if not self._stop.is_set() else None
            wait = self._idle_s if due is None else due - self._clock.now()
            self._wake.wait(min(self._idle_s, max(0.0, wait)))

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="notify-sender", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop after the attempt in hand; what is pending stays pending for next time."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
