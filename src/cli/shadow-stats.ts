/**
 * The shadow comparison counts of the instance the CLI talks to, read from its /metrics
 * (switchyard_shadow_comparisons_total by result), for the status view. Counts since that instance
 * started; the cluster-wide view is the dashboard's.
 */
import type { AdminClient } from "./admin-client.js";

export const RESULTS = ["match", "mismatch", "missing", "extra"] as const;
export type ComparisonCounts = Record<(typeof RESULTS)[number], number>;

const SAMPLE = /^switchyard_shadow_comparisons_total\{([^}]*)\}\s+([0-9.eE+-]+)/;

export function comparisonCountsOf(metrics: string): ComparisonCounts {
  const counts: ComparisonCounts = { match: 0, mismatch: 0, missing: 0, extra: 0 };
  for (const line of metrics.split("\n")) {
    const sample = SAMPLE.exec(line);
    if (sample === null) continue;
    const result = /(?:^|,)result="([^"]*)"/.exec(sample[1]!)?.[1] as keyof ComparisonCounts | undefined;
    if (result !== undefined && result in counts) counts[result] += Number(sample[2]);
  }
  return counts;
}

export async function comparisonCounts(client: AdminClient): Promise<ComparisonCounts | undefined> {
  const metrics = await client.text("/metrics");
  return metrics === undefined ? undefined : comparisonCountsOf(metrics);
}

export function formatComparisons(counts: ComparisonCounts): string {
  const total = RESULTS.reduce((sum, result) => sum + counts[result], 0);
  if (total === 0) return "nothing yet";
  const rate = ((100 * counts.match) / total).toFixed(1);
  return `${total} deliveries, match ${rate}% · mismatch ${counts.mismatch} · missing ${counts.missing} · extra ${counts.extra}`;
}
