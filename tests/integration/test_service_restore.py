"""The wiring across a restart: journal -> alarm manager -> detector restore, on real files."""

from __future__ import annotations

from pathlib import Path

from hazardwatch.shell.service import Service, Settings
from hazardwatch.vocabulary.clock import FakeClock
from hazardwatch.vocabulary.config import parse_site
from hazardwatch.vocabulary.model import AlarmState, Batch
from tests.e2e.harness import E2E_SITE

T0 = 1_763_800_000.0


def _service(data: Path, clock: FakeClock) -> Service:
    site = parse_site(E2E_SITE, "e2e.yaml")
    return Service(site, Settings(data_dir=data), clock=clock)


def _reading(svc: Service, tag: str, ts: float, value: float) -> Batch:
    return Batch.of([svc.table.tag_index[tag]], [ts], [value])


def test_alarm_active_before_restart_clears_after_it(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    svc = _service(tmp_path, clock)
    # HH 18 with a 1 s on-delay: two readings above it, 1.5 s apart.
    svc.handle_batch(_reading(svc, "e1-T1-LT", T0, 18.5))
    events = svc.handle_batch(_reading(svc, "e1-T1-LT", T0 + 1.5, 18.6))
    raised = [e for e in events if e.alarm.condition.label == "hh"]
    assert raised and raised[0].to_state is AlarmState.ACTIVE_UNACK
    alarm_id = raised[0].alarm.id
    svc.close()

    clock.advance(10)
    again = _service(tmp_path, clock)
    assert again.alarms.get(alarm_id).state is AlarmState.ACTIVE_UNACK
    # Back to normal (below HH - deadband, then the 1 s off-delay): the restored alarm clears.
    again.handle_batch(_reading(again, "e1-T1-LT", T0 + 20, 10.0))
    events = again.handle_batch(_reading(again, "e1-T1-LT", T0 + 21.5, 10.0))
    cleared = [e for e in events if e.alarm.id == alarm_id]
    assert cleared and cleared[-1].to_state is AlarmState.CLEARED_UNACK
    again.close()


def test_gateway_offline_raises_comm_loss_for_its_sensors_only(tmp_path: Path) -> None:
    from ingest import GatewayStatus

    clock = FakeClock(T0)
    svc = _service(tmp_path, clock)
    events = svc.handle_status(GatewayStatus("e1", "gw2", online=False, ts=T0 + 1))
    tags = sorted(e.alarm.tag for e in events if e.alarm.condition.label == "comm_loss")
    assert tags == ["e1-S1-AT", "e1-S1-LT", "e1-S1-PT"]
    assert svc.handle_status(GatewayStatus("e1", "gw1", online=True, ts=T0 + 2)) == []
    svc.close()


def test_silence_is_judged_on_data_time_while_the_service_lags(tmp_path: Path) -> None:
    """A backlog of old readings must not look like silence; a dead park still must."""
    clock = FakeClock(T0 - 200)
    svc = _service(tmp_path, clock)  # stale after 15 s (period 5 s x 3); up since T0 - 200
    clock.set(T0)
    lag = 40.0
    idx = svc.table.tag_index
    # One sensor last heard from 30 s before the others, all 40 s behind the wall clock.
    svc.handle_batch(Batch.of([idx["e1-T2-LT"]], [T0 - lag - 30], [5.0]))
    readings = [t for t in svc.table.tags if t != "e1-T2-LT"]
    svc.handle_batch(Batch.of([idx[t] for t in readings], [T0 - lag] * len(readings), [5.0] * 6))
    clock.advance(0.5)
    assert svc.stale_now() == T0 - lag + svc.settings.stale_grace_s
    events = svc.handle_changes(svc.detector.check_stale(svc.stale_now()))
    lost = {e.alarm.tag for e in events if e.alarm.condition.label == "comm_loss"}
    # Only the sensor that lags the stream itself; judged on the wall clock, all 7 would be.
    assert lost == {"e1-T2-LT"}
    assert len(svc.detector.check_stale(clock.now())) == len(readings)

    clock.advance(svc.settings.stale_idle_s + 1)  # nothing arrives any more
    assert svc.stale_now() == clock.now()
    svc.close()
