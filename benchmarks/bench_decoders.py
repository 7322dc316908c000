"""Are the ThingsBoard and Sparkplug B decoders as fast as wire format v1's? Readings/s of
100-reading messages of each, in the same run; the target is at least half of v1's rate.
Prints; asserts nothing.

- wire format v1: gateway batches ``{"ts", "r": [[tag, v, ts], ...]}``
- ThingsBoard: ``v1/gateway/telemetry`` of 25 devices x 4 keys, each device one ``{ts, values}``
- Sparkplug B: NDATA of 100 metrics by alias, each with its timestamp, after the NBIRTH

Run: .venv/bin/python benchmarks/bench_decoders.py
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.factories

from benchmarks.bench_decode import site
from hazardwatch.vocabulary.inputs import (
    SparkplugInput,
    SparkplugNode,
    ThingsBoardGateway,
    ThingsBoardInput,
)
from hazardwatch.vocabulary.model import SensorTable
from ingest import Decoder, SparkplugDecoder, ThingsBoardDecoder
from ingest.sparkplug_b_pb2 import Payload

ROWS = 100
MESSAGES = 3_000
NOW = 1_763_800_000.0
KEYS = ("level", "temperature", "pressure", "lel")


def v1_messages(table: SensorTable, rng: np.random.Generator) -> list[bytes]:
    out = []
    for m in range(MESSAGES):
        idx = rng.choice(table.n, ROWS, replace=False)
        rows = [
            [table.tags[i], round(float(rng.uniform(0, 20)), 3), NOW - 1 - m * 1e-3] for i in idx
        ]
        out.append(orjson.dumps({"ts": NOW - m * 1e-3, "r": rows}))
    return out


def tb_setup(table: SensorTable) -> tuple[ThingsBoardDecoder, list[str]]:
    """Devices of 4 keys over the table's sensors, in order."""
    devices = {
        f"D{d}": {key: table.tags[4 * d + k] for k, key in enumerate(KEYS)}
        for d in range(table.n // 4)
    }
    gateway = ThingsBoardGateway("TOKEN", "gw", devices)
    return ThingsBoardDecoder(table, ThingsBoardInput((gateway,))), list(devices)


def tb_messages(names: list[str], rng: np.random.Generator) -> list[bytes]:
    out = []
    for m in range(MESSAGES):
        chosen = rng.choice(len(names), ROWS // len(KEYS), replace=False)
        ts = int((NOW - 1 - m * 1e-3) * 1000)
        body = {
            names[d]: [{"ts": ts, "values": {k: round(float(rng.uniform(0, 20)), 3) for k in KEYS}}]
            for d in chosen
        }
        out.append(orjson.dumps(body))
    return out


def spb_setup(table: SensorTable) -> tuple[SparkplugDecoder, bytes]:
    """One node whose metrics are all the table's sensors, born (aliases 1..n)."""
    node = SparkplugNode("G", "N", metrics={f"M{i}": tag for i, tag in enumerate(table.tags)})
    decoder = SparkplugDecoder(table, SparkplugInput((node,)))
    birth = Payload(timestamp=int(NOW * 1000), seq=0)
    for i in range(table.n):
        metric = birth.metrics.add()
        metric.name, metric.alias, metric.datatype, metric.double_value = f"M{i}", i + 1, 10, 1.0
    return decoder, birth.SerializeToString()


def spb_messages(table: SensorTable, rng: np.random.Generator) -> list[bytes]:
    out = []
    for m in range(MESSAGES):
        payload = Payload(timestamp=int(NOW * 1000), seq=(m + 1) % 256)
        ts = int((NOW - 1 - m * 1e-3) * 1000)
        for i in rng.choice(table.n, ROWS, replace=False):
            metric = payload.metrics.add()
            metric.alias, metric.timestamp = int(i) + 1, ts
            metric.double_value = round(float(rng.uniform(0, 20)), 3)
        out.append(payload.SerializeToString())
    return out


Case = tuple[Callable[[bytes], int], list[bytes], Callable[[], None]]


def rates(cases: list[Case]) -> list[float]:
    """Readings per CPU second of each case, best of 5 rounds; the cases take turns in each
    round, so a machine whose load changes meanwhile slows them alike (CPU time, not wall
    time: on a shared machine other processes' turns do not count)."""
    best = [float("inf")] * len(cases)
    counts = [0] * len(cases)
    for _ in range(5):
        for k, (decode, msgs, before) in enumerate(cases):
            before()
            t0 = time.process_time()
            counts[k] = sum(decode(p) for p in msgs)
            best[k] = min(best[k], time.process_time() - t0)
    return [n / t for n, t in zip(counts, best, strict=True)]


def main() -> None:
    table = SensorTable.from_site(site())
    rng = np.random.default_rng(1)
    v1 = Decoder(table)
    tb, names = tb_setup(table)
    spb, birth = spb_setup(table)
    v1_msgs, tb_msgs, spb_msgs = (
        v1_messages(table, rng),
        tb_messages(names, rng),
        spb_messages(table, rng),
    )
    gc.freeze()  # what the service does after start-up: keep the cyclic GC off the config

    def v1_one(p: bytes) -> int:
        return len(v1.decode("hw/ent1/_batch/gw1", p, NOW).batch)

    def tb_one(p: bytes) -> int:
        return len(tb.decode("v1/gateway/telemetry", p, NOW).batch)

    def spb_one(p: bytes) -> int:
        return len(spb.decode("spBv1.0/G/NDATA/N", p, NOW).batch)

    def rebirth() -> None:  # every run starts from the birth, in sequence
        spb.decode("spBv1.0/G/NBIRTH/N", birth, NOW)

    def nothing() -> None:
        pass

    base, tb_rate, spb_rate = rates(
        [(v1_one, v1_msgs, nothing), (tb_one, tb_msgs, nothing), (spb_one, spb_msgs, rebirth)]
    )
    print(f"{MESSAGES} messages of {ROWS} readings each, {table.n} sensors (best of 5, in turns)")
    print(f"  wire format v1 batch     {base / 1e6:5.2f} M readings/s   (baseline)")
    for label, r in (("ThingsBoard telemetry", tb_rate), ("Sparkplug B NDATA", spb_rate)):
        print(f"  {label:24s} {r / 1e6:5.2f} M readings/s   = {r / base:4.2f} x v1")


if __name__ == "__main__":
    main()
