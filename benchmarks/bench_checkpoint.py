"""How long does saving and loading the detector's memory take, and what does it weigh?

For parks of 20,000 and 100,000 sensors (`bench_detector.park`, every check on, warmed up
on 70 steps of readings): the copy taken on the event loop (`checkpoint.snapshot`), the
atomic write with fsync in a thread (`checkpoint.write`) and the load by tag at start
(`checkpoint.load`), median of 5. Baseline from the same run: the same bytes as one raw
buffer, written with fsync and read back (what the disk does with no format at all).
Prints numbers, asserts nothing.

    python benchmarks/bench_checkpoint.py [--repeat N] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from itertools import islice
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_detector import T0, batches, park
from detectors import Detector, checkpoint


def median_s(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def raw_write(buffer: np.ndarray, path: Path) -> None:
    with open(path, "wb") as f:
        f.write(buffer.data)
        f.flush()
        os.fsync(f.fileno())


def measure(n: int, folder: Path, repeat: int) -> None:
    """Print the checkpoint's times and size for a park of `n`, and the raw disk's."""
    table = park(n)
    det = Detector(table, T0)
    for b in islice(batches(n, 70), 70):
        det.step(b)
    path = folder / "detector.npz"
    snap = checkpoint.snapshot(det, table.tags)
    copy_s = median_s(lambda: checkpoint.snapshot(det, table.tags), repeat)
    write_s = median_s(lambda: checkpoint.write(snap, path), repeat)

    fresh = Detector(table, T0 + 3600)  # built once: the load alone is timed

    def load() -> None:
        info = checkpoint.load(fresh, path, table.tags)
        assert info.restored == n

    load_s = median_s(load, repeat)
    size = path.stat().st_size
    raw = np.concatenate([a.reshape(-1).view(np.uint8) for a in snap.arrays.values()])
    raw_path = folder / "raw.bin"
    raw_w = median_s(lambda: raw_write(raw, raw_path), repeat)
    raw_r = median_s(lambda: np.fromfile(raw_path, np.uint8), repeat)
    os.remove(raw_path)
    mb = size / 1e6
    print(
        f"{n:>7,} sensors: file {mb:6.1f} MB ({size / n:,.0f} B/sensor); "
        f"copy on the loop {copy_s * 1e3:5.0f} ms; write+fsync {write_s * 1e3:5.0f} ms "
        f"({mb / write_s:5.0f} MB/s); load {load_s * 1e3:5.0f} ms ({mb / load_s:5.0f} MB/s)"
    )
    print(
        f"{'':>16} raw buffer of the same {raw.size / 1e6:.1f} MB: write+fsync "
        f"{raw_w * 1e3:5.0f} ms ({raw.size / 1e6 / raw_w:5.0f} MB/s), read "
        f"{raw_r * 1e3:5.0f} ms -> checkpoint/raw: write {raw_w / write_s:.2f}x, "
        f"load {raw_r / load_s:.2f}x the raw rate"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=None, help="where to write (default: a temp dir)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for n in (20_000, 100_000):
            measure(n, Path(tmp), args.repeat)


if __name__ == "__main__":
    main()
