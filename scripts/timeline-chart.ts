/**
 * Draws a rollout's timeline (weight and gate values over time, as the tests record it from GET
 * /admin/rollout) as a small standalone SVG: the weight as a step line on the left axis (0-100 %), each
 * gate's value (solid) and limit (dashed) on the right axis, and a marker at every phase change.
 * Pure: timeline in, SVG text out (scripts/rollout-chart.ts writes the file).
 */

export interface TimelinePoint {
  /** Milliseconds since the recording started. */
  readonly t: number;
  readonly phase: string;
  readonly weight: number;
  readonly gates: Readonly<Record<string, { readonly value?: number | undefined; readonly limit?: number | undefined }>>;
}

const WIDTH = 760;
const HEIGHT = 320;
const PAD = { left: 56, right: 64, top: 36, bottom: 64 };
const COLORS = ["#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"];

const xml = (text: string): string => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const fixed = (n: number): string => n.toFixed(1);

export function timelineSvg(points: readonly TimelinePoint[], title: string): string {
  const end = Math.max(1, ...points.map((p) => p.t));
  const gateNames = [...new Set(points.flatMap((p) => Object.keys(p.gates)))];
  const gateMax = Math.max(
    1,
    ...points.flatMap((p) => Object.values(p.gates).flatMap((g) => [g.value ?? 0, g.limit ?? 0])).filter((n) => Number.isFinite(n)),
  );
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const x = (t: number) => PAD.left + (t / end) * plotW;
  const yWeight = (w: number) => PAD.top + plotH - (w / 100) * plotH;
  const yGate = (v: number) => PAD.top + plotH - (v / gateMax) * plotH;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" ` +
      `font-family="sans-serif" font-size="11">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="18" text-anchor="middle" font-size="13" font-weight="bold">${xml(title)}</text>`,
  ];
  for (const tick of [0, 25, 50, 75, 100]) {
    out.push(`<line x1="${PAD.left}" x2="${PAD.left + plotW}" y1="${fixed(yWeight(tick))}" y2="${fixed(yWeight(tick))}" stroke="#eee"/>`);
    out.push(`<text x="${PAD.left - 6}" y="${fixed(yWeight(tick) + 4)}" text-anchor="end">${tick}%</text>`);
    const value = (gateMax * tick) / 100;
    out.push(`<text x="${PAD.left + plotW + 6}" y="${fixed(yWeight(tick) + 4)}">${Number(value.toFixed(2))}</text>`);
  }
  const seconds = end / 1000;
  const step = seconds > 20 ? 5 : seconds > 8 ? 2 : 1;
  for (let s = 0; s <= seconds; s += step)
    out.push(`<text x="${fixed(x(s * 1000))}" y="${PAD.top + plotH + 16}" text-anchor="middle">${s}s</text>`);
  out.push(
    `<text x="14" y="${PAD.top + plotH / 2}" transform="rotate(-90 14 ${PAD.top + plotH / 2})" text-anchor="middle">hub weight</text>`,
    `<text x="${WIDTH - 12}" y="${PAD.top + plotH / 2}" transform="rotate(90 ${WIDTH - 12} ${PAD.top + plotH / 2})" ` +
      `text-anchor="middle">gate value</text>`,
    `<rect x="${PAD.left}" y="${PAD.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`,
  );
  // Phase changes: a dotted line and the new phase's name.
  let previous: TimelinePoint | undefined;
  let labels = 0;
  for (const point of points) {
    if (previous !== undefined && previous.phase !== point.phase) {
      const at = fixed(x(point.t));
      out.push(`<line x1="${at}" x2="${at}" y1="${PAD.top}" y2="${PAD.top + plotH}" stroke="#bbb" stroke-dasharray="2,3"/>`);
      const y = PAD.top + 12 + (labels++ % 3) * 12;
      out.push(`<text x="${fixed(Math.min(x(point.t) + 3, PAD.left + plotW - 70))}" y="${y}" fill="#555">${xml(point.phase)}</text>`);
    }
    previous = point;
  }
  // The weight as a step line.
  const weight = points.flatMap((p, i) => {
    const before = points[i - 1];
    return before === undefined
      ? [[p.t, p.weight]]
      : [
          [p.t, before.weight],
          [p.t, p.weight],
        ];
  });
  const weightPoints = weight.map(([t, w]) => `${fixed(x(t!))},${fixed(yWeight(w!))}`).join(" ");
  out.push(`<polyline fill="none" stroke="#1f77b4" stroke-width="2.5" points="${weightPoints}"/>`);
  gateNames.forEach((name, index) => {
    const color = COLORS[index % COLORS.length];
    for (const [field, dash] of [
      ["value", ""],
      ["limit", ' stroke-dasharray="6,4"'],
    ] as const) {
      // Values change at checks: a step line, like the weight's.
      let last: number | undefined;
      const series = points.flatMap((p) => {
        const v = p.gates[name]?.[field];
        if (v === undefined || !Number.isFinite(v)) return [];
        const at = fixed(x(p.t));
        const drawn =
          last === undefined || last === v ? [`${at},${fixed(yGate(v))}`] : [`${at},${fixed(yGate(last))}`, `${at},${fixed(yGate(v))}`];
        last = v;
        return drawn;
      });
      if (series.length > 0) out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.5"${dash} points="${series.join(" ")}"/>`);
    }
  });
  // Legend.
  const legend = [
    ["hub weight (left axis)", "#1f77b4", ""],
    ...gateNames.flatMap((name, i) => [
      [`${name} (right axis)`, COLORS[i % COLORS.length]!, ""],
      [`${name} limit`, COLORS[i % COLORS.length]!, ' stroke-dasharray="6,4"'],
    ]),
  ];
  legend.forEach(([label, color, dash], i) => {
    const lx = PAD.left + (i % 3) * 220;
    const ly = HEIGHT - 30 + Math.floor(i / 3) * 14;
    out.push(`<line x1="${lx}" x2="${lx + 22}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${lx + 28}" y="${ly}">${xml(label!)}</text>`);
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
