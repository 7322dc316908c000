"""The service's timers for the tick (alerting.tick): silence, transfer plan expiry and the
end of mutes (a shelve's expiry, an out-of-service's end).

Each says what is due at a time and when it is next due; the tick sends what is due
through the alarm pipeline. Live and replay build the same ones (hazardwatch.shell.service).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from alerting import MuteBook, MuteExpired
from detectors import Detector
from hazardwatch.vocabulary.model import Condition, ConditionChange
from hazardwatch.vocabulary.transfers import TransferDesk

_COMM = np.uint32(Condition.COMM_LOSS.bit)


class StaleCheck:
    """COMM_LOSS for every sensor silent longer than its stale time (Detector.check_stale).

    `judged_at(now)` is the time silence is judged at (Service.stale_now: the data's time
    while the service lags its readings).
    """

    def __init__(self, detector: Detector, judged_at: Callable[[float], float]) -> None:
        self._detector = detector
        self._judged_at = judged_at

    def due(self, now: float) -> list[ConditionChange]:
        return self._detector.check_stale(self._judged_at(now))

    def next_due(self) -> float | None:
        """When the first sensor not yet lost falls silent (raised just after it)."""
        st, stale_after = self._detector.state, self._detector.params.stale_after_s
        watched = ((st.active & _COMM) == 0) & np.isfinite(stale_after)
        if not watched.any():
            return None
        return float(np.min(st.last_seen[watched] + stale_after[watched]))


class PlanExpiry:
    """Closes transfer plans past their expiry; their tanks' OVERRUN clears (TransferDesk)."""

    def __init__(self, desk: TransferDesk) -> None:
        self._desk = desk

    def due(self, now: float) -> list[ConditionChange]:
        return self._desk.expire(now)

    def next_due(self) -> float | None:
        return self._desk.book.next_expiry()


class MuteExpiry:
    """Ends the mute markers whose time is up (alerting.mute): a shelve expires and its
    alarm, if still active, is announced again; an instrument's out-of-service ends."""

    def __init__(self, mutes: MuteBook) -> None:
        self._mutes = mutes

    def due(self, now: float) -> list[MuteExpired]:
        return self._mutes.due(now)

    def next_due(self) -> float | None:
        return self._mutes.next_due()
