"""Gateway batch sequence numbers: batches that never arrived, counted per gateway.

A gateway may number its batches (``"seq"`` in wire format v1, 0, 1, 2, ... per gateway).
A jump counts the batches between as missing (lost before they reached us: a broker that
dropped them from a full queue, a gateway that failed to send); a number seen before is a
redelivery (QoS 1 is at least once) and counts nothing; 0, or a number far below the last,
is the gateway starting again.

>>> s = Sequences()
>>> for n in (0, 1, 2, 5, 4, 6, 0, 1):
...     s.note("e1/gw1", n)
>>> s.snapshot()
{'e1/gw1': {'last': 1, 'missing': 2, 'repeated': 1, 'restarts': 1, 'bad': 0}}
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

RESTART_BELOW = 1000  # a number this far below the last one: the gateway started again


@dataclass
class _Gateway:
    last: int
    missing: int = 0
    repeated: int = 0
    restarts: int = 0
    bad: int = 0


class Sequences:
    """Per gateway (`enterprise/gateway`): last number, batches missing, repeats, restarts."""

    def __init__(self) -> None:
        self._of: dict[str, _Gateway] = {}

    def note(self, gateway: str, seq: int) -> None:
        """One batch's number; a negative one stands for a `seq` that was not a whole number
        of 0 or more (counted as bad, the batch's readings are kept)."""
        g = self._of.get(gateway)
        if g is None:
            g = self._of[gateway] = _Gateway(last=-1)
        if seq < 0:
            g.bad += 1
        elif g.last < 0:
            g.last = seq
        elif seq > g.last:
            g.missing += seq - g.last - 1
            g.last = seq
        elif seq != g.last and (seq == 0 or seq < g.last - RESTART_BELOW):
            g.restarts += 1
            g.last = seq
        else:
            g.repeated += 1

    @property
    def missing(self) -> int:
        return sum(g.missing for g in self._of.values())

    def snapshot(self) -> dict[str, Any]:
        return {key: asdict(g) for key, g in sorted(self._of.items())}
