"""The web application: REST API v1, the live stream and the control-room page."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.datastructures import MutableHeaders
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dashboards.accounts_api import accounts_router
from dashboards.alarm_actions_api import alarm_actions_router
from dashboards.api import api_router
from dashboards.auth import LoginLimiter, authorize
from dashboards.history_api import history_router
from dashboards.report_api import report_router
from dashboards.transfers_api import transfers_router
from dashboards.view import ServiceView
from hazardwatch.storage.accounts import Accounts

STATIC_DIR = Path(__file__).parent / "static"
# The trend chart's library (uPlot), installed by `npm ci` from package-lock.json, served
# from here: nothing from a CDN, nothing copied into the repository.
UPLOT_DIR = Path(__file__).parent.parent / "node_modules" / "uplot" / "dist"
UPLOT_URL = "/vendor/uplot"
DOCS_ASSETS_URL = "/static-docs"  # Swagger UI's and ReDoc's scripts, from fastapi-offline
# The docs pages may load from this server only: ReDoc's sidebar shows a logo from its
# vendor's CDN and nothing turns it off. Their inline script and styles are their own.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'"
)


def _version() -> str:
    try:
        return version("hazardwatch")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


MAX_ECHO = 200  # characters of a rejected input a 422 repeats; a megabyte body is not echoed


def _finite(x: Any) -> Any:
    """JSON has no NaN or Infinity: name them as text (`"nan"`) instead."""
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


def _text(x: str, limit: int = MAX_ECHO) -> str:
    """`x` cut to `limit` characters, lone surrogates escaped (UTF-8 cannot carry them).

    >>> _text("ab\\ud800"), _text("x" * 300, 5)
    ('ab\\\\ud800', 'xxxxx... (300 characters)')
    """
    if len(x) > limit:
        x = f"{x[:limit]}... ({len(x)} characters)"
    return x.encode("utf-8", "backslashreplace").decode("utf-8")


def _echo(x: Any) -> Any:
    """What a 422 says the input was: as given when short, cut when long.

    A long string is cut to `MAX_ECHO` characters; a long array or object is given as the
    start of its JSON text, so the answer stays small whatever was sent.
    """
    if isinstance(x, str):
        return _text(x)
    if isinstance(x, dict | list):
        text = json.dumps(x, ensure_ascii=False, default=str)
        if len(text) > MAX_ECHO:
            return _text(text)
        return _safe(x)
    return x


def _safe(x: Any) -> Any:
    """Every string in `x` (keys too) with its lone surrogates escaped, and cut."""
    if isinstance(x, str):
        return _text(x)
    if isinstance(x, dict):
        return {_safe(k): _safe(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_safe(v) for v in x]
    return x


def _error(error: dict[str, Any]) -> dict[str, Any]:
    out = {k: _safe(v) for k, v in error.items() if k != "input"}
    if "input" in error:
        out["input"] = _echo(error["input"])
    return out


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, made safe to write whatever was sent: NaN or an infinity (a body of
    `{"target": NaN}`), a lone surrogate, a megabyte of input (echoed cut short)."""
    errors = _finite(jsonable_encoder(exc.errors()))
    return JSONResponse(status_code=422, content={"detail": [_error(e) for e in errors]})


class _DocsPolicy:
    """ASGI middleware: a Content-Security-Policy header on the given pages' answers."""

    def __init__(self, app: ASGIApp, paths: set[str]) -> None:
        self.app, self.paths = app, paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("Content-Security-Policy", DOCS_POLICY)
            await send(message)

        await self.app(scope, receive, send_with_policy)


def create_app(
    view: ServiceView,
    *,
    accounts: Accounts,
    heartbeat_s: float = 15.0,
    allowed_hosts: Sequence[str] | None = None,
    limiter: LoginLimiter | None = None,
    routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """The HazardWatch web app bound to a running service's view.

    Every route is behind `dashboards.auth.authorize` (the route -> role table) over
    `accounts`; `limiter` rate-limits failed logins (default: 5 in 5 minutes).

    `allowed_hosts`: the names a request's Host header may carry (without port); any other
    is a 400, so a page of another site that rebinds its DNS name to this server cannot
    drive the API from an operator's browser. None: any host (tests only; the service
    always passes its list).

    `routers`: more routes the wiring builds (limits, back-tests), mounted after the rest.

    `heartbeat_s` is the idle time after which the live stream sends a comment line, so
    proxies and browsers keep the connection open. Serve it with `dashboards.Server`
    (or call `view.hub.close()` before stopping uvicorn) so open streams end on shutdown.
    """
    app_version = _version()
    # Swagger UI and ReDoc from fastapi-offline's copy of their assets, not from a CDN: a
    # command room is often on an isolated network (see tests/e2e/test_docs_offline.py)
    app = FastAPIOffline(
        title="HazardWatch",
        version=app_version,
        summary="Monitoring and early warning for major hazard sources in chemical parks",
        docs_url="/docs",
        redoc_url="/redoc",
        static_url=DOCS_ASSETS_URL,
        # Swagger UI would send the schema to validator.swagger.io for its badge
        swagger_ui_parameters={"validatorUrl": None},
        # every route, including those added later, passes the role table first
        dependencies=[Depends(authorize)],
    )
    app.state.accounts = accounts
    app.state.limiter = limiter or LoginLimiter()
    app.add_middleware(_DocsPolicy, paths={"/docs", "/redoc"})
    if allowed_hosts is not None:
        # added last, so it runs first: a request for another host gets nothing else
        app.add_middleware(
            TrustedHostMiddleware, allowed_hosts=list(allowed_hosts), www_redirect=False
        )
    app.include_router(alarm_actions_router(view))  # before /api/alarms/{id}: /unclosed
    app.include_router(api_router(view, version=app_version, heartbeat_s=heartbeat_s))
    app.include_router(transfers_router(view))
    app.include_router(history_router(view))
    app.include_router(accounts_router(view))
    app.include_router(report_router(view))
    for router in routers:
        app.include_router(router)
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    if UPLOT_DIR.is_dir():  # without `npm ci` the page still works; its chart says why not
        app.mount(UPLOT_URL, StaticFiles(directory=UPLOT_DIR), name="uplot")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.state.view = view
    return app
