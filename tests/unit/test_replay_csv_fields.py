"""A recorded row is judged as live judges the same reading: the CSV reader and the MQTT
decoder go through ingest's own field parsing, so they accept alike and reject for the same
reason, with the same words."""

from __future__ import annotations

from pathlib import Path

import pytest

from hazardwatch.shell.replay_csv import CsvReader
from hazardwatch.vocabulary.model import Limits
from ingest import Decoder, Reason
from ingest.fields import MS_HINT
from tests.factories import enterprise, hazard_source, sensor, site, table, unit

NOW = 1_763_800_000.0
TABLE = table(
    site(
        enterprise(
            "ent1",
            hazard_source("hs1", unit("T1", sensor("LT-101", hi=20.0, limits=Limits(hh=18.0)))),
        )
    )
)

# (JSON text on the wire, the same field as a CSV cell); None: the field is left out
ACCEPTED_TS = [
    ("1763799990.25", "1763799990.25"),
    ("1763799990", "1763799990"),
    ('"2025-11-22T08:26:30Z"', "2025-11-22T08:26:30Z"),
    ('"2025-11-22T16:26:30.5+08:00"', "2025-11-22T16:26:30.5+08:00"),
    ('"2025-11-22T08:26:30.125+00:00"', "2025-11-22T08:26:30.125+00:00"),
]
ACCEPTED_Q = [('"good"', "good"), ('"uncertain"', "uncertain"), ('"bad"', "bad"), (None, "")]
REJECTED = [  # (v, ts, q) on the wire and in the CSV
    (("12.5", '"2025-11-22T08:26:30"', None), ("12.5", "2025-11-22T08:26:30", "")),
    (("12.5", '"yesterday"', None), ("12.5", "yesterday", "")),
    (("12.5", '""', None), ("12.5", "", "")),
    (("12.5", "NaN", None), ("12.5", "nan", "")),
    (("12.5", "1e400", None), ("12.5", "1e400", "")),
    (("12.5", str(NOW - 5), '"GOOD"'), ("12.5", str(NOW - 5), "GOOD")),
    (("12.5", str(NOW - 5), '"excellent"'), ("12.5", str(NOW - 5), "excellent")),
    (("12.5", str(NOW - 5), '" good"'), ("12.5", str(NOW - 5), " good")),
    (('"twelve"', str(NOW - 5), None), ("twelve", str(NOW - 5), "")),
    (('""', str(NOW - 5), None), ("", str(NOW - 5), "")),
    (("NaN", str(NOW - 5), None), ("nan", str(NOW - 5), "")),
    (("1e400", str(NOW - 5), None), ("1e400", str(NOW - 5), "")),
    (('"twelve"', '"yesterday"', '"GOOD"'), ("twelve", "yesterday", "GOOD")),  # v first
    (("12.5", '"yesterday"', '"GOOD"'), ("12.5", "yesterday", "GOOD")),  # then ts
]


def _live(v: str, ts: str | None, q: str | None) -> tuple[Reason, str] | float:
    """What the MQTT decoder makes of one reading: its rejection, or its accepted ts."""
    parts = [f'"v": {v}'] + [f'"{k}": {x}' for k, x in (("ts", ts), ("q", q)) if x is not None]
    decoded = Decoder(TABLE).decode("hw/ent1/LT-101", ("{" + ", ".join(parts) + "}").encode(), NOW)
    if decoded.rejections:
        (rejection,) = decoded.rejections
        return rejection.reason, rejection.detail
    return float(decoded.batch.ts[0])


def _replay(tmp_path: Path, v: str, ts: str, q: str) -> tuple[Reason, str] | float:
    """What the CSV reader makes of the same reading as one long-form row."""
    path = tmp_path / "r.csv"
    path.write_text(f"ts,tag,value,quality\n{ts},LT-101,{v},{q}\n", encoding="utf-8")
    with CsvReader(path, TABLE.tag_index) as reader:
        (chunk,) = list(reader.chunks())
    if chunk.rejections:
        (rejection,) = chunk.rejections
        return rejection.reason, rejection.detail
    return float(chunk.ts[0])


@pytest.mark.parametrize(("wire", "cell"), ACCEPTED_TS)
@pytest.mark.parametrize(("wire_q", "cell_q"), ACCEPTED_Q)
def test_a_reading_live_accepts_is_accepted_by_replay_alike(
    tmp_path: Path, wire: str, cell: str, wire_q: str | None, cell_q: str
) -> None:
    live = _live("12.5", wire, wire_q)
    assert isinstance(live, float)
    assert _replay(tmp_path, "12.5", cell, cell_q) == live


@pytest.mark.parametrize(("wire", "cells"), REJECTED)
def test_a_reading_live_rejects_is_rejected_by_replay_for_the_same_reason_in_the_same_words(
    tmp_path: Path, wire: tuple[str, str, str | None], cells: tuple[str, str, str]
) -> None:
    live = _live(*wire)
    assert not isinstance(live, float)
    assert _replay(tmp_path, *cells) == live


def test_milliseconds_are_ts_future_with_lives_hint(tmp_path: Path) -> None:
    ms = f"{NOW * 1000:.0f}"
    live = _live("12.5", ms, None)
    replay = _replay(tmp_path, "12.5", ms, "")
    assert not isinstance(live, float) and not isinstance(replay, float)
    assert live[0] is replay[0] is Reason.TS_FUTURE
    assert live[1].endswith(MS_HINT) and replay[1].endswith(MS_HINT)
