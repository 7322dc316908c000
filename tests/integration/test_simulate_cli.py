"""`hazardwatch simulate`: generated parks, CSV recordings with ground truth, the broker path."""

from __future__ import annotations

import csv
import io
import queue
import secrets
import time
from pathlib import Path

import numpy as np
import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from typer.testing import CliRunner

from hazardwatch.shell.cli import app
from hazardwatch.vocabulary.config import load_site
from simulators import CSV_START_TS, CsvRecorder, generate_site, parse_broker_url, truth_path
from tests.brokers import Mosquitto, free_port

pytestmark = pytest.mark.integration

SPEC = "enterprises=2,tanks=3,seed=5"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "park.yaml"
WAIT_S = 10.0


def simulate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["simulate", *args])
    return result.exit_code, result.output


def record(tmp_path: Path, name: str, *extra: str) -> Path:
    out = tmp_path / f"{name}.csv"
    code, text = simulate("--generate", SPEC, "--csv", str(out), "--duration", "20", *extra)
    assert code == 0, text
    return out


def test_csv_holds_one_row_per_sensor_per_tick_with_the_truth_beside_it(tmp_path: Path) -> None:
    site = generate_site(2, 3, seed=5)
    tags = [s.tag for _, _, _, s in site.iter_sensors()]
    out = record(tmp_path, "run", "--rate", "2")  # 0.5 s ticks: 40 ticks over 20 s

    with out.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["ts", "tag", "value", "quality"]
    body = rows[1:]
    assert len(body) == 40 * len(tags)
    assert [r[1] for r in body[: len(tags)]] == tags  # sensor-index order within a tick
    ts = sorted({float(r[0]) for r in body})
    assert ts == pytest.approx([CSV_START_TS + 0.5 * k for k in range(1, 41)])
    assert {r[3] for r in body} == {"good"}
    assert np.isfinite([float(r[2]) for r in body]).all()

    truth = orjson.loads(truth_path(out).read_bytes())
    assert truth["sensors"] == len(tags) and truth["rows"] == len(body) and truth["seed"] == 0
    assert truth["start_ts"] == CSV_START_TS and truth["end_ts"] == pytest.approx(ts[-1])
    assert truth["events"] == []


def test_the_same_seed_writes_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    first = record(tmp_path, "a", "--seed", "11").read_bytes()
    again = record(tmp_path, "b", "--seed", "11").read_bytes()
    other = record(tmp_path, "c", "--seed", "12").read_bytes()
    assert first == again
    assert first != other
    # Only the values differ: the same sensors report at the same times.
    assert [r.split(b",")[:2] for r in first.splitlines()] == [
        r.split(b",")[:2] for r in other.splitlines()
    ]


def test_an_overfill_is_in_the_truth_and_the_level_really_crosses_hh_then(tmp_path: Path) -> None:
    site = generate_site(2, 3, seed=5)
    unit = site.enterprises[0].hazard_sources[0].units[0]
    level = next(s for s in unit.sensors if s.kind.label == "level")
    out = tmp_path / "overfill.csv"
    code, text = simulate(
        "--generate", SPEC, "--csv", str(out), "--duration", "240",
        "--overfill", unit.id, "--overfill-at", "30",
    )  # fmt: skip
    assert code == 0, text
    (event,) = orjson.loads(truth_path(out).read_bytes())["events"]
    assert event["event"] == "overfill" and event["tag"] == level.tag
    readings = [
        (float(ts), float(v))
        for ts, tag, v, _ in csv.reader(io.StringIO(out.read_text()))
        if tag == level.tag
    ]
    above = [ts for ts, v in readings if v >= level.limits.hh]
    assert above and event["hh_ts"] <= above[0] <= event["hh_ts"] + 5.0


def test_a_library_scenario_brings_its_seed_tick_start_and_events(tmp_path: Path) -> None:
    out = tmp_path / "fast.csv"
    code, text = simulate(
        "--config", str(EXAMPLE), "--scenario", "fast-overfill", "--csv", str(out),
        "--duration", "600",
    )  # fmt: skip
    assert code == 0, text
    truth = orjson.loads(truth_path(out).read_bytes())
    assert truth["scenario"] == "fast-overfill" and truth["seed"] == 1 and truth["tick_s"] == 2.0
    assert truth["start_ts"] == 1_778_547_600.0  # 2026-05-12 09:00 at UTC+8, from the file
    (event,) = truth["events"]
    assert event["event"] == "overfill" and event["onset_ts"] == truth["start_ts"] + 300
    first = out.read_text().splitlines()[1]
    assert first.startswith(f"{truth['start_ts'] + 2:.3f},")


def test_an_unknown_scenario_exits_2_naming_the_library(tmp_path: Path) -> None:
    code, text = simulate(
        "--config", str(EXAMPLE), "--scenario", "no-such-day", "--csv", str(tmp_path / "x.csv"),
    )  # fmt: skip
    assert code == 2 and "no-such-day" in text and "fast-overfill" in text


def test_save_config_writes_a_file_that_loads_to_the_generated_site(tmp_path: Path) -> None:
    saved = tmp_path / "park.yaml"
    record(tmp_path, "saved", "--save-config", str(saved))
    assert load_site(saved).enterprises == generate_site(2, 3, seed=5).enterprises


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--generate", "enterprises=2", "--csv", "x.csv"], "tanks missing"),
        (["--generate", "enterprises=2,tanks=x", "--csv", "x.csv"], "must be a whole number"),
        (["--csv", "x.csv", "--duration", "5"], "exactly one of --config FILE or --generate"),
        (["--generate", SPEC, "--duration", "5"], "exactly one of --broker URL or --csv"),
        (["--generate", SPEC, "--csv", "x.csv"], "--csv needs --duration"),
        (["--generate", SPEC, "--csv", "x.csv", "--duration", "5", "--rate", "0"], "greater"),
    ],
    ids=["no-tanks", "not-a-number", "no-site", "no-output", "no-duration", "zero-rate"],
)
def test_bad_arguments_exit_2_with_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], says: str
) -> None:
    monkeypatch.chdir(tmp_path)
    code, text = simulate(*args)
    assert code == 2 and says in text
    assert not (tmp_path / "x.csv").exists()


def test_speed_that_would_run_ahead_of_the_live_clock_is_refused_before_connecting() -> None:
    url = f"mqtt://127.0.0.1:{free_port()}"  # nothing listens: the check comes first
    now = str(int(time.time()))
    code, text = simulate(
        "--generate", SPEC, "--broker", url, "--speed", "10", "--duration", "3600", "--start", now
    )
    assert code == 2 and "s ahead of the wall clock" in text and "record to CSV" in text
    code, text = simulate("--generate", SPEC, "--broker", url, "--speed", "10")
    assert code == 2 and "without bound" in text


def test_faster_than_real_time_starts_in_the_past_and_ends_at_now() -> None:
    url = f"mqtt://127.0.0.1:{free_port()}"  # nothing listens: only the clock check runs
    code, text = simulate(
        "--generate", SPEC, "--broker", url, "--speed", "10", "--duration", "3600"
    )
    # The clock check passed (no "ahead"/"older" refusal); the run failed only to connect.
    assert code == 2 and "ahead" not in text and "older" not in text


def test_broker_mode_publishes_gateway_batches_of_every_sensor(mosquitto: Mosquitto) -> None:
    site = generate_site(2, 3, seed=5)
    root = f"sim{secrets.token_hex(3)}"
    inbox: queue.Queue[bytes] = queue.Queue()
    host, port = parse_broker_url(mosquitto.url)
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sub-{root}")
    subscribed: queue.Queue[bool] = queue.Queue()
    sub.on_connect = lambda c, u, f, rc, p: c.subscribe("hw/+/_batch/+", qos=1)
    sub.on_subscribe = lambda c, u, mid, rcs, p: subscribed.put(True)
    sub.on_message = lambda c, u, m: inbox.put(m.payload)
    sub.connect(host, port)
    sub.loop_start()
    try:
        subscribed.get(timeout=WAIT_S)
        # 4 ticks a wall second, each speed / rate = 0.5 simulated s: 3 simulated s, 6 ticks.
        code, text = simulate(
            "--generate", SPEC, "--broker", mosquitto.url, "--rate", "4", "--speed", "2",
            "--duration", "3", "--qos", "0",
        )  # fmt: skip
        assert code == 0, text
        assert "'published_readings': " + str(6 * len(site.iter_sensors())) in text
        seen: set[str] = set()
        while len(seen) < len(site.iter_sensors()):
            body = orjson.loads(inbox.get(timeout=WAIT_S))
            seen |= {row[0] for row in body["r"]}
        assert seen == {s.tag for _, _, _, s in site.iter_sensors()}
    finally:
        sub.disconnect()
        sub.loop_stop()


def test_the_recorder_skips_silent_instruments_and_writes_quality_words() -> None:
    out = io.BytesIO()
    with CsvRecorder(out, ["A", "B", "C"]) as rec:
        rows = rec.write(
            12.5, np.array([0, 1, 2]), np.array([1.0, np.nan, 3.5]), np.array([0, 0, 2], np.uint8)
        )
    assert rows == 2 and rec.rows == 2
    assert out.getvalue() == b"ts,tag,value,quality\n12.500,A,1.0,good\n12.500,C,3.5,bad\n"


def test_the_vectorised_recorder_writes_what_a_plain_csv_loop_would() -> None:
    rng = np.random.default_rng(4)
    tags = [f"T{i}" for i in range(50)]
    ticks = []
    for k in range(20):
        sensors = np.sort(rng.choice(50, size=int(rng.integers(0, 50)), replace=False))
        values = rng.choice([-1.0, 1.0], sensors.size) * 10.0 ** rng.uniform(-7, 9, sensors.size)
        quality = rng.integers(0, 3, sensors.size).astype(np.uint8)
        ticks.append((1_767_196_800.0 + 0.25 * k, sensors, values, quality))
    out = io.BytesIO()
    with CsvRecorder(out, tags) as rec:
        for tick in ticks:
            rec.write(*tick)
    expected = [
        (round(ts, 3), tags[i], v, ("good", "uncertain", "bad")[q])
        for ts, sensors, values, quality in ticks
        for i, v, q in zip(sensors.tolist(), values.tolist(), quality.tolist(), strict=True)
    ]
    rows = list(csv.reader(io.StringIO(out.getvalue().decode())))[1:]
    assert [(float(t), tag, float(v), q) for t, tag, v, q in rows] == expected
