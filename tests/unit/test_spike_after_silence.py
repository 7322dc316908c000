"""A jump after a silence behind a report-by-exception gateway: the gateway held the value.

Issue 12 (realism draw 1203213533, spiking-sensor): a temperature transmitter behind a
report-by-exception (RBE) gateway with a 500 s heartbeat sends a reading only when its
value leaves the deadband. A loose connection then sends single readings 30 degC high. The
first came 79 s after the last reported value; judged against the physical rate (0.5 degC/s)
times the whole silence it passed as possible, and the reading 2 s later that came back was
taken for the spike: the high one fed the trend and raised RATE and PREDICT_HH. The sensor
had also sent only 21 of the 32 readings that teach its noise, so nothing was a spike yet.
"""

from __future__ import annotations

import numpy as np

from detectors import Detector
from hazardwatch.vocabulary.model import Batch, Condition, Kind, Limits, SensorTable, Trend
from tests import factories as f
from tests.reference import ReferenceDetector
from tests.unit.test_detectors import rows

T0 = 1_763_800_000.0
PROCESS = {Condition.RATE, Condition.PREDICT_HH, Condition.H, Condition.HH, Condition.DRIFT}
INSTRUMENT = {Condition.SPIKE, Condition.STEP}


def _temperature() -> SensorTable:
    """The park's methanol tank temperature as its engineer configures it behind the gateway:
    its period the heartbeat (stale after 3 x 500 s)."""
    trend = Trend(
        rate_limit_per_min=0.05, rate_window_s=1800.0, horizon_s=1800.0, resolution=0.1,
        spike_rate_per_s=0.5, stuck_window_s=900.0, noise_ratio=5.0,
    )  # fmt: skip
    tt = f.sensor("TT", Kind.TEMPERATURE, unit="degC", lo=-20.0, hi=80.0,
                  limits=Limits(hh=45.0, h=40.0), deadband=1.0, on_delay_s=60.0,
                  off_delay_s=60.0, period_s=500.0, trend=trend)  # fmt: skip
    return f.table(f.site(f.enterprise("e1", f.hazard_source("hs", f.unit("T", tt)))))


def _level(period_s: float = 300.0) -> SensorTable:
    trend = Trend(spike_rate_per_s=0.2, rate_limit_per_min=None, horizon_s=None)  # 1 % of 20 m
    lt = f.sensor("LT", Kind.LEVEL, hi=20.0, limits=Limits(hh=19.0, h=18.0), period_s=period_s,
                  on_delay_s=10.0, trend=trend)  # fmt: skip
    return f.table(f.site(f.enterprise("e1", f.hazard_source("hs", f.unit("T", lt)))))


def _rbe_start(rng: np.random.Generator) -> list[tuple[float, float]]:
    """Half an hour at about 15.8 degC as the RBE gateway sends it: moves of about its
    0.5 degC deadband every 3-25 s polled at 3 s while the temperature wanders, then only
    its heartbeats. 22 readings: fewer than the 32 that teach the noise."""
    t, out = 4.0, []
    for k in range(18):
        out.append((t, 15.8 + (0.3 if k % 2 else -0.3) + rng.uniform(-0.05, 0.05)))
        t += float(rng.choice([3.0, 6.0, 9.0, 18.0, 24.0]))
    for t in (857.0, 1359.0, 1853.0, 1862.0):
        out.append((t, 15.8 + rng.uniform(-0.4, 0.4)))
    return out


def _loose(start: list[tuple[float, float]], rng: np.random.Generator) -> list[tuple[float, float]]:
    """Then the loose connection: a reading 30 degC high after 9-200 s of silence, back at
    the next poll 2-3 s later."""
    out, t = list(start), start[-1][0]
    for gap in (79.0, 199.0, 125.0, 9.0, 46.0, 15.0, 6.0, 8.0, 150.0, 60.0):
        t += gap
        out.append((t, 45.8 + rng.uniform(-0.3, 0.3)))
        t += float(rng.choice([2.0, 3.0]))
        out.append((t, 15.8 + rng.uniform(-0.3, 0.3)))
    return out


def _run(tab: SensorTable, series: list[tuple[float, float]], lost_at: float | None = None):
    det = Detector(tab, T0)
    raised: set[Condition] = set()
    for t, v in series:
        if lost_at is not None and t > lost_at:
            raised |= {c.condition for c in det.check_stale(T0 + lost_at) if c.active}
            lost_at = None
        raised |= {c.condition for c in det.step(Batch.of([0], [T0 + t], [v])) if c.active}
    return raised


def test_loose_connection_behind_an_rbe_gateway_is_spike_not_rate() -> None:
    """Spikes before the noise is learned, after silences of 9-200 s: SPIKE on the sensor,
    and neither RATE, PREDICT_HH nor a limit. Before: RATE and PREDICT_HH, no SPIKE."""
    for seed in range(5):
        rng = np.random.default_rng(seed)
        raised = _run(_temperature(), _loose(_rbe_start(rng), rng))
        assert Condition.SPIKE in raised, seed
        assert not raised & PROCESS, (seed, raised)
        assert Condition.STEP not in raised, seed


def test_spike_after_a_held_silence_once_the_noise_is_learned() -> None:
    """The same transmitter after 40 healthy readings (its noise learned): one reading 30 degC
    high 79 s after the last, back 2 s later, is the SPIKE (a silence held the value: the
    physics is judged over four 3 s scans, not 79 s). Before: the reading that came back was
    taken for the spike and the high one for the process (RATE, PREDICT_HH)."""
    rng = np.random.default_rng(7)
    series, t = [], 4.0
    for k in range(40):
        series.append((t, 15.8 + (0.3 if k % 2 else -0.3) + rng.uniform(-0.05, 0.05)))
        t += 3.0
    series += [(t + 79.0, 45.9), (t + 81.0, 15.7), (t + 200.0, 16.1)]
    det = Detector(_temperature(), T0)
    changes = [c for t, v in series for c in det.step(Batch.of([0], [T0 + t], [v]))]
    at_jump = {c.condition for c in changes if c.active and c.ts == T0 + t + 79.0}
    assert at_jump == {Condition.SPIKE}
    assert not {c.condition for c in changes if c.active} & PROCESS


def _fill(outage: tuple[float, float]) -> list[tuple[float, float]]:
    """A level gauge polled every 2 s behind an RBE gateway (deadband 1 cm) while the tank
    fills fast (10 mm/s), silent during `outage` (start, end, s)."""
    rng = np.random.default_rng(3)
    out, sent = [], -np.inf
    for k in range(900):
        t = 2.0 * k
        level = 5.0 + (0.01 * (t - 600.0) if t > 600.0 else 0.0) + rng.normal(0.0, 0.001)
        if outage[0] <= t < outage[1]:
            continue
        if abs(level - sent) > 0.01 or not out or t - out[-1][0] >= 300.0:
            out.append((t, round(level, 3)))
            sent = level
    return out


def test_level_moved_during_a_communication_loss_is_no_spike() -> None:
    """The gateway went silent for 200 s during a fill (COMM_LOSS raised, stale after 3 x
    20 s): the level comes back 2 m higher, judged over the whole silence: no SPIKE or STEP.
    (Without the loss exempted, SPIKE and STEP: checked by hand when this was written.)"""
    raised = _run(_level(period_s=20.0), _fill((1000.0, 1200.0)), lost_at=1100.0)
    assert Condition.COMM_LOSS in raised
    assert not raised & INSTRUMENT, raised


def test_a_gap_longer_than_the_stale_limit_is_judged_whole() -> None:
    """A replay's gap in history (no COMM_LOSS raised: a back-test judges the process) longer
    than the stale limit: the level that moved meanwhile is no SPIKE or STEP."""
    raised = _run(_level(period_s=20.0), _fill((1000.0, 1200.0)))
    assert not raised & INSTRUMENT, raised


def test_detector_equals_reference_on_held_silences() -> None:
    """The compiled signal loop and the slow reference agree change for change on these
    series, the communication loss included."""
    cases = [
        (_temperature(), _loose(_rbe_start(np.random.default_rng(s)), np.random.default_rng(s)))
        for s in range(3)
    ]
    cases += [(_level(20.0), _fill((1000.0, 1200.0))), (_level(300.0), _fill((1000.0, 1200.0)))]
    for tab, series in cases:
        fast, slow = Detector(tab, T0), ReferenceDetector(tab, T0)
        for k, (t, v) in enumerate(series):
            if k == len(series) // 2:
                ts = T0 + t - 0.5
                assert rows(fast.check_stale(ts)) == rows(slow.check_stale(ts))
            batch = Batch.of([0], [T0 + t], [v])
            assert rows(fast.step(batch)) == rows(slow.step(batch)), (k, t, v)
        assert fast.state.active.tolist() == slow.active_bits()
