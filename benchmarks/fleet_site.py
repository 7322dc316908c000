"""A synthetic park of any size and the process that puts it on the air, for benchmarks.

The site is built straight from the model dataclasses (no YAML). Every sensor is a tank
level transmitter, range 0-100, limits h 80 / hh 90 / l 10 / ll 5, deadband 1, no on/off
delay, period 5 s, stale after 3 periods (by default), not latched; each enterprise has one gateway
carrying all its sensors.

The publisher is a separate process (paho-mqtt, one client, TCP_NODELAY, QoS 1) sending
gateway batches of 100 readings whose default `ts` is the publish wall time: a full-speed
burst, or the park paced at 1 Hz with one injected HH crossing a second.

>>> site = build_site(1_000, enterprises=4)
>>> len(site.iter_sensors()), len(gateways(site)), len(gateways(site)[0].tags)
(1000, 4, 250)
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import resource
import socket
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from hazardwatch.vocabulary.model import (
    Enterprise,
    HazardSource,
    Kind,
    Limits,
    Responsible,
    Sensor,
    Site,
    Trend,
    Unit,
)

__all__ = [
    "GATEWAY",
    "HH_VALUE",
    "LIMITS",
    "ROWS",
    "TREND",
    "Gateway",
    "PublisherProcess",
    "build_site",
    "connect",
    "gateways",
]

LIMITS = Limits(hh=90.0, h=80.0, l=10.0, ll=5.0)
# The config layer's built-in level trend settings (rate 2 % of span/min, drift off,
# resolution 0.1 %), but with the spike check off: the benchmark's crossing is a one-second
# jump to 95 that must count as process, not as an instrument fault.
TREND = Trend(
    rate_limit_per_min=2.0,
    horizon_s=1800.0,
    drift_h_sigma=None,
    resolution=0.1,
    spike_rate_per_s=None,
)
GATEWAY = "gw1"
ROWS = 100  # readings per gateway batch
HH_VALUE = 95.0  # an injected crossing
POOL_CYCLES = 8  # distinct value sets a burst cycles through
STEP = 0.1  # each level alternates by +-STEP around its tank's set level, % of span


@dataclass(frozen=True, slots=True)
class Gateway:
    """One gateway as a publisher sees it: its enterprise, name and tags in sensor order."""

    enterprise: str
    name: str
    tags: tuple[str, ...]


def _level(tag: str, stale_periods: float) -> Sensor:
    return Sensor(
        tag=tag,
        kind=Kind.LEVEL,
        unit="%",
        range_lo=0.0,
        range_hi=100.0,
        limits=LIMITS,
        deadband=1.0,
        on_delay_s=0.0,
        off_delay_s=0.0,
        period_s=5.0,
        stale_periods=stale_periods,
        latch=False,
        trend=TREND,
    )


def _split(total: int, parts: int) -> list[int]:
    """`total` spread over `parts` as evenly as possible, larger shares first."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def build_site(
    n_sensors: int,
    *,
    enterprises: int = 20,
    sources_per_enterprise: int = 10,
    stale_periods: float = 3.0,
) -> Site:
    """A park of `n_sensors` level sensors, one tank each, spread over the enterprises."""
    if n_sensors < enterprises:
        raise ValueError(f"need at least one sensor per enterprise ({enterprises})")
    people = Responsible("main", "technical", "operation")
    ents = []
    for e, n_ent in enumerate(_split(n_sensors, enterprises)):
        eid = f"E{e:02d}"
        sources = []
        tank = 0
        for h, n_hs in enumerate(_split(n_ent, sources_per_enterprise)):
            units = []
            for _ in range(n_hs):
                tag = f"{eid}-T{tank:05d}-LT"
                unit_id = f"{eid}-T{tank:05d}"
                sensors = (_level(tag, stale_periods),)
                units.append(Unit(unit_id, "tank", "crude", 5_000.0, False, GATEWAY, sensors))
                tank += 1
            if units:
                sources.append(
                    HazardSource(f"{eid}-HS{h:02d}", f"farm {h}", 2, people, tuple(units))
                )
        ents.append(Enterprise(eid, f"Enterprise {e}", tuple(sources)))
    return Site(park="bench park", root_topic="hw", enterprises=tuple(ents))


def gateways(site: Site) -> list[Gateway]:
    """The site's gateways with their tags, in sensor-index order."""
    groups: dict[tuple[str, str], list[str]] = {}
    for e, _, u, s in site.iter_sensors():
        groups.setdefault((e.id, u.gateway), []).append(s.tag)
    return [Gateway(ent, gw, tuple(tags)) for (ent, gw), tags in groups.items()]


# ------------------------------------------------------------------ on the air


def connect(
    host: str, port: int, client_id: str, *, clean: bool = True, inflight: int = 20, **on: Any
) -> mqtt.Client:
    """A connected paho 2.x client with TCP_NODELAY, its loop running (bounded wait).

    `on` sets callbacks (`message=...`) before connecting, so nothing arrives unheard.
    """
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean)
    client.max_inflight_messages_set(inflight)
    for name, callback in on.items():
        setattr(client, f"on_{name}", callback)
    up = threading.Event()
    client.on_connect = lambda *_: up.set()
    client.connect(host, port, keepalive=30)
    client.loop_start()
    if not up.wait(10):
        client.loop_stop()
        raise RuntimeError(f"{client_id}: no CONNACK from {host}:{port} within 10 s")
    sock = client.socket()
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client


class _Publisher:
    """One paho client publishing the whole park as gateway batches, counting PUBACKs."""

    def __init__(
        self, host: str, port: int, root: str, gws: list[Gateway], noise_sd: float
    ) -> None:
        self.noise_sd = noise_sd
        self.sign = 1.0
        self.chunks: list[tuple[str, tuple[str, ...], int]] = []  # (topic, tags, first index)
        first = 0
        for gw in gws:
            topic = f"{root}/{gw.enterprise}/_batch/{gw.name}"
            for i in range(0, len(gw.tags), ROWS):
                self.chunks.append((topic, gw.tags[i : i + ROWS], first + i))
            first += len(gw.tags)
        self.n = first
        self.rng = np.random.default_rng(7)
        self.level = self.rng.uniform(42, 58, self.n)
        self.acked = 0
        self.all_acked = threading.Event()
        self.target = 0
        self.client = connect(
            host, port, f"bench-pub-{os.getpid()}", inflight=1000, publish=self._on_publish
        )

    def _on_publish(self, *_: Any) -> None:
        self.acked += 1
        if self.acked == self.target:
            self.all_acked.set()

    def _wander(self) -> np.ndarray:
        """The next reading of every tank: its set level +-STEP, plus noise if asked for.

        Quiet on purpose: a trend check fitted to a few samples of random noise finds
        "significant" slopes (RATE, PREDICT_*), and a burst squeezes minutes of readings
        into seconds, which makes any movement steep. An alternation has no trend at all.
        """
        self.sign = -self.sign
        v = self.level + self.sign * STEP
        if self.noise_sd:
            v = v + self.rng.normal(0, self.noise_sd, self.n)
        return np.round(v, 2)

    def _body(self, chunk: int, values: list[float]) -> bytes:
        _, tags, first = self.chunks[chunk]
        return orjson.dumps(list(zip(tags, values[first : first + len(tags)], strict=True)))

    def _send(self, topic: str, body: bytes) -> float:
        ts = time.time()  # the batch's default ts: its publish wall time
        self.client.publish(topic, b'{"ts":%r,"r":%s}' % (ts, body), qos=1)
        return ts

    def _finish(self, messages: int, t_first: float, timeout_s: float) -> dict[str, Any]:
        t_queued = time.time()
        acked = self.all_acked.wait(timeout_s)
        return {
            "t_first": t_first,
            "t_queued": t_queued,
            "t_acked": time.time() if acked else None,
            "messages": messages,
            "acked": self.acked,
        }

    def burst(self, readings: int) -> dict[str, Any]:
        """`readings` in full-speed gateway batches, the same pool of payloads every time."""
        pool = []
        for _ in range(POOL_CYCLES):
            values = self._wander().tolist()
            pool.append([self._body(j, values) for j in range(len(self.chunks))])
        plan: list[tuple[str, bytes]] = []
        left, i = readings, 0
        while left > 0:
            j = i % len(self.chunks)
            topic, tags, _ = self.chunks[j]
            body = pool[(i // len(self.chunks)) % POOL_CYCLES][j]
            if len(tags) > left:  # the last message carries only what is left
                body = orjson.dumps(orjson.loads(body)[:left])
            plan.append((topic, body))
            left -= min(left, len(tags))
            i += 1
        self.acked, self.target = 0, len(plan)
        self.all_acked.clear()
        t_first = time.time()
        for topic, body in plan:
            self._send(topic, body)
        return self._finish(len(plan), t_first, timeout_s=30 + readings / 20_000)

    def paced(self, seconds: int) -> dict[str, Any]:
        """Every sensor once a second, messages spread evenly; one HH crossing a second."""
        order = self.rng.permutation(self.n)
        chunk_of = np.repeat(np.arange(len(self.chunks)), [len(c[1]) for c in self.chunks])
        self.acked, self.target = 0, seconds * len(self.chunks)
        self.all_acked.clear()
        crossings: list[tuple[str, float]] = []
        late_max, t0 = 0.0, time.time() + 0.2
        for s in range(seconds):
            values = self._wander()
            k = int(order[s % self.n])
            values[k] = HH_VALUE  # back to its level the next second
            values_list = values.tolist()
            for j, (topic, _, first) in enumerate(self.chunks):
                due = t0 + s + j / len(self.chunks)
                body = self._body(j, values_list)
                wait = due - time.time()
                if wait > 0:
                    time.sleep(wait)
                ts = self._send(topic, body)
                late_max = max(late_max, ts - due)
                if chunk_of[k] == j:
                    crossings.append((self.chunks[j][1][k - first], ts))
        out = self._finish(self.target, t0, timeout_s=10)
        out.update(crossings=crossings, late_max_s=late_max, readings=seconds * self.n)
        return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def publisher_main(
    conn: Connection,
    host: str,
    port: int,
    root: str,
    gws: list[Gateway],
    cpus: set[int] | None,
    noise_sd: float,
) -> None:
    """Child process: obey ("burst", M) / ("paced", S) / ("stop",) until told to stop."""
    if cpus:
        os.sched_setaffinity(0, cpus)
    pub = _Publisher(host, port, root, gws, noise_sd)
    try:
        conn.send(("ready", pub.n))
        while True:
            cmd = conn.recv()  # EOFError if the parent died: the process ends with it
            if cmd[0] == "stop":
                break
            result = pub.burst(cmd[1]) if cmd[0] == "burst" else pub.paced(cmd[1])
            result["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            conn.send((cmd[0], result))
    finally:
        pub.close()
        conn.close()


class PublisherProcess:
    """The publisher's process and its command pipe; every wait is bounded."""

    def __init__(
        self, host: str, port: int, site: Site, cpus: set[int] | None, noise_sd: float = 0.0
    ) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        args = (child, host, port, site.root_topic, gateways(site), cpus, noise_sd)
        self.proc = ctx.Process(target=publisher_main, args=args, name="bench-publisher")
        self.proc.start()
        child.close()
        try:
            self.reply(60)
        except BaseException:
            self.close()
            raise

    def ask(self, *cmd: Any) -> None:
        self.conn.send(cmd)

    def reply(self, timeout_s: float) -> Any:
        if not self.proc.is_alive() and not self.conn.poll(0):
            raise RuntimeError(f"publisher died (exit code {self.proc.exitcode})")
        if not self.conn.poll(timeout_s):
            raise TimeoutError(f"publisher did not answer within {timeout_s:.0f} s")
        return self.conn.recv()[1]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(("stop",))
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
        self.conn.close()
