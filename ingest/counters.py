"""Ingest counters: what came in, what was kept, what was rejected and why."""

from __future__ import annotations

from typing import Any

from ingest.decoded import NOTED, Decoded, Reason
from ingest.sequence import Sequences


class IngestCounters:
    """Running totals since start-up; `snapshot()` is what GET /api/health shows.

    A rejection counts once, whether it is one row or a whole message.

    >>> c = IngestCounters(); c.snapshot()["rejected"]["oversize"]
    0
    """

    def __init__(self) -> None:
        self.messages_received = 0
        self.readings_received = 0
        self.readings_accepted = 0
        self.rejected_by_reason: dict[Reason, int] = {r: 0 for r in Reason if r not in NOTED}
        # readings kept but noted (Decoded.noted): moved to receipt time, clock ahead, ...
        self.noted_by_reason: dict[Reason, int] = dict.fromkeys(NOTED, 0)
        self.gateway_online = 0
        self.gateway_offline = 0
        self.reconnects = 0
        self.connect_failures = 0
        self.session_takeovers = 0  # connections lost young and retaken at once (ingest.takeover)
        self.deadletter_errors = 0
        # messages that carried nothing to keep and nothing wrong, by what they were
        self.ignored: dict[str, int] = {}
        self.replies_sent = 0  # answers of the inputs: session limits, rebirth requests
        self.reply_failures = 0
        self.sequences = Sequences()  # gateway batch numbers: batches that never came

    def record(self, decoded: Decoded) -> None:
        """Count one decoded message."""
        self.messages_received += 1
        accepted = len(decoded.batch)
        self.readings_accepted += accepted
        self.readings_received += accepted + len(decoded.rejections)
        for rejection in decoded.rejections:
            self.rejected_by_reason[rejection.reason] += 1
        for note in decoded.noted:
            self.noted_by_reason[note.reason] += 1
        if decoded.ignored is not None:
            self.ignored[decoded.ignored] = self.ignored.get(decoded.ignored, 0) + 1
        if decoded.seq is not None:
            self.sequences.note(*decoded.seq)
        if decoded.status is not None:
            if decoded.status.online:
                self.gateway_online += 1
            else:
                self.gateway_offline += 1

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected_by_reason.values())

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready copy of every counter; every reason is present, zero or not."""
        return {
            "messages_received": self.messages_received,
            "readings_received": self.readings_received,
            "readings_accepted": self.readings_accepted,
            "rejected_total": self.rejected_total,
            "rejected": {str(r): n for r, n in self.rejected_by_reason.items()},
            "noted": {str(r): n for r, n in self.noted_by_reason.items()},
            "gateway_status": {"online": self.gateway_online, "offline": self.gateway_offline},
            "reconnects": self.reconnects,
            "connect_failures": self.connect_failures,
            "session_takeovers": self.session_takeovers,
            "deadletter_errors": self.deadletter_errors,
            "ignored": dict(self.ignored),
            "replies": {"sent": self.replies_sent, "failed": self.reply_failures},
            "batches_missing": self.sequences.missing,
            "gateway_seq": self.sequences.snapshot(),
        }
