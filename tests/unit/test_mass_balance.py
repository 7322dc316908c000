"""MASS_BALANCE: a tank's level change against its flow meters, on series with a known answer."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from detectors import Detector, checkpoint
from detectors.mass_balance import MassBalance
from hazardwatch.vocabulary.config import ConfigError, load_site, parse_site
from hazardwatch.vocabulary.model import Balance, Batch, Condition, Kind, Limits, SensorTable
from tests.factories import enterprise, hazard_source, sensor, site, unit

T0 = 1_781_000_000.0
DT = 5.0
AREA_M2 = 100.0  # a vertical tank of 1,000 m³ and 10 m: 100 m² of surface
MB = Condition.MASS_BALANCE
ST = Condition.STUCK
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "park.yaml"


def _table(balance: Balance | None, substance: str = "diesel") -> SensorTable:
    sensors = (
        sensor("T1-LT", Kind.LEVEL, lo=0.0, hi=10.0, limits=Limits()),
        sensor("T1-FI", Kind.FLOW, lo=0.0, hi=800.0, limits=Limits()),
        sensor("T1-FO", Kind.FLOW, lo=0.0, hi=800.0, limits=Limits()),
    )
    u = unit("T1", *sensors, substance=substance, capacity_m3=1000.0, type="vertical")
    u = dataclasses.replace(u, balance=balance)
    return SensorTable.from_site(site(enterprise("e1", hazard_source("hs1", u))))


def _run(
    table: SensorTable,
    level_m: np.ndarray,
    inflow_m3h: np.ndarray,
    outflow_m3h: np.ndarray,
    det: Detector | None = None,
    watch: Condition = MB,
) -> tuple[Detector, list[tuple[float, bool]]]:
    """Feed one reading of each sensor every DT; the level's `watch` changes as (ts,
    active); any on another sensor fails."""
    det = Detector(table, T0) if det is None else det
    seen = []
    for k in range(level_m.size):
        ts = T0 + DT * k
        batch = Batch.of([0, 1, 2], [ts] * 3, [level_m[k], inflow_m3h[k], outflow_m3h[k]])
        changes = [c for c in det.step(batch) if c.condition is watch]
        assert all(c.sensor == 0 for c in changes), changes
        seen += [(c.ts, c.active) for c in changes]
    return det, seen


def _fill(n: int, rate_m3h: float, start_m: float = 2.0) -> np.ndarray:
    """The level of the tank filled at `rate_m3h` from `start_m` (m, one value per DT)."""
    return start_m + np.arange(n) * DT * rate_m3h / 3600.0 / AREA_M2


def test_a_fill_that_the_level_follows_raises_nothing_despite_gauge_noise() -> None:
    n = 1440  # two hours
    rng = np.random.default_rng(1)
    level = _fill(n, 360.0) + rng.normal(0.0, 0.01, n)  # 1 cm of noise
    flow = 360.0 + rng.normal(0.0, 3.0, n)
    _, seen = _run(_table(Balance(inflow=("T1-FI",), outflow=("T1-FO",))), level, flow, 0 * flow)
    assert seen == []


@pytest.mark.parametrize("dense_from", [0.0, 2.0], ids=["dense", "sparse"])
def test_a_gauge_stuck_during_a_fill_is_stuck_and_no_imbalance(dense_from: float) -> None:
    """The meters moved the level hundreds of counts, the gauge not one: the imbalance is the
    gauge's. STUCK on the level sensor, sooner than its own trend alone says (900 s); no
    MASS_BALANCE (a frozen gauge is an instrument fault, not a process upset)."""
    n = 1440
    level = _fill(n, 360.0)
    stuck_at = 360  # 30 min in, the gauge freezes while the pump runs on
    level[stuck_at:] = level[stuck_at]
    flow = np.full(n, 360.0)
    table = _table(Balance(inflow=("T1-FI",)))
    _, seen = _run(table, level, flow, 0 * flow, Detector(table, T0, dense_from=dense_from))
    assert seen == []
    _, stuck = _run(table, level, flow, 0 * flow, Detector(table, T0, dense_from=dense_from), ST)
    assert stuck and stuck[0][1] is True
    # 360 m³/h is 6 m³/min: past the ~1 m³ tolerance within a slot, then the on-delay.
    took = stuck[0][0] - (T0 + DT * stuck_at)
    assert 200.0 <= took <= 800.0


def test_a_gauge_frozen_at_rest_behind_report_by_exception_is_stuck_once_a_fill_starts() -> None:
    """A gauge moves through a fill, then rests, its report-by-exception gateway sending a
    heartbeat every 300 s (now and then a count higher: the gauge is alive). It freezes at
    rest, where nothing on its readings says so; half an hour later a fill starts: the
    meters say the tank fills, the heartbeats say it does not. Before: MASS_BALANCE (a
    process alarm) and never STUCK."""
    table = _table(Balance(inflow=("T1-FI",)))
    det = Detector(table, T0)
    beat, fill_m3h = int(300.0 / DT), 360.0
    filling = _fill(1440, fill_m3h)  # two hours of fill, the gauge following (5 mm steps)
    rest = filling[-1]
    rest_until, frozen_until = 1440 + 720, 1440 + 720 + 360  # an hour alive, 30 min frozen
    stuck, imbalance = [], []
    for k in range(frozen_until + 1440):  # then two hours of fill, the gauge frozen
        ts = T0 + DT * k
        q = fill_m3h if k < 1440 or k >= frozen_until else 0.0
        batch = [(1, q), (2, 0.0)]
        if k < 1440:
            batch.append((0, filling[k]))
        elif k % beat == 0:  # a heartbeat: alive, a count up every other one; then frozen
            alive = k < rest_until and (k // beat) % 2 == 1
            batch.append((0, rest + 0.005 * alive))
        idx, values = zip(*batch, strict=True)
        for c in det.step(Batch.of(list(idx), [ts] * len(idx), list(values))):
            if c.sensor == 0 and c.condition is ST:
                stuck.append((c.ts - (T0 + DT * frozen_until), c.active))
            if c.condition is MB:
                imbalance.append(c)
    assert imbalance == []
    assert stuck and stuck[0][1] is True
    # After the fill starts: the balance's slots and on-delay, then the next heartbeat.
    assert 0.0 < stuck[0][0] <= 900.0 + 300.0


def test_a_steady_flow_behind_report_by_exception_holds_between_heartbeats() -> None:
    """A fill at a steady 120 m³/h; the meter's gateway reports by exception, so the meter
    speaks at the start and then only at its heartbeat (every 600 s: its period, stale
    after 1,800 s), while the gauge reports every 5 s. The silent meter's flow held: the
    level follows it, nothing is unbalanced. Before: a silence longer than a slot (225 s)
    credited nothing, and the level rose "unexplained" (an LPG sphere's false MASS_BALANCE
    on a realism draw). Once the pump stops (the meter reports 0 at once), a level that
    goes on rising is unexplained again."""
    sensors = (
        sensor("T1-LT", Kind.LEVEL, lo=0.0, hi=10.0, limits=Limits()),
        sensor("T1-FI", Kind.FLOW, lo=0.0, hi=800.0, limits=Limits(), period_s=600.0),
    )
    u = unit("T1", *sensors, substance="diesel", capacity_m3=1000.0, type="vertical")
    u = dataclasses.replace(u, balance=Balance(inflow=("T1-FI",)))
    table = SensorTable.from_site(site(enterprise("e1", hazard_source("hs1", u))))
    det = Detector(table, T0)
    n, beat, stop = 2880, int(600.0 / DT), 2160  # 4 h; the pump stops at 3 h
    level = _fill(n, 120.0)
    level[stop:] = level[stop] + (level[stop:] - level[stop]) * 0.5  # half the rate, unmetered
    seen = []
    for k in range(n):
        ts = T0 + DT * k
        batch = [(0, level[k])]
        if (k % beat == 0 and k < stop) or k == stop:
            batch.append((1, 120.0 if k < stop else 0.0))
        idx, values = zip(*batch, strict=True)
        changes = det.step(Batch.of(list(idx), [ts] * len(idx), list(values)))
        seen += [(c.ts - T0, c.active) for c in changes if c.condition is MB]
    assert seen and seen[0][1] is True
    assert seen[0][0] > DT * stop  # nothing before the pump stopped


def test_a_noisy_gauge_heard_once_a_slot_is_judged_by_its_noise_not_as_exact() -> None:
    """A tank at rest behind a report-by-exception gateway: its gauge (8 mm of noise) speaks
    at its heartbeat, every 400 s, so each slot's mean is one reading. Before: a slot of one
    reading had no scatter, two noisy readings 1.5 cm apart were an imbalance beyond the
    1 cm gauge error, and MASS_BALANCE was raised on an idle tank (realism draw 727086491)."""
    table = _table(Balance(inflow=("T1-FI",), outflow=("T1-FO",)))
    det = Detector(table, T0)
    rng = np.random.default_rng(7)
    seen = []
    for k in range(0, 6 * 720):  # six hours, a tick every DT
        ts = T0 + DT * k
        if k % 80:
            continue
        level = 6.0 + rng.normal(0.0, 0.008)
        batch = Batch.of([0, 1, 2], [ts] * 3, [level, 0.0, 0.0])
        seen += [c for c in det.step(batch) if c.condition is MB]
    assert seen == []


def test_a_leak_from_an_idle_tank_raises_and_the_meters_reading_nothing_do_not_hide_it() -> None:
    n = 2160  # three hours
    level = np.full(n, 6.0)
    leak_at = 720
    leak_m3h = 12.0  # 12 m³/h out of a shell, no meter sees it
    level[leak_at:] -= np.arange(n - leak_at) * DT * leak_m3h / 3600.0 / AREA_M2
    zero = np.zeros(n)
    _, seen = _run(_table(Balance(inflow=("T1-FI",), outflow=("T1-FO",))), level, zero, zero)
    assert seen and seen[0][1] is True and seen[0][0] > T0 + DT * leak_at
    _, quiet = _run(
        _table(Balance(inflow=("T1-FI",), outflow=("T1-FO",))), np.full(n, 6.0), zero, zero
    )
    assert quiet == []


def test_a_transfer_meter_reads_the_flow_size_either_way() -> None:
    """One meter on a line that fills and empties, reading the size of the flow: an
    emptying that the level follows is balanced; the same with the level still is not."""
    n = 1440
    level = _fill(n, -300.0, start_m=8.0)
    flow = np.full(n, 300.0)
    table = _table(Balance(transfer=("T1-FI",)))
    assert _run(table, level, flow, 0 * flow)[1] == []
    _, seen = _run(table, np.full(n, 8.0), flow, 0 * flow)
    assert seen and seen[0][1] is True


def test_a_stuck_gauge_clears_once_it_follows_again() -> None:
    n = 2880
    level = _fill(n, 360.0)
    level[360:720] = level[360]  # stuck for half an hour, then it jumps back to the truth
    flow = np.full(n, 360.0)
    table = _table(Balance(inflow=("T1-FI",)))
    _, stuck = _run(table, level, flow, 0 * flow, watch=ST)
    assert [a for _, a in stuck] == [True, False]
    assert stuck[1][0] == T0 + DT * 720  # the gauge moved: its stillness is over
    assert _run(table, level, flow, 0 * flow)[1] == []


def test_a_tank_without_balance_or_with_an_unknown_meter_is_not_judged() -> None:
    n = 720
    level, flow = np.full(n, 6.0), np.full(n, 360.0)
    for table in (_table(None), _table(Balance(inflow=("T1-NOPE",)))):
        assert _run(table, level, flow, 0 * flow)[1] == []


def test_a_restored_imbalance_holds_until_judged_and_an_orphan_clears_on_its_next_reading() -> None:
    n = 1440
    table = _table(Balance(inflow=("T1-FI",)))
    det = Detector(table, T0)
    det.restore([(0, MB), (1, MB)])  # on the level (its rule's) and on a meter (an orphan)
    first = det.step(Batch.of([0, 1, 2], [T0] * 3, [2.0, 360.0, 0.0]))
    assert [(c.sensor, c.active) for c in first if c.condition is MB] == [(1, False)]
    assert det.state.active[0] & MB.bit  # held: no window yet to judge it by
    level, flow = _fill(n, 360.0)[1:], np.full(n - 1, 360.0)
    seen = []
    for k in range(level.size):
        ts = T0 + DT * (k + 1)
        batch = Batch.of([0, 1, 2], [ts] * 3, [level[k], flow[k], 0.0])
        seen += [(c.sensor, c.active) for c in det.step(batch) if c.condition is MB]
    assert seen == [(0, False)]  # balanced: cleared by the ordinary rules


def test_the_example_park_balances_its_metered_tanks_against_their_transfer_meters() -> None:
    site = load_site(EXAMPLE)
    units = {u.id: u for e in site.enterprises for h in e.hazard_sources for u in h.units}
    assert units["e02-T202"].balance == Balance(transfer=("e02-T202-FT",))
    assert units["e01-T101"].balance is None  # no flow meter there


def test_balance_block_errors_name_the_file_path_and_fix() -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        "balance: {transfer: [e02-T202-FT]}",
        "balance: {inflow: [e02-T202-TT, e02-T999-FT], outflow: [], window_s: 600}",
    )
    with pytest.raises(ConfigError) as err:
        parse_site(text, "park.yaml")
    where = "park.yaml: enterprises[1].hazard_sources[1].units[1].balance.inflow"
    problems = err.value.problems
    assert any(
        p.startswith(f"{where}[0]:") and "'e02-T202-TT' is a temperature sensor" in p
        for p in problems
    ), problems
    assert any(
        p.startswith(f"{where}[1]:") and "'e02-T999-FT' is not a sensor of unit 'e02-T202'" in p
        for p in problems
    ), problems


def test_balance_settings_reach_the_model() -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        "balance: {transfer: [e02-T202-FT]}",
        "balance: {inflow: [e02-T202-FT], window_s: 600, level_error_m: 0.02}",
    )
    units = {u.id: u for e in parse_site(text, "park.yaml").enterprises
             for h in e.hazard_sources for u in h.units}  # fmt: skip
    assert units["e02-T202"].balance == Balance(
        inflow=("e02-T202-FT",), window_s=600.0, level_error_m=0.02
    )


def test_tanks_judged_together_give_what_each_gives_alone() -> None:
    """Vectorised over tanks: three tanks (stuck, balanced, leaking) in one detector raise
    exactly what each raises in a detector of its own (STUCK, nothing, MASS_BALANCE)."""
    n = 1440
    fill, flow = _fill(n, 360.0), np.full(n, 360.0)
    stuck = np.where(np.arange(n) >= 360, fill[360], fill)
    leak = np.full(n, 6.0) - np.clip(np.arange(n) - 200, 0, None) * DT * 60.0 / 3600 / AREA_M2
    cases = [(stuck, flow), (fill, flow), (leak, 0 * flow)]
    alone = []
    for level, q in cases:
        table = _table(Balance(inflow=("T1-FI",), outflow=("T1-FO",)))
        got = [(c, t, a) for c in (MB, ST) for t, a in _run(table, level, q, 0 * q, watch=c)[1]]
        alone.append(sorted(got, key=lambda x: (x[1], x[0])))
    units = []
    for k in range(3):
        sensors = (
            sensor(f"T{k}-LT", Kind.LEVEL, lo=0.0, hi=10.0, limits=Limits()),
            sensor(f"T{k}-FI", Kind.FLOW, lo=0.0, hi=800.0, limits=Limits()),
            sensor(f"T{k}-FO", Kind.FLOW, lo=0.0, hi=800.0, limits=Limits()),
        )
        u = unit(f"T{k}", *sensors, substance="diesel", capacity_m3=1000.0, type="vertical")
        units.append(dataclasses.replace(u, balance=Balance((f"T{k}-FI",), (f"T{k}-FO",))))
    table = SensorTable.from_site(site(enterprise("e1", hazard_source("hs1", *units))))
    det = Detector(table, T0)
    together: list[list[tuple[float, bool]]] = [[], [], []]
    for i in range(n):
        values = [v for level, q in cases for v in (level[i], q[i], 0.0)]
        for c in det.step(Batch.of(np.arange(9), np.full(9, T0 + DT * i), values)):
            if c.condition in (MB, ST) and c.sensor % 3 == 0:
                together[c.sensor // 3].append((c.condition, c.ts, c.active))
    assert together == alone
    assert alone[0][0][0] is ST and alone[2][0][0] is MB and not alone[1]


@pytest.mark.parametrize("case", ["stuck", "leak"])
def test_a_restart_mid_window_keeps_the_windows_and_judges_as_if_never_stopped(
    case: str, tmp_path: Path
) -> None:
    """Checkpoint mid-window (after the gauge froze, or the leak opened, before the
    balance could say so), restore into a fresh detector, go on: the same changes at the
    same readings as the detector that never stopped. Before: the windows were lost, so
    the restored one judged a window later."""
    n, at = 1440, 420
    if case == "stuck":
        level, flow = _fill(n, 360.0), np.full(n, 360.0)
        level[360:] = level[360]
    else:
        level, flow = np.full(n, 6.0), np.zeros(n)
        level[300:] -= np.arange(n - 300) * DT * 12.0 / 3600.0 / AREA_M2
    table = _table(Balance(inflow=("T1-FI",), outflow=("T1-FO",)))
    zero = 0 * flow
    whole, _ = _run(table, level[:at], flow[:at], zero[:at])
    checkpoint.save(whole, tmp_path / "detector.npz", table.tags)
    active = [(0, c) for c in Condition if whole.state.active[0] & c.bit]
    restored = Detector(table, T0)
    checkpoint.load(restored, tmp_path / "detector.npz", table.tags)
    restored.restore(active)
    got, want = [], []
    for k in range(at, n):
        batch = Batch.of([0, 1, 2], [T0 + DT * k] * 3, [level[k], flow[k], 0.0])
        want += whole.step(batch)
        got += restored.step(batch)
    assert {c.condition for c in want} >= {ST if case == "stuck" else MB}
    assert got == want


def test_a_tank_whose_balance_changed_starts_its_windows_fresh(tmp_path: Path) -> None:
    n = 400
    level, flow = _fill(n, 360.0), np.full(n, 360.0)
    table = _table(Balance(inflow=("T1-FI",)))
    det, _ = _run(table, level, flow, 0 * flow)
    checkpoint.save(det, tmp_path / "detector.npz", table.tags)
    for balance, kept in ((Balance(inflow=("T1-FI",)), True),
                          (Balance(inflow=("T1-FI",), window_s=600.0), False),
                          (Balance(inflow=("T1-FI",), outflow=("T1-FO",)), False)):  # fmt: skip
        fresh = Detector(_table(balance), T0)
        checkpoint.load(fresh, tmp_path / "detector.npz", table.tags)
        (rule,) = [r for r in fresh.rules if isinstance(r, MassBalance)]
        assert bool((~np.isnan(rule.ring)).any()) is kept, balance


def test_a_level_still_at_the_top_while_the_pump_runs_on_is_an_overflow_not_a_stuck_gauge() -> None:
    n = 2160
    level = np.minimum(_fill(n, 360.0, start_m=7.0), 10.0)  # the 10 m tank full after 50 min
    flow = np.full(n, 360.0)
    table = _table(Balance(inflow=("T1-FI",)))
    _, seen = _run(table, level, flow, 0 * flow)
    assert seen and seen[0][1] is True  # MASS_BALANCE: the product goes over the top
