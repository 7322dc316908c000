"""Back-test over a real BlockStore: its counts equal a replay done by hand on the same rows
(the CSV replay of the same readings, counted with a plain loop), for the current and for
the candidate settings."""

from __future__ import annotations

import contextlib
import csv
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from hazardwatch.shell.backtest import (
    CHATTER_COUNT,
    CHATTER_WINDOW_S,
    BacktestError,
    backtest,
    stored_chunks,
)
from hazardwatch.shell.replay import replay
from hazardwatch.storage import BlockStore
from hazardwatch.storage.limits import LimitBook
from hazardwatch.vocabulary.model import Batch, SensorTable, Site
from tests.unit.test_limits import CONFIG

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
HOURS = 2
CHANGES = {"T1-LT": {"limits": {"hh": 9.5}, "deadband": 0.3}, "T1-GT": {"limits": {"level1": 25}}}


def _readings() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two hours at 1 Hz of a level cycling through H and HH with noise, and a gas detector
    with a few puffs past its first level."""
    rng = np.random.default_rng(7)
    t = T0 + np.arange(HOURS * 3600, dtype=np.float64)
    level = 8.0 + 1.6 * np.sin(2 * np.pi * (t - T0) / 900.0) + rng.normal(0, 0.08, t.size)
    gas = np.abs(rng.normal(2.0, 1.0, t.size))
    for start in (1000, 3000, 5000, 6500):
        gas[start : start + 120] += 26.0 + 2.0 * np.sin(np.arange(120) / 7.0)
    sensor = np.repeat([0, 1], t.size)
    return sensor, np.concatenate([t, t]), np.concatenate([level, gas])


@contextlib.contextmanager
def stored_park(tmp_path: Path) -> Iterator[tuple[LimitBook, BlockStore, Path]]:
    """The limits book, a BlockStore holding `_readings` and the same rows as a CSV."""
    config = tmp_path / "park.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    sensor, ts, value = _readings()
    store = BlockStore(tmp_path / "readings", log_rows=4000, background=False)
    order = np.argsort(ts, kind="stable")  # arrival order: time, as live
    for a in range(0, order.size, 1000):
        pick = order[a : a + 1000]
        store.write(Batch.of(sensor[pick], ts[pick], value[pick]))
    store.seal()
    store.compact()  # sensor-major blocks, as the service's store holds them
    csv_path = tmp_path / "same_rows.csv"
    tags = ("T1-LT", "T1-GT")
    with csv_path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ts", "tag", "value"])
        for i in order.tolist():
            w.writerow([repr(float(ts[i])), tags[int(sensor[i])], repr(float(value[i]))])
    with LimitBook(config, tmp_path / "alarms.db") as book:
        yield book, store, csv_path
    store.close()


@pytest.fixture
def park(tmp_path: Path) -> Iterator[tuple[LimitBook, BlockStore, Path]]:
    with stored_park(tmp_path) as found:
        yield found


def _by_hand(site: Site, csv_path: Path, out: Path) -> dict[str, dict[str, Any]]:
    """The CSV replay of the same rows, its alarm lines counted with a plain loop."""
    replay(csv_path, out, site=site)
    figures: dict[str, dict[str, Any]] = {}
    since: dict[tuple[str, str], float] = {}
    raised: dict[tuple[str, str], list[float]] = {}
    for line in out.read_bytes().splitlines():
        e = orjson.loads(line)
        key = (e["tag"], e["condition"])
        f = figures.setdefault(e["tag"], {"alarms": Counter(), "time": 0.0, "chatter": 0})
        if e["event"] == "activate":
            f["alarms"][e["condition"]] += 1
            times = raised.setdefault(key, [])
            times.append(e["ts"])
            if (
                len(times) >= CHATTER_COUNT
                and times[-1] - times[-CHATTER_COUNT] <= CHATTER_WINDOW_S
            ):
                f["chatter"] += 1
            since.setdefault(key, e["ts"])
        elif e["event"] == "clear" and key in since:
            f["time"] += e["ts"] - since.pop(key)
    end = T0 + HOURS * 3600 - 1
    for key, began in since.items():
        figures[key[0]]["time"] += end - began
    return figures


def test_a_backtests_counts_equal_a_replay_by_hand_of_the_same_rows(
    park: tuple[LimitBook, BlockStore, Path], tmp_path: Path
) -> None:
    book, store, csv_path = park
    current, candidate = book.site(), book.candidate(CHANGES)
    end = T0 + HOURS * 3600 - 1
    report = backtest(current, candidate, store, T0, end, changes=CHANGES)
    assert report.readings == 2 * HOURS * 3600
    for run, site, name in ((report.current, current, "now"), (report.candidate, candidate, "c")):
        hand = _by_hand(site, csv_path, tmp_path / f"{name}.jsonl")
        assert set(run) == set(hand)
        for tag, f in run.items():
            assert f.alarms == dict(hand[tag]["alarms"]), (name, tag)
            assert f.time_in_alarm_s == pytest.approx(hand[tag]["time"]), (name, tag)
            assert f.chattering == hand[tag]["chatter"], (name, tag)
    now, cand = report.current["T1-LT"], report.candidate["T1-LT"]
    assert now.alarms["hh"] > 0 and cand.alarms.get("hh", 0) < now.alarms["hh"]
    assert now.chattering > cand.chattering  # the wider deadband
    assert report.current["T1-GT"].alarms["gas1"] >= 4  # four puffs
    diff = report.diff()
    assert diff["T1-LT"]["alarms"]["hh"] == cand.alarms.get("hh", 0) - now.alarms["hh"]


def test_store_windows_meet_without_overlap(park: tuple[LimitBook, BlockStore, Path]) -> None:
    _, store, _ = park
    chunks = list(stored_chunks(store, np.array([0, 1]), T0, T0 + 999, window_s=97.0))
    ts = np.concatenate([c.ts for c in chunks])
    assert ts.size == 2000 and np.all(np.diff(ts) >= 0)


def test_unknown_tag_is_refused(park: tuple[LimitBook, BlockStore, Path]) -> None:
    book, store, _ = park
    with pytest.raises(BacktestError, match="NOPE"):
        backtest(book.site(), book.site(), store, T0, T0 + 10, tags=["NOPE"])
    assert SensorTable.from_site(book.site()).n == 2
