"""REST for the notification log: what was sent to whom, every attempt, the failures.

GET /api/notifications    newest first, each with its delivery log; counts by state
                          (?state=pending|sent|failed, ?alarm_id=, ?limit=)
GET /api/flood            each console: in flood or not, since, alarms in the window, and
                          in flood the groups by hazard source with their first-out alarm
GET /api/chattering       alarms flagged chattering (?since_ts=), most episodes first
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query

from hazardwatch.storage.nflog import NotificationLog


class State(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


def notifications_router(
    nflog: NotificationLog, flood_fn: Callable[[], list[dict[str, Any]]] = list
) -> APIRouter:
    """The notification log's read-only routes (a viewer may read them); `flood_fn` is
    the flood watch's state (alerting.flood)."""
    router = APIRouter(prefix="/api", tags=["notifications"])

    @router.get("/notifications")
    def notifications(
        state: State | None = None,
        alarm_id: Annotated[int | None, Query(ge=0, le=2**62)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """Notifications newest first with every attempt (`log`: n, ts, outcome, error),
        and counts: pending, sent, failed (given up) and failed attempts."""
        rows = nflog.listing(limit, None if state is None else state.value, alarm_id)
        return {"counts": nflog.counts(), "notifications": rows}

    @router.get("/flood")
    def flood() -> dict[str, Any]:
        """Each console's flood state; in flood, its alarms grouped by hazard source with
        the first-out alarm of each group."""
        return {"consoles": flood_fn()}

    @router.get("/chattering")
    def chattering(
        since_ts: Annotated[float, Query(ge=0, allow_inf_nan=False)] = 0.0,
    ) -> dict[str, Any]:
        """Alarms flagged chattering (the same alarm raised 3 times in 60 s by default):
        sensor tag, condition, episodes, the last time and alarm id."""
        return {"alarms": nflog.chattering(since_ts)}

    return router
