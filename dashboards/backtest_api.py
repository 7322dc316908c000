"""REST for back-tests: the stored history replayed with the current and a candidate set of
settings, in the background.

POST /api/backtests          start one (engineer); 202 with its id
GET  /api/backtests/{id}     its status and progress, and once done its result

The candidate maps tags to changes as `POST /api/limits/{tag}` takes them; a change the
config loader refuses is a 422 before anything runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from dashboards.schemas import ErrorOut, InvalidOut
from hazardwatch.vocabulary.model import HazardWatchError

_Id = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class Job(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


class Runner(Protocol):
    """What runs the back-tests (hazardwatch.shell.backtest.Backtests)."""

    def start(
        self,
        since: float,
        until: float,
        changes: Mapping[str, Any],
        *,
        tags: Sequence[str] | None = None,
        unit: str | None = None,
        hazard_source: str | None = None,
    ) -> Job: ...

    def get(self, job_id: str) -> Job | None: ...


class BacktestIn(BaseModel):
    """Body of `POST /api/backtests`: the range, the sensors, the candidate changes."""

    model_config = ConfigDict(extra="forbid")

    since: float = Field(description="Epoch seconds", allow_inf_nan=False)
    until: float = Field(description="Epoch seconds", allow_inf_nan=False)
    candidate: dict[str, dict[str, Any]] = Field(
        description='tag -> change, e.g. {"T1-LT": {"limits": {"hh": 9.5}}}'
    )
    tags: list[_Id] | None = Field(None, max_length=1000, description="These sensors only")
    unit: _Id | None = Field(None, description="Or one unit's sensors")
    hazard_source: _Id | None = Field(None, description="Or one hazard source's sensors")


def backtests_router(runner: Runner) -> APIRouter:
    """The `/api/backtests` routes over `runner`."""
    router = APIRouter(prefix="/api/backtests", tags=["backtests"])

    @router.post(
        "", status_code=202, summary="Back-test candidate settings on the stored history",
        responses={422: {"model": InvalidOut, "description": "The candidate is refused"}},
    )  # fmt: skip
    async def start(body: BacktestIn) -> dict[str, Any]:
        try:
            job = runner.start(
                body.since, body.until, body.candidate, tags=body.tags, unit=body.unit,
                hazard_source=body.hazard_source,
            )  # fmt: skip
        except HazardWatchError as exc:
            raise HTTPException(422, str(exc)) from None
        return job.to_dict()

    @router.get(
        "/{job_id}", summary="A back-test's progress and result",
        responses={404: {"model": ErrorOut, "description": "No such back-test"}},
    )  # fmt: skip
    async def get(job_id: _Id) -> dict[str, Any]:
        job = runner.get(job_id)
        if job is None:
            raise HTTPException(404, f"no back-test {job_id!r} (kept in memory until restart)")
        return job.to_dict()

    return router
