"""Built-in defaults for what a sensor's config leaves out, and the gas set-point ceilings.

Deadbands, delays and reporting periods here are [mem] values (ISA-18.2 recommended
starting points and product defaults, not checked against the standards' own text): they
are configurable defaults, overridden per kind or for `all` kinds by the site config's
`defaults:` section, and per sensor. The gas ceilings are [src] GB/T 50493-2019.

>>> builtin(Kind.LEVEL).on_delay_s, builtin(Kind.GAS_TOXIC).latch
(60.0, True)
>>> builtin(Kind.FLOW).merged({"on_delay_s": 5.0}).on_delay_s
5.0

Early-warning and signal-fault settings (`Trend`) have built-in per-kind defaults too
(`TREND_BUILTIN`): these are product defaults, not values from a standard, and every one
is configurable per kind (`defaults.<kind>.trend`) and per sensor (`trend:`). Values that
scale with the instrument come as a share of its span (`*_pct*`) and are resolved per sensor:

>>> t = builtin(Kind.PRESSURE).trend.resolve(span=2.5)
>>> round(t.rate_limit_per_min, 4), t.horizon_s, round(t.resolution, 4), t.spike_rate_per_s
(0.125, 1800.0, 0.0025, 0.025)
>>> builtin(Kind.GAS_TOXIC).trend.resolve(span=100.0).horizon_s is None
True
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from hazardwatch.vocabulary.model import Kind, Trend

# A quantity given in absolute units or as a share of the instrument span: setting one form
# replaces the other, so a more specific level of the config always wins.
SPAN_PAIRS: dict[str, str] = {
    "rate_limit_per_min": "rate_limit_pct_per_min",
    "resolution": "resolution_pct",
    "spike_rate_per_s": "spike_rate_pct_per_s",
}
_PARTNER = {**SPAN_PAIRS, **{pct: ab for ab, pct in SPAN_PAIRS.items()}}


@dataclass(frozen=True, slots=True)
class TrendDefaults:
    """Trend settings before the instrument span is known; None switches a check off.

    Of each pair in SPAN_PAIRS at most one form is set; neither set means the check is off
    (for `resolution`: 0, an instrument that reports exact values).
    """

    rate_limit_per_min: float | None = None  # units/min
    rate_limit_pct_per_min: float | None = None  # % of span per min
    rate_window_s: float = 300.0
    horizon_s: float | None = 1800.0
    drift_h_sigma: float | None = 8.0
    drift_k_sigma: float = 0.5
    baseline_warmup_n: int = 100
    baseline_alpha: float = 0.001
    stuck_window_s: float | None = 900.0
    resolution: float | None = None  # units
    resolution_pct: float | None = 0.1  # % of span
    spike_rate_per_s: float | None = None  # units/s
    spike_rate_pct_per_s: float | None = None  # % of span per s
    noise_ratio: float | None = 5.0
    drift_off_delay_s: float = 300.0  # ISA-18.2 off-delay: a meandering plume does not chatter

    def merged(self, overrides: dict[str, Any]) -> TrendDefaults:
        """These settings with every entry of `overrides` applied, None included (off)."""
        changes = dict(overrides)
        for name in overrides:
            if name in _PARTNER and _PARTNER[name] not in overrides:
                changes[_PARTNER[name]] = None
        return replace(self, **changes)

    def resolve(self, span: float) -> Trend:
        """The sensor's Trend: shares of the span turned into engineering units."""

        def pick(absolute: float | None, pct: float | None) -> float | None:
            return absolute if pct is None else pct * span / 100.0

        return Trend(
            rate_limit_per_min=pick(self.rate_limit_per_min, self.rate_limit_pct_per_min),
            rate_window_s=self.rate_window_s,
            horizon_s=self.horizon_s,
            drift_h_sigma=self.drift_h_sigma,
            drift_k_sigma=self.drift_k_sigma,
            baseline_warmup_n=self.baseline_warmup_n,
            baseline_alpha=self.baseline_alpha,
            stuck_window_s=self.stuck_window_s,
            resolution=pick(self.resolution, self.resolution_pct) or 0.0,
            spike_rate_per_s=pick(self.spike_rate_per_s, self.spike_rate_pct_per_s),
            noise_ratio=self.noise_ratio,
            drift_off_delay_s=self.drift_off_delay_s,
        )


@dataclass(frozen=True, slots=True)
class KindDefaults:
    """Settings a sensor of one kind gets when its config does not say otherwise."""

    deadband_pct: float  # of the instrument span
    on_delay_s: float
    off_delay_s: float
    period_s: float  # expected reporting period
    stale_periods: float  # silent this many periods -> communication loss
    latch: bool
    trend: TrendDefaults = TrendDefaults()

    def merged(self, overrides: dict[str, Any]) -> KindDefaults:
        """These defaults with the non-None entries of `overrides` applied.

        `overrides["trend"]`, a mapping of explicitly given trend settings (None: off),
        is merged into `trend` field by field.
        """
        plain = {k: v for k, v in overrides.items() if v is not None and k != "trend"}
        trend = self.trend.merged(overrides.get("trend") or {})
        return replace(self, **plain, trend=trend)


PERIOD_S = 10.0  # [mem, product default] process readings every 1-10 s
STALE_PERIODS = 3.0  # [mem, product default] silent 3 periods -> stale


def _process(deadband_pct: float, delay_s: float) -> KindDefaults:
    return KindDefaults(deadband_pct, delay_s, delay_s, PERIOD_S, STALE_PERIODS, latch=False)


# [product defaults] for the early-warning and signal-fault checks; all configurable. Common:
# slope over 300 s (temperature 1800 s), time-to-limit horizon 1800 s, CUSUM drift 8 sigma
# with slack 0.5 sigma, stuck after 900 s without a change beyond the resolution (0.1 % of
# span), noise at 5 times the usual spread. Level and flow move by operation and an outdoor
# tank's temperature and pressure follow the weather (a daily swing of a few degrees is no
# drift, but a one-rate baseline cannot tell them apart), so drift is off for them; flow has
# no time-to-limit either (it steps when a pump starts); a real gas leak can jump and its
# limits already do the work, so gas has no rate, horizon or spike check.
_NO_DRIFT = {"drift_h_sigma": None}
TREND_BUILTIN: dict[Kind, TrendDefaults] = {
    # Spike rates: faster than a tank's liquid temperature or a vessel's pressure can move,
    # even in a fire (minutes per degree, not seconds), yet well above the noise; a jump
    # beyond it is a SPIKE, or a STEP of the instrument when the next reading stays there.
    # A tank's liquid temperature follows the weather by at most a degree or two an hour
    # (the simulated normal days: 1.7 degC/h at most, slopes over 30 min). 3 degC/h held for
    # half an hour is a heat source (a coil stuck open, a fire, a reaction): RATE. A 30-min
    # window sees a slow rise through the noise a 5-min one cannot tell from it.
    Kind.TEMPERATURE: TrendDefaults(
        rate_limit_per_min=0.05, rate_window_s=1800.0, spike_rate_pct_per_s=0.5
    ).merged(_NO_DRIFT),
    Kind.PRESSURE: TrendDefaults(rate_limit_pct_per_min=5.0, spike_rate_pct_per_s=1.0).merged(
        _NO_DRIFT
    ),
    # A tank's rated fill rate (the unit's max_fill_rate_m_per_h) takes the place of 2 %.
    Kind.LEVEL: TrendDefaults(rate_limit_pct_per_min=2.0, spike_rate_pct_per_s=1.0).merged(
        _NO_DRIFT
    ),
    # Flow follows pumps and valves: a pump start is a step to its duty, not a trend to HH;
    # and its noise with them (a stopped pump's meter reads a flat zero, a running one's the
    # turbulence), so its own noise level says little of the next minute's: no NOISY.
    Kind.FLOW: TrendDefaults(horizon_s=None, noise_ratio=None).merged(_NO_DRIFT),
    # CUSUM slack of 1 sigma, not 0.5: with 8 sigma it runs ~4e7 quiet samples between false
    # DRIFTs instead of ~2e4 (a detector reporting every 10 s: 2 days), and still flags a
    # sustained shift of 2 sigma within ~8 readings. Gas drift is the early sign of a small leak.
    Kind.GAS_COMBUSTIBLE: TrendDefaults(horizon_s=None, drift_k_sigma=1.0),
    Kind.GAS_TOXIC: TrendDefaults(horizon_s=None, drift_k_sigma=1.0),
    # A generic sensor (a wide CSV's column) is judged by its own spread: the slack of 1 sigma
    # keeps plain noise from raising DRIFT (with 0.5 sigma, about once in 3,000 samples).
    Kind.GENERIC: TrendDefaults(drift_k_sigma=1.0),
}
# Level rate limit from the tank's rated fill rate: that rate plus 20 %, per minute.
FILL_RATE_MARGIN = 1.2
# [product defaults] A gas detector's zero wanders (about +-1 %LEL over days) and blips: DRIFT
# adds up only a deviation from its learned baseline beyond this share of its first level
# (10 %: 2.5 %LEL at 25 %LEL), sustained over several samples. Clean air reads a flat zero
# (detectors suppress readings below a few %LEL): a detector still at or below this share of
# its first level (20 %: 5 %LEL) is never STUCK.
GAS_DRIFT_FLOOR_OF_LEVEL1 = 0.1
GAS_ZERO_BAND_OF_LEVEL1 = 0.2

# [mem] ISA-18.2 starting points; gas: no on-delay beyond the detector's own (a real leak must
# not wait), 2 % deadband [product default], and the alarm latches until a person resets it.
_GAS = KindDefaults(2.0, 0.0, 0.0, PERIOD_S, STALE_PERIODS, latch=True)
BUILTIN: dict[Kind, KindDefaults] = {
    kind: replace(d, trend=TREND_BUILTIN[kind])
    for kind, d in {
        Kind.FLOW: _process(5.0, 15.0),
        Kind.LEVEL: _process(5.0, 60.0),
        Kind.PRESSURE: _process(2.0, 15.0),
        Kind.TEMPERATURE: _process(1.0, 60.0),
        Kind.GAS_COMBUSTIBLE: _GAS,
        Kind.GAS_TOXIC: _GAS,
        Kind.GENERIC: _process(1.0, 0.0),
    }.items()
}


def builtin(kind: Kind) -> KindDefaults:
    """The built-in defaults of one kind."""
    return BUILTIN[kind]


# [src] GB/T 50493-2019: combustible first level <= 25 %LEL, second level <= 50 %LEL; used as the
# default set points as well.
COMBUSTIBLE_LEVEL1_MAX_LEL_PCT = 25.0
COMBUSTIBLE_LEVEL2_MAX_LEL_PCT = 50.0

# [src] GB/T 50493-2019: toxic first level <= 100 % OEL, second <= 200 % OEL (the defaults too);
# where the detector's range cannot reach those, first <= 5 % IDLH and second <= 10 % IDLH.
TOXIC_LEVEL1_MAX_OEL_FRACTION = 1.0
TOXIC_LEVEL2_MAX_OEL_FRACTION = 2.0
TOXIC_LEVEL1_MAX_IDLH_FRACTION = 0.05
TOXIC_LEVEL2_MAX_IDLH_FRACTION = 0.10

GAS_STANDARD = "GB/T 50493-2019"
