"""Routing: which channels hear of an alarm event or an escalation step, and what they read.

Level 0 is the alarm's own transitions: every route whose filters match (priority,
enterprise, hazard source, event) names channels. Escalation step n reaches level
min(n, 4): 1 the hazard source's operation person, 2 its technical person, 3 its main
person (their channels under `people:`), 4 park supervision (`supervision:`), plus the
routes listing that level. A muted transition (shelved, suppressed, out of service) and
an alarm a quiet rule names reach nobody.

Each notification is keyed by what it announces (`event:<journal seq>`,
`escalation:<alarm id>:<step>`), so the log keeps one per key and channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alerting.alarm import Alarm, AlarmEvent
from hazardwatch.storage.nflog import Outgoing
from hazardwatch.vocabulary.model import Responsible
from hazardwatch.vocabulary.notify_rules import ROLES, SUPERVISION_LEVEL, NotifyRules

LEVEL_NAMES = ("alarm", *ROLES, "supervision")


def describe(alarm: Alarm, what: str) -> str:
    """One line for people: priority, tag, condition, what happened, value, where.

    >>> from hazardwatch.vocabulary.model import AlarmState, Condition
    >>> from alerting.priority import Priority
    >>> a = Alarm(1, 0, "T1-LT", Condition.HH, Priority.HIGH, AlarmState.ACTIVE_UNACK,
    ...           "e1", "hs1", "T1", 9.5, 0.0, 0.0)
    >>> describe(a, "activate")
    '[HIGH] T1-LT hh activate (9.5) at e1/hs1/T1'
    """
    value = "" if alarm.value != alarm.value else f" ({alarm.value:g})"  # NaN: no value
    return (
        f"[{alarm.priority.label.upper()}] {alarm.tag} {alarm.condition.label} {what}{value}"
        f" at {alarm.enterprise}/{alarm.hazard_source}/{alarm.unit}"
    )


class Routes:
    """Routes from the site's `notifications:` rules; `responsible` maps a hazard
    source id to its three responsible people."""

    def __init__(self, rules: NotifyRules, responsible: Mapping[str, Responsible]) -> None:
        self.rules = rules
        self._responsible = responsible

    def _quiet(self, a: Alarm) -> bool:
        return self.rules.quiet_for(a.priority.label, a.enterprise, a.hazard_source)

    def _routed(self, a: Alarm, level: int, event: str) -> list[str]:
        names: list[str] = []
        for r in self.rules.routes:
            if r.matches(a.priority.label, a.enterprise, a.hazard_source, level, event):
                names += r.channels
        return names

    def channels_for(self, a: Alarm, event: str = "activate") -> list[str]:
        """The channels that hear `event` of alarm `a` at level 0 (none if quiet)."""
        return [] if self._quiet(a) else list(dict.fromkeys(self._routed(a, 0, event)))

    def for_event(self, e: AlarmEvent) -> list[Outgoing]:
        """The notifications of one journalled transition (level 0)."""
        a = e.alarm
        if e.muted or self._quiet(a):
            return []
        channels = self.channels_for(a, e.event.value)
        line = describe(a, e.event.value)
        body = {
            "id": f"event:{e.seq}",
            "kind": "alarm",
            "level": 0,
            "event": e.event.value,
            "from_state": e.from_state.value,
            "to_state": e.to_state.value,
            "ts": e.ts,
            "text": line,
            "alarm": a.to_dict(),
        }
        return [Outgoing(body["id"], c, a.id, 0, line, body) for c in channels]

    def targets(self, a: Alarm, level: int) -> list[str]:
        """The channels of escalation `level` for alarm `a` (people, supervision, routes)."""
        if level == SUPERVISION_LEVEL:
            names = list(self.rules.supervision)
        else:
            who = self._responsible.get(a.hazard_source)
            person = None if who is None else getattr(who, ROLES[level - 1])
            names = list(self.rules.people.get(person, ())) if person else []
        return list(dict.fromkeys([*names, *self._routed(a, level, "escalate")]))

    def for_escalation(self, a: Alarm, step: int, now: float) -> list[Outgoing]:
        """The notifications of escalation `step` (1, 2, ...) of alarm `a`."""
        if self._quiet(a):
            return []
        level = min(step, SUPERVISION_LEVEL)
        person: Any = None
        who = self._responsible.get(a.hazard_source)
        if who is not None and level < SUPERVISION_LEVEL:
            person = getattr(who, ROLES[level - 1])
        line = describe(a, f"not acknowledged: escalation {step} to {person or 'supervision'}")
        body = {
            "id": f"escalation:{a.id}:{step}",
            "kind": "escalation",
            "level": level,
            "level_name": LEVEL_NAMES[level],
            "step": step,
            "person": person,
            "ts": now,
            "text": line,
            "alarm": a.to_dict(),
        }
        return [Outgoing(body["id"], c, a.id, level, line, body) for c in self.targets(a, level)]
