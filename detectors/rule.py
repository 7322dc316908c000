"""The one protocol every rule of the detector speaks, and the round it is given.

A rule owns some conditions (`conditions`). After each round of readings (each sensor at
most once) the detector hands every rule of its tuple the same `Round`; the rule judges
what the round touched and writes its condition bits into `State.active`, recording each
change in `out`. Its timers live in `State`; deadband, delays and latching are
detectors.decide's. After a restart the detector hands each rule the conditions the alarm
journal says are active (`restore`), so it can judge them again by the ordinary rules.

Adding a rule is its file (a class with these three members), one line in `build` of
detectors.rules, and its test; the conformance suite (tests/unit/test_rule_conformance.py)
runs on every rule of the tuple.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Protocol, runtime_checkable

import numpy as np

from detectors.changes import Changes
from detectors.state import State
from hazardwatch.vocabulary.model import Condition


@dataclass(frozen=True, eq=False)
class Round:
    """One round of readings, as a rule may want it (arrays are read-only to rules).

    `sensors`, `ts`, `values`: one reading per sensor index in `sensors`; `dense` rounds
    cover the park in sensor order (`sensors` is every index, `ts` NaN where a sensor had
    none). `applied`: per reading whether it was applied (not older than its sensor's last
    one). `measured`: whether it was a measurement (applied, not bad, in range).
    `usable`: whether the process checks used it (no signal fault held it back; True: all).
    `gas_moved`: positions (into `sensors`) whose gas level bits changed in this round.
    `number`: the round's number within the detector call (orders changes of one sensor).
    `ahead`: per reading whether ingest moved it to receipt time because its ts was ahead
    (FLAG_TS_AHEAD); None when no reading of the detector call was.
    """

    sensors: np.ndarray
    ts: np.ndarray
    values: np.ndarray
    applied: np.ndarray
    usable: np.ndarray | bool
    measured: np.ndarray
    gas_moved: np.ndarray
    number: int
    dense: bool
    ahead: np.ndarray | None = None

    @cached_property
    def usable_ts(self) -> np.ndarray:
        """`ts` where the reading was usable, -inf elsewhere (NaN stays: no reading); made
        once for every rule that asks."""
        return self.ts if self.usable is True else np.where(self.usable, self.ts, -np.inf)

    @cached_property
    def usable_positions(self) -> np.ndarray | slice:
        """The positions of the usable readings (a slice: all)."""
        return slice(None) if self.usable is True else np.flatnonzero(self.usable)


class Rule(Protocol):
    """A rule of the detector: judges rounds, writes the bits of its own conditions."""

    @property
    def conditions(self) -> frozenset[Condition]:
        """The conditions this rule raises and clears (and no other rule does)."""
        ...

    def judge(self, st: State, rnd: Round, out: Changes) -> None:
        """Judge what `rnd` touched; write its conditions' bits into `st.active`; record
        every change in `out` (with `rnd.number` as its round)."""
        ...

    def restore(self, st: State, sensor: int, condition: Condition) -> None:
        """`condition` was active on `sensor` before a restart and is marked again: arrange
        for what this rule judges to be judged again by the ordinary rules. Every rule
        hears of every restored condition (one of another rule's may concern it: a gas
        level restored means the area must be recounted)."""
        ...


class Orphans:
    """Sensors holding a restored condition their rule no longer judges (the site changed
    since): each clears on its sensor's next usable reading, reporting that reading's value.
    """

    def __init__(self, condition: Condition) -> None:
        self.condition = condition
        self.sensors = np.empty(0, np.int64)

    @property
    def size(self) -> int:
        return int(self.sensors.size)

    def add(self, sensor: int) -> None:
        self.sensors = np.union1d(self.sensors, [sensor])

    def release(self, st: State, rnd: Round, out: Changes) -> None:
        """Clear the orphans that took a usable reading in `rnd`."""
        if self.sensors.size == 0:
            return
        at = rnd.usable_positions
        sensors, ts = rnd.sensors[at], rnd.ts[at]
        heard = np.isin(sensors, self.sensors) & (ts > -np.inf)  # NaN: no reading
        if heard.any():
            s = sensors[heard]
            st.active[s] &= ~np.uint32(self.condition.bit)
            out.add(s, self.condition, False, st.last_value[s], ts[heard], round_no=rnd.number)
            self.sensors = np.setdiff1d(self.sensors, s)


@runtime_checkable
class Learns(Protocol):
    """A rule that also learns from readings that only teach (Detector.learn)."""

    def learn(self, sensors: np.ndarray, values: np.ndarray) -> None:
        """Learn from one measurement per sensor of `sensors` (a round of Detector.learn)."""
        ...


@runtime_checkable
class Remembers(Protocol):
    """A rule whose own memory outlives a restart: detectors.checkpoint saves `memory()`
    beside the State and hands it back to `remember` after a restart, maybe into a park
    whose config changed since (the rule restores only what is still its own)."""

    memory_name: str  # the name its arrays are saved under

    def memory(self) -> dict[str, np.ndarray]:
        """The rule's memory as named arrays (copies: they are written in another thread)."""
        ...

    def remember(self, arrays: dict[str, np.ndarray]) -> int:
        """Take back what of `arrays` (a `memory()`) is still its own; how many entities."""
        ...
