"""Transfer plans for a replay: the `_plan` messages of a recording, one JSON object a line.

`hazardwatch simulate --csv OUT.csv` writes them to `OUT.plans.jsonl`; a plant can export
its DCS's transfer orders the same way. Each line is checked as the live `_plan` topic
checks it (ingest.plans); a bad line is a rejection with its line number, never fatal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hazardwatch.vocabulary.model import SensorTable, TransferPlan
from ingest import PlanClosed, Rejection
from ingest.fields import BadField, TsWindow, loads
from ingest.plans import decode_plan

Plan = TransferPlan | PlanClosed
_ANY_TIME = 1e12  # a recording's plans are judged against the readings, not the wall clock


@dataclass
class Plans:
    """A recording's plans in time order, handed out slice by slice."""

    items: list[Plan] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    _next: int = 0

    def due(self, until: float) -> list[Plan]:
        """The plans made before `until` not handed out yet."""
        start = self._next
        while self._next < len(self.items) and self.items[self._next].ts < until:
            self._next += 1
        return self.items[start : self._next]


def load_plans(path: Path, table: SensorTable) -> Plans:
    """Read and check every line of `path`; OSError if it cannot be read at all."""
    out = Plans()
    window = TsWindow(0.0, _ANY_TIME, _ANY_TIME)
    topic = str(path)
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                out.items.append(decode_plan(loads(line), None, table, window))
            except BadField as bad:
                detail = f"line {number}: {bad.detail}"
                out.rejections.append(Rejection(bad.reason, topic, detail, line[:4096], number))
    out.items.sort(key=lambda p: p.ts)  # stable: equal times keep the file's order
    return out


def plans_rejected(plans: Plans) -> dict[str, int]:
    """Rejections by reason, for the replay summary."""
    counts: dict[str, int] = {}
    for r in plans.rejections:
        counts[str(r.reason)] = counts.get(str(r.reason), 0) + 1
    return counts
