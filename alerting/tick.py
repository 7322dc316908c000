"""The tick: everything time-driven, in one call that the live service and a replay share.

The live service calls `tick(now)` every `stale_check_interval_s` of wall time; a replay
calls it at every slice end and, across a gap in the data, at the slice end where
`next_due()` says a timer has something to do. Each timer only says what is due; the
tick sends it through the pipeline's one door, so a timer expiry is journalled and
announced like any other action. The wiring lists the timers: today the stale check
(communication loss), transfer plan expiry, mute expiry, and escalation (alerting.escalation:
it sends its steps to the notification log itself and returns no action).

>>> class Every10:
...     def due(self, now):
...         return [now] if now % 10 == 0 else []
...     def next_due(self):
...         return 10.0
>>> class Echo:
...     def run(self, actions, now=None):
...         return [("event", a) for a in actions]
>>> tick = Tick(Echo(), [Every10()])
>>> tick(9.0), tick(10.0), tick.next_due()
([], [('event', 10.0)], 10.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from alerting.action import Action
from alerting.alarm import AlarmEvent


class Timer(Protocol):
    """Something that falls due with time."""

    def due(self, now: float) -> Sequence[Action]:
        """What is due at `now` (it counts as done: the tick sends it on at once)."""
        ...

    def next_due(self) -> float | None:
        """From when on `due` may have something to return (None: nothing pending)."""
        ...


class Door(Protocol):
    def run(self, actions: Sequence[Action], now: float | None = None) -> list[Any]: ...


class Tick:
    """Calls each timer in order and sends what it returns through `door` (the Pipeline)."""

    def __init__(self, door: Door, timers: Sequence[Timer]) -> None:
        self.timers = tuple(timers)
        self._door = door

    def __call__(self, now: float) -> list[AlarmEvent]:
        """Run every timer at `now`; returns the journalled events, timer by timer."""
        events: list[AlarmEvent] = []
        for timer in self.timers:
            actions = timer.due(now)
            if actions:
                events += self._door.run(actions, now)
        return events

    def next_due(self) -> float | None:
        """The earliest time any timer has something due (None: none has)."""
        times = [t for t in (timer.next_due() for timer in self.timers) if t is not None]
        return min(times, default=None)
