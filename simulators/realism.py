"""How a real park differs from the kind one: plant and instrument habits, drawn per seed.

`Realism()` is today's simulator, bit for bit: every feature off, no random number drawn.
`Realism.draw(rng)` draws one plausible park; every figure below is a range a draw picks from:

- noise: white noise of each instrument, 0.02-0.5 % of span (log-uniform; a park-wide median
  per draw, each sensor within a factor of `spread` of it);
- quantisation: a step of 1/100,000-1/1,000 of span (an ADC's step, not a decimal one);
- reporting: each gateway polls its sensors every 1-10 s, each interval jittered by up to
  ± `period_jitter`; a share of gateways reports by exception (a value is sent only when it
  moved by its deadband since the last value sent, and at least every heartbeat);
- gas detectors: zero suppression (readings below a few %LEL read 0), a slow zero drift
  (± up to 1 %LEL over days) and rare blips (a few %LEL for one or two readings, well
  under level 1); toxic detectors the same in "%LEL-equivalents" of level 1 / 25;
- operations: each fill or drain at 0.3-3 x the tank's routine rate (never past its rated
  fill rate or its flow meter's H), no transfer starting at night for a share of tanks;
- thermal expansion: the level follows the liquid's temperature (`EXPANSION_PER_K`).

`Readout` holds the per-sensor draws of the instrument and reporting habits, a function of
the Realism and the site alone (`configured` writes the reporting periods into the site, as
its engineer would), so a service and a farm built apart agree.

>>> Realism().active
False
>>> r = Realism.draw(np.random.default_rng(7))
>>> r.active, 2e-4 <= r.noise_span <= 5e-3, 1e3 <= r.counts <= 1e5
(True, True, True)
>>> r == Realism.draw(np.random.default_rng(7))
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from hazardwatch.vocabulary.model import Kind, Sensor, Site

__all__ = ["EXPANSION_PER_K", "Pace", "Readout", "Realism", "configured", "expansion_per_k"]

NOISE_SPAN_RANGE = (2e-4, 5e-3)  # instrument noise, sd as a fraction of span
COUNTS_RANGE = (1e3, 1e5)  # span / quantisation step
PERIOD_RANGE_S = (1.0, 10.0)
HEARTBEAT_RANGE_S = (60.0, 600.0)
DEADBAND_SPAN_RANGE = (5e-4, 5e-3)  # report-by-exception deadband, fraction of span
LEL_PER_LEVEL1 = 25.0  # a toxic detector's level 1 counts as 25 %LEL (GB/T 50493's ceiling)
DAY_S = 86400.0
UTC_OFFSET_S = 8 * 3600.0  # the park's clock (UTC+8), for its nights

# Cubic expansion of the stored liquids near 20 degC, 1/K [mem: handbook values from memory,
# rounded; liquefied gases expand several times faster than ordinary solvents].
EXPANSION_PER_K = {
    "methanol": 1.2e-3,
    "ethanol": 1.1e-3,
    "benzene": 1.2e-3,
    "toluene": 1.1e-3,
    "xylene": 1.0e-3,
    "gasoline": 1.0e-3,
    "diesel": 0.8e-3,
    "sour water": 0.2e-3,
    "water": 0.2e-3,
    "lpg": 3.0e-3,
    "propane": 3.0e-3,
    "propylene": 3.0e-3,
    "liquefied petroleum gas": 3.0e-3,
    "butane": 2.0e-3,
    "ammonia": 2.5e-3,
    "chlorine": 2.0e-3,
}
EXPANSION_DEFAULT_PER_K = 1.0e-3


def expansion_per_k(substance: str) -> float:
    """The liquid's cubic expansion coefficient, 1/K (1e-3 if unknown).

    >>> expansion_per_k("LPG"), expansion_per_k("something else")
    (0.003, 0.001)
    """
    return EXPANSION_PER_K.get(substance.strip().lower(), EXPANSION_DEFAULT_PER_K)


@dataclass(frozen=True, slots=True)
class Realism:
    """One park's habits; the defaults are today's simulator (see the module docstring)."""

    seed: int = 0  # the layer's own random stream (per-sensor and per-tick draws)
    noise_span: float | None = None  # median noise sd / span; None: instruments.NOISE_SPAN
    counts: float | None = None  # median span / quantisation step; None: today's decimal steps
    spread: float = 2.0  # each sensor's noise and step within this factor of the medians
    period_s: tuple[float, float] | None = None  # a gateway's polling period; None: every tick
    period_jitter: float = 0.0  # each interval is the period times 1 ± this (uniform)
    rbe_share: float = 0.0  # share of gateways reporting by exception
    deadband_span: tuple[float, float] = DEADBAND_SPAN_RANGE  # RBE deadband / span, per sensor
    heartbeat_s: tuple[float, float] = HEARTBEAT_RANGE_S  # RBE heartbeat, per gateway
    gas_suppress_lel: float = 0.0  # gas readings below this read 0
    gas_drift_lel: float = 0.0  # largest amplitude of a detector's zero drift
    gas_drift_period_s: tuple[float, float] = (2 * DAY_S, 7 * DAY_S)
    gas_blips_per_day: float = 0.0  # per detector
    gas_blip_lel: tuple[float, float] = (2.0, 5.0)
    rate_factor: tuple[float, float] = (1.0, 1.0)  # a transfer's rate / the routine rate
    night_s: tuple[float, float] | None = None  # (start, length) of the night, s after midnight
    night_share: float = 0.0  # share of tanks whose operators start nothing at night
    thermal_expansion: bool = False

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Realism:
        """One plausible park (every feature on, its sizes drawn from the ranges above)."""
        u = rng.random(12)
        return cls(
            seed=int(rng.integers(2**62)),
            noise_span=_log_between(u[0], *NOISE_SPAN_RANGE),
            counts=_log_between(u[1], *COUNTS_RANGE),
            period_s=PERIOD_RANGE_S,
            period_jitter=0.3 * float(u[2]),
            rbe_share=0.7 * float(u[3]),
            gas_suppress_lel=1.0 + 3.0 * float(u[4]),
            gas_drift_lel=0.3 + 0.7 * float(u[5]),
            gas_blips_per_day=0.1 + 1.9 * float(u[6]),
            rate_factor=(0.3, 3.0),
            night_s=((20.0 + 3.0 * float(u[7])) * 3600.0, (5.0 + 4.0 * float(u[8])) * 3600.0),
            night_share=0.5 + 0.5 * float(u[9]),
            thermal_expansion=True,
        )

    @property
    def active(self) -> bool:
        """Whether anything differs from today's simulator."""
        return self != Realism(seed=self.seed)

    def streams(self) -> tuple[np.random.Generator, np.random.Generator, np.random.Generator]:
        """The layer's independent streams: (sensors' draws, per-tick draws, operations)."""
        a, b, c = np.random.default_rng(self.seed).spawn(3)
        return a, b, c


def _log_between(u: float, lo: float, hi: float) -> float:
    return float(math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))))


def _gateways(site: Site) -> list[str]:
    return [f"{e.id}/{u.gateway}" for e, _, u, _ in site.iter_sensors()]


def configured(site: Site, realism: Realism) -> Site:
    """`site` as its engineer would configure it for this park: each sensor's `period_s` is
    its gateway's longest interval (the heartbeat where it reports by exception)."""
    if realism.period_s is None and realism.rbe_share <= 0:
        return site
    out = Readout(realism, site).configured_period_s()
    periods = iter(out.tolist())
    return replace(site, enterprises=tuple(
        replace(e, hazard_sources=tuple(
            replace(h, units=tuple(
                replace(u, sensors=tuple(replace(s, period_s=next(periods)) for s in u.sensors))
                for u in h.units
            ))
            for h in e.hazard_sources
        ))
        for e in site.enterprises
    ))  # fmt: skip


class Readout:
    """The per-sensor instrument and reporting habits of one park, as arrays.

    Sensor order follows `Site.iter_sensors()` (the farm's). Draws come from the realism's
    own streams, never from the farm's: with everything off it draws nothing.
    """

    def __init__(self, realism: Realism, site: Site) -> None:
        self.realism = r = realism
        sensors = [s for _, _, _, s in site.iter_sensors()]
        n = len(sensors)
        self.n = n
        rng, self._rng, _ = r.streams()
        span = np.array([max(s.range_hi - s.range_lo, 1e-9) for s in sensors])
        self.span = span
        kind = np.array([int(s.kind) for s in sensors], dtype=np.int8)
        self.is_gas = (kind == Kind.GAS_COMBUSTIBLE) | (kind == Kind.GAS_TOXIC)
        # Engineering units per %LEL: 1 for a %LEL detector, level 1 / 25 for a toxic one.
        self.lel = np.array([_per_lel(s) for s in sensors])
        factor = np.exp(rng.uniform(-1.0, 1.0, (2, n)) * math.log(max(r.spread, 1.0)))
        self.noise_sd: np.ndarray | None = None
        if r.noise_span is not None:
            frac = np.clip(r.noise_span * factor[0], *NOISE_SPAN_RANGE)
            self.noise_sd = frac * span
        self.step: np.ndarray | None = None
        if r.counts is not None:
            self.step = span / np.clip(r.counts * factor[1], *COUNTS_RANGE)
        self._init_reporting(rng, _gateways(site), span)
        self._init_gas(rng)

    # ------------------------------------------------------------------ set-up

    def _init_reporting(
        self, rng: np.random.Generator, gateways: list[str], span: np.ndarray
    ) -> None:
        r, n = self.realism, self.n
        keys = sorted(set(gateways))
        g = np.array([keys.index(k) for k in gateways], dtype=np.int64)
        per_gw = rng.random((3, len(keys)))
        self.period: np.ndarray | None = None
        if r.period_s is not None:
            self.period = np.array([_log_between(x, *r.period_s) for x in per_gw[0]])[g]
        self.rbe = (per_gw[1] < r.rbe_share)[g] if n else np.zeros(0, bool)
        self.heartbeat = np.array([_log_between(x, *r.heartbeat_s) for x in per_gw[2]])[g]
        self.deadband = span * np.exp(rng.uniform(*np.log(r.deadband_span), n))
        phase = rng.random(n)  # sensors of one gateway are polled at their own moments
        self._due = np.zeros(n) if self.period is None else phase * self.period  # s after start
        self._sent = np.full(n, np.nan)  # last value sent
        self._sent_ts = np.full(n, -np.inf)  # when it was sent, s after start
        self._t0: float | None = None

    def _init_gas(self, rng: np.random.Generator) -> None:
        r, n = self.realism, self.n
        self.drift_amp = np.where(self.is_gas, r.gas_drift_lel * rng.uniform(-1.0, 1.0, n), 0.0)
        self.drift_omega = 2 * math.pi / rng.uniform(*r.gas_drift_period_s, n)
        self.drift_phase = rng.uniform(0.0, 2 * math.pi, n)
        self._blip = np.zeros(n)  # the size of the blip on now, engineering units
        self._blip_until = np.full(n, -np.inf)
        self.gas = np.flatnonzero(self.is_gas)

    def configured_period_s(self) -> np.ndarray:
        """Each sensor's longest silence when healthy: the heartbeat if it reports by
        exception, else its longest jittered interval (1 s where every tick reports)."""
        r = self.realism
        longest = np.ones(self.n) if self.period is None else self.period * (1 + r.period_jitter)
        return np.round(np.where(self.rbe, np.maximum(self.heartbeat, longest), longest), 3)

    # ------------------------------------------------------------------ per tick

    def gas_offset(self, ts: float, dt_s: float) -> np.ndarray | None:
        """The detectors' zero drift and blips at `ts` (engineering units), None if off."""
        r = self.realism
        if not self.gas.size or (r.gas_drift_lel <= 0 and r.gas_blips_per_day <= 0):
            return None
        off = self.drift_amp * self.lel * np.sin(self.drift_omega * ts + self.drift_phase)
        if r.gas_blips_per_day > 0:
            p = min(1.0, r.gas_blips_per_day * max(dt_s, 0.0) / DAY_S)
            u = self._rng.random((3, self.gas.size))
            every = max(dt_s, 1e-9) if self.period is None else self.period[self.gas]
            # Apart: one blip is over two readings before the next may start.
            start = (u[0] < p) & (self._blip_until[self.gas] + 2 * every < ts)
            if start.any():
                rows = self.gas[start]
                size = r.gas_blip_lel[0] + (r.gas_blip_lel[1] - r.gas_blip_lel[0]) * u[1][start]
                self._blip[rows] = size * self.lel[rows]
                every = every if np.isscalar(every) else every[start]
                # One or two readings of the detector.
                self._blip_until[rows] = ts + np.where(u[2][start] < 0.5, 0.5, 1.5) * every
            off = off + np.where(self._blip_until >= ts, self._blip, 0.0)
        return off

    def quantise(self, value: np.ndarray) -> np.ndarray:
        """`value` on the instruments' steps (only if this layer sets them)."""
        assert self.step is not None
        return np.rint(value / self.step) * self.step

    def suppress(self, value: np.ndarray) -> None:
        """Zero suppression of the gas detectors, in place."""
        thr = self.realism.gas_suppress_lel
        if thr > 0 and self.gas.size:
            g = self.gas
            value[g] = np.where(value[g] < thr * self.lel[g], 0.0, value[g])

    def report(self, ts: float, value: np.ndarray, mask: np.ndarray | None) -> np.ndarray | None:
        """Which sensors send a reading at `ts`: due by their period, and for a
        report-by-exception gateway moved by the deadband or due a heartbeat; `mask` (the
        instruments' own, None: all) is kept. None: every sensor."""
        r = self.realism
        if r.period_s is None and r.rbe_share <= 0:
            return mask
        if self._t0 is None:
            self._t0 = ts
        t = ts - self._t0
        send = np.ones(self.n, dtype=bool) if mask is None else mask.copy()
        if self.period is not None:
            due = self._due <= t + 1e-9
            send &= due
            jitter = 1.0 + r.period_jitter * self._rng.uniform(-1.0, 1.0, self.n)
            self._due = np.where(due, t + self.period * jitter, self._due)
        if self.rbe.any():
            moved = ~(np.abs(value - self._sent) < self.deadband)  # the first reading: NaN
            beat = t - self._sent_ts >= self.heartbeat - 1e-9
            send &= ~self.rbe | moved | beat
        self._sent = np.where(send, value, self._sent)
        self._sent_ts = np.where(send, t, self._sent_ts)
        return send


def _per_lel(s: Sensor) -> float:
    if s.kind is Kind.GAS_COMBUSTIBLE:
        return 1.0 if "lel" in s.unit.lower() else (s.range_hi - s.range_lo) / 100.0
    if s.kind is Kind.GAS_TOXIC:
        l1 = s.limits.h if s.limits.h is not None else 0.05 * (s.range_hi - s.range_lo)
        return float(l1) / LEL_PER_LEVEL1
    return 0.0


class Pace:
    """The operators' habits of one park: how fast each transfer runs, when they rest."""

    def __init__(self, realism: Realism, n_units: int) -> None:
        self.realism = realism
        _, _, rng = realism.streams()
        self._rng = rng
        self.rests = rng.random(n_units) < realism.night_share
        self.max_m3_s: np.ndarray | float = math.inf  # the fastest each tank may be pumped

    @property
    def varies_rate(self) -> bool:
        return self.realism.rate_factor != (1.0, 1.0)

    def factors(self, n: int) -> np.ndarray:
        """Rate factors of `n` transfers starting now (log-uniform in `rate_factor`)."""
        lo, hi = self.realism.rate_factor
        return np.exp(self._rng.uniform(math.log(lo), math.log(hi), n))

    def at_rest(self, ts: float) -> np.ndarray | bool:
        """Tanks whose operators start nothing now (the night, for the tanks that rest)."""
        night = self.realism.night_s
        if night is None:
            return False
        start, length = night
        since = ((ts + UTC_OFFSET_S) - start) % DAY_S
        return self.rests if since < length else False
