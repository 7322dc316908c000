"""How fast do readings reach VictoriaMetrics through InfluxStore, and the spool? Asserts nothing.

Baselines from the same run: the raw `influxdb-client` write of the same points, both as
line protocol built beforehand (the transport alone) and as `Point` objects (what a
straightforward client integration does). Spool: append with an fsync per batch, and
drain into a no-op writer. Medians of `--repeat` runs.
Run: /tmp/hwvenv/bin/python benchmarks/bench_store.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.victoria

from hazardwatch.model import Batch
from hazardwatch.storage import InfluxSettings, InfluxStore, Spool
from hazardwatch.storage.influx import line_prefixes, to_lines
from tests.victoria import start_victoria

T0 = 1_763_800_000.0
SENSORS = 10_000


def readings(rows: int, start_s: float) -> Batch:
    k = np.arange(rows)
    rng = np.random.default_rng(1)
    return Batch.of(k % SENSORS, start_s + k // SENSORS, rng.uniform(0, 20, rows).round(3))


def chunks(batch: Batch, size: int) -> list[Batch]:
    return [
        Batch(
            *(
                getattr(batch, c)[i : i + size]
                for c in ("sensor", "ts", "value", "quality", "flags")
            )
        )
        for i in range(0, len(batch), size)
    ]


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000, help="points per store run")
    ap.add_argument("--batch", type=int, default=50_000, help="rows per write")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="50,000 rows, one run")
    args = ap.parse_args()
    if args.quick:
        args.rows, args.repeat = 50_000, 1
    tags = [f"E{i // 100}-T{i % 100}-LT" for i in range(SENSORS)]
    escaped = line_prefixes(tags)

    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        vm = start_victoria(Path(tmp) / "vm")
        try:
            settings = InfluxSettings(url=vm.url, org="bench", bucket="bench")
            store = InfluxStore(settings, tags, chunk_rows=args.batch)
            client = InfluxDBClient(url=vm.url, token="-", org="bench", timeout=30_000)
            raw = client.write_api(write_options=SYNCHRONOUS)
            results: dict[str, list[float]] = {k: [] for k in ("store", "lines", "raw", "point")}
            # VictoriaMetrics registers a new series slowly: all of them before timing.
            store.write(readings(SENSORS, T0 - 3600))
            for run in range(args.repeat):
                # A fresh time range per method and run: every write stores new points.
                base = T0 + run * 4 * (args.rows // SENSORS + 1)
                data = chunks(readings(args.rows, base), args.batch)
                t = timed(lambda d=data: [store.write(b) for b in d])
                results["store"].append(args.rows / t)
                t = timed(lambda d=data: [to_lines(escaped, b) for b in d])
                results["lines"].append(args.rows / t)
                data = chunks(readings(args.rows, base + args.rows // SENSORS + 1), args.batch)
                bodies = [to_lines(escaped, b) for b in data]
                t = timed(
                    lambda bs=bodies: [
                        raw.write("bench", "bench", b, write_precision=WritePrecision.MS)
                        for b in bs
                    ]
                )
                results["raw"].append(args.rows / t)
                data = chunks(
                    readings(args.rows, base + 2 * (args.rows // SENSORS + 1)), args.batch
                )

                def with_points(d: list[Batch] = data) -> None:
                    for b in d:
                        points = [
                            Point("reading")
                            .tag("tag", tags[s])
                            .field("value", v)
                            .field("quality", q)
                            .time(round(ts * 1000), WritePrecision.MS)
                            for s, ts, v, q in zip(
                                b.sensor.tolist(),
                                b.ts.tolist(),
                                b.value.tolist(),
                                b.quality.tolist(),
                                strict=True,
                            )
                        ]
                        raw.write("bench", "bench", points, write_precision=WritePrecision.MS)

                results["point"].append(args.rows / timed(with_points))
            store.close()
            raw.close()
            client.close()
        finally:
            vm.stop()

        spool_rows = 10 * args.rows
        appends, drains = [], []
        for run in range(args.repeat):
            data = chunks(readings(spool_rows, T0), 10_000)
            with Spool(Path(tmp) / f"spool{run}") as spool:
                appends.append(spool_rows / timed(lambda d=data, s=spool: [s.append(b) for b in d]))
                drains.append(spool_rows / timed(lambda s=spool: s.drain(lambda b: None)))

    def med(xs: list[float]) -> str:
        return f"{statistics.median(xs):>12,.0f}"

    print(f"VictoriaMetrics {vm.url}, {args.rows:,} points x {args.repeat} runs, "
          f"{args.batch:,} a write, {SENSORS:,} sensors (medians, points/s)")  # fmt: skip
    print(f"  InfluxStore.write (line protocol built per batch) {med(results['store'])}")
    print(f"  baseline: raw client, line protocol built before  {med(results['raw'])}")
    print(f"  baseline: raw client, Point objects                {med(results['point'])}")
    print(f"  line protocol building alone                      {med(results['lines'])}")
    store_rate = statistics.median(results["store"])
    print(
        f"  InfluxStore / raw prebuilt: {store_rate / statistics.median(results['raw']):.2f}"
        f"   InfluxStore / Point: {store_rate / statistics.median(results['point']):.2f}"
    )
    print(f"Spool, {spool_rows:,} rows in batches of 10,000 (rows/s)")
    print(f"  append (fsync per batch)                          {med(appends)}")
    print(f"  drain (no-op writer, cursor fsync per 50,000)     {med(drains)}")


if __name__ == "__main__":
    main()
