// The alarm performance report page: GET /api/report with this page's query string
// (since, until, console) and the figures written into the tables, ready to print.
"use strict";

(function () {
  const fmt = (x) => (x === null || x === undefined ? "—" : String(x));

  function rows(name, items) {
    const body = document.querySelector(`[data-rows="${name}"]`);
    body.replaceChildren(...items.map((cells) => {
      const tr = document.createElement("tr");
      for (const c of cells) {
        const td = document.createElement("td");
        td.textContent = fmt(c);
        tr.append(td);
      }
      return tr;
    }));
  }

  function show(r) {
    const when = (ts) => new Date(ts * 1000).toISOString().replace(".000Z", "Z");
    document.querySelector('[data-testid="report-period"]').textContent =
      `${r.console ?? "whole park"}: ${when(r.since)} to ${when(r.until)}`;
    const figures = {
      alarms: r.alarms,
      per_10_min: r.rates.per_10_min,
      per_hour: r.rates.per_hour,
      verdict: r.rates.verdict,
      peak_10_min: `${r.rates.peak_10_min} (${r.rates.peak_verdict})`,
      flood_pct: `${r.flood.pct} %`,
      standing: r.standing.length,
      stale: r.stale.count,
      online_pct: r.online.online_pct === null ? "—" : `${r.online.online_pct} %`,
      disposal_pct: r.disposal.rate_pct === null ? "—" : `${r.disposal.rate_pct} %`,
    };
    for (const [name, value] of Object.entries(figures)) {
      document.querySelector(`[data-figure="${name}"]`).textContent = fmt(value);
    }
    rows("priorities", Object.entries(r.priorities).map(([p, v]) => [p, v.count, v.pct, v.target_pct]));
    rows("top", r.top.map((t) => [t.tag, t.condition, t.count, t.share_pct]));
    rows("chattering", r.chattering.map((c) => [c.tag, c.condition, c.episodes]));
    const both = (a, b) => [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    const per = (on, disp) => both(on, disp).map((k) => [k, on[k]?.online_pct, disp[k]?.rate_pct]);
    rows("enterprises", per(r.online.by_enterprise, r.disposal.by_enterprise));
    rows("sources", per(r.online.by_hazard_source, r.disposal.by_hazard_source));
  }

  async function load() {
    const main = document.querySelector('[data-testid="report"]');
    const error = document.querySelector('[data-testid="report-error"]');
    try {
      const r = await fetch(`/api/report${location.search}`, {
        headers: { Accept: "application/json" }, credentials: "same-origin",
      });
      if (!r.ok) throw new Error(r.status === 401 ? "log in on the main page first" : `HTTP ${r.status}`);
      show(await r.json());
      main.dataset.state = "ready";
    } catch (e) {
      error.textContent = `The report could not be loaded: ${e.message}`;
      error.hidden = false;
      main.dataset.state = "failed";
    }
  }

  document.addEventListener("DOMContentLoaded", load);
})();
