"""The Numenta Anomaly Benchmark's scoring rules, for binary detections.

Written from NAB's documentation and scorer (github.com/numenta/NAB, nab/sweeper.py,
nab/runner.py); no code of theirs is used. The rules, per data file of `n` rows:

- **Probation**: the first `min(floor(0.15 n), 750)` rows teach the detector; detections
  there are ignored, and a window ending there is not scored.
- **Windows** (labels/combined_windows.json): row ranges around each labelled anomaly. The
  first detection in a window earns the scaled sigmoid of its place in the window, scaled so
  the window's first row earns `tp_weight` and its last row a little over 0; later
  detections in the same window add nothing. A window without a detection costs
  `fn_weight`.
- **False positives**: a detection outside every window costs `fp_weight` times the scaled
  sigmoid of its distance past the end of the last window, in widths of that window (just
  after a window it costs almost nothing, three widths on it costs the full weight); before
  the first window it costs the full weight.
- **Profiles** (config/profiles.json): standard, reward_low_FP_rate, reward_low_FN_rate
  weigh these differently.
- **Normalised score**: `100 * (raw - null) / (perfect - null)` of the raw scores summed
  over the files, where the null detector (no detection) scores `-fn_weight` per window and
  a perfect one `tp_weight` per window (NAB's runner counts the entries of the windows file
  it is given, combined_windows.json: 116 windows, for 120 labels).

The raw totals this gives from NAB's own results files (each detector's `anomaly_score`
thresholded at its config/thresholds.json value) equal the totals of NAB's
`<detector>_<profile>_scores.csv`, and the normalised totals its results/final_results.json.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PROBATION_SHARE = 0.15
PROBATION_MAX_ROWS = 750  # NAB: 15 % of 5000 rows
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")


@dataclass(frozen=True)
class Profile:
    """How much a window found, a window missed and a false detection weigh."""

    name: str
    tp_weight: float
    fp_weight: float
    fn_weight: float


STANDARD = Profile("standard", 1.0, 0.11, 1.0)


def load_profiles(path: Path) -> dict[str, Profile]:
    """NAB's config/profiles.json as Profiles, by name."""
    raw = json.loads(Path(path).read_text())
    return {
        name: Profile(name, float(c["tpWeight"]), float(c["fpWeight"]), float(c["fnWeight"]))
        for name, body in raw.items()
        for c in (body["CostMatrix"],)
    }


def probation_rows(n: int) -> int:
    """Rows at the start of a file of `n` rows where detections are not scored.

    >>> probation_rows(100), probation_rows(4032), probation_rows(22695)
    (15, 604, 750)
    """
    return int(min(math.floor(PROBATION_SHARE * n), PROBATION_MAX_ROWS))


def scaled_sigmoid(x: np.ndarray | float) -> np.ndarray:
    """NAB's reward by relative position: 2 / (1 + e^(5x)) - 1, and -1 beyond x = 3.

    x = -1 is a window's first row, 0 just past its last, positive values are distances
    past its end in window widths.

    >>> np.round(scaled_sigmoid(np.array([-1.0, -0.5, 0.0, 1.0, 3.5])), 5).tolist()
    [0.98661, 0.84828, 0.0, -0.98661, -1.0]
    """
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 3.0, -1.0, 2.0 / (1.0 + np.exp(5.0 * np.minimum(x, 3.0))) - 1.0)


def window_rows(timestamps: np.ndarray, windows: Sequence[Sequence[str]]) -> list[tuple[int, int]]:
    """Each window's first and last row (inclusive): the first row holding each end's
    timestamp (NAB's files repeat a few timestamps; it takes the first too).

    >>> ts = np.array(["2014-01-01T00:00", "2014-01-01T00:05", "2014-01-01T00:10"], "M8[s]")
    >>> window_rows(ts, [["2014-01-01 00:05:00.000000", "2014-01-01 00:10:00.000000"]])
    [(1, 2)]
    """
    out = []
    for start, end in windows:
        at = []
        for t in (start, end):
            rows = np.flatnonzero(timestamps == np.datetime64(t.replace(" ", "T"), "s"))
            if rows.size == 0:
                raise ValueError(f"window {start} .. {end}: {t} is not a timestamp of the file")
            at.append(int(rows[0]))
        out.append((at[0], at[1]))
    return out


def row_scores(n: int, windows: Sequence[tuple[int, int]], profile: Profile) -> np.ndarray:
    """What a detection at each row would earn if it counted (NAB's S(t) column).

    In a window of width w ending at row b, row i earns tp_weight * sigmoid(-(b - i + 1) / w)
    / sigmoid(-1); after a window ending at row b, fp_weight * sigmoid((i - b) / (w - 1));
    before the first window, -fp_weight.

    >>> np.round(row_scores(8, [(2, 4)], STANDARD), 3).tolist()
    [-0.11, -0.11, 1.0, 0.944, 0.692, -0.093, -0.109, -0.11]
    """
    out = np.full(n, -profile.fp_weight)
    top = float(scaled_sigmoid(-1.0))
    for k, (a, b) in enumerate(windows):
        width = b - a + 1
        rows = np.arange(a, b + 1)
        out[a : b + 1] = scaled_sigmoid(-(b - rows + 1) / width) * profile.tp_weight / top
        stop = windows[k + 1][0] if k + 1 < len(windows) else n
        after = np.arange(b + 1, stop)
        # A one-row window has no width to measure distance by: anything after is far.
        past = (after - b) / (width - 1) if width > 1 else np.full(after.size, np.inf)
        out[b + 1 : stop] = scaled_sigmoid(past) * profile.fp_weight
    return out


@dataclass(frozen=True)
class FileScore:
    """One file's raw NAB score and what made it."""

    raw: float
    windows: int  # windows scored (ending after probation)
    found: int  # windows with a detection
    false: int  # detections outside every window
    detections: int  # detections after probation
    null: float  # the null detector's raw score on this file
    perfect: float  # a perfect detector's raw score on this file

    @property
    def missed(self) -> int:
        return self.windows - self.found


def score_file(
    n: int,
    windows: Sequence[tuple[int, int]],
    detected: Iterable[int] | np.ndarray,
    profile: Profile,
) -> FileScore:
    """Score detections at row indices `detected` in a file of `n` rows.

    A detection at a window's first row earns the full reward, none costs the window:

    >>> score_file(100, [(40, 49)], [40], STANDARD).raw
    1.0
    >>> score_file(100, [(40, 49)], [], STANDARD).raw
    -1.0
    """
    rows = np.unique(np.fromiter(detected, dtype=np.int64))
    if rows.size and (rows[0] < 0 or rows[-1] >= n):
        raise ValueError(f"detections must be rows 0..{n - 1}")
    first = probation_rows(n)
    rows = rows[rows >= first]
    scored = [(a, b) for a, b in windows if b >= first]
    per_row = row_scores(n, windows, profile)
    inside = np.zeros(n, dtype=bool)
    raw, found = 0.0, 0
    for a, b in scored:
        inside[a : b + 1] = True
        hit = rows[(rows >= a) & (rows <= b)]
        if hit.size:  # only the first counts: the reward falls through the window
            raw += float(per_row[hit[0]])
            found += 1
        else:
            raw -= profile.fn_weight
    outside = rows[~inside[rows]]
    raw += float(per_row[outside].sum())
    return FileScore(
        raw=raw,
        windows=len(scored),
        found=found,
        false=int(outside.size),
        detections=int(rows.size),
        null=-profile.fn_weight * len(scored),
        perfect=profile.tp_weight * len(scored),
    )


def normalised(raw: float, null: float, perfect: float) -> float:
    """NAB's normalised score: 0 for the null detector, 100 for a perfect one.

    >>> normalised(-2.0, -2.0, 2.0), normalised(2.0, -2.0, 2.0), normalised(0.0, -2.0, 2.0)
    (0.0, 100.0, 50.0)
    """
    return 100.0 * (raw - null) / (perfect - null)


def total(scores: Iterable[FileScore]) -> float:
    """The normalised score of several files: their raw, null and perfect scores summed."""
    s = list(scores)
    return normalised(sum(x.raw for x in s), sum(x.null for x in s), sum(x.perfect for x in s))
