"""Putting a batch in order: rounds in which each sensor appears once, in sensor order.

A batch may hold several readings of one sensor; the detector applies them one round at
a time, each round at most one reading per sensor, earlier readings first. A round that
covers much of the park is then lifted into sensor order, so the state is read and
written as whole columns instead of gathered per reading.
"""

from __future__ import annotations

import itertools

import numpy as np

# Where each reading of a batch of every sensor once sits: (its sensors, position per sensor).
InOrder = tuple[np.ndarray, np.ndarray]


def rounds(
    sensor: np.ndarray, ts: np.ndarray, n: int
) -> tuple[list[np.ndarray | None], InOrder | None]:
    """Index arrays in which each sensor appears at most once, its readings in ts order,
    and, for a batch of every sensor once, where each sensor's reading sits (see `lift`).

    The common batch (each sensor once) is a single round, `None` meaning "all".

    >>> rounds(np.array([2, 0, 2]), np.array([5.0, 1.0, 4.0]), 3)[0]
    [array([1, 2]), array([0])]
    """
    if sensor.size == 0:
        return [], None
    in_order = None
    if sensor.size * 8 < n:  # small batch: sorting it beats counting every sensor
        ordered = np.sort(sensor)
        unique = not (ordered[1:] == ordered[:-1]).any()
    else:
        at = np.full(n, -1, np.int64)
        at[sensor] = np.arange(sensor.size)
        unique = np.count_nonzero(at >= 0) == sensor.size
        if unique and sensor.size == n:
            in_order = (sensor, at)
    if unique:
        return [None], in_order
    by_ts = np.argsort(ts, kind="stable")
    order = by_ts[np.argsort(sensor[by_ts], kind="stable")]
    s = sensor[order]
    pos = np.arange(s.size)
    first = np.maximum.accumulate(np.where(np.r_[True, s[1:] != s[:-1]], pos, 0))
    rank = pos - first
    # Grouped by rank in one stable sort (each round keeps sensor order): a mask per round
    # would read the whole batch once per round, quadratic in a long block.
    by_rank = np.argsort(rank, kind="stable")
    bounds = np.searchsorted(rank[by_rank], np.arange(int(rank.max()) + 2)).tolist()
    return [order[by_rank[a:z]] for a, z in itertools.pairwise(bounds)], None


def lift(
    idx: np.ndarray, t: np.ndarray, v: np.ndarray, q: np.ndarray, n: int, in_order: InOrder | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A round's (ts, value, quality) in sensor order; NaN ts where a sensor has none.

    >>> lift(np.array([2, 0]), np.array([7.0, 8.0]), np.array([1.0, 2.0]),
    ...      np.zeros(2, np.uint8), 3, None)[0]
    array([ 8., nan,  7.])
    """
    if in_order is not None and in_order[0] is idx:
        at = in_order[1]  # every sensor once: three gathers beat three scatters
        return _gather(t, at), v.take(at), _gather(q, at)
    if idx.size == n:  # every sensor once: the scatters cover every row
        t_all, v_all, q_all = np.empty(n), np.empty(n), np.empty(n, np.uint8)
    else:
        t_all, v_all = np.full(n, np.nan), np.full(n, np.nan)  # NaN ts: no reading
        q_all = np.zeros(n, np.uint8)
    t_all[idx], v_all[idx], q_all[idx] = t, v, q
    return t_all, v_all, q_all


def _gather(a: np.ndarray, at: np.ndarray) -> np.ndarray:
    """a.take(at); a column of one value (a poll stamped at one instant, all readings good)
    is filled instead, bit for bit."""
    bits = a.view(np.int64 if a.dtype == np.float64 else a.dtype)
    if bits[0] == bits[-1] and bits.min() == bits.max():
        return np.full(at.size, a[0])
    return a.take(at)
