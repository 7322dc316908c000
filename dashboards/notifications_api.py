"""REST for the notification log: what was sent to whom, every attempt, the failures.

GET /api/notifications    newest first, each with its delivery log; counts by state
                          (?state=pending|sent|failed, ?alarm_id=, ?limit=)
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query

from hazardwatch.storage.nflog import NotificationLog


class State(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


def notifications_router(nflog: NotificationLog) -> APIRouter:
    """The notification log's read-only routes (a viewer may read them)."""
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

    return router
