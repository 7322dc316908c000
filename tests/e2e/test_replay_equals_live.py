"""A back-test tells the truth: readings published through mosquitto into `hazardwatch run`
raise the same alarm transitions, at the same times, as `hazardwatch replay` of a CSV of
those readings.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest

from alerting import Journal
from tests.brokers import Mosquitto
from tests.e2e.harness import E2E_SITE, ServiceProcess, wait_until

pytestmark = pytest.mark.e2e

GATEWAYS = {
    "gw1": ["e1-T1-LT", "e1-T1-TT", "e1-T1-GT", "e1-T2-LT"],
    "gw2": ["e1-S1-LT", "e1-S1-PT", "e1-S1-AT"],
}
SECONDS = 12


def _value(tag: str, k: int) -> float:
    """An overfill (H, then HH after its 1 s on-delay), a pressure rise, a gas leak."""
    if tag == "e1-T1-LT":
        return round(17.6 + 0.1 * k, 3)  # 18.0 at k=4; 0.1 m/s is under the spike rate
    if tag == "e1-S1-PT":
        return round(1.62 + 0.02 * k, 3)  # over H 1.7 from k=5, under its 15 s on-delay
    if tag == "e1-T1-GT":
        return 30.0 if k >= 6 else 2.0  # first level (25 %LEL) at k=6, latched
    return round(5.0 + 0.01 * (k % 3), 3)


def _readings(t0: float) -> list[tuple[float, str, float]]:
    return [
        (t0 + k + 0.25 * (i % 3), tag, _value(tag, k))
        for k in range(SECONDS)
        for i, tag in enumerate(GATEWAYS["gw1"] + GATEWAYS["gw2"])
    ]


def _publish(url: str, t0: float) -> int:
    """One gateway batch per gateway and second, plus one row with an unknown tag."""
    host, port = url.removeprefix("mqtt://").split(":")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="e2e-replay-pub")
    client.connect(host, int(port))
    client.loop_start()
    sent = 0
    try:
        infos = []
        for k in range(SECONDS):
            for gw, tags in GATEWAYS.items():
                rows: list[list[Any]] = [
                    [tag, v, ts] for ts, tag, v in _readings(t0) if tag in tags and ts - t0 < k + 1
                    and ts - t0 >= k
                ]  # fmt: skip
                if k == 3 and gw == "gw1":
                    rows.append(["e1-T9-XX", 1.0, t0 + k])
                sent += len(rows)
                infos.append(client.publish(f"hw/e1/_batch/{gw}", orjson.dumps({"r": rows}), qos=1))
        for info in infos:
            info.wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()
    return sent


def _journal(path: Path) -> list[tuple[float, str, str, str, str, str, float | None]]:
    with Journal(path) as journal:
        events = [e for i in range(1, journal.next_alarm_id()) for e in journal.history(i)]
    return sorted(
        (e.ts, e.alarm.tag, e.alarm.condition.label, e.event.value, e.from_state.value,
         e.to_state.value, None if math.isnan(e.alarm.value) else e.alarm.value)
        for e in events
    )  # fmt: skip


def test_published_readings_raise_what_their_replay_raises(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    site_file = tmp_path / "park.yaml"
    site_file.write_text(E2E_SITE)
    service = ServiceProcess(site_file, mosquitto.url, tmp_path / "data").start()
    try:
        # Data time ending a second or two ahead of the wall clock: nothing goes stale while
        # the test runs (stale after 15 s), and no reading is stamped more than ingest's
        # tolerance ahead of its receipt (it would be judged at receipt time: CLOCK_AHEAD).
        t0 = float(math.floor(time.time()) - SECONDS + 3)
        sent = _publish(mosquitto.url, t0)
        expected = sent - 1
        wait_until(
            lambda: service.get("/api/health")["detector"]["readings"] >= expected,
            timeout_s=30,
            what=f"the detector to take all {expected} readings",
        )
        health = service.get("/api/health")
        assert health["ingest"]["rejected"]["unknown_tag"] == 1
    finally:
        assert service.stop() == 0
    live = _journal(tmp_path / "data" / "alarms.db")

    csv = tmp_path / "readings.csv"
    rows = [*sorted(_readings(t0)), (t0 + 3, "e1-T9-XX", 1.0)]
    csv.write_text("ts,tag,value\n" + "".join(f"{t!r},{tag},{v!r}\n" for t, tag, v in rows))
    out = tmp_path / "alarms.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "hazardwatch", "replay", "--config", str(site_file),
         "--input", str(csv), "--output", str(out), "--comm-loss"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "unknown_tag: 1" in done.stdout
    replayed = sorted(
        (x["ts"], x["tag"], x["condition"], x["event"], x["from_state"], x["to_state"], x["value"])
        for x in map(json.loads, out.read_text().splitlines())
    )
    assert replayed == live
    raised = {(tag, cond) for _, tag, cond, event, *_ in live if event == "activate"}
    assert {
        ("e1-T1-LT", "h"),
        ("e1-T1-LT", "hh"),
        ("e1-T1-GT", "gas1"),
    } <= raised
    hh = next(x for x in live if x[1:3] == ("e1-T1-LT", "hh"))
    assert hh[0] == t0 + 5 and hh[3] == "activate"  # 18.0 at t0+4, on-delay 1 s
