"""The service as its own process, brokers by name, and bounded polling for e2e tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson

from hazardwatch.storage.accounts import Role
from tests.accounts import bearer, make_accounts
from tests.brokers import free_port, wait_port

T = TypeVar("T")

# A small park for end-to-end runs: short on-delays so an overfill alarms within seconds,
# a one-minute slope window on levels so a trend of a few dozen 1 Hz readings counts, and a
# second gateway whose last will the tests fire.
E2E_SITE = """
park: {name: E2E Park}
defaults:
  all: {period_s: 5}
  level: {on_delay_s: 1, off_delay_s: 1, trend: {rate_window_s: 60}}
  temperature: {on_delay_s: 1, off_delay_s: 1}
enterprises:
  - id: e1
    name: Test Chemicals
    gateway: gw1
    hazard_sources:
      - id: e1-hs1
        name: Methanol farm
        grade: 2
        responsible: {main: A, technical: B, operation: C}
        units:
          - id: e1-T1
            substance: methanol
            capacity_m3: 1000
            sensors:
              - {tag: e1-T1-LT, kind: level, unit: m, range: [0, 20],
                 limits: {hh: 18, h: 17, l: 2, ll: 1}}
              - {tag: e1-T1-TT, kind: temperature, unit: degC, range: [-20, 80],
                 limits: {hh: 55, h: 45}}
              - {tag: e1-T1-GT, kind: gas_combustible, unit: "%LEL", range: [0, 100]}
          - id: e1-T2
            substance: methanol
            capacity_m3: 1000
            sensors:
              - {tag: e1-T2-LT, kind: level, unit: m, range: [0, 20],
                 limits: {hh: 18, h: 17, l: 2, ll: 1}}
      - id: e1-hs2
        name: Ammonia spheres
        grade: 1
        responsible: {main: D, technical: E, operation: F}
        units:
          - id: e1-S1
            substance: ammonia
            capacity_m3: 400
            pressurised: true
            gateway: gw2
            sensors:
              - {tag: e1-S1-LT, kind: level, unit: m, range: [0, 12],
                 limits: {hh: 11, h: 10, l: 1, ll: 0.5}}
              - {tag: e1-S1-PT, kind: pressure, unit: MPa, range: [0, 2.5],
                 limits: {hh: 1.9, h: 1.7}}
              - {tag: e1-S1-AT, kind: gas_toxic, substance: NH3, unit: ppm, range: [0, 100]}
"""


@dataclass
class ServiceProcess:
    """`hazardwatch run` as a child process on free loopback ports."""

    config: Path
    broker_url: str
    data_dir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    client_id: str | None = None  # the MQTT session; default: one per port
    user: str = "王工"  # the operator the API calls are made as
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServiceProcess:
        self.headers = credentials(self.data_dir, self.user)
        log = (self.data_dir.parent / f"service-{self.port}.log").open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "hazardwatch", "run",
                "--config", str(self.config),
                "--broker", self.broker_url,
                "--data-dir", str(self.data_dir),
                "--listen", f"127.0.0.1:{self.port}",
                "--client-id", self.client_id or f"hw-e2e-{self.port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        wait_until(lambda: self._healthy(), timeout_s=30, what="the service to answer /api/health")
        return self

    def _healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"the service exited with {self.proc.returncode}; see its log")
        try:
            # 503 is an answer too: degraded (a backlog to catch up, say), but up
            return httpx.get(f"{self.base}/api/health", timeout=1).status_code in (200, 503)
        except httpx.HTTPError:
            return False

    def get(self, path: str, **params: Any) -> Any:
        r = httpx.get(f"{self.base}{path}", params=params, headers=self.headers, timeout=5)
        if not (path == "/api/health" and r.status_code == 503):  # degraded: still counts
            r.raise_for_status()
        return r.json()

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{self.base}{path}", json=body, headers=self.headers, timeout=5)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise


def credentials(data_dir: Path, user: str, role: Role = Role.OPERATOR) -> dict[str, str]:
    """Headers with a bearer token of `user`, made in the service's accounts file (as
    `hazardwatch user add` and `user token` would); the user is kept across restarts."""
    accounts = make_accounts(data_dir / "accounts.db")
    try:
        return bearer(accounts, role, user)
    finally:
        accounts.close()


@dataclass
class EmbeddedBrokerProcess:
    """The demo's embedded broker (amqtt) started through the CLI as its own process."""

    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> EmbeddedBrokerProcess:
        log = (self.workdir / "amqtt.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hazardwatch", "broker", "--kind", "amqtt",
             "--port", str(self.port), "--data-dir", str(self.workdir)],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        log.close()
        wait_port(self.port, timeout_s=20)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def wait_until(
    probe: Callable[[], T], *, timeout_s: float, what: str, interval_s: float = 0.2
) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` after the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


class LiveListener:
    """Reads the SSE channel in a thread and keeps every event, until closed.

    The read timeout is longer than the server's 15 s heartbeat, so the stream is never
    dropped (and events never missed) between events; `close()` closes the connection
    to wake the reader.
    """

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        self.events: list[dict[str, Any]] = []
        self.reconnects = 0
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(5.0, read=30.0), headers=headers)
        self._thread = threading.Thread(target=self._run, args=(base,), daemon=True)
        self._thread.start()
        if not self._connected.wait(10):
            raise AssertionError("the live channel did not connect within 10 s")

    def _run(self, base: str) -> None:
        while not self._stop.is_set():
            try:
                with self._client.stream("GET", f"{base}/api/live") as resp:
                    self._connected.set()
                    for line in resp.iter_lines():
                        if line.startswith("data:"):
                            self.events.append(orjson.loads(line[5:].strip()))
                        if self._stop.is_set():
                            return
            except (httpx.HTTPError, RuntimeError):
                # A dropped stream (or our own close()) ends here; listen again unless closing.
                self.reconnects += 1
                continue

    def close(self) -> None:
        self._stop.set()
        self._client.close()
        self._thread.join(5)
