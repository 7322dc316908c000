// The notification log at a glance: how many were sent, are waiting and were given up,
// in the bar; the newest failures in its tooltip. A failure must be seen in the command
// room, not only in the API (issue 14). Read-only: any logged-in user may read it.
(() => {
  "use strict";

  const POLL_MS = 10000;
  const t = (...args) => window.HazardWatchI18n.t(...args);
  const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);

  function failures(rows) {
    const lines = [];
    for (const n of rows) {
      const last = (n.log || []).filter((a) => a.outcome === "failed").pop();
      if (last) lines.push(`${n.channel}: ${n.title} — ${last.error || "?"}`);
      if (lines.length === 5) break;
    }
    return lines;
  }

  async function refresh() {
    const badge = $("notify-state");
    if (!badge || !window.HazardWatchSession) return;
    let body;
    try {
      const r = await window.HazardWatchSession.api("/api/notifications?limit=50");
      if (!r.ok) return; // logged out: the login form says so
      body = await r.json();
    } catch {
      return; // the live state shows a lost server
    }
    const c = body.counts || {};
    const failed = (c.failed || 0) + (c.attempts_failed || 0);
    badge.textContent = t("notify_state", {
      sent: c.sent || 0,
      pending: c.pending || 0,
      failed: c.failed || 0,
    });
    badge.dataset.state = c.failed ? "failed" : failed ? "retrying" : "ok";
    badge.title = failures(body.notifications || []).join("\n") || t("notify_none_failed");
    badge.hidden = false;
  }

  document.addEventListener("DOMContentLoaded", () => {
    refresh();
    setInterval(refresh, POLL_MS);
    window.HazardWatchI18n.onChange(refresh);
  });
  window.HazardWatchNotifications = { refresh };
})();
