"""How many sensor-updates per second does Detector.step sustain?

One reading per sensor per step, values random-walking across the limits so conditions
keep changing. Baseline from the same run: the plain Python reference loop
(tests/reference.py). Prints numbers, asserts nothing.

    python benchmarks/bench_detector.py [--steps N] [--profile]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.reference

from detectors import Detector
from hazardwatch.model import (
    Batch,
    Enterprise,
    HazardSource,
    Kind,
    Limits,
    Responsible,
    Sensor,
    SensorTable,
    Site,
    Unit,
)
from tests.reference import ReferenceDetector

T0 = 1_763_800_000.0
KINDS = (Kind.LEVEL, Kind.TEMPERATURE, Kind.PRESSURE, Kind.FLOW, Kind.GAS_COMBUSTIBLE)


def park(n: int) -> SensorTable:
    """n sensors, 4 per tank, limits at 10/20/80/90 % of a 0-100 span, mixed delays."""
    sensors = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        gas = kind.is_gas
        sensors.append(
            Sensor(
                tag=f"S{i}",
                kind=kind,
                unit="%LEL" if gas else "m",
                range_lo=0.0,
                range_hi=100.0,
                limits=Limits(hh=50.0, h=25.0) if gas else Limits(90.0, 80.0, 20.0, 10.0),
                deadband=1.0 if gas else 2.0,
                on_delay_s=0.0 if gas else float((0, 5, 15)[i % 3]),
                off_delay_s=0.0 if gas else 5.0,
                period_s=10.0,
                stale_periods=3.0,
                latch=False,
            )
        )
    units = tuple(
        Unit(f"T{k}", "tank", "crude", 1000.0, False, f"gw{k // 64}", tuple(sensors[k : k + 4]))
        for k in range(0, n, 4)
    )
    source = HazardSource("hs", "farm", 2, Responsible("a", "b", "c"), units)
    return SensorTable.from_site(Site("park", "hw", (Enterprise("e", "E", (source,)),)))


def batches(n: int, steps: int, seed: int = 1) -> list[Batch]:
    """One reading per sensor per step, 1 s apart, in a shuffled order, values wandering."""
    rng = np.random.default_rng(seed)
    value = rng.uniform(5.0, 95.0, n)
    out = []
    for k in range(steps):
        value = np.clip(value + rng.normal(0.0, 0.5, n), 0.0, 100.0)
        order = rng.permutation(n)
        out.append(Batch.of(order, np.full(n, T0 + k), value[order]))
    return out


def rate(det: Detector | ReferenceDetector, work: list[Batch]) -> tuple[float, float, int]:
    """(median, best) sensor-updates/s over the steps, and the changes they returned.

    The machine is shared, so the best step shows what the code can do and the median
    what it did.
    """
    changes, seconds = 0, []
    for b in work:
        t = time.perf_counter()
        changes += len(det.step(b))
        seconds.append(time.perf_counter() - t)
    per_step = len(work[0])
    return per_step / float(np.median(seconds)), per_step / min(seconds), changes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--profile", action="store_true", help="pyinstrument the 100k run")
    args = ap.parse_args()

    results = {}
    for n in (10_000, 100_000):
        tab, work = park(n), batches(n, args.steps + 3)
        work, later = work[:-3], work[-3:]
        det = Detector(tab, T0)
        det.step(work[0])  # warm-up: first readings raise many conditions at once
        if args.profile and n == 100_000:
            from pyinstrument import Profiler

            with Profiler() as prof:
                r, best, changes = rate(det, work[1:])
            prof.print()
        else:
            r, best, changes = rate(det, work[1:])
        results[n] = r
        per_step = changes / (len(work) - 1)
        print(
            f"Detector.step  {n:>7,} sensors: {r / 1e6:6.2f} M sensor-updates/s median, "
            f"{best / 1e6:6.2f} M best step ({per_step:,.0f} changes/step)"
        )
        if n == 100_000:
            # The same park fed as ingest delivers it: slices of 1,000 readings.
            small = [
                Batch(
                    b.sensor[k : k + 1000],
                    b.ts[k : k + 1000],
                    b.value[k : k + 1000],
                    b.quality[k : k + 1000],
                    b.flags[k : k + 1000],
                )
                for b in later
                for k in range(0, n, 1000)
            ]
            r_small, best_small, _ = rate(det, small)
            print(
                f"Detector.step  {n:>7,} sensors, batches of 1,000: "
                f"{r_small / 1e6:6.2f} M sensor-updates/s median, {best_small / 1e6:6.2f} M best"
            )
            st, pa = det.state.nbytes / n, det.params.nbytes / n
            print(f"state {st:.0f} B/sensor + params {pa:.0f} B/sensor = {st + pa:.0f} B/sensor")

    n = 10_000
    tab, work = park(n), batches(n, 4)
    ref = ReferenceDetector(tab, T0)
    ref.step(work[0])
    r_ref, best_ref, _ = rate(ref, work[1:])
    print(
        f"reference loop {n:>7,} sensors: {r_ref / 1e6:6.2f} M sensor-updates/s median, "
        f"{best_ref / 1e6:6.2f} M best step"
    )
    print(f"ratio Detector/reference at 10,000 sensors (medians): {results[10_000] / r_ref:.0f}x")


if __name__ == "__main__":
    main()
