/**
 * A static, Grafana-like HTML rendering of the dashboard JSON model from real Prometheus range data: the
 * same grid positions, titles, units and legends, time series as SVG lines and stat panels as values. It
 * exists to put a picture of the dashboard in docs/metrics.md without a Grafana server; it is not Grafana.
 */

export interface Series {
  readonly legend: string;
  readonly points: readonly [number, number][];
}

export interface PanelData {
  readonly title: string;
  readonly type: string;
  readonly unit: string;
  readonly gridPos: { readonly x: number; readonly y: number; readonly w: number; readonly h: number };
  readonly series: readonly Series[];
  readonly min?: number;
  readonly max?: number;
  readonly stack?: boolean;
  readonly mappings?: Record<string, string>;
}

const COLUMN_PX = 64;
const ROW_PX = 30;
const GAP_PX = 6;
const COLORS = [
  "#73bf69",
  "#f2cc0c",
  "#8ab8ff",
  "#ff780a",
  "#f2495c",
  "#5794f2",
  "#b877d9",
  "#705da0",
  "#37872d",
  "#fade2a",
  "#ff9830",
  "#c4162a",
];

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
}

/** A value in the panel's Grafana unit, as Grafana would roughly print it. */
export function formatValue(value: number, unit: string): string {
  if (!Number.isFinite(value)) return "NaN";
  const fixed = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));
  switch (unit) {
    case "percent":
      return `${fixed(value)}%`;
    case "percentunit":
      return `${fixed(value * 100)}%`;
    case "s":
      return value === 0 ? "0 s" : value < 1e-3 ? `${fixed(value * 1e6)} µs` : value < 1 ? `${fixed(value * 1e3)} ms` : `${fixed(value)} s`;
    case "bytes": {
      const units = ["B", "KiB", "MiB", "GiB"];
      let v = value;
      let i = 0;
      while (Math.abs(v) >= 1024 && i < units.length - 1) {
        v /= 1024;
        i++;
      }
      return `${fixed(v)} ${units[i]}`;
    }
    case "ops":
    case "reqps":
    case "pps":
      return `${fixed(value)} ${unit === "ops" ? "ops/s" : unit === "reqps" ? "req/s" : "p/s"}`;
    default:
      return Number.isInteger(value) ? String(value) : fixed(value);
  }
}

function timeseriesSvg(panel: PanelData, width: number, height: number): string {
  const series = panel.series.filter((s) => s.points.some(([, v]) => Number.isFinite(v)));
  if (series.length === 0) return `<div class="nodata">No data</div>`;
  const stacked = panel.stack ? stackSeries(series) : series;
  const times = stacked.flatMap((s) => s.points.map(([t]) => t));
  const values = stacked.flatMap((s) => s.points.map(([, v]) => v)).filter(Number.isFinite);
  const t0 = Math.min(...times);
  const t1 = Math.max(...times, t0 + 1);
  const lo = panel.min ?? Math.min(0, ...values);
  let hi = panel.max ?? Math.max(...values);
  if (hi <= lo) hi = lo + 1;
  const axis = 58;
  const w = width - axis - 4;
  const h = height - 16;
  const x = (t: number) => axis + ((t - t0) / (t1 - t0)) * w;
  const y = (v: number) => 4 + h - ((Math.min(Math.max(v, lo), hi) - lo) / (hi - lo)) * (h - 4);
  const grid = [0, 0.5, 1]
    .map((f) => lo + f * (hi - lo))
    .map(
      (v) =>
        `<line x1="${axis}" x2="${axis + w}" y1="${y(v)}" y2="${y(v)}" class="grid"/><text ` +
        `x="${axis - 4}" y="${y(v) + 4}" class="axis">${escapeHtml(formatValue(v, panel.unit))}</text>`,
    )
    .join("");
  const lines = stacked
    .map((s, i) => {
      const path = s.points
        .filter(([, v]) => Number.isFinite(v))
        .map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`)
        .join(" ");
      return `<polyline points="${path}" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="1.5"/>`;
    })
    .join("");
  return `<svg width="${width}" height="${height}">${grid}${lines}</svg>`;
}

function stackSeries(series: readonly Series[]): Series[] {
  const totals = new Map<number, number>();
  return series.map((s) => ({
    legend: s.legend,
    points: s.points.map(([t, v]) => {
      const sum = (totals.get(t) ?? 0) + (Number.isFinite(v) ? v : 0);
      totals.set(t, sum);
      return [t, sum] as [number, number];
    }),
  }));
}

function lastValue(series: Series): number {
  for (let i = series.points.length - 1; i >= 0; i--) if (Number.isFinite(series.points[i]![1])) return series.points[i]![1];
  return Number.NaN;
}

function legendHtml(panel: PanelData): string {
  const rows = panel.series
    .slice(0, 6)
    .map(
      (s, i) =>
        `<tr><td><span class="swatch" style="background:${COLORS[i % COLORS.length]}"></span>${escapeHtml(s.legend)}</td>` +
        `<td>${escapeHtml(formatValue(lastValue(s), panel.unit))}</td></tr>`,
    )
    .join("");
  const more = panel.series.length > 6 ? `<tr><td colspan="2">… ${panel.series.length - 6} more</td></tr>` : "";
  return `<table class="legend"><tr><th></th><th>Last</th></tr>${rows}${more}</table>`;
}

function statHtml(panel: PanelData): string {
  if (panel.series.length === 0) return `<div class="nodata">No data</div>`;
  return `<div class="stats">${panel.series
    .map((s) => {
      const value = lastValue(s);
      const text = panel.mappings?.[String(value)] ?? formatValue(value, panel.unit);
      const good = panel.mappings ? value === 1 : value <= 1;
      return (
        `<div class="stat ${good ? "ok" : "bad"}"><div class="value">${escapeHtml(text)}</div><div ` +
        `class="name">${escapeHtml(s.legend)}</div></div>`
      );
    })
    .join("")}</div>`;
}

export function dashboardHtml(title: string, subtitle: string, panels: readonly PanelData[]): string {
  const bottom = Math.max(...panels.map((p) => p.gridPos.y + p.gridPos.h));
  const body = panels
    .map((panel) => {
      const { x, y, w, h } = panel.gridPos;
      const style = `left:${x * COLUMN_PX}px;top:${y * ROW_PX}px;width:${w * COLUMN_PX - GAP_PX}px;height:${h * ROW_PX - GAP_PX}px`;
      if (panel.type === "row") return `<div class="row" style="${style}">${escapeHtml(panel.title)}</div>`;
      const width = w * COLUMN_PX - GAP_PX - 12;
      const legendRows = panel.type === "stat" ? 0 : Math.min(panel.series.length, 6) + (panel.series.length > 6 ? 1 : 0);
      const chartHeight = h * ROW_PX - GAP_PX - 34 - (legendRows > 0 ? 18 + legendRows * 15 : 0);
      const content =
        panel.type === "stat"
          ? statHtml(panel)
          : `${timeseriesSvg(panel, width, Math.max(40, chartHeight))}${legendRows > 0 ? legendHtml(panel) : ""}`;
      return `<div class="panel" style="${style}"><div class="title">${escapeHtml(panel.title)}</div>${content}</div>`;
    })
    .join("\n");
  return `<!doctype html><html><head><meta charset="utf-8"><style>
body{margin:0;background:#111217;color:#ccccdc;font:12px/1.3 Inter,Helvetica,Arial,sans-serif}
header{padding:10px 14px;font-size:16px;color:#fff}header small{color:#8e8e9e;font-size:12px;margin-left:10px}
.grid-root{position:relative;margin:0 8px;width:${24 * COLUMN_PX}px;height:${bottom * ROW_PX}px}
.panel{position:absolute;background:#181b1f;border:1px solid #2c3235;border-radius:3px;padding:4px 6px;
box-sizing:border-box;overflow:hidden}
.row{position:absolute;font-size:14px;color:#fff;padding-top:6px;border-bottom:1px solid #2c3235}
.title{font-weight:500;color:#d8d9da;margin-bottom:4px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.nodata{color:#8e8e9e;text-align:center;margin-top:40px}.grid{stroke:#2c3235}.axis{fill:#8e8e9e;font-size:10px;text-anchor:end}
.legend{width:100%;font-size:11px;border-collapse:collapse}.legend th{text-align:right;color:#8e8e9e;font-weight:normal}
.legend td{white-space:nowrap;overflow:hidden;max-width:300px}.legend td:last-child{text-align:right}
.swatch{display:inline-block;width:10px;height:3px;margin-right:6px;vertical-align:middle}
.stats{display:flex;flex-wrap:wrap;gap:6px;height:calc(100% - 24px)}
.stat{flex:1 1 40%;border-radius:3px;padding:6px;text-align:center;color:#fff}
.stat.ok{background:#37872d}.stat.bad{background:#c4162a}.stat .value{font-size:22px;font-weight:600}.stat .name{font-size:11px}
</style></head><body><header>${escapeHtml(title)}<small>${escapeHtml(subtitle)}</small></header>
<div class="grid-root">${body}</div></body></html>`;
}
