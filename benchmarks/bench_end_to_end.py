"""Can one HazardWatch process carry a park of 20,000 sensors at 1 reading/s each?

One run, one embedded mosquitto (set_tcp_nodelay true) on loopback, one publisher process
(benchmarks/fleet_site.py: gateway batches of 100 readings, QoS 1, TCP_NODELAY, `ts` =
publish wall time); the service runs in this process, on its own thread and event loop.
  2. throughput  the publisher sends M readings as fast as it can; wall time from its first
                 publish until the service's detector has processed all M.
  3. baseline    the same, to a bare paho subscriber (QoS 1, same topic filter) that only
                 orjson-decodes each message and counts len(r). Live, both are bounded by
                 the publisher, so both are also measured draining the same M from a
                 backlog the broker queued for their persistent session (consumer-bound).
  4. latency     the park at 1 reading/s per sensor, paced evenly; once a second one sensor
                 jumps above HH: wall time the HH ACTIVATE event is emitted - the reading's ts.
  5. memory      peak RSS of this (the service) process; the publisher is another process.
Readings sit at each tank's level +-0.1 with no trend, so normal operation raises nothing;
--noise SD adds gaussian noise (and shows what the trend checks make of it). This process
is pinned to one core, publisher and mosquitto to the others (--no-pin). Prints numbers
and a markdown table; asserts nothing.

    python benchmarks/bench_end_to_end.py [--quick] [--sensors N] [--readings M]
        [--seconds S] [--noise SD] [--no-pin] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import resource
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import paho.mqtt.client as mqtt
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for benchmarks.fleet_site

from alerting import AlarmEvent, Event
from benchmarks.fleet_site import HH_VALUE, ROWS, PublisherProcess, build_site, connect
from hazardwatch.shell.broker import MAX_INFLIGHT, EmbeddedBroker, mosquitto_path
from hazardwatch.shell.service import Service, Settings
from hazardwatch.vocabulary.model import Condition, Site

MB = 1024 * 1024


# ------------------------------------------------------------------ the two consumers


class RawSubscriber:
    """Bare paho, QoS 1: orjson-decodes each message and counts len(r), nothing else."""

    def __init__(self, host: str, port: int, topic: str, expected: int) -> None:
        self.host, self.port, self.topic, self.expected = host, port, topic, expected
        self.client_id = f"bench-raw-{secrets.token_hex(3)}"
        self.readings, self.done_at = 0, 0.0
        self.done = threading.Event()
        self._client: mqtt.Client | None = None

    def open(self, clean: bool) -> None:
        """Connect and subscribe (bounded waits); a queued backlog starts flowing at CONNACK."""
        subscribed = threading.Event()
        self._client = connect(
            self.host,
            self.port,
            self.client_id,
            clean=clean,
            message=self._on_message,
            subscribe=lambda *_: subscribed.set(),
        )
        self._client.subscribe(self.topic, qos=1)
        if not subscribed.wait(10):
            raise RuntimeError("raw subscriber: no SUBACK within 10 s")

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self.readings += len(orjson.loads(msg.payload)["r"])
        if self.readings >= self.expected and not self.done.is_set():
            self.done_at = time.time()
            self.done.set()

    def close(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None


class ServiceThread:
    """The Service on its own event loop in a thread of this process; waits are bounded."""

    def __init__(
        self,
        site: Site,
        data_dir: Path,
        url: str,
        client_id: str,
        sinks: list[Callable[[list[AlarmEvent]], None]] | None = None,
        profile: bool = False,
    ) -> None:
        # The embedded mosquitto allows MAX_INFLIGHT unacknowledged messages: hold as many.
        settings = Settings(
            broker_url=url, data_dir=data_dir, client_id=client_id, ack_window=MAX_INFLIGHT
        )
        self.activations: Counter[str] = Counter()  # alarm ACTIVATE events by condition
        self.service = Service(site, settings, sinks=[self._count, *(sinks or [])])
        self.profile_text = ""
        self.rss_peak = 0.0  # highest RSS sampled while waiting for readings, MB
        self.error: BaseException | None = None
        self._profile = profile
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._running = threading.Event()
        self._thread = threading.Thread(target=self._run, name="service")
        self.started_at = time.time()
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self.service._health()["broker"]["connected"]:
            if self.error or not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"service did not subscribe within 20 s: {self.error!r}")
            time.sleep(0.005)

    def _count(self, events: list[AlarmEvent]) -> None:
        for e in events:
            if e.event is Event.ACTIVATE:
                self.activations[e.alarm.condition.label] += 1

    def _run(self) -> None:
        async def main() -> None:
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            self._running.set()
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
            self._running.set()
            if profiler is not None:
                profiler.stop()
                tree = profiler.output_text(unicode=False, color=False)
                flat = profiler.output_text(unicode=False, color=False, flat=True)
                # the flat view names the library frames (aiomqtt, paho) the tree hides
                self.profile_text = tree + "\n".join(flat.splitlines()[:32])

    @property
    def readings(self) -> int:
        return int(self.service.detector.stats["readings"])

    def wait_readings(self, expected: int, timeout_s: float) -> float | None:
        """Wall time by which the detector had processed `expected` readings; None on timeout.

        Polls every 10 ms, so the time is late by up to that; samples RSS every 100 ms.
        """
        deadline = time.monotonic() + timeout_s
        polls = 0
        while self.readings < expected:
            if time.monotonic() > deadline or not self._thread.is_alive():
                return None
            time.sleep(0.01)
            polls += 1
            if polls % 10 == 0:
                self.rss_peak = max(self.rss_peak, rss_mb())
        return time.time()

    def stop(self, timeout_s: float = 90) -> float:
        """Stop, flushing the reading store; returns how long the shutdown took."""
        t = time.monotonic()
        self._running.wait(10)
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop closed on its own meanwhile
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise RuntimeError(f"service thread still running {timeout_s:.0f} s after stop")
        return time.monotonic() - t


def forget_session(host: str, port: int, client_id: str) -> None:
    """Drop a persistent session, so the broker stops queueing for a consumer that left."""
    client = connect(host, port, client_id, clean=True)
    client.disconnect()
    client.loop_stop()


# ------------------------------------------------------------------ measuring


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / MB


def cpu_s() -> float:
    t = psutil.Process().cpu_times()
    return t.user + t.system


def thread_cpu() -> dict[str, float]:
    """CPU seconds per thread name of this process (threads of one name summed)."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = {}
    for t in psutil.Process().threads():
        name = names.get(t.id, "other")
        out[name] = out.get(name, 0.0) + t.user_time + t.system_time
    return out


@dataclass
class CpuMeter:
    """CPU of this process over a stretch of wall time, in total and by thread."""

    wall: float = field(default_factory=time.time)
    cpu: float = field(default_factory=cpu_s)
    threads: dict[str, float] = field(default_factory=thread_cpu)

    def read(self) -> tuple[float, str]:
        """(fraction of one core, "thread s, ..." busiest first)."""
        wall, cpu, threads = time.time() - self.wall, cpu_s() - self.cpu, thread_cpu()
        used = sorted(((v - self.threads.get(k, 0.0), k) for k, v in threads.items()), reverse=True)
        split = ", ".join(f"{k} {v:.1f} s" for v, k in used if v >= 0.05) or "none"
        return cpu / wall, split


def _rate(n: int, t0: float, t1: float | None) -> float:
    return n / (t1 - t0) if t1 is not None and t1 > t0 else float("nan")


def _changes(r: dict[str, Any]) -> int:
    return int(r["health"]["detector"]["changes"])


def _alarms(r: dict[str, Any]) -> str:
    """Alarm activations by condition, most first."""
    counts: Counter[str] = r["activations"]
    return ", ".join(f"{k} {n:,}" for k, n in counts.most_common()) or "none"


def _timeout(m: int) -> float:
    return 30 + m / 20_000


def per_s(r: dict[str, Any], m: int) -> str:
    if r["rate"] == r["rate"]:
        return f"{r['rate']:,.0f} readings/s"
    t = _timeout(m)
    return f"did not finish: {r['processed']:,} of {m:,} in {t:.0f} s ({r['processed'] / t:,.0f}/s)"


def ratio(a: dict[str, Any], b: dict[str, Any]) -> str:
    x = a["rate"] / b["rate"]
    return "n/a" if x != x else f"{x:.2f}"


def raw_burst(
    pub: PublisherProcess, broker: tuple[str, int], topic: str, m: int, backlog: bool
) -> dict[str, Any]:
    """The bare subscriber through M readings, live or from a queued backlog."""
    sub = RawSubscriber(*broker, topic, m)
    try:
        if backlog:
            sub.open(clean=False)
            sub.close()  # from here the broker queues for its session
            pub.ask("burst", m)
            p = pub.reply(_timeout(m))
            start = time.time()
            sub.open(clean=False)
        else:
            sub.open(clean=True)
            pub.ask("burst", m)
        sub.done.wait(_timeout(m))
        if not backlog:
            p = pub.reply(_timeout(m))
            start = p["t_first"]
    finally:
        sub.close()
        if backlog:
            forget_session(*broker, sub.client_id)
    done = sub.done_at if sub.done.is_set() else None
    return {
        "rate": _rate(m, start, done),
        "processed": sub.readings,
        "pub_rate": _rate(m, p["t_first"], p["t_acked"]),
    }


def service_burst(
    pub: PublisherProcess,
    site: Site,
    tmp: Path,
    broker: tuple[str, int],
    m: int,
    backlog: bool,
    profile: bool,
) -> dict[str, Any]:
    """The service through M readings, live or from a backlog queued while it was down."""
    cid = f"bench-svc-{secrets.token_hex(3)}"
    url, data_dir = f"mqtt://{broker[0]}:{broker[1]}", tmp / cid
    p: dict[str, Any] | None = None
    if backlog:
        ServiceThread(site, data_dir, url, cid).stop()  # its persistent session stays
        pub.ask("burst", m)
        p = pub.reply(_timeout(m))
    rss0, meter = rss_mb(), CpuMeter()
    svc = ServiceThread(site, data_dir, url, cid, profile=profile)
    try:
        if not backlog:
            pub.ask("burst", m)
        done = svc.wait_readings(m, _timeout(m))
        cpu_frac, threads = meter.read()
        health = svc.service._health()
        if p is None:
            p = pub.reply(_timeout(m))
    finally:
        shutdown_s = svc.stop()
        forget_session(*broker, cid)
    start = svc.started_at if backlog else p["t_first"]
    return {
        "rate": _rate(m, start, done),
        "drain_s": None if done is None else done - start,
        "processed": health["detector"]["readings"],
        "pub_rate": _rate(m, p["t_first"], p["t_acked"]),
        "cpu_frac": cpu_frac,
        "threads": threads,
        "health": health,
        "shutdown_s": shutdown_s,
        "rss": (rss0, svc.rss_peak, rss_mb()),
        "profile": svc.profile_text,
        "error": svc.error,
        "activations": svc.activations,
    }


def park_load(
    pub: PublisherProcess,
    site: Site,
    tmp: Path,
    broker: tuple[str, int],
    seconds: int,
    profile: bool,
) -> dict[str, Any]:
    """The park at 1 Hz with one HH crossing a second; latency from each crossing's ts."""
    hits: list[tuple[float, str, float]] = []  # (emitted, tag, reading ts)

    def sink(events: list[AlarmEvent]) -> None:
        now = time.time()
        for e in events:
            if e.event is Event.ACTIVATE and e.alarm.condition is Condition.HH:
                hits.append((now, e.alarm.tag, e.alarm.changed_ts))

    cid = f"bench-lat-{secrets.token_hex(3)}"
    url = f"mqtt://{broker[0]}:{broker[1]}"
    rss0 = rss_mb()
    svc = ServiceThread(site, tmp / cid, url, cid, sinks=[sink], profile=profile)
    samples: list[float] = []
    try:
        rss1, meter = rss_mb(), CpuMeter()
        pub.ask("paced", seconds)
        deadline = time.monotonic() + seconds + 30
        while not pub.conn.poll(0.5) and time.monotonic() < deadline:
            samples.append(rss_mb())
        p = pub.reply(5)
        backlog = p["readings"] - svc.readings  # not yet processed at the last PUBACK
        done = svc.wait_readings(p["readings"], 15)
        cpu_frac, threads = meter.read()
        health = svc.service._health()
    finally:
        shutdown_s = svc.stop()
    emitted = {(tag, round(ts, 6)): at - ts for at, tag, ts in hits}
    lat = [emitted[k] for t, ts in p["crossings"] if (k := (t, round(ts, 6))) in emitted]
    return {
        "lat_ms": np.array(lat) * 1000,
        "injected": len(p["crossings"]),
        "hh": len(hits),
        "sent": p["readings"],
        "processed": health["detector"]["readings"],
        "backlog": backlog,
        "catch_up_s": None if done is None else done - (p["t_acked"] or p["t_queued"]),
        "late_max_s": p["late_max_s"],
        "cpu_frac": cpu_frac,
        "threads": threads,
        "health": health,
        "shutdown_s": shutdown_s,
        "rss": (rss0, rss1, max(samples, default=rss1), rss_mb()),
        "pub_maxrss_mb": p["maxrss_mb"],
        "profile": svc.profile_text,
        "error": svc.error,
        "activations": svc.activations,
    }


# ------------------------------------------------------------------ the run


def pin_all_threads(cpus: set[int]) -> None:
    """Pin every thread of this process; threads started later inherit it."""
    for tid in os.listdir("/proc/self/task"):
        os.sched_setaffinity(int(tid), cpus)


def mosquitto_version() -> str:
    try:
        out = subprocess.run(
            [mosquitto_path() or "mosquitto", "-h"], capture_output=True, timeout=5, text=True
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "mosquitto"
    return out.splitlines()[0].replace(" version", "").strip() if out else "mosquitto"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def fmt(x: float) -> str:
    return "n/a" if x != x else f"{x:,.0f}"


@dataclass
class Plan:
    sensors: int
    readings: int
    seconds: int
    noise_sd: float
    stale_periods: float
    pin: bool
    profile: bool


def parse_args() -> Plan:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="5,000 sensors, 200,000 readings, 10 s")
    ap.add_argument("--sensors", type=int, help="park size (default 20,000)")
    ap.add_argument(
        "--readings",
        type=int,
        help="throughput burst (default 2,000,000; at most 10,000,000, which is what mosquitto"
        " queues for an offline session: max_queued_messages 100,000 batches)",
    )
    ap.add_argument("--seconds", type=int, help="park-load latency run (default 30)")
    ap.add_argument(
        "--stale-periods",
        type=float,
        default=3.0,
        help="silent periods (of 5 s) before COMM_LOSS (default 3); raise it to time the"
        " processing alone when a burst falls behind by more than the stale window",
    )
    ap.add_argument(
        "--noise", type=float, default=0.0, help="add gaussian noise of this sd to every reading"
    )
    ap.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    ap.add_argument("--profile", action="store_true", help="pyinstrument on the service thread")
    a = ap.parse_args()
    return Plan(
        sensors=a.sensors or (5_000 if a.quick else 20_000),
        readings=a.readings or (200_000 if a.quick else 2_000_000),
        seconds=a.seconds or (10 if a.quick else 30),
        noise_sd=a.noise,
        stale_periods=a.stale_periods,
        pin=not a.no_pin,
        profile=a.profile,
    )


def run(
    plan: Plan, site: Site, tmp: Path, broker: tuple[str, int], pub: PublisherProcess
) -> tuple[list[tuple[str, str]], tuple[dict[str, Any], ...]]:
    """Every measurement, each printed as soon as it is done; summary rows and results."""
    m, topic = plan.readings, f"{site.root_topic}/#"
    rows: list[tuple[str, str]] = []
    live = service_burst(pub, site, tmp, broker, m, backlog=False, profile=plan.profile)
    h = live["health"]
    print(f"\n2. Throughput, live: {m:,} readings in batches of {ROWS}, publisher at full speed")
    print(
        f"   service: {per_s(live, m)} (detector processed {live['processed']:,});"
        f" publisher sent {fmt(live['pub_rate'])} readings/s (until the last PUBACK)"
    )
    print(
        f"   this process: {live['cpu_frac']:.0%} of one core; by thread: {live['threads']};"
        f" rejected {h['ingest']['rejected_total']}; condition changes {_changes(live):,},"
        f" alarms raised: {_alarms(live)}"
    )
    print(
        f"   reading store: {h['store']['written']:,} written when the detector was done,"
        f" the rest flushed on stop in {live['shutdown_s']:.1f} s"
    )
    raw = raw_burst(pub, broker, topic, m, backlog=False)
    print(
        "3. Baseline: bare paho subscriber, QoS 1, same topic filter, publisher and payloads;"
        " it orjson-decodes each message and counts len(r)"
    )
    print(
        f"   live: {per_s(raw, m)} (publisher {fmt(raw['pub_rate'])}); service/raw"
        f" {ratio(live, raw)}"
    )
    raw_q = raw_burst(pub, broker, topic, m, backlog=True)
    svc_q = service_burst(pub, site, tmp, broker, m, backlog=True, profile=plan.profile)
    print(
        f"   from a backlog ({m:,} readings queued by the broker for the consumer's persistent"
        f" session, timed from its reconnect): raw {per_s(raw_q, m)}, service"
        f" {per_s(svc_q, m)}, service/raw {ratio(svc_q, raw_q)}"
    )
    print(
        f"   service from the backlog: {svc_q['cpu_frac']:.0%} of one core, by thread:"
        f" {svc_q['threads']}; condition changes {_changes(svc_q):,}, alarms raised:"
        f" {_alarms(svc_q)}"
    )
    for name, r in (("live", live), ("backlog", svc_q)):
        if r["activations"].get("comm_loss"):
            print(
                f"   note ({name}): the service fell more than the {5 * plan.stale_periods:g} s"
                " stale window"
                " behind the readings still queued for it, so the stale check raised COMM_LOSS"
                " for sensors that were not silent, and their next readings cleared it again"
            )
    rows += [
        (f"Service, live ({m:,} readings)", per_s(live, m)),
        ("Bare paho subscriber, live", per_s(raw, m)),
        ("Publisher send rate", f"{fmt(live['pub_rate'])} readings/s"),
        ("Service / raw, live", ratio(live, raw)),
        ("Service, from a backlog", per_s(svc_q, m)),
        ("Bare paho subscriber, from a backlog", per_s(raw_q, m)),
        ("Service / raw, from a backlog", ratio(svc_q, raw_q)),
    ]
    lat = park_load(pub, site, tmp, broker, plan.seconds, plan.profile)
    ms = lat["lat_ms"]
    pct = [*np.percentile(ms, [50, 95, 99]), ms.max()] if ms.size else [float("nan")] * 4
    kept = lat["processed"] >= lat["sent"]
    catch = "never (15 s)" if lat["catch_up_s"] is None else f"{lat['catch_up_s'] * 1000:.0f} ms"
    print(
        f"4. Latency at park load: {plan.sensors:,} readings/s (~{plan.sensors // ROWS} batches/s"
        f" paced evenly) for {plan.seconds} s; one sensor a second jumps to {HH_VALUE:g} (> HH)"
    )
    print(
        "   publish -> HH ACTIVATE emitted: p50 {:.1f} ms, p95 {:.1f} ms, p99 {:.1f} ms,"
        " max {:.1f} ms".format(*pct)
    )
    print(
        f"   crossings injected {lat['injected']}, alarmed {ms.size} (HH activations"
        f" {lat['hh']}); condition changes {_changes(lat):,}, alarms raised: {_alarms(lat)}"
    )
    print(
        f"   kept up: {'yes' if kept else 'NO'}: processed {lat['processed']:,} of"
        f" {lat['sent']:,} sent; {lat['backlog']:,} unprocessed at the last PUBACK, done {catch}"
        f" later; publisher pacing at most {lat['late_max_s'] * 1000:.1f} ms late"
    )
    print(f"   this process: {lat['cpu_frac']:.0%} of one core; by thread: {lat['threads']}")
    rows += [
        (
            f"Park load ({plan.sensors:,} readings/s, {plan.seconds} s)",
            f"kept up: {'yes' if kept else 'NO'}, {lat['cpu_frac']:.0%} of one core",
        ),
        ("Latency p50 / p95 / p99 / max", "{:.1f} / {:.1f} / {:.1f} / {:.1f} ms".format(*pct)),
        ("HH crossings alarmed", f"{ms.size} of {lat['injected']}"),
    ]
    for name, r in (("live throughput", live), ("backlog", svc_q), ("park load", lat)):
        if r["error"] is not None:
            print(f"   service error in the {name} run: {r['error']!r}")
        if r["profile"]:
            print(f"\n--- pyinstrument, service thread, {name} ---\n{r['profile']}")
    return rows, (live, svc_q, lat)


def main() -> None:
    plan = parse_args()
    cores = sorted(os.sched_getaffinity(0))
    others = set(cores[1:]) if plan.pin and len(cores) >= 2 else None
    if others:
        pin_all_threads({cores[0]})
    t = time.perf_counter()
    site = build_site(plan.sensors, stale_periods=plan.stale_periods)
    print(
        f"1. Site: {plan.sensors:,} level sensors (one per tank), {len(site.enterprises)}"
        " enterprises x 1 gateway; range 0-100, h 80 hh 90 l 10 ll 5, deadband 1, no delays,"
        f" period 5 s, stale after {plan.stale_periods:g} periods, not latched; built in"
        f" {time.perf_counter() - t:.2f} s"
    )
    rss_start, load_start = rss_mb(), os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="hw-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with EmbeddedBroker(tmp / "broker", kind="mosquitto") as broker:
            nodelay = "set_tcp_nodelay true" in (tmp / "broker" / "mosquitto.conf").read_text()
            mosq = [c for c in psutil.Process().children() if "mosquitto" in c.name()]
            for c in mosq if others else ():
                os.sched_setaffinity(c.pid, others)
            addr = (broker.host, broker.port)
            pub = PublisherProcess(*addr, site, others, plan.noise_sd)
            try:
                rows, (live, svc_q, lat) = run(plan, site, tmp, addr, pub)
                mosq_rss = sum(c.memory_info().rss for c in mosq if c.is_running()) / MB
            finally:
                pub.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load_end = os.getloadavg()[0]
    r0, r1, r_peak, r2 = lat["rss"]
    print(
        f"5. Memory of this (the service) process; the publisher is another process"
        f" (peak {lat['pub_maxrss_mb']:.0f} MB), mosquitto a third ({mosq_rss:.0f} MB at the end)"
    )
    print(
        f"   peak RSS (ru_maxrss, whole run) {peak:.0f} MB; {rss_start:.0f} MB before any"
        " service. Park load: {:.0f} MB before the service, {:.0f} once subscribed (its"
        " footprint {:+.0f} MB), highest sample {:.0f}, {:.0f} after {} s (growth {:+.0f} MB)."
        " Bursts (before -> highest sample -> after): live {:.0f} -> {:.0f} -> {:.0f} MB,"
        " backlog {:.0f} -> {:.0f} -> {:.0f} MB".format(
            r0, r1, r1 - r0, r_peak, r2, plan.seconds, r2 - r1, *live["rss"], *svc_q["rss"]
        )
    )
    pin = f"service process on CPU {cores[0]}, publisher + mosquitto on {sorted(others)}"
    head = [
        (
            "Machine",
            f"{os.cpu_count()} cores ({cpu_model()}), Python {platform.python_version()},"
            f" load average {load_start:.1f} at start, {load_end:.1f} at end",
        ),
        (
            "Broker",
            f"{mosquitto_version()}, set_tcp_nodelay {str(nodelay).lower()};"
            " publisher TCP_NODELAY; QoS 1",
        ),
        ("Pinning", pin if others else "none"),
        ("Park", f"{plan.sensors:,} sensors, {len(site.enterprises)} gateways, batches of {ROWS}"),
    ]
    tail = [
        (
            "Peak RSS, service process",
            f"{peak:.0f} MB; at park load {r1:.0f} MB at start, {r2 - r1:+.0f} MB"
            f" over {plan.seconds} s",
        )
    ]
    print("\n6. Summary\n\n| Measure | Value |\n|---|---|")
    for k, v in head + rows + tail:
        print(f"| {k} | {v} |")


if __name__ == "__main__":
    main()
