"""The alarm performance report: every figure on a hand-built journal with known answers.

The journal (a real file) holds, over a two-hour period from T0:
- a burst of 12 low alarms T01..T12 at +100..+111 s on E1 (a flood: in at the 11th alarm
  of the window, +109 s, G2 being one; out when T08 leaves it, +707 s);
- C1 HH (high) at +3000, 3020, 3040, 3050 and +4000, 4010, 4020: two chattering episodes;
- M1 L (medium) at +5000, disposed at +5200; S2 L (medium) at +6000, never cleared;
- G1 COMM_LOSS (low) from +1000 to +1900; G2 COMM_LOSS from T0-100 to T0+500 (E2);
- S1 LL (high, E2) raised 30 h before T0, never cleared: standing and stale.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alerting import (
    Alarm,
    AlarmEvent,
    AlarmPolicy,
    Event,
    Journal,
    Priority,
    SensorPlace,
    Targets,
    flood_time,
    report,
)
from hazardwatch.vocabulary.model import AlarmState, Condition
from hazardwatch.vocabulary.notify_rules import Chatter, Flood

T0 = 1_763_800_000.0
UNTIL = T0 + 7200.0
H = 3600.0
POLICY = AlarmPolicy(
    disposal_deadline_s={Priority.HIGH: 600.0, Priority.MEDIUM: H, Priority.LOW: H}
)
SENSORS = [
    SensorPlace("G1", "E1", "H2"),
    SensorPlace("T01", "E1", "H1"),
    SensorPlace("G2", "E2", "H3"),
    SensorPlace("S1", "E2", "H3"),
]
PLACE = {"G2": ("E2", "H3"), "S1": ("E2", "H3"), "G1": ("E1", "H2")}


class Build:
    """Transitions of hand-made alarms, journalled in order."""

    def __init__(self) -> None:
        self.events: list[AlarmEvent] = []
        self.next_id = 1

    def alarm(
        self,
        tag: str,
        condition: Condition,
        priority: Priority,
        raised: float,
        cleared: float | None = None,
        disposed: float | None = None,
    ) -> None:
        enterprise, source = PLACE.get(tag, ("E1", "H1"))
        a = Alarm(self.next_id, 0, tag, condition, priority, AlarmState.ACTIVE_UNACK,
                  enterprise, source, "U1", 1.0, raised, raised)  # fmt: skip
        self.next_id += 1
        self._add(a, Event.ACTIVATE, raised)
        if cleared is not None:
            self._add(a, Event.CLEAR, cleared)
        if disposed is not None:
            self._add(a, Event.DISPOSE, disposed)

    def _add(self, a: Alarm, event: Event, ts: float) -> None:
        state = AlarmState.NORMAL if event is Event.CLEAR else AlarmState.ACTIVE_UNACK
        self.events.append(AlarmEvent(0, a, event, AlarmState.NORMAL, state, ts))


@pytest.fixture
def events(tmp_path: Path) -> Iterator[list[AlarmEvent]]:
    b = Build()
    low, med, high = Priority.LOW, Priority.MEDIUM, Priority.HIGH
    b.alarm("S1", Condition.LL, high, T0 - 30 * H)
    b.alarm("G2", Condition.COMM_LOSS, low, T0 - 100, cleared=T0 + 500)
    for i in range(12):
        t = T0 + 100 + i
        disposed = {0: T0 + 200, 1: T0 + 4000}.get(i)
        b.alarm(f"T{i + 1:02d}", Condition.H, low, t, cleared=t + 50, disposed=disposed)
    b.alarm("G1", Condition.COMM_LOSS, low, T0 + 1000, cleared=T0 + 1900)
    for k, dt in enumerate((3000, 3020, 3040, 3050, 4000, 4010, 4020)):
        disposed = T0 + 3100 if k == 0 else None
        b.alarm("C1", Condition.HH, high, T0 + dt, cleared=T0 + dt + 5, disposed=disposed)
    b.alarm("M1", Condition.L, med, T0 + 5000, cleared=T0 + 5100, disposed=T0 + 5200)
    b.alarm("S2", Condition.L, med, T0 + 6000)
    with Journal(tmp_path / "alarms.db") as j:
        j.append_many(b.events)
        yield j.events_after(0)


def full(events: list[AlarmEvent]) -> dict:
    return report(events, T0, UNTIL, sensors=SENSORS, policy=POLICY).to_dict()


def test_rates_average_per_10_minutes_and_hour_and_the_peak(events: list[AlarmEvent]) -> None:
    r = full(events)
    assert r["alarms"] == 22  # S1 and G2 were raised before the period
    assert r["rates"] == {
        "per_10_min": round(22 / 12, 4),
        "per_hour": 11.0,
        "peak_10_min": 12,
        "verdict": "manageable",
        "peak_verdict": "flood",
    }


def test_time_in_flood_follows_the_flood_rule_with_hysteresis(events: list[AlarmEvent]) -> None:
    r = full(events)
    # G2 (raised at -100 s) is still in the window: in at T10 (+109), out at +707
    assert r["flood"]["seconds"] == 598.0
    assert r["flood"]["pct"] == round(100 * 598 / 7200, 3)
    assert r["flood"]["meets"] is False


def test_flood_ends_only_below_exit_and_restarts_on_a_new_burst() -> None:
    rules = Flood(window_s=600.0, enter_above=10, exit_below=5)
    burst = [float(t) for t in range(11)]
    # one more at 605 keeps 5 in the window at 606: it ends at 607 instead
    assert flood_time([*burst, 605.0], 0.0, 2000.0, rules) == 597.0
    # clipped to the period: in flood from 10 s, the period starts at 300 s
    assert flood_time(burst, 300.0, 2000.0, rules) == 306.0
    assert flood_time(burst[:10], 0.0, 2000.0, rules) == 0.0  # 10 is not more than 10


def test_standing_and_stale_alarms(events: list[AlarmEvent]) -> None:
    r = full(events)
    assert [(s["tag"], s["active_s"]) for s in r["standing"]] == [
        ("S1", 32 * H),
        ("S2", 1200.0),
    ]
    assert r["stale"]["count"] == 1
    assert r["stale"]["meets"] is True


def test_top_ten_with_their_share(events: list[AlarmEvent]) -> None:
    top = full(events)["top"]
    assert len(top) == 10
    assert top[0] == {"tag": "C1", "condition": "hh", "count": 7, "share_pct": 31.818}
    assert [t["tag"] for t in top[1:]] == ["G1", "M1", "S2", "T01", "T02", "T03", "T04", "T05",
                                          "T06"]  # fmt: skip
    assert top[1]["share_pct"] == 4.545


def test_chattering_episodes_by_the_chatter_rule(events: list[AlarmEvent]) -> None:
    assert full(events)["chattering"] == [{"tag": "C1", "condition": "hh", "episodes": 2}]
    r = report(events, T0, UNTIL, chatter=Chatter(count=4, window_s=60.0)).to_dict()
    assert r["chattering"] == [{"tag": "C1", "condition": "hh", "episodes": 1}]


def test_priority_split_against_80_15_5(events: list[AlarmEvent]) -> None:
    p = full(events)["priorities"]
    assert p == {
        "low": {"count": 13, "pct": 59.091, "target_pct": 80.0},
        "medium": {"count": 2, "pct": 9.091, "target_pct": 15.0},
        "high": {"count": 7, "pct": 31.818, "target_pct": 5.0},
    }


def test_sensor_online_rate_per_enterprise_and_hazard_source(events: list[AlarmEvent]) -> None:
    o = full(events)["online"]
    assert o["offline_s"] == 1400.0  # G1 900 s, G2 500 s of the period
    assert o["online_pct"] == round(100 * (4 * 7200 - 1400) / (4 * 7200), 3)
    assert o["by_enterprise"]["E1"]["online_pct"] == 93.75
    assert o["by_enterprise"]["E2"]["online_pct"] == round(100 * (14400 - 500) / 14400, 3)
    assert o["by_hazard_source"]["H1"] == {"sensors": 1, "offline_s": 0.0, "online_pct": 100.0}


def test_disposal_within_the_deadline_per_enterprise_and_source(
    events: list[AlarmEvent],
) -> None:
    d = full(events)["disposal"]
    assert (d["on_time"], d["late"], d["pending"]) == (3, 18, 1)  # T01, C1's first, M1
    assert d["rate_pct"] == round(100 * 3 / 21, 3)
    assert d["by_hazard_source"]["H2"] == {"on_time": 0, "late": 1, "pending": 0,
                                           "rate_pct": 0.0}  # fmt: skip
    assert set(d["by_enterprise"]) == {"E1"}


def test_a_console_counts_its_own_enterprises_only(events: list[AlarmEvent]) -> None:
    r = report(events, T0, UNTIL, enterprises={"E2"}, console="east").to_dict()
    assert r["console"] == "east"
    assert r["alarms"] == 0
    assert [s["tag"] for s in r["standing"]] == ["S1"]
    assert r["rates"]["verdict"] == "very likely to be acceptable"


def test_rate_bands_are_configurable() -> None:
    t = Targets(rate_bands=((0.5, "fine"),), rate_beyond="too many")
    assert (t.rate_verdict(0.4), t.rate_verdict(0.6)) == ("fine", "too many")


def test_an_empty_period_is_refused() -> None:
    with pytest.raises(ValueError, match="must be after"):
        report([], T0, T0)


def test_an_alarm_activating_again_unacknowledged_counts_each_activation() -> None:
    b = Build()
    b.alarm("R1", Condition.H, Priority.LOW, T0 + 10, cleared=T0 + 20)
    (first,) = {e.alarm for e in b.events}
    for event, ts in ((Event.ACTIVATE, T0 + 30), (Event.CLEAR, T0 + 40), (Event.DISPOSE, T0 + 50)):
        b._add(first, event, ts)  # the same alarm id: it returned unacknowledged
    r = report(b.events, T0, UNTIL, policy=POLICY).to_dict()
    assert r["alarms"] == 2
    assert r["standing"] == []
    assert (r["disposal"]["on_time"], r["disposal"]["late"]) == (1, 0)  # one alarm record
