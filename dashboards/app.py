"""The web application: REST API v1, the live stream and the control-room page."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from dashboards.api import api_router
from dashboards.view import ServiceView

STATIC_DIR = Path(__file__).parent / "static"


def _version() -> str:
    try:
        return version("hazardwatch")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def create_app(view: ServiceView, *, heartbeat_s: float = 15.0) -> FastAPI:
    """The HazardWatch web app bound to a running service's view.

    `heartbeat_s` is the idle time after which the live stream sends a comment line, so
    proxies and browsers keep the connection open. Serve it with `dashboards.Server`
    (or call `view.hub.close()` before stopping uvicorn) so open streams end on shutdown.
    """
    app_version = _version()
    app = FastAPI(
        title="HazardWatch",
        version=app_version,
        summary="Monitoring and early warning for major hazard sources in chemical parks",
        docs_url="/docs",
        redoc_url=None,  # ReDoc would be a second page loading scripts from a CDN
    )
    app.include_router(api_router(view, version=app_version, heartbeat_s=heartbeat_s))
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.state.view = view
    return app
