"""What the web app needs from the running service: the `ServiceView` seam and one adapter.

Every method is called on the service's event loop thread (the routes are `async def`),
the same thread that drives the AlarmManager, so nothing here needs a lock. A method
that may block for long (a big history query) must hand its work off itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from alerting import Acknowledge, Action, AlarmEvent, AlarmManager, Pipeline, build_pipeline
from dashboards.live import Hub, HubNotifier
from hazardwatch.storage import Buckets, History
from hazardwatch.vocabulary.model import SensorTable, Site
from hazardwatch.vocabulary.transfers import TransferDesk

Latest = tuple[np.ndarray, np.ndarray, np.ndarray]
"""last value (float64, NaN if never), last ts (float64, NaN if never), active condition
bits (uint32): one entry per sensor index."""

Reading = tuple[float, float, int]
"""(ts epoch seconds, value, quality)."""


class ServiceView(Protocol):
    """The narrow read-and-acknowledge surface of the running service."""

    site: Site
    table: SensorTable
    alarms: AlarmManager
    hub: Hub
    transfers: TransferDesk | None  # None: this service takes no transfer plans

    def latest(self) -> Latest:
        """Last value, last ts and active condition bits per sensor index."""
        ...

    def readings(
        self, sensor: int, since: float | None, until: float | None, limit: int
    ) -> list[Reading]:
        """Stored readings of one sensor in [since, until], ascending, at most `limit`."""
        ...

    def history(self, sensor: int, since: float, until: float, points: int) -> History:
        """At most `points` buckets of one sensor over [since, until] (the store's
        `history`); called off the event loop."""
        ...

    def health(self) -> dict[str, Any]:
        """Ingest counters and the like, JSON-ready, with "status" ("ok", or "degraded"
        with "reasons"): the HTTP status follows it (200 or 503)."""
        ...

    def acknowledge(self, alarm_id: int, who: str, comment: str | None) -> AlarmEvent:
        """Acknowledge through the alarm pipeline: journalled, then announced to every
        listener (the hub, the service's sinks) with any risk colour it changes."""
        ...

    def act(self, actions: list[Action]) -> list[AlarmEvent]:
        """Any alarm action (shelve, reset, dispose, close, maintenance, out of service...)
        through the alarm pipeline; returns the journalled events it made."""
        ...


def _no_readings(
    sensor: int, since: float | None, until: float | None, limit: int
) -> list[Reading]:
    return []


def _no_history(sensor: int, since: float, until: float, points: int) -> History:
    empty = np.empty(0)
    return History("raw", 0.0, Buckets(empty, empty, empty, empty, np.empty(0, np.int64)))


@dataclass(eq=False)
class ServiceAdapter:
    """A ServiceView built from the service's parts plus three callables.

    The wiring passes the detector state's snapshot as `latest_fn`, the store's query as
    `readings_fn`, its downsampled history as `history_fn`, its counters as `health_fn`
    and its alarm `pipeline`, the door that acknowledgements go through; the adapter
    adds the hub's counters to the health report.
    Without a pipeline (the dashboards alone, in tests) it builds the standard one over
    `alarms` with the hub as its only notifier.
    """

    site: Site
    table: SensorTable
    alarms: AlarmManager
    hub: Hub
    latest_fn: Callable[[], Latest]
    readings_fn: Callable[[int, float | None, float | None, int], list[Reading]] = _no_readings
    health_fn: Callable[[], dict[str, Any]] | None = None
    transfers: TransferDesk | None = None
    pipeline: Pipeline | None = None
    history_fn: Callable[[int, float, float, int], History] = _no_history

    def __post_init__(self) -> None:
        if self.pipeline is None:
            self.pipeline = build_pipeline(self.alarms, [HubNotifier(self.hub)], self.alarms.clock)

    def latest(self) -> Latest:
        return self.latest_fn()

    def readings(
        self, sensor: int, since: float | None, until: float | None, limit: int
    ) -> list[Reading]:
        return self.readings_fn(sensor, since, until, limit)

    def history(self, sensor: int, since: float, until: float, points: int) -> History:
        return self.history_fn(sensor, since, until, points)

    def health(self) -> dict[str, Any]:
        report: dict[str, Any] = {"status": "ok", "reasons": []}
        if self.health_fn is not None:
            report.update(self.health_fn())
        report["live"] = self.hub.stats()
        return report

    def acknowledge(self, alarm_id: int, who: str, comment: str | None) -> AlarmEvent:
        assert self.pipeline is not None  # set in __post_init__
        (event,) = self.pipeline.run([Acknowledge(alarm_id, who, comment)])
        return event

    def act(self, actions: list[Action]) -> list[AlarmEvent]:
        assert self.pipeline is not None  # set in __post_init__
        return self.pipeline.run(actions)
