"""A process writing alarms is killed with SIGKILL; a new manager on its journal file carries on.

The child is a real Python process using the public API on a real SQLite file; it imports
`make_site` and the scripted steps from this module so both sides see the same site.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alerting import AlarmManager, Event, InvalidTransition, Journal
from hazardwatch.vocabulary.clock import FakeClock
from hazardwatch.vocabulary.model import (
    AlarmState,
    Condition,
    ConditionChange,
    HazardSource,
    Kind,
    Limits,
    Responsible,
    SensorTable,
    Site,
    Unit,
)
from tests.factories import enterprise, hazard_source, sensor, site, unit

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_763_800_000.0
AU, AA, CU, N = (
    AlarmState.ACTIVE_UNACK,
    AlarmState.ACTIVE_ACK,
    AlarmState.CLEARED_UNACK,
    AlarmState.NORMAL,
)


def make_site() -> Site:
    """One enterprise, five tanks in three hazard sources; sensor i is on tank TK10i."""

    def tank(i: int, kind: Kind) -> Unit:
        limits = Limits(hh=50, h=25) if kind.is_gas else Limits(hh=18, h=16, l=2, ll=1)
        s = sensor(f"S{i}", kind, limits=limits, deadband=0.5, latch=False)
        return unit(f"TK10{i}", s, capacity_m3=500.0)

    def source(hs: str, units: tuple[Unit, ...]) -> HazardSource:
        return hazard_source(hs, *units, grade=1, responsible=Responsible("wang", "li", "zhao"))

    units = [tank(0, Kind.LEVEL), tank(1, Kind.GAS_COMBUSTIBLE)]
    units += [tank(i, Kind.LEVEL) for i in (2, 3, 4)]
    sources = (
        source("hs-1", tuple(units[:2])),
        source("hs-2", tuple(units[2:4])),
        source("hs-3", tuple(units[4:])),
    )
    return site(enterprise("ent", *sources, name="Ent"), park="park")


def change(
    sensor: int,
    condition: Condition,
    active: bool,
    value: float,
    ts: float,
    eta_ts: float | None = None,
) -> ConditionChange:
    severity = condition.severity
    return ConditionChange(sensor, condition, active, value, ts, severity, eta_ts=eta_ts)


def write_scripted_alarms(mgr: AlarmManager, clock: FakeClock) -> None:
    """Leave one alarm in each state, one closed, a NaN value among them, and a prediction
    whose time of crossing was updated."""
    mgr.apply(
        [
            change(0, Condition.PREDICT_HH, True, 17.0, T0 - 60, eta_ts=T0 + 600),
            change(0, Condition.HH, True, 18.4, T0),
            change(1, Condition.GAS2, True, 55.5, T0 + 1),
            change(4, Condition.L, True, 1.8, T0 + 1),
            change(0, Condition.PREDICT_HH, True, 18.5, T0 + 2, eta_ts=T0 + 300),
        ]
    )
    clock.set(T0 + 10)
    by_tag = {a.tag: a.id for a in mgr.alarms() if a.condition is not Condition.PREDICT_HH}
    mgr.acknowledge(by_tag["S1"], "li", "evacuated the tank top")
    mgr.acknowledge(by_tag["S4"], "zhao")
    mgr.apply(
        [
            change(2, Condition.COMM_LOSS, True, math.nan, T0 + 20),
            change(3, Condition.H, True, 16.2, T0 + 20),
            change(3, Condition.H, False, 15.1, T0 + 25),
            change(4, Condition.L, False, 3.0, T0 + 25),
        ]
    )


CHILD_SCRIPTED = """
import json, sys, time
from pathlib import Path
from alerting import AlarmManager, Journal
from hazardwatch.vocabulary.clock import FakeClock
from hazardwatch.vocabulary.model import SensorTable
from tests.integration.test_journal_restart import T0, make_site, write_scripted_alarms

clock = FakeClock(T0)
mgr = AlarmManager(SensorTable.from_site(make_site()), Journal(Path(sys.argv[1])), clock)
write_scripted_alarms(mgr, clock)
print(json.dumps([a.to_dict() for a in mgr.alarms(include_closed=True)]), flush=True)
print(json.dumps(mgr.risk_colours()), flush=True)
time.sleep(60)  # never closes the journal: the parent kills it first
"""

CHILD_STREAM = """
import sys
from pathlib import Path
from alerting import AlarmManager, Journal
from hazardwatch.vocabulary.clock import FakeClock
from hazardwatch.vocabulary.model import Condition, SensorTable
from tests.integration.test_journal_restart import T0, change, make_site

clock = FakeClock(T0)
mgr = AlarmManager(SensorTable.from_site(make_site()), Journal(Path(sys.argv[1])), clock)
for i in range(200_000):
    s, ts = i % 5, T0 + i
    events = mgr.apply([change(s, Condition.H, (i // 5) % 2 == 0, 16.0 + s, ts)])
    last = events[-1] if events else None
    # Ack some cleared ones (closing them), and some active ones; leave the rest to chain.
    if last is not None and (last.to_state.value == "cleared_unack" and i % 3
                             or last.to_state.value == "active_unack" and i % 7 == 0):
        events.append(mgr.acknowledge(last.alarm.id, "op"))
    if events:
        print(max(e.seq for e in events), flush=True)
"""


def _read_lines(proc: subprocess.Popen[bytes], count: int, timeout_s: float = 30.0) -> list[str]:
    """The first `count` lines the child prints; fails with its stderr if it dies first."""
    assert proc.stdout is not None and proc.stderr is not None
    fd = proc.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + timeout_s
    while buf.count(b"\n") < count:
        left = deadline - time.monotonic()
        if left <= 0:
            got = buf.count(b"\n")
            pytest.fail(f"child printed {got} of {count} lines in {timeout_s}s")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                pytest.fail(f"child exited early: {proc.stderr.read().decode()[-2000:]}")
            buf += chunk
    return buf.decode().splitlines()[:count]


def _run_and_kill(script: str, path: Path, lines: int) -> list[str]:
    with subprocess.Popen(
        [sys.executable, "-c", script, str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        try:
            out = _read_lines(proc, lines)
            # The data must still sit in the WAL, so recovery from it is what we test.
            assert Path(f"{path}-wal").stat().st_size > 0
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(timeout=10) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    return out


def test_alarms_survive_kill_9_exactly_and_can_be_acknowledged(tmp_path: Path) -> None:
    path = tmp_path / "alarms.db"
    alarms_line, colours_line = _run_and_kill(CHILD_SCRIPTED, path, 2)
    before = json.loads(alarms_line)
    assert {a["state"] for a in before} == {"active_unack", "active_ack", "cleared_unack", "normal"}

    table = SensorTable.from_site(make_site())
    clock = FakeClock(T0 + 3600)
    with Journal(path) as journal:
        journalled = {h: journal.colour_history(h) for h in json.loads(colours_line)}
        mgr = AlarmManager(table, journal, clock)
        assert [a.to_dict() for a in mgr.alarms(include_closed=True)] == before
        assert mgr.risk_colours() == json.loads(colours_line)
        # The journal agreed with itself: the restart journalled no colour change.
        assert {h: journal.colour_history(h) for h in journalled} == journalled
        assert mgr.active_conditions() == [
            (0, Condition.HH),
            (0, Condition.PREDICT_HH),
            (1, Condition.GAS2),
            (2, Condition.COMM_LOSS),
        ]
        [predicted] = [a for a in mgr.alarms() if a.condition is Condition.PREDICT_HH]
        assert (predicted.eta_ts, predicted.value, predicted.state) == (T0 + 300, 18.5, AU)
        assert [e.event for e in journal.history(predicted.id)] == [Event.ACTIVATE, Event.UPDATE]
        by_tag = {a.tag: a for a in mgr.alarms() if a.condition is not Condition.PREDICT_HH}
        assert math.isnan(by_tag["S2"].value)
        assert by_tag["S1"].acked_by == "li"
        assert by_tag["S1"].ack_comment == "evacuated the tank top"

        ack = mgr.acknowledge(by_tag["S0"].id, "wang", "after restart")
        assert (ack.from_state, ack.to_state, ack.alarm.acked_ts) == (AU, AA, clock.now())
        closed = mgr.acknowledge(by_tag["S3"].id, "wang")
        assert (closed.from_state, closed.to_state) == (CU, N)
        with pytest.raises(InvalidTransition):
            mgr.acknowledge(by_tag["S1"].id, "wang")
        assert [e.event for e in journal.history(by_tag["S3"].id)] == [
            Event.ACTIVATE,
            Event.CLEAR,
            Event.ACK,
        ]
        [fresh] = mgr.apply([change(4, Condition.L, True, 1.5, T0 + 3600)])
        assert fresh.alarm.id == max(a["id"] for a in before) + 1
        after = mgr.alarms(include_closed=True)

    with Journal(path) as journal:  # and the acks themselves survive a restart
        assert AlarmManager(table, journal, clock).alarms(include_closed=True) == after


def test_a_kill_mid_stream_loses_no_committed_transition(tmp_path: Path) -> None:
    path = tmp_path / "alarms.db"
    reported = [int(s) for s in _run_and_kill(CHILD_STREAM, path, 200)]

    with Journal(path) as journal:
        mgr = AlarmManager(SensorTable.from_site(make_site()), journal, FakeClock(T0))
        # Every seq the child was told is committed is in the journal.
        for alarm_id in range(1, journal.next_alarm_id()):
            history = journal.history(alarm_id)
            # Each alarm's transitions chain from NORMAL, and its snapshot is the last one.
            assert history[0].from_state is N
            for prev, nxt in itertools.pairwise(history):
                assert prev.to_state is nxt.from_state
            assert journal.alarm(alarm_id) == history[-1].alarm
        seqs = {e.seq for i in range(1, journal.next_alarm_id()) for e in journal.history(i)}
        assert set(reported) <= seqs
        assert {a.id for a in mgr.alarms()} == {a.id for a in journal.open_alarms()}
