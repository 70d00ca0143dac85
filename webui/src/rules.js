// The rules pages: the list (enable and disable in place), and the editor
// that creates or changes a rule with validation, and previews where it
// would have fired over the last hour of real data.
import { model, hostName } from "./live.js";
import { Chart, align } from "./chart.js";
import { caps } from "./actions.js";
import {
  $, el, api, LABELS, debounce, fmtValue, goDuration, parseDuration, unitOf, duration, canChange,
} from "./util.js";

const MAX_FOR_MS = 168 * 3600e3;
const PREVIEW_MS = 3600e3;
const PREVIEW_SERIES = 12;
const METRIC_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

const ui = {
  listBody: $("rv-list").tBodies[0],
  listTable: $("rv-list"),
  total: $("rv-total"),
  empty: $("rv-empty"),
  listError: $("rv-error"),

  form: $("rule-form"),
  title: $("re-title"),
  crumb: $("re-crumb"),
  error: $("re-error"),
  name: $("re-name"),
  kind: $("re-kind"),
  metric: $("re-metric"),
  metrics: $("re-metrics"),
  op: $("re-op"),
  threshold: $("re-threshold"),
  forLabel: $("re-for-label"),
  for: $("re-for"),
  host: $("re-host"),
  match: $("re-match"),
  severity: $("re-severity"),
  summary: $("re-summary"),
  enabled: $("re-enabled"),
  save: $("re-save"),
  del: $("re-delete"),
  previewText: $("re-preview-text"),
  preview: $("re-preview"),
};

let rules = [];
let editing = null; // the rule as the core sent it, or null for a new one
let previewChart = null;
let previewAbort = null;
let metricsLoaded = false;

export function conditionText(r) {
  if (r.kind === "agent_offline") return `no data for ${goDuration(r.for)}`;
  const m = Object.entries(r.match || {}).map(([k, v]) => `${k}=${v}`).join(", ");
  return `${r.metric} ${r.op || ">"} ${r.threshold}${m ? ` (${m})` : ""}`;
}

// ---- list ------------------------------------------------------------------

function renderList() {
  const rows = rules.map((r) => {
    const tr = el("tr");
    tr.dataset.rule = r.id;
    tr.dataset.enabled = String(r.enabled);
    const tdOn = el("td");
    const sw = el("input", "switch");
    sw.type = "checkbox";
    sw.checked = !!r.enabled;
    // Only an admin changes rules: for others the switch shows the state.
    sw.dataset.roleDisable = "admin";
    sw.disabled = !canChange("admin");
    sw.setAttribute("role", "switch");
    sw.setAttribute("aria-label", `Rule ${r.name} enabled`);
    sw.addEventListener("change", () => setEnabled(r, sw));
    tdOn.append(sw);
    const tdName = el("td");
    const a = el("a", "strong", r.name);
    a.href = `#/rules/${encodeURIComponent(r.id)}`;
    tdName.append(a);
    if (r.summary) tdName.append(el("div", "muted small", r.summary));
    const tdSev = el("td");
    tdSev.append(el("span", `sev-tag sev-${r.severity}`, LABELS[r.severity] || r.severity));
    const tdAct = el("td", "actions");
    const edit = el("a", "btn small", canChange("admin") ? "Edit" : "View");
    edit.href = a.href;
    edit.setAttribute("aria-label", `Edit ${r.name}`);
    tdAct.append(edit);
    tr.append(tdOn, tdName, el("td", "mono", conditionText(r)),
      el("td", "", r.kind === "agent_offline" ? "–" : goDuration(r.for) || "at once"), tdSev, tdAct);
    return tr;
  });
  ui.listBody.replaceChildren(...rows);
  ui.total.textContent = String(rules.length);
  ui.listTable.hidden = rules.length === 0;
  ui.empty.hidden = rules.length > 0;
}

async function setEnabled(r, sw) {
  sw.disabled = true;
  ui.listError.textContent = "";
  try {
    // A core with the alerting actions records who switched the rule.
    const saved = caps.alerting
      ? await api("POST", `api/v1/rules/${encodeURIComponent(r.id)}/${sw.checked ? "enable" : "disable"}`)
      : await api("PUT", `api/v1/rules/${encodeURIComponent(r.id)}`, { ...r, enabled: sw.checked });
    Object.assign(r, saved);
    sw.closest("tr").dataset.enabled = String(saved.enabled);
  } catch (err) {
    sw.checked = !sw.checked;
    ui.listError.textContent = `Could not change ${r.name}: ${err.message}`;
  } finally {
    sw.disabled = false;
  }
}

export async function showRules() {
  document.title = "Rules · esmon";
  ui.listError.textContent = "";
  try {
    rules = (await api("GET", "api/v1/rules")) || [];
    rules.sort((a, b) => a.name.localeCompare(b.name));
    renderList();
  } catch (err) {
    ui.listError.textContent = `Could not load the rules: ${err.message}`;
  }
}

// ---- editor -----------------------------------------------------------------

const FIELDS = ["name", "kind", "metric", "op", "threshold", "for", "match", "severity", "summary"];

function fieldInput(f) {
  return { name: ui.name, kind: ui.kind, metric: ui.metric, op: ui.op, threshold: ui.threshold, for: ui.for,
    match: ui.match, severity: ui.severity, summary: ui.summary }[f];
}

function setFieldError(f, msg) {
  const input = fieldInput(f);
  const p = $(`re-${f}-err`);
  if (p) p.textContent = msg || "";
  if (input) input.setAttribute("aria-invalid", msg ? "true" : "false");
}

function clearErrors() {
  for (const f of FIELDS) setFieldError(f, "");
  ui.error.textContent = "";
}

function parseMatch(s) {
  const out = {};
  for (const part of s.split(",").map((x) => x.trim()).filter(Boolean)) {
    const i = part.indexOf("=");
    if (i < 1) return { error: `"${part}" is not name=value` };
    const k = part.slice(0, i).trim(), v = part.slice(i + 1).trim();
    if (!LABEL_RE.test(k)) return { error: `"${k}" is not a label name` };
    if (k === "host") return { error: "choose the host in Hosts above" };
    out[k] = v;
  }
  return { match: out };
}

// readForm checks the form as the core would and returns the rule, or
// null after marking the fields that are wrong.
function readForm() {
  clearErrors();
  const errs = {};
  const kind = ui.kind.value;
  const r = { ...(editing || {}), name: ui.name.value.trim(), kind, severity: ui.severity.value,
    summary: ui.summary.value.trim(), enabled: ui.enabled.checked };
  if (!r.name) errs.name = "Give the rule a name.";
  const forText = ui.for.value.trim() || (kind === "agent_offline" ? "" : "0s");
  const forMs = parseDuration(forText);
  if (!forText) errs.for = "Say how long a host may be silent, e.g. 60s.";
  else if (!Number.isFinite(forMs)) errs.for = "Write a duration such as 30s, 5m or 1h30m.";
  else if (forMs > MAX_FOR_MS) errs.for = "At most 168h.";
  else if (kind === "agent_offline" && forMs <= 0) errs.for = "Must be more than 0s.";
  r.for = forText;
  const match = {};
  if (ui.host.value) match.host = ui.host.value;
  if (kind === "threshold") {
    r.metric = ui.metric.value.trim();
    if (!r.metric) errs.metric = "Pick a metric, e.g. cpu_usage_percent.";
    else if (!METRIC_RE.test(r.metric)) errs.metric = "A metric name has letters, digits and underscores only.";
    r.op = ui.op.value;
    const th = ui.threshold.value.trim().replace(",", ".");
    r.threshold = Number(th);
    if (th === "" || !Number.isFinite(r.threshold)) errs.threshold = "Enter a number.";
    const pm = parseMatch(ui.match.value);
    if (pm.error) errs.match = pm.error;
    else Object.assign(match, pm.match);
  } else {
    delete r.metric;
    delete r.op;
    r.threshold = 0;
  }
  r.match = Object.keys(match).length ? match : undefined;
  const bad = Object.keys(errs);
  for (const f of bad) setFieldError(f, errs[f]);
  if (bad.length) {
    ui.error.textContent = bad.length === 1 ? "One field needs a fix." : `${bad.length} fields need a fix.`;
    fieldInput(bad[0]).focus();
    return null;
  }
  return r;
}

async function submit(e) {
  e.preventDefault();
  const r = readForm();
  if (!r) return;
  ui.save.disabled = true;
  try {
    if (editing) await api("PUT", `api/v1/rules/${encodeURIComponent(editing.id)}`, r);
    else await api("POST", "api/v1/rules", r);
    location.hash = "#/rules";
  } catch (err) {
    if (err.field && fieldInput(err.field)) {
      setFieldError(err.field, err.message.replace(new RegExp(`^${err.field}: `), ""));
      fieldInput(err.field).focus();
      ui.error.textContent = "The core refused the rule; see the marked field.";
    } else {
      ui.error.textContent = err.message;
    }
  } finally {
    ui.save.disabled = false;
  }
}

async function remove() {
  if (!editing) return;
  if (!window.confirm(`Delete the rule "${editing.name}"? Its active alerts resolve.`)) return;
  try {
    await api("DELETE", `api/v1/rules/${encodeURIComponent(editing.id)}`);
    location.hash = "#/rules";
  } catch (err) {
    ui.error.textContent = err.message;
  }
}

function kindChanged() {
  const thr = ui.kind.value === "threshold";
  for (const row of ui.form.querySelectorAll("[data-kind]")) row.hidden = row.dataset.kind !== ui.kind.value;
  ui.forLabel.textContent = thr ? "For at least" : "Silent for";
  ui.for.placeholder = thr ? "5m" : "60s";
  preview();
}

function fillHosts(selected) {
  const hosts = [...model.hosts.values()].sort((a, b) => hostName(a.id).localeCompare(hostName(b.id)));
  const opts = [new Option("Every host", "")];
  for (const h of hosts) opts.push(new Option(hostName(h.id), h.id));
  if (selected && !model.hosts.has(selected)) opts.push(new Option(selected, selected));
  ui.host.replaceChildren(...opts);
  ui.host.value = selected || "";
}

async function fillMetrics() {
  if (metricsLoaded) return;
  try {
    const list = (await api("GET", "api/v1/series")) || [];
    const names = [...new Set(list.map((s) => s.metric))].sort();
    ui.metrics.replaceChildren(...names.map((n) => new Option(n, n)));
    metricsLoaded = true;
  } catch {
    // The list only helps typing; the field works without it.
  }
}

const OPS = {
  ">": (a, b) => a > b, ">=": (a, b) => a >= b, "<": (a, b) => a < b,
  "<=": (a, b) => a <= b, "==": (a, b) => a === b, "!=": (a, b) => a !== b,
};

// firingSpans walks points and returns where the condition held for at
// least forMs: each span starts when the hold time is reached.
export function firingSpans(points, cmp, threshold, forMs) {
  const spans = [];
  let start = null;
  for (let i = 0; i < points.length; i++) {
    const p = points[i];
    if (cmp(p.v, threshold)) {
      if (start === null) start = p.t;
    } else if (start !== null) {
      if (points[i - 1].t - start >= forMs) spans.push([start + forMs, p.t]);
      start = null;
    }
  }
  if (start !== null && points[points.length - 1].t - start >= forMs) {
    spans.push([start + forMs, points[points.length - 1].t]);
  }
  return spans;
}

const preview = debounce(async () => {
  if (previewAbort) previewAbort.abort();
  const kind = ui.kind.value;
  const forMs = parseDuration(ui.for.value.trim() || "0s");
  if (kind === "agent_offline") {
    clearPreviewChart();
    if (!Number.isFinite(forMs) || forMs <= 0) {
      ui.previewText.textContent = "Say how long a host may be silent to see which hosts this would flag.";
      return;
    }
    const now = Date.now();
    const silent = [...model.hosts.values()].filter((h) => (!ui.host.value || h.id === ui.host.value) &&
      (!h.last_seen || now - new Date(h.last_seen).getTime() > forMs));
    ui.previewText.textContent = silent.length
      ? `Would fire now for ${silent.length} ${silent.length === 1 ? "host" : "hosts"}: ${silent.map((h) => hostName(h.id)).join(", ")}.`
      : "Would not fire now: every host reported within that time.";
    return;
  }
  const metric = ui.metric.value.trim();
  const threshold = Number(ui.threshold.value.trim().replace(",", "."));
  if (!metric || !METRIC_RE.test(metric)) {
    clearPreviewChart();
    ui.previewText.textContent = "Pick a metric to see where this rule would have fired.";
    return;
  }
  const pm = parseMatch(ui.match.value);
  const ctrl = new AbortController();
  previewAbort = ctrl;
  const to = Date.now(), from = to - PREVIEW_MS;
  const p = new URLSearchParams({ metric, from: new Date(from).toISOString(), to: new Date(to).toISOString(), step: "5s" });
  if (ui.host.value) p.set("host", ui.host.value);
  for (const [k, v] of Object.entries(pm.match || {})) p.set(`match[${k}]`, v);
  let res;
  try {
    res = await api("GET", `api/v1/query?${p}`, undefined, ctrl.signal);
  } catch (err) {
    if (err.name !== "AbortError") ui.previewText.textContent = `No preview: ${err.message}`;
    return;
  }
  if (ctrl.signal.aborted) return;
  const series = ((res && res.series) || []).filter((s) => s.points && s.points.length);
  if (!series.length) {
    clearPreviewChart();
    ui.previewText.textContent = `No data for ${metric} in the last hour${ui.host.value ? " on this host" : ""}. The rule can still be saved; it acts when data arrives.`;
    return;
  }
  const cmp = OPS[ui.op.value] || OPS[">"];
  const hold = Number.isFinite(forMs) ? forMs : 0;
  let bands = [];
  let firing = 0;
  const fired = [];
  for (const s of series) {
    const spans = Number.isFinite(threshold) ? firingSpans(s.points, cmp, threshold, hold) : [];
    if (spans.length) {
      firing++;
      fired.push(s);
    }
    bands = bands.concat(spans);
  }
  const label = (s) => [s.labels?.host && hostName(s.labels.host), ...Object.entries(s.labels || {})
    .filter(([k]) => k !== "host").map(([k, v]) => `${k}=${v}`)].filter(Boolean).join(" ") || s.metric;
  const shownSeries = [...fired, ...series.filter((s) => !fired.includes(s))].slice(0, PREVIEW_SERIES);
  const unit = unitOf(metric);
  if (previewChart) previewChart.destroy();
  previewChart = new Chart(ui.preview, {
    id: "preview", title: `${metric}, last hour`, unit, yMax: unit === "percent" ? 100 : 0,
    series: shownSeries.map((s) => ({ label: label(s) })), height: 220,
    threshold: Number.isFinite(threshold) ? threshold : undefined, bands,
  });
  previewChart.setData(align(shownSeries.map((s) => ({ points: s.points })), 30e3), [from, to]);
  ui.preview.dataset.bands = String(bands.length);
  const more = series.length > shownSeries.length ? ` (${shownSeries.length} of ${series.length} series drawn)` : "";
  if (!Number.isFinite(threshold)) {
    ui.previewText.textContent = `Enter a threshold to see where this rule would fire${more}.`;
  } else if (firing) {
    const total = bands.reduce((n, [a, b]) => n + (b - a), 0) / 1000;
    ui.previewText.textContent = `Would have fired on ${firing} of ${series.length} series in the last hour, ${bands.length} ${bands.length === 1 ? "time" : "times"}, for ${duration(total)} in all (shaded)${more}.`;
  } else {
    let peak = -Infinity;
    for (const s of series) for (const pt of s.points) peak = Math.max(peak, pt.v);
    ui.previewText.textContent = `Would not have fired in the last hour on ${series.length} series; the highest value was ${fmtValue(peak, unit)}${more}.`;
  }
}, 300);

function clearPreviewChart() {
  if (previewChart) previewChart.destroy();
  previewChart = null;
  delete ui.preview.dataset.bands;
}

function fillForm(r) {
  ui.name.value = r.name || "";
  ui.kind.value = r.kind || "threshold";
  ui.metric.value = r.metric || "";
  ui.op.value = r.op || ">";
  ui.threshold.value = r.kind === "agent_offline" ? "" : String(r.threshold ?? "");
  ui.for.value = goDuration(r.for) || "";
  const m = { ...(r.match || {}) };
  const host = m.host || "";
  delete m.host;
  fillHosts(host);
  ui.match.value = Object.entries(m).map(([k, v]) => `${k}=${v}`).join(", ");
  ui.severity.value = r.severity || "warning";
  ui.summary.value = r.summary || "";
  ui.enabled.checked = r.enabled !== false;
}

export async function showRule(id) {
  clearErrors();
  clearPreviewChart();
  editing = null;
  fillMetrics();
  if (id === "new") {
    document.title = "New rule · esmon";
    ui.title.textContent = "New rule";
    ui.crumb.textContent = "New rule";
    ui.save.textContent = "Create rule";
    ui.del.hidden = true;
    fillForm({ kind: "threshold", op: ">", severity: "warning", for: "5m", enabled: true });
  } else {
    try {
      editing = await api("GET", `api/v1/rules/${encodeURIComponent(id)}`);
    } catch (err) {
      ui.error.textContent = err.status === 404 ? "There is no such rule; it may have been deleted." : err.message;
      return;
    }
    document.title = `${editing.name} · esmon`;
    ui.title.textContent = `Edit rule`;
    ui.crumb.textContent = editing.name;
    ui.save.textContent = "Save changes";
    ui.del.hidden = false;
    fillForm(editing);
  }
  kindChanged();
  ui.name.focus();
}

export function initRules() {
  ui.form.addEventListener("submit", submit);
  ui.kind.addEventListener("change", kindChanged);
  ui.del.addEventListener("click", remove);
  for (const c of [ui.metric, ui.op, ui.threshold, ui.for, ui.host, ui.match]) {
    c.addEventListener("input", preview);
    c.addEventListener("change", preview);
  }
  // A field's error goes as soon as it is edited.
  for (const f of FIELDS) {
    fieldInput(f).addEventListener("input", () => {
      if (fieldInput(f).getAttribute("aria-invalid") === "true") setFieldError(f, "");
    });
  }
}

export function hideRule() {
  if (previewAbort) previewAbort.abort();
  clearPreviewChart();
}
