"""REST for transfer plans: the operator's "fill T201 to 13.5 m" that OVERRUN watches.

GET  /api/transfers                   open plans (with ?include_closed=true, all)
POST /api/transfers                   open a plan (replaces the tank's open plan)
POST /api/transfers/{id}/close        the transfer is done or called off
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from dashboards.auth import ActingUser
from dashboards.schemas import ErrorOut, InvalidOut, TransferId
from dashboards.view import ServiceView
from hazardwatch.vocabulary.transfers import DEFAULT_EXPIRY_S, TransferError, TransferNotFound

_Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
_Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
# constrained, so pydantic checks the text is Unicode (a lone surrogate is refused)
_Id = Annotated[str, StringConstraints(max_length=200)]


class Direction(StrEnum):
    FILL = "fill"
    EMPTY = "empty"


class TransferIn(BaseModel):
    """Body of `POST /api/transfers`: name the tank by `unit` or by its level `tag`."""

    model_config = ConfigDict(extra="forbid")

    unit: _Id | None = Field(None, description="Tank id; its first level sensor is watched")
    tag: _Id | None = Field(None, description="Level sensor tag, instead of `unit`")
    target: float = Field(description="Planned final level, in the level sensor's unit",
                          allow_inf_nan=False)  # fmt: skip
    direction: Direction | None = Field(
        None, description="fill or empty; omitted: from the current level and the target"
    )
    tolerance: float | None = Field(
        None, gt=0, allow_inf_nan=False,
        description="How far past the target before OVERRUN; default 1 % of the span",
    )  # fmt: skip
    expires_in_s: float | None = Field(DEFAULT_EXPIRY_S, gt=0, allow_inf_nan=False)
    by: _Name | None = Field(
        None, deprecated=True, description="Ignored: the plan names the logged-in user"
    )
    note: _Text = ""


class CloseIn(BaseModel):
    """Body of `POST /api/transfers/{id}/close`."""

    model_config = ConfigDict(extra="forbid")

    by: _Name | None = Field(
        None, deprecated=True, description="Ignored: the plan names the logged-in user"
    )


_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No transfer with that id"},
    409: {"model": ErrorOut, "description": "The transfer is already closed"},
}


def transfers_router(view: ServiceView) -> APIRouter:
    """The `/api/transfers` routes, bound to `view` (404 everywhere if it takes no plans)."""
    router = APIRouter(prefix="/api/transfers", tags=["transfers"])

    def desk() -> Any:
        if view.transfers is None:
            raise HTTPException(404, "this service takes no transfer plans")
        return view.transfers

    @router.get("", summary="Transfer plans, newest first")
    async def list_transfers(
        include_closed: bool = False, limit: Annotated[int, Query(ge=1, le=5000)] = 500
    ) -> dict[str, Any]:
        found = desk().book.transfers(include_closed, limit)
        return {"transfers": [t.to_dict() for t in found]}

    @router.post(
        "",
        status_code=201,
        summary="Plan a transfer: OVERRUN when the level passes the target",
        responses={422: {"model": InvalidOut, "description": "The site cannot take this plan"}},
    )
    async def open_transfer(body: TransferIn, actor: ActingUser) -> dict[str, Any]:
        d = desk()
        try:
            transfer = d.plan(
                unit=body.unit,
                tag=body.tag,
                target=body.target,
                direction=None if body.direction is None else _SIGN[body.direction],
                tolerance=body.tolerance,
                expires_in_s=body.expires_in_s,
                by=actor.name,
                note=body.note,
            )
        except TransferError as exc:
            raise HTTPException(422, str(exc)) from None
        return transfer.to_dict()

    @router.post("/{transfer_id}/close", summary="The transfer is done or called off",
                 responses=_ERRORS)  # fmt: skip
    async def close_transfer(
        transfer_id: TransferId, actor: ActingUser, body: CloseIn | None = None
    ) -> dict[str, Any]:
        try:
            return desk().close(transfer_id, actor.name).to_dict()
        except TransferNotFound as exc:
            raise HTTPException(404, str(exc)) from None
        except TransferError as exc:
            raise HTTPException(409, str(exc)) from None

    return router


_SIGN = {Direction.FILL: 1, Direction.EMPTY: -1}
