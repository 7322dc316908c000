"""REST for history: downsampled series of one sensor, or of several for the trend chart.

GET /api/sensors/{tag}/history?since=&until=&points=   one sensor
GET /api/history?tags=A&tags=B&since=&until=&points=   several, same buckets

At most `points` buckets of min / max / mean / count, computed by the store (from raw
readings or from their minute aggregates, as the range demands); the readings
themselves (count 1 each) when there are no more than `points`. Columns, not rows: a
chart draws them as they come.
"""

from __future__ import annotations

import asyncio
import math
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from dashboards.schemas import ErrorOut, invalid
from dashboards.view import ServiceView
from hazardwatch.storage import History, StoreError

MAX_POINTS = 5000
MAX_TAGS = 32
DEFAULT_SPAN_S = 86400.0
_EPOCH = "Epoch seconds, inclusive"
# module level: the routes' annotations are strings (postponed) that FastAPI resolves here
Since = Annotated[
    float | None,
    Query(description=_EPOCH + "; default: a day before `until`", allow_inf_nan=False),
]
Until = Annotated[float | None, Query(description=_EPOCH + "; default: now", allow_inf_nan=False)]
Points = Annotated[int, Query(ge=1, le=MAX_POINTS, description="At most this many buckets")]


class SeriesOut(BaseModel):
    """One sensor's downsampled series, as columns of equal length."""

    tag: str
    unit: str
    source: str = Field(description='"raw" (readings) or "aggregates" (minute aggregates)')
    bucket_s: float = Field(description="Bucket width in seconds; 0: the readings themselves")
    ts: list[float] = Field(description="Each bucket's start (a reading's own ts when raw)")
    min: list[float | None]
    max: list[float | None]
    mean: list[float | None]
    count: list[int]


class HistoryOut(BaseModel):
    since: float
    until: float
    series: list[SeriesOut]


def _col(xs: object) -> list[float | None]:
    return [x if math.isfinite(x) else None for x in xs.tolist()]  # type: ignore[attr-defined]


def _series(tag: str, unit: str, h: History) -> SeriesOut:
    b = h.buckets
    return SeriesOut(
        tag=tag,
        unit=unit,
        source=h.source,
        bucket_s=h.bucket_s,
        ts=b.ts.tolist(),
        min=_col(b.min),
        max=_col(b.max),
        mean=_col(b.mean),
        count=b.count.tolist(),
    )


def history_router(view: ServiceView) -> APIRouter:
    """The history routes over `view.history` (the service's reading store)."""
    router = APIRouter(prefix="/api", tags=["history"])
    units = {s.tag: s.unit for _, _, _, s in view.site.iter_sensors()}
    errors = {
        404: {"model": ErrorOut, "description": "No sensor with that tag"},
        503: {"model": ErrorOut, "description": "The reading store is down"},
    }

    def span(since: float | None, until: float | None) -> tuple[float, float]:
        hi = view.alarms.clock.now() if until is None else until  # the service's clock
        lo = hi - DEFAULT_SPAN_S if since is None else since
        if lo > hi:
            raise invalid(f"until ({hi}) is before since ({lo})", "query", "until", value=hi)
        return lo, hi

    async def answer(tags: list[str], lo: float, hi: float, points: int) -> HistoryOut:
        index = []
        for tag in tags:
            i = view.table.tag_index.get(tag)
            if i is None:
                raise HTTPException(404, f"no sensor with tag '{tag}'")
            index.append(i)
        try:
            # A store may be a server, and a month is work: never on the event loop.
            found = await asyncio.to_thread(
                lambda: [view.history(i, lo, hi, points) for i in index]
            )
        except StoreError as exc:
            raise HTTPException(503, f"the reading store cannot answer now: {exc}") from exc
        return HistoryOut(
            since=lo,
            until=hi,
            series=[_series(t, units[t], h) for t, h in zip(tags, found, strict=True)],
        )

    @router.get(
        "/sensors/{tag}/history",
        summary="Downsampled history of one sensor (min/max/mean/count per bucket)",
        responses=errors,
    )
    async def sensor_history(
        tag: str,
        since: Since = None,
        until: Until = None,
        points: Points = 1000,
    ) -> HistoryOut:
        lo, hi = span(since, until)
        return await answer([tag], lo, hi, points)

    @router.get(
        "/history",
        summary="Downsampled history of several sensors over one range (the trend chart)",
        responses=errors,
    )
    async def history(
        tags: Annotated[list[str], Query(min_length=1, max_length=MAX_TAGS)],
        since: Since = None,
        until: Until = None,
        points: Points = 1000,
    ) -> HistoryOut:
        lo, hi = span(since, until)
        return await answer(tags, lo, hi, points)

    return router
