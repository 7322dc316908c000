"""Chattering: the same alarm (sensor and condition) raised `count` or more times within
`window_s` (EEMUA 191: 3 in 60 s) is flagged, counted and, if the site asks
(`chatter.auto_shelve_s`), shelved for a limited time by "hazardwatch" with the reason,
which the journal keeps like any shelve (the audit lists it).

A pipeline Notifier (it follows every activation) and a tick Timer: the shelve is an alarm
action, so it goes through the pipeline's door at the next tick, not from inside a pass.
Each flag is a row of the notification log's `chatter` table (it survives restarts).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from alerting.action import Shelve
from alerting.alarm import Alarm, AlarmEvent
from alerting.lifecycle import Event
from alerting.priority import ColourChange
from hazardwatch.storage.nflog import NotificationLog
from hazardwatch.vocabulary.notify_rules import Chatter

WHO = "hazardwatch"  # the shelves it makes name the service, not a person


class Chattering:
    """Flags chattering alarms into `nflog`; `lookup(alarm_id)` is the alarm's snapshot
    now (for the auto-shelve: only an open alarm that nothing mutes is shelved)."""

    def __init__(
        self,
        rules: Chatter,
        nflog: NotificationLog,
        lookup: Callable[[int], Alarm],
        shelve_max_s: float,
    ) -> None:
        self._rules, self._log, self._lookup = rules, nflog, lookup
        self._shelve_s = (
            None if rules.auto_shelve_s is None else min(rules.auto_shelve_s, shelve_max_s)
        )
        self._lock = threading.Lock()
        self._raised: dict[tuple[str, str], deque[float]] = {}
        self._shelves: list[tuple[float, Shelve]] = []  # (due at, the shelve)

    def notify(self, events: list[AlarmEvent], colours: list[ColourChange]) -> None:
        flags = []
        with self._lock:
            for e in events:
                if e.event is not Event.ACTIVATE:
                    continue
                a = e.alarm
                times = self._raised.setdefault((a.tag, a.condition.label), deque())
                times.append(e.ts)
                while times and times[0] <= e.ts - self._rules.window_s:
                    times.popleft()
                if len(times) == self._rules.count:  # once per episode
                    flags.append((e.ts, a.tag, a.condition.label, a.id, len(times)))
                    if self._shelve_s is not None and a.muted is None:
                        why = (
                            f"auto-shelved: chattering, {len(times)} activations in "
                            f"{self._rules.window_s:g} s"
                        )
                        self._shelves.append((e.ts, Shelve(a.id, WHO, self._shelve_s, why)))
        if flags:
            self._log.flag_chatter(flags)

    def due(self, now: float) -> list[Any]:
        """The auto-shelves queued, for alarms still open and not muted."""
        with self._lock:
            queued = [s for t, s in self._shelves if t <= now]
            self._shelves = [(t, s) for t, s in self._shelves if t > now]
        out, seen = [], set()
        for s in queued:
            a = self._lookup(s.alarm_id)
            if a.is_open and a.muted is None and s.alarm_id not in seen:
                seen.add(s.alarm_id)
                out.append(s)
        return out

    def next_due(self) -> float | None:
        with self._lock:
            return min((t for t, _ in self._shelves), default=None)
