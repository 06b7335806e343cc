/**
 * The bench's chart: one self-contained SVG (no dependencies, no scripts) written next to the JSON result.
 * Panels: latency distribution (p50, p90, p99, p99.9, max on a log scale) for every setup and N; the front
 * process's CPU seconds per 1,000 deliveries and its RSS per session, grouped by N; and, after a --storm,
 * the handshake p50/p99 of every setup. Pure: result in, text out.
 */
import type { BenchResult, SetupResult } from "./report.js";

const WIDTH = 960;
const LEFT = 300;
const RIGHT = 30;
const PLOT = WIDTH - LEFT - RIGHT;
const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f", "#bab0ac"];

const xmlEscape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const num = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(1));

function text(x: number, y: number, content: string, attributes = ""): string {
  return `<text x="${num(x)}" y="${num(y)}" ${attributes}>${xmlEscape(content)}</text>`;
}

/** Round axis steps: 1, 2, 5 × 10^k. */
function niceMax(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 4, 8, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

const label = (n: number) => (n >= 1000 ? `${num(n / 1000)}k` : n >= 10 ? num(Math.round(n)) : n >= 1 ? n.toFixed(1) : n.toPrecision(2));

interface Panel {
  readonly svg: string;
  readonly height: number;
}

/** Latency markers per (setup, N) row on a log axis from 0.1 ms to the largest max. */
function latencyPanel(result: BenchResult, colorOf: (id: string) => string, top: number): Panel {
  const rows = result.runs.flatMap((run) => run.setups.filter((s) => s.ok && s.latencyMs !== null).map((s) => ({ run, s })));
  if (rows.length === 0) return { svg: "", height: 0 };
  const maxMs = Math.max(...rows.map((r) => r.s.latencyMs?.max ?? 1));
  const low = 0.1;
  const high = 10 ** Math.ceil(Math.log10(Math.max(maxMs, 1)));
  const x = (ms: number) => LEFT + (PLOT * Math.log10(Math.max(ms, low) / low)) / Math.log10(high / low);
  const rowHeight = 18;
  const out: string[] = [text(10, top + 16, "Delivery latency, ms (log scale): ▏p50 ● p90 ◆ p99 ▲ p99.9 ✕ max", 'class="title"')];
  const axisTop = top + 28;
  const bottom = axisTop + rows.length * rowHeight;
  for (let tick = low; tick <= high; tick *= 10) {
    out.push(`<line x1="${num(x(tick))}" y1="${axisTop}" x2="${num(x(tick))}" y2="${bottom}" class="grid"/>`);
    out.push(text(x(tick), bottom + 14, label(tick), 'text-anchor="middle" class="tick"'));
  }
  for (const [i, { run, s }] of rows.entries()) {
    const l = s.latencyMs!;
    const y = axisTop + i * rowHeight + rowHeight / 2;
    const color = colorOf(s.id);
    out.push(text(LEFT - 8, y + 4, `${s.name}, N=${run.clients.toLocaleString("en-US")}`, 'text-anchor="end" class="label"'));
    out.push(`<line x1="${num(x(l.p50))}" y1="${num(y)}" x2="${num(x(l.max))}" y2="${num(y)}" stroke="${color}" stroke-width="2"/>`);
    out.push(
      `<rect x="${num(x(l.p50) - 1.5)}" y="${num(y - 6)}" width="3" height="12" fill="${color}"><title>p50 ${num(l.p50)} ms</title></rect>`,
    );
    out.push(`<circle cx="${num(x(l.p90))}" cy="${num(y)}" r="4" fill="${color}"><title>p90 ${num(l.p90)} ms</title></circle>`);
    const p99 = x(l.p99);
    out.push(`<path d="M${num(p99)} ${num(y - 5)}l5 5l-5 5l-5 -5z" fill="${color}"><title>p99 ${num(l.p99)} ms</title></path>`);
    const p999 = x(l.p999);
    out.push(`<path d="M${num(p999)} ${num(y - 5)}l5 9h-10z" fill="${color}"><title>p99.9 ${num(l.p999)} ms</title></path>`);
    out.push(text(x(l.max), y + 4, "✕", `text-anchor="middle" fill="${color}" class="tick"`));
  }
  return { svg: out.join("\n"), height: bottom + 24 - top };
}

/** Bars grouped by N, one bar per setup, for a per-setup metric (undefined: no bar). */
function barPanel(
  title: string,
  groups: readonly { readonly label: string; readonly bars: readonly { id: string; name: string; value: number | undefined }[] }[],
  colorOf: (id: string) => string,
  top: number,
  unit: (v: number) => string,
): Panel {
  const values = groups.flatMap((g) => g.bars.map((b) => b.value ?? 0));
  if (values.every((v) => !(v > 0))) return { svg: "", height: 0 };
  const max = niceMax(Math.max(...values));
  const barHeight = 14;
  const out: string[] = [text(10, top + 16, title, 'class="title"')];
  let y = top + 28;
  const axisTop = y;
  const x = (v: number) => LEFT + (PLOT * v) / max;
  for (const group of groups) {
    out.push(text(10, y + 11, group.label, 'class="label" font-weight="bold"'));
    y += barHeight;
    for (const bar of group.bars) {
      out.push(text(LEFT - 8, y + 11, bar.name, 'text-anchor="end" class="label"'));
      if (bar.value !== undefined && Number.isFinite(bar.value)) {
        const w = Math.max(1, x(bar.value) - LEFT);
        out.push(`<rect x="${LEFT}" y="${y}" width="${num(w)}" height="${barHeight - 2}" fill="${colorOf(bar.id)}"/>`);
        out.push(text(LEFT + w + 4, y + 10, unit(bar.value), 'class="tick"'));
      } else {
        out.push(text(LEFT + 4, y + 10, "–", 'class="tick"'));
      }
      y += barHeight;
    }
    y += 6;
  }
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    out.push(`<line x1="${num(x(v))}" y1="${axisTop}" x2="${num(x(v))}" y2="${y}" class="grid"/>`);
    out.push(text(x(v), y + 14, unit(v), 'text-anchor="middle" class="tick"'));
  }
  return { svg: out.join("\n"), height: y + 24 - top };
}

const frontOf = (s: SetupResult) => s.processes.find((p) => p.role === "front");

export function renderChart(result: BenchResult): string {
  const ids = [...new Set([...result.runs.flatMap((r) => r.setups.map((s) => s.id)), ...result.storms.map((s) => s.id)])];
  const colorOf = (id: string) => PALETTE[ids.indexOf(id) % PALETTE.length] as string;
  const groupsOf = (value: (s: SetupResult) => number | null | undefined) =>
    result.runs.map((run) => ({
      label: `N=${run.clients.toLocaleString("en-US")}`,
      bars: run.setups
        .filter((s) => s.ok && frontOf(s) !== undefined)
        .map((s) => ({ id: s.id, name: s.name, value: value(s) ?? undefined })),
    }));
  const panels: Panel[] = [];
  let top = 40;
  const add = (make: (top: number) => Panel) => {
    const panel = make(top);
    if (panel.height === 0) return;
    panels.push(panel);
    top += panel.height + 16;
  };
  add((t) => latencyPanel(result, colorOf, t));
  add((t) =>
    barPanel(
      "Gateway or proxy CPU seconds per 1,000 deliveries",
      groupsOf((s) => frontOf(s)?.cpuSecondsPer1kDelivered),
      colorOf,
      t,
      (v) => v.toFixed(3),
    ),
  );
  add((t) =>
    barPanel(
      "Gateway or proxy RSS per session, KiB",
      groupsOf((s) => {
        const bytes = frontOf(s)?.rssPerSessionBytes;
        return bytes === null || bytes === undefined ? undefined : bytes / 1024;
      }),
      colorOf,
      t,
      (v) => v.toFixed(0),
    ),
  );
  if (result.storms.length > 0) {
    const storms = result.storms.filter((s) => s.ok && s.handshakeMs !== null);
    const n = result.storms[0]?.requested.toLocaleString("en-US") ?? "?";
    add((t) =>
      barPanel(
        `Connection storm (${n} clients): handshake ms, p50 and p99`,
        [
          { label: "p50", bars: storms.map((s) => ({ id: s.id, name: s.name, value: s.handshakeMs?.p50 })) },
          { label: "p99", bars: storms.map((s) => ({ id: s.id, name: s.name, value: s.handshakeMs?.p99 })) },
        ],
        colorOf,
        t,
        (v) => label(v),
      ),
    );
  }
  const when = result.startedAt.slice(0, 16).replace("T", " ");
  const heading = `Switchyard bench, ${when} UTC, ${result.host.cpus} cores, Node ${result.host.node}`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${top}" viewBox="0 0 ${WIDTH} ${top}" font-family="sans-serif">`,
    "<style>.title{font-size:14px;font-weight:bold}.label{font-size:11px}.tick{font-size:10px;fill:#555}",
    ".grid{stroke:#ddd;stroke-width:1}</style>",
    `<rect width="${WIDTH}" height="${top}" fill="white"/>`,
    text(10, 22, heading, 'class="title"'),
    ...panels.map((p) => p.svg),
    "</svg>",
    "",
  ].join("\n");
}
