"""The fleet publisher: a simulated farm on the air, one MQTT client per gateway.

Each gateway of the site gets its own paho-mqtt client with the wire format's last will
(`offline`, retained, on `<root>/<enterprise>/_status/<gateway>`) and announces `online` on
connect. Every tick publishes every sensor's reading, as gateway batches or single readings.
Payload `ts` is simulated time; `speed` makes simulated time run faster than the wall clock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any, Literal
from urllib.parse import urlsplit

import numpy as np
import orjson
from paho.mqtt.enums import MQTTErrorCode

from hazardwatch.vocabulary.model import HazardWatchError, Site
from simulators.gateway import (
    MAX_BATCH_ROWS,
    RECONNECT_MAX_S,
    GatewayLink,
    NetworkLoop,
    plan_payload,
    wait_closed,
)
from simulators.physics import Climate, TankFarm
from simulators.scenario import Scenario, Script

log = logging.getLogger(__name__)

Mode = Literal["batch", "single"]
MAX_BEHIND_S = 1.0  # pacing further behind than this skips ahead instead of bursting
MAX_LATENESS_SAMPLES = 1_000_000  # tick lateness kept for the percentiles in stats()
PAUSE_SLICE_S = 0.05  # how often a pause looks at the stop events


class PublisherError(HazardWatchError):
    """The publisher was given bad settings or cannot reach its broker."""


def parse_broker_url(url: str) -> tuple[str, int]:
    """Host and port of an `mqtt://HOST:PORT` URL; the port defaults to 1883.

    >>> parse_broker_url("mqtt://127.0.0.1:18830")
    ('127.0.0.1', 18830)
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as err:
        raise PublisherError(f"broker URL {url!r}: {err}") from None
    if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
        raise PublisherError(f"broker URL {url!r}: expected mqtt://HOST:PORT")
    return parts.hostname, port or 1883


class FleetPublisher:
    """Publishes a simulated site to an MQTT broker, paced by the wall clock.

    Use `run()` to block, or `start()` for a background thread and `close()` to stop; as a
    context manager it closes on exit. `published_readings` and `published_messages` count
    what went out.
    """

    def __init__(
        self,
        site: Site,
        broker_url: str,
        *,
        rate_hz: float = 1.0,
        mode: Mode = "batch",
        speed: float = 1.0,
        seed: int = 0,
        scenarios: Iterable[Scenario] = (),
        qos: int = 1,
        start_ts: float | None = None,
        connect_timeout_s: float = 10.0,
        climate: Climate | None = None,
    ) -> None:
        if not rate_hz > 0:
            raise PublisherError(f"rate_hz must be > 0, got {rate_hz}")
        if not speed > 0:
            raise PublisherError(f"speed must be > 0, got {speed}")
        if mode not in ("batch", "single"):
            raise PublisherError(f"mode must be 'batch' or 'single', got {mode!r}")
        if qos not in (0, 1, 2):
            raise PublisherError(f"qos must be 0, 1 or 2, got {qos}")
        self.site = site
        self.broker_url = broker_url
        self._host, self._port = parse_broker_url(broker_url)
        self.rate_hz = float(rate_hz)
        self.mode: Mode = mode
        self.speed = float(speed)
        self.seed = seed
        self.qos = qos
        self.connect_timeout_s = connect_timeout_s
        start = time.time() if start_ts is None else float(start_ts)
        self.farm = TankFarm(site, np.random.default_rng(seed), start, climate=climate)
        self.script = Script(self.farm, scenarios)
        self._latest = np.full(self.farm.n_sensors, np.nan)
        self._network = NetworkLoop()
        self._gateways = self._build_gateways(site)
        self._gateway_of = {
            self.farm.sensors[int(i)].tag: gw for gw in self._gateways.values() for i in gw.sensors
        }
        self.published_plans = 0
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._held_down: set[str] = set()  # killed by hand, until revived
        self._down: set[str] = set()  # off the air now, for any reason
        self.ticks = 0
        self.published_readings = 0
        self.published_messages = 0
        self.unsent_readings = 0  # gateway down or not connected at that tick
        self.publish_errors = 0
        self.late_ticks = 0  # times pacing fell too far behind and skipped ahead
        self._lateness: list[float] = []  # per tick: how long after its schedule it started
        self._busy: list[float] = []  # per tick: how long it took
        self.kills = 0
        self.reconnects = 0
        self.wall_elapsed_s = 0.0

    def _build_gateways(self, site: Site) -> dict[str, GatewayLink]:
        rows = site.iter_sensors()
        groups: dict[tuple[str, str], list[int]] = {}
        for i, (e, _, u, _) in enumerate(rows):
            groups.setdefault((e.id, u.gateway), []).append(i)
        out: dict[str, GatewayLink] = {}
        for (ent, name), ix in groups.items():
            tags = [rows[i][3].tag for i in ix]
            bad = [t for t in tags if "+" in t or "#" in t]
            if bad and self.mode == "single":
                raise PublisherError(f"tags {bad} cannot be MQTT topic levels (+ or #)")
            sensors = np.asarray(ix, dtype=np.int64)
            gw = GatewayLink(site.root_topic.rstrip("/"), ent, name, sensors, tags, self._network)
            out[gw.key] = gw
        return out

    # ------------------------------------------------------------ connections

    @property
    def gateways(self) -> tuple[str, ...]:
        """Gateway keys, `<enterprise>/<gateway>`."""
        return tuple(self._gateways)

    def status_topic(self, key: str) -> str:
        return self._gateway(key).status_topic

    def link(self, key: str) -> GatewayLink:
        """The gateway `<enterprise>/<gateway>`: its sensors, topics and connection."""
        return self._gateway(key)

    def _gateway(self, key: str) -> GatewayLink:
        try:
            return self._gateways[key]
        except KeyError:
            raise PublisherError(
                f"no gateway {key!r} (gateways: {', '.join(self._gateways)})"
            ) from None

    def connect(self) -> None:
        """Connect every gateway that should be on the air; wait (bounded) for each CONNACK."""
        with self._lock:
            try:
                for gw in self._gateways.values():
                    if gw.key not in self._down and gw.client is None:
                        self._open(gw)
            except PublisherError:
                self._close_all(timeout_s=1.0)
                self._network.close()
                raise
            pending = [gw for gw in self._gateways.values() if gw.client is not None]
        deadline = time.monotonic() + self.connect_timeout_s
        missing = [
            g.key for g in pending if not g.connected.wait(max(0.0, deadline - time.monotonic()))
        ]
        if missing:
            with self._lock:
                self._close_all(timeout_s=1.0)
                self._network.close()
            raise PublisherError(
                f"gateways {missing} got no CONNACK from {self.broker_url} "
                f"within {self.connect_timeout_s:g} s"
            )

    def _open(self, gw: GatewayLink) -> None:
        try:
            gw.open(self._host, self._port)
        except OSError as err:
            raise PublisherError(
                f"gateway {gw.key}: cannot connect to {self.broker_url}: {err}"
            ) from None

    def _close_all(self, timeout_s: float) -> None:
        """Say `offline` on every live gateway, wait (bounded) for the broker, disconnect."""
        sent = [info for gw in self._gateways.values() if (info := gw.say_offline()) is not None]
        deadline = time.monotonic() + timeout_s
        for info in sent:
            if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                info.wait_for_publish(max(0.0, deadline - time.monotonic()))
        closing = [c for gw in self._gateways.values() if (c := gw.disconnect()) is not None]
        wait_closed(closing)

    def kill_gateway(self, key: str) -> None:
        """Drop a gateway's socket without DISCONNECT; it stays off until `revive_gateway`."""
        with self._lock:
            gw = self._gateway(key)
            self._held_down.add(key)
            if key not in self._down:
                self._down.add(key)
                gw.drop()
                self.kills += 1

    def revive_gateway(self, key: str) -> None:
        """Bring a killed gateway back (unless a scenario still holds it down)."""
        with self._lock:
            gw = self._gateway(key)
            self._held_down.discard(key)
            if key in self._down and key not in self.script.gateways_down():
                self._down.discard(key)
                self._open(gw)
                self.reconnects += 1

    def _apply_outages(self) -> None:
        want = self.script.gateways_down() | self._held_down
        for key in sorted(want - self._down):
            self._down.add(key)
            self._gateways[key].drop()
            self.kills += 1
        for key in sorted(self._down - want):
            self._down.discard(key)
            self._gateways[key].retry_at = 0.0

    def _heal(self, now: float) -> None:
        """Reconnect gateways that should be up but are not, with a doubling backoff."""
        for gw in self._gateways.values():
            if gw.key in self._down or not gw.needs_reconnect or now < gw.retry_at:
                continue
            gw.drop()  # joins a dead network thread, if any
            try:
                self._open(gw)
            except PublisherError as err:
                log.warning("%s; retrying in %.1f s", err, gw.backoff_s)
                gw.retry_at = now + gw.backoff_s
                gw.backoff_s = min(2 * gw.backoff_s, RECONNECT_MAX_S)
                continue
            self.reconnects += 1

    # ------------------------------------------------------------ publishing

    def tick(self) -> None:
        """Advance the simulation one step (`speed / rate_hz` simulated seconds) and publish."""
        sensors, values = self.script.tick(self.speed / self.rate_hz)
        ts = round(self.farm.ts, 3)
        complete = len(sensors) == self.farm.n_sensors
        latest = values if complete else self._scatter(sensors, values)
        with self._lock:
            self._apply_outages()
            self._heal(time.monotonic())
            self._publish_plans()
            for gw in self._gateways.values():
                mine = latest[gw.sensors]
                present = None
                if not complete:  # instruments in dropout send nothing
                    present = np.flatnonzero(~np.isnan(mine))
                    mine = mine[present]
                if gw.key in self._down or not gw.up:
                    self.unsent_readings += len(mine)
                    continue
                self._publish_gateway(gw, ts, mine, present)
        self.ticks += 1

    def _publish_plans(self) -> None:
        """The operators' transfer plans, as the DCS would send them, before the readings."""
        for plan in self.farm.take_plans():
            gw = self._gateway_of[plan.tag]
            if gw.key in self._down or not gw.up:
                continue  # the DCS link is down with the gateway: the plan is lost, as live
            body = orjson.dumps(plan_payload(plan))
            self.published_plans += gw.publish(gw.plan_topic, body, 1)

    def _scatter(self, sensors: np.ndarray, values: np.ndarray) -> np.ndarray:
        self._latest.fill(np.nan)
        self._latest[sensors] = values
        return self._latest

    def _publish_gateway(
        self, gw: GatewayLink, ts: float, values: np.ndarray, present: np.ndarray | None
    ) -> None:
        if len(values) == 0:
            return
        if self.mode == "batch":
            payloads = gw.batch_payloads(ts, values, present)
            ok = [gw.publish(gw.batch_topic, p, self.qos) for p in payloads]
            messages, attempts = sum(ok), len(payloads)
            sent = sum(  # rows of the payloads that went out
                min(MAX_BATCH_ROWS, len(values) - k * MAX_BATCH_ROWS)
                for k, done in enumerate(ok)
                if done
            )
        else:
            topics = gw.single_topics
            chosen = range(len(values)) if present is None else present.tolist()
            sent = sum(
                gw.publish(topics[i], orjson.dumps({"v": v, "ts": ts, "q": "good"}), self.qos)
                for i, v in zip(chosen, values.tolist(), strict=True)
            )
            messages, attempts = sent, len(values)
        self.published_messages += messages
        self.published_readings += sent
        self.unsent_readings += len(values) - sent
        self.publish_errors += attempts - messages

    def run(
        self, duration_s: float | None = None, stop: threading.Event | None = None
    ) -> dict[str, Any]:
        """Publish for `duration_s` seconds of wall time (None: until `stop` or `close()`).

        That is `duration_s * rate_hz` ticks, each `speed / rate_hz` simulated seconds long.
        Blocks; returns `stats()`. Connects first if needed.
        """
        if duration_s is not None and not duration_s >= 0:
            raise PublisherError(f"duration_s must be >= 0, got {duration_s}")
        self.connect()
        period = 1.0 / self.rate_hz
        n_ticks = None if duration_s is None else round(duration_s * self.rate_hz)
        started = time.monotonic()
        next_t = started + period
        done = 0
        try:
            while n_ticks is None or done < n_ticks:
                if self._stopping(stop):
                    break
                delay = next_t - time.monotonic()
                if delay > 0 and self._pause(delay, stop):
                    break
                late = time.monotonic() - next_t
                if len(self._lateness) < MAX_LATENESS_SAMPLES:
                    self._lateness.append(late)
                if late > MAX_BEHIND_S:
                    self.late_ticks += 1
                    next_t = time.monotonic()
                began = time.monotonic()
                self.tick()
                if len(self._busy) < MAX_LATENESS_SAMPLES:
                    self._busy.append(time.monotonic() - began)
                done += 1
                next_t += period
        finally:
            self.wall_elapsed_s += time.monotonic() - started
        return self.stats()

    def _stopping(self, stop: threading.Event | None) -> bool:
        return self._stop.is_set() or (stop is not None and stop.is_set())

    def _pause(self, delay_s: float, stop: threading.Event | None) -> bool:
        """Sleep `delay_s`, waking early to return True if asked to stop."""
        end = time.monotonic() + delay_s
        while not self._stopping(stop):
            remaining = end - time.monotonic()
            if remaining <= 0:
                return False
            self._stop.wait(min(remaining, PAUSE_SLICE_S))
        return True

    def start(self, duration_s: float | None = None) -> threading.Thread:
        """Connect, then `run` in a background thread; `close()` stops it."""
        if self._thread is not None and self._thread.is_alive():
            raise PublisherError("the publisher is already running")
        self._stop.clear()
        self.connect()  # in the caller's thread, so a dead broker is the caller's error
        self._thread = threading.Thread(
            target=self._run_guarded, args=(duration_s,), name="hw-fleet", daemon=True
        )
        self._thread.start()
        return self._thread

    def _run_guarded(self, duration_s: float | None) -> None:
        try:
            self.run(duration_s)
        except Exception as err:
            log.exception("fleet publisher stopped by an error")
            self._error = err

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the loop, say `offline` on every live gateway and disconnect cleanly.

        Re-raises an error that stopped the background thread.
        """
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)
            if thread.is_alive():
                log.warning("fleet publisher thread still running after %.1f s", timeout_s)
        with self._lock:
            self._close_all(timeout_s)
            self._network.close()
        error, self._error = self._error, None
        if error is not None:
            raise error

    def __enter__(self) -> FleetPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def lateness_percentiles(self) -> dict[str, float | None]:
        """p50, p90, p99 and max of how late ticks started against their schedule, seconds."""
        return _percentiles(self._lateness)

    def busy_percentiles(self) -> dict[str, float | None]:
        """p50, p90, p99 and max of how long a tick took (physics, encoding, publish), seconds."""
        return _percentiles(self._busy)

    def stats(self) -> dict[str, Any]:
        """Counters, settings and the ground truth so far."""
        return {
            "sensors": self.farm.n_sensors,
            "gateways": len(self._gateways),
            "mode": self.mode,
            "rate_hz": self.rate_hz,
            "speed": self.speed,
            "seed": self.seed,
            "ticks": self.ticks,
            "sim_elapsed_s": self.farm.elapsed_s,
            "wall_elapsed_s": self.wall_elapsed_s,
            "published_readings": self.published_readings,
            "published_messages": self.published_messages,
            "unsent_readings": self.unsent_readings,
            "publish_errors": self.publish_errors,
            "late_ticks": self.late_ticks,
            "tick_lateness_s": self.lateness_percentiles(),
            "tick_busy_s": self.busy_percentiles(),
            "kills": self.kills,
            "reconnects": self.reconnects,
            "truth": self.script.truth(),
        }


def _percentiles(samples: list[float]) -> dict[str, float | None]:
    if not samples:
        return dict.fromkeys(("p50", "p90", "p99", "max"))
    a = np.asarray(samples)
    p50, p90, p99 = np.percentile(a, [50, 90, 99]).tolist()
    return {"p50": p50, "p90": p90, "p99": p99, "max": float(a.max())}
