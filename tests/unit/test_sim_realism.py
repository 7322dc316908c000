"""The realism layer: each habit on its own with a known answer, and off means today's readings."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from pathlib import Path

import numpy as np
import pytest

from hazardwatch.vocabulary.config import load_site
from hazardwatch.vocabulary.model import Kind, Limits, Site
from simulators.instruments import Instruments
from simulators.library import load_scenario
from simulators.physics import TankFarm
from simulators.realism import DAY_S, Pace, Readout, Realism, configured, expansion_per_k
from tests.factories import enterprise, hazard_source, sensor, site, unit

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "park.yaml"
START = 1_780_000_000.0

# sha256 (first 32 hex digits) of ts, indices and readings of every tick of the first 1800 s,
# recorded on commit 9e12ed5, before the realism layer existed.
TODAY = {
    "small-leak-one-detector": "5fc6421dba959262d5de05680532ca1f",
    "instrument-faults": "bcf43c457b7ab63e6cfba9932483fc74",
    "busy-transfer-day": "e5f188895b1b777f0a70efd0cb68e522",
}


@pytest.fixture(scope="module")
def park() -> Site:
    return load_site(EXAMPLE)


def one_tank(*, gateways: int = 1) -> Site:
    """Level 0-20 m, temperature -20..80 degC, a %LEL detector, a toxic one (level 1 10 ppm)."""
    sensors = [
        sensor("LT", Kind.LEVEL, hi=20.0, period_s=1.0),
        sensor("TT", Kind.TEMPERATURE, lo=-20.0, hi=80.0, limits=Limits(hh=45.0, h=40.0)),
        sensor("GT", Kind.GAS_COMBUSTIBLE, hi=100.0, limits=Limits(hh=50.0, h=25.0)),
        sensor("AT", Kind.GAS_TOXIC, hi=30.0, limits=Limits(hh=20.0, h=10.0)),
    ]
    units = [unit("T1", *sensors[:2], gateway="gw1"), unit("T2", *sensors[2:], gateway="gw2")]
    if gateways == 1:
        units = [unit("T1", *sensors, gateway="gw1")]
    return site(enterprise("e1", hazard_source("e1-hs1", *units)))


def readings(instruments: Instruments, true: np.ndarray, n: int, dt: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(1)
    return np.array([instruments.read(true, START + k * dt, dt, rng)[0] for k in range(n)])


def instruments(realism: Realism, built: Site | None = None) -> Instruments:
    built = built or one_tank()
    sensors = [s for _, _, _, s in built.iter_sensors()]
    return Instruments(sensors, np.random.default_rng(0), Readout(realism, built))


# ---------------------------------------------------------------------- off: today


@pytest.mark.parametrize("name", sorted(TODAY))
def test_default_realism_reproduces_todays_readings_bit_for_bit(park: Site, name: str) -> None:
    spec = load_scenario(name, park)
    for script in (spec.script(), spec.script(realism=Realism())):
        digest = hashlib.sha256()

        def keep(ts: float, idx: np.ndarray, values: np.ndarray, h=digest) -> None:
            h.update(np.float64(ts).tobytes())
            h.update(idx.astype(np.int64).tobytes())
            h.update(values.tobytes())

        script.run(1800.0, spec.dt_s, keep)
        assert script.farm.readout is None
        assert digest.hexdigest()[:32] == TODAY[name]


def test_a_draw_is_reproducible_switches_everything_on_and_stays_in_its_ranges() -> None:
    draws = [Realism.draw(np.random.default_rng(s)) for s in range(50)]
    assert draws[3] == Realism.draw(np.random.default_rng(3))
    assert len({d.seed for d in draws}) == 50
    for d in draws:
        assert d.active and d.thermal_expansion and d.period_s == (1.0, 10.0)
        assert 2e-4 <= d.noise_span <= 5e-3 and 1e3 <= d.counts <= 1e5
        assert 1.0 <= d.gas_suppress_lel <= 4.0 and 0.3 <= d.gas_drift_lel <= 1.0
        assert 0.0 <= d.rbe_share <= 0.7 and d.rate_factor == (0.3, 3.0)
    assert not Realism().active and not Realism(seed=5).active


# ---------------------------------------------------------------------- instruments


def test_noise_is_the_drawn_share_of_span() -> None:
    inst = instruments(Realism(noise_span=1e-3, spread=1.0, counts=1e5))
    values = readings(inst, np.array([10.0, 30.0, 50.0, 15.0]), 2000)
    # 0.1 % of span; the toxic detector is capped at 5 % of level 1 (0.5 ppm > 0.03: no cap).
    assert values[:, :3].std(axis=0) == pytest.approx([0.02, 0.1, 0.1], rel=0.1)
    assert values[:, 3].std() == pytest.approx(0.03, rel=0.1)


def test_readings_sit_on_the_quantisation_step() -> None:
    inst = instruments(Realism(counts=1000.0, spread=1.0))
    assert inst.resolution == pytest.approx([0.02, 0.1, 0.1, 0.03])
    values = readings(inst, np.array([10.0, 30.0, 50.0, 15.0]), 200)
    steps = values / inst.resolution
    assert np.allclose(steps, np.rint(steps), rtol=0, atol=1e-9)
    assert len(np.unique(values[:, 0])) > 3  # the noise (0.2 % of span) spans a few steps


def test_gas_readings_below_the_suppression_read_zero() -> None:
    inst = instruments(Realism(gas_suppress_lel=3.0, noise_span=2e-4, spread=1.0))
    # GT at 2.0 and 4.0 %LEL; AT (level 1 10 ppm: 3 %LEL-equivalents = 1.2 ppm) at 1.0, 1.5.
    low = readings(inst, np.array([10.0, 30.0, 2.0, 1.0]), 100)
    high = readings(inst, np.array([10.0, 30.0, 4.0, 1.5]), 100)
    assert (low[:, 2:] == 0.0).all()
    assert high[:, 2] == pytest.approx(4.0, abs=0.1) and high[:, 3] == pytest.approx(1.5, abs=0.1)


def test_the_gas_zero_drifts_by_at_most_its_amplitude_over_days() -> None:
    real = Readout(Realism(seed=4, gas_drift_lel=1.0), one_tank())
    days = np.arange(0.0, 14 * DAY_S, 600.0)
    offsets = np.array([real.gas_offset(START + t, 600.0) for t in days])
    gt, at = offsets[:, 2], offsets[:, 3]
    assert np.abs(gt).max() <= 1.0 and np.abs(gt).max() > 0.1
    assert np.abs(at).max() <= 10.0 / 25.0  # 1 %LEL-equivalent of a 10 ppm level 1
    assert (offsets[:, :2] == 0.0).all()  # only gas detectors drift
    assert np.abs(np.diff(gt)).max() < 0.01  # slow: under 0.01 %LEL per 10 minutes


def test_a_gas_blip_is_small_and_lasts_one_or_two_readings() -> None:
    realism = Realism(seed=2, gas_blips_per_day=2000.0, gas_blip_lel=(2.0, 5.0))
    real = Readout(realism, one_tank())
    offsets = np.array([real.gas_offset(START + t, 1.0) for t in range(20_000)])
    gt = offsets[:, 2]
    on = gt > 0
    assert 2.0 <= gt[on].min() and gt.max() <= 5.0
    starts = np.flatnonzero(on[1:] & ~on[:-1]) + 1
    ends = np.flatnonzero(on[:-1] & ~on[1:]) + 1
    lengths = ends - starts[: ends.size]
    assert starts.size > 100 and set(lengths.tolist()) <= {1, 2}


# ---------------------------------------------------------------------- reporting


def sends(real: Readout, values: np.ndarray, dt: float = 1.0) -> np.ndarray:
    """Per tick, which sensors send; `values` is (ticks, sensors)."""
    return np.array([real.report(START + k * dt, v, None) for k, v in enumerate(values)])


def test_report_by_exception_sends_only_moves_past_the_deadband_and_heartbeats() -> None:
    realism = Realism(rbe_share=1.0, deadband_span=(0.01, 0.01), heartbeat_s=(60.0, 60.0))
    real = Readout(realism, one_tank())
    values = np.tile([10.0, 30.0, 0.0, 0.0], (300, 1))
    values[:, 0] += 0.09 * np.sin(np.arange(300) / 7.0)  # inside the level's 0.2 m deadband
    values[150:, 1] = 31.5  # the temperature moves 1.5 degC: past its 1 degC deadband
    sent = sends(real, values)
    for col in (0, 2, 3):
        assert np.flatnonzero(sent[:, col]).tolist() == [0, 60, 120, 180, 240]
    assert np.flatnonzero(sent[:, 1]).tolist() == [0, 60, 120, 150, 210, 270]


def test_a_gateway_not_reporting_by_exception_sends_every_reading() -> None:
    realism = Realism(rbe_share=0.0, period_s=(1.0, 1.0))
    sent = sends(Readout(realism, one_tank()), np.full((50, 4), 5.0))
    assert sent[1:].all()  # each sensor's first poll falls within its first period


def test_reporting_periods_are_jittered_around_each_gateways_period() -> None:
    realism = Realism(seed=3, period_s=(5.0, 5.0), period_jitter=0.2)
    sent = sends(Readout(realism, one_tank()), np.full((3000, 4), 5.0), dt=0.1)
    for col in range(4):
        gaps = np.diff(np.flatnonzero(sent[:, col])) * 0.1
        assert 4.0 - 1e-6 <= gaps.min() and gaps.max() <= 6.1
        assert gaps.mean() == pytest.approx(5.0, abs=0.15) and gaps.std() > 0.3


def test_dropout_stays_silent_whatever_the_reporting() -> None:
    real = Readout(Realism(rbe_share=1.0), one_tank())  # a first reading is always sent
    mask = np.array([True, False, True, True])
    assert real.report(START, np.zeros(4), mask).tolist() == [True, False, True, True]


def test_the_configured_site_expects_each_sensors_longest_silence() -> None:
    built = one_tank(gateways=2)
    realism = Realism(
        seed=0, period_s=(2.0, 2.0), period_jitter=0.5, rbe_share=0.5, heartbeat_s=(90.0, 90.0)
    )
    real = Readout(realism, built)
    assert real.rbe.tolist() in ([True, True, False, False], [False, False, True, True])
    periods = [s.period_s for _, _, _, s in configured(built, realism).iter_sensors()]
    assert periods == np.where(real.rbe, 90.0, 3.0).tolist()
    assert configured(built, Realism()) is built


# ---------------------------------------------------------------------- the plant


def test_operators_rest_at_night_and_vary_their_rates_within_the_range() -> None:
    realism = Realism(rate_factor=(0.3, 3.0), night_s=(22 * 3600.0, 8 * 3600.0), night_share=1.0)
    pace = Pace(realism, 40)
    factors = pace.factors(10_000)
    assert 0.3 <= factors.min() < 0.35 and 2.8 < factors.max() <= 3.0
    assert np.median(factors) == pytest.approx(math.sqrt(0.9), rel=0.05)  # log-uniform
    midnight_local = dt.datetime(2026, 5, 31, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    midnight_local = midnight_local.timestamp()
    assert np.all(pace.at_rest(midnight_local + 23 * 3600.0))
    assert np.all(pace.at_rest(midnight_local + 5 * 3600.0))
    assert pace.at_rest(midnight_local + 12 * 3600.0) is False


def test_a_tank_at_rest_moves_by_its_liquids_expansion(park: Site) -> None:
    farm = TankFarm(park, np.random.default_rng(0), START, realism=Realism(thermal_expansion=True))
    k = farm.unit_index("e01-T101")  # vertical methanol tank: level grows as the volume does
    for u in range(len(farm.units)):
        farm.force_flow(u, 0.0)
    level0, temp0 = float(farm.level_m[k]), float(farm.liquid_temp_c[k])
    for _ in range(24 * 7):
        farm.tick(3600.0)
    dt_c = float(farm.liquid_temp_c[k]) - temp0
    assert abs(dt_c) > 0.01
    beta = expansion_per_k("methanol")
    assert float(farm.level_m[k]) / level0 - 1.0 == pytest.approx(beta * dt_c, rel=1e-6)


def test_a_drawn_park_runs_a_scenario_and_pumps_no_faster_than_rated(park: Site) -> None:
    spec = load_scenario("normal-day-summer", park)  # the operators alone move the product
    realism = Realism.draw(np.random.default_rng(11))
    script = spec.script(realism=realism)
    farm = script.farm
    assert farm.operators.pace is not None
    sent = np.zeros(farm.n_sensors)
    fastest = np.zeros(len(farm.units))

    def keep(ts: float, idx: np.ndarray, values: np.ndarray) -> None:
        sent[idx] += 1
        np.maximum(fastest, np.abs(farm.net_flow_m3_s), out=fastest)

    script.run(3600.0, 1.0, keep)
    assert (sent > 0).all() and (sent < 3600).any()  # periods and exceptions thin the readings
    assert (fastest <= farm.operators.pace.max_m3_s + 1e-12).all()
