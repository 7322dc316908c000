"""The tick: each timer's due actions go through the pipeline's door, in the timers' order."""

from __future__ import annotations

from collections.abc import Sequence

from alerting import Action, Tick
from hazardwatch.vocabulary.model import Condition, ConditionChange

T0 = 1_763_800_000.0


def lost(sensor: int, ts: float) -> ConditionChange:
    return ConditionChange(sensor, Condition.COMM_LOSS, True, 0.0, ts, 0)


class At:
    """Due once, at `when` or later; then never again."""

    def __init__(self, when: float, sensor: int) -> None:
        self.when, self.sensor, self.fired = when, sensor, False

    def due(self, now: float) -> list[ConditionChange]:
        if self.fired or now < self.when:
            return []
        self.fired = True
        return [lost(self.sensor, now)]

    def next_due(self) -> float | None:
        return None if self.fired else self.when


class Door:
    """Records each pass it is given and answers one event per action."""

    def __init__(self) -> None:
        self.passes: list[tuple[list[Action], float | None]] = []

    def run(self, actions: Sequence[Action], now: float | None = None) -> list[object]:
        self.passes.append((list(actions), now))
        return [("event", a) for a in actions]


def test_each_due_timer_is_one_pass_through_the_door_in_the_timers_order() -> None:
    door = Door()
    first, second = At(T0 + 10, 0), At(T0 + 5, 1)
    tick = Tick(door, [first, second])
    assert tick(T0 + 4) == [] and door.passes == []  # nothing due: the door stays shut
    assert tick.next_due() == T0 + 5
    assert tick(T0 + 20) == [("event", lost(0, T0 + 20)), ("event", lost(1, T0 + 20))]
    assert door.passes == [([lost(0, T0 + 20)], T0 + 20), ([lost(1, T0 + 20)], T0 + 20)]
    assert tick(T0 + 30) == [] and tick.next_due() is None
