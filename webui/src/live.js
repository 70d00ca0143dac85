// The live feed: one WebSocket to ws/live, the model it fills, and the
// listeners (pages) it tells. The page never polls. The first message is a
// snapshot of every host and active alert; host and alert events follow,
// one per message or, when several piled up, as a "batch" of them in order
// (the protocol is in core/apiv1's Event). A host event leaves out the
// host's identity (facts, agent version, agent tags) when it did not
// change, and its latest values unless the page watches the host: the host
// page does, with watch(). Without either it comes in the short form "h":
// [host, state, seen, cpu, memory, disk], which in a batch is the array
// alone; host is the host's number on the feed ("n", given with the host in
// the snapshot and in every event with its facts) or its id, state is
// twice the status' place in STATUSES plus 1 when online, and seen is
// last_seen in milliseconds since the feed's epoch (null: never; the gauges
// are whole percent, as the card shows them), which the
// snapshot gives and an "epoch" event changes. A pending alert that ends
// without firing comes short too, "a": [id, at in Unix ms, value], and so
// does one that fires with nothing else changed, with its new summary,
// notified (1: notified at that time), severity and threshold after the
// value (7 fields). A fresh alert going pending comes short with host,
// rule, severity, threshold and summary after the value (8 fields; labels
// {host}, active_at at): host by its number or id, rule by its number on
// the feed, which the snapshot's "rules" and "r" events give as [n,
// rule_id, rule_name, metric, op]; or, when the rule has no number, with
// host, rule_id, rule_name, metric, severity, op, threshold and summary
// (11 fields). The number of fields tells the transition. A summary that
// is null is the alert's plain one, which plainSummary builds as the core
// does. Any other alert event
// leaves out what repeats another of its fields (apiv1's LiveTransition):
// the alert's state when it is the transition's "to", its labels when they
// are only {host}, the transition's value and threshold when they are the
// alert's, its time when it goes pending at active_at; fillTransition puts
// them back.
// When the socket drops, the banner shows and the feed reconnects with
// exponential backoff and jitter; close code 4401 ends the session.

import { fmtValue } from "./fmtvalue.js";

const CLOSE_UNAUTHORIZED = 4401;
const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 30000;

// model is what the page knows, keyed by id.
export const model = {
  hosts: new Map(), // host id -> apiv1.Host
  alerts: new Map(), // alert id -> apiv1.Alert (state firing or pending)
  nums: new Map(), // host number on the feed -> host id
  rules: new Map(), // rule number on the feed -> [n, rule_id, rule_name, metric, op]
  epoch: 0, // Unix ms that short host events count last_seen from
  loaded: false, // a snapshot arrived since sign-in
};

// STATUSES are a short host event's statuses, by their place in its state
// (apiv1.BriefState).
const STATUSES = ["ok", "offline", "info", "warning", "critical", "very_critical"];

const listeners = new Set();

// subscribe calls fn(ev) for every event the model applied ("snapshot",
// "host", "alert", "conn", "reset"); it returns the function that stops it.
export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function emit(ev) {
  for (const fn of [...listeners]) {
    try {
      fn(ev);
    } catch (err) {
      console.error("esmon: listener failed:", err);
    }
  }
}

export function hostName(id) {
  const h = model.hosts.get(id);
  return (h && h.facts && h.facts.hostname) || id || "unknown host";
}

export function resetModel() {
  model.hosts.clear();
  model.alerts.clear();
  model.nums.clear();
  model.rules.clear();
  model.epoch = 0;
  model.loaded = false;
  emit({ type: "reset" });
}

// IDENTITY are the host fields an event leaves out when they did not change.
const IDENTITY = ["facts", "agent_version", "agent_tags", "tags_by_admin"];

// setHost puts a host event's host in the model, keeping the identity
// fields (and the tags, for a short event) it does not carry.
function setHost(h, keep) {
  if (h.n) model.nums.set(h.n, h.id);
  const old = model.hosts.get(h.id);
  if (!("facts" in h) && old) {
    for (const k of keep) if (k in old && !(k in h)) h[k] = old[k];
  }
  model.hosts.set(h.id, h);
  emit({ type: "host", host: h, old });
}

// fillTransition puts back into a transition what the core left out as a
// repeat of another of its fields (see the top of this file).
function fillTransition(tr) {
  const a = tr.alert;
  if (!("state" in a)) a.state = tr.to;
  if (!("labels" in a) && a.host) a.labels = { host: a.host };
  if (!("value" in tr)) tr.value = a.value;
  if (!("threshold" in tr)) tr.threshold = a.threshold;
  if (!("at" in tr) && tr.to === "pending") tr.at = a.active_at;
}

// plainSummary is the summary the core gives an alert of a rule without a
// summary of its own (apiv1.PlainSummary), which short alert events leave
// out: "High CPU on web-01: cpu_usage_percent is 91.25 (> 90)".
export function plainSummary(a) {
  return `${a.rule_name} on ${a.host}: ${a.metric} is ${fmtValue(a.value)} (${a.op} ${fmtValue(a.threshold)})`;
}

function applyEvent(ev) {
  switch (ev.type) {
    case "batch":
      // An array in a batch is a short host event.
      for (const e of ev.events || []) applyEvent(Array.isArray(e) ? { type: "h", h: e } : e);
      break;
    case "snapshot":
      model.hosts = new Map((ev.hosts || []).map((h) => [h.id, h]));
      model.nums = new Map((ev.hosts || []).filter((h) => h.n).map((h) => [h.n, h.id]));
      model.rules = new Map((ev.rules || []).map((r) => [r[0], r]));
      model.epoch = ev.epoch || 0;
      model.alerts = new Map(
        (ev.alerts || []).filter((a) => a.state === "firing" || a.state === "pending").map((a) => [a.id, a]),
      );
      model.loaded = true;
      feed.onSnapshot();
      emit(ev);
      break;
    case "host":
      if (ev.host && ev.host.id) setHost(ev.host, IDENTITY);
      break;
    case "epoch":
      model.epoch = ev.epoch || 0;
      break;
    case "r":
      if (Array.isArray(ev.r) && ev.r[0]) model.rules.set(ev.r[0], ev.r);
      break;
    case "h": {
      const [host, state, seen, cpu, memory, disk] = ev.h || [];
      // A number the feed never gave this page (its host was removed
      // before the snapshot) is dropped.
      const id = typeof host === "number" ? model.nums.get(host) : host;
      const status = typeof state === "number" ? STATUSES[state >> 1] : undefined;
      if (!id || !status) return;
      const h = { id, online: (state & 1) === 1, status, gauges: { cpu, memory, disk } };
      if (seen != null) h.last_seen = new Date(model.epoch + seen).toISOString();
      setHost(h, [...IDENTITY, "tags"]);
      break;
    }
    case "a": {
      // Short alert events; the number of fields tells the transition. A
      // fresh alert going pending (inactive to pending) carries all of
      // itself: 8 fields with host and rule by number, 11 with the rule's
      // fields. A pending alert that ended without firing (3 fields) or
      // fired (7): the alert is the one this page has had since it went
      // pending, fired at the transition's time; one that fired also has
      // its new summary, notified 1 when the channels heard of it then,
      // and its severity and threshold.
      const a = ev.a || [];
      if (a.length === 8 || a.length === 11) {
        const from = "inactive";
        const to = "pending";
        let id, at, value, host, rule_id, rule_name, metric, severity, op, threshold, summary;
        if (a.length === 11) {
          [id, at, value, host, rule_id, rule_name, metric, severity, op, threshold, summary] = a;
        } else {
          let rule;
          [id, at, value, host, rule, severity, threshold, summary] = a;
          // A number the feed never gave this page cannot be read.
          if (typeof host === "number") host = model.nums.get(host);
          const r = model.rules.get(rule);
          if (!r) return;
          [, rule_id, rule_name, metric, op] = r;
        }
        if (!id || !host) return;
        const iso = new Date(at).toISOString();
        const alert = { id, rule_id, rule_name, host, metric, labels: { host }, severity, state: to, value, op, threshold, summary, active_at: iso };
        if (summary == null) alert.summary = plainSummary(alert);
        applyEvent({ type: "alert", transition: { alert, from, to, at: iso, value, threshold } });
        break;
      }
      if (a.length !== 3 && a.length !== 7) return;
      const [id, at, value, summary, notified, severity, threshold] = a;
      const from = "pending";
      const to = a.length === 3 ? "inactive" : "firing";
      if (!id) return;
      const known = model.alerts.get(id) || { id };
      const iso = new Date(at).toISOString();
      const alert = { ...known, state: to, value };
      if (to === "firing") alert.fired_at = iso;
      if (notified === 1) alert.notified_at = iso;
      if (severity !== undefined) Object.assign(alert, { severity, threshold });
      if (summary !== undefined) alert.summary = summary == null ? plainSummary(alert) : summary;
      applyEvent({
        type: "alert",
        transition: { alert, from, to, at: iso, value, threshold: alert.threshold },
      });
      break;
    }
    case "alert": {
      const tr = ev.transition;
      if (!tr || !tr.alert || !tr.alert.id) return;
      fillTransition(tr);
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
      emit({ type: "alert", transition: tr, alert: a });
      break;
    }
    default:
      // A newer core may send event types this page does not know yet.
      emit(ev);
  }
}

// hooks are set by main.js: the connection's state for the top bar and the
// banner, and what to do when the session ended.
export const hooks = {
  state: (_state, _text) => {},
  banner: (_text) => {},
  sessionEnded: () => {},
  checkSession: async () => null,
};

// watch asks the core for the latest values of these hosts in their host
// events (the host page's live tail); watch() asks for none. It holds
// across reconnects.
export function watch(...ids) {
  feed.watched = ids;
  feed.sendWatch();
}

// feed owns the WebSocket and its reconnect schedule.
export const feed = {
  ws: null,
  watched: [],
  wanted: false,
  attempt: 0,
  timer: 0,
  countdown: 0,
  messages: 0,

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
    hooks.banner(null);
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
    if (this.attempt === 0) hooks.state("connecting", "connecting");
    else hooks.banner("Disconnected — reconnecting…");

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
      if (this.watched.length) this.sendWatch();
      if (!performance.getEntriesByName("esmon:feed-open").length) performance.mark("esmon:feed-open");
    };
    ws.onmessage = (e) => {
      if (this.ws !== ws) return;
      this.messages++;
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
        hooks.sessionEnded();
        return;
      }
      if (!opened) {
        // The handshake failed. A browser hides the HTTP status, so ask
        // whether the session is still good before trying again.
        hooks.checkSession().then((ok) => {
          if (!this.wanted || this.ws) return;
          if (ok === false) hooks.sessionEnded();
          else this.retryLater();
        });
        return;
      }
      this.retryLater();
    };
  },

  sendWatch() {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return; // onopen sends it
    ws.send(JSON.stringify({ watch: this.watched }));
  },

  onSnapshot() {
    this.attempt = 0;
    this.clearTimers();
    hooks.banner(null);
    hooks.state("live", "live");
  },

  // retryLater waits min(30 s, 1 s × 2^attempt), jittered down by up to
  // half, and never less than 1 s.
  retryLater() {
    this.clearTimers();
    const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    const delay = Math.max(BACKOFF_MIN_MS, cap / 2 + Math.random() * (cap / 2));
    this.attempt++;
    const due = Date.now() + delay;
    hooks.state("disconnected", "disconnected");
    const tick = () => {
      const s = Math.max(1, Math.ceil((due - Date.now()) / 1000));
      hooks.banner(`Disconnected — reconnecting in ${s} s`);
    };
    tick();
    this.countdown = setInterval(tick, 1000);
    this.timer = setTimeout(() => this.connect(), delay);
  },

  retryNow() {
    if (this.wanted && !this.ws) this.connect();
  },
};
