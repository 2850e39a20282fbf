// The status page: polls /api/status (and /cluster, for the cluster section: cluster.js), fills
// the datasets table and draws the live charts.
// Rates (rows/s, MB/s, QPS) and latency quantiles (p50, p99, from the server's histogram
// buckets, as Prometheus' histogram_quantile does) are computed from successive polls.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { renderCluster } from "./cluster.js";

const params = new URLSearchParams(window.location.search);
const intervalMs = Math.max(200, Number(params.get("interval")) || 1000);
const windowPoints = 300; // points kept per chart (5 minutes at the default interval)

const numberFormat = new Intl.NumberFormat("en-US");

function formatCount(n) {
  return numberFormat.format(n);
}

function formatBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

function formatTime(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString("en-GB");
}

// The q-quantile (seconds) of the observations between two snapshots of a histogram, by
// linear interpolation inside the bucket it falls in; null when nothing was observed.
export function quantile(previous, current, q) {
  if (!previous || !current) return null;
  const counts = current.cumulative_counts.map((c, i) => c - (previous.cumulative_counts[i] || 0));
  const total = counts[counts.length - 1];
  if (!(total > 0)) return null;
  const rank = q * total;
  for (let i = 0; i < counts.length; i += 1) {
    if (counts[i] >= rank) {
      const lower = i === 0 ? 0 : current.upper_bounds_seconds[i - 1];
      const upper = current.upper_bounds_seconds[i];
      if (upper === null) return lower; // +Inf bucket: the highest finite bound
      const below = i === 0 ? 0 : counts[i - 1];
      const inBucket = counts[i] - below;
      return inBucket > 0 ? lower + ((upper - lower) * (rank - below)) / inBucket : upper;
    }
  }
  return null;
}

function rate(previous, current, pick, dt) {
  if (!previous || !(dt > 0)) return null;
  const a = pick(previous);
  const b = pick(current);
  if (a === null || a === undefined || b === null || b === undefined) return null;
  return Math.max(0, (b - a) / dt);
}

function ms(seconds) {
  return seconds === null ? null : seconds * 1000;
}

const chartSpecs = [
  {
    id: "ingest",
    title: "Ingest",
    series: [
      { label: "rows/s", scale: "rows", stroke: "#2563eb" },
      { label: "MB/s", scale: "mb", stroke: "#16a34a" },
    ],
    axes: [{ scale: "rows", label: "rows/s" }, { scale: "mb", label: "MB/s", side: 1 }],
  },
  {
    id: "search",
    title: "Search",
    series: [
      { label: "QPS", scale: "qps", stroke: "#7c3aed" },
      { label: "p50 ms", scale: "ms", stroke: "#ea580c" },
      { label: "p99 ms", scale: "ms", stroke: "#dc2626" },
    ],
    axes: [{ scale: "qps", label: "queries/s" }, { scale: "ms", label: "ms", side: 1 }],
  },
  {
    id: "wal",
    title: "WAL fsync",
    series: [
      { label: "fsyncs/s", scale: "rate", stroke: "#0891b2" },
      { label: "p50 ms", scale: "ms", stroke: "#ea580c" },
      { label: "p99 ms", scale: "ms", stroke: "#dc2626" },
    ],
    axes: [{ scale: "rate", label: "fsyncs/s" }, { scale: "ms", label: "ms", side: 1 }],
  },
  {
    id: "memory",
    title: "Memory",
    series: [
      { label: "used MiB", scale: "mib", stroke: "#2563eb" },
      { label: "--max-memory MiB", scale: "mib", stroke: "#dc2626", dash: [6, 4] },
      { label: "RSS MiB", scale: "mib", stroke: "#64748b" },
    ],
    axes: [{ scale: "mib", label: "MiB" }],
  },
];

const charts = {};
const chartData = {};

function createCharts() {
  const container = document.getElementById("charts");
  for (const spec of chartSpecs) {
    const box = document.createElement("div");
    box.className = "chart";
    box.id = `chart-${spec.id}`;
    const title = document.createElement("h2");
    title.textContent = spec.title;
    box.appendChild(title);
    container.appendChild(box);
    const width = Math.max(300, Math.floor(box.clientWidth || 560) - 8);
    const data = [[], ...spec.series.map(() => [])];
    chartData[spec.id] = data;
    const scales = { x: { time: true } };
    for (const s of spec.series) scales[s.scale] = { auto: true, range: (u, min, max) => [0, Math.max(max, 1e-9) * 1.1] };
    charts[spec.id] = new uPlot(
      {
        width,
        height: 220,
        scales,
        series: [
          { value: (u, v) => (v === null ? "" : formatTime(v)) },
          ...spec.series.map((s) => ({
            label: s.label,
            scale: s.scale,
            stroke: s.stroke,
            width: 1.5,
            dash: s.dash,
            spanGaps: false,
            value: (u, v) => (v === null || v === undefined ? "–" : v.toFixed(v < 10 ? 2 : 0)),
          })),
        ],
        axes: [
          {},
          ...spec.axes.map((a) => ({ scale: a.scale, label: a.label, side: a.side === 1 ? 1 : 3, grid: { show: a.side !== 1 } })),
        ],
      },
      data,
      box,
    );
  }
}

function pushPoint(id, t, values) {
  const data = chartData[id];
  data[0].push(t);
  values.forEach((v, i) => data[i + 1].push(v === undefined ? null : v));
  if (data[0].length > windowPoints) for (const column of data) column.shift();
  charts[id].setData(data);
}

function cell(row, field, text, className) {
  const td = document.createElement("td");
  td.dataset.field = field;
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function renderDatasets(datasets) {
  const body = document.querySelector("#datasets tbody");
  const rows = [];
  for (const d of datasets) {
    const tr = document.createElement("tr");
    tr.dataset.dataset = d.name;
    cell(tr, "name", d.name);
    cell(tr, "rows", formatCount(d.rows), "num");
    cell(tr, "deleted_rows", formatCount(d.deleted_rows), "num");
    cell(tr, "dim", String(d.dim), "num");
    cell(tr, "metric", d.metric);
    cell(tr, "vector_type", d.vector_type === d.build_precision ? d.vector_type : `${d.vector_type} (index ${d.build_precision})`);
    cell(tr, "memory", formatBytes(d.memory_bytes), "num").title = `data ${formatBytes(d.bytes)}, index ${formatBytes(d.index_bytes)}`;
    cell(tr, "index", d.index_ready ? "READY" : `lag ${formatCount(d.index_lag_rows)} rows`, d.index_ready ? "ready" : "lag");
    const s = d.last_snapshot;
    cell(tr, "last_snapshot", s ? `LSN ${s.lsn}: ${formatCount(s.rows)} rows, ${formatBytes(s.bytes)}` : "none");
    rows.push(tr);
  }
  if (rows.length === 0) {
    const tr = document.createElement("tr");
    const td = cell(tr, "empty", "no datasets yet");
    td.colSpan = 9;
    rows.push(tr);
  }
  body.replaceChildren(...rows);
}

function renderSummary(status) {
  const memory = status.memory;
  const items = [
    ["datasets", formatCount(status.totals.datasets)],
    ["rows", formatCount(status.totals.rows)],
    ["deleted rows", formatCount(status.totals.deleted_rows)],
    ["index lag", `${formatCount(status.totals.index_lag_rows)} rows`],
    ["memory", memory.limit_bytes > 0 ? `${formatBytes(memory.used_bytes)} of ${formatBytes(memory.limit_bytes)} (--max-memory)` : `${formatBytes(memory.used_bytes)} (no --max-memory)`],
  ];
  if (status.process) items.push(["RSS", formatBytes(status.process.resident_bytes)]);
  if (status.snapshots) {
    const last = status.snapshots.last_success_seconds;
    items.push(["last snapshot", last > 0 ? formatTime(last) : "none yet"]);
    if (status.snapshots.failed > 0) items.push(["failed snapshots", formatCount(status.snapshots.failed)]);
  }
  if (status.wal && status.wal.failed) items.push(["WAL", "FAILED: restart the server"]);
  const summary = document.getElementById("summary");
  summary.replaceChildren(
    ...items.map(([label, value]) => {
      const div = document.createElement("div");
      div.className = "figure";
      const b = document.createElement("b");
      b.textContent = value;
      const span = document.createElement("span");
      span.textContent = label;
      div.append(b, span);
      return div;
    }),
  );
}

let previous = null;
let polls = 0;

function update(status) {
  const t = status.time_seconds;
  const dt = previous ? t - previous.time_seconds : 0;
  renderSummary(status);
  renderDatasets(status.datasets);
  document.getElementById("version").textContent = `version ${status.version}`;

  const rowsPerSecond = rate(previous, status, (s) => s.ingest.rows, dt);
  const bytesPerSecond = rate(previous, status, (s) => s.ingest.bytes, dt);
  pushPoint("ingest", t, [rowsPerSecond, bytesPerSecond === null ? null : bytesPerSecond / 1e6]);

  const search = status.search_latency;
  const prevSearch = previous && previous.search_latency;
  pushPoint("search", t, [
    rate(prevSearch, search, (h) => h && h.count, dt),
    ms(quantile(prevSearch, search, 0.5)),
    ms(quantile(prevSearch, search, 0.99)),
  ]);

  const wal = status.wal_fsync_latency;
  const prevWal = previous && previous.wal_fsync_latency;
  pushPoint("wal", t, [
    rate(prevWal, wal, (h) => h && h.count, dt),
    ms(quantile(prevWal, wal, 0.5)),
    ms(quantile(prevWal, wal, 0.99)),
  ]);

  const mib = 1024 * 1024;
  pushPoint("memory", t, [
    status.memory.used_bytes / mib,
    status.memory.limit_bytes > 0 ? status.memory.limit_bytes / mib : null,
    status.process ? status.process.resident_bytes / mib : null,
  ]);
  previous = status;
}

async function poll() {
  const state = document.getElementById("state");
  try {
    const [response, cluster] = await Promise.all([
      fetch("api/status", { cache: "no-store" }),
      fetch("cluster", { cache: "no-store" }),
    ]);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    update(await response.json());
    // A server without /cluster (an older one) has no cluster section.
    renderCluster(cluster.ok ? await cluster.json() : null);
    polls += 1;
    state.dataset.polls = String(polls);
    state.className = "ok";
    state.textContent = `updated ${formatTime(Date.now() / 1000)}`;
  } catch (error) {
    // The server restarting or gone is shown on the page, not thrown: the page keeps polling.
    state.className = "down";
    state.textContent = `cannot reach the server (${error.message}); retrying`;
  }
  setTimeout(poll, intervalMs);
}

document.getElementById("interval").textContent = `${intervalMs / 1000} s`;
createCharts();
poll();
