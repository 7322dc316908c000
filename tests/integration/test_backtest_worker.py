"""A back-test's candidate run in a second process gives what it gives in this one.

The same stored recording as the fast path's test (on- and off-delays, deadbands, a latched
gas alarm, chattering auto-shelved and its shelve expiring, irregular and fractional
timestamps; part of it still in the store's logs, not yet compacted), back-tested with
both runs here, one after the other, and with the candidate run in a worker process: the
figures, the alarm performance reports and the incidents' first warnings are equal.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from hazardwatch.shell.backtest import backtest
from hazardwatch.shell.backtest_incidents import Incident
from hazardwatch.shell.backtest_worker import Worker, WorkerError
from hazardwatch.storage import BlockStore
from hazardwatch.vocabulary.config import parse_site
from hazardwatch.vocabulary.model import Batch, SensorTable, Site
from tests.e2e.harness import E2E_SITE
from tests.integration.test_backtest_fast import CHATTER, SECONDS, T0, _recording, _site


def _candidate() -> Site:
    """The same park with e1-T1-LT's H and HH half a metre lower."""
    old = "limits: {hh: 18, h: 17, l: 2, ll: 1}}"
    assert old in E2E_SITE
    gas = 'unit: "%LEL", range: [0, 100]}'
    text = E2E_SITE.replace(old, "limits: {hh: 17.5, h: 16.5, l: 2, ll: 1}}", 1)
    text = text.replace(gas, gas[:-1] + ", latch: true}")
    return parse_site(text + CHATTER, "candidate.yaml")


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BlockStore]:
    """The recording in a BlockStore, mostly compacted, the rest in its logs."""
    folder = tmp_path_factory.mktemp("bt-worker")
    rec = _recording(SensorTable.from_site(_site()))
    store = BlockStore(folder / "readings", log_rows=5000, background=False)
    for a in range(0, len(rec), 700):
        store.write(Batch.of(*(c[a : a + 700] for c in (rec.sensor, rec.ts, rec.value))))
        if a == 9800:
            store.compact()
    yield store
    store.close()


def _result(store: BlockStore, workers: int, shares: list[float]) -> dict[str, Any]:
    incidents = [
        Incident(1, "e1-T1-LT", "hh", "e1-T1", "e1-hs1", T0 + 400.0),
        Incident(2, "e1-T1-GT", "gas2", "e1-T1", "e1-hs1", T0 + 910.0),
    ]
    report = backtest(
        _site(), _candidate(), store, T0, T0 + SECONDS, incidents=incidents,
        progress=shares.append, workers=workers,
    )  # fmt: skip
    out = report.to_dict()
    del out["seconds"]
    return out


def test_the_candidate_run_in_a_worker_process_gives_the_same_back_test(
    stored: BlockStore,
) -> None:
    here_shares: list[float] = []
    beside_shares: list[float] = []
    here = _result(stored, 1, here_shares)
    beside = _result(stored, 2, beside_shares)
    assert beside == here
    # The recording does what it should: the two runs differ, alarms in both.
    lt_now, lt_cand = here["current"]["e1-T1-LT"], here["candidate"]["e1-T1-LT"]
    assert lt_now != lt_cand and lt_cand["time_in_alarm_s"] > lt_now["time_in_alarm_s"]
    assert here["current"]["e1-T1-TT"]["chattering"] > 0
    assert here["readings"] > 5000
    # Progress moves up to the end, both ways.
    for shares in (here_shares, beside_shares):
        assert shares == sorted(shares) and shares[-1] == pytest.approx(1.0)


def test_a_worker_that_cannot_run_says_why(tmp_path: Path) -> None:
    """No reading store in the worker's folder: its run fails, and the parent says so."""
    empty = SimpleNamespace(folder=tmp_path / "nothing")
    worker = Worker(_site(), empty, np.arange(3), T0, T0 + 10)  # type: ignore[arg-type]
    with pytest.raises(WorkerError, match="no reading store here"):
        worker.result()


SCRIPT = """
import numpy as np
from hazardwatch.shell.backtest import backtest
from hazardwatch.storage import BlockStore
from hazardwatch.vocabulary.config import parse_site
from hazardwatch.vocabulary.model import Batch
from tests.e2e.harness import E2E_SITE

site = parse_site(E2E_SITE, "e2e.yaml")
store = BlockStore({folder!r}, background=False)
t = np.arange(120.0)
store.write(Batch.of(np.zeros(t.size, np.int64), 1_763_800_000.0 + t, 10.0 + t / 10))
report = backtest(site, site, store, 1_763_800_000.0, 1_763_800_119.0, workers=2)
store.close()
print("back-tested", report.readings)
"""


def test_a_script_without_a_main_guard_is_not_run_again_by_the_worker(tmp_path: Path) -> None:
    """The worker is its own module's main: the caller's script runs once (multiprocessing's
    spawn would run it again in the worker, where it tries to start a worker of its own)."""
    script = tmp_path / "script.py"
    script.write_text(SCRIPT.format(folder=str(tmp_path / "readings")))
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(root)}, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["back-tested 120"]
