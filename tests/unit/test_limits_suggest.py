"""Limits suggested from history: percentiles of normal operation plus margins, inside the
range, gas levels never beyond the standard's ceilings, labelled a suggestion."""

from __future__ import annotations

import doctest
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hazardwatch.shell import suggestion as suggestion_module
from hazardwatch.shell.suggestion import HIGH_PCT, LOW_PCT, MARGIN_OF_SPAN, suggest
from hazardwatch.storage import BlockStore
from hazardwatch.storage.limits import LimitBook, LimitNotFound
from hazardwatch.vocabulary.defaults import (
    COMBUSTIBLE_LEVEL1_MAX_LEL_PCT,
    COMBUSTIBLE_LEVEL2_MAX_LEL_PCT,
)
from hazardwatch.vocabulary.model import Batch, Quality
from tests.unit.test_limits import CONFIG

T0 = 1_767_225_600.0
N = 20_000


@pytest.fixture
def park(tmp_path: Path) -> Iterator[tuple[LimitBook, BlockStore, np.ndarray]]:
    config = tmp_path / "park.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    rng = np.random.default_rng(3)
    ts = T0 + np.arange(N, dtype=np.float64)
    level = rng.normal(5.0, 0.3, N)
    gas = np.abs(rng.normal(12.0, 1.0, N))  # a detector reading a high background
    quality = np.zeros(N, np.uint8)
    quality[:50] = Quality.BAD
    level[:50] = 9.99  # bad readings are no normal operation
    store = BlockStore(tmp_path / "readings", background=False)
    store.write(
        Batch.of(np.r_[np.zeros(N), np.ones(N)], np.r_[ts, ts], np.r_[level, gas],
                 np.r_[quality, np.zeros(N)])
    )  # fmt: skip
    with LimitBook(config, tmp_path / "alarms.db") as book:
        yield book, store, level[50:]
    store.close()


def test_docstrings() -> None:
    assert doctest.testmod(suggestion_module).failed == 0


def test_process_limits_are_percentiles_of_normal_operation_plus_margins(
    park: tuple[LimitBook, BlockStore, np.ndarray],
) -> None:
    book, store, normal = park
    found = suggest(book, store, "T1-LT", T0, T0 + N)
    assert found["kind"] == "suggestion" and "not applied" in found["note"]
    assert found["normal_readings"] == N - 50
    margin = MARGIN_OF_SPAN * 10.0
    h = np.percentile(normal, HIGH_PCT) + margin
    assert found["change"]["limits"] == {
        "hh": pytest.approx(h + margin, abs=1e-6),
        "h": pytest.approx(h, abs=1e-6),
    }  # the slots it has (hh, h); l and ll stay unset
    assert np.percentile(normal, LOW_PCT) > 0
    assert book.history() == []  # nothing changed
    book.candidate({"T1-LT": found["change"]})  # the loader takes it


def test_gas_levels_stay_at_the_standards_ceilings_and_a_high_background_is_reported(
    park: tuple[LimitBook, BlockStore, np.ndarray],
) -> None:
    book, store, _ = park
    found = suggest(book, store, "T1-GT", T0, T0 + N)
    assert found["change"] == {
        "limits": {
            "level1": COMBUSTIBLE_LEVEL1_MAX_LEL_PCT,
            "level2": COMBUSTIBLE_LEVEL2_MAX_LEL_PCT,
        }
    }
    assert any("check the detector" in w for w in found["warnings"])


def test_too_little_history_gives_no_suggestion_and_an_unknown_tag_is_refused(
    park: tuple[LimitBook, BlockStore, np.ndarray],
) -> None:
    book, store, _ = park
    found = suggest(book, store, "T1-LT", T0, T0 + 60)
    assert found["change"] is None and "at least" in found["warnings"][0]
    with pytest.raises(LimitNotFound):
        suggest(book, store, "NOPE", T0, T0 + N)
