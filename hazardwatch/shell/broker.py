"""An MQTT broker the demo can start with nothing installed.

Mosquitto as a child process where it is installed (it keeps QoS 1 messages for a
persistent session across a service restart); otherwise amqtt, a pure-Python broker,
running in a thread of its own so it never competes with the service's event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Literal

from hazardwatch.vocabulary.model import HazardWatchError

BrokerKind = Literal["auto", "mosquitto", "amqtt"]
# Unacknowledged QoS 1 messages the embedded mosquitto sends one client (its default is 20):
# the service holds each until stored, and a window of 20 halves a burst's throughput.
MAX_INFLIGHT = 1000
# Messages mosquitto keeps for a subscriber that is away or behind, beyond the in-flight
# ones (its default is 1,000, and past it mosquitto drops QoS 1 messages without a word):
# ten minutes of a 1,000-message/s park, so a restart or a burst loses nothing.
MAX_QUEUED = 600_000
# Seconds between writes of mosquitto's persistence file (its default is 30 minutes): a
# crash of the broker itself loses at most this much of what it held.
AUTOSAVE_S = 10


class BrokerError(HazardWatchError):
    """The embedded broker could not start."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_listening(host: str, port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise BrokerError(f"the broker did not listen on {host}:{port} within {timeout_s:.0f} s")


def mosquitto_path() -> str | None:
    found = shutil.which("mosquitto")
    if found is None and Path("/usr/sbin/mosquitto").exists():
        found = "/usr/sbin/mosquitto"
    return found


def mosquitto_settings(persistence_dir: Path) -> str:
    """The mosquitto.conf lines sized for the service (README: "What the broker needs").

    >>> print(mosquitto_settings(Path("/var/lib/mosquitto")), end="")
    persistence true
    persistence_location /var/lib/mosquitto/
    autosave_interval 10
    autosave_on_changes false
    max_queued_messages 600000
    max_queued_bytes 0
    max_inflight_messages 1000
    """
    return (
        "persistence true\n"
        f"persistence_location {persistence_dir}/\n"
        f"autosave_interval {AUTOSAVE_S}\n"
        "autosave_on_changes false\n"  # the interval is in seconds, not in changes
        f"max_queued_messages {MAX_QUEUED}\n"
        "max_queued_bytes 0\n"  # no limit by size either
        f"max_inflight_messages {MAX_INFLIGHT}\n"
    )


class EmbeddedBroker:
    """A loopback broker for the demo and tests: `with EmbeddedBroker(...) as b: b.url`."""

    def __init__(
        self,
        workdir: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        kind: BrokerKind = "auto",
    ) -> None:
        self.workdir = Path(workdir)
        self.host = host
        self.port = port or free_port(host)
        if kind == "auto":
            kind = "mosquitto" if mosquitto_path() else "amqtt"
        self.kind: Literal["mosquitto", "amqtt"] = kind
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self) -> EmbeddedBroker:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.kind == "mosquitto":
            self._start_mosquitto()
            wait_listening(self.host, self.port, timeout_s=15)
        else:
            # amqtt is listening once start() returned; a probe connection would only make
            # it log a failed handshake.
            self._start_amqtt()
        return self

    def _start_mosquitto(self) -> None:
        binary = mosquitto_path()
        if binary is None:
            raise BrokerError(
                "mosquitto is not installed; use kind='amqtt' or apt-get install mosquitto"
            )
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} {self.host}\n"
            "allow_anonymous true\n"
            # As root, mosquitto drops to user "mosquitto", which cannot write its
            # persistence file into our folder; stay the user we are.
            + ("user root\n" if os.geteuid() == 0 else "")
            # Without it every hop waits for Nagle: 30-40 ms (components.md).
            + "set_tcp_nodelay true\n"
            + mosquitto_settings(self.workdir)
        )
        log = (self.workdir / "mosquitto.log").open("ab")
        self._proc = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=log)
        log.close()

    def _start_amqtt(self) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._amqtt_thread, args=(ready, failure), name="amqtt-broker", daemon=True
        )
        self._thread.start()
        if not ready.wait(15):
            raise BrokerError("amqtt did not start within 15 s")
        if failure:
            raise BrokerError(f"amqtt failed to start: {failure[0]}") from failure[0]

    def _amqtt_thread(self, ready: threading.Event, failure: list[BaseException]) -> None:
        # amqtt logs every packet at INFO; the demo's console is for the operator.
        logging.getLogger("amqtt").setLevel(logging.ERROR)
        logging.getLogger("transitions").setLevel(logging.WARNING)

        async def main() -> None:
            from amqtt.broker import Broker

            config = {
                "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
                "plugins": {
                    "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
                },
            }
            broker = Broker(config)
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            try:
                await broker.start()
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            await self._stop.wait()
            await broker.shutdown()

        asyncio.run(main())

    def stop(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(5)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait(5)
            self._proc = None
        if self._thread is not None:
            if self._loop is not None and self._stop is not None:
                self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
