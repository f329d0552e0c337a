// Small SVG charts for the dashboard: stacked bars and lines over time buckets, drawn with plain
// DOM calls (no library, no network). Each chart records what it drew in data attributes
// (data-points, data-total, data-marks) so tests and curious users can check it.

const NS = "http://www.w3.org/2000/svg";
const PAD = { left: 46, right: 10, top: 10, bottom: 22 };

function el(name, attrs, parent) {
  const node = document.createElementNS(NS, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (parent) parent.appendChild(node);
  return node;
}

/** 0, 1, 2, 5 × 10^k steps so the axis has about four readable ticks. */
export function niceTicks(max, count = 4) {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const ticks = [];
  for (let v = 0; v <= max + step * 0.999; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function bucketLabel(ms, tier) {
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, "0");
  if (tier === "day") return `${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/**
 * Draws one chart.
 * spec: { buckets: number[] (ms), tier, series: [{ name, color, kind: "bar"|"line", values: (number|null)[] }],
 *         format: (v) => string, max?: number }
 * Bar series stack on each other; line series are drawn over them and break at nulls.
 */
export function drawChart(svg, spec) {
  svg.replaceChildren();
  // Draw in the element's own pixel size so text is never stretched.
  const WIDTH = Math.max(240, Math.round(svg.clientWidth || 640));
  const HEIGHT = Math.max(120, Math.round(svg.clientHeight || 200));
  svg.setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);
  const n = spec.buckets.length;
  const bars = spec.series.filter((s) => s.kind === "bar");
  const lines = spec.series.filter((s) => s.kind === "line");
  const stackTop = spec.buckets.map((_, i) => bars.reduce((sum, s) => sum + (s.values[i] ?? 0), 0));
  const lineMax = Math.max(0, ...lines.flatMap((s) => s.values.filter((v) => v !== null)));
  const dataMax = Math.max(0, ...stackTop, lineMax);
  const ticks = niceTicks(spec.max ?? dataMax);
  const top = ticks[ticks.length - 1] || 1;
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const x = (i) => PAD.left + (n === 0 ? 0 : (i + 0.5) * (plotW / n));
  const y = (v) => PAD.top + plotH - (v / top) * plotH;

  for (const t of ticks) {
    el("line", { class: "grid", x1: PAD.left, x2: WIDTH - PAD.right, y1: y(t), y2: y(t) }, svg);
    const label = el("text", { x: PAD.left - 4, y: y(t) + 3, "text-anchor": "end" }, svg);
    label.textContent = spec.format(t);
  }
  el("line", { class: "axis", x1: PAD.left, x2: WIDTH - PAD.right, y1: y(0), y2: y(0) }, svg);
  const every = Math.max(1, Math.ceil(n / 8));
  for (let i = 0; i < n; i += every) {
    const label = el("text", { x: x(i), y: HEIGHT - 6, "text-anchor": "middle" }, svg);
    label.textContent = bucketLabel(spec.buckets[i], spec.tier);
  }

  let marks = 0;
  let total = 0;
  const barW = Math.max(1, (plotW / Math.max(n, 1)) * 0.8);
  for (let i = 0; i < n; i++) {
    let base = 0;
    for (const s of bars) {
      const v = s.values[i] ?? 0;
      total += v;
      if (v <= 0) continue;
      const rect = el(
        "rect",
        {
          x: x(i) - barW / 2,
          y: y(base + v),
          width: barW,
          height: y(base) - y(base + v),
          fill: s.color,
          "data-series": s.name,
        },
        svg,
      );
      el("title", {}, rect).textContent = `${bucketLabel(spec.buckets[i], spec.tier)} ${s.name}: ${spec.format(v)}`;
      base += v;
      marks += 1;
    }
  }
  for (const s of lines) {
    let d = "";
    let pen = false;
    s.values.forEach((v, i) => {
      if (v === null || v === undefined) {
        pen = false;
        return;
      }
      total += v;
      d += `${pen ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
      marks += 1;
      const dot = el("circle", { cx: x(i), cy: y(v), r: 1.8, fill: s.color, "data-series": s.name }, svg);
      el("title", {}, dot).textContent = `${bucketLabel(spec.buckets[i], spec.tier)} ${s.name}: ${spec.format(v)}`;
    });
    if (d !== "") el("path", { class: "line", d, stroke: s.color, "data-series": s.name }, svg);
  }
  if (marks === 0) {
    const empty = el("text", { class: "empty", x: WIDTH / 2, y: HEIGHT / 2, "text-anchor": "middle" }, svg);
    empty.textContent = "no data in this window yet";
  }
  svg.dataset.points = String(n);
  svg.dataset.marks = String(marks);
  svg.dataset.total = String(Math.round(total * 1000) / 1000);
}

export function drawLegend(container, series) {
  container.replaceChildren();
  for (const s of series) {
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = s.color;
    item.append(swatch, s.name);
    container.append(item);
  }
}
