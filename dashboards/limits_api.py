"""REST for limits as audited data: a sensor's settings, their versions, change, roll back.

GET  /api/limits                       the version and every changed sensor's settings
GET  /api/limits/{tag}                 one sensor: as written, as run, its version
GET  /api/limits/{tag}/history         its versions, newest first
POST /api/limits/{tag}                 change it (engineer): {"change": {...}, "reason": "..."}
POST /api/limits/{tag}/rollback        back to a version (engineer): {"version": 3, ...}
GET  /api/limits/{tag}/suggestion      limits suggested from its history (a suggestion only)

A change is validated by the config loader (a 422 carries its messages), journalled with
who, when, from where and why, and taken by the running detector at once; each version is a
row of `GET /api/audit` (`LimitBook.audit`, added by the wiring).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from dashboards.auth import ActingUser
from dashboards.schemas import ErrorOut, InvalidOut
from hazardwatch.storage.limits import LimitBook, LimitError, LimitNotFound

_Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class ChangeIn(BaseModel):
    """Body of `POST /api/limits/{tag}`."""

    model_config = ConfigDict(extra="forbid")

    change: dict[str, Any] = Field(
        description='Settings as the YAML writes them, e.g. {"limits": {"hh": 9.5}}'
    )
    reason: _Reason = Field(description="Why the setting changes (kept in the journal)")


class RollbackIn(BaseModel):
    """Body of `POST /api/limits/{tag}/rollback`."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=0, description="The version to go back to; 0: the config file's")
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No sensor with that tag, or no such version"},
    422: {"model": InvalidOut, "description": "The config loader refuses the change"},
}

Suggest = Callable[[str, float | None, float | None], dict[str, Any]]


def limits_router(
    book: LimitBook, reload: Callable[[], object], suggest: Suggest | None = None
) -> APIRouter:
    """The `/api/limits` routes over `book`; `reload` makes the running detector take a
    change; `suggest(tag, since, until)` proposes limits from the sensor's history."""
    router = APIRouter(prefix="/api/limits", tags=["limits"])

    def refused(exc: LimitError) -> HTTPException:
        if isinstance(exc, LimitNotFound):
            return HTTPException(404, str(exc))
        return HTTPException(422, str(exc))

    @router.get("", summary="The limits version and every sensor changed from the config")
    async def all_limits() -> dict[str, Any]:
        return {"version": book.latest_version(), "changed": book.overrides()}

    @router.get("/{tag}", summary="A sensor's settings and version", responses=_ERRORS)
    async def show(tag: str) -> dict[str, Any]:
        try:
            return book.show(tag)
        except LimitError as exc:
            raise refused(exc) from None

    @router.get("/{tag}/history", summary="A sensor's versions, newest first", responses=_ERRORS)
    async def history(
        tag: str, limit: Annotated[int, Query(ge=1, le=5000)] = 500
    ) -> dict[str, Any]:
        try:
            return {"versions": [v.to_dict() for v in book.history(tag, limit)]}
        except LimitError as exc:
            raise refused(exc) from None

    @router.post("/{tag}", summary="Change a sensor's settings", responses=_ERRORS)
    async def change(tag: str, body: ChangeIn, actor: ActingUser) -> dict[str, Any]:
        try:
            v = book.set(tag, body.change, who=actor.name, reason=body.reason, origin=actor.where)
        except LimitError as exc:
            raise refused(exc) from None
        reload()
        return v.to_dict()

    @router.post("/{tag}/rollback", summary="Back to an earlier version", responses=_ERRORS)
    async def rollback(tag: str, body: RollbackIn, actor: ActingUser) -> dict[str, Any]:
        try:
            v = book.rollback(
                tag, body.version, who=actor.name, reason=body.reason, origin=actor.where
            )
        except LimitError as exc:
            raise refused(exc) from None
        reload()
        return v.to_dict()

    @router.get(
        "/{tag}/suggestion", summary="Limits suggested from the sensor's history",
        responses=_ERRORS,
    )  # fmt: skip
    async def suggestion(
        tag: str,
        since: Annotated[float | None, Query(allow_inf_nan=False)] = None,
        until: Annotated[float | None, Query(allow_inf_nan=False)] = None,
    ) -> dict[str, Any]:
        if suggest is None:
            raise HTTPException(404, "this service suggests no limits")
        try:
            return suggest(tag, since, until)
        except LimitError as exc:
            raise refused(exc) from None

    return router
