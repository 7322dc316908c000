// Transfer plans: what the operator means to move, so HazardWatch can say when a tank
// passes its plan (OVERRUN). Lists the open plans, plans a new one, closes one (the form
// and the close buttons for an operator, engineer or admin only).
(() => {
  "use strict";

  const POLL_MS = 15000;
  const t = (...args) => window.HazardWatchI18n.t(...args);
  const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);

  async function call(path, body) {
    const r = await window.HazardWatchSession.api(path, {
      method: body === undefined ? "GET" : "POST",
      headers: { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const answer = await r.json().catch(() => ({}));
    if (!r.ok) {
      const d = answer.detail;
      const detail = typeof d === "string" ? d : Array.isArray(d) ? d.map((e) => e.msg).join("; ") : "";
      throw new Error(detail || `HTTP ${r.status}`);
    }
    return answer;
  }

  function row(plan) {
    const { el, timeText, valueText } = window.HazardWatch;
    const close = el("button", { type: "button", class: "ack", "data-testid": "plan-close" });
    close.textContent = t("plan_close");
    close.addEventListener("click", () => finish(plan.id, close));
    close.hidden = !window.HazardWatchActions.mayAct(); // a viewer cannot close a plan
    return el(
      "tr",
      { "data-testid": "transfer-row", "data-transfer-id": String(plan.id), "data-tag": plan.tag },
      el("td", { text: timeText(plan.ts) }),
      el("td", { text: plan.unit }),
      el("td", { class: "tag", text: plan.tag }),
      el("td", { text: t(`dir_${plan.direction}`) }),
      el("td", { class: "num", "data-testid": "transfer-target", text: valueText(plan.target) }),
      el("td", { text: plan.by }),
      el("td", { text: timeText(plan.expires_ts) }),
      el("td", {}, close),
    );
  }

  async function load() {
    try {
      const { transfers } = await call("/api/transfers");
      $("transfer-list").replaceChildren(...transfers.map(row));
      $("transfer-count").textContent = String(transfers.length);
      $("no-transfers").hidden = transfers.length > 0;
    } catch (err) {
      window.HazardWatch.toast(t("plan_load_failed", { detail: err.message }));
    }
  }

  async function tanks() {
    try {
      const { sensors } = await call("/api/sensors");
      const units = [...new Set(sensors.filter((s) => s.kind === "level").map((s) => s.unit_id))];
      $("plan-tanks").replaceChildren(...units.map((u) => window.HazardWatch.el("option", { value: u })));
    } catch (err) {
      // The form still takes a typed tank id; the list is a convenience.
    }
  }

  async function plan(event) {
    event.preventDefault();
    const form = event.target;
    // the plan names the logged-in user
    const body = { unit: form.unit.value.trim(), target: Number(form.target.value) };
    if (form.direction.value) body.direction = form.direction.value;
    const button = $("plan-submit");
    button.disabled = true;
    try {
      await call("/api/transfers", body);
      form.reset();
      await load();
    } catch (err) {
      window.HazardWatch.toast(t("plan_refused", { detail: err.message }));
    } finally {
      button.disabled = false;
    }
  }

  async function finish(id, button) {
    button.disabled = true;
    try {
      await call(`/api/transfers/${id}/close`, {});
    } catch (err) {
      window.HazardWatch.toast(t("plan_close_failed", { detail: err.message }));
    } finally {
      await load();
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("plan-form").addEventListener("submit", plan);
    window.HazardWatchSession.start().then(() => {
      $("plan-form").hidden = !window.HazardWatchActions.mayAct(); // operators plan, viewers watch
      tanks();
      load();
      window.HazardWatchI18n.onChange(load);
      setInterval(load, POLL_MS);
    });
  });
})();
