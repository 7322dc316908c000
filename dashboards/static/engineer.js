// The engineer's view (engineer and admin roles; hidden for the others, and the server
// refuses their changes anyway): a sensor's history with its limits and the proposed
// ones, a suggestion from its history offered as a starting point, a back-test of the
// proposal over the chosen range (POST /api/backtests, progress, current and candidate
// side by side, with each recorded incident's first warning in both runs), apply with a
// reason (POST /api/limits/{tag}) and its versions with roll back. The chart is trend.js's
// drawing (HazardWatchTrend.draw). Refusals (403, the config loader's 422) are shown as the server words them.
(() => {
  "use strict";

  const ROLES = new Set(["engineer", "admin"]);
  const POINTS = 600;
  const POLL_MS = 400;
  const SLOTS = { process: ["hh", "h", "l", "ll"], gas: ["level2", "level1"] };
  const COLOURS = { hh: "#ff453a", h: "#ff9f0a", l: "#ff9f0a", ll: "#ff453a", level2: "#ff453a", level1: "#ff9f0a" };
  const HW = () => window.HazardWatch;
  const api = (...args) => window.HazardWatchSession.api(...args);
  const view = { tag: null, shown: null, suggestion: null, chart: null, drawn: null, job: null, asked: 0, result: null };

  const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);
  const t = (...args) => window.HazardWatchI18n.t(...args);

  function span() {
    const until = Date.now() / 1000;
    return { since: until - Number($("eng-range").value), until };
  }

  function slots() {
    const limits = (view.shown && view.shown.effective.limits) || {};
    return "level1" in limits ? SLOTS.gas : SLOTS.process;
  }

  // A refusal as the server says it: status and its detail (the loader's lines kept).
  async function refused(what, r) {
    const body = await r.json().catch(() => ({}));
    const detail = HW().detailOf(body, r.status);
    const box = $("eng-error");
    box.textContent = t("failed", { what, status: r.status, detail });
    box.dataset.status = String(r.status);
    box.hidden = false;
  }

  function clearError() {
    $("eng-error").hidden = true;
    $("eng-error").textContent = "";
    $("eng-error").dataset.status = "";
  }

  // ------------------------------------------------------------------ the chart

  function draw(series, since, until) {
    view.drawn = [series, since, until]; // redrawn as the proposal changes
    const box = $("eng-chart");
    if (view.chart) view.chart.destroy();
    view.chart = null;
    box.replaceChildren();
    if (typeof window.uPlot !== "function") {
      box.textContent = t("no_chart");
      return;
    }
    const now = view.shown.effective.limits;
    const proposed = proposal().limits || {};
    const lines = [];
    for (const k of slots()) {
      const key = k.toUpperCase();
      if (Number.isFinite(now[k])) lines.push({ key, label: key, value: now[k], stroke: COLOURS[k] });
      if (k in proposed && Number.isFinite(proposed[k])) {
        const label = `${key} ${t("eng_proposed")}`;
        lines.push({ key: label, label, value: proposed[k], stroke: "#bf5af2", dash: [2, 3] });
      }
    }
    // the trend dialog's drawing (trend.js), asked at each call
    view.chart = window.HazardWatchTrend.draw(box, { series, lines, since, until, height: 300 });
  }

  async function loadChart() {
    const asked = ++view.asked;
    const { since, until } = span();
    const q = `since=${since}&until=${until}&points=${POINTS}`;
    const r = await api(`/api/sensors/${encodeURIComponent(view.tag)}/history?${q}`);
    if (!r.ok) return refused(t("eng_history"), r);
    const { series } = await r.json();
    if (asked !== view.asked) return; // another sensor or range was asked for meanwhile
    draw(series[0], since, until);
  }

  // ------------------------------------------------------------------ the form

  function fillForm(limits, deadband) {
    const form = $("eng-form");
    for (const k of [...SLOTS.process, ...SLOTS.gas]) {
      const label = form.querySelector(`[data-slot="${k}"]`);
      label.hidden = !slots().includes(k);
      const v = limits[k];
      form.elements[k].value = Number.isFinite(v) ? String(v) : "";
    }
    if (deadband !== undefined) form.elements.deadband.value = String(deadband);
  }

  // The change the form proposes: only what differs from the running settings.
  function proposal() {
    if (!view.shown) return {};
    const form = $("eng-form");
    const now = view.shown.effective;
    const limits = {};
    for (const k of slots()) {
      const text = form.elements[k].value.trim();
      const v = text === "" ? null : Number(text);
      const was = Number.isFinite(now.limits[k]) ? now.limits[k] : null;
      if (v !== was) limits[k] = v;
    }
    const change = {};
    if (Object.keys(limits).length) change.limits = limits;
    const db = form.elements.deadband.value.trim();
    if (db !== "" && Number(db) !== now.deadband) change.deadband = Number(db);
    return change;
  }

  function showSuggestion(s) {
    view.suggestion = s;
    const box = $("eng-suggestion");
    const values = s && s.change && s.change.limits;
    $("eng-use-suggestion").disabled = !values;
    if (!values) {
      const why = s ? s.warnings.join("; ") : "";
      box.textContent = t("eng_no_suggestion", { why });
      return;
    }
    const text = Object.entries(values)
      .map(([k, v]) => `${k.toUpperCase()} ${HW().valueText(v)}`)
      .join("  ");
    box.textContent = t("eng_suggestion_values", { values: text, n: s.normal_readings });
    box.title = s.note || "";
  }

  async function loadSuggestion() {
    const { since, until } = span();
    const r = await api(`/api/limits/${encodeURIComponent(view.tag)}/suggestion?since=${since}&until=${until}`);
    if (!r.ok) {
      showSuggestion(null);
      return;
    }
    showSuggestion(await r.json());
  }

  // ------------------------------------------------------------------ versions

  function renderVersions(versions) {
    const { el, timeText } = HW();
    const body = $("eng-versions");
    body.replaceChildren();
    for (const v of versions) {
      const back = el("button", { type: "button", class: "act", "data-testid": "eng-rollback", text: t("eng_rollback") });
      back.addEventListener("click", () => rollback(v.version));
      const what = v.rollback_of === null ? JSON.stringify(v.change) : t("eng_rolled_back", { version: v.rollback_of });
      body.append(
        el(
          "tr",
          { "data-testid": "eng-version-row", "data-version": String(v.version) },
          el("td", { class: "num", text: String(v.version) }),
          el("td", { text: timeText(v.ts) }),
          el("td", { text: v.who }),
          el("td", { text: v.reason }),
          el("td", { class: "change", text: what }),
          el("td", {}, back),
        ),
      );
    }
    const zero = el("button", { type: "button", class: "act", "data-testid": "eng-rollback-config", text: t("eng_rollback_config") });
    zero.addEventListener("click", () => rollback(0));
    body.append(el("tr", { "data-version": "0" }, el("td", { colspan: "5", text: t("eng_config_file") }), el("td", {}, zero)));
  }

  async function loadVersions() {
    const r = await api(`/api/limits/${encodeURIComponent(view.tag)}/history?limit=50`);
    if (!r.ok) return refused(t("eng_versions"), r);
    renderVersions((await r.json()).versions);
  }

  // ------------------------------------------------------------------ a sensor

  function showCurrent() {
    const shown = view.shown;
    $("eng-version").textContent = t("eng_version", { version: shown.version });
    $("eng-version").dataset.version = String(shown.version);
    const now = Object.entries(shown.effective.limits)
      .filter(([, v]) => Number.isFinite(v))
      .map(([k, v]) => `${k.toUpperCase()} ${HW().valueText(v)}`)
      .join("  ");
    $("eng-current").textContent = `${now}  ${t("eng_deadband")} ${shown.effective.deadband} ${shown.effective.unit}`;
  }

  async function select(tag) {
    view.tag = tag;
    view.drawn = null;
    view.result = null;
    clearError();
    $("eng-result").hidden = true;
    const r = await api(`/api/limits/${encodeURIComponent(tag)}`);
    if (!r.ok) return refused(t("eng_limits"), r);
    view.shown = await r.json();
    if (view.tag !== tag) return;
    showCurrent();
    fillForm(view.shown.effective.limits, view.shown.effective.deadband);
    await Promise.all([loadChart(), loadSuggestion(), loadVersions()]);
  }

  // The other language: every text again, the proposal in the form and the result kept.
  function relabel() {
    if (!view.shown || $("engineer").hidden) return;
    showCurrent();
    if (view.drawn) draw(...view.drawn);
    if (view.result) renderResult(view.result);
    showSuggestion(view.suggestion);
    loadVersions();
  }

  // ------------------------------------------------------------------ back-test

  function renderResult(result) {
    const { el } = HW();
    const tag = view.tag;
    const a = result.current[tag] || { alarms: {}, time_in_alarm_s: 0, chattering: 0, standing: 0 };
    const b = result.candidate[tag] || { alarms: {}, time_in_alarm_s: 0, chattering: 0, standing: 0 };
    const body = $("eng-result-rows");
    body.replaceChildren();
    const row = (key, label, x, y) => {
      const cls = x === y ? "" : "changed";
      body.append(
        el(
          "tr",
          { class: cls, "data-testid": `bt-${key}` },
          el("th", { text: label }),
          el("td", { class: "num", "data-testid": `bt-current-${key}`, text: String(x) }),
          el("td", { class: "num", "data-testid": `bt-candidate-${key}`, text: String(y) }),
        ),
      );
    };
    const conds = [...new Set([...Object.keys(a.alarms), ...Object.keys(b.alarms)])].sort();
    for (const c of conds) row(c, HW().conditionText(c), a.alarms[c] || 0, b.alarms[c] || 0);
    if (!conds.length) row("none", t("eng_no_alarms"), 0, 0);
    const hours = (s) => (s / 3600).toFixed(2);
    row("time", t("eng_time_in_alarm"), hours(a.time_in_alarm_s), hours(b.time_in_alarm_s));
    row("chattering", t("eng_chattering"), a.chattering, b.chattering);
    row("standing", t("eng_standing"), a.standing, b.standing);
    $("eng-result-summary").textContent = t("eng_result_summary", {
      n: result.readings,
      s: result.seconds.toFixed(1),
    });
    renderIncidents(result);
    view.result = result;
    $("eng-result").hidden = false;
  }

  // A duration for a lead time: seconds below two minutes, whole minutes above.
  function durationText(s) {
    const a = Math.abs(s);
    return a < 120 ? t("eng_seconds", { n: Math.round(a) }) : t("eng_minutes", { n: Math.round(a / 60) });
  }

  function leadText(w) {
    if (!w) return t("eng_lead_none");
    return t(w.lead_s >= 0 ? "eng_lead_before" : "eng_lead_after", { d: durationText(w.lead_s) });
  }

  // How the candidate's first warning compares with the current settings'.
  function verdictOf(now, cand) {
    if (!now && !cand) return ["none", {}];
    if (!now) return ["gained", {}];
    if (!cand) return ["lost", {}];
    const d = cand.lead_s - now.lead_s;
    if (d === 0) return ["same", {}];
    return [d > 0 ? "earlier" : "later", { d: durationText(d) }];
  }

  // Per recorded incident (an alarm disposed with cause process): where and when, and each
  // run's first warning of it at its tag, or at its unit when its tag was not replayed.
  function renderIncidents(result) {
    const { el, timeText, conditionText } = HW();
    const incidents = result.incidents || [];
    const body = $("eng-incidents");
    body.replaceChildren();
    for (const i of incidents) {
      const scope = (result.tags || []).includes(i.tag) ? "tag" : "unit";
      const now = i.current[scope];
      const cand = i.candidate[scope];
      const [verdict, vars] = verdictOf(now, cand);
      const where = `${i.tag} ${conditionText(i.condition)}${scope === "unit" ? t("eng_scope_unit") : ""}`;
      body.append(
        el(
          "tr",
          {
            class: verdict === "earlier" ? "changed" : "",
            "data-testid": "eng-incident",
            "data-alarm-id": String(i.alarm_id),
            "data-scope": scope,
            "data-verdict": verdict,
            title: i.action || "",
          },
          el("td", { text: where }),
          el("td", { text: timeText(i.activated_ts) }),
          el("td", { "data-testid": "eng-incident-current", "data-lead-s": now ? String(now.lead_s) : "", text: leadText(now) }),
          el("td", { "data-testid": "eng-incident-candidate", "data-lead-s": cand ? String(cand.lead_s) : "", text: leadText(cand) }),
          el("td", { "data-testid": "eng-incident-verdict", text: t(`eng_verdict_${verdict}`, vars) }),
        ),
      );
    }
    $("eng-no-incidents").hidden = incidents.length > 0;
  }

  async function poll(id) {
    const r = await api(`/api/backtests/${encodeURIComponent(id)}`);
    if (!r.ok) return refused(t("eng_backtest"), r);
    const job = await r.json();
    if (view.job !== id) return; // a newer back-test was started
    $("eng-progress").value = job.progress;
    $("eng-progress").dataset.status = job.status;
    if (job.status === "running") {
      setTimeout(() => poll(id), POLL_MS);
      return;
    }
    $("eng-backtest").disabled = false;
    if (job.status === "failed") {
      $("eng-error").textContent = t("failed", { what: t("eng_backtest"), status: job.status, detail: job.error });
      $("eng-error").hidden = false;
      return;
    }
    renderResult(job.result);
  }

  async function backtest() {
    clearError();
    const change = proposal();
    if (!Object.keys(change).length) {
      $("eng-error").textContent = t("eng_nothing_changed");
      $("eng-error").hidden = false;
      return;
    }
    const { since, until } = span();
    const body = { since, until, candidate: { [view.tag]: change }, tags: [view.tag] };
    $("eng-result").hidden = true;
    const r = await api("/api/backtests", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!r.ok) return refused(t("eng_backtest"), r);
    const job = await r.json();
    view.job = job.id;
    $("eng-backtest").disabled = true;
    $("eng-progress").hidden = false;
    $("eng-progress").value = job.progress;
    poll(job.id);
  }

  // ------------------------------------------------------------------ apply, roll back

  async function apply(event) {
    event.preventDefault();
    clearError();
    const change = proposal();
    if (!Object.keys(change).length) {
      $("eng-error").textContent = t("eng_nothing_changed");
      $("eng-error").hidden = false;
      return;
    }
    const reason = $("eng-reason").value.trim();
    const r = await api(`/api/limits/${encodeURIComponent(view.tag)}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ change, reason }),
    });
    if (!r.ok) return refused(t("eng_apply"), r);
    const v = await r.json();
    HW().toast(t("eng_applied", { tag: view.tag, version: v.version }));
    $("eng-reason").value = "";
    await select(view.tag);
  }

  async function rollback(version) {
    clearError();
    const reason = $("eng-reason").value.trim() || t("eng_rollback_reason", { version });
    const r = await api(`/api/limits/${encodeURIComponent(view.tag)}/rollback`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ version, reason }),
    });
    if (!r.ok) return refused(t("eng_rollback"), r);
    const v = await r.json();
    HW().toast(t("eng_applied", { tag: view.tag, version: v.version }));
    await select(view.tag);
  }

  // ------------------------------------------------------------------ start

  async function start(user) {
    const section = $("engineer");
    if (!user || !ROLES.has(user.role)) {
      section.hidden = true; // and the server answers 403 to anyone else's change
      return;
    }
    section.hidden = false;
    const r = await api("/api/sensors");
    if (!r.ok) return refused(t("eng_limits"), r);
    const pick = $("eng-sensor");
    pick.replaceChildren(
      ...(await r.json()).sensors.map((s) => HW().el("option", { value: s.tag, text: `${s.tag} (${s.kind}, ${s.unit})` })),
    );
    if (pick.value) await select(pick.value);
  }

  window.HazardWatchEngineer = { select, proposal };

  document.addEventListener("DOMContentLoaded", () => {
    $("eng-sensor").addEventListener("change", (e) => select(e.target.value));
    $("eng-range").addEventListener("change", () => view.tag && Promise.all([loadChart(), loadSuggestion()]));
    $("eng-form").addEventListener("submit", apply);
    $("eng-form").addEventListener("input", () => view.drawn && draw(...view.drawn));
    $("eng-backtest").addEventListener("click", backtest);
    $("eng-use-suggestion").addEventListener("click", () => {
      const s = view.suggestion;
      if (!s || !s.change) return;
      fillForm({ ...view.shown.effective.limits, ...s.change.limits });
      if (view.drawn) draw(...view.drawn);
    });
    window.HazardWatchI18n.onChange(relabel);
    window.HazardWatchSession.start().then(start);
  });
})();
