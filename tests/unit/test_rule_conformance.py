"""Every round rule of the detector (detectors.rules) keeps the rule protocol.

Discovered from a Detector's own tuple, so a rule added there is covered without an edit
here: it writes only its own conditions' bits, records exactly the bits it flips, leaves
its round untouched, takes NaN and -inf timestamps and restored conditions of any kind.
"""

from __future__ import annotations

import numpy as np
import pytest

from detectors import Detector
from detectors.changes import Changes
from detectors.rule import Round
from hazardwatch.vocabulary.model import (
    Balance,
    Batch,
    Condition,
    Cooling,
    Kind,
    Limits,
    SensorTable,
    Unit,
)
from tests.factories import enterprise, hazard_source, sensor, site

T0 = 1_763_800_000.0
SEEDS = range(12)


def _park() -> SensorTable:
    """Tanks with level, temperature, pressure, flow and gas (two voting areas), a cooled
    sphere, flow-metered tanks and a rig of generic sensors: something for every rule to
    judge."""
    units = []
    for k in range(6):
        sensors = (
            sensor(f"T{k}-LT", Kind.LEVEL, hi=20.0),
            sensor(f"T{k}-TT", Kind.TEMPERATURE, hi=80.0, limits=Limits(hh=60.0, h=50.0)),
            sensor(f"T{k}-PT", Kind.PRESSURE, hi=1000.0, limits=Limits(hh=800.0, h=700.0)),
            sensor(f"T{k}-GT", Kind.GAS_COMBUSTIBLE, substance="methane", area=f"A{k % 2}"),
            sensor(f"T{k}-FS", Kind.FLOW, hi=20.0, limits=Limits()),
        )
        cooling = Cooling(status=f"T{k}-FS", start_above=30.0, delay_s=20.0) if k == 0 else None
        meter = (f"T{k}-FS",)
        balance = [None, Balance(inflow=meter, window_s=80.0, delay_s=0.0),
                   Balance(transfer=meter, window_s=160.0)][k % 3]  # fmt: skip
        units.append(
            Unit(f"T{k}", "tank", "propane", 1000.0, True, "gw1", sensors, None, cooling, balance)
        )
    rig = tuple(
        sensor(f"R-X{j}", Kind.GENERIC, lo=-1e12, hi=1e12, limits=Limits()) for j in range(3)
    )
    units.append(Unit("R", "rig", "unknown", 1.0, False, "gw1", rig))
    built = site(enterprise("e1", hazard_source("hs1", *units)), areas={"A0": 2, "A1": 2})
    return SensorTable.from_site(built)


def _warmed(seed: int) -> Detector:
    """A detector that has seen a few minutes of moving readings, plans open on two tanks."""
    table = _park()
    det = Detector(table, T0)
    rng = np.random.default_rng(seed)
    n = table.n
    det.plan(0, 10.0, 1, None, T0)
    det.plan(5, 12.0, 1, 0.1, T0)
    base = rng.uniform(0.2, 0.8, n) * (table.range_hi - table.range_lo)
    gas = table.kind == Kind.GAS_COMBUSTIBLE
    base[gas] = rng.uniform(0.0, 10.0, int(gas.sum()))  # clean air
    generic = table.kind == Kind.GENERIC
    base[generic] = 0.0
    for k in range(250):  # past the rig group's warm-up (detectors.multivariate)
        value = base + rng.normal(0, 1.0, n) * min(k, 60) * 0.05 * rng.uniform(0, 1, n)
        value[generic] = rng.normal(0, 1.0, int(generic.sum())) * (1 + 4 * (k > 240))
        det.step(Batch.of(np.arange(n), np.full(n, T0 + 5.0 * k), value))
    return det


def _round(det: Detector, rng: np.random.Generator, dense: bool) -> Round:
    n = det.params.n
    t_end = float(det.state.last_ts.max()) + 5.0
    if dense:
        sensors = np.arange(n)
        ts = np.where(rng.random(n) < 0.8, t_end + rng.uniform(0, 2, n), np.nan)
    else:
        sensors = np.sort(rng.choice(n, size=int(rng.integers(1, n)), replace=False))
        ts = t_end + rng.uniform(0, 2, sensors.size)
    applied = ~np.isnan(ts)
    measured = applied.copy()
    usable: np.ndarray | bool = True  # (the detector says True only if every one is)
    if dense or rng.random() < 0.5:
        applied &= rng.random(sensors.size) < 0.95  # some out of order
        measured = applied & (rng.random(sensors.size) < 0.9)
        usable = measured & (rng.random(sensors.size) < 0.8)
    is_gas = det.params.is_gas[sensors] != 0
    gas_moved = np.flatnonzero(is_gas & ~np.isnan(ts) & (rng.random(sensors.size) < 0.5))
    values = rng.normal(0.0, 10.0, sensors.size)
    number = int(rng.integers(0, 3))
    ahead = rng.random(sensors.size) < 0.1 if rng.random() < 0.5 else None
    return Round(
        sensors=sensors,
        ts=ts,
        values=values,
        applied=applied,
        usable=usable,
        measured=measured,
        gas_moved=gas_moved,
        number=number,
        dense=dense,
        ahead=ahead,
    )


def _own_bits(conditions: frozenset[Condition]) -> int:
    return sum(c.bit for c in conditions)


def test_the_rules_own_disjoint_conditions() -> None:
    rules = Detector(_park(), T0).rules
    assert rules, "a detector without round rules"
    seen: set[Condition] = set()
    for rule in rules:
        assert rule.conditions and all(isinstance(c, Condition) for c in rule.conditions)
        assert not seen & rule.conditions, (rule, seen & rule.conditions)
        seen |= rule.conditions


@pytest.mark.parametrize("dense", [True, False], ids=["dense", "sparse"])
@pytest.mark.parametrize("seed", SEEDS)
def test_a_rule_writes_and_records_only_its_own_flips(seed: int, dense: bool) -> None:
    det = _warmed(seed)
    rng = np.random.default_rng(1000 + seed)
    st = det.state
    # Some of every condition held, as after a restart, so that rules have something to end.
    held = rng.random((det.params.n, len(Condition))) < 0.05
    for i, c in zip(*np.nonzero(held), strict=True):
        det.restore([(int(i), Condition(int(c)))])
    det.restore([(int(a), Condition.AREA_GAS) for a in det.params.area_anchor])
    for rule in det.rules:
        rnd = _round(det, rng, dense)
        arrays = (rnd.sensors, rnd.ts, rnd.values, rnd.applied, rnd.measured, rnd.gas_moved)
        arrays += () if rnd.ahead is None else (rnd.ahead,)
        frozen = [np.array(a, copy=True) for a in arrays]
        usable = rnd.usable if rnd.usable is True else rnd.usable.copy()
        before = st.active.copy()
        out = Changes()
        rule.judge(st, rnd, out)
        flipped = before ^ st.active
        assert not (flipped & ~np.uint32(_own_bits(rule.conditions))).any(), rule
        recorded = [(c.sensor, c.condition, c.active) for c in out.result()]
        expected = [
            (int(i), c, bool(st.active[i] & c.bit))
            for i in np.flatnonzero(flipped)
            for c in sorted(rule.conditions)
            if flipped[i] & c.bit
        ]
        assert sorted(recorded) == sorted(expected), rule
        for a, b in zip(frozen, arrays, strict=True):
            np.testing.assert_array_equal(a, b)
        assert usable is True if rnd.usable is True else np.array_equal(usable, rnd.usable)


def test_every_rule_hears_of_every_restored_condition() -> None:
    """A rule's restore takes any condition, its own or another's, on any sensor."""
    det = Detector(_park(), T0)
    for rule in det.rules:
        for i in range(det.params.n):
            for c in Condition:
                rule.restore(det.state, i, c)
    n = det.params.n
    det.step(Batch.of(np.arange(n), np.full(n, T0 + 1.0), np.full(n, 1.0)))
