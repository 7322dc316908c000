"""The notify stage's notifier for people: routes journalled events into the notification
log (pending), then wakes the sender; nothing is sent on the pipeline's thread.

The log's cursor moves with the same transaction, so at start `catch_up` routes exactly
the events journalled after the last routed one (a kill between the journal's commit and
the log's): no transition is announced twice nor lost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from alerting.alarm import AlarmEvent
from alerting.priority import ColourChange
from alerting.routes import Routes
from hazardwatch.storage.nflog import NotificationLog, Outgoing


class Notifications:
    """A pipeline Notifier: each pass's events, routed, written pending; `wake` after."""

    def __init__(
        self,
        router: Routes,
        nflog: NotificationLog,
        wake: Callable[[], None] = lambda: None,
        hold: Callable[[AlarmEvent], bool] = lambda e: False,
    ) -> None:
        # hold: an event announced otherwise (its console's flood summary: alerting.flood)
        self._router, self._log, self._wake, self._hold = router, nflog, wake, hold

    def notify(self, events: list[AlarmEvent], colours: list[ColourChange]) -> None:
        if events:
            self.route(events)

    def route(self, events: Sequence[AlarmEvent]) -> int:
        """Write the notifications of `events` (journal order) and move the cursor past
        them; returns how many new notifications."""
        out: list[Outgoing] = []
        for e in events:
            if not self._hold(e):
                out += self._router.for_event(e)
        new = self._log.enqueue(out, now=events[-1].ts, cursor=max(e.seq for e in events))
        if new:
            self._wake()
        return new

    def catch_up(self, events_after: Callable[[int], list[AlarmEvent]]) -> int:
        """Route what the journal holds past the log's cursor (`events_after(seq)`)."""
        events = events_after(self._log.cursor())
        return self.route(events) if events else 0
