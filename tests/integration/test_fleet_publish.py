"""The fleet publisher against a real mosquitto, observed by a real paho subscriber."""

from __future__ import annotations

import queue
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hazardwatch.vocabulary.model import (
    Kind,
    Limits,
    Responsible,
    Sensor,
    Site,
    Unit,
)
from simulators import (
    FleetPublisher,
    GatewayOutage,
    PublisherError,
    SensorFault,
    generate_site,
    parse_broker_url,
    simulate,
)
from simulators.gateway import MAX_BATCH_ROWS
from tests.brokers import Mosquitto, free_port
from tests.factories import enterprise, hazard_source, sensor, site, unit

pytestmark = pytest.mark.integration

START_TS = 1_763_800_000.0
WAIT_S = 10.0  # bound on every wait for a message


def _sensor(tag: str, kind: Kind, hi: float, limits: Limits) -> Sensor:
    return sensor(tag, kind, unit="", hi=hi, limits=limits, period_s=1.0)


def _tank(uid: str, gateway: str) -> Unit:
    sensors = (
        _sensor(f"{uid}_LT", Kind.LEVEL, 20.0, Limits(hh=18.0, h=16.0, l=2.0, ll=1.0)),
        _sensor(f"{uid}_TT", Kind.TEMPERATURE, 80.0, Limits(h=40.0)),
        _sensor(f"{uid}_GC", Kind.GAS_COMBUSTIBLE, 100.0, Limits(hh=50.0, h=25.0)),
    )
    return unit(uid, *sensors, substance="toluene", capacity_m3=5000.0, gateway=gateway)


def make_site(root: str) -> Site:
    """Four tanks of one enterprise behind two gateways; `root` keeps topics unique per test."""
    units = tuple(_tank(f"T{k + 1}", f"gw{k % 2 + 1}") for k in range(4))
    people = Responsible("Wang", "Li", "Zhang")
    hs = hazard_source("HS1", *units, name="Tank farm 1", responsible=people)
    return site(enterprise("acme", hs, name="Acme"), park="Test park", root_topic=root)


def gateway_tags(site: Site, gateway: str) -> list[str]:
    return [s.tag for _, _, u, s in site.iter_sensors() if u.gateway == gateway]


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool


class Subscriber:
    """A paho subscriber collecting every message on one filter."""

    def __init__(self, url: str, topic_filter: str) -> None:
        host, port = parse_broker_url(url)
        self.inbox: queue.Queue[Message] = queue.Queue()
        self.seen: list[Message] = []
        subscribed: queue.Queue[bool] = queue.Queue()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"sub-{secrets.token_hex(4)}"
        )
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic_filter, qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: subscribed.put(True)
        self.client.on_message = lambda c, u, m: self.inbox.put(
            Message(m.topic, m.payload, m.retain)
        )
        self.client.connect(host, port)
        self.client.loop_start()
        subscribed.get(timeout=WAIT_S)

    def wait_for(self, match: Callable[[Message], bool], what: str) -> Message:
        """The first message (new or already seen) that matches; fails after WAIT_S."""
        for m in self.seen:
            if match(m):
                return m
        deadline = time.monotonic() + WAIT_S
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"no {what} within {WAIT_S} s ({len(self.seen)} messages seen)"
                )
            try:
                m = self.inbox.get(timeout=remaining)
            except queue.Empty:
                continue
            self.seen.append(m)
            if match(m):
                return m

    def wait_count(self, match: Callable[[Message], bool], n: int, what: str) -> list[Message]:
        got: list[Message] = []
        deadline = time.monotonic() + WAIT_S
        while len(got) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"only {len(got)} of {n} {what} within {WAIT_S} s")
            try:
                m = self.inbox.get(timeout=remaining)
            except queue.Empty:
                continue
            self.seen.append(m)
            if match(m):
                got.append(m)
        return got

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def subscribe(mosquitto: Mosquitto) -> Iterator[Callable[[str], Subscriber]]:
    subs: list[Subscriber] = []

    def make(topic_filter: str) -> Subscriber:
        subs.append(Subscriber(mosquitto.url, topic_filter))
        return subs[-1]

    yield make
    for s in subs:
        s.close()


@pytest.fixture
def fleets() -> Iterator[list[FleetPublisher]]:
    """Publishers a test opened; closed at teardown even if the test failed."""
    opened: list[FleetPublisher] = []
    yield opened
    for f in opened:
        f.close()


def is_status(topic: str, text: bytes) -> Callable[[Message], bool]:
    return lambda m: m.topic == topic and m.payload == text


# ------------------------------------------------------------------ batches and status


def test_batches_arrive_per_gateway_with_every_tag_and_a_tick_ts(
    mosquitto: Mosquitto, subscribe: Callable[[str], Subscriber], fleets: list[FleetPublisher]
) -> None:
    site = make_site("hwa")
    sub = subscribe("hwa/#")
    fleet = FleetPublisher(site, mosquitto.url, rate_hz=20.0, seed=1, start_ts=START_TS)
    fleets.append(fleet)
    fleet.start()
    for gw in ("gw1", "gw2"):
        topic = f"hwa/acme/_batch/{gw}"
        batches = sub.wait_count(lambda m, t=topic: m.topic == t, 3, f"batches on {topic}")
        tss = []
        for m in batches:
            body = orjson.loads(m.payload)
            assert set(body) == {"ts", "r"} and not m.retain
            assert [row[0] for row in body["r"]] == gateway_tags(site, gw)
            assert all(len(row) == 2 and isinstance(row[1], float) for row in body["r"])
            tss.append(body["ts"])
        # Simulated time: one tick is speed / rate_hz = 0.05 s after the last.
        assert tss[0] >= START_TS and tss == pytest.approx([tss[0] + 0.05 * k for k in range(3)])
        sub.wait_for(is_status(f"hwa/acme/_status/{gw}", b"online"), f"online of {gw}")
    fleet.close()  # the counters settle once the loop has stopped
    assert fleet.published_messages >= 6
    assert fleet.published_readings == 6 * fleet.published_messages


def test_a_late_subscriber_gets_retained_online_then_offline_after_close(
    mosquitto: Mosquitto, subscribe: Callable[[str], Subscriber]
) -> None:
    fleet = FleetPublisher(make_site("hwb"), mosquitto.url)
    probe = subscribe("hwb/acme/_status/+")
    fleet.connect()
    try:
        # connect() waits for the CONNACKs, not for the online messages sent after them: once
        # a subscriber has seen both, the broker holds them and a later one gets them retained.
        for gw in ("gw1", "gw2"):
            probe.wait_for(lambda m, g=gw: m.topic == f"hwb/acme/_status/{g}", f"status of {gw}")
        late = subscribe("hwb/acme/_status/+")
        for gw in ("gw1", "gw2"):
            m = late.wait_for(lambda m, g=gw: m.topic == f"hwb/acme/_status/{g}", f"status of {gw}")
            assert m.payload == b"online" and m.retain
    finally:
        fleet.close()
    later = subscribe("hwb/acme/_status/+")
    for gw in ("gw1", "gw2"):
        m = later.wait_for(lambda m, g=gw: m.topic == f"hwb/acme/_status/{g}", f"status of {gw}")
        assert m.payload == b"offline" and m.retain


def test_kill_gateway_makes_the_broker_publish_its_last_will(
    mosquitto: Mosquitto, subscribe: Callable[[str], Subscriber], fleets: list[FleetPublisher]
) -> None:
    sub = subscribe("hwc/#")
    fleet = FleetPublisher(make_site("hwc"), mosquitto.url, rate_hz=20.0)
    fleets.append(fleet)
    fleet.start()
    sub.wait_for(lambda m: m.topic == "hwc/acme/_batch/gw1", "a batch of gw1")

    fleet.kill_gateway("acme/gw1")
    # Nobody published `offline` but the broker, from gw1's last will.
    sub.wait_for(is_status("hwc/acme/_status/gw1", b"offline"), "gw1's last will")
    after = len(sub.seen)
    sub.wait_count(lambda m: m.topic == "hwc/acme/_batch/gw2", 3, "batches of gw2 after the kill")
    assert not [m for m in sub.seen[after:] if m.topic == "hwc/acme/_batch/gw1"]
    assert fleet.stats()["kills"] == 1 and fleet.unsent_readings > 0

    fleet.revive_gateway("acme/gw1")
    sub.wait_count(is_status("hwc/acme/_status/gw1", b"online"), 1, "gw1 online again")
    sub.wait_count(lambda m: m.topic == "hwc/acme/_batch/gw1", 2, "batches of gw1 after revival")


def test_single_mode_publishes_each_reading_on_its_tag_topic(
    mosquitto: Mosquitto, subscribe: Callable[[str], Subscriber], fleets: list[FleetPublisher]
) -> None:
    site = make_site("hwd")
    sub = subscribe("hwd/acme/+")
    fleet = FleetPublisher(site, mosquitto.url, rate_hz=20.0, mode="single")
    fleets.append(fleet)
    fleet.start()
    for tag in gateway_tags(site, "gw1") + gateway_tags(site, "gw2"):
        m = sub.wait_for(lambda m, t=tag: m.topic == f"hwd/acme/{t}", f"a reading of {tag}")
        body = orjson.loads(m.payload)
        assert set(body) == {"v", "ts", "q"} and body["q"] == "good"
        assert isinstance(body["v"], float) and isinstance(body["ts"], float)


def test_same_seed_publishes_identical_payloads_and_another_seed_does_not(
    mosquitto: Mosquitto, subscribe: Callable[[str], Subscriber]
) -> None:
    def payloads(root: str, seed: int) -> list[bytes]:
        sub = subscribe(f"{root}/acme/_batch/+")
        with FleetPublisher(
            make_site(root), mosquitto.url, rate_hz=50.0, seed=seed, start_ts=START_TS
        ) as f:
            stats = f.run(duration_s=0.1)  # 5 ticks at 50 Hz
        assert stats["ticks"] == 5
        got = sub.wait_count(lambda m: True, 10, f"batches under {root}")
        return [m.payload for m in sorted(got, key=lambda m: m.topic)]  # stable within a topic

    first, again, other = payloads("hwe1", 3), payloads("hwe2", 3), payloads("hwe3", 4)
    assert first == again
    assert first != other


def test_gateways_reconnect_and_say_online_after_a_broker_restart(
    mosquitto: Mosquitto, subscribe: Callable[[str], Subscriber], fleets: list[FleetPublisher]
) -> None:
    fleet = FleetPublisher(make_site("hwr"), mosquitto.url, rate_hz=20.0)
    fleets.append(fleet)
    fleet.start()
    mosquitto.restart()
    # Batches flow again only if the publisher reconnected its gateways by itself.
    sub = subscribe("hwr/acme/#")
    sub.wait_for(
        lambda m: m.topic == "hwr/acme/_batch/gw1" and not m.retain, "a batch after restart"
    )
    sub.wait_for(is_status("hwr/acme/_status/gw2", b"online"), "gw2 online after restart")
    assert fleet.reconnects >= 2  # both gateways


# ------------------------------------------------------------------ scenarios and the CLI entry


def test_gateway_outage_fires_the_will_then_comes_back_online(
    mosquitto: Mosquitto, subscribe: Callable[[str], Subscriber], fleets: list[FleetPublisher]
) -> None:
    sub = subscribe("hwf/acme/_status/gw2")
    outage = GatewayOutage("acme", "gw2", start_s=0.25, duration_s=0.25)
    fleet = FleetPublisher(make_site("hwf"), mosquitto.url, rate_hz=20.0, scenarios=[outage])
    fleets.append(fleet)
    fleet.start()
    statuses = sub.wait_count(lambda m: True, 3, "online, offline, online of gw2")
    assert [m.payload for m in statuses] == [b"online", b"offline", b"online"]
    (truth,) = fleet.stats()["truth"]
    assert truth["event"] == "gateway_outage"
    assert truth["end_ts"] - truth["onset_ts"] == pytest.approx(0.25)
    assert fleet.kills == 1 and fleet.reconnects == 1


def test_simulate_runs_an_overfill_at_speed_and_returns_its_stats(mosquitto: Mosquitto) -> None:
    site = make_site("hwg")
    # 1.2 s of wall time at 50 Hz is 60 ticks of 3 simulated seconds: three simulated minutes.
    stats = simulate(
        site,
        mosquitto.url,
        rate_hz=50.0,
        speed=150.0,
        duration_s=1.2,
        overfill="T1",
        overfill_at_s=30.0,
    )
    assert stats["ticks"] == 60 and stats["published_readings"] == 60 * 12
    assert stats["sim_elapsed_s"] == pytest.approx(180.0)
    (truth,) = stats["truth"]
    assert truth["onset_ts"] is not None and truth["h_ts"] < truth["hh_ts"]
    assert truth["hh_ts"] - truth["onset_ts"] < 90.0


def test_an_unreachable_broker_is_a_publisher_error() -> None:
    url = f"mqtt://127.0.0.1:{free_port()}"
    fleet = FleetPublisher(make_site("hwh"), url)
    with pytest.raises(PublisherError, match="cannot connect"):
        fleet.connect()
    fleet.close()


# ------------------------------------------------------------------ dropouts, batch size, scale


def test_an_instrument_in_dropout_is_left_out_of_its_gateways_batches(
    mosquitto: Mosquitto, subscribe: Callable[[str], Subscriber]
) -> None:
    site = make_site("hwi")
    sub = subscribe("hwi/acme/_batch/gw1")
    fault = SensorFault("T1_LT", "dropout", start_s=0.0, duration_s=60.0)
    with FleetPublisher(
        site, mosquitto.url, rate_hz=50.0, seed=1, scenarios=[fault], start_ts=START_TS
    ) as fleet:
        stats = fleet.run(duration_s=0.1)  # 5 ticks, all inside the dropout
    batches = sub.wait_count(lambda m: True, 5, "batches of gw1")
    for m in batches:
        tags = [row[0] for row in orjson.loads(m.payload)["r"]]
        assert tags == [t for t in gateway_tags(site, "gw1") if t != "T1_LT"]
    assert stats["published_readings"] == 5 * (12 - 1) and stats["unsent_readings"] == 0


def test_a_big_gateway_splits_its_tick_into_batches_of_at_most_max_rows(
    mosquitto: Mosquitto, subscribe: Callable[[str], Subscriber]
) -> None:
    site = generate_site(1, 800, seed=2, root_topic="hwj")  # 4 gateways of 200 tanks
    per_gateway = Counter(f"{e.id}/{u.gateway}" for e, _, u, _ in site.iter_sensors())
    big = max(per_gateway.values())
    assert big > MAX_BATCH_ROWS
    sub = subscribe("hwj/+/_batch/+")
    with FleetPublisher(site, mosquitto.url, rate_hz=10.0, start_ts=START_TS, qos=0) as fleet:
        stats = fleet.run(duration_s=0.1)  # one tick
    expected = sum(-(-n // MAX_BATCH_ROWS) for n in per_gateway.values())
    got = sub.wait_count(lambda m: True, expected, "batches of one tick")
    rows = [len(orjson.loads(m.payload)["r"]) for m in got]
    assert max(rows) == MAX_BATCH_ROWS and sum(rows) == len(site.iter_sensors())
    assert stats["published_messages"] == expected and stats["publish_errors"] == 0


def test_four_hundred_gateways_connect_through_one_network_thread(
    mosquitto: Mosquitto, subscribe: Callable[[str], Subscriber]
) -> None:
    # paho's thread-per-client select() loop failed here: three descriptors a client, and
    # select() stops working past descriptor 1024.
    site = generate_site(400, 1, seed=3, root_topic="hwk")
    sub = subscribe("hwk/+/_status/+")
    threads_before = threading.active_count()
    with FleetPublisher(site, mosquitto.url, rate_hz=10.0, connect_timeout_s=30.0) as fleet:
        fleet.connect()
        assert threading.active_count() <= threads_before + 1
        online = sub.wait_count(lambda m: m.payload == b"online", 400, "online of every gateway")
    assert len({m.topic for m in online}) == 400


def test_batch_payloads_hold_what_plain_json_would() -> None:
    site = make_site("hwl")
    fleet = FleetPublisher(site, "mqtt://127.0.0.1:1")  # never connected
    rng = np.random.default_rng(5)
    for key in fleet.gateways:
        link = fleet.link(key)
        values = rng.normal(0, 1e3, len(link.tags))
        present = np.flatnonzero(rng.random(len(link.tags)) < 0.7)
        (payload,) = link.batch_payloads(START_TS + 0.5, values[present], present)
        body = orjson.loads(payload)
        assert body == {
            "ts": START_TS + 0.5,
            "r": [[link.tags[i], values[i]] for i in present.tolist()],
        }


def test_the_operators_transfer_plans_go_out_on_the_plan_topic(
    mosquitto: Mosquitto, subscribe: Callable[[str], Subscriber], fleets: list[FleetPublisher]
) -> None:
    site = make_site("hwp")
    sub = subscribe("hwp/acme/_plan")
    # 12 simulated seconds a tick: the operators start their first transfers within minutes.
    fleet = FleetPublisher(
        site, mosquitto.url, rate_hz=50.0, speed=600.0, seed=2, start_ts=START_TS
    )
    fleets.append(fleet)
    fleet.start()
    message = sub.wait_for(lambda m: m.topic == "hwp/acme/_plan", "a transfer plan")
    body = orjson.loads(message.payload)
    assert set(body) == {"tag", "target", "direction", "ts", "by"}
    assert body["direction"] in ("fill", "empty")
    assert body["by"] == "operator" and body["ts"] >= START_TS
    levels = {s.tag: s for _, _, _, s in site.iter_sensors() if s.kind is Kind.LEVEL}
    lt = levels[body["tag"]]
    assert lt.limits.ll < body["target"] < lt.limits.hh
