// Transfer plans: what the operator means to move, so HazardWatch can say when a tank
// passes its plan (OVERRUN). Lists the open plans, plans a new one, closes one.
(() => {
  "use strict";

  const POLL_MS = 15000;
  const DIRECTIONS = { fill: "进料 fill", empty: "出料 empty" };
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

  function row(t) {
    const { el, timeText, valueText } = window.HazardWatch;
    const close = el("button", { type: "button", class: "ack", "data-testid": "plan-close" });
    close.textContent = "结束 Close";
    close.addEventListener("click", () => finish(t.id, close));
    return el(
      "tr",
      { "data-testid": "transfer-row", "data-transfer-id": String(t.id), "data-tag": t.tag },
      el("td", { text: timeText(t.ts) }),
      el("td", { text: t.unit }),
      el("td", { class: "tag", text: t.tag }),
      el("td", { text: DIRECTIONS[t.direction] || t.direction }),
      el("td", { class: "num", "data-testid": "transfer-target", text: valueText(t.target) }),
      el("td", { text: t.by }),
      el("td", { text: timeText(t.expires_ts) }),
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
      window.HazardWatch.toast(`作业计划加载失败 Transfer plans: ${err.message}`);
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
      window.HazardWatch.toast(`作业计划被拒 Plan refused: ${err.message}`);
    } finally {
      button.disabled = false;
    }
  }

  async function finish(id, button) {
    button.disabled = true;
    try {
      await call(`/api/transfers/${id}/close`, {});
    } catch (err) {
      window.HazardWatch.toast(`结束失败 Close failed: ${err.message}`);
    } finally {
      await load();
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("plan-form").addEventListener("submit", plan);
    window.HazardWatchSession.start().then(() => {
      tanks();
      load();
      setInterval(load, POLL_MS);
    });
  });
})();
