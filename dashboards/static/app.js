// HazardWatch control-room page: the initial state from the REST API, then live events
// over Server-Sent Events. Plain DOM, no framework and nothing loaded from elsewhere, so
// it works on an isolated command-room network.
"use strict";

(() => {
  // What each condition is (category, labels) comes from the server's one condition table
  // (GET /api/conditions), loaded with the first snapshot.
  const CATEGORIES = {
    early_warning: "预警 WARNING",
    process: "报警 ALARM",
    instrument: "仪表 FAULT",
    communication: "通讯 COMM",
  };
  const PRIORITIES = {
    high: { rank: 3, text: "高 HIGH" },
    medium: { rank: 2, text: "中 MEDIUM" },
    low: { rank: 1, text: "低 LOW" },
  };
  const STATES = {
    active_unack: "报警 ACTIVE",
    active_ack: "已确认 ACKED",
    cleared_unack: "已恢复 CLEARED",
    normal: "正常 NORMAL",
  };
  const UNACKED = new Set(["active_unack", "cleared_unack"]);
  const COLOURS = {
    red: "红 重大风险",
    orange: "橙 较大风险",
    yellow: "黄 一般风险",
    blue: "蓝 低风险",
  };
  const GRADES = { 1: "一级", 2: "二级", 3: "三级", 4: "四级" };
  const LIVE = {
    open: "实时 LIVE",
    connecting: "连接中 CONNECTING",
    closed: "断开 OFFLINE",
  };
  const RECONNECT_MS = 5000;

  const model = {
    enterprises: new Map(), // id -> name
    sources: new Map(), // hazard source id -> hazard source from the API
    alarms: new Map(), // alarm id -> alarm (open ones only)
    conditions: new Map(), // condition name -> its row of the condition table
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

  function category(a) {
    if (CATEGORIES[a.category]) return a.category;
    const known = model.conditions.get(a.condition);
    return known ? known.category : "process";
  }

  function conditionText(name) {
    const known = model.conditions.get(name);
    return known ? `${name.toUpperCase()} ${known.zh}` : name;
  }

  // Time left until a predicted crossing, from this browser's clock.
  function etaText(etaTs) {
    const left = etaTs - Date.now() / 1000;
    if (left <= 0) return "预计已到达 limit reached";
    const min = Math.floor(left / 60);
    if (min < 1) return "预计不到 1 分钟 in <1 min";
    if (min < 90) return `预计 ${min} 分钟后到限 in ${min} min`;
    const h = Math.floor(min / 60);
    return `预计 ${h} 小时 ${min % 60} 分后到限 in ${h} h ${min % 60} min`;
  }

  function refreshEtas() {
    for (const node of document.querySelectorAll('[data-testid="alarm-eta"]')) {
      node.textContent = etaText(Number(node.dataset.etaTs));
    }
  }

  function valueText(v) {
    if (v === null || v === undefined || !Number.isFinite(v)) return "—";
    return Math.abs(v) >= 1000 ? v.toFixed(0) : v.toFixed(2);
  }

  let toastTimer = 0;
  function toast(message) {
    const t = $("toast");
    t.textContent = message;
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => {
      t.hidden = true;
    }, 6000);
  }

  async function getJSON(path) {
    const r = await window.HazardWatchSession.api(path);
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
    return r.json();
  }

  // ------------------------------------------------------------------ render

  function renderTiles() {
    const box = $("tiles");
    box.replaceChildren();
    for (const s of model.sources.values()) {
      const colour = COLOURS[s.colour] ? s.colour : "blue";
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
            el("span", { text: `${GRADES[s.grade] || s.grade} 重大危险源 · Grade ${s.grade}` }),
            el("span", { class: "tile-colour", text: COLOURS[colour] }),
          ),
          el(
            "div",
            { class: "tile-count" },
            el("span", { class: "big", "data-testid": `tile-count-${s.id}`, text: String(open.total) }),
            el("span", { text: " 报警 open" }),
            el("span", {
              class: open.unacked ? "tile-unacked" : "tile-unacked none",
              "data-testid": `tile-unacked-${s.id}`,
              text: ` · ${open.unacked} 未确认 unack`,
            }),
          ),
        ),
      );
    }
  }

  function sortedAlarms() {
    const rank = (a) => (PRIORITIES[a.priority] || { rank: 0 }).rank;
    return [...model.alarms.values()].sort(
      (a, b) => rank(b) - rank(a) || b.raised_ts - a.raised_ts || b.id - a.id,
    );
  }

  function alarmRow(a) {
    const unacked = UNACKED.has(a.state);
    const priority = PRIORITIES[a.priority] ? a.priority : "low";
    const source = model.sources.get(a.hazard_source);
    const stateCell = el("td", { class: "state", "data-testid": "alarm-state" });
    if (unacked) stateCell.append(el("span", { class: "unack-mark", text: "● 未确认 UNACK " }));
    const stateText = STATES[a.state] || a.state;
    // An active early warning is 预警, not 报警, in the state column too.
    stateCell.append(
      el("span", {
        text: category(a) === "early_warning" ? stateText.replace("报警", "预警") : stateText,
      }),
    );
    if (a.acked_by) stateCell.append(el("span", { class: "acked-by", text: ` (${a.acked_by})` }));

    const action = el("td", { class: "action" });
    if (unacked) {
      const button = el("button", {
        type: "button",
        class: "ack",
        "data-testid": "ack-button",
        text: "确认 Acknowledge",
      });
      button.addEventListener("click", () => acknowledge(a.id, button));
      action.append(button);
    }
    const kind = category(a);
    const conditionCell = el(
      "td",
      { class: "condition" },
      el("span", {
        class: `badge badge-${kind}`,
        "data-testid": "alarm-category",
        text: CATEGORIES[kind],
      }),
      el("span", { text: ` ${conditionText(a.condition)}` }),
    );
    if (a.eta_ts !== null && a.eta_ts !== undefined && Number.isFinite(a.eta_ts)) {
      conditionCell.append(
        el("span", {
          class: "eta",
          "data-testid": "alarm-eta",
          "data-eta-ts": String(a.eta_ts),
          title: `预计到限时间 Predicted crossing ${timeText(a.eta_ts)}`,
          text: etaText(a.eta_ts),
        }),
      );
    }
    return el(
      "tr",
      {
        class: `alarm p-${priority} cat-${kind}${unacked ? " unacked" : ""}`,
        "data-testid": "alarm-row",
        "data-alarm-id": String(a.id),
        "data-state": a.state,
        "data-priority": priority,
        "data-category": kind,
        "data-tag": a.tag,
      },
      el("td", { text: timeText(a.raised_ts) }),
      el("td", { class: "priority", text: PRIORITIES[priority].text }),
      el("td", { class: "place", text: model.enterprises.get(a.enterprise) || a.enterprise }),
      el("td", { class: "place", text: source ? source.name : a.hazard_source }),
      el("td", { text: a.unit }),
      el("td", { class: "tag", text: a.tag }),
      conditionCell,
      el("td", { class: "num", text: valueText(a.value) }),
      stateCell,
      action,
    );
  }

  function renderAlarms() {
    const rows = sortedAlarms();
    $("alarm-list").replaceChildren(...rows.map(alarmRow));
    $("alarm-count").textContent = String(rows.length);
    $("unacked-count").textContent = String(rows.filter((a) => UNACKED.has(a.state)).length);
    $("no-alarms").hidden = rows.length > 0;
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
        toast(`刷新失败 Refresh failed: ${err.message}`);
      }
    }, 1000);
  }

  function handle(message) {
    if (model.loading && message.type !== "resync") {
      model.held.push(message);
      return;
    }
    if (message.type === "alarm") {
      applyLive(message.alarm);
      renderAlarms();
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
      const [site, sources, alarms, conditions] = await Promise.all([
        getJSON("/api/site"),
        getJSON("/api/hazard-sources"),
        getJSON("/api/alarms?limit=500"),
        getJSON("/api/conditions"),
      ]);
      model.conditions = new Map(conditions.conditions.map((c) => [c.condition, c]));
      $("park-name").textContent = site.park;
      document.title = `${site.park} · HazardWatch`;
      model.enterprises = new Map(site.enterprises.map((e) => [e.id, e.name]));
      model.sources = new Map(sources.hazard_sources.map((s) => [s.id, s]));
      model.alarms = new Map();
      for (const a of alarms.alarms) applyAlarm(a);
    } catch (err) {
      toast(`加载失败 Load failed: ${err.message}`);
      setTimeout(refresh, RECONNECT_MS);
    } finally {
      model.loading = false;
    }
    // Events that arrived while the snapshot was in flight are newer or equal: replay them.
    const held = model.held;
    model.held = [];
    renderTiles();
    renderAlarms();
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
    node.textContent = LIVE[state];
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
        toast(`无效消息 Bad live message: ${err.message}`);
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

  // ------------------------------------------------------------------ acknowledge

  async function acknowledge(alarmId, button) {
    // The journal names the logged-in user: the body carries no name.
    button.disabled = true;
    try {
      const r = await window.HazardWatchSession.api(`/api/alarms/${alarmId}/ack`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({}),
      });
      const body = await r.json().catch(() => ({}));
      if (!r.ok) {
        const detail = typeof body.detail === "string" ? body.detail : `HTTP ${r.status}`;
        toast(`确认失败 Acknowledge failed (${r.status}): ${detail}`);
        if (r.status === 404 || r.status === 409) refresh();
        return;
      }
      // The live channel brings the same event; applying it twice changes nothing.
      handle({ type: "alarm", ...body });
    } catch (err) {
      toast(`确认失败 Acknowledge failed: ${err.message}`);
    } finally {
      button.disabled = false;
    }
  }

  // ------------------------------------------------------------------ start

  function tick() {
    $("clock").textContent = clockText(new Date());
    refreshEtas();
  }

  // What transfers.js shares with this file.
  window.HazardWatch = { el, toast, timeText, valueText };

  document.addEventListener("DOMContentLoaded", () => {
    tick();
    setInterval(tick, 1000);
    // The live channel and the snapshot once someone is logged in (the cookie rides along).
    window.HazardWatchSession.start().then(connect);
  });
})();
