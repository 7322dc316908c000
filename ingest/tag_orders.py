"""Tag orders: a gateway batch's tags resolved to sensors once per order, not once per row.

A gateway sends its tags in the same few orders message after message (a sweep over its
tags in chunks). Comparing a message's tag tuple with the order last seen starting at the
same tag is one C-level pass over strings the parser has just made; a dict lookup per tag
hashes each fresh string and reaches into a dict of thousands of tags (16 % of the event
loop saturated at 160 k readings/s before, issue 18).

>>> orders = TagOrders(("A", "B", "C"))
>>> lookup = {"A": 0, "B": 1, "C": 2}
>>> orders.resolve(lookup, ("C", "A"))
(array([2, 0]), True)
>>> orders.resolve(lookup, ("C", "A")), orders.reused
((array([2, 0]), True), 1)
>>> orders.resolve(lookup, ("C", "X")) is None
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Rows kept over all remembered orders (pointers and sensor indices, 16 bytes a row): a
# sender that never repeats an order costs at most this, then the memory starts over.
MAX_ROWS = 1_000_000


class TagOrders:
    """The tag orders seen, each under the sensor of its first tag."""

    __slots__ = ("_orders", "_rows", "max_rows", "reused", "tags")

    def __init__(self, tags: tuple[str, ...], max_rows: int = MAX_ROWS) -> None:
        self.tags = tags  # the site's names by sensor index: a remembered order holds these
        self.max_rows = max_rows
        self.reused = 0  # messages resolved from a remembered order
        self._orders: dict[int, tuple[tuple[str, ...], np.ndarray, bool]] = {}
        self._rows = 0

    def resolve(
        self, lookup: dict[str, int], tags: tuple[Any, ...]
    ) -> tuple[np.ndarray, bool] | None:
        """(the sensors of `tags` as a new int64 array, whether none repeats), or None when
        one is not in `lookup`. Raises TypeError for a tag that cannot be a dict key."""
        first = lookup.get(tags[0])
        if first is None:
            return None
        known = self._orders.get(first)
        if known is not None and known[0] == tags:
            self.reused += 1
            return known[1].copy(), known[2]
        try:
            sensors = list(map(lookup.__getitem__, tags))
        except KeyError:
            return None
        unique = len(set(sensors)) == len(sensors)
        column = np.array(sensors, np.int64)
        self._remember(first, tuple(map(self.tags.__getitem__, sensors)), column, unique)
        return column.copy(), unique

    def _remember(
        self, first: int, order: tuple[str, ...], column: np.ndarray, unique: bool
    ) -> None:
        if self._rows + len(order) > self.max_rows:
            self._orders.clear()
            self._rows = 0
        old = self._orders.get(first)
        if old is not None:
            self._rows -= len(old[0])
        self._orders[first] = (order, column, unique)
        self._rows += len(order)

    def __len__(self) -> int:
        return len(self._orders)
