"""A local copy of the Numenta Anomaly Benchmark, read where the user keeps it.

Nothing of NAB is in this repository: `Corpus.at(path)` reads a checkout (or an extract)
of github.com/numenta/NAB holding `data/`, `labels/combined_windows.json`,
`config/profiles.json` and, for the published detectors, `config/thresholds.json`,
`results/<detector>/` and `results/final_results.json`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.nab_score import FileScore, Profile, load_profiles, score_file, window_rows

# The series of physical sensors: machine and ambient temperature, road occupancy and speed.
PHYSICAL = (
    "realKnownCause/machine_temperature_system_failure.csv",
    "realKnownCause/ambient_temperature_system_failure.csv",
    "realTraffic/occupancy_6005.csv",
    "realTraffic/occupancy_t4013.csv",
    "realTraffic/speed_6005.csv",
    "realTraffic/speed_7578.csv",
    "realTraffic/speed_t4013.csv",
)


class CorpusError(Exception):
    """The path given is not a NAB corpus, or lacks a file asked for."""


@dataclass(frozen=True)
class Series:
    """One NAB data file: its timestamps (UTC, as NAB reads them) and values as written."""

    name: str  # relative to data/, e.g. realTraffic/speed_7578.csv
    ts: np.ndarray  # datetime64[s]
    values: list[str]

    @property
    def epoch_s(self) -> np.ndarray:
        return self.ts.astype(np.int64)


def read_series(path: Path, name: str = "") -> Series:
    """A NAB data file (`timestamp,value`, naive timestamps that NAB treats as UTC).

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "s.csv"
    >>> _ = p.write_text("timestamp,value\\n2014-04-01 00:00:00,1.5\\n2014-04-01 00:05:00,2\\n")
    >>> s = read_series(p)
    >>> s.epoch_s.tolist(), s.values
    ([1396310400, 1396310700], ['1.5', '2'])
    """
    with open(path, newline="") as f:
        rows = csv.reader(f)
        header = [h.strip().lower() for h in next(rows, [])]
        if header[:2] != ["timestamp", "value"]:
            raise CorpusError(f"{path}: expected a header timestamp,value, got {header}")
        body = [r for r in rows if r]
    # Kept as recorded: a few files repeat a timestamp or an hour (clock changes); replay
    # rejects the repeats as it would live, and NAB still scores them as rows.
    ts = np.array([r[0].strip().replace(" ", "T") for r in body], dtype="datetime64[s]")
    return Series(name or path.name, ts, [r[1].strip() for r in body])


def write_wide_csv(series: Series, path: Path, tag: str) -> int:
    """The series as a wide CSV for `hazardwatch replay` (`ts,<tag>`, epoch seconds).

    Returns the rows written; the values are copied as written, nothing is resampled, so a
    hole in the series stays a hole.
    """
    with open(path, "w", newline="") as f:
        f.write(f"ts,{tag}\n")
        for t, v in zip(series.epoch_s.tolist(), series.values, strict=True):
            f.write(f"{t},{v}\n")
    return len(series.values)


@dataclass(frozen=True)
class Corpus:
    """The parts of a NAB checkout the benchmark reads."""

    root: Path
    windows: dict[str, list[list[str]]]
    profiles: dict[str, Profile]
    thresholds: dict[str, dict[str, dict[str, float]]]  # detector -> profile -> threshold

    @classmethod
    def at(cls, root: Path) -> Corpus:
        root = Path(root)
        need = [root / "data", root / "labels/combined_windows.json", root / "config/profiles.json"]
        missing = [str(p.relative_to(root)) for p in need if not p.exists()]
        if missing:
            raise CorpusError(
                f"--nab {root}: not a NAB checkout (missing {', '.join(missing)}); give the"
                " folder of a clone or extract of github.com/numenta/NAB"
            )
        windows = json.loads((root / "labels/combined_windows.json").read_text())
        path = root / "config/thresholds.json"
        thresholds = json.loads(path.read_text()) if path.exists() else {}
        return cls(root, windows, load_profiles(root / "config/profiles.json"), thresholds)

    @property
    def files(self) -> list[str]:
        """Every data file with windows (possibly none) in the labels: the whole corpus."""
        return sorted(self.windows)

    def series(self, name: str) -> Series:
        path = self.root / "data" / name
        if name not in self.windows or not path.exists():
            raise CorpusError(f"{name}: not a data file of the corpus at {self.root}")
        return read_series(path, name)

    def window_rows(self, name: str, ts: np.ndarray) -> list[tuple[int, int]]:
        return window_rows(ts, self.windows[name])

    # ------------------------------------------------------------ the published detectors

    def detectors(self) -> list[str]:
        """Detectors with results for every file and a threshold per profile."""
        return sorted(
            d for d in self.thresholds if d != "null" and (self.root / "results" / d).is_dir()
        )

    def threshold(self, detector: str, profile: str) -> float:
        return float(self.thresholds[detector][profile]["threshold"])

    def anomaly_scores(self, detector: str, name: str) -> np.ndarray:
        """A detector's per-row anomaly_score for one data file (its results CSV)."""
        folder, file = name.split("/")
        path = self.root / "results" / detector / folder / f"{detector}_{file}"
        with open(path, newline="") as f:
            rows = csv.reader(f)
            col = next(rows).index("anomaly_score")
            return np.array([float(r[col]) for r in rows if r])

    def published(
        self, detector: str, names: Sequence[str], profiles: Sequence[str]
    ) -> dict[str, list[FileScore]]:
        """A published detector's scores per profile: its anomaly scores thresholded at its
        own threshold for the profile (as NAB's scorer does: a row is a detection when its
        score is at least the threshold), scored by these rules."""
        out: dict[str, list[FileScore]] = {p: [] for p in profiles}
        for name in names:
            series = self.series(name)
            scores = self.anomaly_scores(detector, name)
            windows = self.window_rows(name, series.ts)
            for p in profiles:
                hit = np.flatnonzero(scores >= self.threshold(detector, p))
                out[p].append(score_file(len(scores), windows, hit, self.profiles[p]))
        return out

    def final_results(self) -> dict[str, dict[str, float]]:
        """NAB's own normalised scores over the whole corpus (results/final_results.json)."""
        path = self.root / "results/final_results.json"
        return json.loads(path.read_text()) if path.exists() else {}
