"""A simulated gateway's MQTT link: its topics, its last will, and how it goes off the air.

Each link is one paho-mqtt 2.x client with the wire format's last will (`offline`, retained,
QoS 1, on `<root>/<enterprise>/_status/<gateway>`); it announces `online` on every connect.
paho's own reconnect is off: the fleet decides when a gateway comes back.
"""

from __future__ import annotations

import logging
import secrets
import socket
import threading
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

log = logging.getLogger(__name__)

KEEPALIVE_S = 30
MAX_INFLIGHT = 1000  # QoS 1 messages awaiting PUBACK before paho queues them locally
RECONNECT_MIN_S = 0.5  # a lost gateway retries after this, doubling up to RECONNECT_MAX_S
RECONNECT_MAX_S = 10.0


class GatewayLink:
    """One gateway: the sensors behind it, its topics and its live MQTT connection."""

    def __init__(
        self, root: str, enterprise: str, name: str, sensors: np.ndarray, tags: list[str]
    ) -> None:
        self.key = f"{enterprise}/{name}"
        self.enterprise = enterprise
        self.name = name
        self.sensors = sensors  # sensor indices behind this gateway
        self.tags = tags
        self.batch_topic = f"{root}/{enterprise}/_batch/{name}"
        self.status_topic = f"{root}/{enterprise}/_status/{name}"
        self.single_topics = [f"{root}/{enterprise}/{t}" for t in tags]
        self.client: mqtt.Client | None = None
        self.connected = threading.Event()  # CONNACK received, not lost since
        self.lost = False  # written by paho's network thread
        self.retry_at = 0.0  # monotonic time of the next reconnect attempt
        self.backoff_s = RECONNECT_MIN_S

    @property
    def up(self) -> bool:
        """Connected and accepting publishes."""
        return self.client is not None and self.connected.is_set()

    @property
    def needs_reconnect(self) -> bool:
        return self.client is None or self.lost

    def open(self, host: str, port: int) -> None:
        """Start connecting (raises OSError if the TCP connection fails); CONNACK comes later."""
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"hwsim-{self.enterprise}-{self.name}-{secrets.token_hex(4)}",
            userdata=self,
            reconnect_on_failure=False,
        )
        client.will_set(self.status_topic, b"offline", qos=1, retain=True)
        client.max_inflight_messages_set(MAX_INFLIGHT)
        client.on_connect = _on_connect
        client.on_disconnect = _on_disconnect
        self.connected.clear()
        self.lost = False
        client.connect(host, port, keepalive=KEEPALIVE_S)
        client.loop_start()
        self.client = client

    def publish(self, topic: str, payload: bytes, qos: int) -> bool:
        """Queue one message; False if paho refused it (connection gone)."""
        if self.client is None:
            return False
        return self.client.publish(topic, payload, qos=qos).rc == MQTTErrorCode.MQTT_ERR_SUCCESS

    def drop(self) -> None:
        """Cut the TCP connection without an MQTT DISCONNECT, so the broker fires the will."""
        client, self.client = self.client, None
        self.connected.clear()
        if client is None:
            return
        sock = client.socket()
        if isinstance(sock, socket.socket):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError as err:  # already gone: the broker has seen it die anyway
                log.debug("gateway %s: shutdown: %s", self.key, err)
        # paho sees EOF and, with its reconnect off, its network thread ends: join it.
        client.loop_stop()

    def say_offline(self) -> mqtt.MQTTMessageInfo | None:
        """Publish the retained `offline` a clean stop owes its subscribers."""
        if not self.up:
            return None
        assert self.client is not None
        return self.client.publish(self.status_topic, b"offline", qos=1, retain=True)

    def disconnect(self) -> None:
        """A clean MQTT DISCONNECT: the broker discards the will."""
        client, self.client = self.client, None
        self.connected.clear()
        if client is not None:
            client.disconnect()
            client.loop_stop()


def _on_connect(
    client: mqtt.Client, gw: GatewayLink, flags: Any, reason: Any, properties: Any
) -> None:
    if reason.is_failure:
        log.warning("gateway %s: broker refused the connection: %s", gw.key, reason)
        gw.lost = True
        return
    sock = client.socket()
    if isinstance(sock, socket.socket):
        try:  # without it the first hop adds tens of ms (Nagle) to every reading's latency
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as err:
            log.debug("gateway %s: TCP_NODELAY not set: %s", gw.key, err)
    client.publish(gw.status_topic, b"online", qos=1, retain=True)
    gw.backoff_s = RECONNECT_MIN_S
    gw.connected.set()


def _on_disconnect(
    client: mqtt.Client, gw: GatewayLink, flags: Any, reason: Any, properties: Any
) -> None:
    gw.connected.clear()
    gw.lost = True
