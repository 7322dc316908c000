"""One back-test run in a second process, beside the run in this process: two cores, two runs.

A back-test's two runs (current and candidate settings) share nothing but the readings they
read, so each may run in its own process and give what it gives alone. The worker is a
spawned process (no fork of a service's threads and locks) that opens the reading store
read-only by its folder (`BlockStore(readonly=True)`: what is on disk, compacted or not),
runs `backtest.run_once` and sends back its figures, reading count and transitions (pickled
over a pipe), with its progress on the way. Its start costs a few seconds (imports, the
detector's compiled loops loaded from numba's cache), so a back-test uses it only for a
long run (`backtest.worth_a_worker`).
"""

from __future__ import annotations

import multiprocessing as mp
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


def _work(
    conn: Connection, site: Site, folder: Path, sensors: np.ndarray, since: float, until: float
) -> None:
    """The worker's body: one run over the store at `folder`, read-only."""
    from hazardwatch.shell.backtest import run_once  # imported in the worker only

    try:
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
    """`run_once(site, store, sensors, since, until)` started in a spawned process;
    `progress()` the share it has done, `result()` waits for (figures, readings, events)."""

    def __init__(
        self, site: Site, store: BlockStore, sensors: np.ndarray, since: float, until: float
    ) -> None:
        ctx = mp.get_context("spawn")
        self._conn, theirs = ctx.Pipe(duplex=False)
        self._process = ctx.Process(
            target=_work,
            args=(theirs, site, store.folder, sensors, since, until),
            name="hazardwatch-backtest",
            daemon=True,
        )
        self._process.start()
        theirs.close()  # the worker's end lives in the worker: EOF here once it exits
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
            self._process.join(timeout=10)
            self._error = f"its process ended (exit code {self._process.exitcode})"
            return
        if kind == "progress":
            self._done = float(body)
        elif kind == "done":
            self._outcome, self._done = body, 1.0
        else:
            self._error = str(body)

    def close(self) -> None:
        """Stop the worker if it still runs; release the pipe."""
        if self._process.is_alive() and self._outcome is None and self._error is None:
            self._process.terminate()
        self._process.join(timeout=30)
        self._conn.close()
