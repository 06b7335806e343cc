/** The measured faults as the rows of the operating guide's table (docs/operating.md), for scripts/faults.ts. */
import { loadavg } from "node:os";
import type { PhaseResult } from "./faults.js";

export const TABLE_HEADER = [
  "| Fault | Clients disconnected | What they saw | Every client back after | Lost, healthy side | Lost, affected side " +
    "| Metrics that moved |",
  "|---|---|---|---|---|---|---|",
].join("\n");

export function loadAverage(): string {
  return loadavg()
    .map((n) => n.toFixed(1))
    .join(" ");
}

function top(counts: Record<string, number>, limit: number): string {
  return Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([key, n]) => `${key} ×${n}`)
    .join(", ");
}

export function resultRow(r: PhaseResult, clients: number): string {
  const { pairs, echo } = r.report;
  const crossChecked = r.mustDeliver === "all";
  const checked = pairs.sameNode.expected + (crossChecked ? pairs.crossNode.expected : 0);
  const healthy = `${r.healthyLost} (${checked} deliveries, ${echo.healthy.sent} acks checked)`;
  const gap = crossChecked ? "" : `, between nodes (the bridge gap) ${pairs.crossNode.missing} of ${pairs.crossNode.expected}`;
  const affectedLost =
    `${pairs.affected.missing} of ${pairs.affected.expected} room deliveries, ` +
    `${echo.affected.sent - echo.affected.acked} of ${echo.affected.sent} acks${gap}`;
  const metrics = Object.entries(r.metrics)
    // Requests passed on as they should be are traffic, not the fault.
    .filter(([name]) => !name.includes('outcome="forwarded"'))
    .map(([name, n]) => `\`${name}\` +${n}`)
    .join("<br>");
  const back = `${(r.backMs / 1000).toFixed(1)} s`;
  const seen = top(r.report.reasons, 3);
  return `| ${r.fault} | ${r.report.disconnected} of ${clients} | ${seen} | ${back} | ${healthy} | ${affectedLost} | ${metrics} |`;
}
