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

from alerting import AlarmEvent, AlarmManager
from dashboards.live import Hub, publish_alarm_events
from hazardwatch.model import SensorTable, Site
from hazardwatch.transfers import TransferDesk

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

    def health(self) -> dict[str, Any]:
        """Ingest counters and the like, JSON-ready, with "status" ("ok", or "degraded"
        with "reasons"): the HTTP status follows it (200 or 503)."""
        ...

    def acknowledge(self, alarm_id: int, who: str, comment: str | None) -> AlarmEvent:
        """Acknowledge through the manager and publish the event on the hub."""
        ...


def _no_readings(
    sensor: int, since: float | None, until: float | None, limit: int
) -> list[Reading]:
    return []


@dataclass(eq=False)
class ServiceAdapter:
    """A ServiceView built from the service's parts plus three callables.

    The wiring passes the detector state's snapshot as `latest_fn`, the store's query as
    `readings_fn` and its counters as `health_fn`; the adapter adds the hub's counters to
    the health report and publishes acknowledgements (and any risk colour they change).
    """

    site: Site
    table: SensorTable
    alarms: AlarmManager
    hub: Hub
    latest_fn: Callable[[], Latest]
    readings_fn: Callable[[int, float | None, float | None, int], list[Reading]] = _no_readings
    health_fn: Callable[[], dict[str, Any]] | None = None
    transfers: TransferDesk | None = None

    def latest(self) -> Latest:
        return self.latest_fn()

    def readings(
        self, sensor: int, since: float | None, until: float | None, limit: int
    ) -> list[Reading]:
        return self.readings_fn(sensor, since, until, limit)

    def health(self) -> dict[str, Any]:
        report: dict[str, Any] = {"status": "ok", "reasons": []}
        if self.health_fn is not None:
            report.update(self.health_fn())
        report["live"] = self.hub.stats()
        return report

    def acknowledge(self, alarm_id: int, who: str, comment: str | None) -> AlarmEvent:
        event = self.alarms.acknowledge(alarm_id, who, comment)
        # Acking a cleared alarm closes it, which can lower its hazard source's colour.
        publish_alarm_events(self.hub, self.alarms, [event])
        return event
