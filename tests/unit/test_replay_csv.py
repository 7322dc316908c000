"""Reading recorded readings from CSV: both forms, bad rows as typed rejections, chunking."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hazardwatch.shell.replay_csv import Chunk, CsvReader, Form, ReplayInputError, parse_header
from hazardwatch.vocabulary.model import Quality
from ingest import Reason

T0 = 1_763_800_000.0
TAGS = {"LT1": 0, "TT1": 1, "PT1": 2}


def _write(tmp_path: Path, text: str, name: str = "r.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _read(path: Path, chunk_rows: int = 50_000) -> list[Chunk]:
    with CsvReader(path, TAGS, chunk_rows=chunk_rows) as reader:
        return list(reader.chunks())


def _reasons(chunks: list[Chunk]) -> list[tuple[int | None, Reason]]:
    return [(r.row, r.reason) for c in chunks for r in c.rejections]


# ------------------------------------------------------------------ headers


def test_header_tells_long_from_wide() -> None:
    assert parse_header(["ts", "tag", "value"]).form is Form.LONG
    quality = parse_header(["TS", " tag ", "Value", "quality"])
    assert quality.form is Form.LONG and quality.has_quality and quality.width == 4
    wide = parse_header(["time", "LT1", "TT1"])
    assert wide.form is Form.WIDE and wide.tags == ("LT1", "TT1") and wide.width == 3


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (["tag", "ts", "value"], "must start with a ts column"),
        (["ts", "tag", "value", "q"], "ts,tag,value[,quality]"),
        (["ts"], "needs a column per tag"),
        (["ts", "LT1", ""], "column 3 has no tag name"),
        (["ts", "LT1", "LT1"], "tag 'LT1' appears twice"),
    ],
)
def test_unusable_header_is_refused_naming_the_problem(fields: list[str], message: str) -> None:
    with pytest.raises(ReplayInputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_header(fields, "r.csv")


def test_missing_and_empty_files_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(ReplayInputError, match="cannot read it"):
        CsvReader(tmp_path / "nope.csv", TAGS)
    with pytest.raises(ReplayInputError, match="empty"):
        CsvReader(_write(tmp_path, ""), TAGS)


# ------------------------------------------------------------------ long form


def test_long_form_with_quality_and_iso_timestamps(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "\ufeffts,tag,value,quality\n"  # a BOM from a spreadsheet export
        f"{T0},LT1,12.5,good\n"
        "2025-11-22T16:26:41+08:00,TT1,30,uncertain\n"
        "2025-11-22T08:26:42Z,PT1,1.2,bad\n"
        "\n"
        f"{T0 + 3},LT1,12.75\n",  # quality left out: good
    )
    (chunk,) = _read(path)
    assert chunk.rows == 4 and chunk.rejections == []
    assert chunk.row.tolist() == [1, 2, 3, 4]
    assert chunk.sensor.tolist() == [0, 1, 2, 0]
    assert chunk.ts.tolist() == [T0, T0 + 1, T0 + 2, T0 + 3]
    assert chunk.value.tolist() == [12.5, 30.0, 1.2, 12.75]
    assert chunk.quality.tolist() == [Quality.GOOD, Quality.UNCERTAIN, Quality.BAD, Quality.GOOD]


def test_long_form_bad_rows_become_rejections_with_the_ingest_reasons(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "ts,tag,value,quality\n"
        f"{T0},LT1,1\n"  # 1 good
        f"{T0},XX9,1\n"  # 2 unknown tag
        f"{T0},LT1,nan\n"  # 3
        f"{T0},LT1,1e400\n"  # 4 overflows to infinity
        f"{T0},LT1,twelve\n"  # 5
        f"{T0},LT1,\n"  # 6 no value
        "2025-11-22T08:26:40,LT1,1\n"  # 7 no offset
        "yesterday,LT1,1\n"  # 8
        f"{T0 * 1000},LT1,1\n"  # 9 milliseconds
        f"{T0},LT1,1,fine\n"  # 10
        f"{T0},LT1\n"  # 11 too few fields
        f"{T0},LT1,1,good,extra\n"  # 12 too many
        f"{T0 + 1},TT1,2\n",  # 13 good
    )
    (chunk,) = _read(path)
    assert chunk.rows == 13 and chunk.accepted == 2 and chunk.readings == 13
    assert chunk.row.tolist() == [1, 13]
    assert _reasons([chunk]) == [
        (2, Reason.UNKNOWN_TAG),
        (3, Reason.NOT_FINITE),
        (4, Reason.NOT_FINITE),
        (5, Reason.WRONG_TYPE),
        (6, Reason.WRONG_TYPE),
        (7, Reason.BAD_TIMESTAMP),
        (8, Reason.BAD_TIMESTAMP),
        (9, Reason.TS_FUTURE),
        (10, Reason.BAD_QUALITY),
        (11, Reason.WRONG_TYPE),
        (12, Reason.WRONG_TYPE),
    ]
    by_row = {r.row: r for r in chunk.rejections}
    assert "no UTC offset" in by_row[7].detail
    assert "milliseconds" in by_row[9].detail
    assert by_row[2].payload == f"{T0},XX9,1".encode()
    assert by_row[2].topic == str(path)


def test_unreadable_csv_line_is_one_rejection_and_reading_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(b"ts,tag,value\n" + f"{T0},LT1,1\n".encode() + b'"' + b"x" * 200_000 + b'"\n')
    with path.open("ab") as f:
        f.write(f"{T0 + 1},LT1,2\n".encode())
    chunks = _read(path)
    assert [r.reason for c in chunks for r in c.rejections] == [Reason.WRONG_TYPE]
    assert "unreadable CSV" in chunks[0].rejections[0].detail
    assert np.concatenate([c.value for c in chunks]).tolist() == [1.0, 2.0]


# ------------------------------------------------------------------ wide form


def test_wide_form_blank_cells_are_no_reading(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        f"ts,LT1,TT1,PT1\n{T0},1.0,20,0.5\n{T0 + 1},,21, \n2025-11-22T08:26:42Z,1.2,,0.7\n",
    )
    (chunk,) = _read(path)
    assert chunk.rows == 3 and chunk.rejections == []
    assert chunk.row.tolist() == [1, 1, 1, 2, 3, 3]
    assert chunk.sensor.tolist() == [0, 1, 2, 1, 0, 2]
    assert chunk.ts.tolist() == [T0, T0, T0, T0 + 1, T0 + 2, T0 + 2]
    assert chunk.value.tolist() == [1.0, 20.0, 0.5, 21.0, 1.2, 0.7]


def test_wide_form_bad_cells_and_rows(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "ts,LT1,XX9,TT1\n"
        f"{T0},1.0,5,inf\n"  # unknown column's cell; infinite value
        f"{T0 + 1},abc,,21\n"  # not a number; blank cell of the unknown column: nothing
        f"not-a-time,1,2,3\n"  # the whole row, once
        f"{T0 + 3},1,2\n",  # too few cells: the whole row
    )
    (chunk,) = _read(path)
    assert chunk.rows == 4
    assert chunk.sensor.tolist() == [0, 1] and chunk.value.tolist() == [1.0, 21.0]
    assert _reasons([chunk]) == [
        (1, Reason.UNKNOWN_TAG),
        (1, Reason.NOT_FINITE),
        (2, Reason.WRONG_TYPE),
        (3, Reason.BAD_TIMESTAMP),
        (4, Reason.WRONG_TYPE),
    ]
    assert chunk.readings == chunk.accepted + 5
    cell = chunk.rejections[2]
    assert cell.payload == f"{T0 + 1},LT1,abc".encode() and "column 'LT1'" in cell.detail


# ------------------------------------------------------------------ streaming


def test_chunks_hold_at_most_chunk_rows_and_number_rows_across_chunks(tmp_path: Path) -> None:
    lines = ["ts,tag,value"] + [f"{T0 + i},LT1,{i}" for i in range(23)]
    lines.insert(10, f"{T0},LT1,oops")  # row 10 is bad
    path = _write(tmp_path, "\n".join(lines) + "\n")
    chunks = _read(path, chunk_rows=5)
    assert [c.rows for c in chunks] == [5, 5, 5, 5, 4]
    assert np.concatenate([c.row for c in chunks]).tolist() == [r for r in range(1, 25) if r != 10]
    assert _reasons(chunks) == [(10, Reason.WRONG_TYPE)]
    assert sum(c.readings for c in chunks) == 24


def test_wide_chunks_are_capped_by_cells(tmp_path: Path) -> None:
    tags = {f"S{i}": i for i in range(1000)}
    header = "ts," + ",".join(tags)
    rows = [f"{T0 + k}," + ",".join(["1"] * 1000) for k in range(3)]
    path = _write(tmp_path, "\n".join([header, *rows]) + "\n")
    with CsvReader(path, tags, chunk_rows=50_000) as reader:
        assert reader.chunk_rows == 1_000_000 // 1001
        (chunk,) = list(reader.chunks())
    assert chunk.accepted == 3000
