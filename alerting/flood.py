"""Flood: a console with more than `enter_above` alarms raised within `window_s` (EEMUA 191:
10 in 10 minutes) is in flood until fewer than `exit_below` remain in the window
(hysteresis: it does not flap at the threshold).

In flood, the console's alarms are grouped by hazard source, the first alarm of each group
since the flood began marked first-out; their own notifications are held back (the
notifier asks `holds`) and the channels that would have heard them get one summary at the
start and one at the end instead (`flood:<console>:<start>:on|off`, once each like every
notification). A console is a set of enterprises (`flood.consoles`); the rest are "park".

A pipeline Notifier (it counts activations) and a tick Timer (it ends a flood when the
window empties; it returns no action). The state is kept in memory: after a restart the
window starts empty, so a flood in progress ends at the first tick and its summary names
the alarms seen before the restart no more.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from alerting.alarm import Alarm, AlarmEvent
from alerting.lifecycle import Event
from alerting.priority import ColourChange
from alerting.routes import Routes
from hazardwatch.storage.nflog import NotificationLog, Outgoing
from hazardwatch.vocabulary.notify_rules import Flood


@dataclass
class Console:
    """One console's window of raised alarms and, in flood, its groups."""

    name: str
    window: deque[tuple[float, Alarm]] = field(default_factory=deque)
    since: float | None = None  # in flood since
    groups: dict[str, list[Alarm]] = field(default_factory=dict)  # hazard source -> alarms
    floods: int = 0  # how many floods began since start

    def to_dict(self) -> dict[str, Any]:
        return {
            "console": self.name,
            "flood": self.since is not None,
            "since": self.since,
            "alarms_in_window": len(self.window),
            "floods": self.floods,
            "groups": [
                {
                    "hazard_source": source,
                    "count": len(alarms),
                    "first_out": alarms[0].to_dict(),
                    "alarm_ids": [a.id for a in alarms],
                }
                for source, alarms in self.groups.items()
            ],
        }


class FloodWatch:
    """Flood state per console; summaries written to `nflog` through `routes`."""

    def __init__(
        self,
        rules: Flood,
        routes: Routes,
        nflog: NotificationLog,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self._rules, self._routes, self._log, self._wake = rules, routes, nflog, wake
        self._lock = threading.Lock()
        self.consoles: dict[str, Console] = {}

    def _console(self, enterprise: str) -> Console:
        name = self._rules.console_of(enterprise)
        if name not in self.consoles:
            self.consoles[name] = Console(name)
        return self.consoles[name]

    def holds(self, e: AlarmEvent) -> bool:
        """Whether `e`'s own notification is held back (its console is in flood)."""
        with self._lock:
            c = self.consoles.get(self._rules.console_of(e.alarm.enterprise))
            return c is not None and c.since is not None

    def _prune(self, c: Console, now: float) -> None:
        while c.window and c.window[0][0] <= now - self._rules.window_s:
            c.window.popleft()

    def notify(self, events: list[AlarmEvent], colours: list[ColourChange]) -> None:
        out: list[Outgoing] = []
        with self._lock:
            for e in events:
                if e.event is not Event.ACTIVATE:
                    continue
                c = self._console(e.alarm.enterprise)
                c.window.append((e.ts, e.alarm))
                self._prune(c, e.ts)
                if c.since is not None:
                    c.groups.setdefault(e.alarm.hazard_source, []).append(e.alarm)
                elif len(c.window) > self._rules.enter_above:
                    c.since, c.floods, c.groups = e.ts, c.floods + 1, {}
                    for _, a in c.window:  # the window's alarms begin the groups
                        c.groups.setdefault(a.hazard_source, []).append(a)
                    out += self._summary(c, "on", e.ts)
        if out:
            self._log.enqueue(out, now=events[-1].ts)
            self._wake()

    def due(self, now: float) -> list[Any]:
        """End the floods whose window emptied below `exit_below` (no alarm action)."""
        out: list[Outgoing] = []
        with self._lock:
            for c in self.consoles.values():
                self._prune(c, now)
                if c.since is not None and len(c.window) < self._rules.exit_below:
                    out += self._summary(c, "off", now)
                    c.since, c.groups = None, {}
        if out:
            self._log.enqueue(out, now=now)
            self._wake()
        return []

    def next_due(self) -> float | None:
        """When the oldest alarm of a flooded console's window leaves it."""
        with self._lock:
            times = [
                c.window[0][0] + self._rules.window_s
                for c in self.consoles.values()
                if c.since is not None and c.window
            ]
        return min(times, default=None)

    def _summary(self, c: Console, state: str, now: float) -> list[Outgoing]:
        alarms = [a for group in c.groups.values() for a in group]
        channels = dict.fromkeys(ch for a in alarms for ch in self._routes.channels_for(a))
        parts = [
            f"{source}: {len(group)} (first out {group[0].tag} {group[0].condition.label})"
            for source, group in c.groups.items()
        ]
        began = "began" if state == "on" else "ended"
        text = f"FLOOD {began} on console {c.name}: {len(alarms)} alarms; " + "; ".join(parts)
        key = f"flood:{c.name}:{c.since:.3f}:{state}"
        body = {"id": key, "kind": "flood", "state": state, "ts": now, "text": text,
                **c.to_dict()}  # fmt: skip
        return [Outgoing(key, ch, None, 0, text[:200], body) for ch in channels]

    def state(self) -> list[dict[str, Any]]:
        """Every console seen so far, with its groups while in flood."""
        with self._lock:
            return [c.to_dict() for c in self.consoles.values()]
