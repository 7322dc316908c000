// The alarm list and its tabs: live (not muted), shelved, suppressed, out of service, and
// unclosed (the closed loop's to-do list, with age and overdue marked). Sorted as the API
// sorts (alerting/precedence.py): priority, the gas rule (its ranks from the server's
// condition table), newest first; the first-out alarm of each hazard source marked.
(() => {
  "use strict";

  const HW = () => window.HazardWatch;
  const PRIORITY_RANK = { high: 3, medium: 2, low: 1 };
  const MUTED_TABS = ["shelved", "suppressed", "out_of_service"];
  const TABS = ["active", ...MUTED_TABS, "unclosed"];
  const view = { tab: "active", unclosed: [], mutes: new Map(), shelveMaxS: null };

  // The gas rule of alerting/precedence.py, as the server's condition table ranks each
  // condition on each kind of sensor (GET /api/conditions: gas_rank); 0 where it is silent.
  function gasRank(a, kindOf) {
    const row = HW().model.conditions.get(a.condition);
    const kind = kindOf(a.tag);
    return (row && row.gas_rank && kind && row.gas_rank[kind]) || 0;
  }

  // Most urgent first. `kindOf(tag)` gives a sensor's kind.
  function byPrecedence(alarms, kindOf) {
    const key = (a) => [PRIORITY_RANK[a.priority] || 0, gasRank(a, kindOf), a.raised_ts, a.id];
    return [...alarms].sort((x, y) => {
      const a = key(x);
      const b = key(y);
      for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return b[i] - a[i];
      return 0;
    });
  }

  // Ids of the earliest raised open alarm of each hazard source.
  function firstOuts(alarms) {
    const first = new Map();
    for (const a of alarms) {
      const f = first.get(a.hazard_source);
      if (!f || a.raised_ts < f.raised_ts || (a.raised_ts === f.raised_ts && a.id < f.id)) {
        first.set(a.hazard_source, a);
      }
    }
    return new Set([...first.values()].map((a) => a.id));
  }

  const kindOf = (tag) => {
    const s = HW().model.sensors.get(tag);
    return s ? s.kind : null;
  };

  function inTab(a, tab) {
    return tab === "active" ? !a.muted : a.muted === tab;
  }

  function markerOf(a) {
    const target = a.muted === "suppressed" ? a.unit : a.tag;
    const condition = a.muted === "shelved" ? a.condition : "";
    return view.mutes.get(`${a.muted}|${target}|${condition}`);
  }

  // ------------------------------------------------------------------ rows

  function head(tab) {
    const { el, t } = HW();
    const cols =
      tab === "unclosed"
        ? ["col_raised", "col_priority", "col_source", "col_tag", "col_condition", "col_state",
           "col_age", "col_disposal"]
        : ["col_raised", "col_priority", "col_enterprise", "col_source", "col_unit", "col_tag",
           "col_condition", "col_value", "col_state"];
    if (MUTED_TABS.includes(tab)) cols.push("col_until");
    const cells = cols.map((k) => el("th", { class: k === "col_value" ? "num" : "", text: t(k) }));
    return el("tr", {}, ...cells, el("th"));
  }

  function conditionCell(a, firstOut) {
    const { el, t, category, categoryText, conditionText, etaText, timeText } = HW();
    const kind = category(a);
    const cell = el(
      "td",
      { class: "condition" },
      el("span", { class: `badge badge-${kind}`, "data-testid": "alarm-category", text: categoryText(kind) }),
      el("span", { text: ` ${conditionText(a.condition)}` }),
    );
    if (firstOut) cell.append(el("span", { class: "first-out", "data-testid": "first-out", text: t("first_out") }));
    if (a.eta_ts !== null && a.eta_ts !== undefined && Number.isFinite(a.eta_ts)) {
      cell.append(
        el("span", {
          class: "eta",
          "data-testid": "alarm-eta",
          "data-eta-ts": String(a.eta_ts),
          title: t("eta_title", { time: timeText(a.eta_ts) }),
          text: etaText(a.eta_ts),
        }),
      );
    }
    return cell;
  }

  function stateCell(a) {
    const { el, t, category, UNACKED } = HW();
    const cell = el("td", { class: "state", "data-testid": "alarm-state" });
    if (UNACKED.has(a.state)) cell.append(el("span", { class: "unack-mark", text: `${t("unack_mark")} ` }));
    // An active early warning is 预警, not 报警, in the state column too.
    const early = category(a) === "early_warning" && a.state.startsWith("active_unack");
    cell.append(el("span", { text: early ? t("early_active") : t(`st_${a.state}`) }));
    if (a.muted) cell.append(el("span", { class: "muted-mark", text: ` · ${t(`muted_${a.muted}`)}` }));
    if (a.acked_by) cell.append(el("span", { class: "acked-by", text: ` (${a.acked_by})` }));
    return cell;
  }

  function tagCell(a) {
    const { el } = HW();
    const link = el("button", { type: "button", class: "tag-link", "data-testid": "trend-open", text: a.tag });
    link.addEventListener("click", () => window.HazardWatchTrend.open(a.tag, a));
    return el("td", { class: "tag" }, link);
  }

  function ageText(s) {
    const { t } = HW();
    const min = Math.max(0, Math.floor(s / 60));
    return min >= 60 ? t("age_hm", { h: Math.floor(min / 60), min: min % 60 }) : t("age_m", { min });
  }

  function row(a, tab, firstOut) {
    const { el, t, model, timeText, valueText, category, UNACKED } = HW();
    const priority = PRIORITY_RANK[a.priority] ? a.priority : "low";
    const source = model.sources.get(a.hazard_source);
    const unacked = UNACKED.has(a.state);
    const attrs = {
      class: `alarm p-${priority} cat-${category(a)}${unacked ? " unacked" : ""}${a.overdue ? " overdue" : ""}`,
      "data-testid": "alarm-row",
      "data-alarm-id": String(a.id),
      "data-state": a.state,
      "data-priority": priority,
      "data-category": category(a),
      "data-tag": a.tag,
      "data-muted": a.muted || "",
      "data-first-out": String(firstOut),
    };
    const actions = window.HazardWatchActions.cell(a, tab);
    if (tab === "unclosed") {
      const age = el("td", { "data-testid": "alarm-age", text: ageText(a.age_s) });
      if (a.overdue) age.append(el("span", { class: "overdue-mark", "data-testid": "overdue", text: ` ${t("overdue")}` }));
      const d = a.disposal;
      const disposal = el("td", {
        "data-testid": "alarm-disposal",
        text: d ? `${t("disposed")}: ${t(`cause_${d.cause}`)} · ${d.action} (${d.by})` : t("not_disposed"),
      });
      return el(
        "tr",
        { ...attrs, "data-overdue": String(Boolean(a.overdue)) },
        el("td", { text: timeText(a.raised_ts) }),
        el("td", { class: "priority", text: t(`p_${priority}`) }),
        el("td", { class: "place", text: source ? source.name : a.hazard_source }),
        tagCell(a),
        conditionCell(a, false),
        stateCell(a),
        age,
        disposal,
        actions,
      );
    }
    const cells = [
      el("td", { text: timeText(a.raised_ts) }),
      el("td", { class: "priority", text: t(`p_${priority}`) }),
      el("td", { class: "place", text: model.enterprises.get(a.enterprise) || a.enterprise }),
      el("td", { class: "place", text: source ? source.name : a.hazard_source }),
      el("td", { text: a.unit }),
      tagCell(a),
      conditionCell(a, firstOut),
      el("td", { class: "num", text: valueText(a.value) }),
      stateCell(a),
    ];
    if (MUTED_TABS.includes(tab)) {
      const m = markerOf(a);
      cells.push(el("td", { "data-testid": "mute-until", text: m && m.until_ts ? timeText(m.until_ts) : "—" }));
    }
    return el("tr", attrs, ...cells, actions);
  }

  // ------------------------------------------------------------------ render

  function render() {
    const { $, t, model, UNACKED } = HW();
    const open = [...model.alarms.values()];
    const firsts = firstOuts(open);
    for (const tab of MUTED_TABS.concat("active")) {
      $(`tab-count-${tab}`).textContent = String(open.filter((a) => inTab(a, tab)).length);
    }
    $("tab-count-unclosed").textContent = String(view.unclosed.length);
    const rows =
      view.tab === "unclosed"
        ? view.unclosed
        : byPrecedence(open.filter((a) => inTab(a, view.tab)), kindOf);
    $("alarm-head").replaceChildren(head(view.tab));
    $("alarm-list").replaceChildren(...rows.map((a) => row(a, view.tab, firsts.has(a.id))));
    $("alarm-count").textContent = String(open.length);
    $("unacked-count").textContent = String(open.filter((a) => UNACKED.has(a.state)).length);
    $("unacked-count").title = t("unacked_title");
    $("no-alarms").textContent = t(view.tab === "unclosed" ? "no_unclosed" : "no_alarms");
    $("no-alarms").hidden = rows.length > 0;
    for (const b of document.querySelectorAll('[data-testid="tabs"] [data-tab]')) {
      b.setAttribute("aria-selected", String(b.dataset.tab === view.tab));
    }
    window.HazardWatchTone.update(open);
  }

  let sideTimer = 0;
  // The unclosed list and the mute markers: fetched again once a burst of events is over.
  function refreshSideSoon(delay = 300) {
    clearTimeout(sideTimer);
    sideTimer = setTimeout(async () => {
      const { getJSON, toast, t } = HW();
      try {
        const [unclosed, mutes] = await Promise.all([
          getJSON("/api/alarms/unclosed"),
          getJSON("/api/mutes"),
        ]);
        view.unclosed = unclosed.alarms;
        view.mutes = new Map(
          mutes.mutes.map((m) => [`${m.kind}|${m.target}|${m.condition || ""}`, m]),
        );
        view.shelveMaxS = mutes.shelve_max_s;
        render();
      } catch (err) {
        toast(t("load_failed", { detail: err.message }));
      }
    }, delay);
  }

  function show(tab) {
    if (!TABS.includes(tab)) return;
    view.tab = tab;
    render();
    if (tab === "unclosed" || MUTED_TABS.includes(tab)) refreshSideSoon(0);
  }

  // The longest shelve the park allows, in seconds (GET /api/mutes), asked once if unknown.
  async function shelveMaxS() {
    if (view.shelveMaxS === null) view.shelveMaxS = (await HW().getJSON("/api/mutes")).shelve_max_s;
    return view.shelveMaxS;
  }

  window.HazardWatchAlarms = {
    byPrecedence,
    shelveMaxS,
    firstOuts,
    render,
    show,
    refreshSideSoon,
    // a live alarm event: sound for a new one, draw, and fetch what it may have changed
    changed(message) {
      if (message.event === "activate") window.HazardWatchTone.raised(message.alarm);
      render();
      refreshSideSoon();
    },
    refreshed() {
      render();
      refreshSideSoon(0);
    },
  };

  document.addEventListener("DOMContentLoaded", () => {
    for (const b of document.querySelectorAll('[data-testid="tabs"] [data-tab]')) {
      b.addEventListener("click", () => show(b.dataset.tab));
    }
  });
})();
