/**
 * The soak's chart as a self-contained SVG (no dependencies): one panel per series over time (each
 * gateway's RSS, open descriptors and event-loop lag p99; the deliveries the clients received per
 * second), with the injected restarts as dashed vertical lines.
 */

export interface SoakSample {
  /** Since the start of the soak. */
  readonly atMs: number;
  readonly gateways: readonly { rssMb: number; fds: number; lagMs: number; sessions: number }[];
  readonly deliveriesPerS: number;
  readonly up: number;
}

interface Panel {
  readonly title: string;
  readonly unit: string;
  readonly lines: readonly { label: string; color: string; values: readonly number[] }[];
}

const WIDTH = 960;
const LEFT = 70;
const RIGHT = 150;
const PANEL_HEIGHT = 150;
const GAP = 46;
const TOP = 50;
const COLORS = ["#1f77b4", "#d62728"];

function xmlText(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** A round upper bound for the axis (1, 2 or 5 times a power of ten). */
function niceMax(value: number): number {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return ([1, 2, 5, 10].find((m) => m * power >= value) ?? 10) * power;
}

export function soakChart(title: string, samples: readonly SoakSample[], events: readonly { atMs: number; label: string }[]): string {
  const gateways = samples[0]?.gateways.length ?? 0;
  const perGateway = (title: string, unit: string, pick: (g: SoakSample["gateways"][number]) => number): Panel => ({
    title,
    unit,
    lines: Array.from({ length: gateways }, (_, i) => ({
      label: `gw-${i}`,
      color: COLORS[i % COLORS.length]!,
      values: samples.map((s) => pick(s.gateways[i]!)),
    })),
  });
  const panels: Panel[] = [
    perGateway("Resident memory", "MB", (g) => g.rssMb),
    perGateway("Open file descriptors", "fds", (g) => g.fds),
    perGateway("Event-loop lag, p99", "ms", (g) => g.lagMs),
    {
      title: "Deliveries received by the clients",
      unit: "/s",
      lines: [{ label: "all", color: "#2ca02c", values: samples.map((s) => s.deliveriesPerS) }],
    },
  ];
  const endMs = Math.max(1, samples.at(-1)?.atMs ?? 1);
  const plotWidth = WIDTH - LEFT - RIGHT;
  const x = (ms: number) => LEFT + (ms / endMs) * plotWidth;
  const height = TOP + panels.length * (PANEL_HEIGHT + GAP) + 10;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ` +
      `font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${LEFT}" y="24" font-size="15" font-weight="bold">${xmlText(title)}</text>`,
  ];
  const minuteStep = Math.max(1, Math.ceil(endMs / 60_000 / 10));
  for (const [p, panel] of panels.entries()) {
    const top = TOP + p * (PANEL_HEIGHT + GAP);
    const max = niceMax(Math.max(...panel.lines.flatMap((l) => l.values)) * 1.1);
    const y = (v: number) => top + PANEL_HEIGHT - (v / max) * PANEL_HEIGHT;
    out.push(`<text x="${LEFT}" y="${top - 8}" font-size="12" font-weight="bold">${xmlText(panel.title)} (${panel.unit})</text>`);
    out.push(`<rect x="${LEFT}" y="${top}" width="${plotWidth}" height="${PANEL_HEIGHT}" fill="none" stroke="#999"/>`);
    for (const fraction of [0, 0.5, 1]) {
      const v = max * fraction;
      out.push(`<line x1="${LEFT}" x2="${LEFT + plotWidth}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/>`);
      out.push(`<text x="${LEFT - 6}" y="${y(v) + 4}" text-anchor="end">${Number(v.toPrecision(3))}</text>`);
    }
    for (let m = 0; m * 60_000 <= endMs; m += minuteStep) {
      out.push(`<text x="${x(m * 60_000)}" y="${top + PANEL_HEIGHT + 14}" text-anchor="middle">${m} min</text>`);
    }
    for (const event of events) {
      out.push(
        `<line x1="${x(event.atMs)}" x2="${x(event.atMs)}" y1="${top}" y2="${top + PANEL_HEIGHT}" stroke="#888" stroke-dasharray="3,3"/>`,
      );
      if (p === 0) out.push(`<text x="${x(event.atMs) + 2}" y="${top + 10}" fill="#666" font-size="9">${xmlText(event.label)}</text>`);
    }
    for (const [l, line] of panel.lines.entries()) {
      const points = line.values.map((v, i) => `${x(samples[i]!.atMs).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
      out.push(`<polyline fill="none" stroke="${line.color}" stroke-width="1.5" points="${points}"/>`);
      const ly = top + 14 + l * 16;
      out.push(
        `<line x1="${LEFT + plotWidth + 12}" x2="${LEFT + plotWidth + 30}" y1="${ly - 4}" y2="${ly - 4}" ` +
          `stroke="${line.color}" stroke-width="2"/>`,
      );
      out.push(`<text x="${LEFT + plotWidth + 34}" y="${ly}">${xmlText(line.label)}</text>`);
    }
  }
  out.push(
    `<text x="${LEFT}" y="${height - 4}" fill="#666" font-size="9">dashed: a restart (legacy, hub or Redis); samples every ` +
      `${samples.length > 1 ? Math.round((samples[1]!.atMs - samples[0]!.atMs) / 1000) : "?"} s</text>`,
  );
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
