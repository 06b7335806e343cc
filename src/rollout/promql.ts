/**
 * PromQL gates: each query is sent to Prometheus's HTTP API (`/api/v1/query`) at check time and must
 * return one number (a scalar, or a vector whose first sample is taken). Anything else (no answer, an
 * error, an empty vector, NaN) is "no value", which makes the gate inconclusive, never a pass.
 */
import type { GateSpec } from "./plan.js";

const QUERY_TIMEOUT_MS = 2_000;

async function queryOne(baseUrl: string, query: string): Promise<number | undefined> {
  try {
    const url = new URL(`${baseUrl.replace(/\/+$/, "")}/api/v1/query`);
    url.searchParams.set("query", query);
    const res = await fetch(url, { signal: AbortSignal.timeout(QUERY_TIMEOUT_MS) });
    if (!res.ok) return undefined;
    const body = (await res.json()) as { data?: { resultType?: string; result?: unknown } };
    const result = body.data?.result;
    const sample =
      body.data?.resultType === "scalar" ? result : Array.isArray(result) ? (result[0] as { value?: unknown })?.value : undefined;
    const value = Array.isArray(sample) ? Number(sample[1]) : Number.NaN;
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The value of every PromQL gate by name (undefined when Prometheus is not configured or gave no number). */
export async function queryPromql(baseUrl: string | undefined, gates: readonly GateSpec[]): Promise<Map<string, number | undefined>> {
  const values = new Map<string, number | undefined>();
  await Promise.all(
    gates.map(async (gate) => {
      if (gate.gate === "promql") values.set(gate.name, baseUrl === undefined ? undefined : await queryOne(baseUrl, gate.query));
    }),
  );
  return values;
}
