"""`hazardwatch run` refuses a retention shorter than the rules allow, before opening anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--retention-days", "29"], "--retention-days 29.0: raw readings are kept 30 days"),
        (["--retention-days", "nan"], "--retention-days nan: raw readings are kept 30 days"),
        (["--aggregate-days", "60"], "--aggregate-days 60.0: at least --retention-days"),
        (["--store", "duckdb"], "--store 'duckdb': expected blocks, sqlite or influx"),
    ],
)
def test_a_retention_below_the_rules_is_refused(
    site_file: Path, tmp_path: Path, flags: list[str], says: str
) -> None:
    data = tmp_path / "data"
    args = ["run", "--config", str(site_file), "--data-dir", str(data), *flags]
    result = subprocess.run(
        [sys.executable, "-m", "hazardwatch", *args], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2, result.stderr
    assert says in result.stderr
    assert not data.exists()
