"""`python -m dashboards.grafana CONFIG -o FILE`: write the dashboard JSON of a site config."""

from dashboards.grafana import main

raise SystemExit(main())
