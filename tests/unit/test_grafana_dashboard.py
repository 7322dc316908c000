"""The Grafana dashboard built from examples/park.yaml: one row per hazard source, each
sensor's panel querying the series the InfluxStore writes, its thresholds the config's
limits; the checked-in JSON is what the builder makes today."""

from __future__ import annotations

import doctest
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import dashboards.grafana.dashboard as dashboard_module
from dashboards.grafana import DATASOURCE_UID, build
from hazardwatch.storage.influx import line_prefixes, to_lines
from hazardwatch.vocabulary.config import load_site
from hazardwatch.vocabulary.model import Batch, Site

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "dashboards" / "grafana"


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(ROOT / "examples" / "park.yaml")


@pytest.fixture(scope="module")
def board(site: Site) -> dict[str, Any]:
    return build(site)


def _rows(board: dict[str, Any]) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each row panel with the panels under it (Grafana's flat layout)."""
    rows: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    for p in board["panels"]:
        if p["type"] == "row":
            rows.append((p, []))
        else:
            assert rows, "a panel before the first row"
            rows[-1][1].append(p)
    return rows


def _written_series(tag: str) -> str:
    """The VictoriaMetrics series name and tag label of what InfluxStore writes for `tag`:
    line protocol `measurement,tag=T value=...` becomes `measurement_value{tag="T"}`."""
    line = to_lines(line_prefixes([tag]), Batch.of([0], [1.0], [2.5])).decode()
    key, fields, _ = line.split(" ")
    measurement, label = key.split(",", 1)
    field = fields.split("=", 1)[0]
    name, value = label.split("=", 1)
    return f'{measurement}_{field}{{{name}="{value}"}}'


def test_docstrings() -> None:
    assert doctest.testmod(dashboard_module).failed == 0


def test_one_row_per_hazard_source_holding_its_sensors(site: Site, board: dict[str, Any]) -> None:
    sources = [(e, hs) for e in site.enterprises for hs in e.hazard_sources]
    rows = _rows(board)
    assert len(rows) == len(sources) == 7
    for (row, panels), (e, hs) in zip(rows, sources, strict=True):
        assert hs.name in row["title"] and e.name in row["title"]
        assert row["description"] == f"hazard source {hs.id}"
        tags = [s.tag for u in hs.units for s in u.sensors]
        assert sorted(p["title"].split(" ")[0] for p in panels) == sorted(tags)
    assert sum(len(panels) for _, panels in rows) == len(site.iter_sensors())


def test_each_panel_queries_the_series_the_influx_store_writes(
    site: Site, board: dict[str, Any]
) -> None:
    panels = {p["title"].split(" ")[0]: p for p in board["panels"] if p["type"] != "row"}
    for _, _, _, sensor in site.iter_sensors():
        (target,) = panels[sensor.tag]["targets"]
        assert target["expr"] == _written_series(sensor.tag)
        assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    (var,) = board["templating"]["list"]
    assert (var["type"], var["query"], var["current"]["value"]) == (
        "datasource",
        "prometheus",
        DATASOURCE_UID,
    )


def test_thresholds_are_the_config_limits(site: Site, board: dict[str, Any]) -> None:
    panels = {p["title"].split(" ")[0]: p for p in board["panels"] if p["type"] != "row"}
    for _, _, _, s in site.iter_sensors():
        defaults = panels[s.tag]["fieldConfig"]["defaults"]
        steps = defaults["thresholds"]["steps"]
        limits = [v for v in (s.limits.ll, s.limits.l, s.limits.h, s.limits.hh) if v is not None]
        assert steps[0]["value"] is None  # the colour below every limit
        assert [x["value"] for x in steps[1:]] == limits, s.tag
        colours = {x["value"]: x["color"] for x in steps[1:]}
        if s.limits.hh is not None:
            assert colours[s.limits.hh] == "red", s.tag
        assert (defaults["min"], defaults["max"]) == (s.range_lo, s.range_hi)
        assert defaults["custom"]["thresholdsStyle"]["mode"] == "line"
    # a gas detector left without limits in the file: the GB/T 50493 ceilings
    assert [
        x["value"] for x in panels["e01-T102-GT"]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    ] == [None, 25.0, 50.0]
    gas = panels["e01-T101-GT"]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [(x["color"], x["value"]) for x in gas] == [
        ("green", None),
        ("orange", 20.0),
        ("red", 40.0),
    ]


def test_panels_do_not_overlap(board: dict[str, Any]) -> None:
    taken: set[tuple[int, int]] = set()
    for p in board["panels"]:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24
        cells = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not cells & taken, p["title"]
        taken |= cells
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))


def test_the_checked_in_json_is_what_the_builder_makes(board: dict[str, Any]) -> None:
    kept = json.loads((GRAFANA / "hazardwatch.json").read_text(encoding="utf-8"))
    assert kept == board, "rebuild: python -m dashboards.grafana examples/park.yaml -o ..."


def test_the_provisioning_example_names_the_datasource_the_dashboard_uses() -> None:
    ds = yaml.safe_load((GRAFANA / "provisioning" / "datasources.yaml").read_text())
    (only,) = ds["datasources"]
    assert (only["uid"], only["type"]) == (DATASOURCE_UID, "prometheus")
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards.yaml").read_text())
    assert providers["providers"][0]["type"] == "file"
