"""GET /metrics (hazardwatch.shell.metrics): the Prometheus text format, parsed back with
prometheus-client's own parser; every figure the issue names, with known values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from alerting import Acknowledge
from hazardwatch.shell.service import Service, Settings
from hazardwatch.vocabulary.clock import FakeClock
from hazardwatch.vocabulary.config import parse_site
from hazardwatch.vocabulary.model import Batch, Condition, ConditionChange
from ingest import Reason
from tests.e2e.harness import E2E_SITE
from tests.unit.test_api import TestClient

T0 = 1_763_800_000.0
NOTIFY = """
notifications:
  channels: {room: {webhook: "http://127.0.0.1:9/room"}}
  routes: [{channels: [room]}]
  flood: {consoles: {east: [e1]}}
"""


def scrape(svc: Service) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with TestClient(svc.app, base_url="http://127.0.0.1") as client:
        answer = client.get("/metrics")  # no credentials: a scraper's plain GET
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }


def test_metrics_give_ingest_store_alarms_notifications_flood_and_step_time(
    tmp_path: Path,
) -> None:
    site = parse_site(E2E_SITE + NOTIFY, "site.yaml")
    settings = Settings(data_dir=tmp_path, checkpoint_interval_s=0, judge_silence=False)
    svc = Service(site, settings, clock=FakeClock(T0))
    try:
        svc.counters.messages_received = 4
        svc.counters.readings_received, svc.counters.readings_accepted = 10, 7
        svc.counters.rejected_by_reason[Reason.UNKNOWN_TAG] = 3
        lt = svc.table.tag_index["e1-T1-LT"]
        svc.handle_batch(Batch.of(np.array([lt, lt]), np.array([T0, T0 + 1]), [5.0, 5.1]))
        svc.handle_batch(Batch.of(np.array([lt]), np.array([T0 + 2]), [5.2]))
        pt = svc.table.tag_index["e1-S1-PT"]
        svc.handle_changes([ConditionChange(lt, Condition.HH, True, 19.0, T0 + 3, 3)])
        [e] = svc.handle_changes([ConditionChange(pt, Condition.H, True, 1.8, T0 + 4, 2)])
        svc.pipeline.run([Acknowledge(e.alarm.id, "li")], T0 + 5)
        m = scrape(svc)
    finally:
        svc.close()
    assert m[("hazardwatch_ingest_messages_total", ())] == 4
    assert m[("hazardwatch_ingest_readings_total", (("outcome", "accepted"),))] == 7
    assert m[("hazardwatch_ingest_rejected_total", (("reason", "unknown_tag"),))] == 3
    assert m[("hazardwatch_detector_step_seconds_count", ())] == 2
    assert m[("hazardwatch_alarms_open", (("priority", "high"), ("state", "active_unack")))] == 1
    assert m[("hazardwatch_alarms_open", (("priority", "medium"), ("state", "active_ack")))] == 1
    assert m[("hazardwatch_notifications", (("state", "pending"),))] == 2  # nothing sends here
    assert m[("hazardwatch_notification_attempts_failed_total", ())] == 0
    assert m[("hazardwatch_flood", (("console", "east"),))] == 0
    assert m[("hazardwatch_flood_window_alarms", (("console", "east"),))] == 2
    assert m[("hazardwatch_spool_bytes", ())] == 0
    assert m[("hazardwatch_store_queued_batches", ())] == 0
