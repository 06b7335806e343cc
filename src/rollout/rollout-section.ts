/**
 * The `rollout` section of the routing document: the plan (as written, durations as text) and the state
 * the controller keeps. Stored with the routing state so that it is versioned with it, changed only by
 * compare-and-set, seen by every instance within a second, and re-seeded with it after a Redis restart.
 *
 *   "rollout": {"plan": {...see plan.ts...}, "state": {"id": "r-1a2b", "phase": "progressing", "step": 2, ...}}
 */
import { Problems, array, describe, integer, join, object, percent, string } from "../config/config-checks.js";
import { PHASES, decide, isActive, type GateSummary, type Phase, type RolloutState } from "./decision.js";
import type { RoutingConfig } from "../config/routing-config.js";
import type { GateStatus } from "./gates.js";
import { planDocument, planOf, type RolloutPlan } from "./plan.js";

export interface RolloutSection {
  /** The plan as a document (planDocument's form). */
  readonly plan: Readonly<Record<string, unknown>>;
  readonly state: RolloutState;
}

const STATE_KEYS = [
  "id",
  "phase",
  "step",
  "weight",
  "startWeight",
  "startedAt",
  "stepAt",
  "failedChecks",
  "lastWindow",
  "lastCheck",
  "reason",
  "seq",
  "fence",
];
const MAX_TIME = 8.64e15;
const STATUSES = ["pass", "fail", "inconclusive"] as const;

function gateSummaryOf(value: unknown, path: string, problems: Problems): GateSummary | undefined {
  const raw = object(value, path, ["name", "status", "value", "baseline", "limit"], problems);
  const name = string(raw?.name, join(path, "name"), 1, 64, problems);
  const status = STATUSES.includes(raw?.status as GateStatus)
    ? (raw?.status as GateStatus)
    : problems.add(join(path, "status"), `must be pass, fail or inconclusive (got ${describe(raw?.status)})`);
  const numberAt = (key: string): number | undefined => {
    const v = raw?.[key];
    if (v === undefined || v === null) return undefined;
    return typeof v === "number" && Number.isFinite(v) ? v : problems.add(join(path, key), `must be a number (got ${describe(v)})`);
  };
  if (name === undefined || status === undefined) return undefined;
  return { name, status, value: numberAt("value"), baseline: numberAt("baseline"), limit: numberAt("limit") };
}

function stateOf(value: unknown, path: string, steps: number, problems: Problems): RolloutState | undefined {
  const raw = object(value, path, STATE_KEYS, problems);
  if (raw === undefined) return undefined;
  const at = (key: string, min = 0, max = MAX_TIME) => integer(raw[key], join(path, key), min, max, problems);
  const id = string(raw.id, join(path, "id"), 1, 64, problems);
  const phase = PHASES.includes(raw.phase as Phase)
    ? (raw.phase as Phase)
    : problems.add(join(path, "phase"), `must be one of ${PHASES.join(", ")} (got ${describe(raw.phase)})`);
  const step = at("step", -1, Math.max(0, steps - 1));
  const weight = percent(raw.weight, join(path, "weight"), problems);
  const startWeight = percent(raw.startWeight, join(path, "startWeight"), problems);
  const reason = string(raw.reason, join(path, "reason"), 0, 4096, problems);
  let lastCheck: RolloutState["lastCheck"];
  if (raw.lastCheck !== undefined && raw.lastCheck !== null) {
    const check = object(raw.lastCheck, join(path, "lastCheck"), ["window", "verdict", "reason", "gates"], problems);
    const window = integer(check?.window, join(path, "lastCheck.window"), 0, MAX_TIME, problems);
    const verdict = ["pass", "fail", "inconclusive"].includes(check?.verdict as string)
      ? (check?.verdict as "pass" | "fail" | "inconclusive")
      : problems.add(join(path, "lastCheck.verdict"), `must be pass, fail or inconclusive (got ${describe(check?.verdict)})`);
    const why = string(check?.reason, join(path, "lastCheck.reason"), 0, 4096, problems);
    const gatesPath = join(path, "lastCheck.gates");
    const gates = array(check?.gates ?? [], gatesPath, 64, problems, (item, itemPath) => gateSummaryOf(item, itemPath, problems));
    if (window !== undefined && verdict !== undefined && why !== undefined && gates !== undefined)
      lastCheck = { window, verdict, reason: why, gates };
  }
  const numbers = {
    startedAt: at("startedAt"),
    stepAt: at("stepAt"),
    failedChecks: at("failedChecks"),
    lastWindow: at("lastWindow", -1),
    seq: at("seq"),
    fence: at("fence"),
  };
  if (
    id === undefined ||
    phase === undefined ||
    step === undefined ||
    weight === undefined ||
    startWeight === undefined ||
    reason === undefined
  )
    return undefined;
  if (Object.values(numbers).some((n) => n === undefined)) return undefined;
  return { id, phase, step, weight, startWeight, reason, lastCheck, ...(numbers as Record<keyof typeof numbers, number>) };
}

/** Validates the section at `path` ("rollout"); records problems. */
export function validateRolloutSection(value: unknown, path: string, problems: Problems): RolloutSection | undefined {
  const raw = object(value, path, ["plan", "state"], problems);
  if (raw === undefined) return undefined;
  const plan = planOf(raw.plan, join(path, "plan"), problems);
  if (plan === undefined) return undefined;
  const state = stateOf(raw.state, join(path, "state"), plan.steps.length, problems);
  if (state === undefined) return undefined;
  return { plan: planDocument(plan), state };
}

const parsed = new WeakMap<object, RolloutPlan>();

/** The parsed plan of a validated section (cached per section object). */
export function planOfSection(section: RolloutSection): RolloutPlan {
  let plan = parsed.get(section);
  if (plan === undefined) {
    const problems = new Problems();
    plan = planOf(section.plan, "rollout.plan", problems);
    // A validated section always parses; a failure here is a bug, and loud.
    if (plan === undefined) throw new Error(`stored rollout plan does not parse: ${problems.list.join("; ")}`);
    parsed.set(section, plan);
  }
  return plan;
}

/** The rollout section aborted by the operator's `rollback` (weight 0); undefined when no rollout is active. */
export function abortedRollout(config: RoutingConfig, now: number): RolloutSection | undefined {
  const section = config.rollout;
  if (section === undefined || !isActive(section.state)) return undefined;
  return { plan: section.plan, state: decide(planOfSection(section), section.state, { kind: "abort" }, now).state };
}
