"""`hazardwatch replay`: recorded readings through the live detector and alarm code.

Real files, a real journal; the live path it must equal is `Service.handle_batch` driven
slice by slice, with the service's tick at every slice end, its stale check only when
replay judges silence (`comm_loss`; by default a gap in recorded history is a gap).
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from detectors import Detector
from hazardwatch.shell.cli import app
from hazardwatch.shell.replay import deadletter_path, iso_utc, replay
from hazardwatch.shell.service import Service, Settings
from hazardwatch.vocabulary.clock import FakeClock
from hazardwatch.vocabulary.config import parse_site
from hazardwatch.vocabulary.model import Batch, Site
from tests.e2e.harness import E2E_SITE

T0 = 1_763_800_000.0
LT = "e1-T1-LT"  # level 0-20 m, HH 18, H 17, deadband 1 m, on/off delay 1 s, stale after 15 s


@pytest.fixture
def site() -> Site:
    return parse_site(E2E_SITE, "e2e.yaml")


def _level_excursion(start: float, *, base: float = 16.0, peak: float = 18.5) -> list[float]:
    """Steady, up 0.1 m/s to `peak`, hold, down 0.1 m/s: below the spike rate (0.2 m/s)."""
    up = [round(base + 0.1 * k, 3) for k in range(round((peak - base) / 0.1) + 1)]
    return [base] * 5 + up + [peak] * 10 + up[::-1] + [base] * 5


def _long_csv(path: Path, rows: list[tuple[float, str, Any]]) -> Path:
    path.write_text("ts,tag,value\n" + "".join(f"{t!r},{tag},{v}\n" for t, tag, v in rows))
    return path


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _pick(lines: list[dict[str, Any]], tag: str, condition: str) -> list[tuple[float, str]]:
    return [(x["ts"], x["event"]) for x in lines if x["tag"] == tag and x["condition"] == condition]


# ------------------------------------------------------------------ the command


def test_cli_writes_the_hh_crossing_as_json_lines(site_file: Path, tmp_path: Path) -> None:
    values = _level_excursion(T0)
    csv = _long_csv(tmp_path / "r.csv", [(T0 + i, LT, v) for i, v in enumerate(values)])
    out = tmp_path / "out" / "alarms.jsonl"
    args = ["replay", "--config", str(site_file), "--input", str(csv), "--output", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = _lines(out)
    hh = [x for x in lines if x["tag"] == LT and x["condition"] == "hh"]
    # 18.0 first at T0+25; on-delay 1 s -> active at T0+26. Under 17 (HH minus the deadband)
    # first at T0+57 (16.9) on the way down; off-delay 1 s -> cleared at T0+58.
    assert [(x["ts"], x["time"], x["event"], x["from_state"], x["to_state"]) for x in hh] == [
        (T0 + 26, "2025-11-22T08:27:06.000Z", "activate", "normal", "active_unack"),
        (T0 + 58, "2025-11-22T08:27:38.000Z", "clear", "active_unack", "cleared_unack"),
    ]
    first = hh[0]
    assert first["value"] == 18.1 and first["priority"] == "high"
    assert (first["enterprise"], first["hazard_source"], first["unit"]) == ("e1", "e1-hs1", "e1-T1")
    assert hh[1]["alarm_id"] == first["alarm_id"] and first["eta_ts"] is None
    # The early warning carries its predicted time of crossing, updated as the trend moves.
    predict = [x for x in lines if x["condition"] == "predict_hh" and x["event"] != "clear"]
    assert predict and {"activate", "update"} <= {x["event"] for x in predict}
    for x in predict:
        assert x["eta_ts"] >= x["ts"] and x["eta_time"] == iso_utc(x["eta_ts"])
    assert all(x["eta_ts"] is None for x in lines if not x["condition"].startswith("predict"))
    # Every line has the same flat keys; times are ordered.
    assert {tuple(x) for x in lines} == {tuple(first)}
    assert [x["ts"] for x in lines] == sorted(x["ts"] for x in lines)
    assert "alarm transitions written" in result.output
    assert f"readings {len(values)}: accepted {len(values)}, rejected 0" in result.output


def test_bad_rows_are_counted_dead_lettered_and_never_fatal(
    site_file: Path, tmp_path: Path
) -> None:
    csv = tmp_path / "r.csv"
    csv.write_text(
        "ts,tag,value,quality\n"
        f"{T0},{LT},10\n"
        f"{T0 + 1},{LT},nan\n"
        f"{T0 + 2},nope,10\n"
        f"{T0 + 3},{LT},10,broken\n"
        f"2025-11-22 08:26:44,{LT},10\n"
        f"{T0 + 5},{LT},ten\n"
        f"{T0 + 6},{LT},10\n"
        f"{T0 + 6},{LT},11\n"  # same tag and ts: the first is kept
    )
    out = tmp_path / "alarms.jsonl"
    args = ["replay", "--config", str(site_file), "--input", str(csv), "--output", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    for expected in (
        "rows read 8; readings 8: accepted 2, rejected 6",
        "not_finite: 1",
        "unknown_tag: 1",
        "bad_quality: 1",
        "bad_timestamp: 1",
        "wrong_type: 1",
        "duplicate: 1",
    ):
        assert expected in result.output
    dead = [json.loads(x) for x in deadletter_path(out).read_text().splitlines()]
    assert sorted((d["row"], d["reason"]) for d in dead) == [
        (2, "not_finite"),
        (3, "unknown_tag"),
        (4, "bad_quality"),
        (5, "bad_timestamp"),
        (6, "wrong_type"),
        (8, "duplicate"),
    ]
    assert {d["topic"] for d in dead} == {str(csv)}
    assert next(d for d in dead if d["row"] == 3)["payload"] == f"{T0 + 2},nope,10"


def test_unusable_input_is_refused_with_exit_code_2(site_file: Path, tmp_path: Path) -> None:
    csv = _long_csv(tmp_path / "r.csv", [(T0, LT, 1.0)])
    out = tmp_path / "alarms.jsonl"
    runner = CliRunner()
    no_config = runner.invoke(app, ["replay", "--input", str(csv), "--output", str(out)])
    assert no_config.exit_code == 2 and "needs --config" in no_config.output
    data = tmp_path / "data"
    first = ["replay", "--config", str(site_file), "--input", str(csv), "--output", str(out)]
    assert runner.invoke(app, [*first, "--data-dir", str(data)]).exit_code == 0
    again = runner.invoke(app, [*first, "--data-dir", str(data)])
    assert again.exit_code == 2 and "already holds an alarm journal" in again.output
    header = tmp_path / "bad.csv"
    header.write_text("when,tag,value\n1,2,3\n")
    bad = runner.invoke(
        app, ["replay", "--config", str(site_file), "--input", str(header), "--output", str(out)]
    )
    assert bad.exit_code == 2 and "must start with a ts column" in bad.output


# ------------------------------------------------------------------ equal to the live path


def _live(
    site: Site, rows: list[tuple[float, str, float]], slice_s: float, data: Path, *, stale: bool
) -> list:
    """`Service.handle_batch` per slice and the service's tick at every slice end, gaps
    included, as the live loop ticks; the stale check in it only if `stale`."""
    by_slice: dict[int, list[tuple[float, str, float]]] = defaultdict(list)
    for row in rows:
        by_slice[math.floor(row[0] / slice_s)].append(row)
    first, last = min(by_slice), max(by_slice)
    clock = FakeClock(first * slice_s)
    # Its clock is the data's: silence is judged at it (stale_idle_s 0, as replay).
    settings = Settings(data_dir=data, judge_silence=stale, stale_idle_s=0.0)
    svc = Service(site, settings, clock=clock)
    events = []
    for k in range(first, last + 1):
        clock.set((k + 1) * slice_s)
        part = sorted(by_slice.get(k, []), key=lambda r: r[0])
        if part:
            batch = Batch.of(
                [svc.table.tag_index[t] for _, t, _ in part],
                [ts for ts, _, _ in part],
                [v for _, _, v in part],
            )
            events += svc.handle_batch(batch)
        events += svc.tick()
    svc.close()
    return [
        (e.ts, e.alarm.id, e.alarm.tag, e.alarm.condition.label, e.event.value,
         e.from_state.value, e.to_state.value,
         None if math.isnan(e.alarm.value) else e.alarm.value, e.alarm.eta_ts)
        for e in events
    ]  # fmt: skip


def _as_tuples(lines: list[dict[str, Any]]) -> list:
    return [
        (x["ts"], x["alarm_id"], x["tag"], x["condition"], x["event"], x["from_state"],
         x["to_state"], x["value"], x["eta_ts"])
        for x in lines
    ]  # fmt: skip


def _park_history(seed: int, slice_s: float) -> list[tuple[float, str, float]]:
    """Every sensor of the E2E park at irregular times, an overfill, a pressure rise, a gap."""
    rng = random.Random(seed)
    tags = [
        "e1-T1-LT", "e1-T1-TT", "e1-T1-GT", "e1-T2-LT", "e1-S1-LT", "e1-S1-PT", "e1-S1-AT",
    ]  # fmt: skip
    level = _level_excursion(0)
    rows = []
    for k in range(130):
        if 70 <= k < 110:  # everything silent for 40 s: communication loss, then back
            continue
        for tag in tags:
            ts = T0 + k + rng.choice([0.0, 0.25, 0.5, 0.75])
            if tag == "e1-T1-LT":
                v = level[k % len(level)]
            elif tag == "e1-S1-PT":
                v = round(1.5 + 0.005 * k, 4)  # crosses H 1.7 at k=40
            elif tag == "e1-T1-GT":
                v = 30.0 if 20 <= k < 30 else 2.0  # first-level gas, latched
            else:
                v = round(rng.uniform(5, 6), 3)
            rows.append((ts, tag, v))
    # Within each slice the file order is shuffled: the slice sorts it.
    by_slice: dict[int, list[tuple[float, str, float]]] = defaultdict(list)
    for row in rows:
        by_slice[math.floor(row[0] / slice_s)].append(row)
    out = []
    for k in sorted(by_slice):
        rng.shuffle(by_slice[k])
        out += by_slice[k]
    return out


@pytest.mark.parametrize("slice_s", [1.0, 2.5])
def test_replay_equals_the_live_path_on_the_same_readings(
    site: Site, tmp_path: Path, slice_s: float
) -> None:
    rows = _park_history(seed=3, slice_s=slice_s)
    csv = _long_csv(tmp_path / "r.csv", rows)
    out = tmp_path / "alarms.jsonl"
    # Chunks of 9 rows: slices are cut across chunk boundaries.
    summary = replay(csv, out, site=site, slice_s=slice_s, chunk_rows=9, comm_loss=True)
    assert summary.chunks == math.ceil(len(rows) / 9) and summary.late == 0
    got = _as_tuples(_lines(out))
    want = _live(site, rows, slice_s, tmp_path / "live", stale=True)
    assert got == want
    conditions = {(x[2], x[3]) for x in got}
    assert {(LT, "hh"), ("e1-S1-PT", "h"), ("e1-T1-GT", "gas1"), (LT, "comm_loss")} <= conditions
    # The gap: every sensor falls silent after its last reading in second 69 plus 15 s.
    comm = [x for x in got if x[3] == "comm_loss" and x[4] == "activate"]
    assert comm and all(T0 + 84 < x[0] <= T0 + 85 + slice_s for x in comm)


@pytest.mark.parametrize("slice_s", [1.0, 2.5])
def test_replay_by_default_equals_the_live_path_without_the_stale_check(
    site: Site, tmp_path: Path, slice_s: float
) -> None:
    rows = _park_history(seed=5, slice_s=slice_s)
    csv = _long_csv(tmp_path / "r.csv", rows)
    out = tmp_path / "alarms.jsonl"
    summary = replay(csv, out, site=site, slice_s=slice_s, chunk_rows=9)
    got = _as_tuples(_lines(out))
    assert got == _live(site, rows, slice_s, tmp_path / "live", stale=False)
    # The 40 s gap is a gap: the process alarms are there, no communication loss.
    conditions = {(x[2], x[3]) for x in got}
    assert {(LT, "hh"), ("e1-S1-PT", "h"), ("e1-T1-GT", "gas1")} <= conditions
    assert not [x for x in got if x[3] == "comm_loss"]
    assert any("gaps in the data are gaps" in line for line in summary.lines())


def test_late_duplicate_and_out_of_order_rows_are_counted(site: Site, tmp_path: Path) -> None:
    rows = [(T0 + i, LT, 10.0) for i in range(7)]
    rows.append((T0 + 2, LT, 10.0))  # late: slice 2 has run; older than the sensor's last
    rows.append((T0 + 7, LT, 10.0))
    rows.append((T0 + 7, LT, 12.0))  # a duplicate of the row before
    csv = _long_csv(tmp_path / "r.csv", rows)
    out = tmp_path / "a.jsonl"
    # One row per chunk: slice 6 is held when the late row comes, slice 2 long gone.
    summary = replay(csv, out, site=site, chunk_rows=1)
    assert summary.late == 1 and summary.out_of_order == 1
    assert summary.rejected["duplicate"] == 1
    assert summary.readings_accepted == len(rows) - 1 == summary.readings_read - 1
    (dup,) = [json.loads(x) for x in deadletter_path(out).read_text().splitlines()]
    assert dup["row"] == 10 and "already appeared in row 9" in dup["detail"]


# ------------------------------------------------------------------ generic sensors, learning


def _wide_with_gap(path: Path) -> Path:
    """Two columns once a second; TI-7 silent from row 20 to row 40 (stale after 3 s)."""
    lines = ["ts,FIC-101,TI-7"]
    for k in range(50):
        b = "" if 20 <= k < 40 else f"{50 + 0.01 * (k % 3)}"
        lines.append(f"{T0 + k},{1.0 + 0.01 * (k % 2)},{b}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_wide_csv_without_config_becomes_generic_sensors(tmp_path: Path) -> None:
    csv = _wide_with_gap(tmp_path / "w.csv")
    out = tmp_path / "a.jsonl"
    args = ["replay", "--input", str(csv), "--output", str(out), "--comm-loss"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "no --config: one generic sensor per column" in result.output
    assert "(wide CSV, 2 sensors)" in result.output
    lines_out = _lines(out)
    # Period 1 s learned from the data, stale after 3 periods: silent since T0+19 -> T0+23;
    # its next reading at T0+40 clears it.
    assert _pick(lines_out, "TI-7", "comm_loss") == [(T0 + 23, "activate"), (T0 + 40, "clear")]
    assert not {x["condition"] for x in lines_out} & {"hh", "h", "l", "ll", "out_of_range"}
    assert {x["enterprise"] for x in lines_out} == {"replay"}


def test_a_gap_in_a_wide_csv_is_no_comm_loss_unless_asked(tmp_path: Path) -> None:
    csv = _wide_with_gap(tmp_path / "w.csv")
    out = tmp_path / "a.jsonl"
    result = CliRunner().invoke(app, ["replay", "--input", str(csv), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert not [x for x in _lines(out) if x["condition"] == "comm_loss"]
    assert "gaps in the data are gaps" in result.output
    asked = tmp_path / "asked.jsonl"
    result = CliRunner().invoke(
        app, ["replay", "--input", str(csv), "--output", str(asked), "--comm-loss"]
    )
    assert result.exit_code == 0, result.output
    assert "COMM_LOSS after each sensor's stale time" in result.output
    assert _pick(_lines(asked), "TI-7", "comm_loss") == [(T0 + 23, "activate"), (T0 + 40, "clear")]


def _learn_file(tmp_path: Path) -> tuple[Path, int]:
    """An HH excursion inside the learning rows and another after them."""
    values = _level_excursion(0)
    rows = [(T0 + i, LT, v) for i, v in enumerate(values + values)]
    return _long_csv(tmp_path / "r.csv", rows), len(values)


def test_learn_rows_teach_without_writing_alarms(site: Site, tmp_path: Path) -> None:
    csv, learn = _learn_file(tmp_path)
    out = tmp_path / "a.jsonl"
    summary = replay(csv, out, site=site, learn_rows=learn)
    assert summary.learn_mode == "learn" and summary.learn_readings == learn
    hh = _pick(_lines(out), LT, "hh")
    assert hh == [(T0 + learn + 26, "activate"), (T0 + learn + 58, "clear")]
    assert all(x["ts"] >= T0 + learn for x in _lines(out))
    assert any("with Detector.learn" in line for line in summary.lines())


def test_without_detector_learn_the_learning_rows_run_with_alarms_unwritten(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(Detector, "learn", raising=False)
    csv, learn = _learn_file(tmp_path)
    out = tmp_path / "a.jsonl"
    summary = replay(csv, out, site=site, learn_rows=learn)
    assert summary.learn_mode == "step"
    assert summary.learn_transitions_not_written >= 2  # at least the first HH and its clear
    assert _pick(_lines(out), LT, "hh") == [
        (T0 + learn + 26, "activate"),
        (T0 + learn + 58, "clear"),
    ]
    assert any("Detector.learn is not available" in line for line in summary.lines())


# ------------------------------------------------------------------ streaming


_MEASURE = """
import re, sys
from pathlib import Path
import hazardwatch.shell.service  # everything the replay imports, loaded before measuring
from detectors import Detector
from hazardwatch.vocabulary.model import SensorTable
from hazardwatch.shell.replay import generic_site, replay

def rss_kb(field):
    return int(re.search(field + r":\\s+(\\d+)", Path("/proc/self/status").read_text()).group(1))

site = generic_site([f"S{i:04d}" for i in range(1000)], [1.0] * 1000)
Detector(SensorTable.from_site(site), 0.0)  # the compiled loops, loaded before measuring
before = rss_kb("VmRSS")
s = replay(Path(sys.argv[1]), Path(sys.argv[2]), site=site)
print(rss_kb("VmHWM") - before, s.rows_read, s.chunks, s.slices)
"""


def _big_long_csv(path: Path, seconds: int) -> None:
    """1000 sensors once a second: 1000 rows per second of data."""
    tags = [f"S{i:04d}" for i in range(1000)]
    blocks = [
        "".join(f"@,{t},{50 + np.sin(i + j):.3f}\n" for i, t in enumerate(tags)) for j in range(3)
    ]
    with path.open("w") as f:
        f.write("ts,tag,value\n")
        for k in range(seconds):
            f.write(blocks[k % 3].replace("@", str(int(T0) + k)))


def test_a_million_rows_stream_in_chunks_with_bounded_memory(tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    _big_long_csv(big, 1000)
    assert big.stat().st_size > 20_000_000
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(big), str(tmp_path / "b.jsonl")],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    growth_kb, rows, chunks, slices = (int(x) for x in done.stdout.split())
    assert (rows, chunks, slices) == (1_000_000, 20, 1000)
    # Held whole, a million parsed rows take hundreds of MB; one 50,000-row chunk a few tens.
    assert growth_kb < 80_000, f"peak RSS grew by {growth_kb / 1024:.0f} MB"
