"""The Grafana dashboard of a site config, as plain JSON-ready dicts.

One row per hazard source; in it one time-series panel per sensor (level, temperature,
pressure, gas, then the rest), its query the series the InfluxStore writes to
VictoriaMetrics (`reading_value{tag="..."}`), its limits as threshold lines and its
instrument range as the axis. The datasource is a Prometheus-type one pointing at
VictoriaMetrics' query API, chosen by a dashboard variable.

    python -m dashboards.grafana examples/park.yaml -o dashboards/grafana/hazardwatch.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from hazardwatch.storage.influx import MEASUREMENT
from hazardwatch.vocabulary.config import load_site
from hazardwatch.vocabulary.model import HazardSource, Kind, Sensor, Site

DATASOURCE_UID = "victoriametrics"  # as provisioning/datasources.yaml names it
DASHBOARD_UID = "hazardwatch"
SERIES = f"{MEASUREMENT}_value"  # the field `value` of measurement `reading`, as VM names it
PANEL_W, PANEL_H, COLUMNS = 6, 8, 4  # Grafana's grid is 24 wide
# The order panels take in a row: what an operator of a tank farm looks at first.
ORDER = (Kind.LEVEL, Kind.TEMPERATURE, Kind.PRESSURE, Kind.GAS_COMBUSTIBLE, Kind.GAS_TOXIC)
_DS = {"type": "prometheus", "uid": "${datasource}"}


def thresholds(sensor: Sensor) -> dict[str, Any]:
    """Grafana threshold steps from a sensor's limits: red past HH/LL, orange past H/L.

    A gas detector's first level is its `h`, its second its `hh`.

    >>> from hazardwatch.vocabulary.model import Limits
    >>> s = Sensor("T", Kind.LEVEL, "m", 0, 18, Limits(hh=16.2, h=15.5, l=1.5), 0.1, 0, 0,
    ...            1, 3, False)
    >>> [(x["color"], x["value"]) for x in thresholds(s)["steps"]]
    [('orange', None), ('green', 1.5), ('orange', 15.5), ('red', 16.2)]
    """
    lim = sensor.limits
    base = "red" if lim.ll is not None else "orange" if lim.l is not None else "green"
    steps: list[dict[str, Any]] = [{"color": base, "value": None}]
    if lim.ll is not None:
        steps.append({"color": "orange" if lim.l is not None else "green", "value": lim.ll})
    if lim.l is not None:
        steps.append({"color": "green", "value": lim.l})
    if lim.h is not None:
        steps.append({"color": "orange", "value": lim.h})
    if lim.hh is not None:
        steps.append({"color": "red", "value": lim.hh})
    return {"mode": "absolute", "steps": steps}


def query(tag: str) -> str:
    """The PromQL (MetricsQL) selector of one sensor's readings.

    >>> query('T1"LT')
    'reading_value{tag="T1\\\\"LT"}'
    """
    quoted = tag.replace("\\", "\\\\").replace('"', '\\"')
    return f'{SERIES}{{tag="{quoted}"}}'


def sensor_panel(panel_id: int, sensor: Sensor, x: int, y: int) -> dict[str, Any]:
    """One sensor's time series with its limits drawn as lines."""
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": f"{sensor.tag} ({sensor.kind.label}, {sensor.unit})",
        "datasource": _DS,
        "gridPos": {"h": PANEL_H, "w": PANEL_W, "x": x, "y": y},
        "targets": [
            {
                "refId": "A",
                "datasource": _DS,
                "expr": query(sensor.tag),
                "legendFormat": "{{tag}}",
            }
        ],
        "fieldConfig": {
            "defaults": {
                "unit": f"suffix: {sensor.unit}",  # Grafana's custom unit: the plant's own
                "min": sensor.range_lo,
                "max": sensor.range_hi,
                "thresholds": thresholds(sensor),
                "color": {"mode": "fixed", "fixedColor": "blue"},
                "custom": {"thresholdsStyle": {"mode": "line"}, "lineWidth": 1},
            },
            "overrides": [],
        },
        "options": {"legend": {"showLegend": False}, "tooltip": {"mode": "single"}},
    }


def _ordered(source: HazardSource) -> list[Sensor]:
    sensors = [s for u in source.units for s in u.sensors]
    rank = {k: i for i, k in enumerate(ORDER)}
    return sorted(sensors, key=lambda s: rank.get(s.kind, len(ORDER)))  # stable: config order


def build(site: Site) -> dict[str, Any]:
    """The dashboard of `site`: one row per hazard source, one panel per sensor."""
    panels: list[dict[str, Any]] = []
    y = 0
    for e in site.enterprises:
        for hs in e.hazard_sources:
            panels.append(
                {
                    "id": len(panels) + 1,
                    "type": "row",
                    "title": f"{hs.name} · {e.name} (grade {hs.grade})",
                    "collapsed": False,
                    "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                    "panels": [],
                    "description": f"hazard source {hs.id}",
                }
            )
            y += 1
            sensors = _ordered(hs)
            for i, sensor in enumerate(sensors):
                x, row_y = (i % COLUMNS) * PANEL_W, y + (i // COLUMNS) * PANEL_H
                panels.append(sensor_panel(len(panels) + 1, sensor, x, row_y))
            y += -(-len(sensors) // COLUMNS) * PANEL_H  # whole lines of panels
    return {
        "uid": DASHBOARD_UID,
        "title": f"HazardWatch · {site.park}",
        "tags": ["hazardwatch"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "VictoriaMetrics",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {"text": DATASOURCE_UID, "value": DATASOURCE_UID},
                    "hide": 0,
                }
            ]
        },
        "annotations": {"list": []},
        "panels": panels,
    }


def main(argv: list[str] | None = None) -> int:
    """Write the dashboard JSON of a site config."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path, help="the site config (YAML)")
    parser.add_argument("-o", "--out", type=Path, help="the JSON file (default: stdout)")
    args = parser.parse_args(argv)
    text = json.dumps(build(load_site(args.config)), ensure_ascii=False, indent=2) + "\n"
    if args.out is None:
        print(text, end="")
    else:
        args.out.write_text(text, encoding="utf-8")
    return 0
