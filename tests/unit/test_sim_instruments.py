"""Instrument behaviour and injected faults."""

from __future__ import annotations

import numpy as np
import pytest

from hazardwatch.vocabulary.model import Limits, Sensor
from simulators.instruments import FaultKind, Instruments
from tests.factories import sensor


def sensors(n: int = 4) -> list[Sensor]:
    return [sensor(f"S{i}", hi=20.0, limits=Limits(), period_s=1.0) for i in range(n)]


def run(inst: Instruments, true: np.ndarray, n: int, ts0: float = 0.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    out, masks = [], []
    for k in range(n):
        values, mask = inst.read(true, ts0 + k + 1.0, 1.0, rng)
        out.append(values.copy())
        masks.append(np.ones(true.size, bool) if mask is None else mask)
    return np.array(out), np.array(masks)


def test_noise_is_small_quantised_and_within_range() -> None:
    inst = Instruments(sensors(), np.random.default_rng(0))
    values, masks = run(inst, np.full(4, 10.0), 500)
    assert masks.all()
    assert values.std(axis=0) == pytest.approx([0.04] * 4, rel=0.15)  # 0.2 % of 20 m
    assert np.allclose(values * 1000, np.rint(values * 1000))  # 1 mm steps
    clipped, _ = run(inst, np.full(4, 25.0), 10)
    assert clipped.max() == 20.0


def test_stuck_holds_the_last_reading_for_its_interval_only() -> None:
    inst = Instruments(sensors(), np.random.default_rng(0))
    inst.add_fault(1, FaultKind.STUCK, 10.5, 30.5, None)
    true = np.full(4, 10.0)
    values, _ = run(inst, true, 40)
    assert len(set(values[10:30, 1].tolist())) == 1  # ts 11..30 frozen
    assert values[10, 1] == values[9, 1]  # at the reading before the fault
    assert len(set(values[30:, 1].tolist())) > 1 and len(set(values[10:30, 0].tolist())) > 1


def test_dropout_silences_the_sensor_through_the_mask() -> None:
    inst = Instruments(sensors(), np.random.default_rng(0))
    inst.add_fault(2, FaultKind.DROPOUT, 5.0, 15.0, None)
    _, masks = run(inst, np.full(4, 10.0), 20)
    assert not masks[4:14, 2].any() and masks[:4, 2].all() and masks[14:, 2].all()
    assert masks[:, [0, 1, 3]].all()


def test_bias_spike_noise_burst_and_drift_change_the_readings_as_scripted() -> None:
    inst = Instruments(sensors(), np.random.default_rng(0))
    inst.add_fault(0, FaultKind.BIAS, 0.0, 1e9, 2.0)
    inst.add_fault(1, FaultKind.SPIKE, 0.0, 1e9, None)  # 30 % of span: 6 m
    inst.add_fault(2, FaultKind.NOISE_BURST, 0.0, 1e9, None)  # ten times the noise
    inst.add_fault(3, FaultKind.DRIFT, 0.0, 1e9, 3600.0)  # 1 m per second, for the test
    values, _ = run(inst, np.full(4, 10.0), 300)
    assert values[:, 0].mean() == pytest.approx(12.0, abs=0.02)
    spikes = values[:, 1] > 15.0
    assert 3 <= spikes.sum() <= 30  # about one every 30 s
    assert values[:, 2].std() == pytest.approx(0.4, rel=0.2)
    assert values[5, 3] == pytest.approx(16.0, abs=0.2) and values[-1, 3] == 20.0  # to the top
