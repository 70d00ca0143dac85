// Small helpers every page uses: DOM building, formatting in the viewer's
// locale and time zone, and the API client. Text from the core only ever
// goes through textContent, never innerHTML.

export const SVG_NS = "http://www.w3.org/2000/svg";
export const SEVERITIES = ["info", "warning", "critical", "very_critical"];
export const LABELS = {
  ok: "OK",
  offline: "Offline",
  info: "Info",
  warning: "Warning",
  critical: "Critical",
  very_critical: "Very critical",
  firing: "Firing",
  pending: "Pending",
  resolved: "Resolved",
  inactive: "Inactive",
};

export const $ = (id) => document.getElementById(id);

export function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}

export function svg(tag, attrs) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

// link makes an <a> to a page of this app (href is a hash route).
export function link(href, text, className) {
  const a = el("a", className, text);
  a.href = href;
  return a;
}

export function severityRank(s) {
  return SEVERITIES.indexOf(s) + 1; // 0 for none
}

// ---- time -----------------------------------------------------------------

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, {
  month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
});
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" });
const relFmt = new Intl.RelativeTimeFormat(undefined, { numeric: "auto", style: "short" });

export function parseTime(s) {
  if (!s) return null;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) || d.getFullYear() < 1971 ? null : d;
}

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

// shortTime shows a time in the viewer's zone: the time of day when it is
// today, the date and time otherwise.
export function shortTime(d) {
  return sameDay(d, new Date()) ? timeFmt.format(d) : dateTimeFmt.format(d);
}

export function fullTime(d) {
  return fullFmt.format(d);
}

export function relative(d) {
  const s = Math.round((d.getTime() - Date.now()) / 1000);
  const a = Math.abs(s);
  if (a < 45) return "just now";
  if (a < 3600) return relFmt.format(Math.round(s / 60), "minute");
  if (a < 86400 * 2) return relFmt.format(Math.round(s / 3600), "hour");
  return relFmt.format(Math.round(s / 86400), "day");
}

// timeEl makes a <time> that shows d, with the full date on hover. With rel,
// it also says how long ago, and refreshTimes keeps that fresh.
export function timeEl(d, rel) {
  const t = document.createElement("time");
  setTime(t, d, rel);
  return t;
}

export function setTime(t, d, rel) {
  if (!d) {
    t.removeAttribute("datetime");
    t.removeAttribute("title");
    delete t.dataset.rel;
    t.textContent = "never";
    return;
  }
  t.dateTime = d.toISOString();
  t.title = fullFmt.format(d);
  if (rel) t.dataset.rel = "1";
  t.textContent = rel ? `${shortTime(d)} (${relative(d)})` : shortTime(d);
}

export function refreshTimes() {
  for (const t of document.querySelectorAll("time[data-rel]")) {
    const d = parseTime(t.dateTime);
    if (d) t.textContent = `${shortTime(d)} (${relative(d)})`;
  }
}

// duration formats seconds as "3d 4h", "5m 10s", "42s".
export function duration(sec) {
  if (!Number.isFinite(sec)) return "–";
  sec = Math.max(0, Math.round(sec));
  const d = Math.floor(sec / 86400), h = Math.floor((sec % 86400) / 3600);
  const m = Math.floor((sec % 3600) / 60), s = sec % 60;
  if (d) return h ? `${d}d ${h}h` : `${d}d`;
  if (h) return m ? `${h}h ${m}m` : `${h}h`;
  if (m) return s ? `${m}m ${s}s` : `${m}m`;
  return `${s}s`;
}

// parseDuration reads a Go duration such as "90s", "5m", "1h30m" into
// milliseconds; it returns NaN for anything else.
export function parseDuration(s) {
  s = String(s).trim();
  if (s === "0") return 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  const unit = { ms: 1, s: 1e3, m: 6e4, h: 36e5 };
  let total = 0, m, seen = false;
  re.lastIndex = 0;
  while (re.lastIndex < s.length && (m = re.exec(s))) {
    total += parseFloat(m[1]) * unit[m[2]];
    seen = true;
  }
  return seen && re.lastIndex === s.length ? total : NaN;
}

// goDuration turns what the core writes ("5m0s", "1h0m0s") into the short
// form a person types ("5m", "1h").
export function goDuration(s) {
  if (typeof s !== "string") return "";
  const out = s.replace(/(\D)0s$/, "$1").replace(/(\D)0m$/, "$1");
  return out === "0s" ? "0s" : out;
}

// ---- numbers --------------------------------------------------------------

export function fmtNumber(v) {
  if (typeof v !== "number" || !Number.isFinite(v)) return "–";
  const a = Math.abs(v);
  const digits = a >= 100 ? 0 : a >= 10 ? 1 : 2;
  return v.toLocaleString(undefined, { maximumFractionDigits: digits });
}

const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

export function fmtBytes(v) {
  if (typeof v !== "number" || !Number.isFinite(v)) return "–";
  let i = 0;
  let a = Math.abs(v);
  while (a >= 1024 && i < BYTE_UNITS.length - 1) {
    a /= 1024;
    i++;
  }
  return `${fmtNumber(Math.sign(v) * a)} ${BYTE_UNITS[i]}`;
}

// unitOf says how a metric's values read, from its name.
export function unitOf(metric) {
  if (/_percent$/.test(metric)) return "percent";
  if (/_bytes_total$/.test(metric)) return "bytes/s";
  if (/_bytes$/.test(metric)) return "bytes";
  if (/_seconds_total$/.test(metric)) return "ratio";
  if (/_total$/.test(metric)) return "per second";
  if (/_seconds$/.test(metric)) return "seconds";
  return "";
}

export function fmtValue(v, unit) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  switch (unit) {
    case "percent":
      return `${fmtNumber(v)} %`;
    case "bytes":
      return fmtBytes(v);
    case "bytes/s":
      return `${fmtBytes(v)}/s`;
    case "per second":
      return `${fmtNumber(v)}/s`;
    case "seconds":
      return duration(v);
    default:
      return fmtNumber(v);
  }
}

// ---- series keys ------------------------------------------------------------

// seriesKey builds the key the core uses in Host.latest:
// metric{name="value",...} with labels sorted by name and without host.
export function seriesKey(metric, labels) {
  const names = Object.keys(labels || {}).filter((k) => k !== "host").sort();
  if (!names.length) return metric;
  const esc = (v) => String(v).replaceAll("\\", "\\\\").replaceAll('"', '\\"');
  return `${metric}{${names.map((k) => `${k}="${esc(labels[k])}"`).join(",")}}`;
}

// parseSeriesKey is seriesKey backwards.
export function parseSeriesKey(key) {
  const i = key.indexOf("{");
  if (i < 0) return { metric: key, labels: {} };
  const labels = {};
  const re = /([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  let m;
  while ((m = re.exec(key.slice(i)))) labels[m[1]] = m[2].replace(/\\(.)/g, "$1");
  return { metric: key.slice(0, i), labels };
}

// ---- API ------------------------------------------------------------------

// ApiError carries the core's {"error", "code"} answer, and the field a
// validation error names.
export class ApiError extends Error {
  constructor(status, message, code, field) {
    super(message);
    this.status = status;
    this.code = code || "";
    this.field = field || "";
  }
}

// onUnauthorized is called when any request answers 401.
export const apiHooks = { onUnauthorized: () => {} };

// apiAuth holds the session's CSRF token (from GET or POST
// api/v1/session), sent as X-CSRF-Token with every request that changes
// something: the core refuses a change the cookie authorises without it.
export const apiAuth = { csrf: "", role: "" };

const ROLE_RANK = { viewer: 1, operator: 2, admin: 3 };

// canChange reports whether the signed-in person's role reaches role, so
// the page offers only what the core would allow.
export function canChange(role) {
  return (ROLE_RANK[apiAuth.role] || 0) >= ROLE_RANK[role];
}

export async function api(method, path, body, signal) {
  const init = {
    method, credentials: "same-origin", cache: "no-store", signal,
    headers: { Accept: "application/json" },
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (method !== "GET" && method !== "HEAD" && apiAuth.csrf) init.headers["X-CSRF-Token"] = apiAuth.csrf;
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "Cannot reach the core. Check the connection and try again.", "network");
  }
  if (res.status === 204) return null;
  let data = null;
  try {
    data = await res.json();
  } catch {
    // not JSON
  }
  if (!res.ok) {
    if (res.status === 401 && !path.endsWith("api/v1/session")) apiHooks.onUnauthorized();
    const msg = (data && data.error) || `The core answered ${res.status} ${res.statusText}`.trim();
    throw new ApiError(res.status, msg, data && data.code, data && data.field);
  }
  return data;
}

// debounce calls fn at most once per ms, with the last arguments.
export function debounce(fn, ms) {
  let t = 0;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}
