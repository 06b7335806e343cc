/**
 * Writes the docs' rollout charts from timelines the rollout tests recorded:
 *   ROLLOUT_TIMELINE_OUT=/tmp/rollout-%s.json node scripts/run-tests.mjs integration/rollout
 *   node --import tsx scripts/rollout-chart.ts /tmp/rollout-rollback.json docs/images/rollout-rollback.svg "title"
 * (`npm run docs:rollout-chart` does both for the two charts in docs/rollout.md and the README).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { timelineSvg, type TimelinePoint } from "./timeline-chart.js";

const [input, output, title = "Progressive rollout"] = process.argv.slice(2);
if (input === undefined || output === undefined) {
  process.stderr.write("usage: rollout-chart.ts TIMELINE.json OUT.svg [TITLE]\n");
  process.exit(2);
}
const points = JSON.parse(readFileSync(input, "utf8")) as TimelinePoint[];
writeFileSync(output, timelineSvg(points, title));
process.stdout.write(`${output}: ${points.length} points\n`);
