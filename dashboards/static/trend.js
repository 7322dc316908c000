// A sensor's detail: its trend over the last hour to the last week (min, mean and max per
// bucket from GET /api/sensors/{tag}/history), its limits drawn as lines and, when the
// alarm it was opened from predicts a crossing, that time marked. Drawn with uPlot, which
// npm installs and this server serves (/vendor/uplot): nothing comes from elsewhere.
// `HazardWatchTrend.draw` is the one chart drawing, the engineer's view's too.
(() => {
  "use strict";

  const POINTS = 600;
  const LIMITS = [
    ["hh", "#ff453a"],
    ["h", "#ff9f0a"],
    ["l", "#ff9f0a"],
    ["ll", "#ff453a"],
  ];
  const HW = () => window.HazardWatch;
  const view = { tag: null, alarm: null, range_s: 3600, chart: null, asked: 0 };

  // A vertical dashed line at the predicted crossing (uPlot draw hook).
  function etaLine(etaTs) {
    return (u) => {
      const x = Math.round(u.valToPos(etaTs, "x", true));
      const ctx = u.ctx;
      ctx.save();
      ctx.strokeStyle = "#bf5af2";
      ctx.lineWidth = 2 * devicePixelRatio;
      ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
      ctx.beginPath();
      ctx.moveTo(x, u.bbox.top);
      ctx.lineTo(x, u.bbox.top + u.bbox.height);
      ctx.stroke();
      ctx.restore();
    };
  }

  // One chart of a sensor's history, the one both the trend dialog and the engineer's view
  // draw: mean, min and max per bucket, each of `lines` ({key, label, value, stroke, dash})
  // a horizontal line (a limit), and a predicted crossing `etaTs` (or null) a dashed
  // vertical line the x axis reaches out to. Replaces what `box` held; returns the uPlot
  // (the caller destroys it) and marks `box` with data-points, data-limits (the lines'
  // keys) and data-eta-ts for whoever checks what was drawn.
  function draw(box, { series, unit, lines = [], since, until, etaTs = null, height = 320 }) {
    const { t } = HW();
    box.replaceChildren();
    const xs = [...series.ts];
    const cols = [[...series.mean], [...series.min], [...series.max]];
    if (etaTs !== null) {
      xs.push(etaTs); // the x axis reaches the predicted crossing
      for (const c of cols) c.push(null);
    }
    const data = [xs, ...cols, ...lines.map((l) => xs.map(() => l.value))];
    const opts = {
      width: Math.max(600, box.clientWidth || 900),
      height,
      // the whole range asked for, out to the predicted crossing
      scales: { x: { time: true, range: () => [since, etaTs === null ? until : Math.max(until, etaTs)] } },
      series: [
        {},
        { label: `${t("col_value")} (${unit || series.unit})`, stroke: "#0a84ff", width: 2 },
        { label: "min", stroke: "#64d2ff", width: 1 },
        { label: "max", stroke: "#64d2ff", width: 1 },
        ...lines.map((l) => ({ label: l.label, stroke: l.stroke, dash: l.dash || [8, 4], width: 1 })),
      ],
      hooks: etaTs === null ? {} : { draw: [etaLine(etaTs)] },
    };
    const chart = new window.uPlot(opts, data, box);
    box.dataset.points = String(series.ts.length);
    box.dataset.limits = lines.map((l) => l.key).join(",");
    box.dataset.etaTs = etaTs === null ? "" : String(etaTs);
    return chart;
  }

  // A sensor's limits as lines for `draw`, keyed by their slot (hh, h, l, ll).
  function limitLines(sensor) {
    return LIMITS.filter(([k]) => sensor && Number.isFinite(sensor.limits[k])).map(([k, stroke]) => ({
      key: k,
      label: k.toUpperCase(),
      value: sensor.limits[k],
      stroke,
    }));
  }

  function show(series, sensor, etaTs, since, until) {
    const { $ } = HW();
    if (view.chart) view.chart.destroy();
    view.chart = null;
    const unit = sensor ? sensor.unit : series.unit;
    view.chart = draw($("trend-chart"), { series, unit, lines: limitLines(sensor), since, until, etaTs });
  }

  async function load() {
    const { $, t, getJSON, toast, timeText, model } = HW();
    const asked = ++view.asked;
    const until = Date.now() / 1000;
    const since = until - view.range_s;
    for (const b of $("trend-ranges").querySelectorAll("button")) {
      b.setAttribute("aria-pressed", String(Number(b.dataset.rangeS) === view.range_s));
    }
    const a = view.alarm;
    const etaTs = a && Number.isFinite(a.eta_ts) && a.eta_ts > until ? a.eta_ts : null;
    $("trend-eta").hidden = etaTs === null;
    $("trend-eta").textContent = etaTs === null ? "" : `${t("predicted")}: ${timeText(etaTs)}`;
    if (typeof window.uPlot !== "function") {
      $("trend-empty").textContent = t("no_chart");
      $("trend-empty").hidden = false;
      return;
    }
    try {
      const tag = encodeURIComponent(view.tag);
      const q = `since=${since}&until=${until}&points=${POINTS}`;
      const { series } = await getJSON(`/api/sensors/${tag}/history?${q}`);
      if (asked !== view.asked) return; // a newer range was asked for meanwhile
      $("trend-empty").textContent = t("no_data");
      $("trend-empty").hidden = series[0].ts.length > 0;
      show(series[0], model.sensors.get(view.tag), etaTs, since, until);
    } catch (err) {
      toast(t("load_failed", { detail: err.message }));
    }
  }

  function open(tag, alarm = null) {
    const { $, t } = HW();
    view.tag = tag;
    view.alarm = alarm;
    $("trend-title").textContent = t("trend_title", { tag });
    const dialog = $("trend-dialog");
    if (!dialog.open) dialog.showModal();
    load();
  }

  function close() {
    const { $ } = HW();
    if (view.chart) view.chart.destroy();
    view.chart = null;
    $("trend-dialog").close();
  }

  window.HazardWatchTrend = { open, close, draw };

  window.HazardWatchI18n.onChange(() => {
    if (view.tag && HW().$("trend-dialog").open) open(view.tag, view.alarm);
  });

  document.addEventListener("DOMContentLoaded", () => {
    const { $ } = HW();
    for (const b of $("trend-ranges").querySelectorAll("button")) {
      b.addEventListener("click", () => {
        view.range_s = Number(b.dataset.rangeS);
        load();
      });
    }
    $("trend-close").addEventListener("click", close);
  });
})();
