// The overview: every host as a card with its status colour and gauges,
// filtered and sorted by name, status and severity, and the active alerts.
// Live events are applied at most once per animation frame, so a thousand
// hosts reporting every second cost one layout per frame, not one per event.
import { model, subscribe, hostName } from "./live.js";
import { makeGauges, setGauges } from "./gauge.js";
import {
  $, el, LABELS, SEVERITIES, fmtNumber, parseTime, setTime, timeEl, severityRank,
} from "./util.js";

const ui = {
  view: $("dash-view"),
  hosts: $("hosts"),
  hostsEmpty: $("hosts-empty"),
  hostsNone: $("hosts-none"),
  hostsTotal: $("hosts-total"),
  alerts: $("alerts"),
  alertsEmpty: $("alerts-empty"),
  alertsTotal: $("alerts-total"),
  counts: $("counts"),
  statusCounts: $("status-counts"),
  q: $("host-q"),
  status: $("host-status"),
  sort: $("host-sort"),
  clear: $("host-clear"),
  agentCmd: $("agent-cmd"),
};

const STATUS_ORDER = ["very_critical", "critical", "warning", "info", "offline", "ok"];

function statusOf(h) {
  return h.online ? h.status || "ok" : "offline";
}

function nameOf(h) {
  return (h.facts && h.facts.hostname) || h.id;
}

// ---- host cards ---------------------------------------------------------

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

function makeHostCard(id) {
  const card = el("article", "host");
  card.dataset.host = id;

  const head = el("div", "host-head");
  const name = el("h3", "host-name");
  const a = el("a", "host-link");
  a.href = `#/host/${encodeURIComponent(id)}`;
  name.append(a);
  const badge = el("span", "badge");
  head.append(name, badge);

  const os = el("p", "host-os");
  // The host's tags: each filters the overview to the hosts that have it.
  const tags = el("p", "host-tags");
  const gauges = el("div", "gauges");
  makeGauges(gauges);

  const foot = el("div", "host-foot");
  const seen = el("span", "seen", "Last seen ");
  seen.append(timeEl(null, false));
  foot.append(seen, el("span", "status-text"));

  card.append(head, os, tags, gauges, foot);
  // The whole card opens the host page; the link inside is what the
  // keyboard reaches.
  card.addEventListener("click", (e) => {
    const tag = e.target.closest("button[data-tag]");
    if (tag) {
      ui.q.value = `tag:${tag.dataset.tag}`;
      readFilter();
      return;
    }
    if (e.target.closest("a")) return;
    location.hash = a.getAttribute("href");
  });
  return card;
}

function updateHostCard(card, h) {
  const name = nameOf(h);
  const status = statusOf(h);
  card.dataset.status = status;
  card.dataset.online = String(!!h.online);
  card.setAttribute("aria-label", `${name}: ${h.online ? "online" : "offline"}, ${LABELS[status] || status}`);

  const a = card.querySelector(".host-link");
  if (a.textContent !== name) a.textContent = name;
  a.title = h.id === name ? name : `${name} (${h.id})`;

  const badge = card.querySelector(".badge");
  badge.textContent = h.online ? "online" : "offline";
  badge.className = `badge ${h.online ? "online" : "offline"}`;

  const os = card.querySelector(".host-os");
  const line = platformLine(h.facts) || "\u00a0";
  if (os.textContent !== line) {
    os.textContent = line;
    os.title = [line, h.facts && h.facts.kernel_version, h.agent_version && `agent ${h.agent_version}`]
      .filter(Boolean).join("\n");
  }

  const tags = card.querySelector(".host-tags");
  const tagSig = (h.tags || []).join(" ");
  if (tags.dataset.sig !== tagSig) {
    tags.dataset.sig = tagSig;
    tags.replaceChildren(...(h.tags || []).map((t) => {
      const b = el("button", "tag", t);
      b.type = "button";
      b.dataset.tag = t;
      b.title = `Show only hosts tagged ${t}${h.tags_by_admin ? " (tags set by an admin)" : ""}`;
      return b;
    }));
    tags.hidden = !tagSig;
  }
  setGauges(card.querySelector(".gauges"), h.gauges);
  setTime(card.querySelector(".seen time"), parseTime(h.last_seen), false);
  card.querySelector(".status-text").textContent = status === "offline" ? "" : LABELS[status] || status;
}

// ---- filter and sort ------------------------------------------------------

const filter = { q: "", status: "", sort: "name" };

function matches(h) {
  const st = statusOf(h);
  if (filter.status === "problem" ? st === "ok" : filter.status && st !== filter.status) return false;
  if (!filter.q) return true;
  const f = h.facts || {};
  const tags = (h.tags || []).map((t) => t.toLowerCase());
  const hay = [h.id, f.hostname, f.os, f.platform, f.platform_version, f.arch, f.kernel_version, st, ...tags]
    .filter(Boolean).join(" ").toLowerCase();
  // "tag:prod" asks for the tag itself, not a word that contains it.
  return filter.q.split(/\s+/).every((w) => (w.startsWith("tag:") ? tags.includes(w.slice(4)) : hay.includes(w)));
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

function byName(a, b) {
  return collator.compare(nameOf(a), nameOf(b)) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

const SORTS = {
  name: byName,
  severity: (a, b) => STATUS_ORDER.indexOf(statusOf(a)) - STATUS_ORDER.indexOf(statusOf(b)) || byName(a, b),
  cpu: (a, b) => (b.gauges?.cpu ?? -1) - (a.gauges?.cpu ?? -1) || byName(a, b),
  memory: (a, b) => (b.gauges?.memory ?? -1) - (a.gauges?.memory ?? -1) || byName(a, b),
  disk: (a, b) => (b.gauges?.disk ?? -1) - (a.gauges?.disk ?? -1) || byName(a, b),
  seen: (a, b) => (parseTime(a.last_seen) || 0) - (parseTime(b.last_seen) || 0) || byName(a, b),
};

// ---- rendering ------------------------------------------------------------

const cards = new Map(); // host id -> card element
let dirty = new Set();
let dirtyAll = true;
let orderDirty = true;
let alertsDirty = true;
let frame = 0;
let active = false; // the overview is the page shown

function schedule() {
  if (!frame) frame = requestAnimationFrame(flush);
}

function flush() {
  frame = 0;
  renderCounts();
  if (alertsDirty) renderAlerts();
  if (active) renderHosts();
}

// FIRST_CARDS is how many cards the first frame draws; the rest follow a
// frame at a time, each frame building cards for at most CHUNK_MS (under
// the 50 ms that makes a long task), so a
// thousand hosts show at once and no frame becomes a long task that keeps
// the first screen from being painted or a keystroke from being answered.
// (Fixed chunks of 250 cards took 150–340 ms each on a busy machine.)
const FIRST_CARDS = 60;
const CHUNK_MS = 40;

// renderHosts brings the cards in line with model.hosts: it updates the
// cards of hosts that changed, drops cards of hosts that went away, builds
// missing cards (in chunks), and moves cards only when the order changed.
function renderHosts() {
  for (const [id, c] of cards) {
    if (!model.hosts.has(id)) {
      c.remove();
      cards.delete(id);
      orderDirty = true;
    }
  }
  const ids = dirtyAll ? model.hosts.keys() : dirty;
  for (const id of ids) {
    const h = model.hosts.get(id);
    const c = cards.get(id);
    if (h && c) updateHostCard(c, h);
    else if (h) orderDirty = true; // its card is yet to be built
  }
  dirty = new Set();
  dirtyAll = false;

  if (orderDirty) {
    orderDirty = false;
    const shown = [...model.hosts.values()].filter(matches).sort(SORTS[filter.sort] || byName);
    const first = cards.size === 0;
    let budget = first ? FIRST_CARDS : Infinity;
    const until = performance.now() + CHUNK_MS;
    const want = [];
    let more = false;
    for (const h of shown) {
      let c = cards.get(h.id);
      if (!c) {
        if (budget-- <= 0 || (!first && performance.now() > until)) {
          more = true;
          break;
        }
        c = makeHostCard(h.id);
        updateHostCard(c, h);
        cards.set(h.id, c);
      }
      want.push(c);
    }
    const have = ui.hosts.children;
    // The cards shown so far in the same order: only append the new ones
    // (the usual case while chunks are built), rather than moving them all.
    let prefix = have.length <= want.length;
    for (let i = 0; prefix && i < have.length; i++) prefix = want[i] === have[i];
    if (!prefix) ui.hosts.replaceChildren(...want);
    else if (want.length > have.length) ui.hosts.append(...want.slice(have.length));
    ui.hostsNone.hidden = !(model.hosts.size > 0 && shown.length === 0);
    ui.hosts.dataset.complete = String(!more);
    if (more) {
      orderDirty = true;
      setTimeout(schedule); // after this frame is painted
    } else if (model.loaded) {
      mark("esmon:hosts-complete");
    }
  }
  ui.hostsTotal.textContent = String(model.hosts.size);
  ui.hostsEmpty.hidden = !model.loaded || model.hosts.size > 0;
  if (model.loaded && !performance.getEntriesByName("esmon:hosts-rendered").length) {
    // The benchmark reads these: the first overview drawn, and the frame
    // that showed it.
    performance.mark("esmon:hosts-rendered");
    requestAnimationFrame(() => setTimeout(() => performance.mark("esmon:hosts-painted")));
  }
}

function mark(name) {
  if (!performance.getEntriesByName(name).length) performance.mark(name);
}

function renderCounts() {
  const byStatus = new Map(STATUS_ORDER.map((s) => [s, 0]));
  for (const h of model.hosts.values()) {
    const s = statusOf(h);
    byStatus.set(s, (byStatus.get(s) || 0) + 1);
  }
  const chips = [];
  for (const s of STATUS_ORDER) {
    const n = byStatus.get(s);
    if (!n) continue;
    const b = el("button", "chip");
    b.type = "button";
    b.dataset.status = s;
    b.dataset.n = String(n);
    b.setAttribute("aria-pressed", String(filter.status === s));
    b.textContent = `${n} ${LABELS[s].toLowerCase()}`;
    b.title = `Show only hosts that are ${LABELS[s].toLowerCase()}`;
    chips.push(b);
  }
  const sig = chips.map((c) => c.textContent + c.getAttribute("aria-pressed")).join("|");
  if (ui.statusCounts.dataset.sig !== sig) {
    ui.statusCounts.dataset.sig = sig;
    ui.statusCounts.replaceChildren(...chips);
  }
}

function alertSince(a) {
  return parseTime(a.state === "pending" ? a.active_at : a.fired_at) || parseTime(a.active_at);
}

export function sortedAlerts() {
  return [...model.alerts.values()].sort((a, b) => {
    const r = severityRank(b.severity) - severityRank(a.severity);
    if (r) return r;
    if (a.state !== b.state) return a.state === "firing" ? -1 : 1;
    return (alertSince(b) || 0) - (alertSince(a) || 0);
  });
}

export function alertValueText(a) {
  const unit = a.metric && a.metric.endsWith("_percent") ? "%" : "";
  return `${fmtNumber(a.value)}${unit} ${a.op || "vs"} ${fmtNumber(a.threshold)}${unit}`;
}

// ackNote says who acknowledged an alert, when, and their comment.
export function ackNote(ack) {
  const s = el("span", "acked", `acknowledged by ${ack.by || "someone"} `);
  s.append(timeEl(parseTime(ack.at), true));
  if (ack.comment) s.append(`: ${ack.comment}`);
  return s;
}

function alertRow(a) {
  const li = el("li", "alert");
  li.dataset.alert = a.id;
  li.dataset.severity = a.severity;
  li.dataset.state = a.state;

  const head = el("div", "alert-head");
  const hostLink = el("a", "host-ref", `on ${hostName(a.host)}`);
  hostLink.href = `#/host/${encodeURIComponent(a.host)}`;
  head.append(
    el("span", "sev", LABELS[a.severity] || a.severity || "alert"),
    el("span", "alert-title", a.rule_name || a.rule_id || "alert"),
    hostLink,
  );

  const meta = el("div", "alert-meta");
  const val = el("span", "val", alertValueText(a));
  val.title = "value vs threshold";
  meta.append(val);
  const when = el("span", "since", a.state === "pending" ? "pending since " : "since ");
  when.append(timeEl(alertSince(a), true));
  meta.append(when);
  if (a.ack) meta.append(ackNote(a.ack));
  if (a.silenced) meta.append(el("span", "acked", `muted by ${a.silenced}`));

  li.append(head, meta);
  if (a.summary) li.append(el("p", "alert-summary", a.summary));
  return li;
}

function renderAlerts() {
  alertsDirty = false;
  const list = sortedAlerts();
  const firing = list.filter((a) => a.state === "firing");
  for (const sev of SEVERITIES) {
    const n = firing.filter((a) => a.severity === sev).length;
    const chip = ui.counts.querySelector(`[data-count="${sev}"]`);
    chip.querySelector(".n").textContent = String(n);
    chip.classList.toggle("active", n > 0);
  }
  document.title = firing.length ? `(${firing.length}) esmon` : "esmon";
  if (!active) return;
  ui.alerts.replaceChildren(...list.map(alertRow));
  ui.alertsEmpty.hidden = list.length > 0;
  ui.alertsTotal.textContent = String(list.length);
}

function readFilter() {
  filter.q = ui.q.value.trim().toLowerCase();
  filter.status = ui.status.value;
  filter.sort = ui.sort.value;
  orderDirty = true;
  schedule();
  // Keep the choice in the address, so a reload or a shared link keeps it.
  const p = new URLSearchParams();
  if (filter.q) p.set("q", ui.q.value.trim());
  if (filter.status) p.set("status", filter.status);
  if (filter.sort !== "name") p.set("sort", filter.sort);
  const want = `#/${p.size ? "?" + p : ""}`;
  if (location.hash !== want && (location.hash || "#/") !== want) history.replaceState(null, "", want);
}

export function initOverview() {
  ui.q.addEventListener("input", readFilter);
  ui.status.addEventListener("change", readFilter);
  ui.sort.addEventListener("change", readFilter);
  $("host-filter").addEventListener("submit", (e) => e.preventDefault());
  ui.clear.addEventListener("click", () => {
    ui.q.value = "";
    ui.status.value = "";
    readFilter();
    ui.q.focus();
  });
  ui.statusCounts.addEventListener("click", (e) => {
    const b = e.target.closest("button[data-status]");
    if (!b) return;
    ui.status.value = ui.status.value === b.dataset.status ? "" : b.dataset.status;
    readFilter();
  });

  subscribe((ev) => {
    switch (ev.type) {
      case "snapshot":
        mark("esmon:snapshot");
      // falls through
      case "reset":
        dirtyAll = true;
        orderDirty = true;
        alertsDirty = true;
        if (ev.type === "reset") {
          ui.hosts.replaceChildren();
          cards.clear();
        }
        break;
      case "host": {
        dirty.add(ev.host.id);
        const o = ev.old;
        // The order or the filter may change with the name, status or a figure
        // the sort uses.
        if (!o || filter.sort !== "name" || filter.status || filter.q ||
            statusOf(o) !== statusOf(ev.host) || nameOf(o) !== nameOf(ev.host)) orderDirty = true;
        if (!o || nameOf(o) !== nameOf(ev.host)) alertsDirty = true;
        break;
      }
      case "alert":
        alertsDirty = true;
        break;
      default:
        return;
    }
    if (ev.type === "snapshot") {
      // The whole picture: draw it now rather than a frame later.
      if (frame) cancelAnimationFrame(frame);
      frame = 0;
      flush();
      return;
    }
    schedule();
  });
}

// showOverview is the router's entry: params are the hash's query.
export function showOverview(params) {
  active = true;
  ui.q.value = params.get("q") || "";
  const st = params.get("status") || "";
  ui.status.value = [...ui.status.options].some((o) => o.value === st) ? st : "";
  const so = params.get("sort") || "name";
  ui.sort.value = SORTS[so] ? so : "name";
  filter.q = ui.q.value.trim().toLowerCase();
  filter.status = ui.status.value;
  filter.sort = ui.sort.value;
  dirtyAll = true;
  orderDirty = true;
  alertsDirty = true;
  if (frame) cancelAnimationFrame(frame);
  frame = 0;
  flush();
}

export function hideOverview() {
  active = false;
}

// renderNow draws pending changes at once (for the top bar counts, which
// show on every page).
export function overviewTick() {
  schedule();
}
