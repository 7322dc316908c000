"""When a back-test gives its candidate run a second process (backtest.worth_a_worker)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from hazardwatch.shell import backtest
from hazardwatch.storage import BlockStore

MONTH = 30 * 86400.0


@pytest.mark.parametrize(
    ("cores", "load", "sensors", "seconds", "worth"),
    [
        (2, 0.3, 1000, MONTH, True),  # a month, a free core
        (2, 1.0, 1000, MONTH, True),  # one core busy (the service): the other is free
        (2, 1.6, 1000, MONTH, False),  # both busy: a second process adds only its start
        (1, 0.0, 1000, MONTH, False),  # one core
        (2, 0.3, 1000, 3600.0, False),  # an hour: shorter than the worker's start repays
        (4, 2.5, 20, MONTH, True),
    ],
)
def test_a_worker_only_for_a_long_history_and_a_free_core(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    cores: int, load: float, sensors: int, seconds: float, worth: bool,
) -> None:  # fmt: skip
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(cores)), raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    store = BlockStore(tmp_path / "readings", background=False)
    try:
        chosen = np.arange(sensors)
        assert backtest.worth_a_worker(store, chosen, 0.0, seconds) is worth
        assert backtest.worth_a_worker(object(), chosen, 0.0, seconds) is False  # type: ignore[arg-type]
    finally:
        store.close()
