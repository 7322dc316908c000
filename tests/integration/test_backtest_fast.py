"""The back-test's fast path gives the transitions of the 1-s-slice path, exactly.

Fast: the store read in columns (storage.read_columns), slices cut from the sorted read
(replay_slices.sorted_slices), the tick only where a timer falls due (replay's
`lazy_tick`). Slow: the CSV replay's path (the store's `readings` sensor by sensor, the
Slicer, a tick at every slice end). Both on one stored recording that exercises on- and
off-delays, deadbands, a latched gas alarm, chattering with its auto-shelve and the
shelve's expiry, a transfer plan expiring inside a gap of the data, irregular and
fractional timestamps, and (with comm_loss) silence.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hazardwatch.shell.backtest import run_once, stored_chunks
from hazardwatch.shell.replay import ReplaySummary, alarm_line, drive
from hazardwatch.shell.replay_plans import load_plans
from hazardwatch.storage import BlockStore
from hazardwatch.storage.columns import by_sensor
from hazardwatch.vocabulary.config import parse_site
from hazardwatch.vocabulary.model import Batch, SensorTable, Site
from tests.e2e.harness import E2E_SITE

T0 = 1_763_800_000.0
SECONDS = 1800
CHATTER = "notifications:\n  chatter: {count: 3, window_s: 60, auto_shelve_s: 120}\n"


def _site(shelve: bool = True) -> Site:
    """The e2e park, its combustible gas detector latching, chattering auto-shelved (or
    not: then the fast path also takes several slices' changes in one alarm pass)."""
    gas = 'unit: "%LEL", range: [0, 100]}'
    assert gas in E2E_SITE
    text = E2E_SITE.replace(gas, gas[:-1] + ", latch: true}")
    return parse_site(text + (CHATTER if shelve else ""), "e2e.yaml")


def _recording(table: SensorTable) -> Batch:
    """Half an hour of the e2e park, in arrival (time) order."""
    rng = np.random.default_rng(11)
    parts: list[tuple[str, np.ndarray, np.ndarray]] = []
    t = np.arange(SECONDS, dtype=np.float64)
    # Through H (17 m) and HH (18 m) and back, twice, noisy: chattering at each crossing.
    level = 16.9 + 1.3 * np.sin(2 * np.pi * t / 900.0) + rng.normal(0, 0.08, t.size)
    parts.append(("e1-T1-LT", t, level))
    # A temperature over H (45 degC) for 8 s in every 20 s, from 600 s to 900 s: chattering.
    wave = np.interp(t % 20.0, [0, 5, 8, 16, 19, 20], [43.5, 43.5, 47, 47, 43.5, 43.5])
    parts.append(("e1-T1-TT", t + 0.75, np.where((t >= 600) & (t < 900), wave, 40.0)))
    # A fill past its plan's 12.5 m, silent from 550 s to 590 s (the plan expires at 561 s).
    fill = np.minimum(12.0 + 0.01 * np.maximum(t - 400.0, 0.0), 13.5)
    keep = (t < 550) | (t >= 590)
    parts.append(("e1-T2-LT", t[keep] + 0.5, fill[keep]))
    # Gas puffs: one past level 1 only, one past level 2 (latched).
    gas = np.abs(rng.normal(2.0, 0.5, t.size))
    gas[300:360] = 30.0
    gas[900:960] = 60.0
    parts.append(("e1-T1-GT", t + 0.25, gas))
    # Pressure every 5 s, fractional times: past H for longer than its on-delay, back under.
    tp = np.arange(0.0, SECONDS, 5.0) + 0.37
    pressure = 1.5 + 0.3 * np.exp(-(((tp - 800.0) / 200.0) ** 2))
    parts.append(("e1-S1-PT", tp, pressure))
    # A toxic gas detector at irregular times, silent for ten minutes in the middle.
    ta = np.sort(rng.uniform(0, SECONDS, 400))
    ta = ta[(ta < 700) | (ta > 1300)]
    parts.append(("e1-S1-AT", ta, np.abs(rng.normal(3.0, 1.0, ta.size))))
    sensor = np.concatenate([np.full(ts.size, table.tag_index[tag]) for tag, ts, _ in parts])
    ts = T0 + np.concatenate([p[1] for p in parts])
    value = np.concatenate([p[2] for p in parts])
    order = np.argsort(ts, kind="stable")
    return Batch.of(sensor[order], ts[order], value[order])


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Site, BlockStore, Path]]:
    """The recording in a BlockStore (mostly compacted blocks, the rest in its logs) and a
    plans file: e1-T2-LT's fill planned to 12.5 m, expiring inside its gap; e1-T1-LT's
    planned to 16 m at 1000.5 s (its level is past it), expiring at 1100 s."""
    folder = tmp_path_factory.mktemp("bt-fast")
    site = _site()
    rec = _recording(SensorTable.from_site(site))
    store = BlockStore(folder / "readings", log_rows=5000, background=False)
    for a in range(0, len(rec), 700):
        store.write(Batch.of(*(c[a : a + 700] for c in (rec.sensor, rec.ts, rec.value))))
        if a == 9800:
            store.compact()
    plans = folder / "plans.jsonl"
    plans.write_text(
        json.dumps({"tag": "e1-T2-LT", "target": 12.5, "direction": "fill", "ts": T0 + 1,
                    "expires_in_s": 560}) + "\n"
        + json.dumps({"tag": "e1-T1-LT", "target": 16.0, "direction": "fill",
                      "ts": T0 + 1000.5, "expires_in_s": 99.5}) + "\n"
    )  # fmt: skip
    yield site, store, plans
    store.close()


def _transitions(
    site: Site, store: BlockStore, plans: Path, tmp: Path, *, fast: bool, comm_loss: bool
) -> list[dict]:
    table = SensorTable.from_site(site)
    sensors = np.arange(table.n)
    read = None if fast else by_sensor
    chunks = stored_chunks(store, sensors, T0, T0 + SECONDS, window_s=311.0,
                           **({} if read is None else {"read": read}))  # fmt: skip
    events: list = []
    tmp.mkdir()
    drive(
        site, chunks, events.extend, ReplaySummary("store", "", ""), data_dir=tmp,
        plans=load_plans(plans, table), comm_loss=comm_loss, presorted=fast, lazy_tick=fast,
    )  # fmt: skip
    return [alarm_line(e) for e in events]


@pytest.mark.parametrize("shelve", [True, False])
@pytest.mark.parametrize("comm_loss", [False, True])
def test_the_fast_path_gives_the_transitions_of_the_one_second_slices(
    stored: tuple[Site, BlockStore, Path], tmp_path: Path, comm_loss: bool, shelve: bool
) -> None:
    _, store, plans = stored
    site = _site(shelve)
    slow = _transitions(site, store, plans, tmp_path / "slow", fast=False, comm_loss=comm_loss)
    fast = _transitions(site, store, plans, tmp_path / "fast", fast=True, comm_loss=comm_loss)
    assert fast == slow
    # The recording does exercise what it should.
    seen = Counter((x["tag"], x["condition"], x["event"], x["to_state"]) for x in slow)
    tt, lt = "e1-T1-TT", "e1-T1-LT"
    assert seen[tt, "h", "activate", "active_unack"] >= 10  # chattering ...
    if shelve:
        assert seen[tt, "h", "shelve", "active_unack"] >= 1  # ... auto-shelved ...
        assert sum(seen[tt, "h", "unshelve", s] for s in ("active_unack", "cleared_unack")) >= 1
    assert seen[lt, "hh", "activate", "active_unack"] == 2  # on/off delays, deadband
    assert seen[lt, "hh", "clear", "cleared_unack"] == 2
    assert seen["e1-T1-GT", "gas2", "clear", "latched_unack"] >= 1  # latched
    assert seen["e1-S1-PT", "h", "activate", "active_unack"] == 1  # every 5 s, off-second
    assert seen["e1-T2-LT", "overrun", "activate", "active_unack"] == 1
    clear = [
        (x["tag"], x["ts"]) for x in slow if x["condition"] == "overrun" and x["event"] == "clear"
    ]
    assert clear == [("e1-T2-LT", T0 + 561), ("e1-T1-LT", T0 + 1100)]  # the plans expired
    comm = sum(n for k, n in seen.items() if k[1] == "comm_loss")
    assert (comm > 0) == comm_loss


def test_a_fast_backtest_run_equals_the_slow_one(
    stored: tuple[Site, BlockStore, Path],
) -> None:
    site, store, _ = stored
    sensors = np.arange(SensorTable.from_site(site).n)
    runs = []
    for fast in (False, True):
        events: list = []
        figures, readings = run_once(site, store, sensors, T0, T0 + 1500.5, events=events,
                                     fast=fast)  # fmt: skip
        runs.append((figures, readings, [alarm_line(e) for e in events]))
    assert runs[0] == runs[1]
    assert runs[0][1] > 5000 and len(runs[0][2]) > 20


def test_a_plan_made_in_a_quiet_stretch_expires_on_time_on_the_fast_path(
    tmp_path: Path,
) -> None:
    """Nothing else happens: the earliest due time the fast path holds must be asked again
    once the plan is made, or its expiry is missed."""
    site = _site()
    table = SensorTable.from_site(site)
    t = np.arange(400, dtype=np.float64)
    store = BlockStore(tmp_path / "readings", background=False)
    lt = table.tag_index["e1-T2-LT"]
    store.write(Batch.of(np.full(t.size, lt), T0 + t, 13.0 + 0.05 * np.sin(t / 30.0)))
    plans = tmp_path / "plans.jsonl"
    plans.write_text(
        json.dumps({"tag": "e1-T2-LT", "target": 12.0, "direction": "fill", "ts": T0 + 200.5,
                    "expires_in_s": 50}) + "\n"
    )  # fmt: skip
    try:
        runs = [
            _transitions(site, store, plans, tmp_path / str(fast), fast=fast, comm_loss=False)
            for fast in (False, True)
        ]
    finally:
        store.close()
    assert runs[1] == runs[0]
    overrun = [(x["ts"], x["event"]) for x in runs[0] if x["condition"] == "overrun"]
    assert overrun == [(T0 + 200.5, "activate"), (T0 + 251, "clear")]
