"""kill -9 of a process in the middle of spooling loses nothing that was appended."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hazardwatch.storage import Spool
from hazardwatch.vocabulary.model import Batch
from tests.processes import kill_9_after

pytestmark = pytest.mark.integration

ROWS = 50
# Appends numbered batches as fast as it can and says which one each time an append returned.
CHILD = f"""
import sys
import numpy as np
from pathlib import Path
from hazardwatch.vocabulary.model import Batch
from hazardwatch.storage import Spool
from tests.processes import kill_9_after

spool = Spool(Path(sys.argv[1]), segment_bytes=4096)
for i in range(100_000):
    k = np.arange(i * {ROWS}, (i + 1) * {ROWS})
    spool.append(Batch.of(k % 5, 1.7e9 + k, k * 0.5))
    print(i, flush=True)
"""


def test_kill_9_while_appending_loses_no_appended_batch(tmp_path: Path) -> None:
    # SIGKILL mid-loop: appending, fsyncing or rotating
    reported = kill_9_after(CHILD, str(tmp_path / "spool"), 300)
    assert reported >= 300, "the child did not get going"

    with Spool(tmp_path / "spool") as spool:
        assert spool.pending_segments > 1  # it rotated segments on the way
        got: list[Batch] = []
        spool.drain(got.append)
    values = Batch.concat(got).value
    # Every batch it reported, and perhaps the ones it appended after: whole and in order.
    assert len(values) % ROWS == 0 and len(values) >= (reported + 1) * ROWS
    assert np.array_equal(values, np.arange(len(values)) * 0.5)
