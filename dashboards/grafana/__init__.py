"""A Grafana dashboard over the readings VictoriaMetrics holds: one row per hazard source,
one panel per sensor with its limits as thresholds, built from the site config."""

from dashboards.grafana.dashboard import DATASOURCE_UID, build, main, sensor_panel, thresholds

__all__ = ["DATASOURCE_UID", "build", "main", "sensor_panel", "thresholds"]
