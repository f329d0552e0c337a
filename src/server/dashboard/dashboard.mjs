// The dashboard: meter series as charts (count, failure rate, p50/p95 duration per minute, hour or
// day, with an index filter), counters and trackers as tables, refreshed every few seconds. It
// reads only the server's own JSON API.

import { drawChart, drawLegend } from "./charts.mjs";

const REFRESH_MS = 5000;
const TIER_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };
const TIER_SPAN = { minute: 60, hour: 24, day: 30 };
const COLORS = {
  success: "#16a34a",
  failure: "#dc2626",
  skipped: "#9ca3af",
  rate: "#dc2626",
  p50: "#2563eb",
  p95: "#f59e0b",
};

const state = { reports: [], report: null, tier: "minute", filter: "", timer: null, loading: false };
const $ = (id) => document.getElementById(id);
const intFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const fmt = (v, digits = 0) =>
  v === null || v === undefined ? "–" : new Intl.NumberFormat("en-US", { maximumFractionDigits: digits }).format(v);

async function api(path) {
  const response = await fetch(path, { headers: { accept: "application/json" } });
  const body = await response.json();
  if (!response.ok) throw new Error(body?.error?.message ?? `${response.status} ${response.statusText}`);
  return body;
}

function windowFor(tier) {
  const size = TIER_MS[tier];
  const to = Math.floor(Date.now() / size) * size + size;
  return { from: to - TIER_SPAN[tier] * size, to };
}

function byParams(filter) {
  if (filter === "") return "";
  const by = JSON.parse(filter);
  return Object.entries(by)
    .map(([k, v]) => `&by.${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join("");
}

async function loadReports() {
  const data = await api("/api/meter/reports");
  $("namespace").textContent = `namespace ${data.namespace}`;
  state.reports = data.reports;
  const select = $("report-select");
  const current = select.value;
  select.replaceChildren(...data.reports.map((r) => new Option(`${r.name} v${r.version}`, `${r.name}@${r.version}`)));
  if (data.reports.some((r) => `${r.name}@${r.version}` === current)) select.value = current;
  state.report = data.reports.find((r) => `${r.name}@${r.version}` === select.value) ?? data.reports[0] ?? null;
  const pending = data.reports.map((r) => `${r.name}: ${intFormat.format(r.pending)} pending`).join(" · ");
  const processed = data.lastProcessedAt ? `last processed ${new Date(data.lastProcessedAt).toLocaleTimeString()}` : "";
  $("pending").textContent = [pending, processed].filter(Boolean).join(" — ");
}

/** Filter options: every value set of every index seen in the window (top 20 by count). */
async function loadFilterOptions(report, window) {
  const select = $("index-filter");
  const options = [new Option("all events", "")];
  for (const index of report.indexes) {
    if (index.length === 0) continue;
    const url = `/api/meter/${encodeURIComponent(report.name)}/breakdown?version=${report.version}&by=${index.join(",")}&from=${window.from}&to=${window.to}&limit=20`;
    const breakdown = await api(url);
    for (const row of breakdown.rows) {
      const label = index.map((p) => `${p} = ${row.values[p]}`).join(", ");
      options.push(new Option(`${label} (${intFormat.format(row.summary.count)})`, JSON.stringify(row.values)));
    }
  }
  const keep = state.filter;
  select.replaceChildren(...options);
  select.value = options.some((o) => o.value === keep) ? keep : "";
  state.filter = select.value;
}

function tile(label, value) {
  const box = document.createElement("div");
  box.className = "tile";
  const l = document.createElement("div");
  l.className = "label";
  l.textContent = label;
  const v = document.createElement("div");
  v.className = "value";
  v.textContent = value;
  box.append(l, v);
  return box;
}

async function loadMeter() {
  const report = state.report;
  document.querySelectorAll(".tier-name").forEach((n) => {
    n.textContent = state.tier;
  });
  if (report === null) {
    $("meter-empty").hidden = false;
    $("meter-empty").textContent =
      "No meter reports configured. Run `tally serve --demo`, or list reports in tally.config.json.";
    return;
  }
  $("meter-empty").hidden = true;
  const window = windowFor(state.tier);
  await loadFilterOptions(report, window);
  const base = `/api/meter/${encodeURIComponent(report.name)}`;
  const query = `version=${report.version}&from=${window.from}&to=${window.to}${byParams(state.filter)}`;
  const [points, summary] = await Promise.all([
    api(`${base}/series?${query}&every=${state.tier}`),
    api(`${base}/summary?${query}`),
  ]);
  const buckets = points.map((p) => Date.parse(p.bucket));
  const countSeries = [
    { name: "success", color: COLORS.success, kind: "bar", values: points.map((p) => p.successCount) },
    { name: "failure", color: COLORS.failure, kind: "bar", values: points.map((p) => p.failureCount) },
    { name: "skipped", color: COLORS.skipped, kind: "bar", values: points.map((p) => p.skippedCount) },
  ];
  drawChart($("chart-count"), { buckets, tier: state.tier, series: countSeries, format: (v) => fmt(v) });
  drawLegend($("legend-count"), countSeries);
  const rateSeries = [
    {
      name: "failure rate",
      color: COLORS.rate,
      kind: "line",
      values: points.map((p) => (p.count > 0 ? (100 * p.failureCount) / p.count : null)),
    },
  ];
  drawChart($("chart-failure"), { buckets, tier: state.tier, series: rateSeries, format: (v) => `${fmt(v, 1)}%` });
  drawLegend($("legend-failure"), rateSeries);
  const durationSeries = [
    { name: "p50", color: COLORS.p50, kind: "line", values: points.map((p) => p.durationMsP50) },
    { name: "p95", color: COLORS.p95, kind: "line", values: points.map((p) => p.durationMsP95) },
  ];
  drawChart($("chart-duration"), { buckets, tier: state.tier, series: durationSeries, format: (v) => fmt(v) });
  drawLegend($("legend-duration"), durationSeries);

  const failureRate = summary.count > 0 ? `${fmt((100 * summary.failureCount) / summary.count, 1)}%` : "–";
  $("tiles").replaceChildren(
    tile("events", fmt(summary.count)),
    tile("failures", fmt(summary.failureCount)),
    tile("failure rate", failureRate),
    tile("p50 duration", summary.durationMsP50 === null ? "–" : `${fmt(summary.durationMsP50)} ms`),
    tile("p95 duration", summary.durationMsP95 === null ? "–" : `${fmt(summary.durationMsP95)} ms`),
    tile("per minute", fmt(summary.perMinute, 1)),
  );
  $("tiles").dataset.count = String(summary.count);
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.append(td);
  return td;
}

async function loadCounters() {
  const body = $("counters-table").querySelector("tbody");
  let data;
  try {
    data = await api("/api/counters");
  } catch {
    body.replaceChildren();
    return;
  }
  body.replaceChildren(
    ...data.counters.map((c) => {
      const tr = document.createElement("tr");
      cell(tr, c.id);
      for (const v of [c.lastMinute, c.lastHour, c.lastDay, c.lastWeek, c.ever]) cell(tr, fmt(v), "num");
      cell(tr, c.lastSeenAt ? new Date(c.lastSeenAt).toLocaleTimeString() : "–");
      return tr;
    }),
  );
  if (data.counters.length === 0) {
    const tr = document.createElement("tr");
    cell(tr, "no counters yet").colSpan = 7;
    body.append(tr);
  }
}

async function loadTrackers() {
  const container = $("tracker-groups");
  let data;
  try {
    data = await api("/api/trackers");
  } catch {
    container.replaceChildren();
    return;
  }
  const blocks = [];
  for (const group of data.groups) {
    const title = document.createElement("h3");
    title.textContent = `group ${group.groupId}`;
    const table = document.createElement("table");
    table.className = "tracker-table";
    const head = document.createElement("tr");
    for (const h of ["name", "type", "progress", "", "stage", "status"]) {
      const th = document.createElement("th");
      th.textContent = h;
      head.append(th);
    }
    table.append(head);
    for (const t of group.trackers) {
      const tr = document.createElement("tr");
      cell(tr, t.name);
      cell(tr, t.type);
      cell(tr, `${fmt(t.progress)} / ${fmt(t.target)}`, "num");
      const barCell = cell(tr, "");
      const bar = document.createElement("div");
      bar.className = "bar";
      const fill = document.createElement("span");
      fill.style.width = `${Math.min(100, t.target > 0 ? (100 * t.progress) / t.target : 100)}%`;
      bar.append(fill);
      barCell.append(bar);
      cell(tr, String(t.currentStage), "num");
      cell(
        tr,
        t.completed ? "completed" : t.limited ? "limited" : "active",
        t.completed ? "done" : t.limited ? "limited" : "",
      );
      table.append(tr);
    }
    blocks.push(title, table);
  }
  if (blocks.length === 0) {
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = "no tracker groups yet";
    blocks.push(p);
  }
  container.replaceChildren(...blocks);
}

async function refresh() {
  if (state.loading) return;
  state.loading = true;
  const status = $("status");
  try {
    await loadReports();
    await Promise.all([loadMeter(), loadCounters(), loadTrackers()]);
    status.textContent = `updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.loaded = String(Number(document.body.dataset.loaded ?? 0) + 1);
  } catch (error) {
    status.textContent = `error: ${error.message}`;
  } finally {
    state.loading = false;
  }
}

function schedule() {
  clearTimeout(state.timer);
  if ($("auto-refresh").checked) {
    state.timer = setTimeout(async () => {
      await refresh();
      schedule();
    }, REFRESH_MS);
  }
}

$("report-select").addEventListener("change", () => {
  state.filter = "";
  refresh();
});
$("index-filter").addEventListener("change", (event) => {
  state.filter = event.target.value;
  refresh();
});
for (const button of document.querySelectorAll(".tiers button")) {
  button.addEventListener("click", () => {
    state.tier = button.dataset.tier;
    for (const b of document.querySelectorAll(".tiers button")) b.classList.toggle("active", b === button);
    refresh();
  });
}
$("auto-refresh").addEventListener("change", schedule);

refresh().then(schedule);
