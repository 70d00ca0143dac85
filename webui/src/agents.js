// Agents page: the enrolled agents (version, last contact, connected,
// revoke), and join codes: make one, show it once with ready-to-paste
// install commands, list and revoke them. Text from the core goes through
// textContent only.

import { $, api, el, parseTime, timeEl } from "./util.js";
import { subscribe } from "./live.js";

const ui = {
  body: $("ag-list").tBodies[0],
  table: $("ag-list"),
  total: $("ag-total"),
  empty: $("ag-empty"),
  error: $("ag-error"),
  form: $("jc-form"),
  uses: $("jc-uses"),
  ttl: $("jc-ttl"),
  note: $("jc-note"),
  create: $("jc-create"),
  jcError: $("jc-error"),
  fresh: $("jc-new"),
  freshUses: $("jc-new-uses"),
  freshExp: $("jc-new-exp"),
  code: $("jc-code"),
  msi: $("jc-msi"),
  ps: $("jc-ps"),
  linux: $("jc-linux"),
  copied: $("jc-copied"),
  codes: $("jc-list").tBodies[0],
  codesTable: $("jc-list"),
  codesEmpty: $("jc-empty"),
};

// The list follows the live feed, no polling: an agent's hello, its
// batches and its going away reach the page as host events, and the open
// page reloads the list after them, at most once per SETTLE_MS so that a
// fleet's batches cost one request, not one each.
const SETTLE_MS = 2000;
let timer = 0;
let unsubscribe = null;

const STATES = { active: "Active", expired: "Expired", used_up: "Used up", revoked: "Revoked" };

function agentRow(a) {
  const tr = el("tr");
  tr.dataset.agent = a.id;
  const host = el("td", "strong", a.hostname || a.id);
  host.title = `Agent id ${a.id}`;
  const state = a.revoked ? "Revoked" : a.connected ? "Connected" : "Not connected";
  const st = el("td", "", state);
  st.dataset.state = a.revoked ? "revoked" : a.connected ? "connected" : "disconnected";
  const last = el("td");
  last.append(timeEl(parseTime(a.last_contact), true));
  const enrolled = el("td");
  enrolled.append(timeEl(parseTime(a.enrolled_at), false));
  const act = el("td", "actions");
  if (!a.revoked) {
    const b = el("button", "btn small danger-text", "Revoke");
    b.type = "button";
    b.setAttribute("aria-label", `Revoke the agent of ${a.hostname || a.id}`);
    b.addEventListener("click", () => revokeAgent(a, b));
    act.append(b);
  }
  tr.append(host, el("td", "", a.version || "–"), el("td", "", a.os || "–"), last, st, el("td", "mono", a.remote_addr || "–"), enrolled, act);
  return tr;
}

async function revokeAgent(a, button) {
  const name = a.hostname || a.id;
  if (!window.confirm(`Revoke the agent of ${name}? Its connection closes now, and it cannot connect again without a new join code.`)) return;
  button.disabled = true;
  ui.error.textContent = "";
  try {
    await api("POST", `api/v1/agents/${encodeURIComponent(a.id)}/revoke`);
  } catch (err) {
    ui.error.textContent = `Could not revoke ${name}: ${err.message}`;
    button.disabled = false;
    return;
  }
  loadAgents();
}

async function loadAgents() {
  try {
    const list = (await api("GET", "api/v1/agents")) || [];
    ui.body.replaceChildren(...list.map(agentRow));
    ui.total.textContent = String(list.filter((a) => !a.revoked).length);
    ui.table.hidden = list.length === 0;
    ui.empty.hidden = list.length > 0;
  } catch (err) {
    ui.error.textContent = `Could not load the agents: ${err.message}`;
  }
}

function codeRow(j) {
  const tr = el("tr");
  tr.dataset.joinCode = j.id;
  const created = el("td");
  created.append(timeEl(parseTime(j.created_at), false));
  const expires = el("td");
  expires.append(timeEl(parseTime(j.expires_at), false));
  const st = el("td", "", STATES[j.state] || j.state);
  st.dataset.state = j.state;
  const act = el("td", "actions");
  if (j.state === "active") {
    const b = el("button", "btn small danger-text", "Revoke");
    b.type = "button";
    b.setAttribute("aria-label", `Revoke join code ${j.id}`);
    b.addEventListener("click", async () => {
      if (!window.confirm(`Revoke join code ${j.id}${j.note ? ` (${j.note})` : ""}? Agents it enrolled keep working; no new agent can use it.`)) return;
      b.disabled = true;
      try {
        await api("DELETE", `api/v1/join-codes/${encodeURIComponent(j.id)}`);
      } catch (err) {
        ui.jcError.textContent = `Could not revoke the join code: ${err.message}`;
        b.disabled = false;
        return;
      }
      loadCodes();
    });
    act.append(b);
  }
  tr.append(el("td", "mono", j.id), el("td", "", j.note || ""), created, expires, el("td", "num", `${j.uses_left} of ${j.uses}`), st, act);
  return tr;
}

async function loadCodes() {
  try {
    const list = (await api("GET", "api/v1/join-codes")) || [];
    ui.codes.replaceChildren(...list.map(codeRow));
    ui.codesTable.hidden = list.length === 0;
    ui.codesEmpty.hidden = list.length > 0;
  } catch (err) {
    ui.jcError.textContent = `Could not load the join codes: ${err.message}`;
  }
}

async function createCode(e) {
  e.preventDefault();
  ui.jcError.textContent = "";
  const uses = Number(ui.uses.value);
  if (!Number.isInteger(uses) || uses < 1 || uses > 10000) {
    ui.jcError.textContent = "Agents it may enrol: a whole number from 1 to 10000.";
    ui.uses.setAttribute("aria-invalid", "true");
    ui.uses.focus();
    return;
  }
  ui.uses.setAttribute("aria-invalid", "false");
  ui.create.disabled = true;
  try {
    const jc = await api("POST", "api/v1/join-codes", {
      uses, ttl_seconds: Number(ui.ttl.value), note: ui.note.value.trim(),
    });
    ui.code.value = jc.code;
    ui.msi.value = jc.install.windows_msi;
    ui.ps.value = jc.install.windows_powershell;
    ui.linux.value = jc.install.linux;
    ui.freshUses.textContent = jc.uses_left === 1 ? "one agent" : `${jc.uses_left} agents`;
    const exp = parseTime(jc.expires_at);
    ui.freshExp.replaceWith((ui.freshExp = Object.assign(timeEl(exp, false), { id: "jc-new-exp" })));
    ui.copied.textContent = "";
    ui.fresh.hidden = false;
    ui.note.value = "";
    ui.code.focus();
    ui.code.select();
    loadCodes();
  } catch (err) {
    ui.jcError.textContent = `Could not create a join code: ${err.message}`;
  } finally {
    ui.create.disabled = false;
  }
}

// copy puts a field's text on the clipboard; where the Clipboard API is
// not allowed it selects the text so Ctrl+C takes it.
async function copy(id) {
  const field = $(id);
  try {
    await navigator.clipboard.writeText(field.value);
    ui.copied.textContent = "Copied to the clipboard.";
  } catch {
    field.focus();
    field.select();
    ui.copied.textContent = "Selected: press Ctrl+C to copy.";
  }
}

export function initAgents() {
  ui.form.addEventListener("submit", createCode);
  ui.fresh.addEventListener("click", (e) => {
    const id = e.target.closest("[data-copy]")?.dataset.copy;
    if (id) copy(id);
  });
}

export function showAgents() {
  document.title = "Agents · esmon";
  ui.error.textContent = "";
  ui.jcError.textContent = "";
  loadAgents();
  loadCodes();
  if (!unsubscribe) {
    unsubscribe = subscribe((ev) => {
      if ((ev.type === "host" || ev.type === "snapshot") && !timer) {
        timer = setTimeout(() => {
          timer = 0;
          loadAgents();
        }, SETTLE_MS);
      }
    });
  }
}

export function hideAgents() {
  if (unsubscribe) unsubscribe();
  unsubscribe = null;
  clearTimeout(timer);
  timer = 0;
  // The code is shown once: leaving the page forgets it.
  ui.fresh.hidden = true;
  for (const f of [ui.code, ui.msi, ui.ps, ui.linux]) f.value = "";
}
