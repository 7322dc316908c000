"""How fast is a back-test over stored history, and how far from the issue's target?

Target (issue 15): a month of 1 Hz history for 1,000 sensors (2.6 G readings) back-tested
in under 5 minutes on one core. A back-test replays the history twice (current and
candidate), so that is 5.2 G readings through the pipeline in 300 s: 17 M readings/s.

A park of level sensors (benchmarks/fleet_site.py) random-walking across their limits at
1 Hz is written to a BlockStore and compacted (sensor-major blocks). Then, in one process
pinned to one core, on the same rows:
- store read: `backtest.stored_chunks` alone, the store's `readings` sensor by sensor (the
  old read) and `storage.read_columns` (several sensors per call, numpy columns);
- detector: `Detector.step` alone (no alarms, no store) on one-second batches, as the
  replay's slices, and on one big block (every reading in one call: rounds);
- back-test run: `backtest.run_once`, one of a back-test's two runs (store read, slices,
  the Service's detector, alarm pipeline and journal on a FakeClock, the figures), the old
  path (`fast=False`: the CSV replay's path) and the new (`fast=True`); its fixed cost
  (building the Service) measured apart on one second of history.
Prints wall and CPU seconds (the machine may be shared: CPU is the steadier figure),
readings per CPU second and the time a target-sized back-test would take.

    python benchmarks/bench_backtest.py [--sensors 1000] [--minutes 30]
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # one core, before numba loads

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.fleet_site import build_site
from detectors import Detector
from hazardwatch.shell.backtest import run_once, stored_chunks
from hazardwatch.storage import BlockStore, read_columns
from hazardwatch.storage.columns import by_sensor
from hazardwatch.vocabulary.model import Batch, SensorTable

T0 = 1_767_225_600.0
TARGET_READINGS = 1_000 * 30 * 86_400  # a month of 1 Hz for 1,000 sensors
TARGET_S = 300.0


def write_history(store: BlockStore, n: int, seconds: int, seed: int = 1) -> int:
    """Random walks around 50 % with steps of 0.5 %, a second apart, for every sensor."""
    rng = np.random.default_rng(seed)
    level = np.full(n, 50.0)
    sensors = np.arange(n, dtype=np.int64)
    for minute in range(0, seconds, 60):
        parts = []
        for s in range(minute, min(minute + 60, seconds)):
            level = np.clip(level + rng.normal(0, 0.5, n) + 0.02 * (50 - level), 0, 100)
            parts.append(Batch.of(sensors, np.full(n, T0 + s), level.copy()))
        store.write(Batch.concat(parts))
    store.seal()
    store.compact()
    return n * seconds


def timed(fn: Callable[[], object]) -> tuple[float, float, object]:
    """(wall s, CPU s, result) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sensors", type=int, default=1000)
    ap.add_argument("--minutes", type=float, default=30.0)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    site = build_site(args.sensors)
    table = SensorTable.from_site(site)
    seconds = int(args.minutes * 60)
    until = T0 + seconds - 1
    sensors = np.arange(table.n, dtype=np.int64)
    rows: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="hw-bench-bt-") as tmp:
        store = BlockStore(Path(tmp) / "readings", background=False)
        t = time.perf_counter()
        total = write_history(store, table.n, seconds)
        print(f"{total:,} readings ({table.n} sensors x {seconds} s at 1 Hz) written and "
              f"compacted in {time.perf_counter() - t:.1f} s")  # fmt: skip
        Detector(table, T0)  # compile the kernels outside the timings

        for name, read in (("read, by sensor", by_sensor), ("read, columns", read_columns)):
            wall, cpu, chunks = timed(
                lambda read=read: list(stored_chunks(store, sensors, T0, until, read=read))
            )
            assert sum(c.rows for c in chunks) == total  # type: ignore[attr-defined]
            rows.append((name, wall, cpu))
        c = read_columns(store, sensors, T0, until)
        flags = np.zeros(total, np.uint8)

        def one_second_batches() -> None:
            detector = Detector(table, T0)
            bounds = np.searchsorted(c.ts, T0 + np.arange(seconds + 1)).tolist()
            for a, z in itertools.pairwise(bounds):
                detector.step(Batch(c.sensor[a:z], c.ts[a:z], c.value[a:z], c.quality[a:z],
                                    flags[a:z]))  # fmt: skip

        def one_block() -> None:
            Detector(table, T0).step(Batch(c.sensor, c.ts, c.value, c.quality, flags))

        rows.append(("detector, 1-s", *timed(one_second_batches)[:2]))
        rows.append(("detector, block", *timed(one_block)[:2]))
        runs = {}
        for name, fast in (("run, old path", False), ("run, new path", True)):
            wall, cpu, (figures, readings) = timed(  # type: ignore[misc]
                lambda fast=fast: run_once(site, store, sensors, T0, until, fast=fast)
            )
            assert readings == total
            runs[name] = figures
            rows.append((name, wall, cpu))
        fixed_cpu = timed(lambda: run_once(site, store, sensors, T0, T0 + 0.5))[1]
        store.close()
    assert runs["run, old path"] == runs["run, new path"]  # the same figures
    alarms = sum(f.total for f in runs["run, new path"].values())
    print(f"{'stage':<16} {'wall s':>8} {'CPU s':>8} {'readings/CPU s':>15} {'target x2, min':>15}")
    for name, wall, cpu in rows:
        rate = total / cpu
        print(f"{name:<16} {wall:>8.2f} {cpu:>8.2f} {rate:>15,.0f} "
              f"{2 * TARGET_READINGS / rate / 60:>15,.0f}")  # fmt: skip
    print(f"a run's fixed cost (the Service built, one second replayed): {fixed_cpu:.2f} CPU s")
    print(f"alarm activations in a run: {alarms}")
    need = 2 * TARGET_READINGS / TARGET_S
    old, new = (dict((r[0], r[2]) for r in rows)[k] for k in ("run, old path", "run, new path"))
    steady = total / max(new - fixed_cpu, 1e-9)
    print(
        f"target: {TARGET_READINGS / 1e9:.1f} G readings, twice, in {TARGET_S:.0f} s = "
        f"{need / 1e6:.1f} M readings/s; the new path runs {old / new:.1f}x the old, at "
        f"{steady / 1e6:.2f} M/s past its fixed cost: {2 * TARGET_READINGS / steady / 60:.0f} "
        f"min for the target ({need / steady:.0f}x too slow)"
    )


if __name__ == "__main__":
    main()
