"""REST for the alarm performance report (EEMUA 191 / ISA-18.2, alerting.report).

GET /api/report   ?since=&until= (epoch s; default the last 24 h), ?console= (a console of
                  `notifications.flood.consoles`, or "park" for the enterprises in none;
                  default: the whole park as one console). A viewer may read it.
GET /report       the printable page (dashboards/static/report.html) that shows it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from alerting import AlarmEvent, SensorPlace, report
from dashboards.schemas import invalid
from dashboards.view import ServiceView

DAY_S = 24 * 3600.0
PAGE = 100_000  # transitions read from the journal at a time
PAGE_FILE = Path(__file__).parent / "static" / "report.html"


def _transitions(view: ServiceView) -> list[AlarmEvent]:
    out: list[AlarmEvent] = []
    while True:
        page = view.alarms.journalled(out[-1].seq if out else 0, PAGE)
        out += page
        if len(page) < PAGE:
            return out


def report_router(view: ServiceView) -> APIRouter:
    """The report's JSON route and its printable page."""
    router = APIRouter(tags=["report"])

    @router.get("/api/report")
    def alarm_report(
        since: Annotated[float | None, Query(ge=0, allow_inf_nan=False)] = None,
        until: Annotated[float | None, Query(ge=0, allow_inf_nan=False)] = None,
        console: Annotated[str | None, Query(max_length=200)] = None,
    ) -> dict[str, Any]:
        """The alarm performance report of one console over [since, until): rates against
        EEMUA 191's bands, peak, time in flood, standing and stale alarms, top 10,
        chattering, priority split, sensor online rate and disposal within the deadline."""
        end = view.alarms.clock.now() if until is None else until
        start = end - DAY_S if since is None else since
        if not end > start:
            raise invalid("until must be after since", "query", "until", value=end)
        rules = view.site.notifications
        table = view.table
        enterprises: set[str] | None = None
        if console is not None:
            known = {rules.flood.console_of(e) for e in table.enterprise} | set(
                rules.flood.consoles
            )
            if console not in known:
                raise invalid(f"no console {console!r}", "query", "console", value=console)
            enterprises = {e for e in table.enterprise if rules.flood.console_of(e) == console}
        sensors = [
            SensorPlace(tag, e, h)
            for tag, e, h in zip(table.tags, table.enterprise, table.hazard_source, strict=True)
            if enterprises is None or e in enterprises
        ]
        r = report(
            _transitions(view),
            start,
            end,
            enterprises=enterprises,
            console=console,
            sensors=sensors,
            flood=rules.flood,
            chatter=rules.chatter,
            policy=view.alarms.policy,
        )
        return r.to_dict()

    @router.get("/report", include_in_schema=False)
    async def report_page() -> FileResponse:
        return FileResponse(PAGE_FILE, headers={"Cache-Control": "no-cache"})

    return router
