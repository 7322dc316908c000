"""REST for the operator's closed loop and the engineer's mutes (issue 13 sections 2-3).

POST /api/alarms/{id}/shelve | unshelve | reset | dispose | close   (operator)
GET  /api/alarms/unclosed                     alarms not yet closed, age and overdue
GET  /api/mutes                               shelves, maintenance modes, out of service,
                                              and the longest shelve allowed
POST /api/units/{unit}/maintenance            maintenance mode on/off      (engineer)
POST /api/sensors/{tag}/out-of-service        instrument out of service on/off (engineer)

Thin: each route turns its body into an action of alerting.action, named for the logged-in
user and their address (dashboards.auth), and sends it through the alarm pipeline's door
(`ServiceView.act`); the answer is the journalled events it made. The roles are rows of
dashboards.auth.ROUTES.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from alerting import (
    Action,
    AlarmNotFound,
    AlreadyClosed,
    Cause,
    Close,
    DisposalRequired,
    Dispose,
    InvalidAction,
    InvalidTransition,
    Maintenance,
    MuteKind,
    NotMuted,
    OutOfService,
    Reset,
    Shelve,
    UnknownTarget,
    Unshelve,
)
from dashboards.auth import ActingUser
from dashboards.schemas import AlarmId, ErrorOut, invalid
from dashboards.view import ServiceView

_Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
_Needed = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
_Url = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
# constrained, so pydantic checks the text is Unicode (a lone surrogate is refused)
_Id = Annotated[str, StringConstraints(max_length=200)]


class ShelveIn(BaseModel):
    """Body of `POST /api/alarms/{id}/shelve`."""

    model_config = ConfigDict(extra="forbid")

    duration_s: float = Field(
        gt=0, allow_inf_nan=False, description="Seconds; at most the park's maximum (8 h)"
    )
    reason: _Needed = Field(description="Why it is shelved", examples=["chattering, pump test"])


class ReasonIn(BaseModel):
    """Body of unshelve, reset and close: an optional reason or comment."""

    model_config = ConfigDict(extra="forbid")

    reason: _Reason = ""


class DisposeIn(BaseModel):
    """Body of `POST /api/alarms/{id}/dispose`: the disposal record."""

    model_config = ConfigDict(extra="forbid")

    cause: Cause = Field(description="Cause category")
    action: _Needed = Field(description="The action taken", examples=["closed the inlet valve"])
    attachment_url: _Url | None = Field(None, description="A link: a camera snapshot, a report")


class MaintenanceIn(BaseModel):
    """Body of `POST /api/units/{unit}/maintenance`."""

    model_config = ConfigDict(extra="forbid")

    on: bool
    reason: _Reason = ""


class OutOfServiceIn(BaseModel):
    """Body of `POST /api/sensors/{tag}/out-of-service`."""

    model_config = ConfigDict(extra="forbid")

    on: bool
    reason: _Reason = ""
    until_ts: float | None = Field(
        None, allow_inf_nan=False, description="Back in service at (epoch s); none: by hand"
    )


_REFUSED = (InvalidTransition, NotMuted, DisposalRequired, AlreadyClosed)
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such alarm, unit or sensor"},
    409: {"model": ErrorOut, "description": "Refused in the alarm's state (the message says why)"},
}


def alarm_actions_router(view: ServiceView) -> APIRouter:
    """The routes above, bound to `view`. Include it before the `/api/alarms/{id}` routes,
    so `/api/alarms/unclosed` is not taken for an id."""
    router = APIRouter(prefix="/api", responses=_ERRORS)

    def act(actions: list[Action]) -> dict[str, Any]:
        try:
            events = view.act(actions)
        except (AlarmNotFound, UnknownTarget) as exc:
            raise HTTPException(404, str(exc)) from None
        except _REFUSED as exc:
            raise HTTPException(409, str(exc)) from None
        except InvalidAction as exc:
            raise invalid(str(exc), "body") from None
        return {"events": [e.to_dict() for e in events]}

    @router.post("/alarms/{alarm_id}/shelve", tags=["alarms"], summary="Shelve an alarm")
    async def shelve(alarm_id: AlarmId, body: ShelveIn, actor: ActingUser) -> dict[str, Any]:
        return act([Shelve(alarm_id, actor.name, body.duration_s, body.reason, actor.where)])

    @router.post("/alarms/{alarm_id}/unshelve", tags=["alarms"], summary="End a shelve early")
    async def unshelve(
        alarm_id: AlarmId, actor: ActingUser, body: ReasonIn | None = None
    ) -> dict[str, Any]:
        why = body.reason if body and body.reason else None
        return act([Unshelve(alarm_id, actor.name, why, actor.where)])

    @router.post(
        "/alarms/{alarm_id}/reset",
        tags=["alarms"],
        summary="Reset a latched alarm whose condition has returned (409 while still active)",
    )
    async def reset(
        alarm_id: AlarmId, actor: ActingUser, body: ReasonIn | None = None
    ) -> dict[str, Any]:
        why = body.reason if body and body.reason else None
        return act([Reset(alarm_id, actor.name, why, actor.where)])

    @router.post("/alarms/{alarm_id}/dispose", tags=["alarms"], summary="Record the disposal")
    async def dispose(alarm_id: AlarmId, body: DisposeIn, actor: ActingUser) -> dict[str, Any]:
        url = body.attachment_url or None
        return act([Dispose(alarm_id, actor.name, body.cause, body.action, url, actor.where)])

    @router.post(
        "/alarms/{alarm_id}/close",
        tags=["alarms"],
        summary="Close an alarm back to normal (409 without a disposal record)",
    )
    async def close(
        alarm_id: AlarmId, actor: ActingUser, body: ReasonIn | None = None
    ) -> dict[str, Any]:
        why = body.reason if body and body.reason else None
        return act([Close(alarm_id, actor.name, why, actor.where)])

    @router.get("/alarms/unclosed", tags=["alarms"], summary="Alarms not yet closed, oldest first")
    async def unclosed(limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> dict[str, Any]:
        now, policy = view.alarms.clock.now(), view.alarms.policy
        out = []
        for a in view.alarms.unclosed(limit):
            deadline = a.raised_ts + policy.deadline_s(a.priority)
            entry = a.to_dict()
            entry.update(age_s=now - a.raised_ts, deadline_ts=deadline, overdue=now > deadline)
            out.append(entry)
        return {"alarms": out}

    @router.get("/mutes", tags=["alarms"], summary="Shelves, maintenance modes, out of service")
    async def mutes(kind: MuteKind | None = None) -> dict[str, Any]:
        return {
            "mutes": [m.to_dict() for m in view.alarms.mutes.markers(kind)],
            "shelve_max_s": view.alarms.policy.shelve_max_s,  # the longest shelve allowed
        }

    @router.post(
        "/units/{unit}/maintenance",
        tags=["mutes"],
        summary="Maintenance mode: suppresses the unit's level, temperature, pressure alarms",
    )
    async def maintenance(unit: _Id, body: MaintenanceIn, actor: ActingUser) -> dict[str, Any]:
        why = body.reason or None
        return act([Maintenance(unit, body.on, actor.name, why, actor.where)])

    @router.post(
        "/sensors/{tag}/out-of-service", tags=["mutes"], summary="An instrument under repair"
    )
    async def out_of_service(tag: _Id, body: OutOfServiceIn, actor: ActingUser) -> dict[str, Any]:
        why = body.reason or None
        return act([OutOfService(tag, body.on, actor.name, why, body.until_ts, actor.where)])

    return router
