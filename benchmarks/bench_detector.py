"""How many sensor-updates per second does Detector.step sustain, with every check on?

One reading per sensor per step, values random-walking across the limits so conditions
keep changing. Every check is on: limits with deadband and delays, range, staleness,
RATE, PREDICT_HH/LL, DRIFT with its baseline (warm-up 20 readings), SPIKE, STUCK, NOISY,
the k-of-n area vote of the gas detectors and CO_RISE of the tanks with temperature and
pressure. Baseline from the same run: the plain per-sensor Python loop
(tests/reference.py, the same single-sensor checks). Prints numbers, asserts nothing.

    python benchmarks/bench_detector.py [--minutes N] [--warm-up N] [--jitter-s S] [--profile]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import deque
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import NamedTuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.reference

from detectors import Detector, keep_large_blocks
from hazardwatch.vocabulary.model import (
    Batch,
    Enterprise,
    HazardSource,
    Kind,
    Limits,
    Responsible,
    Sensor,
    SensorTable,
    Site,
    Trend,
    Unit,
)
from tests.reference import ReferenceDetector

T0 = 1_763_800_000.0
KINDS = (Kind.LEVEL, Kind.TEMPERATURE, Kind.PRESSURE, Kind.FLOW, Kind.GAS_COMBUSTIBLE)
# Steps before timing. The window takes a sample every 0.9 x 300 s / 64 = 4.2 s, and the
# CUSUM and baseline learn on those samples: baselines are warm after 20 samples (~85 s)
# and the rings reach their 300 s time limit (the eviction path) after ~300 s. 70 steps (the
# figure before) timed a park in its first two minutes: no CUSUM, no eviction.
WARM_UP = 340
REF_WARM_UP = 22  # the reference refits its window per reading: baselines only
BLOCK = 60  # steps of one reading per sensor, 1 s apart: a minute of the park
ALL_CHECKS = Trend(
    rate_limit_per_min=30.0,
    rate_window_s=300.0,
    horizon_s=1800.0,
    drift_h_sigma=8.0,
    drift_k_sigma=0.5,
    baseline_warmup_n=20,
    baseline_alpha=0.01,
    stuck_window_s=900.0,
    resolution=0.01,
    spike_rate_per_s=20.0,
    noise_ratio=5.0,
)


def park(n: int, rigs: bool = False) -> SensorTable:
    """n sensors, 4 per tank, limits at 10/20/80/90 % of a 0-100 span, mixed delays.

    Every check on; gas detectors vote in areas of 4 tanks (k = 2). With `rigs`, every
    fifth unit is a rig of 4 generic sensors (no limits): a RELATION group (T²) each.
    """
    sensors = []
    for i in range(n):
        rig = rigs and (i // 4) % 5 == 0
        kind = Kind.GENERIC if rig else KINDS[i % len(KINDS)]
        gas = kind.is_gas
        sensors.append(
            Sensor(
                tag=f"S{i}",
                kind=kind,
                unit="%LEL" if gas else "m",
                range_lo=0.0,
                range_hi=100.0,
                limits=Limits(hh=50.0, h=25.0)
                if gas
                else (Limits() if rig else Limits(90.0, 80.0, 20.0, 10.0)),
                deadband=1.0 if gas else 2.0,
                on_delay_s=0.0 if gas else float((0, 5, 15)[i % 3]),
                off_delay_s=0.0 if gas else 5.0,
                period_s=10.0,
                stale_periods=3.0,
                latch=False,
                trend=ALL_CHECKS,
                area=f"A{i // 16}" if gas else None,
            )
        )
    units = tuple(
        Unit(f"T{k}", "tank", "crude", 1000.0, False, f"gw{k // 64}", tuple(sensors[k : k + 4]))
        for k in range(0, n, 4)
    )
    source = HazardSource("hs", "farm", 2, Responsible("a", "b", "c"), units)
    areas = {f"A{k}": 2 for k in range(n // 16 + 1)}
    return SensorTable.from_site(
        Site("park", "hw", (Enterprise("e", "E", (source,)),), areas=areas)
    )


def batches(n: int, steps: int, seed: int = 1, jitter_s: float = 0.0) -> Iterator[Batch]:
    """One reading per sensor per step, 1 s apart, in a shuffled order.

    Most sensors hold a set point with noise (sigma 0.2); 2 % ramp at 0.5/s across their
    limits and 1 % random-walk, so conditions keep changing as in a busy park. With
    `jitter_s` each reading's ts is up to that much later than the step's: gateways that
    poll on their own clocks, so every step some windows take a sample (with one ts for
    all, every window samples in the same step and the steps between cost less).
    """
    rng = np.random.default_rng(seed)
    base = rng.uniform(25.0, 75.0, n)
    ramp = np.where(rng.random(n) < 0.02, rng.choice([-0.5, 0.5], n), 0.0)
    walker = rng.random(n) < 0.01
    walk = np.zeros(n)
    for k in range(steps):  # generated as consumed: a warm-up of a 100k park is ~1 GB
        walk += np.where(walker, rng.normal(0.0, 2.0, n), 0.0)
        value = np.clip(base + ramp * k + walk + rng.normal(0.0, 0.2, n), 0.0, 100.0)
        order = rng.permutation(n)
        ts = T0 + k + (rng.uniform(0.0, jitter_s, n) if jitter_s else np.zeros(n))
        yield Batch.of(order, ts[order], value[order])


class Rates(NamedTuple):
    """Sensor-updates/s of a run of steps, and the condition changes per step."""

    median: float  # the median step's
    best: float  # the fastest step's
    sustained: float  # all readings over all the time of the best block of BLOCK steps
    sustained_median: float  # ... of the median block
    changes: float


def rate(det: Detector | ReferenceDetector, work: list[Batch], block: int = 0) -> Rates:
    """Time `work` step by step.

    The sustained rates count the heavier steps (every window takes its sample every fifth
    second) that a median step hides. The machine is shared and its speed moves by a third
    within a minute: the best block of `block` steps (whole sampling periods) shows what the
    code sustains, the median block what it did here.
    """
    changes, seconds = 0, []
    for b in work:
        t = time.perf_counter()
        changes += len(det.step(b))
        seconds.append(time.perf_counter() - t)
    per_step, secs = len(work[0]), np.asarray(seconds)
    blocks = secs[: secs.size - secs.size % block].reshape(-1, block) if block else secs[None]
    sustained = per_step * blocks.shape[1] / blocks.sum(axis=1)
    return Rates(
        per_step / float(np.median(secs)),
        per_step / float(secs.min()),
        float(sustained.max()),
        float(np.median(sustained)),
        changes / len(work),
    )


def measure(
    n: int,
    blocks: int,
    profile: bool = False,
    jitter_s: float = 0.0,
    warm_up: int = WARM_UP,
    rigs: bool = False,
) -> tuple[Rates, Detector]:
    """The rates of `blocks` blocks of BLOCK steps on a warmed-up park of n."""
    tab, work = park(n, rigs), batches(n, warm_up + blocks * BLOCK, jitter_s=jitter_s)
    det = Detector(tab, T0)
    # Untimed: the first readings raise many conditions at once, the baselines warm up
    # (20 samples) and the rings fill, so every check and the eviction path are timed.
    for b in islice(work, warm_up):
        det.step(b)
    timed = list(work)
    if not profile:
        return rate(det, timed, BLOCK), det
    from pyinstrument import Profiler

    with Profiler() as prof:
        rates = rate(det, timed, BLOCK)
    prof.print()
    return rates, det


def show(label: str, r: Rates) -> None:
    print(
        f"Detector.step {label}: {r.median / 1e6:6.2f} M sensor-updates/s median step, "
        f"{r.best / 1e6:6.2f} M best step; sustained {r.sustained / 1e6:6.2f} M best minute, "
        f"{r.sustained_median / 1e6:6.2f} M median minute ({r.changes:,.0f} changes/step)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=int, default=3, help=f"timed blocks of {BLOCK} steps")
    ap.add_argument("--profile", action="store_true", help="pyinstrument the 100k run")
    ap.add_argument("--jitter-s", type=float, default=0.9, help="unsynchronised park's spread")
    ap.add_argument("--warm-up", type=int, default=WARM_UP, help="untimed steps first")
    args = ap.parse_args()

    results = {}
    for allocator in ("default allocator", "keep_large_blocks()"):
        if allocator != "default allocator":
            keep_large_blocks()
        for n in (10_000, 100_000):
            rates, det = measure(
                n, args.minutes, args.profile and n == 100_000, warm_up=args.warm_up
            )
            results[allocator, n] = rates
            show(f"{n:>7,} sensors, {allocator}", rates)
        # The same park fed as ingest delivers it: slices of 1,000 readings.
        later = deque(batches(n, args.warm_up + args.minutes * BLOCK + 3), maxlen=3)
        small = [
            Batch(
                *(
                    getattr(b, f)[k : k + 1000]
                    for f in ("sensor", "ts", "value", "quality", "flags")
                )
            )
            for b in later
            for k in range(0, n, 1000)
        ]
        r = rate(det, small)
        print(
            f"Detector.step {n:>7,} sensors, batches of 1,000: "
            f"{r.median / 1e6:6.2f} M sensor-updates/s median, {r.best / 1e6:6.2f} M best"
        )
    # A fifth of the park in generic rigs: the multivariate check (RELATION, T²) on 5,000
    # groups of 4, warmed up (its groups learn their first 200 samples) before timing.
    rates, _ = measure(100_000, args.minutes, warm_up=args.warm_up, rigs=True)
    show("100,000 sensors, a fifth in generic rigs (RELATION on)", rates)
    # Gateways on their own clocks: the readings of a step spread over `jitter_s`.
    for n in (10_000, 100_000):
        rates, _ = measure(n, args.minutes, jitter_s=args.jitter_s, warm_up=args.warm_up)
        show(f"{n:>7,} sensors, unsynchronised (ts spread {args.jitter_s:g} s)", rates)
    st, pa = det.state.nbytes / n, det.params.nbytes / n
    print(f"state {st:.0f} B/sensor + params {pa:.0f} B/sensor = {st + pa:.0f} B/sensor")

    n = 10_000
    tab, work = park(n), list(batches(n, REF_WARM_UP + 3))
    ref = ReferenceDetector(tab, T0)
    for b in work[:REF_WARM_UP]:
        ref.step(b)
    ref_rates = rate(ref, work[REF_WARM_UP:])
    print(
        f"reference loop {n:>7,} sensors: {ref_rates.median / 1e6:6.3f} M sensor-updates/s "
        f"median, {ref_rates.best / 1e6:6.3f} M best step (refits its window: O(window) per "
        "reading)"
    )
    for allocator in ("default allocator", "keep_large_blocks()"):
        r = results[allocator, n]
        print(
            f"ratio Detector/reference at 10,000 sensors, {allocator}: "
            f"{r.median / ref_rates.median:.0f}x medians, {r.best / ref_rates.best:.0f}x best, "
            f"{r.sustained / ref_rates.median:.0f}x sustained/median"
        )


if __name__ == "__main__":
    main()
