"""How does HazardWatch do on SKAB, a labelled multivariate data set of a real industrial rig?

SKAB (Skoltech Anomaly Benchmark, github.com/waico/SKAB) records a water-circulation test
bed (pump motor vibration, current, voltage, temperatures, pressure, flow) at 1 Hz through
experiments that each contain one labelled anomaly (valves closed, a cavitating pump, a
leak...). Its own protocol: in each file the first 400 rows are training, the rest testing;
every test row is a point to classify (column `anomaly`), and the published outlier
leaderboard scores F1, FAR (false alarm rate: false positives over all normal rows, %) and
MAR (missing alarm rate: false negatives over all anomalous rows, %) over the test rows of
all files together.

Each file becomes a wide CSV (`ts,<column>...`) and goes through the real replay path
(`hazardwatch.shell.replay.replay`, no site config: one unit of generic sensors), with
`learn_rows` = the 400 training rows. A test row counts as flagged while any alarm but
COMM_LOSS is active at its time. Beside HazardWatch, in the same run, a baseline written
here: per sensor, the 5-row rolling median's distance from the training median in units
of the training MAD (x 1.4826), a row flagged when any sensor is beyond 3.5 (the usual
cut of the modified z-score). No asserts: it reports.

    python benchmarks/skab.py --skab PATH [--files valve1/0.csv ...] [--keep DIR]

PATH is a clone of github.com/waico/SKAB (its data/ folder is read); nothing of SKAB is kept
in this repository.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.tables import render
from hazardwatch.shell.replay import replay

TRAIN_ROWS = 400  # SKAB's split: the first 400 rows of each file
NOT_A_DETECTION = frozenset({"comm_loss"})
MEDIAN_ROWS, Z_CUT = 5, 3.5  # the baseline's rolling median and modified z-score cut


@dataclass
class Experiment:
    """One SKAB file: its sensors' values (rows, columns), epoch seconds and labels."""

    name: str
    columns: list[str]
    ts: np.ndarray
    values: np.ndarray
    anomaly: np.ndarray  # bool per row


@dataclass
class Confusion:
    """Counts of a binary classification of test rows."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, truth: np.ndarray, flagged: np.ndarray) -> None:
        self.tp += int(np.count_nonzero(truth & flagged))
        self.fp += int(np.count_nonzero(~truth & flagged))
        self.fn += int(np.count_nonzero(truth & ~flagged))
        self.tn += int(np.count_nonzero(~truth & ~flagged))

    def scores(self) -> tuple[float, float, float]:
        """F1, FAR %, MAR %.

        >>> [round(x, 2) for x in Confusion(tp=3, fp=1, fn=1, tn=5).scores()]
        [0.75, 16.67, 25.0]
        """
        f1 = 2 * self.tp / max(2 * self.tp + self.fp + self.fn, 1)
        far = 100.0 * self.fp / max(self.fp + self.tn, 1)
        mar = 100.0 * self.fn / max(self.fn + self.tp, 1)
        return f1, far, mar


@dataclass
class Run:
    """HazardWatch and the baseline on one file."""

    name: str
    rows: int
    ours: Confusion = field(default_factory=Confusion)
    baseline: Confusion = field(default_factory=Confusion)
    activations: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


def tag_of(column: str) -> str:
    """A column name as a tag: letters, digits and underscores.

    >>> tag_of("Volume Flow RateRMS")
    'Volume_Flow_RateRMS'
    """
    return re.sub(r"[^A-Za-z0-9_]+", "_", column).strip("_")


def read_experiment(path: Path, name: str) -> Experiment:
    """A SKAB file (`;`-separated, `datetime` first, `anomaly` and `changepoint` last)."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    header, body = rows[0], [r for r in rows[1:] if r]
    sensors = [c for c in header[1:] if c not in ("anomaly", "changepoint")]
    at = [header.index(c) for c in sensors]
    ts = np.array(
        [datetime.fromisoformat(r[0]).replace(tzinfo=UTC).timestamp() for r in body], np.float64
    )
    values = np.array([[float(r[i]) for i in at] for r in body], np.float64)
    anomaly = np.array([float(r[header.index("anomaly")]) > 0 for r in body], bool)
    return Experiment(name, [tag_of(c) for c in sensors], ts, values, anomaly)


def experiments(root: Path) -> list[str]:
    """The labelled files under data/ (not the anomaly-free one), sorted."""
    data = root / "data"
    if not data.is_dir():
        raise SystemExit(f"skab: {data} is not a folder: give a clone of github.com/waico/SKAB")
    names = sorted(str(p.relative_to(data)) for p in data.rglob("*.csv"))
    return [n for n in names if not n.startswith("anomaly-free")]


def write_wide_csv(e: Experiment, path: Path) -> None:
    with open(path, "w", newline="") as f:
        f.write("ts," + ",".join(e.columns) + "\n")
        for t, row in zip(e.ts.tolist(), e.values.tolist(), strict=True):
            f.write(f"{t}," + ",".join(repr(v) for v in row) + "\n")


def flagged_rows(
    alarms: Path, ts: np.ndarray, ignore: frozenset[str]
) -> tuple[np.ndarray, Counter[str]]:
    """Per row, whether an alarm (not in `ignore`) was active at its time; activations per
    condition. An alarm is active from its activation's ts until its clear's (exclusive)."""
    per: Counter[str] = Counter()
    began: dict[tuple[int, str], float] = {}
    spans: list[tuple[float, float]] = []
    for line in alarms.read_text().splitlines():
        x = json.loads(line)
        key = (x["alarm_id"], x["condition"])
        if x["condition"] in ignore:
            continue
        if x["event"] == "activate":
            per[x["condition"]] += 1
            began.setdefault(key, x["ts"])
        elif x["event"] == "clear" and key in began:
            spans.append((began.pop(key), x["ts"]))
    spans += [(t, np.inf) for t in began.values()]  # still active at the end
    out = np.zeros(ts.size, bool)
    for lo, hi in spans:
        out |= (ts >= lo) & (ts < hi)
    return out, per


def baseline_flags(e: Experiment, train: int) -> np.ndarray:
    """The robust z-score baseline: any sensor's rolling median beyond Z_CUT MADs."""
    fit = e.values[:train]
    median = np.median(fit, axis=0)
    mad = 1.4826 * np.median(np.abs(fit - median), axis=0)
    mad = np.where(mad > 0, mad, np.abs(median) * 1e-6 + 1e-12)
    n = e.values.shape[0]
    rolled = np.empty_like(e.values)
    for k in range(n):  # trailing window: the rows seen so far
        rolled[k] = np.median(e.values[max(0, k - MEDIAN_ROWS + 1) : k + 1], axis=0)
    return (np.abs(rolled - median) / mad > Z_CUT).any(axis=1)


def run_file(root: Path, name: str, work: Path, train: int) -> Run:
    began = time.perf_counter()
    e = read_experiment(root / "data" / name, name)
    stem = name.replace("/", "__").removesuffix(".csv")
    wide, out = work / f"{stem}.csv", work / f"{stem}.alarms.jsonl"
    write_wide_csv(e, wide)
    replay(wide, out, learn_rows=train)
    ours, per = flagged_rows(out, e.ts, NOT_A_DETECTION)
    run = Run(name, e.ts.size, activations=per)
    test = slice(train, None)
    run.ours.add(e.anomaly[test], ours[test])
    run.baseline.add(e.anomaly[test], baseline_flags(e, train)[test])
    run.seconds = time.perf_counter() - began
    return run


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skab", type=Path, required=True, help="a clone of SKAB")
    ap.add_argument("--files", nargs="*", default=None, help="under data/, e.g. valve1/0.csv")
    ap.add_argument("--train", type=int, default=TRAIN_ROWS, help="training rows per file")
    ap.add_argument("--keep", type=Path, default=None, help="keep wide CSVs and alarms here")
    ap.add_argument("--markdown", action="store_true", help="the totals as markdown too")
    args = ap.parse_args(argv)
    began = time.perf_counter()
    names = args.files or experiments(args.skab)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="hw-skab-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for n in names:
            runs.append(run_file(args.skab, n, work, args.train))
            print(f"  {n}: {runs[-1].rows} rows in {runs[-1].seconds:.1f} s", file=sys.stderr)
    rows = []
    for r in runs:
        f1, far, mar = r.ours.scores()
        bf1, bfar, bmar = r.baseline.scores()
        alarms = ", ".join(f"{c} {k}" for c, k in r.activations.most_common()) or "-"
        rows.append([r.name, str(r.rows), f"{f1:.2f}", f"{far:.1f}", f"{mar:.1f}",
                     f"{bf1:.2f}", f"{bfar:.1f}", f"{bmar:.1f}", alarms])  # fmt: skip
    print("SKAB, test rows of each file (HazardWatch | robust z-score baseline)")
    print(render(("file", "rows", "F1", "FAR %", "MAR %", "base F1", "base FAR", "base MAR",
                  "alarms by condition"), rows))  # fmt: skip
    ours, base = Confusion(), Confusion()
    for r in runs:
        for mine, theirs in ((ours, r.ours), (base, r.baseline)):
            mine.tp, mine.fp = mine.tp + theirs.tp, mine.fp + theirs.fp
            mine.fn, mine.tn = mine.fn + theirs.fn, mine.tn + theirs.tn
    baseline = f"robust z-score, {MEDIAN_ROWS}-row median, cut {Z_CUT}"
    totals = []
    for label, c in (("HazardWatch (this commit)", ours), (baseline, base)):
        f1, far, mar = c.scores()
        totals.append([label, f"{f1:.2f}", f"{far:.1f}", f"{mar:.1f}"])
    print(f"\nAll {len(runs)} files together (SKAB's outlier scores)")
    print(render(("detector", "F1", "FAR %", "MAR %"), totals))
    if args.markdown:
        print()
        print(render(("detector", "F1", "FAR %", "MAR %"), totals, markdown=True))
    print(f"\nelapsed {time.perf_counter() - began:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
