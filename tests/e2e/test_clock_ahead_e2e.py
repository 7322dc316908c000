"""The hostile tester's case through the whole service (issue 17, item 1): one reading 290 s
ahead on a gas detector, then real readings at 55 %LEL, over a real mosquitto."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.brokers import Mosquitto, publisher
from tests.e2e.harness import ServiceProcess, wait_until

pytestmark = pytest.mark.e2e
TAG, NEIGHBOUR = "e1-T1-GT", "e1-S1-AT"


@pytest.fixture
def service(site_file: Path, mosquitto: Mosquitto, tmp_path: Path) -> Iterator[ServiceProcess]:
    svc = ServiceProcess(site_file, mosquitto.url, tmp_path / "data").start()
    try:
        yield svc
    finally:
        svc.stop()


def test_a_forward_dated_reading_does_not_blind_a_gas_detector(
    service: ServiceProcess, mosquitto: Mosquitto
) -> None:
    with publisher(mosquitto.url) as pub:
        now = time.time()
        pub.publish(
            f"hw/e1/{TAG}", orjson.dumps({"v": 1.0, "ts": now + 290.0}), qos=1
        ).wait_for_publish()
        for _ in range(12):  # the real readings, a quarter of a second apart
            t = time.time()
            pub.publish(f"hw/e1/{TAG}", orjson.dumps({"v": 55.0, "ts": t}), qos=1)
            pub.publish(f"hw/e1/{NEIGHBOUR}", orjson.dumps({"v": 60.0, "ts": t}), qos=1)
            time.sleep(0.25)

    def conditions(tag: str) -> set[str]:
        alarms = service.get("/api/alarms", include_closed="true", limit=500)["alarms"]
        return {a["condition"] for a in alarms if a["tag"] == tag}

    wait_until(
        lambda: {"gas1", "gas2", "clock_ahead"} <= conditions(TAG),
        timeout_s=15,
        what=f"gas level 1 and 2 and clock_ahead on {TAG}",
    )
    assert {"gas1", "gas2"} <= conditions(NEIGHBOUR)
    sensors = {s["tag"]: s for s in service.get("/api/sensors")["sensors"]}
    assert sensors[TAG]["value"] == 55.0
    ingest = service.get("/api/health")["ingest"]
    assert ingest["noted"]["ts_ahead"] == 1 and ingest["rejected_total"] == 0
    lines = [
        orjson.loads(x)
        for x in (service.data_dir / "deadletter.jsonl").read_bytes().split(b"\n")
        if x
    ]
    (note,) = [x for x in lines if x["reason"] == "ts_ahead"]
    assert orjson.loads(note["payload"])[0] == TAG
