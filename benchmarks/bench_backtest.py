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
  (building the Service) measured apart on one second of history;
- the whole back-test (`backtest.backtest`, both runs and their reports): both runs in this
  process one after the other (`workers=1`), and the candidate run in a second process
  beside (`workers=2`; this row alone may use two cores; CPU counts both processes); each
  one's fixed cost (the worker's start) measured apart on one second of history.
Prints wall and CPU seconds (the machine may be shared: CPU is the steadier figure),
readings per CPU second and per wall second (a run's readings once per run: a whole
back-test reads them twice) and the time a target-sized back-test would take by each.

    python benchmarks/bench_backtest.py [--sensors 1000] [--minutes 30]
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
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
from hazardwatch.shell.backtest import backtest, run_once, stored_chunks
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


def _cpu() -> float:
    """CPU seconds of this process and of its children waited for (a back-test's worker)."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + kids.ru_utime + kids.ru_stime


def timed(fn: Callable[[], object]) -> tuple[float, float, object]:
    """(wall s, CPU s, result) of one call."""
    wall, cpu = time.perf_counter(), _cpu()
    out = fn()
    return time.perf_counter() - wall, _cpu() - cpu, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sensors", type=int, default=1000)
    ap.add_argument("--minutes", type=float, default=30.0)
    args = ap.parse_args()
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if cores:
        os.sched_setaffinity(0, set(cores[:1]))
    site = build_site(args.sensors)
    table = SensorTable.from_site(site)
    seconds = int(args.minutes * 60)
    until = T0 + seconds - 1
    sensors = np.arange(table.n, dtype=np.int64)
    rows: list[tuple[str, float, float, int]] = []  # name, wall s, CPU s, readings handled
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
            rows.append((name, wall, cpu, total))
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

        rows.append(("detector, 1-s", *timed(one_second_batches)[:2], total))
        rows.append(("detector, block", *timed(one_block)[:2], total))
        runs = {}
        for name, fast in (("run, old path", False), ("run, new path", True)):
            wall, cpu, (figures, readings) = timed(  # type: ignore[misc]
                lambda fast=fast: run_once(site, store, sensors, T0, until, fast=fast)
            )
            assert readings == total
            runs[name] = figures
            rows.append((name, wall, cpu, total))
        fixed = {"run": timed(lambda: run_once(site, store, sensors, T0, T0 + 0.5))[:2]}
        reports = {}
        for name, workers in (("both, 1 process", 1), ("both, 2 processes", 2)):
            if workers > 1 and cores:
                os.sched_setaffinity(0, set(cores[:2]))  # the worker inherits it
            wall, cpu, report = timed(
                lambda w=workers: backtest(site, site, store, T0, until, workers=w)
            )
            fixed[name] = timed(lambda w=workers: backtest(site, site, store, T0, T0 + 0.5,
                                                           workers=w))[:2]  # fmt: skip
            if cores:
                os.sched_setaffinity(0, set(cores[:1]))
            reports[name] = report.to_dict()  # type: ignore[attr-defined]
            rows.append((name, wall, cpu, 2 * total))
        store.close()
    assert runs["run, old path"] == runs["run, new path"]  # the same figures
    one, two = (reports[k] for k in ("both, 1 process", "both, 2 processes"))
    assert {**one, "seconds": 0} == {**two, "seconds": 0}  # the same back-test
    alarms = sum(f.total for f in runs["run, new path"].values())
    print(f"{'stage':<18} {'wall s':>7} {'CPU s':>7} {'M/CPU s':>8} {'M/wall s':>9} "
          f"{'target, CPU min':>16} {'target, wall min':>17}")  # fmt: skip
    for name, wall, cpu, handled in rows:
        print(f"{name:<18} {wall:>7.2f} {cpu:>7.2f} {handled / cpu / 1e6:>8.2f} "
              f"{handled / wall / 1e6:>9.2f} {2 * TARGET_READINGS / (handled / cpu) / 60:>16,.1f} "
              f"{2 * TARGET_READINGS / (handled / wall) / 60:>17,.1f}")  # fmt: skip
    print("fixed costs (one second of history), wall / CPU s: " + "; ".join(
        f"{k} {w:.2f} / {c:.2f}" for k, (w, c) in fixed.items()))  # fmt: skip
    print(f"alarm activations in a run: {alarms}")
    need = 2 * TARGET_READINGS / TARGET_S
    at = {r[0]: r for r in rows}
    old, new = at["run, old path"][2], at["run, new path"][2]
    steady = total / max(new - fixed["run"][1], 1e-9)
    print(
        f"target: {TARGET_READINGS / 1e9:.1f} G readings, twice, in {TARGET_S:.0f} s = "
        f"{need / 1e6:.1f} M readings/s; the new path runs {old / new:.1f}x the old, at "
        f"{steady / 1e6:.2f} M/s past its fixed cost: {2 * TARGET_READINGS / steady / 60:.0f} "
        f"CPU min for the target ({need / steady:.0f}x too slow)"
    )
    for name in ("both, 1 process", "both, 2 processes"):
        wall = at[name][1] - fixed[name][0]
        rate = 2 * total / max(wall, 1e-9)
        print(f"{name}, past its fixed cost: {rate / 1e6:.2f} M readings per wall s, "
              f"{2 * TARGET_READINGS / rate / 60:.1f} wall min for the target")  # fmt: skip


if __name__ == "__main__":
    main()
