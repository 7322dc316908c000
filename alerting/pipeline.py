"""The alarm pipeline: every action enters through one door and leaves as journalled events.

Modelled on Alertmanager's notification pipeline: a short sequence of stages, each a small
class with one method, `run(ctx, items) -> items`, and the order written once, in
`build_pipeline`:

    actions --lifecycle--> transitions --mute--> marked --journal--> journalled --notify--> out

Detector condition changes, operator actions (alerting.action) and the tick's timer
expiries (alerting.tick) all go through `Pipeline.run`, so an acknowledgement reaches the
same listeners as an alarm, and risk colour changes leave beside the events that caused
them. Journal, then notify: what was announced is always in the journal, and a restart
rebuilds from the journal, so it announces nothing twice.

The mutes of ISA-18.2 (shelved, suppressed by design, out of service) are the stage
between the lifecycle and the journal: a muted transition is journalled like any other,
its alarm marked (`Alarm.muted`), so notifiers that page people can hold it back.

The notifiers that reach people (alerting.notifier, alerting.escalation) only write the
notification log (pending) here; a sender thread sends (alerting.sender), so no network
call ever runs under the pipeline's lock.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from alerting.action import Action
from alerting.alarm import AlarmEvent
from alerting.manager import AlarmManager, Planned
from alerting.mute import MarkerChange
from alerting.priority import ColourChange
from hazardwatch.vocabulary.clock import Clock


@dataclass
class Context:
    """One pass through the pipeline: its time, and what a stage leaves for later stages
    beside the items (the lifecycle: the mute marker changes to journal; the journal: the
    risk colour changes it committed)."""

    now: float
    colours: list[ColourChange] = field(default_factory=list)
    markers: list[MarkerChange] = field(default_factory=list)


class Stage(Protocol):
    """One step of the pipeline: takes the items of the step before, hands on its own."""

    def run(self, ctx: Context, items: list[Any]) -> list[Any]: ...


class Notifier(Protocol):
    """Whoever is told of journalled events: the live hub, the service's sinks, a test."""

    def notify(self, events: list[AlarmEvent], colours: list[ColourChange]) -> None: ...


class LifecycleStage:
    """Actions -> the transitions they make (alerting.lifecycle), nothing written yet.

    An action its alarm's state refuses raises here, so nothing of its pass is journalled.
    """

    def __init__(self, manager: AlarmManager) -> None:
        self._manager = manager

    def run(self, ctx: Context, items: list[Any]) -> list[Any]:
        planned = self._manager.plan(items, ctx.now)
        ctx.markers.extend(planned.markers)
        return planned.events


class MuteStage:
    """Transitions -> the same, each alarm marked with what mutes it (shelved, suppressed,
    out of service: alerting.mute), counting the marker changes of this pass."""

    def __init__(self, manager: AlarmManager) -> None:
        self._manager = manager

    def run(self, ctx: Context, items: list[Any]) -> list[Any]:
        return self._manager.muted(Planned(items, ctx.markers), ctx.now)


class JournalStage:
    """Transitions -> journalled events: one transaction with the colour changes they
    cause (left in `ctx.colours`) and the pass's mute marker changes; only then does the
    manager's state follow."""

    def __init__(self, manager: AlarmManager) -> None:
        self._manager = manager

    def run(self, ctx: Context, items: list[Any]) -> list[Any]:
        committed = self._manager.commit(items, ctx.markers)
        ctx.colours.extend(committed.colours)
        return committed.events


class NotifyStage:
    """Tells every notifier, in order, of the journalled events and colour changes."""

    def __init__(self, notifiers: Sequence[Notifier]) -> None:
        # Kept as given: a list the wiring appends to later is seen here.
        self._notifiers = notifiers

    def run(self, ctx: Context, items: list[Any]) -> list[Any]:
        if items or ctx.colours:
            for notifier in self._notifiers:
                notifier.notify(items, ctx.colours)
        return items


class Pipeline:
    """Stages run in order on each pass; the door every alarm action goes through.

    Synchronous, one pass at a time (a lock): the live service and a replay drive it
    alike, and events reach the notifiers in journal order.

    >>> from hazardwatch.vocabulary.clock import FakeClock
    >>> class Double:
    ...     def run(self, ctx, items):
    ...         return [x * 2 for x in items]
    >>> Pipeline([Double(), Double()], FakeClock()).run([1, 2])
    [4, 8]
    """

    def __init__(self, stages: Sequence[Stage], clock: Clock) -> None:
        self.stages = tuple(stages)
        self._clock = clock
        self._lock = threading.RLock()

    def run(self, actions: Sequence[Action], now: float | None = None) -> list[AlarmEvent]:
        """Pass `actions` through every stage (at `now`, default the clock's time); returns
        the journalled events. Raises what a stage raises (nothing journalled then if it
        was the lifecycle's refusal)."""
        if not actions:
            return []
        with self._lock:
            ctx = Context(self._clock.now() if now is None else now)
            items: list[Any] = list(actions)
            for stage in self.stages:
                items = stage.run(ctx, items)
            return items


def build_pipeline(manager: AlarmManager, notifiers: Sequence[Notifier], clock: Clock) -> Pipeline:
    """The one place the stage order is written: lifecycle, mute, journal, notify."""
    stages = [
        LifecycleStage(manager),
        MuteStage(manager),
        JournalStage(manager),
        NotifyStage(notifiers),
    ]
    return Pipeline(stages, clock)
