"""How fast is a back-test over stored history, and how far from the issue's target?

Target (issue 15): a month of 1 Hz history for 1,000 sensors (2.6 G readings) back-tested
in under 5 minutes on one core. A back-test replays the history twice (current and
candidate), so that is 5.2 G readings through the pipeline in 300 s: 17 M readings/s.

A park of level sensors (benchmarks/fleet_site.py) random-walking across their limits at
1 Hz is written to a BlockStore and compacted (sensor-major blocks). Then, in one process
pinned to one core, on the same rows:
- store read: `backtest.stored_chunks` alone (the store's `readings` per sensor and hour);
- detector: `Detector.step` alone on the same one-second batches (no alarms, no store);
- back-test: `backtest.run_once` (store read, slices, the Service's detector, alarm
  pipeline and journal on a FakeClock, the figures): one of a back-test's two runs.
Prints readings per second of each and the time a target-sized back-test would take.

    python benchmarks/bench_backtest.py [--sensors 1000] [--minutes 10]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # one core, before numba loads

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.fleet_site import build_site
from detectors import Detector
from hazardwatch.backtest import run_once, stored_chunks
from hazardwatch.model import Batch, SensorTable
from hazardwatch.storage import BlockStore

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sensors", type=int, default=1000)
    ap.add_argument("--minutes", type=float, default=10.0)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    site = build_site(args.sensors)
    table = SensorTable.from_site(site)
    seconds = int(args.minutes * 60)
    until = T0 + seconds - 1
    sensors = np.arange(table.n, dtype=np.int64)
    with tempfile.TemporaryDirectory(prefix="hw-bench-bt-") as tmp:
        store = BlockStore(Path(tmp) / "readings", background=False)
        t = time.perf_counter()
        total = write_history(store, table.n, seconds)
        print(f"{total:,} readings ({table.n} sensors x {seconds} s at 1 Hz) written and "
              f"compacted in {time.perf_counter() - t:.1f} s")  # fmt: skip
        Detector(table, T0)  # compile the kernels outside the timings

        t = time.perf_counter()
        chunks = list(stored_chunks(store, sensors, T0, until))
        read_s = time.perf_counter() - t
        assert sum(c.rows for c in chunks) == total

        detector = Detector(table, T0)
        t = time.perf_counter()
        for c in chunks:
            for s in np.unique(c.ts):  # one-second batches, as the replay's slices
                a, z = np.searchsorted(c.ts, [s, np.nextafter(s, np.inf)])
                detector.step(Batch(c.sensor[a:z], c.ts[a:z], c.value[a:z], c.quality[a:z],
                                    np.zeros(z - a, np.uint8)))  # fmt: skip
        detect_s = time.perf_counter() - t

        t = time.perf_counter()
        figures, readings = run_once(site, store, sensors, T0, until)
        run_s = time.perf_counter() - t
        store.close()
    assert readings == total
    alarms = sum(f.total for f in figures.values())
    print(f"{'stage':<14} {'seconds':>8} {'readings/s':>14}")
    for name, secs in (("store read", read_s), ("detector", detect_s), ("back-test run", run_s)):
        print(f"{name:<14} {secs:>8.2f} {total / secs:>14,.0f}")
    rate = total / run_s
    need = 2 * TARGET_READINGS / TARGET_S
    print(f"alarm activations in the run: {alarms}")
    print(
        f"target: {TARGET_READINGS / 1e9:.1f} G readings, twice, in {TARGET_S:.0f} s = "
        f"{need / 1e6:.1f} M readings/s; at {rate / 1e6:.2f} M/s it takes "
        f"{2 * TARGET_READINGS / rate / 60:.0f} min ({need / rate:.0f}x too slow); the detector "
        f"alone would take {2 * TARGET_READINGS / (total / detect_s) / 60:.0f} min, the store "
        f"read alone {2 * TARGET_READINGS / (total / read_s) / 60:.0f} min"
    )


if __name__ == "__main__":
    main()
