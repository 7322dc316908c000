"""Which embedded store, and how fast do readings reach VictoriaMetrics? Asserts nothing.

Default: the embedded engines on the same readings (issue 15): SQLite as the service used
it, DuckDB (inserts from numpy; queried in arrival order and after a sort into
sensor-major order) and the BlockStore (arrival-order log, sensor-major blocks). Beside
them in the same run, the raw baseline: the same batches appended to a flat file with an
fsync per batch. Three questions: write readings/s on one core (20,000 sensors at 1 Hz,
batches of 50,000, each durable when the call returns); one sensor's day at 1 Hz out of
20,000 sensors; one sensor's month downsampled to 1,000 points.

--victoria: InfluxStore into a real VictoriaMetrics against the raw `influxdb-client`
(line protocol built beforehand, and `Point` objects), and the spool's append and drain.
Run: python benchmarks/bench_store.py [--quick] [--victoria]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.victoria

from hazardwatch.storage import BlockStore, InfluxSettings, InfluxStore, Spool, SqliteStore
from hazardwatch.storage.influx import line_prefixes, to_lines
from hazardwatch.storage.rollup import bucket_width
from hazardwatch.vocabulary.model import Batch
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


# ------------------------------------------------------------------ embedded engines

PARK = 20_000  # sensors
DAY_S = 86_400


class RawFile:
    """The baseline: the batch's columns appended to one file, fsynced; no index at all."""

    name = "raw baseline: columns to a flat file + fsync"

    def __init__(self, folder: Path) -> None:
        self.f = (folder / "flat.bin").open("ab")

    def write(self, b: Batch) -> None:
        for col in (b.sensor, b.ts, b.value, b.quality):
            self.f.write(col.tobytes())
        self.f.flush()
        os.fsync(self.f.fileno())

    def close(self) -> None:
        self.f.close()


class Sqlite:
    name = "SQLite (WAL, key (sensor, ts)), as the service used it"

    def __init__(self, folder: Path) -> None:
        self.store = SqliteStore(folder / "readings.db")

    def write(self, b: Batch) -> None:
        self.store.write(b)

    def prepare(self) -> None:
        pass

    def day(self, sensor: int, lo: float, hi: float) -> int:
        return len(self.store.readings(sensor, lo, hi, 10**9))

    def month(self, sensor: int, lo: float, hi: float, points: int) -> int:
        origin, width = bucket_width(lo, hi, points)
        with self.store._lock:  # the benchmark asks the file directly
            rows = self.store._db.execute(
                "SELECT CAST((ts - ?) / ? AS INTEGER) AS k, min(value), max(value), avg(value),"
                " count(*) FROM readings WHERE sensor = ? AND ts BETWEEN ? AND ? GROUP BY k",
                (origin, width, sensor, lo, hi),
            ).fetchall()
        return len(rows)

    def close(self) -> None:
        self.store.close()


class Duck:
    """DuckDB: appends from numpy in arrival order; `sort` rewrites the table sensor-major."""

    def __init__(self, folder: Path, sort: bool) -> None:
        self.sort = sort
        self.name = "DuckDB, " + ("sorted (sensor, ts) after writing" if sort else "arrival order")
        self.db = duckdb.connect(str(folder / "readings.duckdb"))
        self.db.execute(
            "CREATE TABLE r (sensor INTEGER, ts DOUBLE, value DOUBLE, quality UTINYINT)"
        )
        self.table = "r"

    def write(self, b: Batch) -> None:
        # DuckDB scans the local `cols` by its name in the query (a replacement scan)
        cols = {"sensor": b.sensor.astype(np.int32), "ts": b.ts, "value": b.value,  # noqa: F841
                "quality": b.quality}  # fmt: skip
        self.db.execute("INSERT INTO r SELECT * FROM cols")

    def prepare(self) -> None:
        if self.sort:
            self.db.execute("CREATE TABLE s AS SELECT * FROM r ORDER BY sensor, ts")
            self.table = "s"

    def day(self, sensor: int, lo: float, hi: float) -> int:
        got = self.db.execute(
            f"SELECT ts, value, quality FROM {self.table} WHERE sensor = ? AND ts BETWEEN ? AND ?"
            " ORDER BY ts",
            [sensor, lo, hi],
        ).fetchnumpy()
        return len(got["ts"])

    def month(self, sensor: int, lo: float, hi: float, points: int) -> int:
        origin, width = bucket_width(lo, hi, points)
        got = self.db.execute(
            f"SELECT floor((ts - ?) / ?) AS k, min(value), max(value), avg(value), count(*)"
            f" FROM {self.table} WHERE sensor = ? AND ts BETWEEN ? AND ? GROUP BY k ORDER BY k",
            [origin, width, sensor, lo, hi],
        ).fetchnumpy()
        return len(got["k"])

    def close(self) -> None:
        self.db.close()


class Blocks:
    name = "BlockStore: arrival-order log, sensor-major blocks"

    def __init__(self, folder: Path, log_rows: int) -> None:
        self.store = BlockStore(folder / "blocks", log_rows=log_rows, background=False)

    def write(self, b: Batch) -> None:
        self.store.write(b)

    def prepare(self) -> None:
        self.store.seal()
        self.store.compact()

    def day(self, sensor: int, lo: float, hi: float) -> int:
        return len(self.store.history(sensor, lo, hi, 10**6).buckets.ts)

    def month(self, sensor: int, lo: float, hi: float, points: int) -> int:
        return len(self.store.history(sensor, lo, hi, points).buckets.ts)

    def close(self) -> None:
        self.store.close()


def park(minutes: int, batch: int) -> list[Batch]:
    """PARK sensors at 1 Hz for `minutes`, in arrival order (a second of the park, then the
    next), cut into batches."""
    rows = PARK * 60 * minutes
    k = np.arange(rows)
    rng = np.random.default_rng(1)
    data = Batch.of(k % PARK, T0 + k // PARK, rng.uniform(0, 20, rows).round(3))
    return chunks(data, batch)


def history_logs(span_s: int, per_log_s: int, target: int) -> list[Batch]:
    """`target`'s readings at 1 Hz over `span_s`, one batch per `per_log_s` of them, each
    with one reading of every other sensor of the park: the BlockStore seals one log per
    batch, so its blocks are as many, each holding all PARK sensors, as a park of PARK
    sensors at 1 Hz fills in that time (`per_log_s` = log_rows / PARK)."""
    rng = np.random.default_rng(2)
    others = np.delete(np.arange(PARK), target)
    out = []
    for start in range(0, span_s, per_log_s):
        ts = T0 + start + np.arange(per_log_s, dtype=float)
        sensor = np.concatenate([np.full(per_log_s, target), others])
        when = np.concatenate([ts, T0 + start + rng.uniform(0, per_log_s, len(others))])
        out.append(
            Batch.of(sensor, when, 10 + np.sin(when / 600.0) + rng.normal(0, 0.1, len(when)))
        )
    return out


def best_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # the first call maps the files; the service's are mapped by earlier queries
    return min(timed(fn) for _ in range(repeat)) * 1000


def embedded(args: argparse.Namespace) -> None:
    minutes, sqlite_rows = (1, 200_000) if args.quick else (5, 1_000_000)
    day_s, month_days = (6 * 3600, 3) if args.quick else (DAY_S, 30)
    batches = park(minutes, args.batch)
    total = sum(len(b) for b in batches)
    target = 7
    # A park of 20,000 sensors fills a 2,000,000-row log in 100 s: a day is 864 blocks.
    per_log_s = 2_000_000 // PARK
    day_logs = history_logs(day_s, per_log_s, target)
    # The month's blocks are fewer (one per hour of the target), to keep the run short;
    # the month answers from minute aggregates, merged 16 blocks at a time.
    month_logs = history_logs(month_days * DAY_S, 3600, target)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        engines: list[Callable[[Path, int], object]] = [
            lambda d, n: RawFile(d),
            lambda d, n: Sqlite(d),
            lambda d, n: Duck(d, sort=False),
            lambda d, n: Duck(d, sort=True),
            lambda d, n: Blocks(d, n),
        ]
        for i, make in enumerate(engines):
            folder = Path(tmp) / f"e{i}"
            folder.mkdir()
            eng = make(folder, 2_000_000)
            data = batches
            if isinstance(eng, Sqlite):
                data = batches[: max(1, sqlite_rows // args.batch)]
            n = sum(len(b) for b in data)
            rate = n / timed(lambda e=eng, d=data: [e.write(b) for b in d])
            row = {"name": eng.name, "write": rate, "rows": n}
            eng.close()
            if isinstance(eng, RawFile):
                results.append(row)
                continue
            for key, logs, rows_per_log in (
                ("day", day_logs, per_log_s + PARK - 1),
                ("month", month_logs, 3600 + PARK - 1),
            ):
                sub = folder / key
                sub.mkdir()
                e = make(sub, rows_per_log)
                for b in logs:
                    e.write(b)
                row[f"{key}_prepare_s"] = timed(e.prepare)
                if key == "day":
                    row["day_ms"] = best_ms(lambda e=e: e.day(target, T0, T0 + day_s), args.repeat)
                    row["day_rows"] = e.day(target, T0, T0 + day_s)
                else:
                    hi = T0 + month_days * DAY_S
                    row["month_ms"] = best_ms(
                        lambda e=e, hi=hi: e.month(target, T0, hi, 1000), args.repeat
                    )
                e.close()
            results.append(row)

    print(f"Embedded stores: write {total:,} readings of {PARK:,} sensors at 1 Hz in batches of "
          f"{args.batch:,}, each durable on return (SQLite: {sqlite_rows:,}); one sensor's "
          f"{day_s // 3600} h at 1 Hz among {PARK:,} sensors; one sensor's {month_days} days "
          "at 1 Hz downsampled to 1,000 points; best of", args.repeat)  # fmt: skip
    base = results[0]["write"]
    print("| engine | write readings/s | / raw | day query ms (rows) | month to 1,000 pts ms "
          "| sort/compact s (day, month data) |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for r in results:
        if "day_ms" not in r:
            print(f"| {r['name']} | {r['write']:,.0f} | 1.00 | | | |")
            continue
        print(
            f"| {r['name']} | {r['write']:,.0f} | {r['write'] / base:.2f} "
            f"| {r['day_ms']:.1f} ({r['day_rows']:,}) | {r['month_ms']:.1f} "
            f"| {r['day_prepare_s']:.1f}, {r['month_prepare_s']:.1f} |"
        )


def victoria(args: argparse.Namespace) -> None:
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--victoria", action="store_true", help="VictoriaMetrics and the spool")
    ap.add_argument("--rows", type=int, default=200_000, help="points per store run")
    ap.add_argument("--batch", type=int, default=50_000, help="rows per write")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="smaller data, one run")
    args = ap.parse_args()
    if args.victoria:
        victoria(args)
    else:
        embedded(args)


if __name__ == "__main__":
    main()
