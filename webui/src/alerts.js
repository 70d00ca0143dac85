// The alerts page: the active alerts, and the history of transitions with
// filters and a 24-hour timeline. New transitions arrive over /ws/live and
// join the history at once.
import { model, subscribe, hostName } from "./live.js";
import { sortedAlerts, alertValueText } from "./overview.js";
import { ackCell } from "./actions.js";
import {
  $, el, svg, api, LABELS, SEVERITIES, parseTime, timeEl, severityRank,
} from "./util.js";

const HISTORY_LIMIT = 2000;
const REASONS = {
  acknowledged: "Acknowledged",
  repeat: "Still firing (repeat notice)",
  escalation: "Escalated",
  severity: "Severity changed",
};
const TIMELINE_MS = 24 * 3600e3;
const TIMELINE_ROWS = 40;

const ui = {
  activeBody: $("av-active").tBodies[0],
  activeTable: $("av-active"),
  activeEmpty: $("av-active-empty"),
  activeTotal: $("av-active-total"),
  q: $("av-q"),
  severity: $("av-severity"),
  to: $("av-to"),
  host: $("av-host"),
  timeline: $("av-timeline"),
  historyBody: $("av-history").tBodies[0],
  historyTable: $("av-history"),
  historyEmpty: $("av-history-empty"),
  error: $("av-error"),
  actionError: $("av-action-error"),
};

let shown = false;
let history = []; // apiv1.Transition, newest first
let loaded = false;

function sevCell(sev) {
  const td = el("td");
  td.append(el("span", `sev-tag sev-${sev}`, LABELS[sev] || sev));
  return td;
}

function hostCell(id) {
  const td = el("td");
  const a = el("a", "", hostName(id));
  a.href = `#/host/${encodeURIComponent(id)}`;
  td.append(a);
  return td;
}

function renderActive() {
  const list = sortedAlerts();
  const rows = list.map((a) => {
    const tr = el("tr");
    tr.dataset.alert = a.id;
    tr.dataset.severity = a.severity;
    tr.dataset.state = a.state;
    const rule = el("td");
    rule.append(el("span", "strong", a.rule_name || a.rule_id));
    if (a.summary) rule.append(el("div", "muted small", a.summary));
    const since = el("td");
    since.append(timeEl(parseTime(a.state === "pending" ? a.active_at : a.fired_at) || parseTime(a.active_at), true));
    tr.dataset.acked = String(!!a.ack);
    const state = el("td", `state-${a.state}`, LABELS[a.state] || a.state);
    if (a.silenced) state.append(el("div", "small muted", `muted by ${a.silenced}`));
    tr.append(sevCell(a.severity), state, rule, hostCell(a.host), el("td", "num", alertValueText(a)), since,
      ackCell(a, (msg) => { ui.actionError.textContent = msg; }));
    return tr;
  });
  ui.actionError.textContent = "";
  ui.activeBody.replaceChildren(...rows);
  ui.activeTable.hidden = list.length === 0;
  ui.activeEmpty.hidden = list.length > 0;
  ui.activeTotal.textContent = String(list.length);
}

function filtered() {
  const q = ui.q.value.trim().toLowerCase();
  const sev = ui.severity.value, to = ui.to.value, host = ui.host.value;
  return history.filter((t) => {
    const a = t.alert || {};
    if (sev && a.severity !== sev) return false;
    if (to && t.to !== to) return false;
    if (host && a.host !== host) return false;
    if (q) {
      const hay = [a.rule_name, a.rule_id, a.host, hostName(a.host), a.summary, a.metric].join(" ").toLowerCase();
      if (!q.split(/\s+/).every((w) => hay.includes(w))) return false;
    }
    return true;
  });
}

// ackText says who acknowledged, and their comment, for a history row
// (its time is the row's).
function ackText(ack) {
  return `by ${ack.by || "someone"}${ack.comment ? `: ${ack.comment}` : ""}`;
}

function renderHistory() {
  if (!loaded) return;
  const list = filtered();
  const rows = list.slice(0, 500).map((t) => {
    const a = t.alert || {};
    const tr = el("tr");
    tr.dataset.transition = `${a.id}@${t.at}`;
    tr.dataset.to = t.to;
    const when = el("td");
    when.append(timeEl(parseTime(t.at), false));
    // A firing alert notified again without a change of state says why.
    const text = t.from === t.to && t.reason ? REASONS[t.reason] || `${LABELS[t.to] || t.to} (${t.reason})`
      : `${LABELS[t.from] || t.from} → ${LABELS[t.to] || t.to}`;
    const change = el("td", `state-${t.to}`, t.muted ? `${text} (muted)` : text);
    if (t.reason === "acknowledged" && a.ack) change.append(el("div", "small muted", ackText(a.ack)));
    const unit = a.metric && a.metric.endsWith("_percent") ? "%" : "";
    const val = Number.isFinite(t.value) ? `${+t.value.toFixed(2)}${unit}` : "–";
    tr.append(when, sevCell(a.severity), change, el("td", "", a.rule_name || a.rule_id), hostCell(a.host), el("td", "num", val));
    return tr;
  });
  ui.historyBody.replaceChildren(...rows);
  ui.historyTable.hidden = list.length === 0;
  ui.historyEmpty.hidden = list.length > 0;
  ui.historyEmpty.textContent = history.length
    ? "No transition matches the filter. Clear a filter to see more."
    : "No alert has changed state yet. Transitions show here as rules fire and resolve.";
  renderTimeline(list);
  // Hosts in the filter: every host the history names.
  const hosts = [...new Set(history.map((t) => t.alert && t.alert.host).filter(Boolean))]
    .sort((a, b) => hostName(a).localeCompare(hostName(b)));
  const sig = hosts.join("\n");
  if (ui.host.dataset.sig !== sig) {
    ui.host.dataset.sig = sig;
    const keep = ui.host.value;
    const opts = [new Option("All hosts", "")];
    for (const h of hosts) opts.push(new Option(hostName(h), h));
    ui.host.replaceChildren(...opts);
    ui.host.value = hosts.includes(keep) ? keep : "";
  }
}

// renderTimeline draws, per alert, the spans it was firing (solid) or
// pending (outlined) over the last 24 hours.
function renderTimeline(list) {
  const now = Date.now();
  const start = now - TIMELINE_MS;
  const spans = new Map(); // alert id -> {alert, parts: [[from, to, state]]}
  const chrono = [...list].reverse();
  const open = new Map();
  for (const t of chrono) {
    const a = t.alert || {};
    const at = parseTime(t.at)?.getTime();
    if (!a.id || !at) continue;
    let e = spans.get(a.id);
    if (!e) spans.set(a.id, (e = { alert: a, parts: [] }));
    const o = open.get(a.id);
    if (o) {
      e.parts.push([o.from, at, o.state]);
      open.delete(a.id);
    }
    if (t.to === "firing" || t.to === "pending") open.set(a.id, { from: at, state: t.to });
  }
  for (const [id, o] of open) spans.get(id).parts.push([o.from, now, o.state]);
  const rows = [...spans.values()]
    .map((e) => ({ ...e, parts: e.parts.filter(([, b]) => b >= start) }))
    .filter((e) => e.parts.length)
    .sort((a, b) => severityRank(b.alert.severity) - severityRank(a.alert.severity) ||
      b.parts[b.parts.length - 1][1] - a.parts[a.parts.length - 1][1])
    .slice(0, TIMELINE_ROWS);

  const W = 1000, LABEL = 220, ROW = 18, TOP = 22;
  const H = TOP + Math.max(1, rows.length) * ROW + 6;
  const s = ui.timeline;
  s.setAttribute("viewBox", `0 0 ${W} ${H}`);
  s.dataset.rows = String(rows.length);
  const x = (t) => LABEL + ((Math.max(t, start) - start) / TIMELINE_MS) * (W - LABEL - 8);
  const kids = [];
  const hourFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  for (let h = 0; h <= 24; h += 3) {
    const t = start + h * 3600e3;
    kids.push(svg("line", { class: "tl-grid", x1: x(t), x2: x(t), y1: TOP - 4, y2: H }));
    const label = svg("text", { class: "tl-tick", x: x(t), y: 12, "text-anchor": h === 0 ? "start" : h === 24 ? "end" : "middle" });
    label.textContent = h === 24 ? "now" : hourFmt.format(new Date(t));
    kids.push(label);
  }
  if (!rows.length) {
    const t = svg("text", { class: "tl-empty", x: W / 2, y: TOP + 12, "text-anchor": "middle" });
    t.textContent = "Nothing fired in the last 24 hours.";
    kids.push(t);
  }
  rows.forEach((r, i) => {
    const y = TOP + i * ROW;
    const name = svg("text", { class: "tl-label", x: 0, y: y + 12 });
    const label = `${r.alert.rule_name || r.alert.rule_id} · ${hostName(r.alert.host)}`;
    name.textContent = label.length > 34 ? label.slice(0, 33) + "…" : label;
    kids.push(name);
    for (const [a, b, state] of r.parts) {
      const rect = svg("rect", {
        class: `tl-span sev-${r.alert.severity} tl-${state}`,
        x: x(a), y: y + 3, width: Math.max(2, x(b) - x(a)), height: ROW - 6, rx: 2,
      });
      const title = svg("title");
      title.textContent = `${label}: ${LABELS[state]} from ${new Date(a).toLocaleString()} to ${b >= now - 1000 ? "now" : new Date(b).toLocaleString()}`;
      rect.append(title);
      kids.push(rect);
    }
  });
  s.replaceChildren(...kids);
}

async function loadHistory() {
  ui.error.textContent = "";
  try {
    history = (await api("GET", `api/v1/alerts/history?limit=${HISTORY_LIMIT}`)) || [];
    loaded = true;
    renderHistory();
  } catch (err) {
    ui.error.textContent = `Could not load the alert history: ${err.message}`;
  }
}

function writeParams() {
  const p = new URLSearchParams();
  if (ui.q.value.trim()) p.set("q", ui.q.value.trim());
  if (ui.severity.value) p.set("severity", ui.severity.value);
  if (ui.to.value) p.set("to", ui.to.value);
  if (ui.host.value) p.set("host", ui.host.value);
  history_.replace(`#/alerts${p.size ? "?" + p : ""}`);
}

const history_ = { replace: (h) => { if (location.hash !== h) window.history.replaceState(null, "", h); } };

export function initAlerts() {
  for (const c of [ui.q, ui.severity, ui.to, ui.host]) {
    c.addEventListener(c === ui.q ? "input" : "change", () => {
      renderHistory();
      writeParams();
    });
  }
  $("av-filter").addEventListener("submit", (e) => e.preventDefault());
  document.addEventListener("esmon:alert-changed", () => {
    if (shown) renderActive();
  });
  subscribe((ev) => {
    if (!shown) return;
    if (ev.type === "alert") {
      if (loaded) {
        history.unshift(ev.transition);
        if (history.length > HISTORY_LIMIT) history.length = HISTORY_LIMIT;
      }
      renderActive();
      renderHistory();
    } else if (ev.type === "snapshot") {
      renderActive();
      loadHistory(); // transitions may have happened while the feed was down
    } else if (ev.type === "host" && (!ev.old || ev.old.facts?.hostname !== ev.host.facts?.hostname)) {
      renderActive();
    }
  });
}

export function showAlerts(params) {
  shown = true;
  document.title = "Alerts · esmon";
  ui.q.value = params.get("q") || "";
  const sev = params.get("severity") || "";
  ui.severity.value = SEVERITIES.includes(sev) ? sev : "";
  ui.to.value = ["firing", "pending", "resolved"].includes(params.get("to")) ? params.get("to") : "";
  renderActive();
  if (model.loaded) loadHistory();
  if (params.get("host")) {
    // The host list fills with the history; keep the asked host meanwhile.
    const h = params.get("host");
    if (![...ui.host.options].some((o) => o.value === h)) ui.host.append(new Option(hostName(h), h));
    ui.host.value = h;
  }
}

export function hideAlerts() {
  shown = false;
}
