"""The sliding window of each sensor: a ring of recent samples and its running sums.

The ring is stored (RING_SIZE, n) so that writing one slot of every sensor is one
contiguous row. A sample leaves the window when the ring is full or when it is older
than `rate_window_s` before the newest one; the sums of x = ts - t0, y = value - v0
follow by subtraction, O(1) per reading. The per-sensor origin (t0, v0) keeps the sums
of squares small; every REBASE_S of sensor time the origin moves to the window's oldest
sample and the sums are recomputed from the ring, which also sheds rounding that
subtraction accumulates.
"""

from __future__ import annotations

import numpy as np

from detectors.state import State, columns

REBASE_S = 3600.0
# At most this share of the park (or of a block of it) is rebased in one round (at least 64
# sensors), so a park that started together does not pay for all its rebases in the same step.
REBASE_SHARE = 1 / 16


def _terms(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.stack([x, y, x * x, x * y, y * y])


def _add(sums: np.ndarray, x: np.ndarray, y: np.ndarray, sign: float = 1.0) -> None:
    """sums += sign x the terms of (x, y), in place, row by row (no (5, n) temporary).

    With sign -1 pass (-x, -y): the linear terms then subtract and the products of two
    negated values keep their sign, so only the squares need the explicit sign.
    """
    sums[0] += x
    sums[1] += y
    term = x * x
    add = np.add if sign > 0 else np.subtract  # a - b is exactly a + (-1 * b)
    add(sums[2], term, out=sums[2])
    add(sums[3], np.multiply(x, y, out=term), out=sums[3])
    add(sums[4], np.multiply(y, y, out=term), out=sums[4])


def _subtract_where(sums: np.ndarray, mask: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
    """sums -= the terms of (x, y) where `mask` holds, in place.

    The other rows subtract terms of 0.0 (s - 0.0 is s, -0.0 included): when most rows take
    part that costs less than gathering and scattering the sums.
    """
    x, y = np.where(mask, x, 0.0), np.where(mask, y, 0.0)
    sums[0] -= x
    sums[1] -= y
    term = x * x
    sums[2] -= term
    sums[3] -= np.multiply(x, y, out=term)
    sums[4] -= np.multiply(y, y, out=term)


def _subtract_at(sums: np.ndarray, sel: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
    """sums[:, sel] -= the terms of (x, y), in place, row by row (a 2-D fancy update costs
    a few times more)."""
    for row, term in zip(sums, (x, y, x * x, x * y, y * y), strict=True):
        row[sel] -= term


def _most(part: np.ndarray, whole: np.ndarray) -> bool:
    return part.size * 4 >= whole.size


def push(
    st: State, rows: np.ndarray | slice, t: np.ndarray, v: np.ndarray, window_s: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Add one sample per sensor in `rows` (no duplicates, each ts >= its window's newest).

    Returns their new (count, t0, v0, sums (5, len(rows))) as the state now holds them, so
    the slope is fitted without gathering them again (for a slice: views of the state).
    """
    size, n = st.ring_ts.shape
    dense = isinstance(rows, slice)
    cols = np.arange(*rows.indices(n)) if dense else rows
    flat_ts, flat_v = st.ring_ts.reshape(-1), st.ring_value.reshape(-1)
    count, head = st.count[rows], st.head[rows]
    t0, v0 = st.t0[rows], st.v0[rows]
    sums = columns(st.sums, rows)  # a view for a slice: updated in place
    slot = head * n
    slot += cols
    full = count >= size
    # A park past its first RING_SIZE readings: one sample leaves, one enters, count stays.
    ring_full = size > 1 and bool(full.all())
    moved_origin = False
    # The slot about to be written holds the oldest sample of a full ring: its ts is the
    # window's tail_ts (read from a park-sized array, not from the ring).
    if ring_full:
        x, y = np.subtract(t0, st.tail_ts[rows]), flat_v.take(slot)
        _add(sums, x, np.subtract(v0, y, out=y), sign=-1.0)
    else:
        f = np.flatnonzero(full)
        if _most(f, full):
            x, y = st.tail_ts[rows], flat_v.take(slot)
            _subtract_where(sums, full, x - t0, y - v0)
            count = count - full
        elif f.size:
            sf = slot[f]  # take() gathers about twice as fast as fancy indexing here
            _subtract_at(sums, f, flat_ts.take(sf) - t0[f], flat_v.take(sf) - v0[f])
            count = count - full
        empty = count == 0
        if empty.any():
            t0, v0 = np.where(empty, t, t0), np.where(empty, v, v0)
            sums[:, empty] = 0.0
            moved_origin = True
        count = count + 1
    x = t - t0
    _add(sums, x, v - v0)
    flat_ts[slot], flat_v[slot] = t, v
    head = head + 1
    head[head == size] = 0
    # Samples older than the window, oldest first (the newest one always stays). A pass over
    # every row while most windows lose a sample, then over the few that still do.
    cut = t - window_s
    sel = None
    every = None  # a pass over every row: the mask of rows that may lose another sample
    for k in range(size):
        if sel is None:
            if ring_full and k == 0:
                tail = head  # the oldest sample sits right after the newest
            else:
                tail = head - count
                tail += (tail < 0) * size
            where = tail * n
            where += cols
            old_t = flat_ts.take(where)
            if every is None:
                oldest = old_t  # per row, the ts of its oldest sample once the loop is done
                ev = old_t < cut
            else:
                oldest = np.where(every, old_t, oldest)
                ev = old_t < cut
                ev &= every
            sel = np.flatnonzero(ev)
            if sel.size == 0:
                break
            if _most(sel, ev):  # no gathers: most windows lose a sample (a full time window)
                _subtract_where(sums, ev, old_t - t0, flat_v.take(where) - v0)
                count -= ev  # a view of the state for a full ring and a slice
                sel, every = None, ev
                continue
            where, old_t = where[sel], old_t[sel]
        else:
            tail = head[sel] - count[sel]
            tail += size * (tail < 0)
            where = tail * n + cols[sel]
            old_t = flat_ts.take(where)
            oldest[sel] = old_t
            ev = old_t < cut[sel]
            if not ev.any():
                break
            sel, where, old_t = sel[ev], where[ev], old_t[ev]
        _subtract_at(sums, sel, old_t - t0[sel], flat_v.take(where) - v0[sel])
        count[sel] -= 1  # a view of the state for a full ring and a slice
    st.head[rows] = head
    st.tail_ts[rows] = oldest
    if not (dense and ring_full):
        st.count[rows] = count
    if moved_origin:
        st.t0[rows], st.v0[rows] = t0, v0
    if not dense:
        for k in range(sums.shape[0]):
            st.sums[k][rows] = sums[k]
    due = np.flatnonzero(x > REBASE_S)
    if due.size:
        cap = max(64, int((cols.size if dense else n) * REBASE_SHARE))
        due = due[:cap]
        rebase(st, cols[due])
        if not dense:  # gathered copies (a slice's views see the rebase already)
            t0[due], v0[due] = st.t0[cols[due]], st.v0[cols[due]]
            sums[:, due] = st.sums[:, cols[due]]
    if dense:
        return st.count[rows], st.t0[rows], st.v0[rows], st.sums[:, rows]
    return count, t0, v0, sums


def rebase(st: State, sensors: np.ndarray) -> None:
    """Move the origin of `sensors` to their oldest sample and recompute their sums exactly."""
    size = st.ring_ts.shape[0]
    head, count = st.head[sensors], st.count[sensors]
    age = (head[None, :] - 1 - np.arange(size)[:, None]) % size  # 0: newest
    valid = age < count[None, :]
    ts = np.where(valid, st.ring_ts[:, sensors], np.nan)
    vs = np.where(valid, st.ring_value[:, sensors], np.nan)
    t0 = np.nanmin(ts, axis=0)
    v0 = vs[(head - 1) % size, np.arange(sensors.size)]  # the newest value
    x, y = np.nan_to_num(ts - t0), np.nan_to_num(vs - v0)
    st.t0[sensors], st.v0[sensors] = t0, v0
    st.sums[:, sensors] = _terms(x, y).sum(axis=1)


def oldest_ts(st: State, sensors: np.ndarray) -> np.ndarray:
    """The ts of the oldest sample in the window of each of `sensors` (NaN when empty)."""
    return np.where(st.count[sensors] > 0, st.tail_ts[sensors], np.nan)


def samples(st: State, sensor: int) -> list[tuple[float, float]]:
    """The window of one sensor, oldest first (for tests and inspection)."""
    size = st.ring_ts.shape[0]
    k, h = int(st.count[sensor]), int(st.head[sensor])
    slots = [(h - k + j) % size for j in range(k)]
    return [(float(st.ring_ts[s, sensor]), float(st.ring_value[s, sensor])) for s in slots]
