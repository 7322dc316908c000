"""How fast does ingest decode gateway batches? Prints readings/s; asserts nothing.

Baseline: plain `json.loads` + one dict lookup per row into numpy, with no validation.
Run: .venv/bin/python benchmarks/bench_decode.py
"""

from __future__ import annotations

import gc
import json
import sys
import time
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.factories

from hazardwatch.vocabulary.model import Limits, Sensor, SensorTable, Site
from ingest import Decoder
from tests import factories

N_SENSORS = 10_000
ROWS = 100
MESSAGES = 5_000
NOW = 1_763_800_000.0


def site() -> Site:
    def level(tag: str) -> Sensor:
        return factories.sensor(tag, hi=20.0, limits=Limits(hh=18.0), deadband=0.5, latch=False)

    units = tuple(
        factories.unit(f"T{u}", *(level(f"T{u}.S{i}") for i in range(10)), substance="oil")
        for u in range(N_SENSORS // 10)
    )
    hs = factories.hazard_source("hs", *units, name="farm")
    return factories.site(factories.enterprise("ent1", hs, name="E1"), park="bench")


def payloads(table: SensorTable, timestamps: bool, sweeps: bool = False) -> list[bytes]:
    """Random tags in each message, or (`sweeps`) gateways sweeping their tags in chunks of
    ROWS in one order, as the Node-RED peer's publisher and real gateways do."""
    rng = np.random.default_rng(1)
    order = rng.permutation(table.n)
    chunks = table.n // ROWS
    out = []
    for m in range(MESSAGES):
        if sweeps:
            idx = order[(m % chunks) * ROWS : (m % chunks + 1) * ROWS]
        else:
            idx = rng.choice(table.n, ROWS, replace=False)
        vals = rng.uniform(0, 20, ROWS).round(3)
        if timestamps:
            rows = [
                [table.tags[i], float(v), NOW - 1 + j * 1e-3]
                for j, (i, v) in enumerate(zip(idx, vals, strict=True))
            ]
        else:
            rows = [[table.tags[i], float(v)] for i, v in zip(idx, vals, strict=True)]
        out.append(json.dumps({"ts": NOW - m * 1e-3, "r": rows}).encode())
    return out


def baseline(table: SensorTable, msgs: list[bytes], loads=json.loads) -> int:  # type: ignore[no-untyped-def]
    index = table.tag_index
    n = 0
    for p in msgs:
        obj = loads(p)
        sensors, values = [], []
        for tag, v, *_ in obj["r"]:
            sensors.append(index[tag])
            values.append(v)
        n += len(np.array(sensors, np.int64)) + 0 * len(np.array(values, np.float64))
    return n


def ours(decoder: Decoder, msgs: list[bytes]) -> int:
    n = 0
    for p in msgs:
        n += len(decoder.decode("hw/ent1/_batch/gw1", p, NOW).batch)
    return n


def rate(fn, *args) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(3):
        t0 = time.process_time()
        n = fn(*args)
        best = min(best, time.process_time() - t0)
    return n / best


def main() -> None:
    table = SensorTable.from_site(site())
    decoder = Decoder(table)
    gc.freeze()  # what the service does after start-up: keep the cyclic GC off the config
    print(f"{MESSAGES} gateway batches of {ROWS} readings, {table.n} sensors (best of 3, CPU time)")
    for label, with_ts, sweeps in (
        ("[tag, v] + batch ts", False, False),
        ("[tag, v, ts]", True, False),
        ("swept [tag, v]", False, True),
    ):
        msgs = payloads(table, with_ts, sweeps)
        base = rate(baseline, table, msgs)
        raw = rate(baseline, table, msgs, orjson.loads)
        fast = rate(ours, decoder, msgs)
        print(
            f"  {label:20s} json+lookup {base / 1e6:5.2f} M/s | orjson+lookup {raw / 1e6:5.2f} M/s"
            f" | ingest.Decoder (validated) {fast / 1e6:5.2f} M/s = {fast / base:4.2f}x json"
        )
    singles = [json.dumps({"v": 1.5, "ts": NOW - 1}).encode() for _ in range(50_000)]
    t0 = time.process_time()
    for p in singles:
        decoder.decode("hw/ent1/T7.S3", p, NOW)
    dt = time.process_time() - t0
    print(f"  single-reading messages: {len(singles) / dt / 1e3:6.1f} k messages/s")


if __name__ == "__main__":
    main()
