"""Can one HazardWatch process carry a park of 20,000 sensors at 1 reading/s each?

Four questions, one run, one embedded mosquitto (set_tcp_nodelay) on loopback:
  throughput  a publisher process sends M readings as gateway batches of 100, QoS 1, as
              fast as it can; how fast does the service's detector get through them?
  baseline    the same publisher and payloads to a bare paho subscriber (QoS 1, same
              topic filter) that only decodes with orjson and counts len(r): the raw rate.
  latency     the park at 1 reading/s per sensor, paced evenly; once a second one sensor
              jumps above HH with ts = its publish time: HH ACTIVATE emit time - ts.
  memory      the service process's peak RSS and its growth (the publisher is another
              process, mosquitto a third).
The service process is pinned to one core, publisher and mosquitto to the others.
Prints numbers; asserts nothing.

    python benchmarks/bench_end_to_end.py [--quick] [--sensors N] [--readings M]
        [--seconds S] [--no-pin] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import platform
import resource
import secrets
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for benchmarks.fleet_site

from alerting import AlarmEvent, Event
from benchmarks.fleet_site import Gateway, build_site, gateways
from hazardwatch.broker import EmbeddedBroker
from hazardwatch.model import Condition, Site
from hazardwatch.service import Service, Settings

ROWS = 100  # readings per gateway batch
HH_VALUE = 95.0
POOL_CYCLES = 8  # distinct value sets the burst cycles through
MB = 1024 * 1024


# ------------------------------------------------------------------ publisher process


def _client(host: str, port: int, name: str, inflight: int = 20, **kw: Any) -> mqtt.Client:
    """A connected paho client with TCP_NODELAY, its network loop running (bounded wait)."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"{name}-{secrets.token_hex(3)}", **kw
    )
    client.max_inflight_messages_set(inflight)
    up = threading.Event()
    client.on_connect = lambda c, *_: up.set()
    client.connect(host, port, keepalive=30)
    client.loop_start()
    if not up.wait(10):
        client.loop_stop()
        raise RuntimeError(f"{name}: no CONNACK from {host}:{port} within 10 s")
    sock = client.socket()
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client


class _Publisher:
    """One paho client publishing the whole park as gateway batches, counting PUBACKs."""

    def __init__(self, host: str, port: int, root: str, gws: list[Gateway]) -> None:
        self.chunks: list[tuple[str, tuple[str, ...], int]] = []  # (topic, tags, first index)
        first = 0
        for gw in gws:
            topic = f"{root}/{gw.enterprise}/_batch/{gw.name}"
            for i in range(0, len(gw.tags), ROWS):
                self.chunks.append((topic, gw.tags[i : i + ROWS], first + i))
            first += len(gw.tags)
        self.n = first
        self.rng = np.random.default_rng(7)
        self.values = self.rng.uniform(40, 60, self.n)
        self.acked = 0
        self.all_acked = threading.Event()
        self.target = 0
        self.client = _client(host, port, "bench-pub", inflight=1000)
        self.client.on_publish = self._on_publish

    def _on_publish(self, *_: Any) -> None:
        self.acked += 1
        if self.acked == self.target:
            self.all_acked.set()

    def _wander(self) -> np.ndarray:
        """Values random-walk inside 40-60."""
        self.values = np.clip(self.values + self.rng.normal(0, 0.5, self.n), 40, 60)
        return np.round(self.values, 2)

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
            values[k] = HH_VALUE  # back to its walk the next second
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
    conn: Connection, host: str, port: int, root: str, gws: list[Gateway], cpus: set[int] | None
) -> None:
    """Child process: obey ("burst", M) / ("paced", S) / ("stop",) until told to stop."""
    if cpus:
        os.sched_setaffinity(0, cpus)
    pub = _Publisher(host, port, root, gws)
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

    def __init__(self, host: str, port: int, site: Site, cpus: set[int] | None) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        args = (child, host, port, site.root_topic, gateways(site), cpus)
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


# ------------------------------------------------------------------ subscribers


class RawSubscriber:
    """Bare paho, QoS 1: orjson-decodes each message and counts len(r). Nothing else."""

    def __init__(self, host: str, port: int, topic: str) -> None:
        self.readings, self.expected, self.done_at = 0, -1, 0.0
        self.done = threading.Event()
        subscribed = threading.Event()
        self.client = _client(host, port, "bench-raw", clean_session=True)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.subscribe(topic, qos=1)
        if not subscribed.wait(10):
            raise RuntimeError("raw subscriber: no SUBACK within 10 s")

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self.readings += len(orjson.loads(msg.payload)["r"])
        if self.readings >= self.expected >= 0 and not self.done.is_set():
            self.done_at = time.time()
            self.done.set()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class ServiceThread:
    """The Service on its own event loop in a thread of this (the service) process."""

    def __init__(
        self,
        site: Site,
        data_dir: Path,
        url: str,
        client_id: str,
        sinks: list[Callable[[list[AlarmEvent]], None]],
        profile: bool,
    ) -> None:
        settings = Settings(broker_url=url, data_dir=data_dir, client_id=client_id)
        self.service = Service(site, settings, sinks=sinks)
        self.profile_text = ""
        self.error: BaseException | None = None
        self._profile = profile
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="service")
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self.service._health()["broker"]["connected"]:
            if self.error or not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"service did not subscribe within 20 s: {self.error!r}")
            time.sleep(0.01)

    def _run(self) -> None:
        async def main() -> None:
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            await self.service.run(self._stop, serve_http=False)

        profiler = None
        if self._profile:
            from pyinstrument import Profiler

            profiler = Profiler(async_mode="disabled")
            profiler.start()
        try:
            asyncio.run(main())
        except BaseException as exc:
            self.error = exc
        finally:
            if profiler is not None:
                profiler.stop()
                self.profile_text = profiler.output_text(unicode=False, color=False)

    @property
    def readings(self) -> int:
        return int(self.service.detector.stats["readings"])

    def wait_readings(self, expected: int, timeout_s: float, poll_s: float = 0.01) -> float | None:
        """Wall time when the detector had processed `expected` readings; None on timeout."""
        deadline = time.monotonic() + timeout_s
        while self.readings < expected:
            if time.monotonic() > deadline or not self._thread.is_alive():
                return None
            time.sleep(poll_s)
        return time.time()

    def stop(self, timeout_s: float = 90) -> float:
        """Stop, flushing the reading store; returns how long the shutdown took."""
        t = time.monotonic()
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise RuntimeError(f"service thread still running {timeout_s:.0f} s after stop")
        return time.monotonic() - t


def forget_session(host: str, port: int, client_id: str) -> None:
    """Drop a stopped service's persistent session, so the broker stops queueing for it."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    up = threading.Event()
    client.on_connect = lambda *_: up.set()
    client.connect(host, port)
    client.loop_start()
    up.wait(10)
    client.disconnect()
    client.loop_stop()


# ------------------------------------------------------------------ the phases


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / MB


def cpu_s() -> float:
    t = psutil.Process().cpu_times()
    return t.user + t.system


def thread_cpu() -> dict[str, float]:
    """CPU seconds per thread name of this process (threads of the same name summed)."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = {}
    for t in psutil.Process().threads():
        name = names.get(t.id, "other")
        out[name] = out.get(name, 0.0) + t.user_time + t.system_time
    return out


def cpu_split(before: dict[str, float], after: dict[str, float]) -> str:
    used = {k: v - before.get(k, 0.0) for k, v in after.items()}
    top = sorted(((v, k) for k, v in used.items() if v >= 0.05), reverse=True)
    return ", ".join(f"{k} {v:.1f} s" for v, k in top) or "none"


def _rate(n: int, t0: float, t1: float | None) -> float:
    return n / (t1 - t0) if t1 is not None and t1 > t0 else float("nan")


def run_raw(pub: PublisherProcess, host: str, port: int, topic: str, m: int) -> dict[str, Any]:
    sub = RawSubscriber(host, port, topic)
    timeout = 30 + m / 20_000
    try:
        sub.expected = m
        pub.ask("burst", m)
        sub.done.wait(timeout)
        p = pub.reply(timeout)
    finally:
        sub.close()
    done = sub.done_at if sub.done.is_set() else None
    return {
        "rate": _rate(m, p["t_first"], done),
        "counted": sub.readings,
        "pub_rate": _rate(m, p["t_first"], p["t_acked"]),
        "pub": p,
    }


def run_throughput(
    pub: PublisherProcess, site: Site, tmp: Path, host: str, port: int, m: int, profile: bool
) -> dict[str, Any]:
    cid = f"bench-thr-{secrets.token_hex(3)}"
    rss0 = rss_mb()
    svc = ServiceThread(site, tmp / "svc-throughput", f"mqtt://{host}:{port}", cid, [], profile)
    timeout = 30 + m / 20_000
    try:
        cpu0, threads0 = cpu_s(), thread_cpu()
        pub.ask("burst", m)
        done = svc.wait_readings(m, timeout)
        cpu1, threads1 = cpu_s(), thread_cpu()
        health = svc.service._health()
        p = pub.reply(timeout)
    finally:
        shutdown_s = svc.stop()
        forget_session(host, port, cid)
    wall = (done or time.time()) - p["t_first"]
    return {
        "rate": _rate(m, p["t_first"], done),
        "processed": health["detector"]["readings"],
        "pub_rate": _rate(m, p["t_first"], p["t_acked"]),
        "cpu_frac": (cpu1 - cpu0) / wall,
        "threads": cpu_split(threads0, threads1),
        "wall": wall,
        "health": health,
        "shutdown_s": shutdown_s,
        "rss0": rss0,
        "rss1": rss_mb(),
        "profile": svc.profile_text,
        "error": svc.error,
    }


def run_latency(
    pub: PublisherProcess, site: Site, tmp: Path, host: str, port: int, seconds: int, profile: bool
) -> dict[str, Any]:
    hits: list[tuple[float, str, float]] = []  # (emitted, tag, reading ts)

    def sink(events: list[AlarmEvent]) -> None:
        now = time.time()
        for e in events:
            if e.event is Event.ACTIVATE and e.alarm.condition is Condition.HH:
                hits.append((now, e.alarm.tag, e.alarm.changed_ts))

    cid = f"bench-lat-{secrets.token_hex(3)}"
    rss0 = rss_mb()
    svc = ServiceThread(site, tmp / "svc-latency", f"mqtt://{host}:{port}", cid, [sink], profile)
    rss_samples: list[float] = []
    try:
        rss1, cpu0, wall0, threads0 = rss_mb(), cpu_s(), time.time(), thread_cpu()
        pub.ask("paced", seconds)
        deadline = time.monotonic() + seconds + 30
        while not pub.conn.poll(0.5) and time.monotonic() < deadline:
            rss_samples.append(rss_mb())
        p = pub.reply(5)
        backlog = p["readings"] - svc.readings  # still to process when the last PUBACK came
        done = svc.wait_readings(p["readings"], 15)
        cpu1, wall1, threads1 = cpu_s(), time.time(), thread_cpu()
        health = svc.service._health()
    finally:
        shutdown_s = svc.stop()
    by_key = {(tag, round(ts, 6)): emitted - ts for emitted, tag, ts in hits}
    lat = [by_key[(t, round(ts, 6))] for t, ts in p["crossings"] if (t, round(ts, 6)) in by_key]
    return {
        "lat_ms": np.array(lat) * 1000,
        "injected": len(p["crossings"]),
        "hh": len(hits),
        "sent": p["readings"],
        "processed": health["detector"]["readings"],
        "backlog": backlog,
        "catch_up_s": None if done is None else done - p["t_acked"],
        "late_max_s": p["late_max_s"],
        "cpu_frac": (cpu1 - cpu0) / (wall1 - wall0),
        "threads": cpu_split(threads0, threads1),
        "health": health,
        "shutdown_s": shutdown_s,
        "rss0": rss0,
        "rss1": rss1,
        "rss_peak_run": max(rss_samples, default=rss1),
        "rss2": rss_mb(),
        "pub": p,
        "profile": svc.profile_text,
        "error": svc.error,
    }


# ------------------------------------------------------------------ machine and report


def pin_all_threads(cpus: set[int]) -> None:
    """Pin every thread of this process (new threads inherit it from their creator)."""
    for tid in os.listdir("/proc/self/task"):
        os.sched_setaffinity(int(tid), cpus)


def mosquitto_version() -> str:
    import subprocess

    from hazardwatch.broker import mosquitto_path

    try:
        out = subprocess.run(
            [mosquitto_path() or "mosquitto", "-h"], capture_output=True, timeout=5, text=True
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "mosquitto"
    return out.splitlines()[0].strip() if out else "mosquitto"


def fmt(x: float, digits: int = 0) -> str:
    return "n/a" if x != x else f"{x:,.{digits}f}"


@dataclass
class Plan:
    sensors: int
    readings: int
    seconds: int
    pin: bool
    profile: bool


def parse_args() -> Plan:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="5,000 sensors, 200,000 readings, 10 s")
    ap.add_argument("--sensors", type=int, help="park size (default 20,000)")
    ap.add_argument("--readings", type=int, help="throughput burst (default 2,000,000)")
    ap.add_argument("--seconds", type=int, help="park-load latency run (default 30)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    ap.add_argument("--profile", action="store_true", help="pyinstrument on the service thread")
    a = ap.parse_args()
    q = a.quick
    return Plan(
        sensors=a.sensors or (5_000 if q else 20_000),
        readings=a.readings or (200_000 if q else 2_000_000),
        seconds=a.seconds or (10 if q else 30),
        pin=not a.no_pin,
        profile=a.profile,
    )


def main() -> None:
    plan = parse_args()
    cores = sorted(os.sched_getaffinity(0))
    pinned = plan.pin and len(cores) >= 2
    service_cpus, other_cpus = ({cores[0]}, set(cores[1:])) if pinned else (set(cores), None)
    if pinned:
        pin_all_threads(service_cpus)
    t_build = time.perf_counter()
    site = build_site(plan.sensors)
    t_build = time.perf_counter() - t_build
    rss_start = rss_mb()
    print(
        f"1. Site: {plan.sensors:,} level sensors, {len(site.enterprises)} enterprises x 1"
        " gateway, range 0-100, h 80 hh 90 l 10 ll 5, deadband 1, no delays, period 5 s,"
        f" stale after 3 periods, not latched; built in {t_build:.2f} s"
    )
    with tempfile.TemporaryDirectory(prefix="hw-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with EmbeddedBroker(tmp / "broker", kind="mosquitto") as broker:
            conf = (tmp / "broker" / "mosquitto.conf").read_text()
            nodelay = "set_tcp_nodelay true" in conf
            mosq = [c for c in psutil.Process().children() if "mosquitto" in c.name()]
            if other_cpus:
                for c in mosq:
                    os.sched_setaffinity(c.pid, other_cpus)
            host, port = broker.host, broker.port
            pub = PublisherProcess(host, port, site, other_cpus)
            try:
                raw = run_raw(pub, host, port, f"{site.root_topic}/#", plan.readings)
                thr = run_throughput(pub, site, tmp, host, port, plan.readings, plan.profile)
                lat = run_latency(pub, site, tmp, host, port, plan.seconds, plan.profile)
                mosq_rss = sum(c.memory_info().rss for c in mosq if c.is_running()) / MB
            finally:
                pub.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report(plan, site, cores, pinned, nodelay, raw, thr, lat, rss_start, peak, mosq_rss)


def report(
    plan: Plan,
    site: Site,
    cores: list[int],
    pinned: bool,
    nodelay: bool,
    raw: dict[str, Any],
    thr: dict[str, Any],
    lat: dict[str, Any],
    rss_start: float,
    peak: float,
    mosq_rss: float,
) -> None:
    m = plan.readings
    ratio = thr["rate"] / raw["rate"]
    th = thr["health"]
    print(f"\n2. Throughput: {m:,} readings in batches of {ROWS}, QoS 1, publisher at full speed")
    print(
        f"   service processed {thr['processed']:,}: {fmt(thr['rate'])} readings/s"
        f" (service process CPU {thr['cpu_frac']:.0%} of one core)"
    )
    print(f"   publisher sent (all PUBACKed): {fmt(thr['pub_rate'])} readings/s")
    det = th["detector"]
    print(
        f"   condition changes during the burst {det['changes']:,}"
        f" (out of order {det['out_of_order']:,}); CPU by thread: {thr['threads']}"
    )
    print(
        f"   reading store: {th['store']['written']:,} written when the detector was done,"
        f" queue {th['store']['queued_batches']} batches; flushed on stop in"
        f" {thr['shutdown_s']:.1f} s; rejected {th['ingest']['rejected_total']}"
    )
    print(
        "3. Baseline: bare paho subscriber, QoS 1, same topic filter and payloads,"
        " orjson-decodes each message and counts len(r)"
    )
    print(
        f"   raw: {fmt(raw['rate'])} readings/s ({raw['counted']:,} counted); publisher"
        f" {fmt(raw['pub_rate'])} readings/s; service/raw = {ratio:.2f}"
    )
    ms = lat["lat_ms"]
    pct = np.percentile(ms, [50, 95, 99]) if ms.size else np.full(3, np.nan)
    mx = ms.max() if ms.size else float("nan")
    kept = lat["processed"] >= lat["sent"]
    n_msgs = -(-plan.sensors // ROWS)  # gateways may end in a short batch: an upper bound
    print(
        f"4. Latency at park load: {plan.sensors:,} readings/s (~{n_msgs} batches/s paced"
        f" evenly) for {plan.seconds} s; one HH crossing ({HH_VALUE:g}) per second"
    )
    print(
        f"   publish -> HH ACTIVATE emitted: p50 {pct[0]:.1f} ms, p95 {pct[1]:.1f} ms,"
        f" p99 {pct[2]:.1f} ms, max {mx:.1f} ms"
    )
    print(
        f"   crossings injected {lat['injected']}, alarmed {ms.size}"
        f" (HH activations seen {lat['hh']})"
    )
    catch = "never (15 s)" if lat["catch_up_s"] is None else f"{lat['catch_up_s'] * 1000:.0f} ms"
    print(
        f"   kept up: {'yes' if kept else 'NO'}: processed {lat['processed']:,} of"
        f" {lat['sent']:,} sent; backlog at the last PUBACK {lat['backlog']:,} readings,"
        f" drained {catch} after it; publisher max lateness {lat['late_max_s'] * 1000:.1f} ms;"
        f" service process CPU {lat['cpu_frac']:.0%} of one core"
    )
    print(f"   CPU by thread: {lat['threads']}")
    growth = lat["rss2"] - lat["rss0"]
    print(
        f"5. Memory of the service process (the publisher is a separate process,"
        f" peak {lat['pub']['maxrss_mb']:.0f} MB; mosquitto {mosq_rss:.0f} MB at the end)"
    )
    print(
        f"   peak RSS (ru_maxrss, whole run) {peak:.0f} MB; RSS at start {rss_start:.0f} MB,"
        f" throughput phase {thr['rss0']:.0f} -> {thr['rss1']:.0f} MB, park-load phase"
        f" {lat['rss0']:.0f} -> {lat['rss_peak_run']:.0f} (peak sampled) -> {lat['rss2']:.0f}"
        f" MB (growth {growth:+.0f} MB)"
    )
    for name, r in (("throughput", thr), ("latency", lat)):
        if r["error"] is not None:
            print(f"   service error in the {name} phase: {r['error']!r}")
        if r["profile"]:
            print(f"\n--- pyinstrument, service thread, {name} phase ---\n{r['profile']}")
    cpu_name = platform.processor() or platform.machine()
    pin = (
        f"service process on CPU {cores[0]}, publisher + mosquitto on CPU {cores[1:]}"
        if pinned
        else "not pinned"
    )
    rows = [
        ("Machine", f"{os.cpu_count()} cores ({cpu_name}), Python {platform.python_version()}"),
        (
            "Broker",
            f"{mosquitto_version()}, set_tcp_nodelay {'true' if nodelay else 'false'};"
            " publisher TCP_NODELAY, QoS 1",
        ),
        ("Pinning", pin),
        ("Park", f"{plan.sensors:,} sensors, {len(site.enterprises)} gateways, batches of {ROWS}"),
        (f"Service throughput ({m:,} readings)", f"{fmt(thr['rate'])} readings/s"),
        ("Bare paho subscriber (orjson + len)", f"{fmt(raw['rate'])} readings/s"),
        ("Service / raw", f"{ratio:.2f}"),
        ("Publisher send rate", f"{fmt(thr['pub_rate'])} readings/s"),
        (
            f"Park load ({plan.sensors:,}/s for {plan.seconds} s)",
            f"kept up: {'yes' if kept else 'no'}, service CPU {lat['cpu_frac']:.0%} of a core",
        ),
        (
            "Latency p50 / p95 / p99 / max",
            f"{pct[0]:.1f} / {pct[1]:.1f} / {pct[2]:.1f} / {mx:.1f} ms",
        ),
        ("HH crossings alarmed", f"{ms.size} of {lat['injected']}"),
        ("Peak RSS, service process", f"{peak:.0f} MB (growth at park load {growth:+.0f} MB)"),
    ]
    print("\n6. Summary\n\n| Measure | Value |\n|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")


if __name__ == "__main__":
    main()
