"""Health: whether the service does its job right now and, if not, why.

`GET /api/health` answers 200 with ``"status": "ok"``, or 503 with ``"status": "degraded"``
and the reasons, so a load balancer and a monitor can act on it without reading counters.

>>> report = {"broker": {"url": "mqtt://b:1883", "connected": False, "reconnects_last_min": 0,
...           "inbox_backlog": 0}, "store": {"queued_batches": 0, "spool": {"rows": 0}},
...           "stale_judged_at_lag_s": 0.0}
>>> judge(report, HealthLimits(), store_queue_max=200)
['broker: not connected to mqtt://b:1883; readings wait at the broker or the gateways']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class HealthLimits:
    """Past these the service is degraded."""

    reconnects_per_min: int = 3  # more broker connections than this in a minute: a storm
    store_queue_share: float = 0.5  # the store's queue this full: the store falls behind
    spool_rows: int = 0  # readings waiting on disk for a store that fails
    inbox_backlog: int = 20_000  # messages received and not yet decoded
    lag_s: float = 60.0  # readings judged this far behind the clock while they flow


def judge(report: dict[str, Any], limits: HealthLimits, store_queue_max: int) -> list[str]:
    """The reasons the service described by `report` (GET /api/health) is degraded."""
    reasons: list[str] = []
    broker = report["broker"]
    if not broker["connected"]:
        reasons.append(
            f"broker: not connected to {broker['url']}; readings wait at the broker or the gateways"
        )
    if broker["reconnects_last_min"] > limits.reconnects_per_min:
        reasons.append(
            f"broker: {broker['reconnects_last_min']} reconnects in the last minute "
            f"(more than {limits.reconnects_per_min}): the connection keeps dropping"
        )
    takeover = broker.get("session_taken_over")
    if takeover:
        reasons.append(f"broker: {takeover}")
    store = report["store"]
    rows = store["spool"]["rows"]
    if rows > limits.spool_rows:
        why = f": {store['last_error']}" if store.get("last_error") else ""
        reasons.append(f"store: {rows} readings spooled on disk, the store fails writes{why}")
    queued = store["queued_batches"]
    if queued >= max(1, limits.store_queue_share * store_queue_max):
        reasons.append(f"store: {queued} of {store_queue_max} batches queued, the store lags")
    backlog = broker["inbox_backlog"]
    if backlog > limits.inbox_backlog:
        reasons.append(f"detector: {backlog} messages received and not yet processed")
    lag = report["stale_judged_at_lag_s"]
    if lag > limits.lag_s:
        reasons.append(f"detector: readings processed {lag:.0f} s behind the clock")
    return reasons
