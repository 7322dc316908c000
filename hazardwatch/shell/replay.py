"""Replay: the live detector and alarm code run over recorded readings, alarms as JSON lines.

A `Service` on a `FakeClock` (no MQTT, no HTTP) takes the readings in time slices of
`slice_s` seconds of data time, aligned to whole multiples of `slice_s` since the epoch.
For each slice the clock moves to the slice's end, the slice's readings go through
`Service.handle_batch` (detector, then the alarm pipeline, as live), then `Service.tick`
runs at the slice end, the same tick the live service runs every second: transfer plans
expire, and silence is judged. Across a gap in the data the tick runs at each slice end
where one of its timers falls due (`Tick.next_due`), so a plan expiring in the gap
expires then, as live.

A back-test judges the process, not the network of the past: by default a gap in the
recorded history is a gap, and no COMM_LOSS is raised for silence (recorded series have
holes, irregular timestamps and exports that skip unchanged values): the service is built
without the tick's stale check. With `comm_loss` the tick's stale check runs too, so
communication loss is raised when live would have raised it.

Each alarm transition becomes one line of the output (see `alarm_line`); bad rows are
counted by `ingest.Reason` and written to a dead-letter file beside the output.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson

from alerting import AlarmEvent
from hazardwatch.shell.replay_csv import CHUNK_ROWS, Chunk, CsvReader, Form, ReplayInputError
from hazardwatch.shell.replay_plans import Plans, load_plans, plans_rejected
from hazardwatch.shell.replay_site import GENERIC_RANGE, generic_site, reporting_periods
from hazardwatch.shell.replay_slices import Slice, Slicer, sorted_slices
from hazardwatch.shell.service import Service, Settings
from hazardwatch.vocabulary.clock import FakeClock
from hazardwatch.vocabulary.model import (
    Batch,
    ConditionChange,
    SensorTable,
    Site,
)
from ingest import DeadLetter, Reason

# ------------------------------------------------------------------ output

EventSink = Callable[[list[AlarmEvent]], None]
HOLD_SLICES = 60  # slices whose changes one alarm pass takes at most (lazy ticks)
HOLD_CHANGES = 10_000


def iso_utc(ts: float) -> str:
    """ISO 8601 in UTC with milliseconds.

    >>> iso_utc(1763800000.5)
    '2025-11-22T08:26:40.500Z'
    """
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def _finite(x: Any) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def alarm_line(event: AlarmEvent) -> dict[str, Any]:
    """One alarm transition as a flat JSON-ready record (the replay output schema)."""
    d = event.to_dict()
    a = event.alarm
    eta = _finite(a.eta_ts)
    return {
        "ts": d["ts"],
        "time": iso_utc(event.ts),
        "alarm_id": a.id,
        "tag": a.tag,
        "condition": a.condition.label,
        "event": d["event"],
        "from_state": d["from_state"],
        "to_state": d["to_state"],
        "value": _finite(a.value),
        "priority": a.priority.label,
        "enterprise": a.enterprise,
        "hazard_source": a.hazard_source,
        "unit": a.unit,
        "eta_ts": eta,
        "eta_time": None if eta is None else iso_utc(eta),
    }


def deadletter_path(output: Path) -> Path:
    """Where the rejected rows of a replay go: beside the output."""
    return output.with_name(output.name + ".rejected.jsonl")


@dataclass
class ReplaySummary:
    """What a replay read, kept, rejected and wrote."""

    input: str
    output: str
    deadletter: str
    form: str = ""
    sensors: int = 0
    generic: bool = False
    rows_read: int = 0
    readings_read: int = 0
    readings_accepted: int = 0
    rejected: dict[str, int] = field(default_factory=lambda: {str(r): 0 for r in Reason})
    late: int = 0  # rows whose slice had already run
    out_of_order: int = 0  # readings older than their sensor's last; the detector ignored them
    slices: int = 0
    chunks: int = 0
    comm_loss: bool = False  # silence judged as live (the stale check ran)
    learn_rows: int = 0
    learn_readings: int = 0
    learn_mode: str = ""  # "learn" (Detector.learn) | "step" (ran, alarms not written) | ""
    learn_transitions_not_written: int = 0
    alarms_written: int = 0  # transition lines
    alarm_ids: int = 0  # distinct alarms among them
    first_ts: float | None = None
    last_ts: float | None = None
    plans: str = ""  # the plans file, if any
    plans_read: int = 0
    plans_rejected: dict[str, int] = field(default_factory=dict)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def lines(self) -> list[str]:
        """The human summary the CLI prints."""
        out = [f"replay {self.input} ({self.form} CSV, {self.sensors} sensors)"]
        if self.generic:
            out.append(
                "  no --config: one generic sensor per column, no limits, so only trend, drift"
                f" and fault checks apply; range +-{GENERIC_RANGE:g} as the instrument range is"
                " unknown (no out-of-range alarms); reporting period per column from the first"
                " chunk"
            )
        if self.first_ts is not None and self.last_ts is not None:
            out.append(f"  data time {iso_utc(self.first_ts)} .. {iso_utc(self.last_ts)}")
        out.append(
            f"  rows read {self.rows_read}; readings {self.readings_read}: "
            f"accepted {self.readings_accepted}, rejected {self.rejected_total}"
        )
        for reason, n in self.rejected.items():
            if n:
                out.append(f"    {reason}: {n}")
        if self.rejected_total:
            out.append(f"  rejected rows written to {self.deadletter}")
        if self.plans:
            bad = sum(self.plans_rejected.values())
            detail = ", ".join(f"{r}: {n}" for r, n in self.plans_rejected.items())
            out.append(
                f"  transfer plans from {self.plans}: {self.plans_read} used, {bad} rejected"
                + (f" ({detail}; written to {self.deadletter})" if bad else "")
            )
        if self.comm_loss:
            out.append("  silence judged as live: COMM_LOSS after each sensor's stale time")
        else:
            out.append(
                "  gaps in the data are gaps: no COMM_LOSS from silence (--comm-loss judges"
                " silence as live)"
            )
        if self.late or self.out_of_order:
            out.append(
                f"  late rows (their slice had run) {self.late}; readings older than their"
                f" sensor's last, ignored by the detector: {self.out_of_order}"
            )
        if self.learn_mode == "learn":
            out.append(
                f"  learned baselines from the first {self.learn_rows} rows"
                f" ({self.learn_readings} readings) with Detector.learn"
            )
        elif self.learn_mode == "step":
            out.append(
                f"  Detector.learn is not available: the first {self.learn_rows} rows"
                f" ({self.learn_readings} readings) ran through the detector and alarms with"
                f" their {self.learn_transitions_not_written} alarm transitions not written"
            )
        out.append(
            f"  {self.slices} slices in {self.chunks} chunks; "
            f"alarm transitions written {self.alarms_written} ({self.alarm_ids} alarms)"
            f" to {self.output}"
        )
        return out


# ------------------------------------------------------------------ the run


class _Run:
    """Feeds slices to the service and writes what it does."""

    def __init__(
        self,
        service: Service,
        clock: FakeClock,
        slice_s: float,
        learn_rows: int,
        emit: EventSink,
        summary: ReplaySummary,
        plans: Plans | None = None,
        lazy_tick: bool = False,
    ) -> None:
        self.service = service
        self.plans = plans
        self.detector = service.detector
        self.clock = clock
        self.slice_s = slice_s
        self.learn_rows = learn_rows
        self.emit = emit
        self.summary = summary
        self.can_learn = learn_rows > 0 and callable(getattr(self.detector, "learn", None))
        if learn_rows > 0:
            summary.learn_mode = "learn" if self.can_learn else "step"
        self.checked = clock.now()  # the last time the tick ran
        self.replaying = False  # past the learning rows
        self._learning: list[Batch] = []  # the learning rows' readings, until the last
        self._ids: set[int] = set()
        # The tick only where a timer falls due (Tick.next_due): what it would do anywhere
        # else is nothing. The earliest due time is asked again only once something that
        # can move it happened (an alarm pass, a tick, a plan); the stale check moves with
        # every reading, so with it the tick is asked at each slice end.
        self.lazy_tick = lazy_tick
        self._due: float | None = None
        self._due_known = False
        # With lazy ticks, the detector's changes of consecutive slices go through the alarm
        # pipeline in one pass, before the next tick or plan (and every HOLD_SLICES): their
        # transitions carry their own ts, and the mutes that mark them change only in a
        # tick or a plan. Not with the chatter auto-shelve: its shelve falls due at an
        # activation, which only a pass can tell.
        self.hold = lazy_tick and service.site.notifications.chatter.auto_shelve_s is None
        self._held: list[ConditionChange] = []
        self._held_slices = 0

    def run(self, s: Slice) -> None:
        if self.learn_rows == 0 and self.replaying:  # the common case, in short
            self._catch_up(s.start, write=True)
            self.clock.set(s.end)
            if self.plans is not None and (due := self.plans.due(s.end)):
                self.flush()
                for plan in due:
                    self._write(self.service.handle_plan(plan), True)
                self._due_known = False
            self.summary.slices += 1
            if self.hold:
                self._gather(s.batch)
            else:
                self._step(s.batch, write=True)
            self._tick(s.end, write=True)
            return
        self.flush()
        learning = s.row <= self.learn_rows
        n_learning = int(np.count_nonzero(learning))
        self.summary.learn_readings += n_learning
        self.summary.slices += 1
        rest = s.batch if n_learning == 0 else s.part(~learning)
        if self.can_learn:
            if n_learning:  # learned in one call, once all are in: see Detector.learn
                self._learning.append(s.part(learning))
            if n_learning == len(learning):
                self.clock.set(s.end)
                return
            if self._learning:
                self.detector.learn(Batch.concat(self._learning))
                self._learning = []
            if not self.replaying:
                # Learning is not hearing from a sensor: staleness counts from the first
                # slice replayed, as if the service had started then.
                st = self.detector.state
                st.last_seen[:] = np.fmax(st.last_seen, s.start)
                self.checked = s.start
        replaying = n_learning < len(learning)
        self.replaying |= replaying
        self._catch_up(s.start, write=self.replaying)
        self.clock.set(s.end)
        if self.plans is not None:
            for plan in self.plans.due(s.end):  # the operator plans before the pump starts
                self._write(self.service.handle_plan(plan), self.replaying)
                self._due_known = False
        if n_learning and not self.can_learn:
            self._step(s.part(learning), write=False)
        if replaying:
            self._step(rest, write=True)
        self._tick(s.end, write=self.replaying)

    def _step(self, batch: Batch, *, write: bool) -> None:
        stats = self.detector.stats
        before, changes = stats["out_of_order"], stats["changes"]
        events = self.service.handle_batch(batch)  # the live path, reading by reading
        self.summary.out_of_order += stats["out_of_order"] - before
        if stats["changes"] != changes:  # an alarm pass: timers may have moved
            self._due_known = False
        self._write(events, write)

    def _gather(self, batch: Batch) -> None:
        """`_step` with the changes held for one pass of several slices (see `hold`)."""
        before = self.detector.stats["out_of_order"]
        self._held += self.service.detect(batch)  # the live path's detector step
        self.summary.out_of_order += self.detector.stats["out_of_order"] - before
        self._held_slices += 1
        if self._held_slices >= HOLD_SLICES or len(self._held) >= HOLD_CHANGES:
            self.flush()

    def flush(self) -> None:
        """The held changes through the alarm pipeline, in one pass."""
        held, self._held, self._held_slices = self._held, [], 0
        if held:
            self._due_known = False
            self._write(self.service.handle_changes(held), True)

    def _tick(self, now: float, *, write: bool) -> None:
        self.checked = now
        if self.lazy_tick:
            due = self._next_due()
            if due is None or due > now:
                return
            self.flush()  # what happened before the tick, as in a tick every slice
            self._due_known = False
        self._write(self.service.tick(now), write)

    def _next_due(self) -> float | None:
        """Tick.next_due, asked again only when it may have moved (see `lazy_tick`)."""
        if not (self.lazy_tick and self._due_known) or self.service.settings.judge_silence:
            self._due, self._due_known = self.service.ticker.next_due(), True
        return self._due

    def _catch_up(self, until: float, *, write: bool) -> None:
        """Ticks at the slice ends of a gap, before `until`, where a timer falls due."""
        step = self.slice_s
        while (due := self._next_due()) is not None:
            # Slice ends are whole multiples of the slice length, as in the Slicer; each
            # tick is at a later one, so this ends at `until`.
            at = max(math.ceil(due / step), round(self.checked / step) + 1) * step
            if at > until:
                return
            self.clock.set(at)
            self._tick(at, write=write)

    def _write(self, events: list[AlarmEvent], write: bool) -> None:
        if not events:
            return
        if not write:
            self.summary.learn_transitions_not_written += len(events)
            return
        self.emit(events)
        self._ids.update(e.alarm.id for e in events)
        self.summary.alarms_written += len(events)
        self.summary.alarm_ids = len(self._ids)


def replay(
    input: Path,
    output: Path,
    *,
    site: Site | None = None,
    learn_rows: int = 0,
    data_dir: Path | None = None,
    slice_s: float = 1.0,
    chunk_rows: int = CHUNK_ROWS,
    default_period_s: float = 10.0,
    plans: Path | None = None,
    comm_loss: bool = False,
    prepare: Callable[[Service], object] | None = None,
) -> ReplaySummary:
    """Replay a CSV of readings through a Service on a FakeClock; write alarms to `output`.

    Without `site` the CSV must be wide: its columns become generic sensors. `data_dir`
    (default: a temporary folder) must not already hold an alarm journal. `plans`: transfer
    plans as JSON lines (hazardwatch.shell.replay_plans), handed to the service as they fall due.
    `comm_loss`: judge silence as live does (COMM_LOSS after a sensor's stale time, gaps
    included); by default a gap in the data raises nothing. `prepare` is called with the
    service once it is built, before the first slice (operator actions a back-test starts
    from: a shelve, a maintenance mode).
    Bad rows never raise; a file that cannot be read at all raises ReplayInputError.
    """
    input, output = Path(input), Path(output)
    if not slice_s > 0 or not math.isfinite(slice_s):
        raise ReplayInputError(f"--slice-s must be a positive number of seconds, got {slice_s}")
    if learn_rows < 0:
        raise ReplayInputError(f"--learn-rows must be 0 or more, got {learn_rows}")
    if output.resolve() == input.resolve():
        raise ReplayInputError(f"--output {output} is the input file; give another path")
    if data_dir is not None and (Path(data_dir) / "alarms.db").exists():
        raise ReplayInputError(
            f"--data-dir {data_dir} already holds an alarm journal; a replay starts from an "
            "empty one (give an empty folder, or leave --data-dir out for a temporary one)"
        )
    summary = ReplaySummary(str(input), str(output), str(deadletter_path(output)))
    summary.comm_loss = comm_loss
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hw-replay-")))
        table = SensorTable.from_site(site) if site is not None else None
        reader = stack.enter_context(
            CsvReader(input, table.tag_index if table else {}, chunk_rows=chunk_rows)
        )
        if table is None:
            if reader.header.form is not Form.WIDE:
                raise ReplayInputError(
                    f"{input}: a long CSV (ts,tag,value) needs --config; only a wide CSV"
                    " (ts,<tag>,<tag>,...) names its sensors in its header"
                )
            reader.tag_index = {t: i for i, t in enumerate(reader.header.tags)}
        summary.form = str(reader.header.form)
        output.parent.mkdir(parents=True, exist_ok=True)
        out = stack.enter_context(open(output, "wb"))
        Path(summary.deadletter).unlink(missing_ok=True)
        dead = stack.enter_context(DeadLetter(Path(summary.deadletter)))
        chunks = _counted(reader.chunks(), summary, dead)
        first = next(chunks, None)
        if site is None:
            tags = reader.header.tags
            periods = (
                reporting_periods(first, len(tags), default_period_s)
                if first is not None
                else [default_period_s] * len(tags)
            )
            site, summary.generic = generic_site(tags, periods), True
            table = SensorTable.from_site(site)
        assert table is not None
        summary.sensors = table.n
        recorded = None
        if plans is not None:
            try:
                recorded = load_plans(Path(plans), table)
            except OSError as err:
                raise ReplayInputError(f"--plans {plans}: {err.strerror}") from None
            summary.plans, summary.plans_read = str(plans), len(recorded.items)
            summary.plans_rejected = plans_rejected(recorded)
            dead.write_all(recorded.rejections, time.time())
        drive(
            site,
            _chain(first, chunks),
            json_lines(out),
            summary,
            data_dir=Path(data_dir),
            slice_s=slice_s,
            learn_rows=learn_rows,
            plans=recorded,
            comm_loss=comm_loss,
            prepare=prepare,
            dead=dead,
        )
        summary.learn_rows = min(learn_rows, summary.rows_read)
    return summary


def json_lines(out: IO[bytes]) -> EventSink:
    """Alarm transitions written as JSON lines (`alarm_line`), the replay's output."""

    def write(events: list[AlarmEvent]) -> None:
        for e in events:
            out.write(orjson.dumps(alarm_line(e)) + b"\n")

    return write


def drive(
    site: Site,
    chunks: Iterable[Chunk],
    emit: EventSink,
    summary: ReplaySummary,
    *,
    data_dir: Path,
    slice_s: float = 1.0,
    learn_rows: int = 0,
    plans: Plans | None = None,
    comm_loss: bool = False,
    prepare: Callable[[Service], object] | None = None,
    dead: DeadLetter | None = None,
    presorted: bool = False,
    lazy_tick: bool = False,
) -> None:
    """The one replay loop: chunks of readings in arrival order, cut into slices, through a
    Service on a FakeClock built at the first slice (the CSV replay and the back-test).
    `emit` hears the alarm transitions of the replayed rows; `data_dir` holds the run's
    journal (it must hold none yet).

    A back-test's shortcuts, each giving the same transitions: `presorted` chunks are in
    time order, each (sensor, ts) once (a store's read), so they are cut into the same
    slices without sorting or duplicate checks (`sorted_slices`); with `lazy_tick` the
    tick runs only at slice ends where a timer falls due (`Tick.next_due`), and the
    changes of the slices between go through the alarm pipeline in one pass (`_Run.hold`).
    """
    table = SensorTable.from_site(site)
    slicer = Slicer(slice_s, table.tags, summary.input)
    service: Service | None = None
    run: _Run | None = None

    def started(s: Slice) -> _Run:
        nonlocal service, run
        if run is None:
            # The service starts at the first slice: sensors never heard from count as
            # seen then, as they do from the start of a live service.
            clock = FakeClock(s.start)
            # A replay starts from an empty memory, as from an empty journal.
            # Its clock is the data's time: it never lags its readings (stale_idle_s 0
            # judges silence at the clock, Service.stale_now).
            settings = Settings(
                data_dir=data_dir,
                checkpoint_interval_s=0,
                judge_silence=comm_loss,
                stale_idle_s=0.0,
            )
            service = Service(site, settings, clock=clock)
            if prepare is not None:
                prepare(service)
            run = _Run(service, clock, slice_s, learn_rows, emit, summary, plans, lazy_tick)
        return run

    try:
        if presorted:
            for s in sorted_slices(chunks, slice_s):
                started(s).run(s)
        else:
            for chunk in chunks:
                for s in slicer.feed(chunk):
                    started(s).run(s)
                _dead_letters(slicer, summary, dead)
            for s in slicer.finish():
                started(s).run(s)
            _dead_letters(slicer, summary, dead)
        if run is not None:
            run.flush()
    finally:
        if service is not None:
            service.close()
    summary.late = slicer.late


def _chain(first: Chunk | None, rest: Iterator[Chunk]) -> Iterator[Chunk]:
    if first is not None:
        yield first
        yield from rest


def _counted(chunks: Iterator[Chunk], summary: ReplaySummary, dead: DeadLetter) -> Iterator[Chunk]:
    """Count each chunk and dead-letter its rejections as it goes by."""
    for chunk in chunks:
        summary.chunks += 1
        summary.rows_read += chunk.rows
        summary.readings_read += chunk.readings
        summary.readings_accepted += chunk.accepted
        if chunk.accepted:
            lo, hi = float(chunk.ts.min()), float(chunk.ts.max())
            summary.first_ts = lo if summary.first_ts is None else min(lo, summary.first_ts)
            summary.last_ts = hi if summary.last_ts is None else max(hi, summary.last_ts)
        if chunk.rejections:
            received = time.time()
            for r in chunk.rejections:
                summary.rejected[str(r.reason)] += 1
            dead.write_all(chunk.rejections, received)
        yield chunk


def _dead_letters(slicer: Slicer, summary: ReplaySummary, dead: DeadLetter | None) -> None:
    """Duplicates found while slicing: rejected after they were counted as accepted."""
    if slicer.duplicates and dead is not None:
        for r in slicer.duplicates:
            summary.rejected[str(r.reason)] += 1
        summary.readings_accepted -= len(slicer.duplicates)
        dead.write_all(slicer.duplicates, time.time())
        slicer.duplicates.clear()
