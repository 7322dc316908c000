"""NAB's scoring rules on tiny hand-computed cases, and a NAB series made a wide CSV.

One file of 100 rows (probation: the first 15) with one window, rows 40..49 (width 10).
The scaled sigmoid is s(x) = 2 / (1 + e^(5x)) - 1; a detection in the window earns
s(-(49 - i + 1) / 10) / s(-1), one after it fp_weight * s((i - 49) / 9).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.nab import detections
from benchmarks.nab_corpus import read_series, write_wide_csv
from benchmarks.nab_score import (
    STANDARD,
    Profile,
    normalised,
    probation_rows,
    score_file,
    total,
    window_rows,
)
from hazardwatch.shell.replay_csv import CsvReader, Form

N = 100
WINDOW = [(40, 49)]
LOW_FP = Profile("reward_low_FP_rate", 1.0, 0.22, 1.0)
LOW_FN = Profile("reward_low_FN_rate", 1.0, 0.11, 2.0)


def test_a_detection_at_the_window_start_earns_the_full_reward() -> None:
    s = score_file(N, WINDOW, [40], STANDARD)
    assert s.raw == pytest.approx(1.0)
    assert (s.found, s.missed, s.false, s.detections) == (1, 0, 0, 1)
    assert total([s]) == pytest.approx(100.0)  # a perfect detector


def test_a_detection_at_the_window_end_earns_little() -> None:
    # s(-0.1) = 2 / (1 + e^-0.5) - 1 = 0.244919; / s(-1) = 0.986614
    assert score_file(N, WINDOW, [49], STANDARD).raw == pytest.approx(0.248242, abs=1e-6)


def test_only_the_first_detection_in_a_window_counts() -> None:
    # Row 42: s(-0.8) = 2 / (1 + e^-4) - 1 = 0.9640276; / s(-1) = 0.9866143 -> 0.977107.
    s = score_file(N, WINDOW, [45, 42, 48], STANDARD)
    assert s.raw == pytest.approx(0.977107, abs=1e-6)
    assert (s.found, s.false, s.detections) == (1, 0, 3)


def test_a_detection_after_the_window_end_is_a_false_positive_weighed_by_distance() -> None:
    # Row 55: s(6/9) = 2 / (1 + e^3.3333) - 1 = -0.931110; times 0.11; plus the missed window.
    s = score_file(N, WINDOW, [55], STANDARD)
    assert s.raw == pytest.approx(-1.0 - 0.11 * 0.931110, abs=1e-6)
    assert (s.found, s.missed, s.false) == (0, 1, 1)
    # Just after the end it costs little (s(1/9) = -0.270848), three widths on the full weight.
    assert score_file(N, WINDOW, [50], STANDARD).raw == pytest.approx(
        -1.0 - 0.11 * 0.270848, abs=1e-6
    )
    assert score_file(N, WINDOW, [99], STANDARD).raw == pytest.approx(-1.11)


def test_a_detection_outside_windows_costs_the_profiles_fp_weight() -> None:
    # Before the first window: the full weight, whatever the distance.
    assert score_file(N, WINDOW, [20], STANDARD).raw == pytest.approx(-1.11)
    assert score_file(N, WINDOW, [20], LOW_FP).raw == pytest.approx(-1.22)
    assert score_file(N, WINDOW, [20], LOW_FN).raw == pytest.approx(-2.11)


def test_the_null_detector_scores_zero_and_probation_is_not_scored() -> None:
    assert probation_rows(N) == 15 and probation_rows(100_000) == 750
    null = score_file(N, WINDOW, [], STANDARD)
    assert (null.raw, null.null, null.perfect) == (-1.0, -1.0, 1.0)
    assert total([null]) == 0.0
    # A detection among the first 15 rows is ignored.
    assert score_file(N, WINDOW, [5, 14], STANDARD).raw == -1.0
    assert score_file(N, WINDOW, [15], STANDARD).raw == pytest.approx(-1.11)
    # A window ending in probation is not scored at all.
    early = score_file(N, [(2, 10), (40, 49)], [40], STANDARD)
    assert (early.windows, early.raw, early.perfect) == (1, 1.0, 1.0)


def test_files_are_normalised_on_their_summed_raw_null_and_perfect_scores() -> None:
    a = score_file(N, WINDOW, [40], STANDARD)  # raw 1, null -1, perfect 1
    b = score_file(N, [(30, 39), (60, 69)], [], LOW_FN)  # raw -4, null -4, perfect 2
    assert total([a, b]) == pytest.approx(normalised(1.0 - 4.0, -5.0, 3.0)) == 25.0


def test_windows_are_found_by_their_timestamps_first_occurrence() -> None:
    ts = np.array(
        ["2014-01-01T00:00", "2014-01-01T00:05", "2014-01-01T00:05", "2014-01-01T00:10"],
        dtype="datetime64[s]",
    )
    got = window_rows(ts, [["2014-01-01 00:05:00.000000", "2014-01-01 00:10:00.000000"]])
    assert got == [(1, 3)]
    with pytest.raises(ValueError, match="not a timestamp of the file"):
        window_rows(ts, [["2014-01-01 00:01:00", "2014-01-01 00:10:00"]])


# ------------------------------------------------------------------ the wide CSV


NAB_SERIES = """timestamp,value
2014-04-01 00:00:00,20.5
2014-04-01 00:05:00,21
2014-04-01 00:05:00,21.25
2014-04-01 01:00:00,-3.75e-1
"""


def test_a_nab_series_becomes_a_wide_csv_replay_reads(tmp_path: Path) -> None:
    src = tmp_path / "machine.csv"
    src.write_text(NAB_SERIES)
    series = read_series(src, "realKnownCause/machine.csv")
    wide = tmp_path / "wide.csv"
    assert write_wide_csv(series, wide, "machine") == 4
    # Naive timestamps are UTC; values as written; the hole and the repeat stay as they are.
    t0 = 1_396_310_400
    assert wide.read_text().splitlines() == [
        "ts,machine",
        f"{t0},20.5",
        f"{t0 + 300},21",
        f"{t0 + 300},21.25",
        f"{t0 + 3600},-3.75e-1",
    ]
    with CsvReader(wide, {"machine": 0}) as reader:
        assert reader.header.form is Form.WIDE and reader.header.tags == ("machine",)
        (chunk,) = list(reader.chunks())
    assert chunk.ts.tolist() == [t0, t0 + 300, t0 + 300, t0 + 3600]
    assert chunk.value.tolist() == [20.5, 21.0, 21.25, -0.375]
    assert not chunk.rejections


def test_an_alarm_is_a_detection_on_the_row_it_was_raised_on(tmp_path: Path) -> None:
    epoch = np.array([0, 300, 300, 600, 900], dtype=np.int64)
    lines = [
        {"ts": 300.0, "condition": "spike", "event": "activate"},  # the repeated ts: first row
        {"ts": 301.0, "condition": "spike", "event": "clear"},  # not a raise
        {"ts": 650.0, "condition": "step", "event": "activate"},  # between rows: the one before
        {"ts": 900.0, "condition": "comm_loss", "event": "activate"},  # counted, no detection
    ]
    alarms = tmp_path / "a.jsonl"
    alarms.write_text("".join(json.dumps(x) + "\n" for x in lines))
    rows, per = detections(alarms, epoch)
    assert rows.tolist() == [1, 3]
    assert dict(per) == {"spike": 1, "step": 1, "comm_loss": 1}
    rows, _ = detections(alarms, epoch, ignore=frozenset())
    assert rows.tolist() == [1, 3, 4]
