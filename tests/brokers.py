"""Real brokers for tests: mosquitto as a plain background process on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from tests.processes import stop_process


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def publisher(
    url: str, client_id: str = "test-pub", will: str | None = None
) -> Iterator[paho.Client]:
    """A connected paho 2.x client (200 messages in flight) with its network loop in a
    thread; `will`: a topic whose retained last will is b"offline"."""
    host, port = url.removeprefix("mqtt://").split(":")
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.max_inflight_messages_set(200)
    if will is not None:
        client.will_set(will, b"offline", qos=1, retain=True)
    client.connect(host, int(port))
    client.loop_start()
    try:
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


def wait_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s}s")


@dataclass
class Mosquitto:
    """A mosquitto process; `restart()` keeps the port and the persistence file."""

    port: int
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> Mosquitto:
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            # As root, mosquitto drops to user "mosquitto", which cannot write its
            # persistence file into our folder; stay the user we are.
            + ("user root\n" if os.geteuid() == 0 else "")
            + "set_tcp_nodelay true\n"
            "persistence true\n"
            f"persistence_location {self.workdir}/\n"
            "max_queued_messages 1000000\n"
            "message_size_limit 0\n"
        )
        with (self.workdir / "mosquitto.log").open("ab") as log:
            # The child keeps its own copy of the descriptor.
            self.proc = subprocess.Popen(
                [mosquitto_binary(), "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT
            )
        wait_port(self.port)
        return self

    def stop(self) -> None:
        stop_process(self.proc, 5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if found is None:
        raise RuntimeError(
            "mosquitto is not installed: run `make setup` (apt-get install mosquitto)"
        )
    return found
