/**
 * A rollout plan: how the hub's share grows step by step, how long each step is watched, and which gates
 * decide. Pure: a validator that names every problem by its JSON path (`rollout.plan.gates[2].margin: ...`)
 * and refuses unknown keys, as the routing document does, so that a plan is checked once, up front.
 *
 *   {
 *     "steps": [1, 5, 25, 50, 100],      // or "stepWeight": 10, "maxWeight": 100 (10, 20, ... 100)
 *     "interval": "5m",                  // one check per interval: "300ms", "30s", "5m", "1h" or milliseconds
 *     "threshold": 3,                    // failed checks that roll back
 *     "minSessions": 200,                // hub sessions per interval below which rate gates are inconclusive
 *     "minComparisons": 1000,            // shadow comparisons per interval below which shadow gates are inconclusive
 *     "shortSessionSeconds": 10,         // a session that ends sooner is "short"
 *     "gates": [{"gate": "mismatchRate", "max": 0.01}, {"gate": "connectErrorRate", "margin": 0.02}, ...],
 *     "drain": {"window": "2m", "jitter": 0.5, "maxRate": 50},
 *     "rollback": {"mode": "immediate"}  // or "stepped": down one step per interval
 *   }
 */
import { Problems, array, deepFreeze, describe, integer, join, noDuplicates, object, percent, string } from "../config/config-checks.js";

/** Gates over the shadow comparison of one interval: a share of the comparisons, at most `max`. */
export const SHADOW_GATES = ["mismatchRate", "missingRate", "extraRate"] as const;
/** Hub against legacy over the same interval: fails when the hub's value exceeds legacy's by more than `margin`. */
export const COMPARE_GATES = [
  "connectErrorRate",
  "upstreamCloseRate",
  "fallbackRate",
  "shortSessionRate",
  "protocolErrorRate",
  "connectLatencyP99",
  "ackLatencyP99",
] as const;
/** Absolute limits per minute over the interval, whatever the data volume. */
export const ABSOLUTE_GATES = ["fallbacksPerMinute", "protocolErrorsPerMinute", "connectErrorsPerMinute"] as const;

export type ShadowGate = (typeof SHADOW_GATES)[number];
export type CompareGate = (typeof COMPARE_GATES)[number];
export type AbsoluteGate = (typeof ABSOLUTE_GATES)[number];

export type GateSpec =
  | { readonly gate: ShadowGate | AbsoluteGate; readonly name: string; readonly max: number }
  | { readonly gate: CompareGate; readonly name: string; readonly margin: number }
  | { readonly gate: "promql"; readonly name: string; readonly query: string; readonly max: number };

export type RollbackMode = "immediate" | "stepped";

export interface RolloutPlan {
  /** Hub weights in percent, strictly increasing. */
  readonly steps: readonly number[];
  readonly intervalMs: number;
  readonly threshold: number;
  readonly minSessions: number;
  readonly minComparisons: number;
  readonly shortSessionSeconds: number;
  readonly gates: readonly GateSpec[];
  /** Moved sessions are closed over `windowMs`, each delay varied by ±jitter, at most `maxRate` per second per instance. */
  readonly drain: { readonly windowMs: number; readonly jitter: number; readonly maxRate: number };
  readonly rollback: { readonly mode: RollbackMode };
}

export type PlanResult = { readonly ok: true; readonly plan: RolloutPlan } | { readonly ok: false; readonly problems: readonly string[] };

export const PLAN_DEFAULTS = Object.freeze({
  threshold: 3,
  minSessions: 100,
  minComparisons: 0,
  shortSessionSeconds: 10,
  drainJitter: 0.5,
  drainMaxRate: 100,
  rollback: "immediate" as RollbackMode,
});
const MIN_INTERVAL_MS = 100;
const MAX_INTERVAL_MS = 24 * 3600_000;
const MAX_STEPS = 100;
const MAX_GATES = 32;
const PLAN_KEYS = [
  "steps",
  "stepWeight",
  "maxWeight",
  "interval",
  "threshold",
  "minSessions",
  "minComparisons",
  "shortSessionSeconds",
  "gates",
  "drain",
  "rollback",
];
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3600_000 };

/** "300ms", "30s", "5m", "1h", "1.5s" or a number of milliseconds → milliseconds; a reason when invalid. */
export function parseDuration(value: unknown): number | string {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? Math.round(value) : `must be a duration (got ${value})`;
  const match = typeof value === "string" ? /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value.trim()) : null;
  if (match === null) return `must be a duration such as "300ms", "30s", "5m", "1h" (got ${describe(value)})`;
  return Math.round(Number(match[1]) * (UNITS[match[2]!] ?? 1));
}

/** Milliseconds written back the way an operator reads them: 300000 → "5m". */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ["h", 3600_000],
    ["m", 60_000],
    ["s", 1000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return ms >= 1000 ? `${ms / 1000}s` : `${ms}ms`;
}

function duration(value: unknown, path: string, min: number, max: number, problems: Problems): number | undefined {
  const ms = parseDuration(value);
  if (typeof ms === "string") return problems.add(path, ms);
  if (ms < min || ms > max)
    return problems.add(path, `must be between ${formatDuration(min)} and ${formatDuration(max)} (got ${describe(value)})`);
  return ms;
}

function fraction(value: unknown, path: string, max: number, problems: Problems): number | undefined {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > max)
    return problems.add(path, `must be a number 0-${max} (got ${describe(value)})`);
  return value;
}

function stepsOf(raw: Record<string, unknown>, path: string, problems: Problems): number[] | undefined {
  if (raw.steps !== undefined) {
    if (raw.stepWeight !== undefined || raw.maxWeight !== undefined)
      return problems.add(join(path, "steps"), "give either steps or stepWeight/maxWeight, not both");
    const steps = array(raw.steps, join(path, "steps"), MAX_STEPS, problems, (item, itemPath) => percent(item, itemPath, problems));
    if (steps === undefined) return undefined;
    if (steps.length === 0) return problems.add(join(path, "steps"), "must name at least one weight");
    steps.forEach((step, index) => {
      if (step <= 0) problems.add(join(join(path, "steps"), index), "must be greater than 0");
      if (index > 0 && step <= steps[index - 1]!)
        problems.add(join(join(path, "steps"), index), `must be greater than the step before it (${steps[index - 1]})`);
    });
    return steps;
  }
  if (raw.stepWeight === undefined) return problems.add(join(path, "steps"), "is required (or stepWeight, with an optional maxWeight)");
  const stepWeight = percent(raw.stepWeight, join(path, "stepWeight"), problems);
  const maxWeight = raw.maxWeight === undefined ? 100 : percent(raw.maxWeight, join(path, "maxWeight"), problems);
  if (stepWeight === undefined || maxWeight === undefined) return undefined;
  if (stepWeight <= 0) return problems.add(join(path, "stepWeight"), "must be greater than 0");
  if (maxWeight < stepWeight) return problems.add(join(path, "maxWeight"), `must be at least stepWeight (${stepWeight})`);
  const steps: number[] = [];
  for (let n = 1; steps.length < MAX_STEPS && n * stepWeight < maxWeight - 1e-9; n++) steps.push(Math.round(n * stepWeight * 100) / 100);
  steps.push(maxWeight);
  return steps;
}

function gateOf(value: unknown, path: string, problems: Problems): GateSpec | undefined {
  const kind = (value as { gate?: unknown } | null)?.gate;
  const known = [...SHADOW_GATES, ...COMPARE_GATES, ...ABSOLUTE_GATES, "promql"];
  if (typeof kind !== "string" || !known.includes(kind)) {
    if (value === null || typeof value !== "object" || Array.isArray(value))
      return problems.add(path, `must be an object (got ${describe(value)})`);
    return problems.add(join(path, "gate"), `must be one of ${known.join(", ")} (got ${describe(kind)})`);
  }
  if ((COMPARE_GATES as readonly string[]).includes(kind)) {
    const raw = object(value, path, ["gate", "name", "margin"], problems);
    const margin = fraction(raw?.margin, join(path, "margin"), Number.MAX_SAFE_INTEGER, problems);
    const name = raw?.name === undefined ? kind : string(raw.name, join(path, "name"), 1, 64, problems);
    return margin === undefined || name === undefined ? undefined : { gate: kind as CompareGate, name, margin };
  }
  if (kind === "promql") {
    const raw = object(value, path, ["gate", "name", "query", "max"], problems);
    const query = string(raw?.query, join(path, "query"), 1, 4096, problems);
    const max = fraction(raw?.max, join(path, "max"), Number.MAX_SAFE_INTEGER, problems);
    const name = raw?.name === undefined ? "promql" : string(raw.name, join(path, "name"), 1, 64, problems);
    return query === undefined || max === undefined || name === undefined ? undefined : { gate: "promql", name, query, max };
  }
  const raw = object(value, path, ["gate", "name", "max"], problems);
  const isRate = (SHADOW_GATES as readonly string[]).includes(kind);
  const max = fraction(raw?.max, join(path, "max"), isRate ? 1 : Number.MAX_SAFE_INTEGER, problems);
  const name = raw?.name === undefined ? kind : string(raw.name, join(path, "name"), 1, 64, problems);
  return max === undefined || name === undefined ? undefined : { gate: kind as ShadowGate | AbsoluteGate, name, max };
}

/** Validates a plan at `path` (the JSON path of the plan in its document; "" when alone). Pure. */
export function validatePlan(input: unknown, path = ""): PlanResult {
  const problems = new Problems();
  const plan = planOf(input, path, problems);
  if (plan === undefined || !problems.empty) return { ok: false, problems: Object.freeze(problems.list) };
  return { ok: true, plan: deepFreeze(plan) };
}

export function planOf(input: unknown, path: string, problems: Problems): RolloutPlan | undefined {
  const raw = object(input, path, PLAN_KEYS, problems);
  if (raw === undefined) return undefined;
  const steps = stepsOf(raw, path, problems);
  const intervalMs =
    raw.interval === undefined
      ? problems.add(join(path, "interval"), 'is required (a duration such as "5m")')
      : duration(raw.interval, join(path, "interval"), MIN_INTERVAL_MS, MAX_INTERVAL_MS, problems);
  const count = (key: string, fallback: number, min: number) =>
    raw[key] === undefined ? fallback : integer(raw[key], join(path, key), min, 1_000_000_000, problems);
  const threshold = count("threshold", PLAN_DEFAULTS.threshold, 1);
  const minSessions = count("minSessions", PLAN_DEFAULTS.minSessions, 0);
  const minComparisons = count("minComparisons", PLAN_DEFAULTS.minComparisons, 0);
  const shortSessionSeconds = count("shortSessionSeconds", PLAN_DEFAULTS.shortSessionSeconds, 1);
  const gates =
    raw.gates === undefined
      ? []
      : array(raw.gates, join(path, "gates"), MAX_GATES, problems, (item, itemPath) => gateOf(item, itemPath, problems));
  noDuplicates(raw.gates, join(path, "gates"), problems, (item) => {
    const gate = item as { gate?: unknown; name?: unknown } | null;
    return typeof gate?.name === "string" ? gate.name : typeof gate?.gate === "string" ? gate.gate : undefined;
  });
  const drainRaw = raw.drain === undefined ? {} : object(raw.drain, join(path, "drain"), ["window", "jitter", "maxRate"], problems);
  const drainPath = join(path, "drain");
  const windowMs =
    drainRaw?.window === undefined
      ? intervalMs === undefined
        ? undefined
        : Math.floor(intervalMs / 2)
      : duration(drainRaw.window, join(drainPath, "window"), 0, MAX_INTERVAL_MS, problems);
  const jitter =
    drainRaw?.jitter === undefined ? PLAN_DEFAULTS.drainJitter : fraction(drainRaw.jitter, join(drainPath, "jitter"), 1, problems);
  const maxRate =
    drainRaw?.maxRate === undefined
      ? PLAN_DEFAULTS.drainMaxRate
      : integer(drainRaw.maxRate, join(drainPath, "maxRate"), 1, 100_000, problems);
  const rollbackRaw = raw.rollback === undefined ? {} : object(raw.rollback, join(path, "rollback"), ["mode"], problems);
  const mode = rollbackRaw?.mode ?? PLAN_DEFAULTS.rollback;
  if (mode !== "immediate" && mode !== "stepped")
    problems.add(join(join(path, "rollback"), "mode"), `must be "immediate" or "stepped" (got ${describe(mode)})`);
  if (
    steps === undefined ||
    intervalMs === undefined ||
    threshold === undefined ||
    minSessions === undefined ||
    minComparisons === undefined ||
    shortSessionSeconds === undefined ||
    gates === undefined ||
    windowMs === undefined ||
    jitter === undefined ||
    maxRate === undefined
  )
    return undefined;
  return {
    steps,
    intervalMs,
    threshold,
    minSessions,
    minComparisons,
    shortSessionSeconds,
    gates,
    drain: { windowMs, jitter, maxRate },
    rollback: { mode: mode as RollbackMode },
  };
}

/** The plan as a document again (durations written back as text), e.g. for `rollout status -o yaml`. */
export function planDocument(plan: RolloutPlan): Record<string, unknown> {
  return {
    steps: [...plan.steps],
    interval: formatDuration(plan.intervalMs),
    threshold: plan.threshold,
    minSessions: plan.minSessions,
    minComparisons: plan.minComparisons,
    shortSessionSeconds: plan.shortSessionSeconds,
    gates: plan.gates.map((gate) => ({ ...gate })),
    drain: { window: formatDuration(plan.drain.windowMs), jitter: plan.drain.jitter, maxRate: plan.drain.maxRate },
    rollback: { ...plan.rollback },
  };
}
