"""The whole service as a process, fed by the simulator through a real broker.

Each test runs twice: against mosquitto (Debian's, as in production) and against the
embedded broker the demo uses (amqtt, started through `hazardwatch broker`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from hazardwatch.vocabulary.config import load_site
from hazardwatch.vocabulary.model import Site
from simulators import FleetPublisher, Overfill
from tests.brokers import Mosquitto, free_port, publisher
from tests.e2e.harness import (
    EmbeddedBrokerProcess,
    LiveListener,
    ServiceProcess,
    wait_until,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(params=["mosquitto", "embedded"])
def broker_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    workdir = tmp_path / "broker"
    workdir.mkdir()
    if request.param == "mosquitto":
        broker: Mosquitto | EmbeddedBrokerProcess = Mosquitto(free_port(), workdir).start()
    else:
        broker = EmbeddedBrokerProcess(workdir).start()
    try:
        yield broker.url
    finally:
        broker.stop()


@pytest.fixture
def site(site_file: Path) -> Site:
    return load_site(site_file)


@pytest.fixture
def service(site_file: Path, broker_url: str, tmp_path: Path) -> Iterator[ServiceProcess]:
    svc = ServiceProcess(site_file, broker_url, tmp_path / "data").start()
    try:
        yield svc
    finally:
        svc.stop()


def _alarms(svc: ServiceProcess, **filters: Any) -> list[dict[str, Any]]:
    return list(svc.get("/api/alarms", **filters)["alarms"])


def _find(alarms: list[dict[str, Any]], tag: str, condition: str) -> dict[str, Any] | None:
    return next((a for a in alarms if a["tag"] == tag and a["condition"] == condition), None)


def _overfill(site: Site, broker_url: str) -> FleetPublisher:
    publisher = FleetPublisher(
        site, broker_url, rate_hz=2.0, seed=7, scenarios=[Overfill("e1-T1", 1.0, time_to_hh_s=6)]
    )
    publisher.start()
    return publisher


def test_overfill_raises_hh_live_and_ack_changes_state(
    service: ServiceProcess, site: Site, broker_url: str
) -> None:
    live = LiveListener(service.base, service.headers)
    publisher = _overfill(site, broker_url)
    try:
        hh = wait_until(
            lambda: _find(_alarms(service), "e1-T1-LT", "hh"),
            timeout_s=40,
            what="an HH alarm on e1-T1-LT through the REST API",
        )
        assert hh["state"] == "active_unack"
        assert hh["priority"] == "high"
        assert hh["value"] >= 18.0
        pushed = wait_until(
            lambda: [
                e for e in live.events
                if e["type"] == "alarm" and e["alarm"]["id"] == hh["id"]
                and e["to_state"] == "active_unack"
            ],
            timeout_s=10,
            what="the HH alarm on the live channel",
        )  # fmt: skip
        assert pushed[0]["alarm"]["condition"] == "hh"
        # The hazard source turned red and that was pushed too.
        assert any(
            e["type"] == "risk" and e["hazard_source"] == "e1-hs1" and e["colour"] == "red"
            for e in live.events
        )

        resp = service.post(f"/api/alarms/{hh['id']}/ack", {"who": "王工", "comment": "pump off"})
        assert resp.status_code == 200, resp.text
        after = service.get(f"/api/alarms/{hh['id']}")
        assert after["state"] == "active_ack"
        assert after["acked_by"] == "王工"
        again = service.post(f"/api/alarms/{hh['id']}/ack", {"who": "王工"})
        assert again.status_code == 409
        wait_until(
            lambda: any(
                e["type"] == "alarm" and e["alarm"]["id"] == hh["id"] and e["event"] == "ack"
                for e in live.events
            ),
            timeout_s=10,
            what="the acknowledgement on the live channel",
        )
        # The readings that made the alarm are stored and queryable.
        readings = service.get("/api/sensors/e1-T1-LT/readings", limit=1000)["readings"]
        assert max(r["value"] for r in readings) >= 18.0
    finally:
        publisher.close()
        live.close()


def test_unacknowledged_alarm_survives_kill_9(
    site_file: Path, site: Site, broker_url: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    svc = ServiceProcess(site_file, broker_url, data).start()
    publisher = _overfill(site, broker_url)
    try:
        hh = wait_until(
            lambda: _find(_alarms(svc), "e1-T1-LT", "hh"), timeout_s=40, what="the HH alarm"
        )
        svc.kill()
        svc = ServiceProcess(site_file, broker_url, data).start()
        restored = svc.get(f"/api/alarms/{hh['id']}")
        assert restored["state"] == "active_unack"
        assert restored["raised_ts"] == hh["raised_ts"]
        assert svc.post(f"/api/alarms/{hh['id']}/ack", {"who": "operator"}).status_code == 200
        assert svc.get(f"/api/alarms/{hh['id']}")["state"] == "active_ack"
    finally:
        publisher.close()
        svc.stop()


# The durability tests: 600 readings of each of three tags, one a second of data time.
STREAM_TAGS, PER_TAG = ("e1-T1-LT", "e1-T2-LT", "e1-T1-TT"), 600


def _stream(now: float) -> list[tuple[str, bytes]]:
    return [
        (f"hw/e1/{tag}", orjson.dumps({"v": 5.0 + k * 0.001, "ts": now - 900 + k}))
        for k in range(PER_TAG)
        for tag in STREAM_TAGS
    ]


def _publish_then(
    broker_url: str, svc: ServiceProcess, now: float, fault: Callable[[], object]
) -> None:
    """Publish the stream (QoS 1), call `fault()` once the service has stored some of it,
    and wait until the broker has taken every message."""
    with publisher(broker_url, "e2e-stream-pub") as client:
        client.reconnect_delay_set(0.1, 1)
        infos = [client.publish(t, p, qos=1) for t, p in _stream(now)]
        wait_until(
            lambda: svc.get("/api/health")["store"]["written"] > 0,
            timeout_s=30,
            what="the first stored readings",
        )
        fault()
        for info in infos:
            info.wait_for_publish(60)


def _every_reading_stored_once(svc: ServiceProcess, now: float) -> None:
    def stored(tag: str) -> list[float]:
        rows = svc.get(f"/api/sensors/{tag}/readings", limit=5000)["readings"]
        return sorted(r["ts"] for r in rows)

    wait_until(
        lambda: all(len(stored(tag)) >= PER_TAG for tag in STREAM_TAGS),
        timeout_s=60,
        what="every published reading in the store",
    )
    for tag in STREAM_TAGS:
        assert stored(tag) == pytest.approx([now - 900 + k for k in range(PER_TAG)])


def test_kill_9_mid_stream_loses_no_reading_the_broker_accepted(
    site_file: Path, tmp_path: Path
) -> None:
    """Readings are acknowledged to the broker only once stored: SIGKILL the service while
    they flow, start it again on the same session, and every one is stored exactly once.

    Mosquitto only: the embedded fallback (amqtt 0.12) drops a message whose PUBACK has
    not come when the connection dies, so it cannot keep this promise (README).
    """
    (tmp_path / "broker").mkdir()
    broker = Mosquitto(free_port(), tmp_path / "broker").start()
    data, now = tmp_path / "data", time.time()
    try:
        svc = ServiceProcess(site_file, broker.url, data, client_id="hw-e2e-kill").start()
        # Killed while readings are on their way: some stored, some in the service's hands;
        # the broker holds the rest for the service's session.
        _publish_then(broker.url, svc, now, svc.kill)
        svc = ServiceProcess(site_file, broker.url, data, client_id="hw-e2e-kill").start()
        try:
            _every_reading_stored_once(svc, now)
        finally:
            svc.stop()
    finally:
        broker.stop()


def test_a_broker_restart_mid_stream_loses_no_reading(site_file: Path, tmp_path: Path) -> None:
    """mosquitto (persistence on) restarted while readings flow: the publisher resends
    what the broker had not acknowledged, the broker keeps what the service had not, and
    every reading is stored exactly once."""
    (tmp_path / "broker").mkdir()
    broker = Mosquitto(free_port(), tmp_path / "broker").start()
    svc = ServiceProcess(site_file, broker.url, tmp_path / "data", client_id="hw-e2e-brk").start()
    try:
        now = time.time()
        _publish_then(broker.url, svc, now, broker.restart)
        _every_reading_stored_once(svc, now)
        assert svc.get("/api/health")["ingest"]["reconnects"] >= 1
    finally:
        svc.stop()
        broker.stop()


def _bad_messages(n: int, now: float) -> list[tuple[str, bytes]]:
    """`n` messages that must each be rejected once, cycling through the reasons."""
    makers = [
        lambda i: ("hw/e1/e1-T1-LT", b'{"v": 1.0, "ts": '),  # malformed JSON
        lambda i: ("hw/e1/e1-T1-LT", orjson.dumps({"v": "high", "ts": now})),  # wrong type
        lambda i: ("hw/e1/e1-T1-LT", b'{"v": 1e999, "ts": %d}' % now),  # overflows to inf
        lambda i: ("hw/e1/no-such-tag", orjson.dumps({"v": 1.0, "ts": now})),  # unknown tag
        lambda i: ("hw/e1/e1-T1-LT", orjson.dumps({"v": 1.0, "ts": now + 86_400})),  # future
        lambda i: ("hw/e1/e1-T1-LT", orjson.dumps({"v": 1.0, "ts": now - 30 * 86_400})),  # old
        lambda i: ("hw/e1/e1-T1-LT", orjson.dumps({"v": 1.0, "ts": now, "q": "great"})),
        lambda i: ("hw/e1/e1-T1-LT", orjson.dumps({"v": 1.0, "ts": "yesterday"})),
    ]
    return [makers[i % len(makers)](i) for i in range(n)]


def test_malformed_flood_loses_no_good_reading(
    service: ServiceProcess, tmp_path: Path, broker_url: str
) -> None:
    now = time.time()
    good_tags = ["e1-T1-LT", "e1-T2-LT", "e1-T1-TT"]
    n_good_per_tag = 700
    good: list[tuple[str, bytes]] = []
    for k in range(n_good_per_tag):
        for tag in good_tags:
            ts = now - 600 + k * 0.5
            good.append((f"hw/e1/{tag}", orjson.dumps({"v": 5.0 + (k % 7) * 0.1, "ts": ts})))
    bad = _bad_messages(10_000, now)
    # Interleave: every good message sits between bad ones.
    stream: list[tuple[str, bytes]] = []
    step = len(bad) // len(good)
    for i, g in enumerate(good):
        stream.extend(bad[i * step : (i + 1) * step])
        stream.append(g)
    stream.extend(bad[len(good) * step :])
    assert len(stream) == 10_000 + len(good)

    with publisher(broker_url, "e2e-flood") as client:
        infos = [client.publish(t, p, qos=1) for t, p in stream]
        for info in infos:
            info.wait_for_publish(30)

    health = wait_until(
        lambda: (
            h if (h := service.get("/api/health"))["ingest"]["rejected_total"] >= 10_000
            and h["ingest"]["readings_accepted"] >= len(good) else None
        ),
        timeout_s=60,
        what="every message to be ingested",
    )  # fmt: skip
    ingest = health["ingest"]
    assert ingest["rejected_total"] == 10_000
    assert ingest["readings_accepted"] == len(good)
    for reason in ("malformed_json", "wrong_type", "not_finite", "unknown_tag", "ts_future",
                   "ts_too_old", "bad_quality", "bad_timestamp"):  # fmt: skip
        assert ingest["rejected"][reason] == 1250, reason

    lines = (tmp_path / "data" / "deadletter.jsonl").read_bytes().splitlines()
    assert len(lines) == 10_000
    first = orjson.loads(lines[0])
    assert first["reason"] == "malformed_json" and first["topic"] == "hw/e1/e1-T1-LT"

    def stored(tag: str) -> int:
        return len(service.get(f"/api/sensors/{tag}/readings", limit=5000)["readings"])

    wait_until(
        lambda: all(stored(t) == n_good_per_tag for t in good_tags),
        timeout_s=30,
        what="every good reading in the store",
    )


def test_gateway_last_will_raises_comm_loss_at_once(
    service: ServiceProcess, site: Site, broker_url: str
) -> None:
    publisher = FleetPublisher(site, broker_url, rate_hz=2.0, seed=3)
    publisher.start()
    try:
        wait_until(
            lambda: service.get("/api/health")["ingest"]["readings_accepted"] > 20,
            timeout_s=20,
            what="readings to flow",
        )
        killed_at = time.time()
        publisher.kill_gateway("e1/gw2")
        gw2_tags = {"e1-S1-LT", "e1-S1-PT", "e1-S1-AT"}
        comm = wait_until(
            lambda: (
                found
                if len(found := [a for a in _alarms(service, enterprise="e1")
                                 if a["condition"] == "comm_loss" and a["tag"] in gw2_tags])
                == 3 else None
            ),
            timeout_s=10,
            what="communication-loss alarms for the three sensors of gateway gw2",
        )  # fmt: skip
        # All three come from the one status message (one timestamp), well before the
        # 15 s staleness of these sensors could have raised them.
        assert len({a["raised_ts"] for a in comm}) == 1
        assert comm[0]["raised_ts"] - killed_at < 5
        # Gateway gw1 keeps talking: none of its sensors lost communication.
        others = [a for a in _alarms(service) if a["tag"] not in gw2_tags]
        assert not [a for a in others if a["condition"] == "comm_loss"]
    finally:
        publisher.close()


def test_transfer_plans_over_mqtt_raise_and_clear_overrun(
    service: ServiceProcess, site: Site, broker_url: str
) -> None:
    """The DCS path: a plan on `hw/e1/_plan`, readings past it, then the transfer's end;
    the simulated operators' own plans arrive the same way."""
    with publisher(broker_url, "dcs") as client:
        now = time.time()

        def send(topic: str, body: dict[str, Any]) -> None:
            client.publish(topic, orjson.dumps(body), qos=1).wait_for_publish(5)

        send("hw/e1/e1-T2-LT", {"v": 10.0, "ts": now - 30})
        send(
            "hw/e1/_plan", {"tag": "e1-T2-LT", "target": 11.0, "direction": "fill", "ts": now - 29}
        )
        send("hw/e1/_plan", {"tag": "e1-T2-LT", "target": 99, "direction": "fill"})  # refused
        for k in range(12):  # the smoothed level passes 11.0 + 0.2 within these
            send("hw/e1/e1-T2-LT", {"v": 12.0, "ts": now - 28 + k})
        overrun = wait_until(
            lambda: _find(_alarms(service), "e1-T2-LT", "overrun"),
            timeout_s=20,
            what="OVERRUN on e1-T2-LT from a plan sent over MQTT",
        )
        assert overrun["state"] == "active_unack" and overrun["value"] == 12.0
        (plan,) = [t for t in service.get("/api/transfers")["transfers"] if t["tag"] == "e1-T2-LT"]
        assert (plan["target"], plan["by"]) == (11.0, "DCS")
        health = service.get("/api/health")["ingest"]
        assert health["rejected"].get("bad_plan") == 1, health
        send("hw/e1/_plan", {"tag": "e1-T2-LT", "close": True})
        wait_until(
            lambda: (
                _find(_alarms(service, include_closed=True), "e1-T2-LT", "overrun")["state"]
                == "cleared_unack"
            ),
            timeout_s=20,
            what="OVERRUN cleared by the end of the transfer",
        )
