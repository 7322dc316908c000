"""The detector's memory across a restart (detectors.checkpoint), on real files and detectors."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from benchmarks.bench_detector import T0 as BENCH_T0
from benchmarks.bench_detector import batches, park
from detectors import CheckpointError, Detector, State, checkpoint
from hazardwatch.vocabulary.model import Batch, Condition, Limits, SensorTable
from tests.unit.test_detectors import T0, sensor, table
from tests.unit.test_trend_checks import of, run, with_

C = Condition
START = T0 + 3600.0  # the restart, an hour after the readings below


def warmed(n: int, steps: int) -> tuple[Detector, SensorTable]:
    """A mixed park with every check on after `steps` noisy rounds of every sensor."""
    t = park(n)
    det = Detector(t, BENCH_T0)
    for batch in batches(n, steps):
        det.step(batch)
    return det, t


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("steps", [120, 121])
def test_every_memory_array_round_trips_bit_for_bit(tmp_path: Path, steps: int) -> None:
    det, t = warmed(40, steps)
    info = checkpoint.save(det, tmp_path / "d.npz", t.tags, now=T0 + 500)
    assert (info.rows, info.saved_at) == (40, T0 + 500) and info.nbytes > 40 * 1000
    again = Detector(t, START)
    got = checkpoint.load(again, tmp_path / "d.npz", t.tags)
    assert (got.restored, got.fresh, got.dropped, got.changed) == (40, 0, 0, 0)
    assert got.saved_at == T0 + 500
    fresh = Detector(t, START).state
    for f in fields(State):
        old, new = getattr(det.state, f.name), getattr(again.state, f.name)
        if f.name in checkpoint.NOT_MEMORY:
            assert same(new, getattr(fresh, f.name)), f.name
        else:
            assert same(old, new), f.name
    assert np.isfinite(det.state.ring_ts).any() and det.state.warm.any()  # really warmed


def test_rows_follow_their_tags_and_a_changed_memory_setting_starts_fresh(
    tmp_path: Path,
) -> None:
    window = with_(rate_window_s=300.0, baseline_warmup_n=5, drift_h_sigma=8.0)
    old = table(sensor("A", trend=window), sensor("B", trend=window), sensor("C", trend=window))
    det = Detector(old, T0)
    for k in range(30):
        det.step(Batch.of([0, 1, 2], [T0 + 10 * k] * 3, [50 + k % 3, 40 + k % 2, 30 + k % 4]))
    checkpoint.save(det, tmp_path / "d.npz", old.tags)

    # B removed, D added, C's window changed, A's limits changed (they only judge memory),
    # and another order.
    new = table(
        sensor("D", trend=window),
        sensor("C", trend=with_(rate_window_s=600.0, baseline_warmup_n=5, drift_h_sigma=8.0)),
        sensor("A", limits=Limits(hh=95.0, h=85.0, l=5.0, ll=2.0), trend=window),
    )
    again = Detector(new, START)
    info = checkpoint.load(again, tmp_path / "d.npz", new.tags)
    assert (info.restored, info.fresh, info.changed, info.dropped) == (1, 2, 1, 1)
    fresh = Detector(new, START).state
    for name in checkpoint.memory_fields():
        a, b, f = getattr(det.state, name), getattr(again.state, name), getattr(fresh, name)
        assert same(b[..., 2], a[..., 0]), name  # A, from its old row
        assert same(b[..., :2], f[..., :2]), name  # D and C, fresh
    assert again.state.base_n[2] == 30 and again.state.base_n[1] == 0


def test_another_ring_size_or_version_restores_nothing(tmp_path: Path) -> None:
    det, t = warmed(8, 20)
    path = tmp_path / "d.npz"
    checkpoint.save(det, path, t.tags)
    small = Detector(t, START, ring_size=32)
    info = checkpoint.load(small, path, t.tags)
    assert (info.restored, info.fresh) == (0, 8) and "ring size 64" in info.note
    assert np.isnan(small.state.ring_ts).all()

    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["version"] = np.array(checkpoint.VERSION + 1)
    np.savez(path, **arrays)
    info = checkpoint.load(Detector(t, START), path, t.tags)
    assert info.restored == 0 and "version" in info.note


def test_a_missing_file_restores_nothing(tmp_path: Path) -> None:
    det = Detector(table(sensor()), START)
    info = checkpoint.load(det, tmp_path / "none.npz", ("LT-1",))
    assert (info.restored, info.fresh, info.note) == (0, 1, "no checkpoint")


def test_a_truncated_or_foreign_file_raises_naming_it(tmp_path: Path) -> None:
    det, t = warmed(8, 20)
    path = tmp_path / "d.npz"
    checkpoint.save(det, path, t.tags)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"d\.npz: unreadable \(BadZipFile"):
        checkpoint.load(Detector(t, START), path, t.tags)

    foreign = tmp_path / "other.npz"
    np.savez(foreign, x=np.arange(3))
    with pytest.raises(CheckpointError, match=r"other\.npz: not a detector checkpoint"):
        checkpoint.load(Detector(t, START), foreign, t.tags)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match=r"notes\.txt: unreadable"):
        checkpoint.load(Detector(t, START), text, t.tags)


def test_an_array_of_another_layout_raises_and_an_absent_one_starts_fresh(
    tmp_path: Path,
) -> None:
    det, t = warmed(8, 20)
    path = tmp_path / "d.npz"
    checkpoint.save(det, path, t.tags)
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    noise = arrays.pop("state.noise")  # a checkpoint from before `noise` was memory
    np.savez(path, **arrays)
    again = Detector(t, START)
    assert checkpoint.load(again, path, t.tags).restored == 8
    assert np.isnan(again.state.noise).all() and same(again.state.sums, det.state.sums)

    arrays["state.noise"] = noise.astype(np.float32)
    np.savez(path, **arrays)
    with pytest.raises(CheckpointError, match=r"noise: float32\(8,\), expected float64"):
        checkpoint.load(Detector(t, START), path, t.tags)


def test_a_crash_before_the_rename_leaves_the_old_checkpoint_readable(tmp_path: Path) -> None:
    det, t = warmed(8, 20)
    path = tmp_path / "d.npz"
    checkpoint.save(det, path, t.tags, now=T0 + 1)
    # The next save died after writing half its temporary file.
    (tmp_path / "d.npz.tmp").write_bytes(path.read_bytes()[:1000])
    info = checkpoint.load(Detector(t, START), path, t.tags)
    assert (info.restored, info.saved_at) == (8, T0 + 1)
    checkpoint.save(det, path, t.tags, now=T0 + 2)  # the next save replaces the leftover
    assert not (tmp_path / "d.npz.tmp").exists()
    assert checkpoint.load(Detector(t, START), path, t.tags).saved_at == T0 + 2


def test_staleness_counts_from_the_restart_and_old_readings_are_not_learned_twice(
    tmp_path: Path,
) -> None:
    t = table(sensor(trend=with_(baseline_warmup_n=5, drift_h_sigma=8.0)))  # stale after 30 s
    det = Detector(t, T0)
    run(det, [(10.0 * k, 50.0 + k % 2) for k in range(20)])  # last reading at T0 + 190
    checkpoint.save(det, tmp_path / "d.npz", t.tags)
    again = Detector(t, START)
    checkpoint.load(again, tmp_path / "d.npz", t.tags)
    assert again.check_stale(START + 10) == []  # the whole park is not lost at once
    assert [c.condition for c in again.check_stale(START + 31)] == [C.COMM_LOSS]
    base_n = again.state.base_n[0]
    again.step(Batch.of([0], [T0 + 180], [50.0]))  # redelivered, already in the memory
    assert again.stats["out_of_order"] == 1 and again.state.base_n[0] == base_n
    again.step(Batch.of([0], [T0 + 200], [50.0]))  # newer than the checkpoint: applies
    assert again.state.base_n[0] == base_n + 1


DRIFTING = with_(drift_h_sigma=4.0, drift_k_sigma=0.5, baseline_warmup_n=20, rate_window_s=60.0)


def test_a_restored_drift_with_restored_sums_is_held_then_clears_by_the_rules(
    tmp_path: Path,
) -> None:
    t = table(sensor(trend=DRIFTING))
    det = Detector(t, T0)
    run(det, [(k, 50.0 + (k % 2)) for k in range(20)])  # sigma 0.5
    assert [(c.condition, c.active) for c in run(det, [(20 + k, 52.0) for k in range(10)])] == [
        (C.DRIFT, True)
    ]
    checkpoint.save(det, tmp_path / "d.npz", t.tags)

    journal = Detector(t, START)  # the journal says DRIFT is active
    checkpoint.load(journal, tmp_path / "d.npz", t.tags)
    journal.restore([(0, C.DRIFT)])
    assert run(journal, [(30 + k, 52.0) for k in range(10)]) == []  # held, not raised again
    got = run(journal, [(40 + k, 50.5) for k in range(400)])
    assert [(c.condition, c.active) for c in got] == [(C.DRIFT, False)]
    assert got[0].ts >= T0 + 40 + 300  # the off-delay counts from after the restart

    cleared = Detector(t, START)  # DRIFT cleared after the checkpoint: the sums raise it again
    checkpoint.load(cleared, tmp_path / "d.npz", t.tags)
    assert [(c.condition, c.active) for c in run(cleared, [(30, 52.0)])] == [(C.DRIFT, True)]


@pytest.mark.parametrize(
    ("condition", "trend", "series"),
    [
        # A slow creep 600 s after a calm start: DRIFT long before any limit.
        (
            C.DRIFT,
            with_(drift_h_sigma=8.0, drift_k_sigma=0.5, baseline_warmup_n=50),
            [(10.0 * k, 50.0 + 0.02 * max(k - 60, 0)) for k in range(400)],
        ),
        # A fill at 0.6 %/min: PREDICT_HH half an hour before HH (90).
        (
            C.PREDICT_HH,
            with_(rate_window_s=300.0, horizon_s=1800.0),
            [(10.0 * k, 50.0 + 0.01 * 10.0 * k) for k in range(400)],
        ),
    ],
)
def test_a_restored_detector_warns_at_the_same_reading_as_the_original(
    tmp_path: Path, condition: Condition, trend: object, series: list[tuple[float, float]]
) -> None:
    rng = np.random.default_rng(7)
    series = [(dt, v + rng.normal(0.0, 0.1)) for dt, v in series]
    t = table(sensor(trend=trend))  # type: ignore[arg-type]
    original = Detector(t, T0)
    changes = run(original, series)
    first = of(changes, condition)[0]
    cut = next(i for i, (dt, _) in enumerate(series) if T0 + dt >= first.ts - 60.0)

    before = Detector(t, T0)
    assert of(run(before, series[:cut]), condition) == []
    checkpoint.save(before, tmp_path / "d.npz", t.tags)
    restored = Detector(t, T0 + series[cut][0])
    checkpoint.load(restored, tmp_path / "d.npz", t.tags)
    again = of(run(restored, series[cut:]), condition)[0]
    assert (again.ts, again.value, again.active) == (first.ts, first.value, True)

    fresh = Detector(t, T0 + series[cut][0])
    raised = of(run(fresh, series[cut:]), condition)
    assert not raised or raised[0].ts > first.ts  # blind for a while without the memory


def test_a_failed_write_leaves_no_temporary_file_behind(tmp_path: Path) -> None:
    det, t = warmed(8, 5)
    path = tmp_path / "d.npz"
    path.mkdir()  # the rename fails: a directory cannot be replaced by a file
    with pytest.raises(OSError):
        checkpoint.save(det, path, t.tags)
    assert path.is_dir() and not (tmp_path / "d.npz.tmp").exists()


LEARNED = ("learn_n", "noise_level", "usual_rate", "seen_res", "still_max", "pace_max", "moves",
           "anchor_pace", "step_max", "step_ts")  # fmt: skip


def test_the_learned_statistics_are_saved_and_a_checkpoint_without_them_still_loads(
    tmp_path: Path,
) -> None:
    det, t = warmed(8, 60)
    path = tmp_path / "d.npz"
    checkpoint.save(det, path, t.tags)
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    assert all(np.array_equal(arrays[f"state.{k}"], getattr(det.state, k)) for k in LEARNED)
    assert (det.state.learn_n > 0).all() and np.isfinite(det.state.seen_res).all()
    for k in LEARNED:  # a checkpoint written before the detector learned these
        del arrays[f"state.{k}"]
    np.savez(path, **arrays)
    again = Detector(t, START)
    assert checkpoint.load(again, path, t.tags).restored == 8
    fresh = Detector(t, START).state
    assert all(same(getattr(again.state, k), getattr(fresh, k)) for k in LEARNED)
    assert same(again.state.noise, det.state.noise) and same(again.state.sums, det.state.sums)
