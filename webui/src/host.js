// The host page: facts, gauges, and charts of every metric family the host
// reports, over a chosen range (15 m to 30 d, or custom), zoomed by drag,
// with a crosshair that shows the values, and a live tail from /ws/live.
import { model, subscribe, watch } from "./live.js";
import { makeGauges, setGauges } from "./gauge.js";
import { Chart, align, rate } from "./chart.js";
import {
  $, el, api, LABELS, duration, fmtBytes, parseTime, timeEl, seriesKey,
} from "./util.js";

export const RANGES = {
  "15m": 15 * 60e3,
  "1h": 60 * 60e3,
  "6h": 6 * 60 * 60e3,
  "24h": 24 * 60 * 60e3,
  "7d": 7 * 24 * 60 * 60e3,
  "30d": 30 * 24 * 60 * 60e3,
};

// POINTS caps how many points a chart asks for: a point per pixel of a
// wide chart, well under the core's limit per series.
const POINTS = 1500;

// STEPS are the steps (seconds) a query may use. Whole minutes and hours
// let the store answer from its 1-minute and 1-hour rollups instead of
// reading every raw sample of a long range.
const STEPS = [1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 10800, 14400, 21600, 43200, 86400];

// BAND_STEP is the step (seconds) from which a single-series gauge chart
// shows the min–max band of each step around its average: a one-second
// spike that a 10-minute average hides stays visible.
const BAND_STEP = 60;

// TIERS names the store's tiers as the page shows them.
const TIERS = { raw: "raw samples", "1m": "the 1-minute rollup", "1h": "the 1-hour rollup" };

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });
const rest = (l, skip) => Object.entries(l).filter(([k]) => k !== "host" && !skip.includes(k))
  .map(([k, v]) => `${k}=${v}`).join(" ");

// SPECS are the charts of a host, in page order. A chart shows when the
// host has a series of one of its metrics.
const SPECS = [
  { id: "cpu", title: "CPU, all cores", metrics: ["cpu_usage_percent"], unit: "percent", yMax: 100, label: () => "CPU" },
  { id: "cpu-cores", title: "CPU per core", metrics: ["cpu_core_usage_percent"], unit: "percent", yMax: 100, label: (l) => `core ${l.core ?? "?"}` },
  {
    id: "load", title: "Load average", metrics: ["load_average_1m", "load_average_5m", "load_average_15m"], unit: "",
    label: (_l, m) => m.replace("load_average_", ""),
  },
  { id: "memory", title: "Memory used", metrics: ["memory_used_percent"], unit: "percent", yMax: 100, label: () => "memory" },
  { id: "swap", title: "Swap used", metrics: ["swap_used_percent"], unit: "percent", yMax: 100, label: () => "swap" },
  { id: "disk", title: "Disk use per mount", metrics: ["disk_used_percent"], unit: "percent", yMax: 100, label: (l) => l.mount || rest(l, []) },
  {
    id: "disk-io", title: "Disk I/O", metrics: ["disk_read_bytes_total", "disk_written_bytes_total"], unit: "bytes/s", rate: true,
    label: (l, m) => `${l.device || "?"} ${m === "disk_read_bytes_total" ? "read" : "write"}`,
  },
  {
    id: "net", title: "Network per interface", metrics: ["network_received_bytes_total", "network_sent_bytes_total"], unit: "bytes/s", rate: true,
    label: (l, m) => `${l.interface || "?"} ${m === "network_received_bytes_total" ? "in" : "out"}`,
  },
  // JVM figures from the agent's JMX bridge; every series has label jvm.
  { id: "jvm-heap-pct", title: "JVM heap used", metrics: ["jvm_heap_used_percent"], unit: "percent", yMax: 100, label: (l) => l.jvm || "JVM" },
  {
    id: "jvm-heap", title: "JVM heap", unit: "bytes",
    metrics: ["jvm_memory_heap_used_bytes", "jvm_memory_heap_committed_bytes", "jvm_memory_heap_max_bytes"],
    label: (l, m) => `${l.jvm || "JVM"} ${m.replace("jvm_memory_heap_", "").replace("_bytes", "")}`,
  },
  {
    id: "jvm-nonheap", title: "JVM non-heap memory", unit: "bytes",
    metrics: ["jvm_memory_nonheap_used_bytes", "jvm_memory_nonheap_committed_bytes", "jvm_memory_nonheap_max_bytes"],
    label: (l, m) => `${l.jvm || "JVM"} ${m.replace("jvm_memory_nonheap_", "").replace("_bytes", "")}`,
  },
  {
    id: "jvm-gc-time", title: "JVM time in garbage collection", metrics: ["jvm_gc_time_seconds_total"], unit: "percent",
    rate: true, scale: 100, label: (l) => `${l.jvm || "JVM"} ${l.collector || ""}`.trim(),
  },
  {
    id: "jvm-gc", title: "JVM garbage collections", metrics: ["jvm_gc_collections_total"], unit: "per second", rate: true,
    label: (l) => `${l.jvm || "JVM"} ${l.collector || ""}`.trim(),
  },
  {
    id: "jvm-threads", title: "JVM threads", metrics: ["jvm_threads", "jvm_threads_daemon", "jvm_threads_peak"], unit: "",
    label: (l, m) => `${l.jvm || "JVM"} ${m === "jvm_threads" ? "live" : m.replace("jvm_threads_", "")}`,
  },
  { id: "jvm-cpu", title: "JVM process CPU", metrics: ["jvm_process_cpu_percent"], unit: "percent", yMax: 100, label: (l) => l.jvm || "JVM" },
  { id: "jvm-classes", title: "JVM classes loaded", metrics: ["jvm_classes_loaded"], unit: "", label: (l) => l.jvm || "JVM" },
  { id: "jvm-up", title: "JVM reachable (1 = yes)", metrics: ["jvm_up"], unit: "", yMax: 1, label: (l) => l.jvm || "JVM" },
];

const KNOWN = new Set(SPECS.flatMap((s) => s.metrics));

// jvmSpec makes a chart for a JVM metric no spec above names.
function jvmSpec(metric) {
  const unitOf = (m) => (m.endsWith("_percent") ? "percent" : m.endsWith("_bytes") ? "bytes"
    : m.endsWith("_seconds_total") ? "ratio" : m.endsWith("_total") ? "per second" : "");
  const title = "JVM " + metric.replace(/^jvm_/, "").replaceAll("_", " ");
  return {
    id: metric, title, metrics: [metric], unit: unitOf(metric), rate: metric.endsWith("_total"),
    yMax: metric.endsWith("_percent") ? 100 : 0, label: (l) => rest(l, []) || "JVM",
  };
}

const ui = {
  view: $("host-view"),
  crumb: $("hv-crumb"),
  name: $("hv-name"),
  badge: $("hv-badge"),
  status: $("hv-status"),
  facts: $("hv-facts"),
  gauges: $("hv-gauges"),
  ranges: $("hv-ranges"),
  custom: $("hv-custom"),
  from: $("hv-from"),
  to: $("hv-to"),
  tail: $("hv-tail"),
  tz: $("hv-tz"),
  res: $("hv-res"),
  error: $("hv-error"),
  charts: $("hv-charts"),
  nodata: $("hv-nodata"),
};

// state of the page shown; null when another page is.
let page = null;

function localInput(ms) {
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function rangeOf(params) {
  const from = Number(params.get("from")), to = Number(params.get("to"));
  if (Number.isFinite(from) && Number.isFinite(to) && from > 0 && to > from) return { kind: "abs", from, to };
  const r = params.get("range");
  return { kind: "rel", name: RANGES[r] ? r : "1h" };
}

function window_(range) {
  if (range.kind === "abs") return [range.from, range.to];
  const now = Date.now();
  return [now - RANGES[range.name], now];
}

function hostHref(id, range) {
  const p = new URLSearchParams();
  if (range.kind === "abs") {
    p.set("from", String(Math.round(range.from)));
    p.set("to", String(Math.round(range.to)));
  } else if (range.name !== "1h") {
    p.set("range", range.name);
  }
  return `#/host/${encodeURIComponent(id)}${p.size ? "?" + p : ""}`;
}

function fact(dl, term, value) {
  if (value === undefined || value === null || value === "") return;
  const dt = el("dt", "", term);
  const dd = el("dd");
  if (value instanceof Node) dd.append(value);
  else dd.textContent = String(value);
  dl.append(dt, dd);
}

function renderHead(h) {
  const id = page.id;
  if (!h) {
    ui.name.textContent = id;
    ui.crumb.textContent = id;
    ui.badge.textContent = "unknown";
    ui.badge.className = "badge offline";
    ui.status.textContent = "";
    ui.facts.replaceChildren();
    setGauges(ui.gauges, null);
    if (model.loaded) {
      ui.facts.append(el("dd", "muted", "The core does not know this host. It may have been removed; go back to the overview."));
    }
    return;
  }
  const f = h.facts || {};
  const name = f.hostname || h.id;
  document.title = `${name} · esmon`;
  ui.name.textContent = name;
  ui.crumb.textContent = name;
  ui.badge.textContent = h.online ? "online" : "offline";
  ui.badge.className = `badge ${h.online ? "online" : "offline"}`;
  const status = h.online ? h.status || "ok" : "offline";
  ui.status.textContent = LABELS[status] || status;
  ui.status.dataset.status = status;
  ui.view.dataset.status = status;

  const dl = document.createDocumentFragment();
  const tmp = { append: (...n) => dl.append(...n) };
  fact(tmp, "Host id", h.id === name ? "" : h.id);
  fact(tmp, "System", [f.platform, f.platform_version].filter(Boolean).join(" ") || f.os);
  fact(tmp, "Kernel", f.kernel_version);
  fact(tmp, "Architecture", [f.os, f.arch].filter(Boolean).join("/"));
  fact(tmp, "CPU", [f.cpu_model, f.cores && `${f.cores} ${f.cores === 1 ? "core" : "cores"}`].filter(Boolean).join(", "));
  fact(tmp, "Memory", f.memory_bytes ? fmtBytes(f.memory_bytes) : "");
  const boot = parseTime(f.boot_time);
  if (boot) {
    const span = el("span");
    span.append(timeEl(boot, false), ` (up ${duration((Date.now() - boot) / 1000)})`);
    fact(tmp, "Booted", span);
  }
  fact(tmp, "Agent", h.agent_version);
  const seen = el("span");
  seen.append(timeEl(parseTime(h.last_seen), true));
  fact(tmp, "Last seen", seen);
  ui.facts.replaceChildren(dl);
  setGauges(ui.gauges, h.gauges);
}

function renderRangeControls() {
  const r = page.range;
  for (const b of ui.ranges.querySelectorAll("button")) {
    b.setAttribute("aria-pressed", String(r.kind === "rel" && b.dataset.range === r.name));
  }
  const [from, to] = window_(r);
  ui.from.value = localInput(from);
  ui.to.value = localInput(to);
  ui.custom.dataset.active = String(r.kind === "abs");
  if (r.kind === "rel") {
    ui.tail.dataset.state = "on";
    ui.tail.textContent = "Following live";
  } else {
    ui.tail.dataset.state = "off";
    ui.tail.textContent = "Custom range: not following live";
  }
}

// stepFor gives the query step (seconds) for a range drawn px pixels wide:
// about a point per pixel, rounded up to one of STEPS.
export function stepFor(from, to, px) {
  const want = (to - from) / 1000 / Math.max(100, Math.min(POINTS, px || POINTS));
  return STEPS.find((s) => s >= want) ?? Math.ceil(want / 86400) * 86400;
}

// plotWidth is the width in pixels a chart's plot gets: that of a chart
// already drawn, or before the first, a column of the chart grid (one
// column on narrow screens, two on wide ones) less the figure's padding
// and a value axis.
export function plotWidth() {
  for (const c of page?.charts.values() || []) return Math.max(100, c.chart.plotWidth());
  const col = parseFloat(getComputedStyle(ui.charts).gridTemplateColumns) || ui.charts.clientWidth || 800;
  return Math.max(100, Math.round(col - 18 - 80));
}

async function query(id, metric, from, to, step, agg, signal) {
  const p = new URLSearchParams({
    host: id, metric, from: new Date(from).toISOString(), to: new Date(to).toISOString(), step: `${step}s`, agg,
  });
  const res = await api("GET", `api/v1/query?${p}`, undefined, signal);
  return { tier: res?.tier || "", series: res?.series || [] };
}

// plan lists the queries of one chart: per metric, the average (or the
// core's rate for counters once the step is a rollup's), and for a
// single-series gauge at a coarse step its min and max for the band.
function plan(spec, metrics, step) {
  const coarse = step >= BAND_STEP;
  const out = [];
  for (const m of spec.metrics.filter((x) => metrics.has(x))) {
    if (spec.rate) out.push({ metric: m, agg: coarse ? "rate" : "avg", role: "line" });
    else out.push({ metric: m, agg: "avg", role: "line" });
  }
  if (coarse && !spec.rate && out.length === 1 && spec.band !== false) {
    out.push({ metric: out[0].metric, agg: "min", role: "min" }, { metric: out[0].metric, agg: "max", role: "max" });
  }
  return out;
}

function describeStep(step, tiers) {
  const each = step < 60 ? `${step} s` : step < 3600 ? `${step / 60} min` : step < 86400 ? `${step / 3600} h` : `${step / 86400} d`;
  const from = [...tiers].filter(Boolean).map((t) => TIERS[t] || t).join(" and ");
  return step <= 1 && (!from || tiers.has("raw") && tiers.size === 1)
    ? "Every sample, from raw samples."
    : `One point per ${each}${from ? `, from ${from}` : ""}.`;
}

function scaled(points, k) {
  return k ? points.map((p) => ({ t: p.t, v: p.v * k })) : points;
}

function medianDelta(points) {
  const d = [];
  for (let i = 1; i < points.length && d.length < 200; i++) d.push(points[i].t - points[i - 1].t);
  if (!d.length) return 0;
  d.sort((a, b) => a - b);
  return d[d.length >> 1];
}

// loadCharts asks the core for every chart's series over the range and
// draws them.
async function loadCharts() {
  const pg = page;
  if (pg.abort) pg.abort.abort();
  const ctrl = new AbortController();
  pg.abort = ctrl;
  const [from, to] = window_(pg.range);
  const step = stepFor(from, to, plotWidth());
  ui.error.textContent = "";
  ui.charts.setAttribute("aria-busy", "true");
  try {
    if (!pg.metrics) {
      const list = await api("GET", `api/v1/series?host=${encodeURIComponent(pg.id)}`, undefined, ctrl.signal);
      pg.metrics = new Set((list || []).map((s) => s.metric));
    }
    const specs = SPECS.filter((s) => s.metrics.some((m) => pg.metrics.has(m)));
    for (const m of [...pg.metrics].filter((m) => m.startsWith("jvm_") && !KNOWN.has(m)).sort()) specs.push(jvmSpec(m));
    ui.nodata.hidden = specs.length > 0;

    const plans = specs.map((spec) => plan(spec, pg.metrics, step));
    const answers = await Promise.all(plans.map((qs) => Promise.all(
      qs.map((q) => query(pg.id, q.metric, from, to, step, q.agg, ctrl.signal)),
    )));
    if (page !== pg || ctrl.signal.aborted) return;
    const seen = new Set();
    const tiers = new Set();
    specs.forEach((spec, i) => {
      const series = [];
      const band = {};
      answers[i].forEach((res, j) => {
        const q = plans[i][j];
        tiers.add(res.tier);
        for (const s of res.series) {
          const raw = s.points || [];
          const points = scaled(spec.rate && q.agg !== "rate" ? rate(raw) : raw, spec.scale);
          if (q.role !== "line") {
            band[q.role] = points;
            continue;
          }
          series.push({
            label: spec.label(s.labels || {}, s.metric),
            key: seriesKey(s.metric, s.labels),
            points,
            // The live tail turns counters into rates from the last raw
            // value; a rate answer has none, so the first event sets it.
            last: q.agg === "rate" || !raw.length ? null : raw[raw.length - 1],
          });
        }
      });
      series.sort((a, b) => collator.compare(a.label, b.label));
      if (series.length === 1 && band.min?.length && band.max?.length) {
        const key = series[0].key;
        series.push({ label: "min", key, points: band.min, band: true }, { label: "max", key, points: band.max, band: true });
      }
      drawChart(pg, spec, series, [from, to], step);
      seen.add(spec.id);
    });
    ui.res.textContent = specs.length ? describeStep(step, tiers) : "";
    ui.res.dataset.step = String(step);
    ui.res.dataset.tier = [...tiers].filter(Boolean).sort().join(",");
    for (const [id, c] of pg.charts) {
      if (!seen.has(id)) {
        c.chart.destroy();
        pg.charts.delete(id);
      }
    }
    pg.loadedAt = performance.now();
    ui.charts.dataset.loaded = String(++pg.loads);
  } catch (err) {
    if (err.name === "AbortError") return;
    ui.error.textContent = `Could not load the charts: ${err.message}`;
  } finally {
    if (page === pg && pg.abort === ctrl) ui.charts.removeAttribute("aria-busy");
  }
}

function drawChart(pg, spec, series, xRange, step) {
  const gap = Math.max(3 * step * 1000, 3 * medianDelta(series[0]?.points || []));
  const data = align(series, gap);
  let entry = pg.charts.get(spec.id);
  const labels = series.map((s) => s.label).join("\n");
  if (entry && entry.labels !== labels) {
    entry.chart.destroy();
    entry = null;
  }
  if (!entry) {
    const chart = new Chart(ui.charts, {
      id: spec.id,
      title: spec.title,
      unit: spec.unit,
      yMax: spec.yMax,
      series: series.map((s) => ({ label: s.label, band: s.band })),
      sync: "host",
      height: 220,
      onZoom: (a, b) => navigateRange({ kind: "abs", from: a, to: b }, true),
      onReset: () => {
        if (pg.prev) navigateRange(pg.prev, false);
      },
    });
    entry = { chart, labels };
    pg.charts.set(spec.id, entry);
  } else {
    ui.charts.append(entry.chart.fig); // keep page order
  }
  entry.spec = spec;
  entry.series = series;
  entry.chart.setData(data, xRange);
}

// tail appends the host's latest values to every chart.
function tail(h) {
  const pg = page;
  if (!pg || pg.range.kind !== "rel" || !h.latest) return;
  const t = parseTime(h.last_seen)?.getTime();
  if (!t) return;
  const xr = [t - RANGES[pg.range.name], t];
  for (const entry of pg.charts.values()) {
    const vals = entry.series.map((s) => {
      const v = h.latest[s.key];
      if (typeof v !== "number") return undefined;
      if (!entry.spec.rate) return v;
      const prev = s.last;
      s.last = { t, v };
      if (!prev || t <= prev.t || v < prev.v) return undefined;
      return ((v - prev.v) / ((t - prev.t) / 1000)) * (entry.spec.scale || 1);
    });
    entry.chart.append(t, vals, xr);
  }
  ui.charts.dataset.tail = String(t);
}

function navigateRange(range, remember) {
  if (!page) return;
  if (remember) page.prev = page.range;
  location.hash = hostHref(page.id, range);
}

export function initHost() {
  makeGauges(ui.gauges);
  ui.tz.textContent = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
  ui.ranges.addEventListener("click", (e) => {
    const b = e.target.closest("button[data-range]");
    if (b && page) navigateRange({ kind: "rel", name: b.dataset.range }, true);
  });
  ui.custom.addEventListener("submit", (e) => {
    e.preventDefault();
    const from = new Date(ui.from.value).getTime();
    const to = new Date(ui.to.value).getTime();
    if (!Number.isFinite(from) || !Number.isFinite(to) || to <= from) {
      ui.error.textContent = "Pick a start before the end.";
      (Number.isFinite(from) ? ui.to : ui.from).focus();
      return;
    }
    navigateRange({ kind: "abs", from, to }, true);
  });
  subscribe((ev) => {
    if (!page) return;
    if (ev.type === "host" && ev.host.id === page.id) {
      renderHead(ev.host);
      tail(ev.host);
    } else if (ev.type === "snapshot") {
      renderHead(model.hosts.get(page.id));
      // Back from a lost connection: fill the tail's gap from the store.
      if (page.loads > 0 && page.range.kind === "rel") loadCharts();
    }
  });
}

// showHost is the router's entry for #/host/<id>?range=…|from=…&to=….
export function showHost(id, params) {
  const range = rangeOf(params);
  if (page && page.id !== id) hideHost();
  if (!page) {
    page = { id, range, charts: new Map(), metrics: null, loads: 0, prev: null };
    watch(id); // host events of this host bring its latest values for the tail
    ui.charts.replaceChildren();
    ui.charts.dataset.loaded = "0";
  }
  const same = page.range.kind === range.kind && page.range.name === range.name &&
    page.range.from === range.from && page.range.to === range.to;
  page.range = range;
  renderHead(model.hosts.get(id));
  renderRangeControls();
  if (!same || page.loads === 0) loadCharts();
}

export function hideHost() {
  if (!page) return;
  if (page.abort) page.abort.abort();
  for (const c of page.charts.values()) c.chart.destroy();
  page = null;
  watch();
  ui.charts.replaceChildren();
}

// redrawCharts rebuilds the charts, e.g. after the theme changed.
export function redrawCharts() {
  if (!page) return;
  for (const c of page.charts.values()) c.chart.destroy();
  page.charts.clear();
  loadCharts();
}

