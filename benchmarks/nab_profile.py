"""Where HazardWatch loses NAB points: per window, how early the first detection landed and
by which condition; per false detection, its condition and cost.

Reads the alarms a run of benchmarks/nab.py kept (`--keep DIR`) and the NAB checkout:

    python benchmarks/nab.py --nab PATH --corpus all --keep DIR
    python benchmarks/nab_profile.py --nab PATH --keep DIR [--files NAME ...] [--detail]

The summary splits the standard profile's shortfall from perfect into windows missed, hits
late in their window (perfect reward less the reward earned) and false detections by
condition. No asserts: it reports.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.nab_corpus import Corpus
from benchmarks.nab_score import probation_rows, row_scores


def _stem(name: str) -> str:
    """The name nab.py kept a file's alarms under (without `.alarms.jsonl`)."""
    return name.replace("/", "__").removesuffix(".csv")


def activations(alarms: Path, epoch_s: np.ndarray) -> list[tuple[int, str]]:
    """(row, condition) of each activation but COMM_LOSS, in file order (as nab.detections
    places them)."""
    times, first = np.unique(epoch_s, return_index=True)
    out = []
    for line in alarms.read_text().splitlines():
        x = json.loads(line)
        if x["event"] != "activate" or x["condition"] == "comm_loss":
            continue
        k = int(np.searchsorted(times, x["ts"], side="right")) - 1
        out.append((int(first[min(max(k, 0), len(times) - 1)]), x["condition"]))
    return sorted(out)


def profile_file(corpus: Corpus, name: str, keep: Path, detail: bool) -> dict[str, float]:
    """Print one file's windows and false detections; return its losses by cause."""
    series = corpus.series(name)
    n = len(series.values)
    acts = activations(keep / f"{_stem(name)}.alarms.jsonl", series.epoch_s)
    first = probation_rows(n)
    acts = [(r, c) for r, c in acts if r >= first]
    windows = corpus.window_rows(name, series.ts)
    prof = corpus.profiles["standard"]
    per_row = row_scores(n, windows, prof)
    loss: dict[str, float] = defaultdict(float)
    inside = np.zeros(n, bool)
    lines = []
    for a, b in windows:
        if b < first:
            continue
        inside[a : b + 1] = True
        hits = [(r, c) for r, c in acts if a <= r <= b]
        if hits:
            r, c = hits[0]
            got = float(per_row[r])
            loss["late"] += prof.tp_weight - got
            at = (r - a) / (b - a + 1)
            lines.append(f"    window {a}-{b}: hit at {at:.2f} of it by {c}, {got:.2f}")
        else:
            loss["missed"] += prof.tp_weight + prof.fn_weight
            lines.append(f"    window {a}-{b}: missed")
    rows_seen = set()
    for r, c in acts:
        if inside[r] or r in rows_seen:
            continue
        rows_seen.add(r)
        loss[f"fp {c}"] += -float(per_row[r])
        lines.append(f"    FP row {r} {c} {-float(per_row[r]):.3f}")
    if detail:
        print(name)
        print("\n".join(lines))
    return loss


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nab", type=Path, required=True)
    ap.add_argument("--keep", type=Path, required=True, help="the alarms nab.py kept")
    ap.add_argument("--files", nargs="*", default=None)
    ap.add_argument("--detail", action="store_true", help="every window and false detection")
    args = ap.parse_args(argv)
    corpus = Corpus.at(args.nab)
    kept = [n for n in corpus.files if (args.keep / _stem(n)).with_suffix(".alarms.jsonl").exists()]
    names = args.files or kept  # by default: every file the run kept
    losses: Counter[str] = Counter()
    for name in names:
        for k, v in profile_file(corpus, name, args.keep, args.detail).items():
            losses[k] += v
    print("standard profile: raw points lost against perfect, by cause")
    for k, v in losses.most_common():
        print(f"  {k:16s} {v:7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
