"""The incidents recorded in the journal, and how early each back-test run warned of them.

An incident is an alarm an operator disposed of with cause ``process`` (alerting.disposal):
something really happened in the plant. For each, and for each run of a back-test
(current and candidate settings), the run's first warning is looked for at three scopes:
the incident's own tag, any sensor of its unit, any sensor of its hazard source.

A run is *warning* at a scope while at least one of its alarms there is active (activated,
not yet cleared), of any condition. The first warning of an incident is the start of the
warning standing at the recorded activation (the one the incident grew out of: a level's
H raised as it rose towards HH, not the H of an earlier fill, which cleared in between),
if it began within `LOOKBACK_S` before; if none was standing, the first start after the
activation, within `LOOKBACK_S`. The lead time is the recorded activation minus that start,
in seconds: positive when the run warned earlier, negative when later, None when it did not
warn (or its warning had stood for longer than the lookback, so is not about this).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from alerting import AlarmEvent, Cause, Event, Journal

LOOKBACK_S = 6 * 3600.0  # a warning further from the incident than this is not about it
SCOPES = ("tag", "unit", "hazard_source")
RUNS = ("current", "candidate")


@dataclass(frozen=True, slots=True)
class Incident:
    """An alarm disposed of with cause process: where and when it was raised."""

    alarm_id: int
    tag: str
    condition: str
    unit: str
    hazard_source: str
    activated_ts: float
    action: str = ""  # what the disposal record says was done


def recorded_incidents(journal: Journal, since: float, until: float) -> list[Incident]:
    """The journal's incidents raised in [since, until], oldest first."""
    return [
        Incident(
            a.id,
            a.tag,
            a.condition.label,
            a.unit,
            a.hazard_source,
            a.raised_ts,
            a.disposal.action if a.disposal is not None else "",
        )
        for a in journal.disposed_alarms(Cause.PROCESS, since, until)
    ]


@dataclass(frozen=True, slots=True)
class FirstWarning:
    """A run's first warning of an incident at one scope."""

    ts: float
    tag: str
    condition: str
    lead_s: float  # the incident's activation minus ts: > 0 earlier, < 0 later


class _Warnings:
    """When one run began and stopped warning, per tag, unit and hazard source."""

    def __init__(self, events: Iterable[AlarmEvent]) -> None:
        # per scope: (start ts, tag, condition) in time order, and each one's end ts
        self._starts: dict[tuple[str, str], list[tuple[float, str, str]]] = {}
        self._ends: dict[tuple[str, str], list[float]] = {}
        active: dict[tuple[str, str], set[int]] = {}
        for e in sorted(events, key=lambda e: e.ts):  # stable: a run's order within a ts
            if e.event is not Event.ACTIVATE and e.event is not Event.CLEAR:
                continue
            a = e.alarm
            for scope in zip(SCOPES, (a.tag, a.unit, a.hazard_source), strict=True):
                ids = active.setdefault(scope, set())
                if e.event is Event.ACTIVATE:
                    if not ids:
                        self._starts.setdefault(scope, []).append((e.ts, a.tag, a.condition.label))
                        self._ends.setdefault(scope, []).append(math.inf)
                    ids.add(a.id)
                elif a.id in ids:
                    ids.discard(a.id)
                    if not ids:
                        self._ends[scope][-1] = e.ts

    def first(self, scope: str, key: str, ts: float, lookback_s: float) -> FirstWarning | None:
        """The start of the warning standing at `ts`, or else the first one after it."""
        starts = self._starts.get((scope, key), [])
        i = bisect.bisect_right(starts, (ts, "\U0010ffff"))  # past every start at ts
        if i and self._ends[(scope, key)][i - 1] >= ts:
            found = starts[i - 1]
            if found[0] < ts - lookback_s:
                return None
        elif i < len(starts) and starts[i][0] <= ts + lookback_s:
            found = starts[i]
        else:
            return None
        return FirstWarning(*found, ts - found[0])


@dataclass
class IncidentLeads:
    """Each incident with each run's first warning per scope."""

    lookback_s: float = LOOKBACK_S
    incidents: list[Incident] = field(default_factory=list)
    # per incident: run -> scope -> its first warning (None: no warning)
    warnings: list[dict[str, dict[str, FirstWarning | None]]] = field(default_factory=list)

    def to_dict(self) -> list[dict[str, Any]]:
        out = []
        for incident, runs in zip(self.incidents, self.warnings, strict=True):
            row: dict[str, Any] = {
                "alarm_id": incident.alarm_id,
                "tag": incident.tag,
                "condition": incident.condition,
                "unit": incident.unit,
                "hazard_source": incident.hazard_source,
                "activated_ts": incident.activated_ts,
                "action": incident.action,
            }
            for run, scopes in runs.items():
                row[run] = {
                    scope: None
                    if w is None
                    else {"ts": w.ts, "tag": w.tag, "condition": w.condition, "lead_s": w.lead_s}
                    for scope, w in scopes.items()
                }
            row["earlier_s"] = _earlier(runs)
            out.append(row)
        return out

    def lines(self) -> list[str]:
        """What the CLI prints under the per-sensor table."""
        if not self.incidents:
            return ["incidents (alarms disposed with cause process): none in the range"]
        out = [
            f"incidents (alarms disposed with cause process): {len(self.incidents)}; "
            "first warning before each, now -> candidate (tag / unit / hazard source)"
        ]
        for incident, runs in zip(self.incidents, self.warnings, strict=True):
            when = datetime.fromtimestamp(incident.activated_ts, UTC).strftime("%Y-%m-%d %H:%M:%S")
            leads = " / ".join(
                f"{_lead(runs['current'][s])} -> {_lead(runs['candidate'][s])}" for s in SCOPES
            )
            out.append(
                f"  alarm {incident.alarm_id} {incident.tag} {incident.condition} "
                f"at {when}Z: {leads}"
            )
        return out


def _lead(w: FirstWarning | None) -> str:
    return "none" if w is None else f"{w.lead_s:+.0f} s"


def _earlier(runs: Mapping[str, Mapping[str, FirstWarning | None]]) -> float | None:
    """How much earlier the candidate warned on the tag than the current settings did
    (None when either did not warn)."""
    now, cand = runs["current"]["tag"], runs["candidate"]["tag"]
    return None if now is None or cand is None else cand.lead_s - now.lead_s


def lead_times(
    incidents: Sequence[Incident],
    runs: Mapping[str, Iterable[AlarmEvent]],
    lookback_s: float = LOOKBACK_S,
) -> IncidentLeads:
    """Each incident's first warning in each run (`runs`: name -> its transitions).

    >>> lead_times([], {"current": [], "candidate": []}).lines()
    ['incidents (alarms disposed with cause process): none in the range']
    """
    indexed = {run: _Warnings(events) for run, events in runs.items()}
    leads = IncidentLeads(lookback_s, list(incidents))
    for incident in incidents:
        keys = zip(SCOPES, (incident.tag, incident.unit, incident.hazard_source), strict=True)
        scopes = list(keys)
        leads.warnings.append(
            {
                run: {s: w.first(s, k, incident.activated_ts, lookback_s) for s, k in scopes}
                for run, w in indexed.items()
            }
        )
    return leads
