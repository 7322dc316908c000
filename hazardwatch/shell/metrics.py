"""`GET /metrics` for the people who run the service: the Prometheus text format through
prometheus-client, one registry per service (no global state).

Most figures are read from the service at scrape time (a Collector): ingest counters by
rejection reason, readings received and accepted (Prometheus's `rate()` makes readings per
second of them), the reading store's queue, spool and errors, alarms open by state and
priority, notifications by state and failed attempts, each console's flood state and the
chattering flags. The detector step time is a histogram the service observes per batch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

# Seconds per Detector.step call: a batch of a few readings takes tens of microseconds,
# 10,000 rows a few milliseconds (README, Measured).
STEP_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


@dataclass(frozen=True)
class Sources:
    """What the collector reads at each scrape (the wiring passes the service's parts)."""

    ingest: Callable[[], Any]  # IngestCounters
    store: Callable[[], dict[str, Any]]  # queued batches, written, errors, spool (health)
    alarms: Callable[[], list[Any]]  # open alarms (state, priority)
    notifications: Callable[[], dict[str, int]]  # NotificationLog.counts
    floods: Callable[[], list[dict[str, Any]]]  # FloodWatch.state
    chattering: Callable[[], list[dict[str, Any]]]  # NotificationLog.chattering


class ServiceCollector(Collector):
    """The service's figures as metric families, read when scraped."""

    def __init__(self, sources: Sources) -> None:
        self._s = sources

    def collect(self) -> Iterator[Metric]:
        yield from self._ingest()
        yield from self._store()
        yield from self._alarms()

    def _ingest(self) -> Iterator[Metric]:
        c = self._s.ingest()
        yield CounterMetricFamily(
            "hazardwatch_ingest_messages", "MQTT messages received", value=c.messages_received
        )
        readings = CounterMetricFamily(
            "hazardwatch_ingest_readings", "Readings received, by outcome", labels=["outcome"]
        )
        readings.add_metric(["received"], c.readings_received)
        readings.add_metric(["accepted"], c.readings_accepted)
        yield readings
        rejected = CounterMetricFamily(
            "hazardwatch_ingest_rejected", "Readings or messages rejected", labels=["reason"]
        )
        for reason, n in c.rejected_by_reason.items():
            rejected.add_metric([reason.value], n)
        yield rejected

    def _store(self) -> Iterator[Metric]:
        s = self._s.store()
        spool = s["spool"]
        yield GaugeMetricFamily(
            "hazardwatch_store_queued_batches", "Batches waiting for the reading store",
            value=s["queued_batches"],
        )  # fmt: skip
        yield CounterMetricFamily(
            "hazardwatch_store_written_rows", "Readings written to the store", value=s["written"]
        )
        yield CounterMetricFamily(
            "hazardwatch_store_errors", "Failed writes to the reading store", value=s["errors"]
        )
        yield GaugeMetricFamily(
            "hazardwatch_spool_bytes", "Bytes of readings spooled while the store is down",
            value=spool["bytes"],
        )  # fmt: skip
        yield GaugeMetricFamily(
            "hazardwatch_spool_rows", "Readings spooled while the store is down",
            value=spool["rows"],
        )  # fmt: skip

    def _alarms(self) -> Iterator[Metric]:
        by = Counter((a.state.value, a.priority.label) for a in self._s.alarms())
        alarms = GaugeMetricFamily(
            "hazardwatch_alarms_open", "Open alarms by state and priority",
            labels=["state", "priority"],
        )  # fmt: skip
        for (state, priority), n in sorted(by.items()):
            alarms.add_metric([state, priority], n)
        yield alarms
        counts = self._s.notifications()
        notes = GaugeMetricFamily(
            "hazardwatch_notifications", "Notifications in the log by state", labels=["state"]
        )
        for state in ("pending", "sent", "failed"):
            notes.add_metric([state], counts[state])
        yield notes
        yield CounterMetricFamily(
            "hazardwatch_notification_attempts_failed",
            "Failed notification attempts (retried or given up)",
            value=counts["attempts_failed"],
        )
        flood = GaugeMetricFamily(
            "hazardwatch_flood", "1 while a console is in flood", labels=["console"]
        )
        window = GaugeMetricFamily(
            "hazardwatch_flood_window_alarms", "Alarms raised in a console's flood window",
            labels=["console"],
        )  # fmt: skip
        for c in self._s.floods():
            flood.add_metric([c["console"]], 1.0 if c["flood"] else 0.0)
            window.add_metric([c["console"]], c["alarms_in_window"])
        yield flood
        yield window
        yield GaugeMetricFamily(
            "hazardwatch_chattering_alarms",
            "Alarms (sensor and condition) ever flagged chattering",
            value=len(self._s.chattering()),
        )  # fmt: skip


class Metrics:
    """One service's registry: its collector and the detector step time histogram."""

    def __init__(self, sources: Sources) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(ServiceCollector(sources))
        self.step_seconds = Histogram(
            "hazardwatch_detector_step_seconds",
            "Time of one Detector.step call (one batch)",
            buckets=STEP_BUCKETS,
            registry=self.registry,
        )

    def text(self) -> bytes:
        """The exposition, as a scrape gets it."""
        return generate_latest(self.registry)

    def router(self) -> APIRouter:
        """`GET /metrics` (outside /api: open, like a health check, for the scraper)."""
        router = APIRouter(tags=["metrics"])

        @router.get("/metrics", response_class=Response)
        def metrics() -> Response:
            """Prometheus text format (version 0.0.4)."""
            # 0.0.4: the text format every Prometheus server reads (Debian's 2.x included)
            return Response(self.text(), media_type=CONTENT_TYPE_PLAIN_0_0_4)

        return router
