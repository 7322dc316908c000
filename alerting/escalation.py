"""Escalation: an alarm left unacknowledged goes up the hazard source's responsible people.

An alarm active and unacknowledged (not shelved, suppressed or out of service) whose
priority has a delay (`escalation.after_s`) gets a timer: after the delay, step 1 goes to
the hazard source's operation person, then step 2 to its technical person, step 3 to its
main person, step 4 to park supervision, one delay apart; with `repeat`, supervision again
every delay after that. Acknowledgement, a shelve (any mute) or the clear stops it.

The timers are kept in the notification log (`escalation` table), written in the same
transaction as the step's notifications, so a step is sent once and a timer survives a
restart; one that fell due while the service was down is sent at the first tick.
It is a pipeline Notifier (it follows every journalled event) and a tick Timer (it sends
what is due; it makes no alarm action, so it returns none).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from alerting.alarm import Alarm, AlarmEvent
from alerting.priority import ColourChange
from alerting.routes import Routes
from hazardwatch.storage.nflog import NotificationLog
from hazardwatch.vocabulary.model import AlarmState
from hazardwatch.vocabulary.notify_rules import SUPERVISION_LEVEL

Timers = list[tuple[int, int | None, float]]


class Escalation:
    """Escalation timers over `nflog`, steps routed by `router`; `wake` tells the sender."""

    def __init__(
        self, router: Routes, nflog: NotificationLog, wake: Callable[[], None] = lambda: None
    ) -> None:
        self._router, self._log, self._wake = router, nflog, wake
        self._rules = router.rules.escalation
        rules = router.rules
        # No person's channel, no supervision, no escalation route: nowhere to escalate to.
        self._anywhere = bool(
            rules.people or rules.supervision or any(max(r.levels) > 0 for r in rules.routes)
        )
        self._lock = threading.Lock()
        self._timers = nflog.timers()  # alarm id -> (next step, due)
        self._alarms: dict[int, Alarm] = {}  # the latest snapshot of each timed alarm

    def delay(self, a: Alarm) -> float | None:
        """Seconds between steps for `a`'s priority (None: it never escalates)."""
        return self._rules.after_s.get(a.priority.label)

    def watched(self, a: Alarm) -> bool:
        """Whether `a` is escalating: active, unacknowledged, not muted, with a delay."""
        return (
            self._anywhere
            and a.state is AlarmState.ACTIVE_UNACK
            and a.muted is None
            and bool(self.delay(a))
        )

    def _follow(self, alarms: Iterable[tuple[Alarm, float]]) -> Timers:
        changes: Timers = []
        for a, ts in alarms:
            if self.watched(a):
                self._alarms[a.id] = a
                if a.id not in self._timers:
                    due = ts + (self.delay(a) or 0.0)
                    self._timers[a.id] = (1, due)
                    changes.append((a.id, 1, due))
            else:
                self._alarms.pop(a.id, None)
                if self._timers.pop(a.id, None) is not None:
                    changes.append((a.id, None, 0.0))
        return changes

    def notify(self, events: list[AlarmEvent], colours: list[ColourChange]) -> None:
        """Start a timer for each alarm that became unacknowledged, stop those handled."""
        with self._lock:
            changes = self._follow((e.alarm, e.ts) for e in events)
            if changes:
                self._log.enqueue([], timers=changes)

    def reconcile(self, open_alarms: Iterable[Alarm], now: float) -> None:
        """At start: timers for open alarms that need one (a kill before the timer was
        written: from their last change), none for alarms handled or gone meanwhile."""
        with self._lock:
            alarms = list(open_alarms)
            seen = {a.id for a in alarms}
            changes = self._follow((a, a.changed_ts) for a in alarms)
            for gone in [i for i in self._timers if i not in seen]:
                del self._timers[gone]
                changes.append((gone, None, 0.0))
            if changes:
                self._log.enqueue([], timers=changes)

    def due(self, now: float) -> list[Any]:
        """Send every step due at `now` (the tick's Timer protocol; no alarm action)."""
        sent = False
        with self._lock:
            for alarm_id, (step, due) in sorted(self._timers.items(), key=lambda t: t[1][1]):
                if due > now:
                    continue
                a = self._alarms.get(alarm_id)
                if a is None or not self.watched(a):
                    self._timers.pop(alarm_id)
                    self._log.enqueue([], timers=[(alarm_id, None, 0.0)])
                    continue
                out = self._router.for_escalation(a, step, now)
                delay = self.delay(a) or 0.0
                more = step < SUPERVISION_LEVEL or self._rules.repeat
                # Late (the service was down): the next step one delay from now, not at once.
                nxt = due + delay if due + delay > now else now + delay
                timer = (alarm_id, step + 1, nxt) if more else (alarm_id, None, 0.0)
                self._log.enqueue(out, now=now, timers=[timer])
                if more:
                    self._timers[alarm_id] = (step + 1, nxt)
                else:
                    self._timers.pop(alarm_id)
                sent = sent or bool(out)
        if sent:
            self._wake()
        return []

    def next_due(self) -> float | None:
        with self._lock:
            return min((due for _, due in self._timers.values()), default=None)
