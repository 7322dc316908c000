// The logged-in user: the login form, the session cookie (HttpOnly, the browser sends it)
// and the CSRF token every mutating request carries. `HazardWatchSession.api` is the fetch
// of the other scripts: on a 401 it asks for a login and tries once more.
(() => {
  "use strict";

  const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);
  const session = { user: null, csrf: null, waiting: null, started: null };
  const t = (...args) => window.HazardWatchI18n.t(...args);

  function show() {
    const u = session.user;
    $("operator").textContent = u ? t("operator", u) : t("not_logged_in");
    $("operator").dataset.role = u ? u.role : "";
    $("logout").hidden = !u;
  }

  function accept(me) {
    session.user = { name: me.name, role: me.role };
    session.csrf = me.csrf || null;
    show();
  }

  // The login dialog; resolves once a login succeeded. Concurrent callers share one dialog.
  function login() {
    if (session.waiting) return session.waiting;
    const dialog = $("login-dialog");
    const form = dialog.querySelector("form");
    const error = $("login-error");
    session.waiting = new Promise((resolve) => {
      async function submit(event) {
        event.preventDefault();
        error.textContent = "";
        const r = await fetch("/api/login", {
          method: "POST",
          headers: { "Content-Type": "application/json", Accept: "application/json" },
          body: JSON.stringify({ name: form.name.value.trim(), password: form.password.value }),
        });
        const body = await r.json().catch(() => ({}));
        if (!r.ok) {
          const wait = r.headers.get("Retry-After");
          const detail = typeof body.detail === "string" ? body.detail : r.status;
          error.textContent = r.status === 429 ? t("login_wait", { wait }) : t("login_failed", { detail });
          return;
        }
        form.removeEventListener("submit", submit);
        form.password.value = "";
        dialog.close();
        accept(body);
        session.waiting = null;
        resolve(session.user);
      }
      form.addEventListener("submit", submit);
    });
    dialog.addEventListener("cancel", (e) => e.preventDefault()); // no page without a login
    if (!dialog.open) dialog.showModal();
    form.name.focus();
    return session.waiting;
  }

  // fetch for the API: the CSRF token on mutating requests; a 401 asks for a login, once.
  async function api(path, options = {}, retried = false) {
    const method = (options.method || "GET").toUpperCase();
    const headers = { Accept: "application/json", ...(options.headers || {}) };
    if (method !== "GET" && session.csrf) headers["X-CSRF-Token"] = session.csrf;
    const r = await fetch(path, { ...options, method, headers, credentials: "same-origin" });
    if (r.status === 401 && !retried) {
      session.user = null;
      show();
      await login();
      return api(path, options, true);
    }
    return r;
  }

  // Who is logged in (the cookie may still be good), else the login form; asked once.
  function start() {
    session.started ||= (async () => {
      const r = await fetch("/api/me", { headers: { Accept: "application/json" } });
      if (r.ok) accept(await r.json());
      else await login();
      return session.user;
    })();
    return session.started;
  }

  async function logout() {
    await api("/api/logout", { method: "POST" }, true);
    session.user = null;
    session.csrf = null;
    show();
    location.reload();
  }

  window.HazardWatchSession = { api, start, login, user: () => session.user };

  document.addEventListener("DOMContentLoaded", () => {
    show();
    window.HazardWatchI18n.onChange(show);
    $("logout").addEventListener("click", logout);
  });
})();
