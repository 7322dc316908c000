"""`sorted_slices` cuts a store's sorted read into the Slicer's slices: the same ids, times,
rows and readings, wherever the chunks happen to end (a slice split across two chunks is
one slice)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hazardwatch.shell.replay_csv import Chunk
from hazardwatch.shell.replay_slices import Slice, Slicer, sorted_slices


def _chunks(seed: int) -> list[Chunk]:
    """Readings of 7 sensors at irregular times, sorted by (ts, sensor), each (sensor, ts)
    once, cut into chunks at random places (inside slices too)."""
    rng = np.random.default_rng(seed)
    ts = np.round(1_000.0 + np.cumsum(rng.exponential(0.4, 600)), 2)
    ts = np.repeat(ts, rng.integers(1, 4, ts.size))  # several sensors at one instant
    sensor = np.concatenate(
        [rng.choice(7, k, replace=False) for k in np.unique(ts, return_counts=True)[1]]
    )
    order = np.lexsort((sensor, ts))
    ts, sensor = ts[order], sensor[order]
    value = rng.normal(0, 1, ts.size)
    quality = rng.integers(0, 3, ts.size).astype(np.uint8)
    row = np.arange(1, ts.size + 1)
    cuts = [0, *sorted(rng.choice(np.arange(1, ts.size), 9, replace=False).tolist()), ts.size]
    return [
        Chunk(b - a, row[a:b], sensor[a:b], ts[a:b], value[a:b], quality[a:b], [])
        for a, b in itertools.pairwise(cuts)
    ]


def _flat(slices: list[Slice]) -> list[tuple]:
    return [
        (s.id, s.start, s.end, s.row.tolist(), s.batch.sensor.tolist(), s.batch.ts.tolist(),
         s.batch.value.tolist(), s.batch.quality.tolist(), s.batch.flags.tolist())
        for s in slices
    ]  # fmt: skip


@pytest.mark.parametrize("slice_s", [1.0, 0.5, 5.0])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sorted_slices_are_the_slicers_slices(seed: int, slice_s: float) -> None:
    chunks = _chunks(seed)
    slicer = Slicer(slice_s, [f"T{i}" for i in range(7)], "store")
    expected = [s for c in chunks for s in slicer.feed(c)] + slicer.finish()
    assert slicer.late == 0 and not slicer.duplicates
    got = list(sorted_slices(iter(chunks), slice_s))
    assert _flat(got) == _flat(expected)
    assert len(got) > 40
