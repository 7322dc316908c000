"""A simulated gateway's MQTT link: its topics, its last will, and how it goes off the air.

Each link is one paho-mqtt 2.x client with the wire format's last will (`offline`, retained,
QoS 1, on `<root>/<enterprise>/_status/<gateway>`); it announces `online` on every connect.
paho's own reconnect is off: the fleet decides when a gateway comes back.

One `NetworkLoop` thread drives the sockets of every link through epoll. paho's own
`loop_start` costs a thread and three descriptors per client and waits in select(), which
fails past 1024 descriptors: a park of 400 gateways could not connect at all.
"""

from __future__ import annotations

import logging
import secrets
import selectors
import socket
import threading
import time
from typing import Any

import numpy as np
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from hazardwatch.vocabulary.model import TransferPlan

log = logging.getLogger(__name__)

KEEPALIVE_S = 30
MAX_INFLIGHT = 1000  # QoS 1 messages awaiting PUBACK before paho queues them locally
MAX_BATCH_ROWS = 500  # a bigger gateway sends several batches a tick (ingest caps payloads)
RECONNECT_MIN_S = 0.5  # a lost gateway retries after this, doubling up to RECONNECT_MAX_S
RECONNECT_MAX_S = 10.0
MISC_EVERY_S = 1.0  # keepalive bookkeeping (paho's loop_misc) for every client this often
CLOSE_WAIT_S = 2.0  # how long a clean disconnect or a drop waits for the socket to close


class NetworkLoop:
    """One thread that reads and writes the sockets of many paho clients (epoll).

    paho calls the socket callbacks from whichever thread acts (connect, publish, a read);
    they only queue a request and wake the loop, so the selector is touched by one thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[tuple[str, mqtt.Client, int]] = []
        self._clients: dict[int, mqtt.Client] = {}  # fd -> client
        self._writing: set[int] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def attach(self, client: mqtt.Client) -> None:
        """Let this loop drive `client`'s socket (call before `client.connect`); starts the
        thread if it is not running."""
        client.on_socket_open = self._on_open
        client.on_socket_close = self._on_close
        client.on_socket_register_write = self._on_want_write
        if self._thread is None:
            self._selector = selectors.DefaultSelector()
            self._wake_r, self._wake_w = socket.socketpair()
            self._wake_r.setblocking(False)
            self._wake_w.setblocking(False)
            self._selector.register(self._wake_r, selectors.EVENT_READ, None)
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="hw-fleet-net", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the thread and release its selector (close the clients first); `attach`
        starts it again."""
        if self._thread is None:
            return
        self._stop.set()
        self._wake()
        self._thread.join(5.0)
        self._thread = None
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()
        self._clients.clear()
        self._writing.clear()
        self._requests.clear()

    # paho's callbacks: any thread
    def _on_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._request("open", client, sock.fileno())

    def _on_close(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._request("close", client, sock.fileno())

    def _on_want_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._request("write", client, sock.fileno())

    def _request(self, what: str, client: mqtt.Client, fd: int) -> None:
        with self._lock:
            self._requests.append((what, client, fd))
            first = len(self._requests) == 1
        if first:  # one wake-up serves the whole queue: a tick's burst costs one send
            self._wake()

    def _wake(self) -> None:
        if self._thread is None:
            return
        try:
            self._wake_w.send(b"x")
        except OSError:  # full (the loop is due to wake anyway) or closing
            pass

    # the loop thread
    def _run(self) -> None:
        next_misc = time.monotonic() + MISC_EVERY_S
        while not self._stop.is_set():
            for key, events in self._selector.select(timeout=MISC_EVERY_S):
                if key.data is None:
                    self._drain_wake()
                    continue
                client: mqtt.Client = key.data
                if events & selectors.EVENT_READ:
                    client.loop_read()
                if events & selectors.EVENT_WRITE and client.socket() is not None:
                    client.loop_write()
                self._watch_writes(client, key.fd)
            self._serve_requests()
            if time.monotonic() >= next_misc:
                next_misc = time.monotonic() + MISC_EVERY_S
                for client in list(self._clients.values()):
                    client.loop_misc()

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _serve_requests(self) -> None:
        with self._lock:
            requests, self._requests = self._requests, []
        for what, client, fd in requests:
            if what == "open":
                self._clients[fd] = client
                self._selector.register(fd, selectors.EVENT_READ, client)
            elif what == "close":
                if self._clients.get(fd) is client:
                    self._forget(fd)
            elif self._clients.get(fd) is client:
                client.loop_write()
                self._watch_writes(client, fd)

    def _forget(self, fd: int) -> None:
        del self._clients[fd]
        self._writing.discard(fd)
        self._selector.unregister(fd)  # the selector ignores a descriptor already closed

    def _watch_writes(self, client: mqtt.Client, fd: int) -> None:
        """Wait for the socket to be writable only while paho has bytes queued for it."""
        if self._clients.get(fd) is not client:
            return  # closed meanwhile
        want = client.want_write()
        if want != (fd in self._writing):
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if want else 0)
            try:
                self._selector.modify(fd, events, client)
            except OSError:  # paho closed the socket in loop_read (connection lost)
                self._forget(fd)
                return
            if want:
                self._writing.add(fd)
            else:
                self._writing.discard(fd)


class GatewayLink:
    """One gateway: the sensors behind it, its topics and its live MQTT connection."""

    def __init__(
        self,
        root: str,
        enterprise: str,
        name: str,
        sensors: np.ndarray,
        tags: list[str],
        network: NetworkLoop,
    ) -> None:
        self.key = f"{enterprise}/{name}"
        self.network = network
        self.enterprise = enterprise
        self.name = name
        self.sensors = sensors  # sensor indices behind this gateway
        self.tags = tags
        self.batch_topic = f"{root}/{enterprise}/_batch/{name}"
        self.status_topic = f"{root}/{enterprise}/_status/{name}"
        self.plan_topic = f"{root}/{enterprise}/_plan"
        self.single_topics = [f"{root}/{enterprise}/{t}" for t in tags]
        self._tag_array = np.array(tags, dtype=object)
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
        self.network.attach(client)
        client.connect(host, port, keepalive=KEEPALIVE_S)
        self.client = client

    def batch_payloads(
        self, ts: float, values: np.ndarray, present: np.ndarray | None = None
    ) -> list[bytes]:
        """Wire-format batches of one tick: `values` of this gateway's sensors, in order, or
        of those at positions `present` only. At most MAX_BATCH_ROWS rows per payload.

        Rows are (tag, value) tuples, which orjson writes as arrays: the fastest of the
        encodings measured (benchmarks/bench_fleet.py prints its cost per tick).
        """
        tags = self.tags if present is None else self._tag_array[present].tolist()
        rows = list(zip(tags, values.tolist(), strict=True))
        return [
            orjson.dumps({"ts": ts, "r": rows[a : a + MAX_BATCH_ROWS]})
            for a in range(0, len(rows), MAX_BATCH_ROWS)
        ]

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
        # The network loop reads the EOF and closes the socket, with paho's reconnect off.
        wait_closed([client])

    def say_offline(self) -> mqtt.MQTTMessageInfo | None:
        """Publish the retained `offline` a clean stop owes its subscribers."""
        if not self.up:
            return None
        assert self.client is not None
        return self.client.publish(self.status_topic, b"offline", qos=1, retain=True)

    def disconnect(self) -> mqtt.Client | None:
        """Start a clean MQTT DISCONNECT (the broker discards the will); return the client,
        whose socket the network loop closes once it is written (see `wait_closed`)."""
        client, self.client = self.client, None
        self.connected.clear()
        if client is not None:
            client.disconnect()
        return client


def wait_closed(clients: list[mqtt.Client]) -> None:
    """Wait (at most CLOSE_WAIT_S in all) until the network loop closed these clients' sockets."""
    deadline = time.monotonic() + CLOSE_WAIT_S
    for client in clients:
        while client.socket() is not None and time.monotonic() < deadline:
            time.sleep(0.002)


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


def plan_payload(plan: TransferPlan) -> dict[str, Any]:
    """A transfer plan as the DCS sends it on `<root>/<enterprise>/_plan` (ingest.plans)."""
    return {
        "tag": plan.tag,
        "target": plan.target,
        "direction": "fill" if plan.direction > 0 else "empty",
        "ts": round(plan.ts, 3),
        "by": plan.by,
    }
