"""Can one process put a 100,000-sensor park on the air at 1 Hz per sensor, steadily?

Generates a park (`simulators.generate_site`), starts mosquitto (`EmbeddedBroker`), and runs
the fleet publisher in this process for `--seconds` at `--rate-hz` ticks a second, once per
QoS asked; a bare paho subscriber in another process counts the readings that arrive. Prints
the rate asked, the rates published and received, how late ticks started against their
schedule, and the publisher's CPU. The baselines, from the same run: the cost of one tick of
physics alone and of encoding one tick's batches alone, so the ratio shows where time goes.
No asserts: it reports. `--profile` writes a pyinstrument profile of the publisher.

    python benchmarks/bench_fleet.py [--sensors 100000] [--rate-hz 1] [--seconds 20] [--qos 0 1]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hazardwatch.shell.broker import EmbeddedBroker
from hazardwatch.vocabulary.model import Site
from simulators import FleetPublisher, generate_site, parse_broker_url

ENTERPRISES = 100


def sized_site(sensors: int, seed: int) -> Site:
    """A generated park of about `sensors` sensors over ENTERPRISES enterprises."""
    probe = generate_site(ENTERPRISES, 10, seed=seed)
    per_tank = len(probe.iter_sensors()) / (ENTERPRISES * 10)
    tanks = max(1, round(sensors / (ENTERPRISES * per_tank)))
    return generate_site(ENTERPRISES, tanks, seed=seed)


def subscriber(url: str, topic: str, conn: Connection) -> None:
    """Count readings (rows of gateway batches) until told to stop; send (count, first, last)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    host, port = parse_broker_url(url)
    counts = {"readings": 0, "messages": 0, "first": 0.0, "last": 0.0}

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        if not counts["messages"]:
            counts["first"] = now
        counts["last"] = now
        counts["messages"] += 1
        counts["readings"] += msg.payload.count(b'["')  # each row opens with `["`

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-sub-{time.time_ns()}")
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda c, u, mid, rcs, p: conn.send("ready")
    client.on_message = on_message
    client.connect(host, port)
    client.loop_start()
    conn.recv()  # "stop"
    time.sleep(1.0)  # let the tail of the run arrive
    client.disconnect()
    client.loop_stop()
    conn.send(counts)


def baselines(site: Site, rate_hz: float) -> tuple[float, float]:
    """Seconds per tick of the physics alone, and of the physics plus batch encoding."""
    fleet = FleetPublisher(site, "mqtt://127.0.0.1:1", rate_hz=rate_hz, seed=2)
    gateways = [fleet.link(key) for key in fleet.gateways]
    physics, encode = [], []
    for _ in range(5):
        t0 = time.perf_counter()
        sensors, values = fleet.script.tick(1.0 / rate_hz)
        t1 = time.perf_counter()
        latest = np.full(fleet.farm.n_sensors, np.nan)
        latest[sensors] = values
        for gw in gateways:
            gw.batch_payloads(fleet.farm.ts, np.nan_to_num(latest[gw.sensors]))
        t2 = time.perf_counter()
        physics.append(t1 - t0)
        encode.append(t2 - t1)
    return float(np.median(physics)), float(np.median(encode))


def run_once(site: Site, url: str, rate_hz: float, seconds: float, qos: int, profile: bool) -> None:
    ctx = mp.get_context("spawn")
    mine, theirs = ctx.Pipe()
    sub = ctx.Process(target=subscriber, args=(url, "hw/+/_batch/+", theirs), daemon=True)
    sub.start()
    if not mine.poll(30):
        raise SystemExit("the subscriber did not subscribe within 30 s")
    mine.recv()
    fleet = FleetPublisher(site, url, rate_hz=rate_hz, qos=qos, seed=1)
    fleet.connect()
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler()
        profiler.start()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    try:
        stats = fleet.run(duration_s=seconds)
    finally:
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        fleet.close()
        mine.send("stop")
    got = mine.recv() if mine.poll(30) else {"readings": 0, "first": 0.0, "last": 0.0}
    sub.join(10)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    wall = stats["wall_elapsed_s"]
    asked = stats["sensors"] * rate_hz
    # The subscriber sees `ticks` ticks from the first tick's arrival to the last's.
    window = got["last"] - got["first"] + 1.0 / rate_hz
    late, busy = stats["tick_lateness_s"], stats["tick_busy_s"]
    print(f"\nQoS {qos}: {stats['ticks']} ticks in {wall:.1f} s")
    print(f"  asked      {asked:>12,.0f} readings/s")
    published = stats["published_readings"] / wall
    print(f"  published  {published:>12,.0f} readings/s  ({published / asked:.1%} of asked)")
    received = got["readings"] / window
    print(
        f"  received   {received:>12,.0f} readings/s  "
        f"({got['readings']:,} of {stats['published_readings']:,} published)"
    )
    print(
        "  tick lateness  p50 {p50:.4f} s  p90 {p90:.4f} s  p99 {p99:.4f} s  max {mx:.4f} s; "
        "ticks skipped ahead {skip}".format(
            p50=late["p50"], p90=late["p90"], p99=late["p99"], mx=late["max"],
            skip=stats["late_ticks"],
        )
    )  # fmt: skip
    print(
        "  tick busy      p50 {p50:.4f} s  p90 {p90:.4f} s  p99 {p99:.4f} s  max {mx:.4f} s".format(
            p50=busy["p50"], p90=busy["p90"], p99=busy["p99"], mx=busy["max"]
        )
    )
    print(f"  publisher CPU {cpu:.1f} s over {wall:.1f} s wall = {cpu / wall:.0%} of one core")
    print(f"  messages {stats['published_messages']:,}, errors {stats['publish_errors']}")
    if profiler is not None:
        profiler.stop()
        out = Path(tempfile.gettempdir()) / f"bench_fleet_qos{qos}.txt"
        out.write_text(profiler.output_text(unicode=False, color=False))
        print(f"  profile: {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sensors", type=int, default=100_000)
    ap.add_argument("--rate-hz", type=float, default=1.0, help="ticks a second (all sensors)")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--qos", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()

    t0 = time.perf_counter()
    site = sized_site(args.sensors, args.seed)
    n = len(site.iter_sensors())
    gateways = len({(e.id, u.gateway) for e, _, u, _ in site.iter_sensors()})
    print(
        f"park: {len(site.enterprises)} enterprises, {n:,} sensors, {gateways} gateways "
        f"(generated in {time.perf_counter() - t0:.1f} s)"
    )
    physics_s, encode_s = baselines(site, args.rate_hz)
    period = 1.0 / args.rate_hz
    print(
        f"baseline per tick: physics {physics_s * 1e3:.1f} ms, batch encoding "
        f"{encode_s * 1e3:.1f} ms = {(physics_s + encode_s) / period:.0%} of the "
        f"{period * 1e3:.0f} ms tick budget (no broker)"
    )
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        with EmbeddedBroker(Path(tmp), kind="mosquitto") as broker:
            for qos in args.qos:
                run_once(site, broker.url, args.rate_hz, args.seconds, qos, args.profile)


if __name__ == "__main__":
    main()
