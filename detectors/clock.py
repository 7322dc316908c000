"""CLOCK_AHEAD: a sensor's readings are stamped ahead of the service's clock.

The detector ignores a reading older than the last one it applied, so one reading stamped
five minutes ahead would blind its sensor for five minutes. Ingest therefore judges a
reading stamped more than its tolerance after receipt at receipt time and flags it
(FLAG_TS_AHEAD, ingest.decode); this rule shows the operator why: each reading the detector
applies sets CLOCK_AHEAD on its sensor if it was flagged and clears it if not. An instrument
condition: the gateway's clock needs setting, the process is judged all the same.
"""

from __future__ import annotations

import numpy as np

from detectors.changes import Changes
from detectors.rule import Round
from detectors.state import State
from hazardwatch.vocabulary.model import Condition

AHEAD = np.uint32(Condition.CLOCK_AHEAD.bit)


class ClockAheadRule:
    """CLOCK_AHEAD as a rule (detectors.rule): follows each reading's FLAG_TS_AHEAD."""

    conditions = frozenset({Condition.CLOCK_AHEAD})

    def __init__(self) -> None:
        # Sensors holding CLOCK_AHEAD (-1: count again). While none does and no reading is
        # flagged, a round costs nothing.
        self._held = 0

    def judge(self, st: State, rnd: Round, out: Changes) -> None:
        if self._held < 0:
            self._held = int(np.count_nonzero(st.active & AHEAD))
        if rnd.ahead is None and self._held == 0:
            return
        heard = rnd.applied
        sensors = rnd.sensors[heard]
        now = np.zeros(sensors.size, bool) if rnd.ahead is None else rnd.ahead[heard]
        was = (st.active[sensors] & AHEAD) != 0
        flip = np.flatnonzero(now != was)
        if flip.size == 0:
            return
        s = sensors[flip]
        st.active[s] ^= AHEAD
        self._held += int(np.count_nonzero(now[flip])) - int(np.count_nonzero(was[flip]))
        out.add(
            s,
            Condition.CLOCK_AHEAD,
            now[flip],
            rnd.values[heard][flip],
            rnd.ts[heard][flip],
            round_no=rnd.number,
        )

    def restore(self, st: State, sensor: int, condition: Condition) -> None:
        if condition is Condition.CLOCK_AHEAD:
            self._held = -1  # its next reading clears it, unless that one is ahead too
