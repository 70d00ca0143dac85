// People: who is signed in and with which role, the first-run admin
// screen, the account page (password and personal API tokens), and for
// admins the Users and Audit pages. The role only decides what the page
// offers; the core checks it again on every request.
import { $, el, api, apiAuth, canChange, parseTime, timeEl } from "./util.js";

// me is the signed-in person as the core said (GET api/v1/session).
export const me = { user: "", role: "", via: "" };

const ROLES = ["viewer", "operator", "admin"];
const SCOPES = [
  { scope: "read", label: "Read", role: "viewer" },
  { scope: "operate", label: "Read, acknowledge and silence", role: "operator" },
  { scope: "admin", label: "Everything the admin role may do", role: "admin" },
];

// setSession records the session (null from a core without users: the
// admin token alone, so the admin role) and marks the page with the role,
// which the style sheet uses to hide what the role may not do.
export function setSession(s) {
  s = s || { user: "admin", role: "admin", via: "bootstrap" };
  me.user = s.user || "";
  me.role = s.role || "viewer";
  me.via = s.via || "";
  apiAuth.csrf = s.csrf || "";
  apiAuth.role = me.role;
  document.body.dataset.role = me.role;
  const who = $("whoami");
  who.textContent = me.via === "bootstrap" ? "admin token" : `${me.user} (${me.role})`;
  who.hidden = false;
  for (const b of document.querySelectorAll("[data-role-disable]")) b.disabled = !canChange(b.dataset.roleDisable);
}

export function clearSession() {
  me.user = me.role = me.via = "";
  apiAuth.csrf = apiAuth.role = "";
  delete document.body.dataset.role;
  $("whoami").hidden = true;
}

// needsSetup asks whether the core still waits for its first admin; false
// when it cannot say (an older core, or no answer).
export async function needsSetup() {
  try {
    const s = await api("GET", "api/v1/setup");
    return !!(s && s.needed);
  } catch {
    return false;
  }
}

// ---- first run ----------------------------------------------------------------

function initSetup(onSignedIn) {
  const form = $("setup");
  $("to-setup").addEventListener("click", () => {
    $("signin-view").hidden = true;
    $("setup-view").hidden = false;
    $("setup-name").focus();
  });
  $("to-signin").addEventListener("click", () => {
    $("setup-view").hidden = true;
    $("signin-view").hidden = false;
    $("token").focus();
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = $("setup-name").value.trim().toLowerCase();
    const pw = $("setup-password").value;
    const err = $("setup-error");
    if (!name) return fail(err, $("setup-name"), "Enter a user name.");
    if (pw.length < 10) return fail(err, $("setup-password"), "Use at least 10 characters.");
    if (pw !== $("setup-confirm").value) return fail(err, $("setup-confirm"), "The two passwords differ.");
    err.textContent = "";
    $("setup-submit").disabled = true;
    try {
      // Setup is allowed from the core's own machine; elsewhere it needs
      // the admin token, sent as a bearer token (never stored).
      const headers = { "Content-Type": "application/json", Accept: "application/json" };
      const token = $("setup-token").value.trim();
      if (token) headers.Authorization = `Bearer ${token}`;
      const res = await fetch("api/v1/setup", {
        method: "POST", credentials: "same-origin", cache: "no-store", headers,
        body: JSON.stringify({ name, password: pw }),
      });
      const data = await res.json().catch(() => null);
      if (!res.ok) throw new Error((data && data.error) || `The core answered ${res.status}`);
      form.reset();
      setSession(data);
      onSignedIn();
    } catch (ex) {
      err.textContent = ex.message;
    } finally {
      $("setup-submit").disabled = false;
    }
  });
}

function fail(p, input, msg) {
  p.textContent = msg;
  input.setAttribute("aria-invalid", "true");
  input.focus();
}

// ---- account: password and tokens ------------------------------------------

function initAccount() {
  $("pw-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const out = $("pw-status");
    const err = $("pw-error");
    out.textContent = err.textContent = "";
    const pw = $("pw-new").value;
    if (pw.length < 10) return fail(err, $("pw-new"), "Use at least 10 characters.");
    if (pw !== $("pw-confirm").value) return fail(err, $("pw-confirm"), "The two passwords differ.");
    try {
      await api("POST", `api/v1/users/${encodeURIComponent(me.user)}/password`, { current: $("pw-current").value, password: pw });
      $("pw-form").reset();
      out.textContent = "Password changed. Your other sessions have ended.";
    } catch (ex) {
      err.textContent = ex.message;
    }
  });
  $("tok-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const err = $("tok-error");
    err.textContent = "";
    const body = { name: $("tok-name").value.trim(), scopes: [$("tok-scope").value] };
    const exp = $("tok-expires").value;
    if (exp) body.expires_in = exp;
    try {
      const t = await api("POST", "api/v1/tokens", body);
      $("tok-secret").value = t.secret;
      $("tok-new").hidden = false;
      $("tok-form").reset();
      loadTokens();
    } catch (ex) {
      err.textContent = ex.message;
    }
  });
}

export function showAccount() {
  document.title = "Account · esmon";
  $("acct-name").textContent = me.via === "bootstrap" ? "the admin token" : `${me.user}, ${me.role}`;
  const person = me.via === "session";
  $("pw-user").value = me.user;
  $("pw-panel").hidden = !person;
  $("tok-panel").hidden = !person;
  $("acct-bootstrap").hidden = person;
  $("tok-new").hidden = true;
  const sel = $("tok-scope");
  sel.replaceChildren(...SCOPES.filter((s) => canChange(s.role)).map((s) => {
    const o = el("option", "", s.label);
    o.value = s.scope;
    return o;
  }));
  if (person) loadTokens();
}

async function loadTokens() {
  const body = $("tok-list").tBodies[0];
  try {
    const list = (await api("GET", "api/v1/tokens")) || [];
    body.replaceChildren(...list.map((t) => {
      const tr = el("tr");
      tr.dataset.token = t.id;
      const del = el("button", "btn small", "Revoke");
      del.type = "button";
      del.setAttribute("aria-label", `Revoke the token ${t.name}`);
      del.addEventListener("click", async () => {
        if (!window.confirm(`Revoke the token "${t.name}"? Scripts that use it stop working.`)) return;
        try {
          await api("DELETE", `api/v1/tokens/${encodeURIComponent(t.id)}`);
          loadTokens();
        } catch (ex) {
          $("tok-error").textContent = ex.message;
        }
      });
      const act = el("td", "actions");
      act.append(del);
      return row(tr, [t.name, t.scopes.join(", "), timeCell(t.created), timeCell(t.expires, "never"),
        timeCell(t.last_used, "never")], act);
    }));
    $("tok-empty").hidden = list.length > 0;
  } catch (ex) {
    $("tok-error").textContent = `Could not load your tokens: ${ex.message}`;
  }
}

function timeCell(s, none) {
  const d = parseTime(s);
  if (!d) return none || "";
  const td = el("td");
  td.append(timeEl(d, true));
  return td;
}

// row fills tr with cells: strings become text cells, elements are kept.
function row(tr, cells, last) {
  for (const c of cells) tr.append(c instanceof HTMLElement && c.tagName === "TD" ? c : el("td", "", c));
  if (last) tr.append(last);
  return tr;
}

// ---- users (admins) ------------------------------------------------------------

function initUsers() {
  $("user-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const err = $("user-error");
    err.textContent = "";
    try {
      await api("POST", "api/v1/users", {
        name: $("user-name").value.trim().toLowerCase(), role: $("user-role").value, password: $("user-password").value,
      });
      $("user-form").reset();
      loadUsers();
    } catch (ex) {
      err.textContent = ex.message;
    }
  });
}

export function showUsers() {
  document.title = "Users · esmon";
  loadUsers();
}

async function loadUsers() {
  const body = $("users-list").tBodies[0];
  const err = $("users-error");
  err.textContent = "";
  const act = async (fn) => {
    try {
      await fn();
      loadUsers();
    } catch (ex) {
      err.textContent = ex.message;
    }
  };
  try {
    const list = (await api("GET", "api/v1/users")) || [];
    body.replaceChildren(...list.map((u) => {
      const tr = el("tr");
      tr.dataset.user = u.name;
      const roleTd = el("td");
      const sel = el("select");
      sel.setAttribute("aria-label", `Role of ${u.name}`);
      for (const r of ROLES) {
        const o = el("option", "", r);
        o.value = r;
        o.selected = r === u.role;
        sel.append(o);
      }
      sel.addEventListener("change", () => act(() => api("PATCH", `api/v1/users/${encodeURIComponent(u.name)}`, { role: sel.value })));
      roleTd.append(sel);
      const locked = parseTime(u.locked_until);
      const state = u.disabled ? "disabled" : locked ? "locked" : "enabled";
      const tools = el("td", "actions");
      const toggle = el("button", "btn small", u.disabled ? "Enable" : "Disable");
      toggle.type = "button";
      toggle.setAttribute("aria-label", `${u.disabled ? "Enable" : "Disable"} ${u.name}`);
      toggle.addEventListener("click", () => act(() => api("PATCH", `api/v1/users/${encodeURIComponent(u.name)}`, { disabled: !u.disabled })));
      const reset = el("button", "btn small", "Set password…");
      reset.type = "button";
      reset.setAttribute("aria-label", `Set a new password for ${u.name}`);
      reset.addEventListener("click", () => {
        const pw = window.prompt(`New password for ${u.name} (at least 10 characters):`);
        if (pw) act(() => api("POST", `api/v1/users/${encodeURIComponent(u.name)}/password`, { password: pw }));
      });
      const del = el("button", "btn small danger", "Delete");
      del.type = "button";
      del.setAttribute("aria-label", `Delete ${u.name}`);
      del.addEventListener("click", () => {
        if (window.confirm(`Delete ${u.name}? Their sessions and tokens end too.`)) {
          act(() => api("DELETE", `api/v1/users/${encodeURIComponent(u.name)}`));
        }
      });
      tools.append(toggle, reset, del);
      return row(tr, [u.name, roleTd, state, timeCell(u.created)], tools);
    }));
  } catch (ex) {
    err.textContent = `Could not load the users: ${ex.message}`;
  }
}

// ---- audit (admins) -------------------------------------------------------------

export async function showAudit() {
  document.title = "Audit log · esmon";
  const body = $("audit-list").tBodies[0];
  const err = $("audit-error");
  err.textContent = "";
  try {
    const list = (await api("GET", "api/v1/audit?limit=500")) || [];
    body.replaceChildren(...list.map((e) => {
      const tr = el("tr");
      tr.dataset.ok = String(!!e.ok);
      return row(tr, [timeCell(e.at), e.actor || "–", e.action, e.target || "", e.ok ? "done" : "refused", e.remote || "", e.detail || ""]);
    }));
    $("audit-empty").hidden = list.length > 0;
  } catch (ex) {
    err.textContent = `Could not load the audit log: ${ex.message}`;
  }
}

export function initPeople(onSignedIn) {
  initSetup(onSignedIn);
  initAccount();
  initUsers();
  $("audit-refresh").addEventListener("click", showAudit);
}
