"""A back-test carries the alarm performance report of each run: the same transitions the
per-sensor figures count, so a limit change shows in the console's EEMUA 191 figures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hazardwatch.shell.backtest import backtest
from hazardwatch.storage import BlockStore
from hazardwatch.storage.limits import LimitBook
from tests.integration.test_backtest import CHANGES, HOURS, T0, stored_park


@pytest.fixture
def park(tmp_path: Path) -> Iterator[tuple[LimitBook, BlockStore, Path]]:
    with stored_park(tmp_path) as found:
        yield found


def test_each_run_has_its_report_and_the_candidate_raises_fewer(
    park: tuple[LimitBook, BlockStore, Path],
) -> None:
    book, store, _ = park
    end = T0 + HOURS * 3600 - 1
    result = backtest(book.site(), book.candidate(CHANGES), store, T0, end, changes=CHANGES)
    now, cand = result.reports["current"], result.reports["candidate"]
    for run, figures in ((now, result.current), (cand, result.candidate)):
        assert run["alarms"] == sum(f.total for f in figures.values())
        assert run["rates"]["per_hour"] == round(run["alarms"] / ((end - T0) / 3600), 4)
        assert run["online"]["sensors"] == 2
        chatter = {(c["tag"], c["condition"]) for c in run["chattering"]}
        assert {t for t, _ in chatter} == {t for t, f in figures.items() if f.chattering}
    assert cand["alarms"] < now["alarms"]
    top = {(t["tag"], t["condition"]): t["count"] for t in now["top"]}
    assert top[("T1-LT", "hh")] == result.current["T1-LT"].alarms["hh"]
    assert result.to_dict()["reports"]["candidate"] == cand
