"""detectors.rounds against a plain loop: round r holds each sensor's r-th reading in ts
order (ties in arrival order), the rounds in sensor order."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.rounds import rounds


def _naive(sensor: np.ndarray, ts: np.ndarray) -> list[list[int]]:
    per: dict[int, list[int]] = {}
    for i in range(sensor.size):
        per.setdefault(int(sensor[i]), []).append(i)
    for idx in per.values():
        idx.sort(key=lambda i: (ts[i], i))
    out: list[list[int]] = []
    for s in sorted(per):
        for r, i in enumerate(per[s]):
            if r == len(out):
                out.append([])
            out[r].append(i)
    return out


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 6), st.sampled_from([0.0, 1.0, 1.5, 2.0, 7.0])),
        min_size=1,
        max_size=60,
    )
)
def test_rounds_equal_a_plain_loop(readings: list[tuple[int, float]]) -> None:
    sensor = np.array([s for s, _ in readings], np.int64)
    ts = np.array([t for _, t in readings])
    found, _ = rounds(sensor, ts, 7)
    expected = _naive(sensor, ts)
    if found == [None]:  # every sensor once: one round, all of them
        assert len(expected) == 1 and sorted(expected[0]) == list(range(sensor.size))
    else:
        assert [r.tolist() for r in found] == expected


def test_a_long_block_splits_into_one_round_per_reading_of_a_sensor() -> None:
    sensor = np.tile(np.arange(50), 400)
    ts = np.repeat(np.arange(400.0), 50)
    found, _ = rounds(sensor, ts, 50)
    assert len(found) == 400
    assert all(r.tolist() == list(range(50 * k, 50 * k + 50)) for k, r in enumerate(found))
