"""Takeover: the broker hands our persistent session to another client again and again.

Two clients with one client id (a second HazardWatch started with the default
``--client-id``) take the session from each other: the broker drops the older connection
the moment the other connects, and both reconnect at once, dozens of times a second. What
shows from inside: a connection that dies young, followed by a reconnection the broker
accepts at once (a broker that is down or restarting refuses the first attempt instead).
After `after` of these in a row the session counts as taken over: an error is logged with
the fix, health says so, and each reconnection waits, doubling up to `pause_max_s`, so two
such services trade the session a few times a minute instead of sixty times a second.

>>> t = Takeovers("hazardwatch", "mqtt://b:1883", after=2, pause_initial_s=1.0)
>>> for now in (0.0, 0.1, 0.2, 0.3):
...     t.connected(now, at_once=True)
...     t.lost(now + 0.01)
>>> t.streak, t.pause_s(), t.taken_over(0.4) is not None
(3, 2.0, True)
>>> t.connected(1.0, at_once=True); t.taken_over(1.0 + 121) is None
True
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class Takeovers:
    """Counts connections lost young and retaken at once; says when to wait and why."""

    def __init__(
        self,
        client_id: str,
        broker_url: str,
        *,
        young_s: float = 120.0,
        after: int = 3,
        pause_initial_s: float = 1.0,
        pause_max_s: float = 60.0,
    ) -> None:
        self.client_id, self.broker_url = client_id, broker_url
        # longer than the longest pause, so two services that both wait still count
        self.young_s = young_s
        self.after = after
        self.pause_initial_s, self.pause_max_s = pause_initial_s, pause_max_s
        self.streak = 0  # connections in a row lost young and retaken at once
        self.total = 0  # every such loss since start
        self._connected_at: float | None = None
        self._lived_s: float | None = None  # how long the last lost connection lived

    def connected(self, now: float, *, at_once: bool) -> None:
        """A connection is up; `at_once`: the first attempt after the loss succeeded."""
        if self._lived_s is not None and self._lived_s < self.young_s and at_once:
            self.streak += 1
            self.total += 1
            if self.streak == self.after or (self.streak > self.after and self.streak % 10 == 0):
                log.error("%s", self.message())
        else:
            self.streak = 0
        self._connected_at, self._lived_s = now, None

    def lost(self, now: float) -> None:
        if self._connected_at is not None:
            self._lived_s = now - self._connected_at
            self._connected_at = None

    def pause_s(self) -> float:
        """How long to wait before the next connection attempt (0: not taken over)."""
        if self.streak < self.after:
            return 0.0
        return min(self.pause_initial_s * 2.0 ** (self.streak - self.after), self.pause_max_s)

    def taken_over(self, now: float) -> str | None:
        """Why the session is not ours, for health; None once a connection outlives `young_s`."""
        if self.streak < self.after:
            return None
        if self._connected_at is not None and now - self._connected_at >= self.young_s:
            return None
        return self.message()

    def message(self) -> str:
        return (
            f"MQTT session {self.client_id!r} taken over {self.streak} times in a row: each "
            f"connection to {self.broker_url} dropped soon after it was made while the broker "
            "took us back at once, so another client (a second HazardWatch?) uses client id "
            f"{self.client_id!r}; give each service its own --client-id. Reconnecting after "
            f"{self.pause_s():g} s"
        )
