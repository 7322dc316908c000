"""The sliding window of each sensor: a ring of recent samples and its running sums.

The ring is stored (RING_SIZE, n) so that writing one slot of every sensor is one
contiguous row. A sample leaves the window when the ring is full or when it is older
than `rate_window_s` before the newest one; the sums of x = ts - t0, y = value - v0
follow by subtraction, O(1) per reading. The per-sensor origin (t0, v0) keeps the sums
of squares small; every REBASE_S of sensor time the origin moves to the window's oldest
sample and the sums are recomputed from the ring, which also sheds rounding that
subtraction accumulates. A sample is pushed per sensor inside the compiled sampling
loop (detectors.sampling).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import types

from detectors.compiled import compiled, inlined, writes
from detectors.state import State

REBASE_S = 3600.0
# At most this share of the park (or of a block of it) is rebased in one round (at least 64
# sensors), so a park that started together does not pay for all its rebases in the same step.
REBASE_SHARE = 1 / 16


class Window(NamedTuple):
    """A park's window arrays (the State's own), as the compiled loops take them."""

    ring_ts: np.ndarray
    ring_value: np.ndarray
    head: np.ndarray
    count: np.ndarray
    t0: np.ndarray
    v0: np.ndarray
    sums: np.ndarray
    tail_ts: np.ndarray

    @classmethod
    def of(cls, st: State) -> Window:
        return cls(*(getattr(st, name) for name in cls._fields))


# The numba type of a Window: the type take_samples is compiled for.
_ROW, _RING = writes(types.float64), writes(types.float64, 2)
_COUNT = writes(types.int64)
WINDOW = types.NamedTuple((_RING, _RING, _COUNT, _COUNT, _ROW, _ROW, _RING, _ROW), Window)


@inlined
def push(i: int, t: float, v: float, window_s: float, w: Window) -> float:
    """Add the sample (t, v) to sensor i's window (t no older than its newest sample) and
    drop what falls out: the oldest of a full ring, then every sample older than
    `window_s` before t (the newest always stays). Returns x = t - t0 of the new sample."""
    size = w.ring_ts.shape[0]
    c, h = w.count[i], w.head[i]
    a, b = w.t0[i], w.v0[i]
    sums = w.sums
    s0, s1, s2, s3, s4 = sums[0, i], sums[1, i], sums[2, i], sums[3, i], sums[4, i]
    if c >= size:  # the slot about to be written holds the oldest sample
        x, y = w.tail_ts[i] - a, w.ring_value[h, i] - b
        s0, s1, s2, s3, s4 = s0 - x, s1 - y, s2 - x * x, s3 - x * y, s4 - y * y
        c -= 1
    if c == 0:  # an empty window: its first sample is the origin
        a, b = t, v
        s0 = s1 = s2 = s3 = s4 = 0.0
    c += 1
    x_new, y = t - a, v - b
    s0, s1, s2, s3, s4 = s0 + x_new, s1 + y, s2 + x_new * x_new, s3 + x_new * y, s4 + y * y
    w.ring_ts[h, i], w.ring_value[h, i] = t, v
    h = 0 if h + 1 == size else h + 1
    cut = t - window_s
    tail = h - c if h >= c else h - c + size
    oldest = w.ring_ts[tail, i]
    while c > 1 and oldest < cut:
        x, y = oldest - a, w.ring_value[tail, i] - b
        s0, s1, s2, s3, s4 = s0 - x, s1 - y, s2 - x * x, s3 - x * y, s4 - y * y
        c -= 1
        tail = 0 if tail + 1 == size else tail + 1
        oldest = w.ring_ts[tail, i]
    w.head[i], w.count[i], w.tail_ts[i], w.t0[i], w.v0[i] = h, c, oldest, a, b
    sums[0, i], sums[1, i], sums[2, i], sums[3, i], sums[4, i] = s0, s1, s2, s3, s4
    return x_new


@compiled
def rebase(i: int, w: Window) -> None:
    """Move sensor i's origin to its oldest sample and its newest value; recompute its sums
    from the ring, exactly."""
    ring_ts, ring_value = w.ring_ts, w.ring_value
    size = ring_ts.shape[0]
    h, c = w.head[i], w.count[i]
    a = np.inf
    for slot in range(size):
        if (h - 1 - slot) % size < c and ring_ts[slot, i] < a:
            a = ring_ts[slot, i]
    b = ring_value[(h - 1) % size, i]
    s0 = s1 = s2 = s3 = s4 = 0.0
    for slot in range(size):
        if (h - 1 - slot) % size < c:
            x, y = ring_ts[slot, i] - a, ring_value[slot, i] - b
            s0, s1, s2, s3, s4 = s0 + x, s1 + y, s2 + x * x, s3 + x * y, s4 + y * y
    w.t0[i], w.v0[i] = a, b
    w.sums[0, i], w.sums[1, i], w.sums[2, i], w.sums[3, i], w.sums[4, i] = s0, s1, s2, s3, s4


def oldest_ts(st: State, sensors: np.ndarray) -> np.ndarray:
    """The ts of the oldest sample in the window of each of `sensors` (NaN when empty)."""
    return np.where(st.count[sensors] > 0, st.tail_ts[sensors], np.nan)


def samples(st: State, sensor: int) -> list[tuple[float, float]]:
    """The window of one sensor, oldest first (for tests and inspection)."""
    size = st.ring_ts.shape[0]
    k, h = int(st.count[sensor]), int(st.head[sensor])
    slots = [(h - k + j) % size for j in range(k)]
    return [(float(st.ring_ts[s, sensor]), float(st.ring_value[s, sensor])) for s in slots]
