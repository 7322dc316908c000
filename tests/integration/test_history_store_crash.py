"""kill -9 of a process writing to the BlockStore, compaction running, loses no written batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hazardwatch.storage import BlockStore
from tests.processes import kill_9_after

pytestmark = pytest.mark.integration

ROWS = 500
SENSORS = 7
# Writes numbered batches as fast as it can and says which one each time a write returned;
# small logs, so the background thread seals and compacts all along.
CHILD = f"""
import sys
import numpy as np
from pathlib import Path
from hazardwatch.vocabulary.model import Batch
from hazardwatch.storage import BlockStore

store = BlockStore(Path(sys.argv[1]), log_rows=3000, merge_fanin=4)
for i in range(100_000):
    k = np.arange(i * {ROWS}, (i + 1) * {ROWS})
    store.write(Batch.of(k % {SENSORS}, 1.7e9 + k, k * 0.5))
    print(i, flush=True)
"""


def test_kill_9_while_writing_and_compacting_loses_no_written_batch(tmp_path: Path) -> None:
    # SIGKILL mid-write, mid-seal or mid-compaction
    reported = kill_9_after(CHILD, str(tmp_path / "readings"), 200)
    assert reported >= 200, "the child did not get going"

    with BlockStore(tmp_path / "readings", background=False) as store:
        assert list((tmp_path / "readings" / "raw").glob("*.blk")), "nothing was compacted"
        store.compact()
        for s in range(SENSORS):
            values = np.array([r.value for r in store.readings(s, limit=10**7)])
            k = np.arange(s, len(values) * SENSORS, SENSORS)
            # every reading of every reported batch, perhaps more, each once and in order
            assert np.array_equal(values, k[: len(values)] * 0.5)
            assert len(values) * SENSORS >= (reported + 1) * ROWS - SENSORS
