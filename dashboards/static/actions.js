// The operator's actions on one alarm: acknowledge, shelve (reason, duration), unshelve,
// reset (a latched alarm), dispose (cause, action taken, attachment link) and close, for
// an operator, engineer or admin (a viewer sees no buttons). The server names the
// logged-in user; a refusal (403, 409, 422) is shown with its reason.
(() => {
  "use strict";

  const HW = () => window.HazardWatch;
  const UNACKED = new Set(["active_unack", "cleared_unack", "latched_unack"]);
  const LATCHED = new Set(["latched_unack", "latched_ack"]);
  const CAUSES = ["process", "equipment", "instrument_fault", "false_alarm", "maintenance", "other"];
  // Shelve durations offered, in minutes, up to the park's maximum (alarms.shelve_max_h).
  const SHELVE_MIN = [1, 15, 30, 60, 120, 240, 480];
  // The least role of every action here (dashboards/auth.py ROUTES); a viewer sees none.
  const ROLE_RANK = { viewer: 0, operator: 1, engineer: 2, admin: 3 };

  function mayAct() {
    const user = window.HazardWatchSession.user();
    return Boolean(user) && (ROLE_RANK[user.role] || 0) >= ROLE_RANK.operator;
  }

  const durationText = (m) => {
    const { t } = HW();
    return m < 60 ? t("minutes", { n: m }) : t("hours", { n: +(m / 60).toFixed(2) });
  };

  // POST an action; true when done. The events it made come back over the live channel too.
  async function post(path, body, what, button) {
    const { t, toast, detailOf, handle, refresh } = HW();
    if (button) button.disabled = true;
    try {
      const r = await window.HazardWatchSession.api(path, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      const answer = await r.json().catch(() => ({}));
      if (!r.ok) {
        toast(t("failed", { what: t(what), status: r.status, detail: detailOf(answer, r.status) }));
        if (r.status === 404 || r.status === 409) refresh();
        return false;
      }
      // Applying an event twice changes nothing: apply what the answer says at once.
      const events = answer.events || (answer.alarm ? [answer] : []);
      for (const e of events) handle({ type: "alarm", ...e });
      window.HazardWatchAlarms.refreshSideSoon(0);
      return true;
    } catch (err) {
      toast(t("failed", { what: t(what), status: "-", detail: err.message }));
      return false;
    } finally {
      if (button) button.disabled = false;
    }
  }

  function button(key, testid, onClick) {
    const { el, t } = HW();
    const b = el("button", { type: "button", class: `ack act-${key}`, "data-testid": testid, text: t(key) });
    b.addEventListener("click", () => onClick(b));
    return b;
  }

  // A form dialog: resolves with its form's values, or null when cancelled.
  function ask(testid, prepare) {
    const { $ } = HW();
    const dialog = $(testid);
    const form = dialog.querySelector("form");
    form.reset();
    prepare(form);
    return new Promise((resolve) => {
      const cancel = dialog.querySelector('[value="cancel"]');
      function done(values) {
        form.removeEventListener("submit", submit);
        cancel.removeEventListener("click", dismiss);
        dialog.removeEventListener("cancel", dismiss);
        dialog.close();
        resolve(values);
      }
      function submit(event) {
        event.preventDefault();
        done(Object.fromEntries(new FormData(form)));
      }
      function dismiss(event) {
        event.preventDefault();
        done(null);
      }
      form.addEventListener("submit", submit);
      cancel.addEventListener("click", dismiss);
      dialog.addEventListener("cancel", dismiss);
      dialog.showModal();
    });
  }

  // The duration in minutes, typed or picked from the presets; one past the park's maximum
  // is refused here, with the maximum named, before anything is sent.
  function limitDuration(input, error, maxMin) {
    const { t } = HW();
    const check = () => {
      const m = Number(input.value);
      const message = maxMin !== null && m > maxMin ? t("shelve_too_long", { max: durationText(maxMin) }) : "";
      input.setCustomValidity(message);
      error.textContent = message;
      error.hidden = !message;
    };
    input.oninput = check;
    check();
  }

  async function shelve(a, b) {
    const { $, el, t } = HW();
    let maxS = null;
    try {
      maxS = await window.HazardWatchAlarms.shelveMaxS();
    } catch {
      maxS = null; // unknown: the server still refuses one too long
    }
    const maxMin = maxS === null ? null : maxS / 60;
    const values = await ask("shelve-dialog", (form) => {
      $("shelve-title").textContent = t("shelve_title", { tag: `${a.tag} ${a.condition.toUpperCase()}` });
      const presets = SHELVE_MIN.filter((m) => maxMin === null || m <= maxMin);
      if (maxMin !== null && !presets.includes(maxMin)) presets.push(maxMin);
      $("shelve-presets").replaceChildren(...presets.map((m) => el("option", { value: String(m), label: durationText(m) })));
      $("shelve-max").textContent = maxMin === null ? "" : t("shelve_max", { max: durationText(maxMin) });
      form.duration.value = String(Math.min(15, maxMin ?? 15));
      limitDuration(form.duration, $("shelve-error"), maxMin);
    });
    if (!values) return;
    const body = { duration_s: Math.round(Number(values.duration) * 60), reason: values.reason };
    await post(`/api/alarms/${a.id}/shelve`, body, "do_shelve", b);
  }

  async function dispose(a, b) {
    const { $, el, t } = HW();
    const values = await ask("dispose-dialog", (form) => {
      $("dispose-title").textContent = t("dispose_title", { tag: `${a.tag} ${a.condition.toUpperCase()}` });
      form.cause.replaceChildren(...CAUSES.map((c) => el("option", { value: c, text: t(`cause_${c}`) })));
    });
    if (!values) return;
    const body = { cause: values.cause, action: values.action };
    if (values.attachment) body.attachment_url = values.attachment;
    await post(`/api/alarms/${a.id}/dispose`, body, "do_dispose", b);
  }

  // The buttons of one row, as the alarm's state and the tab allow.
  function cell(a, tab) {
    const { el } = HW();
    const td = el("td", { class: "action" });
    if (!mayAct()) return td; // a viewer: nothing it could do
    if (tab === "unclosed") {
      td.append(button("do_dispose", "dispose-button", (b) => dispose(a, b)));
      td.append(button("do_close", "close-button", (b) => post(`/api/alarms/${a.id}/close`, {}, "do_close", b)));
      return td;
    }
    if (UNACKED.has(a.state)) {
      td.append(button("do_ack", "ack-button", (b) => post(`/api/alarms/${a.id}/ack`, {}, "do_ack", b)));
    }
    if (LATCHED.has(a.state)) {
      td.append(button("do_reset", "reset-button", (b) => post(`/api/alarms/${a.id}/reset`, {}, "do_reset", b)));
    }
    if (a.muted === "shelved") {
      td.append(button("do_unshelve", "unshelve-button", (b) => post(`/api/alarms/${a.id}/unshelve`, {}, "do_unshelve", b)));
    } else if (!a.muted) {
      td.append(button("do_shelve", "shelve-button", (b) => shelve(a, b)));
    }
    if (!a.disposal) td.append(button("do_dispose", "dispose-button", (b) => dispose(a, b)));
    return td;
  }

  window.HazardWatchActions = { cell, mayAct };
})();
