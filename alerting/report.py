"""The alarm performance report (EEMUA 191 / ISA-18.2) over journalled transitions.

Pure functions: a list of `AlarmEvent` in (the journal's, or a back-test's), figures out;
no I/O. An alarm is *active* from its ACTIVATE to its first CLEAR; the figures count
activations in [since, until) of the enterprises asked for (a console), and read the
transitions before `since` for what was already active or in flood when the period began.

- rates: activations per 10 minutes and per hour, the peak of fixed 10-minute intervals
  counted from `since`;
- flood: the share of the period a console is in flood by alerting.flood's rule (more than
  `enter_above` activations in `window_s`; it ends when fewer than `exit_below` remain);
- standing: alarms active at `until`; stale: alarms active for more than `STALE_S` at some
  time in the period (EEMUA 191: fewer than 5 a day);
- chattering: alerting.chatter's rule (`count` activations of one alarm in `window_s`),
  episodes per alarm (tag and condition);
- the top 10 alarms by activations with their share, the priority split against 80/15/5;
- the national figures: sensor online rate (sensor-time not in COMM_LOSS, the alarm of a
  silent sensor) and the disposal rate within the priority's deadline
  (alerting.disposal), per enterprise and hazard source.

The verdicts name EEMUA 191's bands; the bands are [mem] in the standards notes, so they
are `Targets` fields, not constants.

>>> report([], 0.0, 3600.0).to_dict()["rates"]["per_hour"]
0.0
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from alerting.alarm import AlarmEvent
from alerting.disposal import AlarmPolicy
from alerting.lifecycle import Event
from alerting.priority import Priority
from hazardwatch.vocabulary.model import Condition
from hazardwatch.vocabulary.notify_rules import Chatter, Flood

TEN_MIN_S = 600.0
HOUR_S = 3600.0
STALE_S = 24 * HOUR_S
OFFLINE = frozenset({Condition.COMM_LOSS})  # a sensor silent past its stale time


@dataclass(frozen=True)
class Targets:
    """EEMUA 191 / ISA-18.2 bands and targets (configurable: [mem] in standards.md).

    `rate_bands`: (upper bound of average alarms per 10 minutes, verdict), in order; above
    the last bound the verdict is `rate_beyond`.
    """

    rate_bands: tuple[tuple[float, str], ...] = (
        (1.0, "very likely to be acceptable"),
        (2.0, "manageable"),
        (10.0, "likely to be over-demanding"),
    )
    rate_beyond: str = "very likely to be unacceptable"
    peak_flood_above: int = 10  # more than this in 10 minutes is a flood
    flood_pct_max: float = 1.0
    stale_max: int = 5  # fewer than this a day
    priority_split: dict[str, float] = field(
        default_factory=lambda: {"low": 80.0, "medium": 15.0, "high": 5.0}
    )

    def rate_verdict(self, per_10_min: float) -> str:
        """The band an average rate per 10 minutes falls in.

        >>> Targets().rate_verdict(0.5), Targets().rate_verdict(1.5), Targets().rate_verdict(3)
        ('very likely to be acceptable', 'manageable', 'likely to be over-demanding')
        """
        for bound, verdict in self.rate_bands:
            if per_10_min <= bound:
                return verdict
        return self.rate_beyond


@dataclass(frozen=True)
class SensorPlace:
    """One sensor of the report's scope: its tag and where it sits."""

    tag: str
    enterprise: str
    hazard_source: str


@dataclass
class Report:
    """The figures of one console and period; `to_dict` is the API's JSON."""

    since: float
    until: float
    console: str | None
    alarms: int
    rates: dict[str, Any]
    flood: dict[str, Any]
    standing: list[dict[str, Any]]
    stale: dict[str, Any]
    top: list[dict[str, Any]]
    chattering: list[dict[str, Any]]
    priorities: dict[str, Any]
    online: dict[str, Any]
    disposal: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Span:
    """One alarm occurrence as the transitions tell it."""

    id: int
    tag: str
    condition: str
    priority: Priority
    enterprise: str
    hazard_source: str
    raised: float
    cleared: float | None = None
    disposed: float | None = None


def _pct(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 3) if whole > 0 else 0.0


def _spans(events: Sequence[AlarmEvent]) -> tuple[list[_Span], list[_Span]]:
    """(every activation with its clear, every alarm with its first activation and its
    disposal), in activation order. An alarm that returns unacknowledged and activates
    again keeps its id: each activation counts, the disposal is the alarm's."""
    activations: list[_Span] = []
    alarms: dict[int, _Span] = {}
    current: dict[int, _Span] = {}  # alarm id -> its activation not yet cleared
    for e in sorted(events, key=lambda e: (e.ts, e.seq)):
        a = e.alarm
        if e.event is Event.ACTIVATE:
            s = _Span(a.id, a.tag, a.condition.label, a.priority, a.enterprise,
                      a.hazard_source, e.ts)  # fmt: skip
            activations.append(s)
            current[a.id] = s
            alarms.setdefault(a.id, replace(s))
        elif e.event is Event.CLEAR and a.id in current:
            current.pop(a.id).cleared = e.ts
        elif e.event is Event.DISPOSE and a.id in alarms and alarms[a.id].disposed is None:
            alarms[a.id].disposed = e.ts
    return activations, sorted(alarms.values(), key=lambda s: (s.raised, s.id))


def flood_time(raised: Sequence[float], since: float, until: float, rules: Flood) -> float:
    """Seconds of [since, until] in flood for one console's activation times, by
    alerting.flood's rule: an activation that makes more than `enter_above` in the window
    starts it; it ends when an activation leaving the window leaves fewer than
    `exit_below` (an activation leaves at its time + `window_s`).

    >>> flood_time([float(t) for t in range(11)], 0.0, 1200.0, Flood())  # in at 10, out at 606
    596.0
    """
    window: deque[float] = deque()
    began: float | None = None
    total = 0.0

    def ended(at: float) -> None:
        nonlocal began, total
        assert began is not None
        total += max(0.0, min(at, until) - max(began, since))
        began = None

    def leave(now: float) -> None:
        while window and window[0] <= now - rules.window_s:
            out = window.popleft() + rules.window_s
            if began is not None and len(window) < rules.exit_below:
                ended(out)

    for t in sorted(raised):
        if t >= until:
            break
        leave(t)
        window.append(t)
        if began is None and len(window) > rules.enter_above:
            began = t
    leave(until)
    if began is not None:
        ended(until)
    return total


def _chattering(spans: Sequence[_Span], since: float, until: float, rules: Chatter) -> Counter:
    """Episodes per (tag, condition) by alerting.chatter's rule, flagged in the period."""
    times: dict[tuple[str, str], deque[float]] = {}
    episodes: Counter[tuple[str, str]] = Counter()
    for s in spans:
        key = (s.tag, s.condition)
        q = times.setdefault(key, deque())
        q.append(s.raised)
        while q and q[0] <= s.raised - rules.window_s:
            q.popleft()
        if len(q) == rules.count and since <= s.raised < until:
            episodes[key] += 1
    return episodes


def _online(
    spans: Sequence[_Span], sensors: Sequence[SensorPlace], since: float, until: float
) -> dict[str, Any]:
    """Share of sensor-time not in an offline alarm, overall, per enterprise and source."""
    length = until - since
    offline: dict[str, list[tuple[float, float]]] = {}
    for s in spans:
        if Condition[s.condition.upper()] in OFFLINE:
            lo, hi = max(s.raised, since), min(until if s.cleared is None else s.cleared, until)
            if hi > lo:
                offline.setdefault(s.tag, []).append((lo, hi))
    down: dict[str, float] = {}
    for tag, spells in offline.items():
        total, reach = 0.0, since
        for lo, hi in sorted(spells):  # union: overlapping spells count once
            lo = max(lo, reach)
            if hi > lo:
                total, reach = total + hi - lo, hi
        down[tag] = total

    def rate(group: Sequence[SensorPlace]) -> dict[str, Any]:
        whole = len(group) * length
        lost = sum(down.get(p.tag, 0.0) for p in group)
        return {"sensors": len(group), "offline_s": lost,
                "online_pct": _pct(whole - lost, whole) if whole else None}  # fmt: skip

    def by(attr: str) -> dict[str, Any]:
        keys = dict.fromkeys(getattr(p, attr) for p in sensors)
        return {k: rate([p for p in sensors if getattr(p, attr) == k]) for k in keys}

    return {**rate(sensors), "by_enterprise": by("enterprise"),
            "by_hazard_source": by("hazard_source")}  # fmt: skip


def _disposal(spans: Sequence[_Span], until: float, policy: AlarmPolicy) -> dict[str, Any]:
    """Alarms raised in the period disposed of within their priority's deadline: the
    share of those due (disposed, or past their deadline at `until`); the rest pending."""

    def rate(group: Sequence[_Span]) -> dict[str, Any]:
        on_time = late = pending = 0
        for s in group:
            due = s.raised + policy.deadline_s(s.priority)
            if s.disposed is not None and s.disposed <= due:
                on_time += 1
            elif s.disposed is not None or due <= until:
                late += 1
            else:
                pending += 1
        return {"on_time": on_time, "late": late, "pending": pending,
                "rate_pct": _pct(on_time, on_time + late) if on_time + late else None}  # fmt: skip

    def by(attr: str) -> dict[str, Any]:
        keys = sorted({getattr(s, attr) for s in spans})
        return {k: rate([s for s in spans if getattr(s, attr) == k]) for k in keys}

    return {**rate(spans), "by_enterprise": by("enterprise"),
            "by_hazard_source": by("hazard_source")}  # fmt: skip


def report(
    events: Sequence[AlarmEvent],
    since: float,
    until: float,
    *,
    enterprises: Collection[str] | None = None,
    console: str | None = None,
    sensors: Sequence[SensorPlace] = (),
    flood: Flood | None = None,
    chatter: Chatter | None = None,
    policy: AlarmPolicy | None = None,
    targets: Targets | None = None,
) -> Report:
    """The report of [since, until) over `events` (any order; those outside the period
    are read for the state at its start and for disposals after it), for the alarms of
    `enterprises` (None: all), named `console`; `sensors` for the online rate."""
    if not until > since:
        raise ValueError(f"until ({until}) must be after since ({since})")
    flood, chatter = flood or Flood(), chatter or Chatter()
    policy, targets = policy or AlarmPolicy(), targets or Targets()
    mine = [e for e in events if enterprises is None or e.alarm.enterprise in enterprises]
    activations, alarms = _spans(mine)
    spans = [s for s in activations if s.raised < until]
    inside = [s for s in spans if s.raised >= since]
    n, length = len(inside), until - since

    per_10 = n / (length / TEN_MIN_S)
    buckets = Counter(int((s.raised - since) // TEN_MIN_S) for s in inside)
    peak = max(buckets.values(), default=0)
    rates = {
        "per_10_min": round(per_10, 4),
        "per_hour": round(n / (length / HOUR_S), 4),
        "peak_10_min": peak,
        "verdict": targets.rate_verdict(per_10),
        "peak_verdict": "flood" if peak > targets.peak_flood_above else "no flood",
    }
    in_flood = flood_time([s.raised for s in spans], since, until, flood)
    flood_pct = _pct(in_flood, length)
    flood_out = {"seconds": in_flood, "pct": flood_pct, "target_pct": targets.flood_pct_max,
                 "meets": flood_pct < targets.flood_pct_max}  # fmt: skip

    standing = [
        {"id": s.id, "tag": s.tag, "condition": s.condition, "raised_ts": s.raised,
         "active_s": until - s.raised}
        for s in spans
        if s.cleared is None or s.cleared >= until
    ]  # fmt: skip
    stale = [
        s.id
        for s in spans
        if s.raised + STALE_S < until
        and (s.cleared is None or s.cleared > max(since, s.raised + STALE_S))
    ]
    days = length / (24 * HOUR_S)
    stale_out = {"count": len(stale), "ids": stale, "per_day": round(len(stale) / days, 4),
                 "target_max": targets.stale_max,
                 "meets": len(stale) / max(days, 1.0) < targets.stale_max}  # fmt: skip

    counts = Counter((s.tag, s.condition) for s in inside)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    top = [{"tag": t, "condition": c, "count": k, "share_pct": _pct(k, n)}
           for (t, c), k in ranked]  # fmt: skip
    chat = sorted(_chattering(spans, since, until, chatter).items(), key=lambda kv: (-kv[1], kv[0]))
    chattering = [{"tag": t, "condition": c, "episodes": k} for (t, c), k in chat]

    by_priority = Counter(s.priority.label for s in inside)
    priorities = {
        p: {"count": by_priority[p], "pct": _pct(by_priority[p], n), "target_pct": want}
        for p, want in targets.priority_split.items()
    }
    return Report(
        since=since,
        until=until,
        console=console,
        alarms=n,
        rates=rates,
        flood=flood_out,
        standing=standing,
        stale=stale_out,
        top=top,
        chattering=chattering,
        priorities=priorities,
        online=_online(spans, sensors, since, until),
        disposal=_disposal([a for a in alarms if since <= a.raised < until], until, policy),
    )
