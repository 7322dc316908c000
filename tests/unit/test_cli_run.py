"""`hazardwatch run` refuses settings it cannot honour before it opens anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--ack-window", "0", "--ack-window 0: must be 1..65535"),
        ("--ack-window", "70000", "--ack-window 70000: must be 1..65535"),
        ("--checkpoint-interval-s", "-1", "--checkpoint-interval-s -1.0: must be 0 (off) or more"),
        ("--checkpoint-interval-s", "nan", "--checkpoint-interval-s nan: must be 0 (off) or more"),
        ("--spool-max-mb", "0", "--spool-max-mb 0.0: must be greater than 0"),
        ("--allowed-host", "evil.example:80", "--allowed-host 'evil.example:80': expected a"),
        ("--allowed-host", "http://hw.park", "without port, e.g. hazardwatch.park.example"),
    ],
)
def test_a_setting_out_of_range_is_refused_with_exit_code_2(
    site_file: Path, tmp_path: Path, flag: str, value: str, says: str
) -> None:
    data = tmp_path / "data"
    args = ["run", "--config", str(site_file), "--data-dir", str(data), flag, value]
    # A process with a deadline: a setting let through would start a service that waits
    # for its broker forever.
    result = subprocess.run(
        [sys.executable, "-m", "hazardwatch", *args], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2, result.stderr
    assert says in result.stderr
    assert not data.exists()  # refused before anything was opened
