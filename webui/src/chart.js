// Charts: a thin layer over uPlot (fast on canvas, about 50 KB, no
// dependencies). It turns the core's query answers into uPlot's aligned
// columns, marks gaps where a series stopped reporting, draws a crosshair
// with the values under it, zooms by drag and follows the page's theme.
import uPlot from "uplot";
import { el, fmtValue, fullTime } from "./util.js";

// palette reads the theme's chart colours from CSS custom properties, so
// the canvas follows the light and dark themes. The properties hold
// light-dark() pairs, which only a property of an element resolves: a
// hidden probe takes each one as its colour and gives back rgb().
let probe;
export function palette() {
  if (!probe) {
    probe = document.createElement("span");
    probe.hidden = true;
    document.body.append(probe);
  }
  const cs = getComputedStyle(probe);
  const v = (n) => {
    probe.style.color = `var(${n})`;
    return cs.color;
  };
  const series = [];
  for (let i = 1; i <= 8; i++) series.push(v(`--chart-${i}`) || "#1d4ed8");
  return {
    series,
    grid: v("--chart-grid") || "#d9dee6",
    axis: v("--muted") || "#556070",
    threshold: v("--critical") || "#dc2626",
    fire: v("--chart-fire") || "rgba(220,38,38,0.15)",
    band: v("--chart-band") || "rgba(29,78,216,0.35)",
    bandFill: v("--chart-band-fill") || "rgba(29,78,216,0.12)",
  };
}

// align joins series (each {points: [{t, v}]} with t in ms) into uPlot's
// columns: x in seconds (a Float64Array), then one y column per series. A point a series
// lacks at a shared time is undefined (the line goes on across it); where
// a series went silent for longer than gapMs, a null breaks its line.
export function align(list, gapMs) {
  const n = list.length;
  if (n === 0) return [[]];
  // Fast path: every series has the same times (one agent's batches).
  const first = list[0].points;
  let same = true;
  for (let s = 1; same && s < n; s++) {
    const p = list[s].points;
    if (p.length !== first.length) same = false;
    else for (let i = 0; i < p.length; i += 97) if (p[i].t !== first[i].t) { same = false; break; }
    if (same && p.length && p[p.length - 1].t !== first[first.length - 1].t) same = false;
  }
  let xsMs;
  if (same) {
    xsMs = first.map((p) => p.t);
  } else {
    const set = new Set();
    for (const s of list) for (const p of s.points) set.add(p.t);
    xsMs = Float64Array.from(set).sort();
  }
  // Gap markers: a time just after the last point before a silence.
  const gaps = [];
  if (gapMs > 0) {
    for (let s = 0; s < n; s++) {
      const p = list[s].points;
      for (let i = 1; i < p.length; i++) if (p[i].t - p[i - 1].t > gapMs) gaps.push([p[i - 1].t + 1, s]);
    }
  }
  if (gaps.length) {
    const set = new Set(xsMs);
    for (const [t] of gaps) set.add(t);
    xsMs = Float64Array.from(set).sort();
  }
  const len = xsMs.length;
  // Columns are Float64Arrays where no value can be missing: one block of
  // memory per column instead of a boxed number per point, which halves
  // the time to build 86,400 points and what the collector must walk.
  const xs = new Float64Array(len);
  const index = same && !gaps.length ? null : new Map();
  for (let i = 0; i < len; i++) {
    xs[i] = xsMs[i] / 1000;
    if (index) index.set(xsMs[i], i);
  }
  const out = [xs];
  for (let s = 0; s < n; s++) {
    const ys = index ? new Array(len) : new Float64Array(len);
    const p = list[s].points;
    if (!index) {
      for (let i = 0; i < len; i++) ys[i] = p[i].v;
    } else {
      for (const q of p) ys[index.get(q.t)] = q.v;
    }
    out.push(ys);
  }
  for (const [t, s] of gaps) out[s + 1][index.get(t)] = null;
  return out;
}

// rate turns counter points into per-second rates; a counter that went
// down (a restart) gives no point there.
export function rate(points) {
  const out = [];
  for (let i = 1; i < points.length; i++) {
    const dt = (points[i].t - points[i - 1].t) / 1000;
    const dv = points[i].v - points[i - 1].v;
    if (dt > 0 && dv >= 0) out.push({ t: points[i].t, v: dv / dt });
  }
  return out;
}

function axisValues(unit) {
  return (_u, ticks) => ticks.map((v) => fmtValue(v, unit));
}

// Chart is one titled chart in a <figure>. opts: title, unit, series
// ([{label}]), height, sync (a key shared by charts whose crosshairs move
// together), onZoom(fromMs, toMs), onReset(), threshold (a number drawn as
// a line), bands ([[fromMs, toMs]] shaded, e.g. where a rule would fire),
// yMax (100 for percentages). A series with band: true and the label
// "min" or "max" is an edge of the shaded min–max band.
export class Chart {
  constructor(container, opts) {
    this.opts = opts;
    this.fig = el("figure", "chart");
    if (opts.id) this.fig.dataset.chart = opts.id;
    const cap = el("figcaption", "chart-title", opts.title);
    this.fig.append(cap);
    this.box = el("div", "chart-box");
    this.fig.append(this.box);
    this.summary = el("p", "sr-only");
    this.fig.append(this.summary);
    container.append(this.fig);
    this.data = [[]];
    this.build();
    this.resize = new ResizeObserver(() => this.fit());
    this.resize.observe(this.box);
  }

  build() {
    const o = this.opts;
    const pal = palette();
    this.pal = pal;
    const unit = o.unit;
    const series = [
      { value: (_u, v) => (v == null ? "–" : fullTime(new Date(v * 1000))) },
      ...o.series.map((s, i) => ({
        label: s.label,
        // A band edge (min or max of each step) is drawn faint in the
        // colour of the line it surrounds, the first series.
        stroke: s.band ? pal.band : pal.series[i % pal.series.length],
        width: s.band ? 1 : 1.5,
        value: (_u, v) => fmtValue(v, unit),
        points: { show: false },
      })),
    ];
    // uPlot fills between a band's upper and lower series (indices count
    // the time column as 0).
    const lo = o.series.findIndex((s) => s.band && s.label === "min");
    const hi = o.series.findIndex((s) => s.band && s.label === "max");
    const bands = lo >= 0 && hi >= 0 ? [{ series: [hi + 1, lo + 1], fill: pal.bandFill }] : undefined;
    const axis = {
      stroke: pal.axis,
      grid: { stroke: pal.grid, width: 1 },
      ticks: { stroke: pal.grid, width: 1 },
      font: "12px system-ui, sans-serif",
    };
    const self = this;
    const uopts = {
      width: Math.max(200, this.box.clientWidth || 600),
      height: o.height || 200,
      series,
      bands,
      scales: {
        x: { time: true },
        y: o.yMax ? { range: (_u, min, max) => [0, Math.max(o.yMax, max || 0)] } : {
          range: (_u, min, max) => {
            if (min == null) return [0, 1];
            const lo = Math.min(0, min);
            const hi = max > lo ? max + (max - lo) * 0.05 : lo + 1;
            return [lo, hi];
          },
        },
      },
      axes: [
        { ...axis },
        {
          ...axis,
          values: axisValues(unit),
          // Wide enough for the longest label ("1,023 MiB/s").
          size: (_u, values) => 16 + 7 * Math.max(3, ...(values || []).map((v) => String(v).length)),
        },
      ],
      legend: { live: true },
      cursor: {
        y: false, // charts share the time axis only, so no horizontal line
        sync: o.sync ? { key: o.sync, setSeries: false } : undefined,
        drag: { x: true, y: false, setScale: false },
        focus: { prox: 16 },
      },
      focus: { alpha: 0.4 },
      hooks: {
        setSelect: [(u) => {
          const sel = u.select;
          if (sel.width > 4 && self.opts.onZoom) {
            const a = u.posToVal(sel.left, "x") * 1000;
            const b = u.posToVal(sel.left + sel.width, "x") * 1000;
            u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
            self.opts.onZoom(Math.round(a), Math.round(b));
          }
        }],
        draw: [(u) => self.drawExtras(u)],
        ready: [(u) => {
          u.over.addEventListener("dblclick", () => self.opts.onReset && self.opts.onReset());
          // Without the pointer on the chart, the legend shows the latest values.
          u.over.addEventListener("mouseleave", () => setTimeout(() => self.showLatest()));
        }],
      },
    };
    this.u = new uPlot(uopts, this.data, this.box);
  }

  drawExtras(u) {
    const o = this.opts;
    const ctx = u.ctx;
    const { left, top, width, height } = u.bbox;
    if (o.bands && o.bands.length) {
      ctx.save();
      ctx.fillStyle = this.pal.fire;
      for (const [a, b] of o.bands) {
        const x0 = Math.max(left, u.valToPos(a / 1000, "x", true));
        const x1 = Math.min(left + width, u.valToPos(b / 1000, "x", true));
        if (x1 > x0) ctx.fillRect(x0, top, Math.max(1, x1 - x0), height);
      }
      ctx.restore();
    }
    if (typeof o.threshold === "number" && Number.isFinite(o.threshold)) {
      const y = u.valToPos(o.threshold, "y", true);
      if (y >= top && y <= top + height) {
        ctx.save();
        ctx.strokeStyle = this.pal.threshold;
        ctx.setLineDash([6, 4]);
        ctx.lineWidth = 1.5 * devicePixelRatio;
        ctx.beginPath();
        ctx.moveTo(left, y);
        ctx.lineTo(left + width, y);
        ctx.stroke();
        ctx.restore();
      }
    }
  }

  fit() {
    const w = this.box.clientWidth;
    if (w > 0 && Math.abs(w - this.u.width) > 1) this.u.setSize({ width: w, height: this.u.height });
  }

  // setData replaces the data; xRange ([fromMs, toMs]) fixes the x scale.
  setData(data, xRange) {
    this.data = data;
    this.xRange = xRange;
    this.u.setData(data, !xRange);
    if (xRange) this.u.setScale("x", { min: xRange[0] / 1000, max: xRange[1] / 1000 });
    // uPlot redraws in a microtask; set the legend after it.
    Promise.resolve().then(() => this.showLatest());
    this.describe();
  }

  // append adds one point per series at tMs (values in series order) and
  // drops points before fromMs; with xRange the x scale follows.
  append(tMs, values, xRange) {
    // The live tail grows the columns, which typed arrays cannot: turn
    // them into plain arrays on the first append.
    if (!Array.isArray(this.data[0])) this.data = this.data.map((c) => Array.from(c));
    const d = this.data;
    const t = tMs / 1000;
    const xs = d[0];
    if (xs.length && t <= xs[xs.length - 1]) return;
    xs.push(t);
    for (let s = 1; s < d.length; s++) d[s].push(values[s - 1]);
    const from = xRange[0] / 1000;
    let cut = 0;
    while (cut < xs.length && xs[cut] < from) cut++;
    if (cut) for (const col of d) col.splice(0, cut);
    this.xRange = xRange;
    this.u.setData(d, false);
    this.u.setScale("x", { min: from, max: xRange[1] / 1000 });
    this.showLatest();
  }

  // showLatest puts the last point's values in the legend unless the
  // pointer is on the chart.
  showLatest() {
    const u = this.u;
    if (u.cursor.left >= 0) return;
    const n = this.data[0].length;
    if (n && u.data) u.setLegend({ idx: n - 1 });
  }

  // describe gives screen readers the latest value of each series.
  describe() {
    const d = this.data;
    const parts = this.opts.series.map((s, i) => {
      const ys = d[i + 1] || [];
      let v;
      for (let j = ys.length - 1; j >= 0; j--) if (ys[j] != null) { v = ys[j]; break; }
      return `${s.label} ${fmtValue(v, this.opts.unit)}`;
    });
    this.summary.textContent = `${this.opts.title}, latest: ${parts.join("; ")}`;
  }

  // plotWidth is the width of the plotting area in CSS pixels, which
  // decides how many points are worth asking for.
  plotWidth() {
    return this.u.over.clientWidth;
  }

  points() {
    return this.data[0].length;
  }

  destroy() {
    this.resize.disconnect();
    this.u.destroy();
    this.fig.remove();
  }
}

export { uPlot };
