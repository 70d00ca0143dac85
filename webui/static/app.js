// esmon live dashboard: sign-in, the /ws/live feed, and the DOM it drives.
//
// The page never polls. It asks once whether its session cookie is valid,
// then keeps one WebSocket to ws/live open. The first message is a snapshot
// of every host and active alert; host and alert events follow. When the
// socket drops, the page shows a banner and reconnects with exponential
// backoff and jitter; close code 4401 sends it back to sign-in.
//
// All paths are relative, so the page also works behind a path prefix.
// Text from the core (host names, rule names) only ever goes through
// textContent, never innerHTML.

const SVG_NS = "http://www.w3.org/2000/svg";
const SEVERITIES = ["info", "warning", "critical", "very_critical"];
const LABELS = {
  ok: "OK",
  offline: "Offline",
  info: "Info",
  warning: "Warning",
  critical: "Critical",
  very_critical: "Very critical",
};
const GAUGES = [
  ["cpu", "CPU"],
  ["memory", "Memory"],
  ["disk", "Disk"],
];
const CLOSE_UNAUTHORIZED = 4401;
const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 30000;
// Semicircle of radius 40 from (10,50) to (90,50); pathLength makes the
// dash lengths percentages.
const ARC = "M10 50 A40 40 0 0 1 90 50";

const $ = (id) => document.getElementById(id);

const ui = {
  conn: $("conn"),
  signout: $("signout"),
  counts: $("counts"),
  banner: $("banner"),
  bannerText: $("banner-text"),
  retry: $("retry"),
  main: $("main"),
  signinView: $("signin-view"),
  signin: $("signin"),
  token: $("token"),
  signinError: $("signin-error"),
  signinSubmit: $("signin-submit"),
  dashView: $("dash-view"),
  hosts: $("hosts"),
  hostsEmpty: $("hosts-empty"),
  hostsTotal: $("hosts-total"),
  alerts: $("alerts"),
  alertsEmpty: $("alerts-empty"),
  alertsTotal: $("alerts-total"),
  agentCmd: $("agent-cmd"),
};

// What the page knows, keyed by id.
const model = {
  hosts: new Map(), // host id -> apiv1.Host
  alerts: new Map(), // alert id -> apiv1.Alert (state firing or pending)
  loaded: false, // a snapshot arrived since sign-in
};

// ---- formatting ---------------------------------------------------------

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, {
  month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
});
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" });
const relFmt = new Intl.RelativeTimeFormat(undefined, { numeric: "auto", style: "short" });

function parseTime(s) {
  if (!s) return null;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) || d.getFullYear() < 1971 ? null : d;
}

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

// shortTime shows a time in the viewer's zone: the time of day when it is
// today, the date and time otherwise.
function shortTime(d) {
  return sameDay(d, new Date()) ? timeFmt.format(d) : dateTimeFmt.format(d);
}

function relative(d) {
  const s = Math.round((d.getTime() - Date.now()) / 1000);
  const a = Math.abs(s);
  if (a < 45) return "just now";
  if (a < 3600) return relFmt.format(Math.round(s / 60), "minute");
  if (a < 86400 * 2) return relFmt.format(Math.round(s / 3600), "hour");
  return relFmt.format(Math.round(s / 86400), "day");
}

// timeEl makes a <time> that shows d, with the full date on hover. With rel,
// it also says how long ago, and the minute timer keeps that fresh.
function timeEl(d, rel) {
  const t = document.createElement("time");
  setTime(t, d, rel);
  return t;
}

function setTime(t, d, rel) {
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

function refreshTimes() {
  for (const t of document.querySelectorAll("time[data-rel]")) {
    const d = parseTime(t.dateTime);
    if (d) t.textContent = `${shortTime(d)} (${relative(d)})`;
  }
}

function fmtNumber(v) {
  if (typeof v !== "number" || !Number.isFinite(v)) return "–";
  const a = Math.abs(v);
  const digits = a >= 100 ? 0 : a >= 10 ? 1 : 2;
  return v.toLocaleString(undefined, { maximumFractionDigits: digits });
}

function hostName(id) {
  const h = model.hosts.get(id);
  return (h && h.facts && h.facts.hostname) || id || "unknown host";
}

function platformLine(f) {
  if (!f) return "";
  const parts = [];
  const distro = [f.platform, f.platform_version].filter(Boolean).join(" ");
  if (distro) parts.push(distro);
  const osArch = [f.os, f.arch].filter(Boolean).join("/");
  if (osArch) parts.push(osArch);
  if (f.cores) parts.push(`${f.cores} ${f.cores === 1 ? "core" : "cores"}`);
  return parts.join(" · ");
}

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function svg(tag, attrs) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

// ---- host cards ---------------------------------------------------------

function makeGauge(key, label) {
  const fig = el("figure", "gauge");
  fig.dataset.gauge = key;
  fig.setAttribute("role", "meter");
  fig.setAttribute("aria-label", label);
  fig.setAttribute("aria-valuemin", "0");
  fig.setAttribute("aria-valuemax", "100");
  const s = svg("svg", { viewBox: "0 0 100 56", "aria-hidden": "true", focusable: "false" });
  s.append(
    svg("path", { class: "track", d: ARC, pathLength: "100" }),
    svg("path", { class: "bar", d: ARC, pathLength: "100", "stroke-dasharray": "0 100" }),
  );
  const reading = el("div", "reading");
  reading.append(el("span", "value", "–"), el("span", "unit", "%"));
  fig.append(s, reading, el("figcaption", "", label));
  return fig;
}

function setGauge(fig, v) {
  const ok = typeof v === "number" && Number.isFinite(v);
  const pct = ok ? Math.min(100, Math.max(0, v)) : 0;
  const bar = fig.querySelector(".bar");
  bar.setAttribute("stroke-dasharray", `${pct.toFixed(2)} 100`);
  bar.setAttribute("visibility", pct > 0.5 ? "visible" : "hidden");
  fig.querySelector(".value").textContent = ok ? String(Math.round(v)) : "–";
  fig.dataset.value = ok ? String(v) : "";
  fig.dataset.level = pct >= 90 ? "full" : pct >= 80 ? "high" : "";
  if (ok) {
    fig.setAttribute("aria-valuenow", String(pct));
    fig.setAttribute("aria-valuetext", `${Math.round(v)} percent`);
  } else {
    fig.removeAttribute("aria-valuenow");
    fig.setAttribute("aria-valuetext", "no data");
  }
}

function makeHostCard(id) {
  const card = el("article", "host");
  card.dataset.host = id;

  const head = el("div", "host-head");
  const name = el("h3", "host-name");
  const badge = el("span", "badge");
  head.append(name, badge);

  const os = el("p", "host-os");
  const gauges = el("div", "gauges");
  for (const [key, label] of GAUGES) gauges.append(makeGauge(key, label));

  const foot = el("div", "host-foot");
  const seen = el("span", "seen", "Last seen ");
  seen.append(timeEl(null, false));
  foot.append(seen, el("span", "status-text"));

  card.append(head, os, gauges, foot);
  return card;
}

function updateHostCard(card, h) {
  const name = (h.facts && h.facts.hostname) || h.id;
  const status = h.online ? h.status || "ok" : "offline";
  card.dataset.status = status;
  card.dataset.online = String(!!h.online);
  card.setAttribute("aria-label", `${name}: ${h.online ? "online" : "offline"}, ${LABELS[status] || status}`);

  const nameEl = card.querySelector(".host-name");
  nameEl.textContent = name;
  nameEl.title = h.id === name ? name : `${name} (${h.id})`;

  const badge = card.querySelector(".badge");
  badge.textContent = h.online ? "online" : "offline";
  badge.className = `badge ${h.online ? "online" : "offline"}`;

  const os = card.querySelector(".host-os");
  const line = platformLine(h.facts);
  os.textContent = line || "\u00a0";
  os.title = [line, h.facts && h.facts.kernel_version, h.agent_version && `agent ${h.agent_version}`]
    .filter(Boolean).join("\n");

  const g = h.gauges || {};
  for (const [key] of GAUGES) setGauge(card.querySelector(`[data-gauge="${key}"]`), g[key]);

  setTime(card.querySelector(".seen time"), parseTime(h.last_seen), false);
  card.querySelector(".status-text").textContent = status === "offline" ? "" : LABELS[status] || status;
}

function sortedHostIds() {
  return [...model.hosts.values()]
    .sort((a, b) => {
      const an = (a.facts && a.facts.hostname) || a.id;
      const bn = (b.facts && b.facts.hostname) || b.id;
      return an.localeCompare(bn, undefined, { numeric: true, sensitivity: "base" }) || a.id.localeCompare(b.id);
    })
    .map((h) => h.id);
}

// renderHosts brings the cards in line with model.hosts: it updates the
// cards of the given ids (all when ids is null), drops cards of hosts that
// went away, and moves cards only when the order changed.
function renderHosts(ids) {
  const cards = new Map();
  for (const c of ui.hosts.children) cards.set(c.dataset.host, c);
  for (const [id, c] of cards) {
    if (!model.hosts.has(id)) {
      c.remove();
      cards.delete(id);
    }
  }
  for (const id of ids || model.hosts.keys()) {
    const h = model.hosts.get(id);
    if (!h) continue;
    let c = cards.get(id);
    if (!c) {
      c = makeHostCard(id);
      cards.set(id, c);
    }
    updateHostCard(c, h);
  }
  const order = sortedHostIds();
  const current = [...ui.hosts.children].map((c) => c.dataset.host);
  if (order.length !== current.length || order.some((id, i) => id !== current[i])) {
    ui.hosts.append(...order.map((id) => cards.get(id)));
  }
  ui.hostsTotal.textContent = String(model.hosts.size);
  ui.hostsEmpty.hidden = !model.loaded || model.hosts.size > 0;
}

// ---- alerts -------------------------------------------------------------

function alertSince(a) {
  return parseTime(a.state === "pending" ? a.active_at : a.fired_at) || parseTime(a.active_at);
}

function alertRow(a) {
  const li = el("li", "alert");
  li.dataset.alert = a.id;
  li.dataset.severity = a.severity;
  li.dataset.state = a.state;

  const head = el("div", "alert-head");
  head.append(
    el("span", "sev", LABELS[a.severity] || a.severity || "alert"),
    el("span", "alert-title", a.rule_name || a.rule_id || "alert"),
    el("span", "host-ref", `on ${hostName(a.host)}`),
  );

  const meta = el("div", "alert-meta");
  const unit = a.metric && a.metric.endsWith("_percent") ? "%" : "";
  const val = el("span", "val", `${fmtNumber(a.value)}${unit} ${a.op || "vs"} ${fmtNumber(a.threshold)}${unit}`);
  val.title = "value vs threshold";
  meta.append(val);
  const since = alertSince(a);
  const when = el("span", "since", a.state === "pending" ? "pending since " : "since ");
  when.append(timeEl(since, true));
  meta.append(when);

  li.append(head, meta);
  if (a.summary) li.append(el("p", "alert-summary", a.summary));
  return li;
}

function renderAlerts() {
  const list = [...model.alerts.values()].sort((a, b) => {
    const r = SEVERITIES.indexOf(b.severity) - SEVERITIES.indexOf(a.severity);
    if (r) return r;
    if (a.state !== b.state) return a.state === "firing" ? -1 : 1;
    return (alertSince(b) || 0) - (alertSince(a) || 0);
  });
  ui.alerts.replaceChildren(...list.map(alertRow));
  ui.alertsEmpty.hidden = list.length > 0;

  const firing = list.filter((a) => a.state === "firing");
  ui.alertsTotal.textContent = String(list.length);
  for (const sev of SEVERITIES) {
    const n = firing.filter((a) => a.severity === sev).length;
    const chip = ui.counts.querySelector(`[data-count="${sev}"]`);
    chip.querySelector(".n").textContent = String(n);
    chip.classList.toggle("active", n > 0);
  }
  document.title = firing.length ? `(${firing.length}) esmon` : "esmon";
}

// ---- live feed ----------------------------------------------------------

function applyEvent(ev) {
  switch (ev.type) {
    case "snapshot":
      model.hosts = new Map((ev.hosts || []).map((h) => [h.id, h]));
      model.alerts = new Map(
        (ev.alerts || []).filter((a) => a.state === "firing" || a.state === "pending").map((a) => [a.id, a]),
      );
      model.loaded = true;
      renderHosts(null);
      renderAlerts();
      live.onSnapshot();
      break;
    case "host": {
      const h = ev.host;
      if (!h || !h.id) return;
      const old = model.hosts.get(h.id);
      model.hosts.set(h.id, h);
      renderHosts([h.id]);
      // Alert rows show the host's name; redraw them if it changed.
      if (!old || (old.facts && old.facts.hostname) !== (h.facts && h.facts.hostname)) renderAlerts();
      break;
    }
    case "alert": {
      const tr = ev.transition;
      if (!tr || !tr.alert || !tr.alert.id) return;
      const a = { ...tr.alert, state: tr.to };
      if (tr.to === "firing") {
        if (!a.fired_at) a.fired_at = tr.at;
        model.alerts.set(a.id, a);
      } else if (tr.to === "pending") {
        if (!a.active_at) a.active_at = tr.at;
        model.alerts.set(a.id, a);
      } else {
        model.alerts.delete(a.id);
      }
      renderAlerts();
      break;
    }
  }
}

function setConn(state, text) {
  ui.conn.dataset.state = state;
  ui.conn.textContent = text;
  document.body.classList.toggle("stale", state === "disconnected" || state === "connecting");
}

// live owns the WebSocket and its reconnect schedule.
const live = {
  ws: null,
  wanted: false,
  attempt: 0,
  timer: 0,
  countdown: 0,

  start() {
    this.wanted = true;
    this.attempt = 0;
    this.connect();
  },

  stop() {
    this.wanted = false;
    this.clearTimers();
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000, "signed out");
    ui.banner.hidden = true;
  },

  clearTimers() {
    clearTimeout(this.timer);
    clearInterval(this.countdown);
    this.timer = 0;
    this.countdown = 0;
  },

  connect() {
    this.clearTimers();
    if (!this.wanted || this.ws) return;
    const url = new URL("ws/live", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    url.search = "";
    url.hash = "";
    if (this.attempt === 0) setConn("connecting", "connecting");
    else ui.bannerText.textContent = "Disconnected — reconnecting…";

    let ws;
    try {
      ws = new WebSocket(url);
    } catch (err) {
      console.error("esmon: cannot open the live feed:", err);
      this.retryLater();
      return;
    }
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
    };
    ws.onmessage = (e) => {
      if (this.ws !== ws) return;
      let ev;
      try {
        ev = JSON.parse(e.data);
      } catch (err) {
        console.warn("esmon: bad live message:", err);
        return;
      }
      applyEvent(ev);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (!this.wanted) return;
      if (e.code === CLOSE_UNAUTHORIZED) {
        showSignIn("Your session has ended. Sign in again.");
        return;
      }
      if (!opened) {
        // The handshake failed. A browser hides the HTTP status, so ask
        // whether the session is still good before trying again.
        checkSession().then((ok) => {
          if (!this.wanted || this.ws) return;
          if (ok === false) showSignIn("Your session has ended. Sign in again.");
          else this.retryLater();
        });
        return;
      }
      this.retryLater();
    };
  },

  onSnapshot() {
    this.attempt = 0;
    this.clearTimers();
    ui.banner.hidden = true;
    setConn("live", "live");
  },

  // retryLater waits min(30 s, 1 s × 2^attempt), jittered down by up to
  // half, and never less than 1 s.
  retryLater() {
    this.clearTimers();
    const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    const delay = Math.max(BACKOFF_MIN_MS, cap / 2 + Math.random() * (cap / 2));
    this.attempt++;
    const due = Date.now() + delay;
    setConn("disconnected", "disconnected");
    const tick = () => {
      const s = Math.max(1, Math.ceil((due - Date.now()) / 1000));
      ui.bannerText.textContent = `Disconnected — reconnecting in ${s} s`;
    };
    tick();
    ui.banner.hidden = false;
    this.countdown = setInterval(tick, 1000);
    this.timer = setTimeout(() => this.connect(), delay);
  },

  retryNow() {
    if (this.wanted && !this.ws) this.connect();
  },
};

// ---- session ------------------------------------------------------------

function api(method, path, body) {
  const init = { method, credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  return fetch(path, init);
}

async function errorText(res) {
  try {
    const e = await res.json();
    if (e && e.error) return e.error;
  } catch {
    // not JSON; fall through
  }
  return `The core answered ${res.status} ${res.statusText}`.trim();
}

// checkSession resolves true when the cookie is valid, false when it is not,
// and null when the core cannot be reached.
async function checkSession() {
  try {
    const res = await api("GET", "api/v1/session");
    if (res.ok) return true;
    if (res.status === 401) return false;
    return null;
  } catch {
    return null;
  }
}

function clearModel() {
  model.hosts.clear();
  model.alerts.clear();
  model.loaded = false;
  ui.hosts.replaceChildren();
  renderHosts(null);
  renderAlerts();
}

function showSignIn(message) {
  live.stop();
  clearModel();
  setConn("idle", "signed out");
  ui.dashView.hidden = true;
  ui.counts.hidden = true;
  ui.signout.hidden = true;
  ui.signinView.hidden = false;
  ui.signinError.textContent = message || "";
  ui.token.setAttribute("aria-invalid", message ? "true" : "false");
  ui.token.focus();
}

function showDashboard() {
  ui.signinView.hidden = true;
  ui.signinError.textContent = "";
  ui.dashView.hidden = false;
  ui.counts.hidden = false;
  ui.signout.hidden = false;
  ui.agentCmd.textContent = `esmon-agent run --core ${location.origin} --token TOKEN`;
  ui.main.focus({ preventScroll: true });
  live.start();
}

async function signIn(e) {
  e.preventDefault();
  const token = ui.token.value.trim();
  if (!token) {
    ui.signinError.textContent = "Enter the admin API token.";
    ui.token.setAttribute("aria-invalid", "true");
    ui.token.focus();
    return;
  }
  ui.signinSubmit.disabled = true;
  ui.signinError.textContent = "";
  try {
    const res = await api("POST", "api/v1/session", { token });
    if (res.ok) {
      ui.token.value = "";
      ui.token.setAttribute("aria-invalid", "false");
      showDashboard();
      return;
    }
    ui.signinError.textContent = await errorText(res);
    ui.token.setAttribute("aria-invalid", "true");
    ui.token.select();
  } catch {
    ui.signinError.textContent = "Cannot reach the core. Check the address and try again.";
  } finally {
    ui.signinSubmit.disabled = false;
  }
}

async function signOut() {
  live.stop();
  try {
    await api("DELETE", "api/v1/session");
  } catch {
    // The cookie dies with the session anyway; show sign-in regardless.
  }
  showSignIn();
}

async function boot() {
  ui.signin.addEventListener("submit", signIn);
  ui.signout.addEventListener("click", signOut);
  ui.retry.addEventListener("click", () => live.retryNow());
  window.addEventListener("online", () => live.retryNow());
  setInterval(refreshTimes, 30000);

  setConn("idle", "checking");
  const ok = await checkSession();
  if (ok) showDashboard();
  else showSignIn(ok === null ? "Cannot reach the core. Reload the page to try again." : "");
}

boot();
