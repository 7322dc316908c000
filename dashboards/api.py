"""REST API v1 and the live event stream, as one router bound to a ServiceView."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from fastapi.sse import EventSourceResponse

from alerting import (
    Acknowledge,
    AlarmNotFound,
    InvalidAcknowledgement,
    InvalidTransition,
    Priority,
    gas_rank,
)
from alerting.lifecycle import UNACKED_STATES
from dashboards.auth import ActingUser
from dashboards.live import Hub
from dashboards.schemas import (
    AckRequest,
    AlarmId,
    ConditionOut,
    ConditionsOut,
    EnterpriseOut,
    ErrorOut,
    HazardSourceOut,
    HazardSourcesOut,
    HealthOut,
    LimitsOut,
    OpenCounts,
    PriorityName,
    RangeOut,
    ReadingOut,
    ReadingsOut,
    ResponsibleOut,
    SensorOut,
    SensorsOut,
    SiteOut,
    invalid,
)
from dashboards.view import ServiceView
from hazardwatch.storage import StoreError
from hazardwatch.vocabulary.model import AlarmState, Condition, Kind, Quality, RiskColour

MAX_ALARMS = 5000
MAX_READINGS = 100_000
_ALL_OPEN = 1_000_000  # counting every open alarm of the park, not a page of them

_EPOCH = "Epoch seconds, inclusive"
_LIVE_DOC = (
    'One JSON object per `data:` line: `{"type": "alarm", ...event}`, '
    '`{"type": "risk", "hazard_source": ..., "colour": ...}` or `{"type": "resync"}` '
    "(events were dropped: fetch the state again); a `: heartbeat` comment when idle."
)

_NOT_ACKABLE = {
    AlarmState.ACTIVE_ACK: "already acknowledged",
    AlarmState.NORMAL: "closed, back to normal",
}

_NOT_FOUND = {404: {"model": ErrorOut, "description": "No alarm with that id"}}


def _number(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _check_known(field: str, value: str | None, known: dict[str, Any]) -> None:
    if value is not None and value not in known:
        names = list(known)
        listed = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
        raise invalid(f"unknown {field} '{value}'; known: {listed}", "query", field, value=value)


async def _event_stream(hub: Hub, heartbeat_s: float) -> AsyncIterator[bytes]:
    """SSE bytes: one `data:` JSON line per event, a comment line when idle; the events
    queued while the last chunk was written go out together, in one chunk."""
    async with hub.subscribe() as sub:
        yield b"retry: 3000\n\n"  # browsers reconnect after 3 s instead of their default
        while True:
            events = await sub.receive_many(heartbeat_s)
            if not events:
                if sub.closed:
                    return
                yield b": heartbeat\n\n"
                continue
            # orjson writes NaN as null: JSON.parse in the page would reject NaN.
            yield b"".join(b"data: " + orjson.dumps(event) + b"\n\n" for event in events)


def api_router(view: ServiceView, *, version: str, heartbeat_s: float = 15.0) -> APIRouter:
    """Every `/api` route, bound to `view`.

    The handlers are `async def` on purpose: they run on the event loop thread, which is
    the thread that drives the AlarmManager and its SQLite journal.
    """
    router = APIRouter(prefix="/api")
    site, table = view.site, view.table
    enterprises = {e.id: e for e in site.enterprises}
    hazard_sources = {h.id: (e, h) for e in site.enterprises for h in e.hazard_sources}
    # The tree does not change while the service runs: resolve it once.
    places = site.iter_sensors()

    @router.get(
        "/health",
        tags=["service"],
        summary="Service health and ingest counters: 200 ok, 503 degraded (with the reasons)",
        response_model=HealthOut,
        responses={503: {"model": HealthOut, "description": "Degraded: `reasons` says why"}},
    )
    async def health() -> JSONResponse:
        report = view.health()
        status = 200 if report.get("status") == "ok" else 503
        return JSONResponse(jsonable_encoder(report), status_code=status)

    @router.get("/site", tags=["service"], summary="Park name and enterprise names")
    async def get_site() -> SiteOut:
        return SiteOut(
            park=site.park,
            version=version,
            enterprises=[
                EnterpriseOut(id=e.id, name=e.name, hazard_sources=[h.id for h in e.hazard_sources])
                for e in site.enterprises
            ],
            sensors=table.n,
        )

    @router.get(
        "/conditions", tags=["service"], summary="Each condition: category, priority, labels"
    )
    async def list_conditions() -> ConditionsOut:
        return ConditionsOut(
            conditions=[
                ConditionOut(
                    condition=c.label,
                    bit=c.bit,
                    category=c.category.value,
                    priority=view.alarms.priority(c).label,
                    zh=c.info.zh,
                    en=c.info.en,
                    gas_rank={k.label: r for k in Kind if (r := gas_rank(c, k))},
                )
                for c in Condition
            ]
        )

    @router.get("/alarms", tags=["alarms"], summary="Alarms, most urgent and newest first")
    async def list_alarms(
        state: AlarmState | None = None,
        enterprise: str | None = None,
        hazard_source: str | None = None,
        priority: PriorityName | None = None,
        include_closed: bool = False,
        limit: Annotated[int, Query(ge=1, le=MAX_ALARMS)] = 500,
    ) -> dict[str, Any]:
        _check_known("enterprise", enterprise, enterprises)
        _check_known("hazard_source", hazard_source, hazard_sources)
        alarms = view.alarms.alarms(
            state=state,
            enterprise=enterprise,
            hazard_source=hazard_source,
            priority=None if priority is None else Priority.parse(priority.value),
            include_closed=include_closed,
            limit=limit,
        )
        return {"alarms": [a.to_dict() for a in alarms]}

    @router.get("/alarms/{alarm_id}", tags=["alarms"], responses=_NOT_FOUND)
    async def get_alarm(alarm_id: AlarmId) -> dict[str, Any]:
        try:
            return view.alarms.get(alarm_id).to_dict()
        except AlarmNotFound:
            raise HTTPException(404, f"no alarm with id {alarm_id}") from None

    @router.post(
        "/alarms/{alarm_id}/ack",
        tags=["alarms"],
        summary="Acknowledge an alarm; answers the journalled event",
        responses={
            **_NOT_FOUND,
            409: {"model": ErrorOut, "description": "Not acknowledgeable in its state"},
        },
    )
    async def acknowledge(
        alarm_id: AlarmId, actor: ActingUser, body: AckRequest | None = None
    ) -> dict[str, Any]:
        comment = None if body is None else body.comment or None
        try:
            # who acknowledges is the logged-in user, never a name the body claims
            (event,) = view.act([Acknowledge(alarm_id, actor.name, comment, actor.where)])
        except AlarmNotFound:
            raise HTTPException(404, f"no alarm with id {alarm_id}") from None
        except InvalidAcknowledgement as exc:  # a blank name: accounts refuse those
            raise invalid(str(exc), "body", "who", value=actor.name) from None
        except InvalidTransition as exc:
            why = _NOT_ACKABLE.get(exc.state, "nothing to acknowledge")
            raise HTTPException(
                409, f"cannot acknowledge alarm {alarm_id}: it is {exc.state.value} ({why})"
            ) from None
        return event.to_dict()

    @router.get("/sensors", tags=["sensors"], summary="Sensors with their latest reading")
    async def list_sensors(
        enterprise: str | None = None, hazard_source: str | None = None
    ) -> SensorsOut:
        _check_known("enterprise", enterprise, enterprises)
        _check_known("hazard_source", hazard_source, hazard_sources)
        value, ts, bits = view.latest()
        out = []
        for i, (e, h, u, s) in enumerate(places):
            if enterprise not in (None, e.id) or hazard_source not in (None, h.id):
                continue
            active = int(bits[i])
            out.append(
                SensorOut(
                    tag=s.tag,
                    kind=s.kind.label,
                    unit=s.unit,
                    enterprise=e.id,
                    hazard_source=h.id,
                    unit_id=u.id,
                    limits=LimitsOut(
                        hh=_number(table.limit_hh[i]),
                        h=_number(table.limit_h[i]),
                        l=_number(table.limit_l[i]),
                        ll=_number(table.limit_ll[i]),
                    ),
                    range=RangeOut(lo=float(table.range_lo[i]), hi=float(table.range_hi[i])),
                    value=_number(value[i]),
                    ts=_number(ts[i]),
                    conditions=[c.label for c in Condition if active & c.bit],
                )
            )
        return SensorsOut(sensors=out)

    @router.get(
        "/sensors/{tag}/readings",
        tags=["sensors"],
        summary="Stored readings of one sensor, oldest first",
        responses={
            404: {"model": ErrorOut, "description": "No sensor with that tag"},
            503: {"model": ErrorOut, "description": "The reading store is down"},
        },
    )
    async def readings(
        tag: str,
        since: Annotated[float | None, Query(description=_EPOCH, allow_inf_nan=False)] = None,
        until: Annotated[float | None, Query(description=_EPOCH, allow_inf_nan=False)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_READINGS)] = 1000,
    ) -> ReadingsOut:
        index = table.tag_index.get(tag)
        if index is None:
            raise HTTPException(404, f"no sensor with tag '{tag}'")
        if since is not None and until is not None and since > until:
            why = f"until ({until}) is before since ({since})"
            raise invalid(why, "query", "until", value=until)
        try:
            # A store may be a server (InfluxDB): never wait for it on the event loop.
            rows = await asyncio.to_thread(view.readings, index, since, until, limit)
        except StoreError as exc:
            raise HTTPException(503, f"the reading store cannot answer now: {exc}") from exc
        return ReadingsOut(
            tag=tag,
            unit=places[index][3].unit,
            readings=[
                ReadingOut(ts=float(t), value=_number(v), quality=Quality(int(q)).name.lower())
                for t, v, q in rows
            ],
        )

    @router.get(
        "/hazard-sources",
        tags=["hazard sources"],
        summary="Hazard sources with risk colour and open alarm counts",
    )
    async def list_hazard_sources() -> HazardSourcesOut:
        colours = view.alarms.risk_colours()
        counts = {hs: OpenCounts() for hs in hazard_sources}
        for alarm in view.alarms.alarms(limit=_ALL_OPEN):
            c = counts.get(alarm.hazard_source)
            if c is None:
                continue
            name = Priority(alarm.priority).label
            setattr(c, name, getattr(c, name) + 1)
            c.total += 1
            c.unacked += alarm.state in UNACKED_STATES
        return HazardSourcesOut(
            hazard_sources=[
                HazardSourceOut(
                    id=h.id,
                    name=h.name,
                    enterprise=e.id,
                    enterprise_name=e.name,
                    grade=h.grade,
                    responsible=ResponsibleOut(
                        main=h.responsible.main,
                        technical=h.responsible.technical,
                        operation=h.responsible.operation,
                    ),
                    colour=str(colours.get(h.id, RiskColour.BLUE)),
                    open=counts[h.id],
                )
                for e, h in hazard_sources.values()
            ]
        )

    @router.get(
        "/live",
        tags=["live"],
        summary="Server-Sent Events: alarm transitions and risk colour changes",
        # Not response_class=EventSourceResponse: FastAPI would then expect a generator
        # endpoint and run its own keep-alive; this stream keeps its own heartbeat.
        responses={200: {"content": {"text/event-stream": {}}, "description": _LIVE_DOC}},
    )
    async def live() -> EventSourceResponse:
        return EventSourceResponse(
            _event_stream(view.hub, heartbeat_s),
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router
