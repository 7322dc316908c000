"""Limits as audited data: the loader's messages, versions with who/when/why, rollback,
export, and a change taken by the running detector without losing its memory."""

from __future__ import annotations

import doctest
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from detectors import Detector
from hazardwatch.shell.service import Service, Settings
from hazardwatch.storage import limits as limits_module
from hazardwatch.storage.accounts import Role
from hazardwatch.storage.limits import LimitBook, LimitError, LimitNotFound
from hazardwatch.vocabulary.clock import FakeClock
from hazardwatch.vocabulary.config import ConfigError, parse_site
from hazardwatch.vocabulary.model import (
    Batch,
    Condition,
    HazardWatchError,
    Kind,
    Limits,
    Quality,
    SensorTable,
)
from tests import factories
from tests.accounts import bearer
from tests.unit.test_api import TestClient  # imported past its warning

CONFIG = """\
park: {name: Limits Park}
enterprises:
  - id: e1
    name: Demo Co
    hazard_sources:
      - id: hs1
        name: Tank farm
        grade: 3
        responsible: {main: A, technical: B, operation: C}
        units:
          - id: T1
            substance: methanol
            capacity_m3: 100
            sensors:
              - {tag: T1-LT, kind: level, unit: m, range: [0, 10], limits: {hh: 9, h: 8},
                 on_delay_s: 0, off_delay_s: 0, deadband: 0.1}
              - {tag: T1-GT, kind: gas_combustible, unit: "%LEL", range: [0, 100],
                 limits: {level1: 20, level2: 40}}
"""
LT = "enterprises[0].hazard_sources[0].units[0].sensors[0]"
GT = "enterprises[0].hazard_sources[0].units[0].sensors[1]"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "park.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.fixture
def book(config: Path, tmp_path: Path) -> Iterator[LimitBook]:
    with LimitBook(config, tmp_path / "alarms.db", clock=FakeClock(1000.0)) as b:
        yield b


def _loader_says(config: Path, edit: dict[str, object], index: int = 0) -> list[str]:
    """What the config loader says of the file with one sensor's mapping edited."""
    data = yaml.safe_load(config.read_text())
    data["enterprises"][0]["hazard_sources"][0]["units"][0]["sensors"][index].update(edit)
    with pytest.raises(ConfigError) as err:
        parse_site(yaml.safe_dump(data), str(config))
    return err.value.problems


def test_docstrings() -> None:
    assert doctest.testmod(limits_module).failed == 0


def test_a_limit_outside_the_range_is_refused_with_the_loaders_message(
    book: LimitBook, config: Path
) -> None:
    with pytest.raises(LimitError) as err:
        book.set("T1-LT", {"limits": {"hh": 12}}, who="eng", reason="test")
    assert err.value.problems == _loader_says(config, {"limits": {"hh": 12, "h": 8}})
    assert err.value.problems[0].startswith(f"{config}: {LT}.limits.hh: 12.0 m lies outside")
    assert book.history() == []  # nothing journalled


def test_limit_order_and_the_gas_ceiling_are_the_loaders_rules(
    book: LimitBook, config: Path
) -> None:
    with pytest.raises(LimitError) as err:
        book.set("T1-LT", {"limits": {"h": 9.5}}, who="eng", reason="test")
    assert err.value.problems == _loader_says(config, {"limits": {"hh": 9, "h": 9.5}})
    assert "HH (9.0) must be above H (9.5)" in err.value.problems[0]
    with pytest.raises(LimitError) as err:
        book.set("T1-GT", {"limits": {"level1": 30}}, who="eng", reason="test")
    assert err.value.problems == _loader_says(
        config, {"limits": {"level1": 30, "level2": 40}}, index=1
    )
    assert "GB/T 50493-2019" in err.value.problems[0]
    with pytest.raises(LimitError) as err:
        book.set("T1-LT", {"on_delay_s": "soon"}, who="eng", reason="test")
    assert err.value.problems == [
        f"{config}: {LT}.on_delay_s: expected a number, got the text 'soon'"
    ]


def test_unknown_tag_unknown_setting_and_a_missing_reason_are_refused(book: LimitBook) -> None:
    with pytest.raises(LimitNotFound):
        book.set("NOPE", {"limits": {"hh": 1}}, who="eng", reason="x")
    with pytest.raises(LimitError, match="'range' cannot be changed here"):
        book.set("T1-LT", {"range": [0, 20]}, who="eng", reason="x")
    with pytest.raises(LimitError, match="reason is required"):
        book.set("T1-LT", {"limits": {"hh": 9.5}}, who="eng", reason=" ")


def test_each_change_is_a_version_with_who_when_why_old_and_new(book: LimitBook) -> None:
    v1 = book.set("T1-LT", {"limits": {"hh": 9.5}}, who="ann", reason="new pump", origin="10.0.0.5")
    v2 = book.set("T1-LT", {"deadband": 0.2, "on_delay_s": 5}, who="bob", reason="chatter")
    assert (v1.version, v2.version) == (1, 2)
    assert v1.old == {"limits": {"hh": 9, "h": 8}, "on_delay_s": 0, "off_delay_s": 0,
                      "deadband": 0.1}  # fmt: skip
    assert v1.new["limits"] == {"hh": 9.5, "h": 8}
    assert v2.old == v1.new and v2.new["deadband"] == 0.2 and v2.new["on_delay_s"] == 5
    assert [(v.version, v.who, v.reason, v.ts) for v in book.history("T1-LT")] == [
        (2, "bob", "chatter", 1000.0),
        (1, "ann", "new pump", 1000.0),
    ]
    assert book.history("T1-LT")[1].origin == "10.0.0.5"
    s = book.site().enterprises[0].hazard_sources[0].units[0].sensors[0]
    assert (s.limits.hh, s.deadband, s.on_delay_s) == (9.5, 0.2, 5.0)
    shown = book.show("T1-LT")
    assert shown["version"] == 2 and shown["effective"]["limits"]["hh"] == 9.5


def test_rollback_to_any_version_and_to_the_config_file(book: LimitBook, config: Path) -> None:
    book.set("T1-LT", {"limits": {"hh": 9.5}}, who="ann", reason="a")
    book.set("T1-LT", {"limits": {"hh": 9.8}}, who="ann", reason="b")
    back = book.rollback("T1-LT", 1, who="bob", reason="9.8 chattered")
    assert back.version == 3 and back.rollback_of == 1 and back.new["limits"]["hh"] == 9.5
    assert book.site().enterprises[0].hazard_sources[0].units[0].sensors[0].limits.hh == 9.5
    book.rollback("T1-LT", 0, who="bob", reason="as designed")
    seed = parse_site(config.read_text(), str(config))
    now = book.site()
    assert (
        now.enterprises[0].hazard_sources[0].units[0].sensors[0]
        == (seed.enterprises[0].hazard_sources[0].units[0].sensors[0])
    )
    with pytest.raises(LimitNotFound):
        book.rollback("T1-GT", 1, who="bob", reason="not its version")


def test_export_writes_the_effective_config_and_a_reopened_book_agrees(
    book: LimitBook, config: Path, tmp_path: Path
) -> None:
    book.set("T1-LT", {"limits": {"hh": 9.5, "l": 1.0}}, who="ann", reason="a")
    exported = parse_site(book.export(), "exported.yaml")
    assert exported.enterprises == book.site().enterprises
    assert exported.enterprises[0].hazard_sources[0].units[0].sensors[0].limits.l == 1.0
    with LimitBook(config, tmp_path / "alarms.db") as again:  # a restart: YAML + journal
        assert again.site().enterprises == book.site().enterprises


def _level(ts: float, value: float) -> Batch:
    return Batch.of([0], [ts], [value], [Quality.GOOD])


def test_a_lower_limit_is_taken_at_once_and_the_sensors_memory_is_kept(
    book: LimitBook, tmp_path: Path
) -> None:
    service = Service(
        book.site(), Settings(data_dir=tmp_path / "svc", checkpoint_interval_s=0), FakeClock(0.0),
        limits=book,
    )  # fmt: skip
    try:
        for t in range(1, 60):
            assert service.handle_batch(_level(float(t), 7.0 + 0.001 * (t % 3))) == []
        st = service.detector.state
        learned = (st.base_n[0], st.base_mean[0], st.count[0])
        assert learned[0] > 0 and learned[2] > 0
        engineer = bearer(service.accounts, Role.ENGINEER)
        operator = bearer(service.accounts, Role.OPERATOR)
        with TestClient(service.app, base_url="http://127.0.0.1") as client:
            body = {"change": {"limits": {"hh": 6.5, "h": 6.0}}, "reason": "lower fill"}
            assert client.post("/api/limits/T1-LT", json=body, headers=operator).status_code == 403
            r = client.post("/api/limits/T1-LT", json=body, headers=engineer)
            assert r.status_code == 200, r.text
            assert r.json()["who"] == "engineer-user" and r.json()["version"] == 1
            bad = {"change": {"limits": {"hh": 60}}, "reason": "x"}
            r = client.post("/api/limits/T1-LT", json=bad, headers=engineer)
            assert r.status_code == 422 and "lies outside the instrument range" in r.text
            assert client.get("/api/limits/T1-LT", headers=engineer).json()["version"] == 1
        assert (st.base_n[0], st.base_mean[0], st.count[0]) == learned  # memory kept
        assert service.detector.state is st
        events = service.handle_batch(_level(60.0, 7.0))
        raised = {e.alarm.condition for e in events}
        assert {Condition.HH, Condition.H} <= raised
        assert service.table.limit_hh[0] == 6.5
    finally:
        service.close()


def test_a_change_made_by_another_process_is_picked_up_by_reload(
    book: LimitBook, config: Path, tmp_path: Path
) -> None:
    table = SensorTable.from_site(book.site())
    service = Service(
        book.site(), Settings(data_dir=tmp_path, checkpoint_interval_s=0), FakeClock(0.0),
        limits=book,
    )  # fmt: skip
    try:
        assert service.reload_limits() == 0
        with LimitBook(config, tmp_path / "alarms.db") as cli:
            cli.set("T1-GT", {"limits": {"level1": 15}}, who="cli:eng", reason="site survey")
        assert service.reload_limits() == 1
        assert service.detector.params.limit[1, 1] == 15.0 != table.limit_h[1]
    finally:
        service.close()


def _detector_park(hh: float, kind: Kind = Kind.LEVEL) -> SensorTable:
    limits = Limits(hh=hh, h=hh - 10.0)
    s = factories.sensor("T1-LT", kind, limits=limits, deadband=1.0, off_delay_s=5.0)
    return factories.table(
        factories.site(
            factories.enterprise("e1", factories.hazard_source("h1", factories.unit("T1", s)))
        )
    )


def test_retune_clears_an_alarm_the_new_limit_no_longer_holds_by_the_ordinary_rules() -> None:
    detector = Detector(_detector_park(hh=80.0), 0.0)
    raised = detector.step(Batch.of([0], [1.0], [85.0]))
    assert {c.condition for c in raised if c.active} == {Condition.HH, Condition.H}
    window = detector.state.count[0]
    assert detector.retune(_detector_park(hh=90.0)).tolist() == [0]
    assert detector.state.count[0] == window  # memory kept
    assert detector.step(Batch.of([0], [2.0], [85.0])) == []  # the off-delay runs first
    cleared = detector.step(Batch.of([0], [8.0], [85.0]))
    assert [(c.condition, c.active) for c in cleared] == [(Condition.HH, False)]
    assert detector.retune(_detector_park(hh=90.0)).size == 0  # nothing changed
    with pytest.raises(HazardWatchError, match="only settings may change"):
        detector.retune(_detector_park(hh=90.0, kind=Kind.GAS_COMBUSTIBLE))
