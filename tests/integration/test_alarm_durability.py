"""The service process is killed with SIGKILL; a new one on its data dir has the same alarm
states, mute markers, expiries, latches and disposal records, and applies at start a shelve
that expired while it was down.

The child is a real Python process building the real `Service` (hazardwatch.shell.service) on a
data dir; it acts through the service's one door, the alarm pipeline, as the API does.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from alerting import (
    Acknowledge,
    AlarmEvent,
    Cause,
    Close,
    Dispose,
    Event,
    Maintenance,
    OutOfService,
    Reset,
    Shelve,
)
from hazardwatch.shell.service import Service, Settings
from hazardwatch.vocabulary.clock import FakeClock
from hazardwatch.vocabulary.config import parse_site
from hazardwatch.vocabulary.model import AlarmState, Condition, ConditionChange
from tests.e2e.harness import E2E_SITE

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_763_800_000.0
H = 3600.0


def start(data_dir: Path, now: float) -> Service:
    site = parse_site(E2E_SITE, "e2e.yaml")
    settings = Settings(data_dir=data_dir, checkpoint_interval_s=0, judge_silence=False)
    return Service(site, settings, clock=FakeClock(now))


def _change(
    svc: Service, tag: str, condition: Condition, active: bool, value: float, ts: float
) -> list[AlarmEvent]:
    i = svc.table.tag_index[tag]
    change = ConditionChange(i, condition, active, value, ts, condition.severity)
    return svc.handle_changes([change])


def _act(svc: Service, action: Any, ts: float) -> list[Any]:
    return svc.pipeline.run([action], ts)


def script(svc: Service) -> None:
    """Leave alarms in every state and mute beside them (see the test for which is which)."""
    [a] = _change(svc, "e1-T1-LT", Condition.HH, True, 18.5, T0)
    _act(svc, Acknowledge(a.alarm.id, "li"), T0 + 1)
    _act(svc, Shelve(a.alarm.id, "li", H, "level gauge chatter", "10.0.0.7"), T0 + 2)
    [b] = _change(svc, "e1-T2-LT", Condition.H, True, 17.2, T0 + 3)
    _act(svc, Shelve(b.alarm.id, "wang", 8 * H, "filling by plan"), T0 + 4)
    [c] = _change(svc, "e1-T1-GT", Condition.GAS2, True, 60.0, T0 + 5)
    _change(svc, "e1-T1-GT", Condition.GAS2, False, 2.0, T0 + 35)  # latched
    [d] = _change(svc, "e1-S1-LT", Condition.HH, True, 11.5, T0 + 40)
    _act(svc, Acknowledge(d.alarm.id, "li"), T0 + 41)
    _change(svc, "e1-S1-LT", Condition.HH, False, 10.0, T0 + 50)
    _act(svc, Dispose(d.alarm.id, "li", Cause.PROCESS, "pump stopped", "rtsp://cam/1"), T0 + 60)
    _act(svc, Maintenance("e1-S1", True, "zhao", "valve overhaul", "10.0.0.9"), T0 + 70)
    _change(svc, "e1-S1-PT", Condition.HH, True, 2.0, T0 + 80)  # suppressed
    _change(svc, "e1-S1-AT", Condition.GAS1, True, 30.0, T0 + 80)  # gas: never suppressed
    _act(svc, OutOfService("e1-T1-TT", True, "zhao", "probe replaced", T0 + 10 * H), T0 + 90)
    [g] = _change(svc, "e1-T1-TT", Condition.H, True, 50.0, T0 + 95)  # out of service
    _act(svc, Acknowledge(g.alarm.id, "li"), T0 + 96)
    _change(svc, "e1-T1-TT", Condition.H, False, 40.0, T0 + 97)
    _act(svc, Dispose(g.alarm.id, "li", Cause.INSTRUMENT_FAULT, "probe"), T0 + 98)
    _act(svc, Close(g.alarm.id, "li", "signed off"), T0 + 99)
    assert svc.alarms.get(c.alarm.id).state is AlarmState.LATCHED_UNACK


def snapshot(svc: Service) -> dict[str, Any]:
    """Everything that must come back: alarms, markers, the unclosed list, the conditions
    the detector is given back."""
    alarms = {str(a.id): a.to_dict() for a in svc.alarms.alarms(include_closed=True)}
    for a in alarms.values():
        a.pop("first_out")  # a listing's mark, not a record
    return {
        "alarms": alarms,
        "mutes": [m.to_dict() for m in svc.alarms.mutes.markers()],
        "unclosed": [a.id for a in svc.alarms.unclosed()],
        "active": [[s, c.label] for s, c in svc.alarms.active_conditions()],
    }


CHILD = """
import json, sys, time
from pathlib import Path
from tests.integration.test_alarm_durability import T0, script, snapshot, start

svc = start(Path(sys.argv[1]), T0)
script(svc)
print(json.dumps(snapshot(svc)), flush=True)
time.sleep(60)  # never closes its files: the parent kills it first
"""


def _read_line(proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> str:
    assert proc.stdout is not None and proc.stderr is not None
    fd, buf = proc.stdout.fileno(), b""
    deadline = time.monotonic() + timeout_s
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail(f"the service printed nothing in {timeout_s} s")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                pytest.fail(f"the service exited early: {proc.stderr.read().decode()[-3000:]}")
            buf += chunk
    return buf.decode().splitlines()[0]


def _run_and_kill(data_dir: Path) -> dict[str, Any]:
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(data_dir)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        try:
            before = json.loads(_read_line(proc))
            # still in the WAL: recovery from it is what is tested
            assert (data_dir / "alarms.db-wal").stat().st_size > 0
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(timeout=10) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    return before


def test_states_markers_latches_and_disposals_survive_kill_9_and_an_expired_shelve_is_applied(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    before = _run_and_kill(data)
    by_tag = {a["tag"]: a for a in before["alarms"].values()}
    shelved, latched = by_tag["e1-T1-LT"], by_tag["e1-T1-GT"]
    assert shelved["state"] == "active_ack" and shelved["muted"] == "shelved"
    assert latched["state"] == "latched_unack"
    assert by_tag["e1-S1-PT"]["muted"] == "suppressed" and by_tag["e1-S1-AT"]["muted"] is None
    assert by_tag["e1-S1-LT"]["disposal"]["cause"] == "process"
    assert by_tag["e1-T1-TT"]["closed_by"] == "li"

    # Two hours later: the 1 h shelve expired while the service was down.
    svc = start(data, T0 + 2 * H)
    try:
        after = json.loads(json.dumps(snapshot(svc)))  # as the child's, through JSON
        # the shelve that expired is applied at start: announced again, unacknowledged
        history = svc.journal.history(shelved["id"])
        back = history[-1]
        assert (back.event, back.from_state, back.to_state, back.ts) == (
            Event.UNSHELVE,
            AlarmState.ACTIVE_ACK,
            AlarmState.ACTIVE_UNACK,
            T0 + 2 * H,
        )
        assert (back.who, back.why, back.alarm.muted, back.alarm.acked_by) == (
            None,
            "expired",
            None,
            None,
        )
        # everything else exactly as it was
        expected = dict(before["alarms"])
        expected[str(shelved["id"])] = after["alarms"][str(shelved["id"])]
        assert after["alarms"] == expected
        assert after["mutes"] == [m for m in before["mutes"] if m["target"] != "e1-T1-LT"]
        assert after["unclosed"] == before["unclosed"]
        assert after["active"] == before["active"]
        assert [svc.table.tags[s] for s, _ in after["active"]] == [
            "e1-T1-LT",
            "e1-T2-LT",
            "e1-S1-PT",
            "e1-S1-AT",
        ]  # the latched gas alarm is no longer a present condition
        assert svc.ticker.next_due() == T0 + 4 + 8 * H  # the other shelve's expiry

        # and the operator carries on: reset the latch, close the disposed alarm
        latched_id, disposed_id = latched["id"], by_tag["e1-S1-LT"]["id"]
        svc.pipeline.run([Acknowledge(latched_id, "li"), Reset(latched_id, "li")])
        assert svc.alarms.get(latched_id).state is AlarmState.NORMAL
        [closed] = svc.pipeline.run([Close(disposed_id, "wang")])
        assert closed.alarm.closed_by == "wang"
        # a tick past the other shelve and the out-of-service ends them
        ended = svc.tick(T0 + 10 * H)
        assert [(e.alarm.tag, e.event) for e in ended] == [("e1-T2-LT", Event.UNSHELVE)]
        assert [m.kind.value for m in svc.alarms.mutes.markers()] == ["suppressed"]
    finally:
        svc.close()
