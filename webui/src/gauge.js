// The semicircle gauges of host cards and the host page.
import { el, svg } from "./util.js";

// Semicircle of radius 40 from (10,50) to (90,50); pathLength makes the
// dash lengths percentages.
const ARC = "M10 50 A40 40 0 0 1 90 50";

export const GAUGES = [
  ["cpu", "CPU"],
  ["memory", "Memory"],
  ["disk", "Disk"],
];

export function makeGauge(key, label) {
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

export function setGauge(fig, v) {
  const ok = typeof v === "number" && Number.isFinite(v);
  const pct = ok ? Math.min(100, Math.max(0, v)) : 0;
  const bar = fig.querySelector(".bar");
  const dash = `${pct.toFixed(2)} 100`;
  if (bar.getAttribute("stroke-dasharray") !== dash) bar.setAttribute("stroke-dasharray", dash);
  bar.setAttribute("visibility", pct > 0.5 ? "visible" : "hidden");
  const text = ok ? String(Math.round(v)) : "–";
  const value = fig.querySelector(".value");
  if (value.textContent !== text) value.textContent = text;
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

export function makeGauges(container) {
  for (const [key, label] of GAUGES) container.append(makeGauge(key, label));
}

export function setGauges(container, g) {
  g = g || {};
  for (const [key] of GAUGES) setGauge(container.querySelector(`[data-gauge="${key}"]`), g[key]);
}
