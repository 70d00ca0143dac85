// What people do with alerts, beyond reading them: acknowledge, silence,
// maintenance windows, and testing notification channels. These pages and
// buttons show only when the core serves the alerting actions (a core that
// answers GET /api/v1/channels with 404 has none), so the page never offers
// what the core cannot do.
import { model, hostName } from "./live.js";
import {
  $, el, api, LABELS, parseDuration, parseTime, timeEl, goDuration,
} from "./util.js";

// caps says what the core can do; filled at sign-in by detect().
export const caps = { alerting: false };

// detect asks the core once whether it serves the alerting actions, and
// shows or hides what depends on them.
export async function detect() {
  try {
    await api("GET", "api/v1/channels");
    caps.alerting = true;
  } catch (err) {
    caps.alerting = false;
    // 404: a core without alerting; 401: not signed in yet (boot asks
    // beside the session check, and asks again after a sign-in).
    if (err.status !== 404 && err.status !== 401) console.warn("esmon: alerting actions unknown:", err.message);
  }
  for (const e of document.querySelectorAll('[data-needs="alerting"]')) e.hidden = !caps.alerting;
  return caps;
}

function matchText(m) {
  return Object.entries(m || {}).map(([k, v]) => `${k}=${k === "host" ? hostName(v) : v}`).join(", ") || "everything";
}

function parseMatch(s) {
  const out = {};
  for (const part of s.split(",").map((x) => x.trim()).filter(Boolean)) {
    const i = part.indexOf("=");
    if (i < 1) return { error: `"${part}" is not name=value` };
    out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return { match: out };
}

function showFieldErrors(prefix, err, fallback) {
  const p = err.field && $(`${prefix}-${err.field}-err`);
  if (p) {
    p.textContent = err.message.replace(new RegExp(`^${err.field}: `), "");
    return true;
  }
  fallback.textContent = err.message;
  return false;
}

function clearFieldErrors(form) {
  for (const p of form.querySelectorAll(".field-error")) p.textContent = "";
}

// ---- acknowledge --------------------------------------------------------------

// ackCell makes the actions of one active alert: acknowledge (or undo) and
// silence. onError shows what went wrong.
export function ackCell(a, onError) {
  const td = el("td", "actions");
  td.dataset.needs = "alerting";
  if (!caps.alerting) {
    td.hidden = true;
    return td;
  }
  if (a.ack) {
    const who = el("div", "small muted");
    who.append(`Acknowledged by ${a.ack.by || "someone"} `, timeEl(parseTime(a.ack.at), true));
    if (a.ack.comment) who.append(`: ${a.ack.comment}`);
    td.append(who);
  }
  if (a.state === "firing") {
    const b = el("button", "btn small", a.ack ? "Unacknowledge" : "Acknowledge");
    b.type = "button";
    b.dataset.roleMin = "operator";
    b.dataset.action = a.ack ? "unack" : "ack";
    b.setAttribute("aria-label", `${a.ack ? "Unacknowledge" : "Acknowledge"} ${a.rule_name} on ${hostName(a.host)}`);
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        const updated = await api(a.ack ? "DELETE" : "POST", `api/v1/alerts/${encodeURIComponent(a.id)}/ack`);
        // The core also publishes the change on the live feed; apply the
        // answer now so the button reacts at once.
        if (updated && model.alerts.has(updated.id)) {
          model.alerts.set(updated.id, { ...model.alerts.get(updated.id), ...updated });
          document.dispatchEvent(new CustomEvent("esmon:alert-changed"));
        }
      } catch (err) {
        onError(err.status === 403 ? "You may not acknowledge alerts." : `Could not change the alert: ${err.message}`);
        b.disabled = false;
      }
    });
    td.append(b);
  }
  const s = el("a", "btn small ghost", "Silence…");
  s.dataset.roleMin = "operator";
  const p = new URLSearchParams({ host: a.host, rule: a.rule_id || a.rule_name });
  s.href = `#/silences?${p}`;
  s.setAttribute("aria-label", `Silence ${a.rule_name} on ${hostName(a.host)}`);
  td.append(s);
  return td;
}

// ---- silences ------------------------------------------------------------------

const sv = {
  body: $("sv-list").tBodies[0], table: $("sv-list"), total: $("sv-total"), empty: $("sv-empty"),
  listError: $("sv-list-error"), form: $("silence-form"), error: $("sv-error"), host: $("sv-host"),
  rule: $("sv-rule"), rules: $("sv-rules"), severity: $("sv-severity"), for: $("sv-for"),
  comment: $("sv-comment"), save: $("sv-save"),
};

async function loadSilences() {
  sv.listError.textContent = "";
  try {
    const list = ((await api("GET", "api/v1/silences")) || [])
      .sort((a, b) => new Date(a.ends_at) - new Date(b.ends_at));
    sv.body.replaceChildren(...list.map((s) => {
      const tr = el("tr");
      tr.dataset.silence = s.id;
      const from = el("td");
      from.append(timeEl(parseTime(s.starts_at), false));
      const until = el("td");
      until.append(timeEl(parseTime(s.ends_at), true));
      const act = el("td", "actions");
      const del = el("button", "btn small", "End now");
      del.type = "button";
      del.dataset.roleMin = "operator";
      del.setAttribute("aria-label", `End the silence on ${matchText(s.match)}`);
      del.addEventListener("click", async () => {
        del.disabled = true;
        try {
          await api("DELETE", `api/v1/silences/${encodeURIComponent(s.id)}`);
          loadSilences();
        } catch (err) {
          sv.listError.textContent = err.message;
          del.disabled = false;
        }
      });
      act.append(del);
      tr.append(el("td", "mono", matchText(s.match)), from, until, el("td", "", s.comment || ""),
        el("td", "", s.created_by || ""), act);
      return tr;
    }));
    sv.total.textContent = String(list.length);
    sv.table.hidden = list.length === 0;
    sv.empty.hidden = list.length > 0;
  } catch (err) {
    sv.listError.textContent = `Could not load the silences: ${err.message}`;
  }
}

async function addSilence(e) {
  e.preventDefault();
  clearFieldErrors(sv.form);
  sv.error.textContent = "";
  const match = {};
  if (sv.host.value) match.host = sv.host.value;
  if (sv.rule.value.trim()) match.rule = sv.rule.value.trim();
  if (sv.severity.value) match.severity = sv.severity.value;
  const ms = parseDuration(sv.for.value);
  let bad = false;
  if (!Object.keys(match).length) {
    $("sv-match-err").textContent = "Pick at least a host, a rule or a severity.";
    bad = true;
  }
  if (!Number.isFinite(ms) || ms <= 0) {
    $("sv-ends_at-err").textContent = "Write how long, e.g. 2h.";
    sv.for.setAttribute("aria-invalid", "true");
    bad = true;
  }
  if (bad) {
    sv.error.textContent = "The silence needs a fix.";
    return;
  }
  sv.for.setAttribute("aria-invalid", "false");
  const now = Date.now();
  sv.save.disabled = true;
  try {
    await api("POST", "api/v1/silences", {
      match, starts_at: new Date(now).toISOString(), ends_at: new Date(now + ms).toISOString(),
      comment: sv.comment.value.trim() || undefined,
    });
    sv.comment.value = "";
    loadSilences();
  } catch (err) {
    showFieldErrors("sv", err, sv.error);
  } finally {
    sv.save.disabled = false;
  }
}

export async function showSilences(params) {
  document.title = "Silences · esmon";
  const hosts = [...model.hosts.values()].sort((a, b) => hostName(a.id).localeCompare(hostName(b.id)));
  const h = params.get("host") || "";
  sv.host.replaceChildren(new Option("Any host", ""), ...hosts.map((x) => new Option(hostName(x.id), x.id)));
  if (h && !model.hosts.has(h)) sv.host.append(new Option(h, h));
  sv.host.value = h;
  sv.rule.value = params.get("rule") || "";
  api("GET", "api/v1/rules").then((rules) => {
    sv.rules.replaceChildren(...(rules || []).map((r) => new Option(r.name, r.id)));
  }).catch(() => {});
  loadSilences();
  if (h || params.get("rule")) sv.comment.focus();
}

// ---- maintenance windows ---------------------------------------------------------

const mv = {
  body: $("mv-list").tBodies[0], table: $("mv-list"), total: $("mv-total"), empty: $("mv-empty"),
  listError: $("mv-list-error"), form: $("maint-form"), error: $("mv-error"), name: $("mv-name"),
  schedule: $("mv-schedule"), duration: $("mv-duration"), match: $("mv-match"), save: $("mv-save"),
};

async function loadMaintenance() {
  mv.listError.textContent = "";
  try {
    const list = ((await api("GET", "api/v1/maintenance")) || []).sort((a, b) => a.name.localeCompare(b.name));
    mv.body.replaceChildren(...list.map((m) => {
      const tr = el("tr");
      tr.dataset.maintenance = m.id;
      tr.dataset.active = String(!!m.active);
      const next = el("td");
      next.append(timeEl(parseTime(m.next), true));
      const act = el("td", "actions");
      const del = el("button", "btn small", "Delete");
      del.type = "button";
      del.dataset.roleMin = "operator";
      del.setAttribute("aria-label", `Delete the window ${m.name}`);
      del.addEventListener("click", async () => {
        if (!window.confirm(`Delete the maintenance window "${m.name}"?`)) return;
        try {
          await api("DELETE", `api/v1/maintenance/${encodeURIComponent(m.id)}`);
          loadMaintenance();
        } catch (err) {
          mv.listError.textContent = err.message;
        }
      });
      act.append(del);
      tr.append(el("td", "strong", m.name), el("td", "mono", m.schedule), el("td", "", goDuration(m.duration)),
        el("td", "mono", matchText(m.match)), el("td", m.active ? "state-firing" : "muted", m.active ? "Open" : "Closed"),
        next, act);
      return tr;
    }));
    mv.total.textContent = String(list.length);
    mv.table.hidden = list.length === 0;
    mv.empty.hidden = list.length > 0;
  } catch (err) {
    mv.listError.textContent = `Could not load the maintenance windows: ${err.message}`;
  }
}

async function addMaintenance(e) {
  e.preventDefault();
  clearFieldErrors(mv.form);
  mv.error.textContent = "";
  const errs = {};
  const name = mv.name.value.trim();
  if (!name) errs.name = "Give the window a name.";
  const schedule = mv.schedule.value.trim();
  if (schedule.split(/\s+/).length !== 5) errs.schedule = "Five fields: minute hour day month weekday, e.g. 0 2 * * 0.";
  const ms = parseDuration(mv.duration.value);
  if (!Number.isFinite(ms) || ms <= 0) errs.duration = "Write how long, e.g. 2h.";
  const pm = parseMatch(mv.match.value);
  if (pm.error) errs.match = pm.error;
  else if (!Object.keys(pm.match).length) errs.match = "At least one matcher, e.g. host=db-*.";
  for (const [f, msg] of Object.entries(errs)) $(`mv-${f}-err`).textContent = msg;
  if (Object.keys(errs).length) {
    mv.error.textContent = "The window needs a fix.";
    $(`mv-${Object.keys(errs)[0]}`).focus();
    return;
  }
  mv.save.disabled = true;
  try {
    await api("POST", "api/v1/maintenance", { name, schedule, duration: mv.duration.value.trim(), match: pm.match });
    mv.form.reset();
    loadMaintenance();
  } catch (err) {
    showFieldErrors("mv", err, mv.error);
  } finally {
    mv.save.disabled = false;
  }
}

export function showMaintenance() {
  document.title = "Maintenance · esmon";
  loadMaintenance();
}

// ---- channels -------------------------------------------------------------------

const cv = { body: $("cv-list").tBodies[0], table: $("cv-list"), total: $("cv-total"), empty: $("cv-empty"), error: $("cv-error") };

export async function showChannels() {
  document.title = "Channels · esmon";
  cv.error.textContent = "";
  try {
    const list = (await api("GET", "api/v1/channels")) || [];
    cv.body.replaceChildren(...list.map((c) => {
      const tr = el("tr");
      tr.dataset.channel = c.name;
      const sev = c.always ? "every alert" : c.min_severity ? `${LABELS[c.min_severity] || c.min_severity} and up` : "every severity";
      const test = el("td", "actions");
      const b = el("button", "btn small", "Send test");
      b.type = "button";
      b.dataset.roleMin = "admin";
      b.setAttribute("aria-label", `Send a test notice to ${c.name}`);
      const out = el("span", "test-result");
      out.setAttribute("role", "status");
      b.addEventListener("click", async () => {
        b.disabled = true;
        out.textContent = "Sending…";
        out.dataset.result = "";
        const t0 = performance.now();
        try {
          await api("POST", `api/v1/channels/${encodeURIComponent(c.name)}/test`);
          out.textContent = `Sent in ${Math.round(performance.now() - t0)} ms`;
          out.dataset.result = "ok";
        } catch (err) {
          out.textContent = `Failed: ${err.message}`;
          out.dataset.result = "failed";
        } finally {
          b.disabled = false;
        }
      });
      test.append(b, " ", out);
      tr.append(el("td", "strong", c.name), el("td", "", sev), el("td", "num", String(c.queued ?? 0)), test);
      return tr;
    }));
    cv.total.textContent = String(list.length);
    cv.table.hidden = list.length === 0;
    cv.empty.hidden = list.length > 0;
  } catch (err) {
    cv.error.textContent = `Could not load the channels: ${err.message}`;
  }
}

export function initActions() {
  sv.form.addEventListener("submit", addSilence);
  mv.form.addEventListener("submit", addMaintenance);
}
