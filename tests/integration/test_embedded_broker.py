"""The demo's embedded mosquitto is configured for the service: it queues far more than
mosquitto's default 1,000 messages for a session that is away, and it writes them to disk
every few seconds, so even a kill -9 of the broker keeps them."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hazardwatch.shell.broker import AUTOSAVE_S, EmbeddedBroker, mosquitto_path
from tests.brokers import publisher

pytestmark = pytest.mark.integration

N = 3000  # three times mosquitto's default queue for a subscriber


@contextlib.contextmanager
def away_session(url: str, got: set[bytes], done: threading.Event) -> Iterator[paho.Client]:
    """The service's kind of session: persistent, QoS 1, `hw/#`."""
    host, port = url.removeprefix("mqtt://").split(":")
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="hw-away", clean_session=False)
    subscribed = threading.Event()

    def on_message(c: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        got.add(message.payload)
        if len(got) >= N:
            done.set()

    client.on_message = on_message
    client.on_subscribe = lambda *args: subscribed.set()
    client.connect(host, int(port))
    client.loop_start()
    try:
        client.subscribe("hw/#", qos=1)
        assert subscribed.wait(10), "no SUBACK"
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


def test_a_session_away_keeps_every_message_through_a_broker_kill(tmp_path: Path) -> None:
    assert mosquitto_path(), "mosquitto is not installed: make setup"
    workdir = tmp_path / "broker"
    broker = EmbeddedBroker(workdir, kind="mosquitto").start()
    try:
        got: set[bytes] = set()
        done = threading.Event()
        with away_session(broker.url, got, done):
            pass  # the session is registered; now it is away
        with publisher(broker.url, "gateway") as gw:
            infos = [gw.publish("hw/e1/_batch/gw1", b"%d" % i, qos=1) for i in range(N)]
            for info in infos:
                info.wait_for_publish(10)
        sent_at = time.time()
        db = workdir / "mosquitto.db"
        # bounded poll: the autosave writes the queued messages within AUTOSAVE_S
        for _ in range(int(AUTOSAVE_S * 3 / 0.1)):
            if db.exists() and db.stat().st_mtime >= sent_at:
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"mosquitto saved nothing within {AUTOSAVE_S * 3} s")
        assert broker._proc is not None
        broker._proc.kill()  # the broker's own crash: no save at exit
        broker._proc.wait(5)
        broker.stop()
        broker = EmbeddedBroker(workdir, port=broker.port, kind="mosquitto").start()
        with away_session(broker.url, got, done):
            assert done.wait(30), f"{len(got)} of {N} messages came back"
        assert got == {b"%d" % i for i in range(N)}
    finally:
        broker.stop()
