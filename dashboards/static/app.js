// HazardWatch control-room page: the initial state from the REST API, then live events
// over Server-Sent Events. Plain DOM, no framework and nothing loaded from elsewhere, so
// it works on an isolated command-room network. This file keeps the model, the live
// channel and the risk tiles; alarms.js draws the alarm list and its tabs, actions.js
// the operator's actions, tone.js the horn, trend.js a sensor's trend chart.
"use strict";

(() => {
  const t = (...args) => window.HazardWatchI18n.t(...args);
  // What each condition is (category, labels) comes from the server's one condition table
  // (GET /api/conditions), loaded with the first snapshot; each category's label key:
  const CATEGORIES = {
    early_warning: "cat_early_warning",
    process: "cat_process",
    instrument: "cat_instrument",
    communication: "cat_communication",
  };
  const UNACKED = new Set(["active_unack", "cleared_unack", "latched_unack"]);
  const COLOURS = new Set(["red", "orange", "yellow", "blue"]);
  const RECONNECT_MS = 5000;

  const model = {
    enterprises: new Map(), // id -> name
    sources: new Map(), // hazard source id -> hazard source from the API
    alarms: new Map(), // alarm id -> alarm (open ones only)
    conditions: new Map(), // condition name -> its row of the condition table
    sensors: new Map(), // tag -> sensor (kind, unit, limits)
    park: "",
    loading: false, // a snapshot is being fetched: live events wait in `held`
    again: false, // another refresh was asked for while one was running
    held: [],
  };

  const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c);
    return node;
  }

  const pad = (n) => String(n).padStart(2, "0");

  function clockText(d) {
    return (
      `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
    );
  }

  function timeText(ts) {
    if (ts === null || ts === undefined) return "—";
    const d = new Date(ts * 1000);
    const hms = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    const today = new Date();
    return d.toDateString() === today.toDateString()
      ? hms
      : `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hms}`;
  }

  function valueText(v) {
    if (v === null || v === undefined || !Number.isFinite(v)) return "—";
    return Math.abs(v) >= 1000 ? v.toFixed(0) : v.toFixed(2);
  }

  function category(a) {
    if (CATEGORIES[a.category]) return a.category;
    const known = model.conditions.get(a.condition);
    return known ? known.category : "process";
  }

  const categoryText = (kind) => t(CATEGORIES[kind]);

  function conditionText(name) {
    const known = model.conditions.get(name);
    if (!known) return name;
    return `${name.toUpperCase()} ${window.HazardWatchI18n.lang() === "zh" ? known.zh : known.en}`;
  }

  // Time left until a predicted crossing, from this browser's clock.
  function etaText(etaTs) {
    const left = etaTs - Date.now() / 1000;
    if (left <= 0) return t("eta_past");
    const min = Math.floor(left / 60);
    if (min < 1) return t("eta_soon");
    if (min < 90) return t("eta_min", { min });
    return t("eta_hours", { h: Math.floor(min / 60), min: min % 60 });
  }

  function refreshEtas() {
    for (const node of document.querySelectorAll('[data-testid="alarm-eta"]')) {
      node.textContent = etaText(Number(node.dataset.etaTs));
    }
  }

  let toastTimer = 0;
  function toast(message) {
    const box = $("toast");
    box.textContent = message;
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => {
      box.hidden = true;
    }, 6000);
  }

  // The server's reason for a refusal: a string, or FastAPI's list of validation errors.
  function detailOf(body, status) {
    const d = body && body.detail;
    if (typeof d === "string") return d;
    if (Array.isArray(d)) return d.map((e) => e.msg).join("; ");
    return `HTTP ${status}`;
  }

  async function getJSON(path) {
    const r = await window.HazardWatchSession.api(path);
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
    return r.json();
  }

  // ------------------------------------------------------------------ tiles

  function renderTiles() {
    const box = $("tiles");
    box.replaceChildren();
    for (const s of model.sources.values()) {
      const colour = COLOURS.has(s.colour) ? s.colour : "blue";
      const open = s.open || { total: 0, unacked: 0 };
      box.append(
        el(
          "article",
          { class: `tile risk-${colour}`, "data-testid": `tile-${s.id}`, "data-colour": colour },
          el("div", { class: "tile-name", text: s.name }),
          el("div", { class: "tile-enterprise", text: s.enterprise_name }),
          el(
            "div",
            { class: "tile-meta" },
            el("span", { text: t("grade", { grade: s.grade }) }),
            el("span", { class: "tile-colour", text: t(`colour_${colour}`) }),
          ),
          el(
            "div",
            { class: "tile-count" },
            el("span", { class: "big", "data-testid": `tile-count-${s.id}`, text: String(open.total) }),
            el("span", { text: t("tile_open") }),
            el("span", {
              class: open.unacked ? "tile-unacked" : "tile-unacked none",
              "data-testid": `tile-unacked-${s.id}`,
              text: t("tile_unacked", { n: open.unacked }),
            }),
          ),
        ),
      );
    }
  }

  // ------------------------------------------------------------------ state

  function applyAlarm(alarm) {
    if (alarm.state === "normal") model.alarms.delete(alarm.id);
    else model.alarms.set(alarm.id, alarm);
  }

  function count(alarm, sign) {
    // Keep a tile's counts current at once; the debounced fetch then confirms them.
    const s = alarm && model.sources.get(alarm.hazard_source);
    if (!s || !s.open || alarm.state === "normal") return;
    if (alarm.priority in s.open) s.open[alarm.priority] += sign;
    s.open.total += sign;
    if (UNACKED.has(alarm.state)) s.open.unacked += sign;
  }

  function applyLive(alarm) {
    count(model.alarms.get(alarm.id), -1);
    count(alarm, +1);
    applyAlarm(alarm);
  }

  let countsTimer = 0;
  function refreshCountsSoon() {
    // Many events arrive together in a flood: fetch the tile counts once for all of them.
    clearTimeout(countsTimer);
    countsTimer = setTimeout(async () => {
      try {
        const data = await getJSON("/api/hazard-sources");
        for (const s of data.hazard_sources) model.sources.set(s.id, s);
        renderTiles();
      } catch (err) {
        toast(t("load_failed", { detail: err.message }));
      }
    }, 1000);
  }

  const alarmsView = () => window.HazardWatchAlarms;

  function handle(message) {
    if (model.loading && message.type !== "resync") {
      model.held.push(message);
      return;
    }
    if (message.type === "alarm") {
      applyLive(message.alarm);
      alarmsView().changed(message);
      renderTiles();
      refreshCountsSoon();
    } else if (message.type === "risk") {
      const s = model.sources.get(message.hazard_source);
      if (s) {
        s.colour = message.colour;
        renderTiles();
      }
    } else if (message.type === "resync") {
      refresh();
    }
  }

  async function refresh() {
    if (model.loading) {
      model.again = true;
      return;
    }
    model.loading = true;
    model.held = [];
    try {
      const [site, sources, alarms, conditions, sensors] = await Promise.all([
        getJSON("/api/site"),
        getJSON("/api/hazard-sources"),
        getJSON("/api/alarms?limit=500"),
        getJSON("/api/conditions"),
        getJSON("/api/sensors"),
      ]);
      model.conditions = new Map(conditions.conditions.map((c) => [c.condition, c]));
      model.sensors = new Map(sensors.sensors.map((s) => [s.tag, s]));
      model.park = site.park;
      window.HazardWatchI18n.defaultFor(site.park);
      $("park-name").textContent = site.park;
      document.title = `${site.park} · HazardWatch`;
      model.enterprises = new Map(site.enterprises.map((e) => [e.id, e.name]));
      model.sources = new Map(sources.hazard_sources.map((s) => [s.id, s]));
      model.alarms = new Map();
      for (const a of alarms.alarms) applyAlarm(a);
    } catch (err) {
      toast(t("load_failed", { detail: err.message }));
      setTimeout(refresh, RECONNECT_MS);
    } finally {
      model.loading = false;
    }
    // Events that arrived while the snapshot was in flight are newer or equal: replay them.
    const held = model.held;
    model.held = [];
    renderTiles();
    alarmsView().refreshed();
    for (const m of held) handle(m);
    if (model.again) {
      model.again = false;
      refresh();
    }
  }

  // ------------------------------------------------------------------ live channel

  function setLive(state) {
    const node = $("live-state");
    node.dataset.state = state;
    node.textContent = t(`live_${state}`);
  }

  function connect() {
    setLive("connecting");
    const source = new EventSource("/api/live");
    source.onopen = () => {
      setLive("open");
      // Subscribed first, then the snapshot: nothing falls between the two.
      refresh();
    };
    source.onmessage = (e) => {
      let message;
      try {
        message = JSON.parse(e.data);
      } catch (err) {
        toast(t("bad_message", { detail: err.message }));
        return;
      }
      handle(message);
    };
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (the server answered with an error): retry ourselves.
        setLive("closed");
        setTimeout(connect, RECONNECT_MS);
      } else {
        setLive("connecting");
      }
    };
  }

  // ------------------------------------------------------------------ start

  function tick() {
    $("clock").textContent = clockText(new Date());
    refreshEtas();
  }

  // What the other scripts share with this file.
  window.HazardWatch = {
    $,
    el,
    t,
    toast,
    timeText,
    valueText,
    etaText,
    category,
    categoryText,
    conditionText,
    detailOf,
    getJSON,
    handle,
    refresh,
    model,
    UNACKED,
  };

  document.addEventListener("DOMContentLoaded", () => {
    tick();
    setInterval(tick, 1000);
    setLive("connecting");
    $("lang-switch").addEventListener("click", () => {
      window.HazardWatchI18n.set(window.HazardWatchI18n.lang() === "zh" ? "en" : "zh");
    });
    window.HazardWatchI18n.onChange(() => {
      setLive($("live-state").dataset.state);
      renderTiles();
      alarmsView().refreshed();
    });
    // The live channel and the snapshot once someone is logged in (the cookie rides along).
    window.HazardWatchSession.start().then(connect);
  });
})();
