"""Dashboards: the FastAPI app (REST API v1, Server-Sent Events) and the control-room page.

The wiring builds a `ServiceAdapter` (site, table, AlarmManager, Hub and the detector
snapshot), passes it to `create_app`, serves that with `Server` (uvicorn, closing the hub
first on shutdown) and publishes `alarm_message(event)` / `risk_message(...)` on the hub
from its event loop for every alarm event and risk colour change.
"""

from dashboards.app import create_app
from dashboards.live import (
    RESYNC,
    Hub,
    Subscription,
    alarm_message,
    publish_alarm_events,
    risk_message,
)
from dashboards.server import Server
from dashboards.view import Latest, Reading, ServiceAdapter, ServiceView

__all__ = [
    "RESYNC",
    "Hub",
    "Latest",
    "Reading",
    "Server",
    "ServiceAdapter",
    "ServiceView",
    "Subscription",
    "alarm_message",
    "create_app",
    "publish_alarm_events",
    "risk_message",
]
