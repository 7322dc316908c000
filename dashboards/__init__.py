"""Dashboards: the FastAPI app (REST API v1, Server-Sent Events) and the control-room page.

The wiring builds a `ServiceAdapter` (site, table, AlarmManager, Hub, the alarm pipeline
and the detector snapshot), passes it to `create_app` and serves that with `Server`
(uvicorn, closing the hub first on shutdown). `HubNotifier` is the hub as a notifier of
the alarm pipeline: `alarm_message(event)` for every journalled transition, then
`risk_message(...)` for every risk colour change.
"""

from dashboards.app import create_app
from dashboards.live import (
    RESYNC,
    Hub,
    HubNotifier,
    Subscription,
    alarm_message,
    risk_message,
)
from dashboards.server import Server
from dashboards.view import Latest, Reading, ServiceAdapter, ServiceView

__all__ = [
    "RESYNC",
    "Hub",
    "HubNotifier",
    "Latest",
    "Reading",
    "Server",
    "ServiceAdapter",
    "ServiceView",
    "Subscription",
    "alarm_message",
    "create_app",
    "risk_message",
]
