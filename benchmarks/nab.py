"""How does HazardWatch score on the Numenta Anomaly Benchmark, against the published detectors?

Each NAB series (timestamp,value) becomes a wide CSV (`ts,<tag>`) in a temporary folder and
goes through the real replay path (`hazardwatch.shell.replay.replay`, no site config: one generic
sensor), with `learn_rows` = NAB's probationary length and no COMM_LOSS for the series'
holes (replay's default). A row where HazardWatch raised an alarm of any condition but
COMM_LOSS is a detection; detections are scored by NAB's rules (benchmarks.nab_score):
windows, scaled sigmoid, the three profiles, normalised against the null and perfect
detectors. Beside our totals: the published detectors' scores on the same files, computed
by the same scorer from their results/<detector>/ files thresholded at their own thresholds
(config/thresholds.json), and for the whole corpus NAB's own results/final_results.json.
No asserts: it reports.

    python benchmarks/nab.py --nab PATH [--corpus physical|all] [--files NAME ...]
        [--profile standard|reward_low_FP_rate|reward_low_FN_rate] [--keep DIR]

PATH is a clone or extract of github.com/numenta/NAB (data/, labels/, config/, results/);
nothing of NAB is kept in this repository.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.nab_corpus import PHYSICAL, Corpus, CorpusError, write_wide_csv
from benchmarks.nab_score import PROFILES, FileScore, probation_rows, score_file, total
from benchmarks.tables import render
from hazardwatch.shell.replay import replay

NOT_A_DETECTION = frozenset({"comm_loss"})


@dataclass
class FileRun:
    """HazardWatch on one NAB file: its alarms and their scores per profile."""

    name: str
    rows: int
    learn_rows: int
    activations: Counter[str] = field(default_factory=Counter)  # per condition, all of them
    detected_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    scores: dict[str, FileScore] = field(default_factory=dict)
    seconds: float = 0.0


def tag_of(name: str) -> str:
    """The column name a series gets: its file name without folder and suffix.

    >>> tag_of("realTraffic/speed_7578.csv")
    'speed_7578'
    """
    return Path(name).stem


def detections(
    alarms: Path, epoch_s: np.ndarray, ignore: frozenset[str] = NOT_A_DETECTION
) -> tuple[np.ndarray, Counter[str]]:
    """Rows where an alarm was raised, and the activations per condition. Conditions in
    `ignore` (COMM_LOSS) are counted but are no detection.

    An alarm's row is the reading it was raised on: the first row holding the latest
    timestamp at or before the alarm's time (a repeated timestamp is a duplicate replay
    rejects, so the first row is the one the detector judged).
    """
    per: Counter[str] = Counter()
    at: list[float] = []
    for line in alarms.read_text().splitlines():
        x = json.loads(line)
        if x["event"] != "activate":
            continue
        per[x["condition"]] += 1
        if x["condition"] not in ignore:
            at.append(x["ts"])
    times, first = np.unique(epoch_s, return_index=True)
    k = np.searchsorted(times, np.asarray(at, dtype=np.float64), side="right") - 1
    return np.unique(first[np.clip(k, 0, len(times) - 1)]), per


def run_file(corpus: Corpus, name: str, work: Path, comm_loss: bool = False) -> FileRun:
    """Replay one series through HazardWatch and score what it raised. `comm_loss`: replay
    judging silence as live and count COMM_LOSS as a detection (as issue 12 measured)."""
    began = time.perf_counter()
    series = corpus.series(name)
    n = len(series.values)
    learn = probation_rows(n)
    stem = name.replace("/", "__").removesuffix(".csv")
    wide, out = work / f"{stem}.csv", work / f"{stem}.alarms.jsonl"
    write_wide_csv(series, wide, tag_of(name))
    replay(wide, out, learn_rows=learn, comm_loss=comm_loss)
    rows, per = detections(out, series.epoch_s, frozenset() if comm_loss else NOT_A_DETECTION)
    run = FileRun(name, n, learn, per, rows)
    windows = corpus.window_rows(name, series.ts)
    for p in PROFILES:
        run.scores[p] = score_file(n, windows, rows, corpus.profiles[p])
    run.seconds = time.perf_counter() - began
    return run


# ------------------------------------------------------------------ tables


def file_rows(runs: list[FileRun], profile: str) -> list[list[str]]:
    out = []
    for r in runs:
        s = r.scores[profile]
        conditions = Counter({c: n for c, n in r.activations.items() if c not in NOT_A_DETECTION})
        out.append(
            [
                r.name,
                str(r.rows),
                str(r.learn_rows),
                str(r.detected_rows.size),
                f"{s.found}/{s.windows}",
                str(s.false),
                f"{s.raw:.2f}",
                f"{total([s]):.1f}" if s.windows else "-",  # no window: nothing to normalise
                ", ".join(f"{c} {n}" for c, n in conditions.most_common()) or "-",
                str(r.activations.get("comm_loss", 0)),
                f"{r.seconds:.1f}",
            ]
        )
    return out


FILE_COLUMNS = (
    "file", "rows", "learn", "alarm rows", "windows found", "FP", "raw", "norm",
    "alarms by condition", "comm_loss", "s",
)  # fmt: skip


def totals(
    corpus: Corpus, runs: list[FileRun], names: Sequence[str], label: str
) -> list[list[str]]:
    """Normalised scores of every detector on `names`, HazardWatch first, best first after;
    on the whole corpus, NAB's own published figures (final_results.json) beside them."""
    whole = set(names) == set(corpus.files)
    published = corpus.final_results() if whole else {}
    ours = {r.name: r for r in runs}
    rows = [
        [f"HazardWatch ({label})"]
        + [f"{total(ours[n].scores[p] for n in names):.1f}" for p in PROFILES]
        + (["-"] * len(PROFILES) if whole else [])
    ]
    theirs = []
    for d in corpus.detectors():
        by = corpus.published(d, names, PROFILES)
        final = [published.get(d, {}).get(p) for p in PROFILES] if whole else []
        theirs.append(
            [d]
            + [f"{total(by[p]):.1f}" for p in PROFILES]
            + ["-" if x is None else f"{x:.1f}" for x in final]
        )
    theirs.sort(key=lambda r: -float(r[1]))
    return rows + theirs


def total_columns(whole: bool) -> tuple[str, ...]:
    published = tuple(f"{p} (final_results.json)" for p in PROFILES) if whole else ()
    return ("detector", *PROFILES, *published)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nab", type=Path, required=True, help="a clone or extract of NAB")
    ap.add_argument("--corpus", choices=("physical", "all"), default="physical")
    ap.add_argument("--files", nargs="*", default=None, help="data files, e.g. realTraffic/x.csv")
    ap.add_argument("--profile", choices=PROFILES, default="standard", help="per-file scores")
    ap.add_argument("--keep", type=Path, default=None, help="keep wide CSVs and alarms here")
    ap.add_argument("--markdown", action="store_true", help="the tables as markdown too")
    ap.add_argument(
        "--comm-loss",
        action="store_true",
        help="replay with --comm-loss and count COMM_LOSS as a detection (how issue 12"
        " measured, before replay took a gap for a gap)",
    )
    args = ap.parse_args(argv)
    began = time.perf_counter()
    try:
        corpus = Corpus.at(args.nab)
        names = args.files or (corpus.files if args.corpus == "all" else list(PHYSICAL))
        for n in names:
            corpus.series(n)  # fail before the long runs
    except CorpusError as exc:
        print(f"nab: {exc}", file=sys.stderr)
        return 2
    runs: list[FileRun] = []
    with tempfile.TemporaryDirectory(prefix="hw-nab-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for n in names:
            runs.append(run_file(corpus, n, work, args.comm_loss))
            print(f"  {n}: {runs[-1].rows} rows in {runs[-1].seconds:.1f} s", file=sys.stderr)
    print(f"HazardWatch on NAB, per file ({args.profile} profile; 'norm': this file alone)")
    print(render(FILE_COLUMNS, file_rows(runs, args.profile)))
    groups = []
    physical = [n for n in PHYSICAL if n in names]
    if len(physical) == len(PHYSICAL):
        groups.append(("the 7 physical-sensor files", physical))
    if set(names) == set(corpus.files):
        groups.append(("the whole corpus", names))
    elif not groups or set(names) != set(physical):
        groups.append((f"these {len(names)} files", names))
    for label, group in groups:
        rows = totals(corpus, runs, group, "COMM_LOSS counted" if args.comm_loss else "this commit")
        print()
        print(f"Normalised NAB scores on {label} (null 0, perfect 100)")
        columns = total_columns(set(group) == set(corpus.files))
        print(render(columns, rows))
        if args.markdown:
            print()
            print(render(columns, rows, markdown=True))
    print(f"\nelapsed {time.perf_counter() - began:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
