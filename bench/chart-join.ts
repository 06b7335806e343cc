/**
 * Redraws the bench chart from saved results: `npm run bench:chart -- <out.svg> <result.json>...`. The steady-state
 * runs and the storms of every file are joined in the order given, so that a sweep and a storm measured in separate
 * runs share one chart (each bar still comes from one run, where its setups were measured side by side).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { renderChart } from "./chart.js";
import type { BenchResult } from "./report.js";

export function joinResults(results: readonly BenchResult[]): BenchResult {
  const [first] = results;
  if (first === undefined) throw new Error("no results to join");
  return {
    ...first,
    options: { joined: results.map((r) => r.startedAt) },
    runs: results.flatMap((r) => r.runs),
    storms: results.flatMap((r) => r.storms),
  };
}

function main(): void {
  const [out, ...inputs] = process.argv.slice(2);
  if (out === undefined || !out.endsWith(".svg") || inputs.length === 0) {
    process.stderr.write("usage: npm run bench:chart -- <out.svg> <result.json> [<result.json>...]\n");
    process.exit(64);
  }
  const results = inputs.map((file) => JSON.parse(readFileSync(file, "utf8")) as BenchResult);
  writeFileSync(out, renderChart(joinResults(results)));
  process.stdout.write(`chart: ${out} (${inputs.length} result files)\n`);
}

if (process.argv[1]?.endsWith("chart-join.js") === true) main();
