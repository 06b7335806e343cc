/**
 * Gates: one interval's numbers in, a verdict per gate out. Pure. The hub is judged against legacy over
 * the same interval (side by side, never against history); a gate without enough data to judge is
 * `inconclusive`, never a pass or a fail by accident.
 */
import type { GateSpec, RolloutPlan } from "./plan.js";

/** Connect and ack latency histogram bounds, seconds (the last bucket is everything above). */
export const LATENCY_BOUNDS: readonly number[] = Object.freeze([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);

export interface BackendWindow {
  /** Sessions routed to this backend (route decisions). */
  readonly routed: number;
  readonly opened: number;
  /** Primary upstream connects that failed. */
  readonly connectErrors: number;
  /** Sessions ended by the backend (it closed, or an upstream error). */
  readonly upstreamCloses: number;
  /** Sessions that ended for any reason but a drain or a shutdown. */
  readonly ended: number;
  /** Of those, sessions that ended within shortSessionSeconds of opening. */
  readonly short: number;
  /** Hub-route sessions that went to legacy instead (hub only). */
  readonly fallbacks: number;
  /** Primary connect latency counts per LATENCY_BOUNDS bucket (one more for the overflow). */
  readonly latency: readonly number[];
  /** Ack round trips through the backend (switchyard:ack:latency) per LATENCY_BOUNDS bucket (one more for the overflow). */
  readonly ackLatency: readonly number[];
  /** Client protocol errors of sessions on this backend. */
  readonly protocolErrors: number;
}

export interface WindowStats {
  readonly durationMs: number;
  readonly legacy: BackendWindow;
  readonly hub: BackendWindow;
  readonly shadow: { readonly match: number; readonly mismatch: number; readonly missing: number; readonly extra: number };
  /** Every client protocol error, routed or not (the absolute gate's count). */
  readonly protocolErrors: number;
}

export type GateStatus = "pass" | "fail" | "inconclusive";

export interface GateResult {
  readonly name: string;
  readonly gate: GateSpec["gate"] | "sessions";
  readonly status: GateStatus;
  /** The hub's value (or the shadow's, or the absolute value); undefined when there is none. */
  readonly value: number | undefined;
  /** Legacy's value for comparison gates. */
  readonly baseline?: number | undefined;
  /** The largest passing value: max, or baseline + margin. */
  readonly limit: number | undefined;
  readonly detail: string;
}

export interface CheckResult {
  readonly verdict: GateStatus;
  readonly gates: readonly GateResult[];
  /** One line: why the verdict ("connectErrorRate 0.40 > 0.02 (legacy 0 + margin 0.02)"). */
  readonly reason: string;
}

export function emptyBackendWindow(): BackendWindow {
  return {
    routed: 0,
    opened: 0,
    connectErrors: 0,
    upstreamCloses: 0,
    ended: 0,
    short: 0,
    fallbacks: 0,
    latency: LATENCY_BOUNDS.map(() => 0).concat(0),
    ackLatency: LATENCY_BOUNDS.map(() => 0).concat(0),
    protocolErrors: 0,
  };
}

export function emptyWindow(durationMs: number): WindowStats {
  return {
    durationMs,
    legacy: emptyBackendWindow(),
    hub: emptyBackendWindow(),
    shadow: { match: 0, mismatch: 0, missing: 0, extra: 0 },
    protocolErrors: 0,
  };
}

/** Stands for "above the last bound" (finite, so that it survives JSON in the stored state). */
export const LATENCY_OVERFLOW = 2 * LATENCY_BOUNDS.at(-1)!;

/** The upper bound of the bucket holding the 99th percentile (LATENCY_OVERFLOW above the last bound); undefined without data. */
export function p99(latency: readonly number[]): number | undefined {
  const total = latency.reduce((sum, count) => sum + count, 0);
  if (total === 0) return undefined;
  const rank = Math.ceil(total * 0.99);
  let seen = 0;
  for (const [index, count] of latency.entries()) {
    seen += count;
    if (seen >= rank) return LATENCY_BOUNDS[index] ?? LATENCY_OVERFLOW;
  }
  return LATENCY_OVERFLOW;
}

/** A share, at most 1: a session routed at the end of one interval may fail (or end) in the next. */
const ratio = (part: number, whole: number): number => (whole === 0 ? 0 : Math.min(1, part / whole));

/**
 * Legacy's connect error rate: over its connect outcomes when it publishes them (terminated sessions); piped
 * sessions publish failures but no successes, so over its routing decisions then.
 */
function legacyConnectErrorRate(legacy: BackendWindow): number | undefined {
  const successes = legacy.latency.reduce((sum, count) => sum + count, 0);
  return successes > 0
    ? legacy.connectErrors / (successes + legacy.connectErrors)
    : legacy.routed > 0
      ? ratio(legacy.connectErrors, legacy.routed)
      : undefined;
}

function compareValue(gate: string, side: BackendWindow): number | undefined {
  switch (gate) {
    case "connectErrorRate": {
      // Over the interval's connect outcomes (successes are the latency histogram's count), not its routing
      // decisions: a session routed at the end of one interval fails in the next, and over decisions that
      // interval would pass a hub that refuses everyone. No outcome: nothing can be said.
      const outcomes = side.latency.reduce((sum, count) => sum + count, 0) + side.connectErrors;
      return outcomes === 0 ? undefined : side.connectErrors / outcomes;
    }
    case "upstreamCloseRate":
      return ratio(side.upstreamCloses, side.opened);
    case "fallbackRate":
      return ratio(side.fallbacks, side.routed);
    case "shortSessionRate":
      return ratio(side.short, side.ended);
    case "protocolErrorRate":
      return ratio(side.protocolErrors, side.opened);
    case "connectLatencyP99":
      return p99(side.latency);
    case "ackLatencyP99":
      return p99(side.ackLatency);
    default:
      return undefined;
  }
}

const round = (value: number): number => Math.round(value * 10_000) / 10_000;

/** Judges one gate; `promql` holds the values of PromQL gates by name (undefined: the query gave nothing). */
export function judgeGate(
  gate: GateSpec,
  stats: WindowStats,
  plan: RolloutPlan,
  promql: ReadonlyMap<string, number | undefined>,
): GateResult {
  const base = { name: gate.name, gate: gate.gate };
  const perMinute = (count: number) => (stats.durationMs <= 0 ? 0 : (count * 60_000) / stats.durationMs);
  const upTo = (value: number | undefined, max: number, what: string): GateResult =>
    value === undefined
      ? { ...base, status: "inconclusive", value, limit: max, detail: `${gate.name}: no value (${what})` }
      : {
          ...base,
          status: value > max ? "fail" : "pass",
          value: round(value),
          limit: max,
          detail: `${gate.name} ${round(value)} ${value > max ? ">" : "≤"} ${max}`,
        };
  switch (gate.gate) {
    case "mismatchRate":
    case "missingRate":
    case "extraRate": {
      const s = stats.shadow;
      const total = s.match + s.mismatch + s.missing + s.extra;
      const count = gate.gate === "mismatchRate" ? s.mismatch : gate.gate === "missingRate" ? s.missing : s.extra;
      if (total === 0 || total < plan.minComparisons)
        return {
          ...base,
          status: "inconclusive",
          value: undefined,
          limit: gate.max,
          detail: `${gate.name}: ${total} comparisons < minComparisons ${plan.minComparisons}`,
        };
      return upTo(count / total, gate.max, "");
    }
    case "fallbacksPerMinute":
      return upTo(perMinute(stats.hub.fallbacks), gate.max, "");
    case "protocolErrorsPerMinute":
      return upTo(perMinute(stats.protocolErrors), gate.max, "");
    case "connectErrorsPerMinute":
      return upTo(perMinute(stats.hub.connectErrors), gate.max, "");
    case "promql":
      return upTo(promql.get(gate.name), gate.max, "the query returned no number");
    default: {
      const hub = stats.hub;
      const legacy = stats.legacy;
      const enough = (side: BackendWindow) => side.routed >= Math.max(1, plan.minSessions);
      if (!enough(hub) || !enough(legacy)) {
        const short = !enough(hub) ? `hub ${hub.routed}` : `legacy ${legacy.routed}`;
        return {
          ...base,
          status: "inconclusive",
          value: undefined,
          limit: undefined,
          detail: `${gate.name}: ${short} sessions < minSessions ${plan.minSessions}`,
        };
      }
      const value = compareValue(gate.gate, hub);
      const baseline = gate.gate === "connectErrorRate" ? legacyConnectErrorRate(legacy) : compareValue(gate.gate, legacy);
      if (value === undefined || baseline === undefined)
        return { ...base, status: "inconclusive", value, baseline, limit: undefined, detail: `${gate.name}: no samples` };
      const limit = baseline + gate.margin;
      const failed = value > limit;
      return {
        ...base,
        status: failed ? "fail" : "pass",
        value: round(value),
        baseline: round(baseline),
        limit: round(limit),
        detail: `${gate.name} ${round(value)} ${failed ? ">" : "≤"} ${round(limit)} (legacy ${round(baseline)} + margin ${gate.margin})`,
      };
    }
  }
}

/**
 * One check over one interval: every gate, plus the volume check (the hub must have had minSessions sessions,
 * or nothing can be said). A failing gate fails the check even when others are inconclusive: a hub that
 * refuses every connection should not hide behind too little traffic.
 */
export function runCheck(stats: WindowStats, plan: RolloutPlan, promql: ReadonlyMap<string, number | undefined> = new Map()): CheckResult {
  const volume: GateResult = {
    name: "sessions",
    gate: "sessions",
    status: stats.hub.routed >= plan.minSessions ? "pass" : "inconclusive",
    value: stats.hub.routed,
    limit: plan.minSessions,
    detail: `hub sessions ${stats.hub.routed} ${stats.hub.routed >= plan.minSessions ? "≥" : "<"} minSessions ${plan.minSessions}`,
  };
  const gates = [volume, ...plan.gates.map((gate) => judgeGate(gate, stats, plan, promql))];
  const failed = gates.filter((gate) => gate.status === "fail");
  const unsure = gates.filter((gate) => gate.status === "inconclusive");
  if (failed.length > 0) return { verdict: "fail", gates, reason: failed.map((gate) => gate.detail).join("; ") };
  if (unsure.length > 0) return { verdict: "inconclusive", gates, reason: unsure.map((gate) => gate.detail).join("; ") };
  return { verdict: "pass", gates, reason: `all ${gates.length} checks passed` };
}
