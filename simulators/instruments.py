"""What the instruments make of the true process values: noise, resolution, drift, faults.

Every sensor adds white noise (0.2 % of span; gas detectors at most 5 % of their first
level, so a quiet detector never alarms by itself), drifts slowly (a sine of a few weeks'
period, at most 0.1 % of span) and reports in decimal steps of at least 1/10,000 of its span.
Faults are injected per sensor for an interval (see `FaultKind`); dropout is the only one
that silences a sensor, which `read` reports through its mask. A realism layer
(`simulators.realism.Readout`) may replace the noise and the steps and add the gas
detectors' zero drift, blips and zero suppression.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from hazardwatch.vocabulary.model import Kind, Sensor
from simulators.realism import Readout

NOISE_SPAN = 0.002  # instrument noise, standard deviation as a fraction of span
COUNTS = 10_000  # the instrument resolves at least this many steps over its span
DRIFT_SPAN = 0.001  # amplitude of the slow drift, fraction of span
DRIFT_PERIOD_S = (14 * 86400.0, 42 * 86400.0)


class FaultKind(StrEnum):
    """Instrument faults a scenario can inject, and the default size of each."""

    STUCK = "stuck"  # holds the reading it had when the fault began
    SPIKE = "spike"  # single-sample jumps of `magnitude` (default 30 % of span), every ~30 s
    DROPOUT = "dropout"  # sends nothing
    BIAS = "bias"  # offset by `magnitude` (default 5 % of span)
    NOISE_BURST = "noise_burst"  # noise times `magnitude` (default 10)
    DRIFT = "drift"  # ramps away by `magnitude` per hour (default 2 % of span)


DEFAULT_MAGNITUDE = {
    FaultKind.SPIKE: 0.30,  # of span
    FaultKind.BIAS: 0.05,  # of span
    FaultKind.NOISE_BURST: 10.0,  # times the usual noise
    FaultKind.DRIFT: 0.02,  # of span per hour
}
SPIKE_EVERY_S = 30.0


@dataclass(slots=True)
class Fault:
    """One fault on one sensor from `start_ts` until `end_ts` (simulated epoch seconds)."""

    sensor: int
    kind: FaultKind
    start_ts: float
    end_ts: float
    magnitude: float  # engineering units (spike, bias), per hour (drift) or a factor (noise)
    held: float = math.nan  # the stuck value


def gas_level1(s: Sensor) -> float:
    """The first gas level of a detector, or a twentieth of its span if none is set."""
    if s.limits.h is not None:
        return float(s.limits.h)
    return 0.05 * (s.range_hi - s.range_lo) if s.kind.is_gas else math.inf


class Instruments:
    """Noise, quantisation, drift and faults for every sensor, as arrays."""

    def __init__(
        self, sensors: list[Sensor], rng: np.random.Generator, readout: Readout | None = None
    ) -> None:
        self.readout = readout
        self.lo = np.array([s.range_lo for s in sensors], dtype=np.float64)
        self.hi = np.array([s.range_hi for s in sensors], dtype=np.float64)
        self.span = np.maximum(self.hi - self.lo, 1e-9)
        kind = np.array([int(s.kind) for s in sensors], dtype=np.int8)
        self.gas = np.flatnonzero((kind == Kind.GAS_COMBUSTIBLE) | (kind == Kind.GAS_TOXIC))
        level1 = np.array([gas_level1(s) for s in sensors], dtype=np.float64)
        noise = NOISE_SPAN * self.span
        if readout is not None and readout.noise_sd is not None:
            noise = readout.noise_sd
        gas_mask = np.zeros(len(sensors), dtype=bool)
        gas_mask[self.gas] = True
        self.noise_sd = np.where(gas_mask, np.minimum(noise, 0.05 * level1), noise)
        # A power of ten, never coarser than one unit, so 1234/1000 prints as 1.234.
        decimals = np.maximum(0.0, -np.floor(np.log10(self.span / COUNTS)))
        self.inv_res = 10.0**decimals
        self.resolution = 1.0 / self.inv_res
        if readout is not None and readout.step is not None:
            self.resolution = readout.step
        n = len(sensors)
        drift_amp = np.where(gas_mask, 0.0, DRIFT_SPAN * self.span)  # gas: zeroed on calibration
        self._drift_amp = drift_amp * rng.uniform(0.2, 1.0, n)
        self._drift_omega = 2 * math.pi / rng.uniform(*DRIFT_PERIOD_S, n)
        self._drift_phase = rng.uniform(0.0, 2 * math.pi, n)
        self.faults: list[Fault] = []
        self._last = np.full(n, np.nan)

    def add_fault(
        self, sensor: int, kind: FaultKind, start_ts: float, end_ts: float, magnitude: float | None
    ) -> Fault:
        """Schedule a fault; `magnitude` None takes the kind's default (see FaultKind)."""
        if magnitude is None:
            default = DEFAULT_MAGNITUDE.get(kind, 0.0)
            scaled = kind in (FaultKind.SPIKE, FaultKind.BIAS, FaultKind.DRIFT)
            magnitude = default * float(self.span[sensor]) if scaled else default
        fault = Fault(sensor, kind, float(start_ts), float(end_ts), float(magnitude))
        self.faults.append(fault)
        return fault

    def read(
        self, true: np.ndarray, ts: float, dt_s: float, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Readings for the true values at `ts`, and the mask of sensors that report (None:
        all of them)."""
        n = true.size
        sd = self.noise_sd
        offset = self._drift_amp * np.sin(self._drift_omega * ts + self._drift_phase)
        active = [f for f in self.faults if f.start_ts <= ts < f.end_ts]
        mask: np.ndarray | None = None
        stuck: list[Fault] = []
        if active:
            sd = sd.copy()
            for f in active:
                if f.kind == FaultKind.NOISE_BURST:
                    sd[f.sensor] *= f.magnitude
                elif f.kind == FaultKind.BIAS:
                    offset[f.sensor] += f.magnitude
                elif f.kind == FaultKind.DRIFT:
                    offset[f.sensor] += f.magnitude * (ts - f.start_ts) / 3600.0
                elif f.kind == FaultKind.SPIKE:
                    if rng.random() < min(1.0, max(dt_s, 1e-9) / SPIKE_EVERY_S):
                        offset[f.sensor] += f.magnitude
                elif f.kind == FaultKind.DROPOUT:
                    if mask is None:
                        mask = np.ones(n, dtype=bool)
                    mask[f.sensor] = False
                else:
                    stuck.append(f)
        real = self.readout
        if real is not None:
            gas_offset = real.gas_offset(ts, dt_s)
            if gas_offset is not None:
                offset = offset + gas_offset
        value = true + offset + sd * rng.standard_normal(n)
        if real is not None and real.step is not None:
            value = real.quantise(value)
        else:
            value = np.rint(value * self.inv_res) / self.inv_res
        np.clip(value, self.lo, self.hi, out=value)
        value[self.gas] = np.maximum(value[self.gas], 0.0)
        if real is not None:
            real.suppress(value)
        for f in stuck:
            if math.isnan(f.held):
                last = self._last[f.sensor]
                f.held = float(value[f.sensor] if math.isnan(last) else last)
            value[f.sensor] = f.held
        self._last = value
        return value, mask
