"""One back-test run in a second process, beside the run in this process: two cores, two runs.

A back-test's two runs (current and candidate settings) share nothing but the readings they
read, so each may run in its own process and give what it gives alone. The worker is a fresh
interpreter (`python -m hazardwatch.shell.backtest_worker`: no fork of a service's threads
and locks, and unlike multiprocessing's spawn it never re-runs the caller's main script). It
opens the reading store read-only by its folder (`BlockStore(readonly=True)`: what is on
disk, compacted or not), runs `backtest.run_once` and sends back its figures, reading count
and transitions (pickled, over a pipe of its own), with its progress on the way. Its start
costs a few seconds (imports, the detector's compiled loops loaded from numba's cache), so
a back-test uses it only for a long run (`backtest.worth_a_worker`).
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from alerting import AlarmEvent
from hazardwatch.storage import BlockStore
from hazardwatch.vocabulary.model import HazardWatchError, Site

Outcome = tuple[dict[str, Any], int, list[AlarmEvent]]  # figures by tag, readings, events


class WorkerError(HazardWatchError):
    """The run in the worker failed, or the worker died."""


def _work(conn: Connection, request: Path) -> None:
    """The worker's body: one run over the store the request names, read-only."""
    from hazardwatch.shell.backtest import run_once  # the worker's own import

    try:
        site, folder, sensors, since, until = pickle.loads(request.read_bytes())
        store = BlockStore(folder, background=False, readonly=True)
        try:
            events: list[AlarmEvent] = []
            figures, readings = run_once(
                site, store, sensors, since, until, events=events,
                progress=lambda done: conn.send(("progress", done)),
            )  # fmt: skip
        finally:
            store.close()
        conn.send(("done", (figures, readings, events)))
    except Exception as exc:  # the parent raises it as a WorkerError
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


class Worker:
    """`run_once(site, store, sensors, since, until)` started in a second process;
    `progress()` the share it has done, `result()` waits for (figures, readings, events)."""

    def __init__(
        self, site: Site, store: BlockStore, sensors: np.ndarray, since: float, until: float
    ) -> None:
        # The request goes through a file: a pipe would hold this process until the
        # worker had imported enough to read it.
        fd, name = tempfile.mkstemp(prefix="hw-backtest-", suffix=".pickle")
        with os.fdopen(fd, "wb") as f:
            pickle.dump((site, Path(store.folder), sensors, since, until), f)
        self._request = Path(name)
        ours, theirs = os.pipe()
        # The worker finds the modules this process found, wherever they were.
        path = os.pathsep.join([p for p in sys.path if p] + [os.environ.get("PYTHONPATH", "")])
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(theirs), name],
                pass_fds=(theirs,),
                env={**os.environ, "PYTHONPATH": path},
                stdin=subprocess.DEVNULL,
            )
        finally:
            os.close(theirs)  # the worker holds its end: EOF here once it exits
        self._conn = Connection(ours, writable=False)
        self._done = 0.0
        self._outcome: Outcome | None = None
        self._error: str | None = None

    def progress(self) -> float:
        """The share of its run done, from what it sent so far (never waits)."""
        while self._outcome is None and self._error is None and self._conn.poll():
            self._take()
        return self._done

    def result(self, progress: Callable[[float], None] | None = None) -> Outcome:
        """Wait for the run's (figures, readings, events), telling `progress` the share
        done as it moves; WorkerError if it failed."""
        while self._outcome is None and self._error is None:
            self._take()
            if progress is not None:
                progress(self._done)
        self.close()
        if self._error is not None:
            raise WorkerError(f"the back-test's second run failed: {self._error}")
        assert self._outcome is not None
        return self._outcome

    def _take(self) -> None:
        try:
            kind, body = self._conn.recv()
        except EOFError:
            code = self._process.wait(timeout=30)
            self._error = f"its process ended (exit code {code})"
            return
        if kind == "progress":
            self._done = float(body)
        elif kind == "done":
            self._outcome, self._done = body, 1.0
        else:
            self._error = str(body)

    def close(self) -> None:
        """Stop the worker if it still runs; release the pipe and the request."""
        if self._process.poll() is None and self._outcome is None and self._error is None:
            self._process.terminate()
        self._process.wait(timeout=30)
        self._conn.close()
        self._request.unlink(missing_ok=True)


if __name__ == "__main__":
    _work(Connection(int(sys.argv[1]), readable=False), Path(sys.argv[2]))
