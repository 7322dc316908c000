"""Merges the batches of many messages into one, sorted by time, for the detectors."""

from __future__ import annotations

import numpy as np

from hazardwatch.vocabulary.model import Batch


class Batcher:
    """Accumulates decoded batches; `flush()` returns them as one batch in time order.

    The sort is stable, so readings with equal timestamps keep their arrival order and
    the readings of one sensor come out in time order. The caller decides when to flush
    (by `rows` or by time).

    >>> b = Batcher(); b.add(Batch.of([0, 1], [20.0, 10.0], [1.0, 2.0])); b.rows
    2
    >>> b.flush().ts.tolist(), b.rows
    ([10.0, 20.0], 0)
    """

    def __init__(self) -> None:
        self._pending: list[Batch] = []
        self._rows = 0

    @property
    def rows(self) -> int:
        """Readings waiting for the next flush."""
        return self._rows

    def add(self, batch: Batch) -> None:
        if len(batch):
            self._pending.append(batch)
            self._rows += len(batch)

    def flush(self) -> Batch:
        """Everything added since the last flush, sorted by ts; empty if nothing is pending."""
        pending, self._pending, self._rows = self._pending, [], 0
        merged = pending[0] if len(pending) == 1 else Batch.concat(pending)
        if len(merged) < 2 or bool(np.all(merged.ts[1:] >= merged.ts[:-1])):
            return merged
        order = np.argsort(merged.ts, kind="stable")
        return Batch(
            sensor=merged.sensor[order],
            ts=merged.ts[order],
            value=merged.value[order],
            quality=merged.quality[order],
            flags=merged.flags[order],
        )
