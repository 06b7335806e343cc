/**
 * The rollout as a pure state machine: the state stored in the routing document, and what one event
 * (a check at the end of an interval, or an operator's command) does to it. No clock, no I/O: the
 * controller feeds events in and writes the new state and weight in one compare-and-set.
 *
 *   progressing ──check pass──► next step (last step passed, or 100 reached: promoted)
 *       │  ▲ ──check inconclusive──► holding (same step, says why) ──check pass──► next step
 *       │  └────── resume ◄── paused ◄── pause
 *       └── threshold failed checks ──► rolled-back (immediate: weight 0 at once)
 *                                   └─► rolling-back (stepped: one step down per interval) ──► rolled-back
 *   abort (any active phase) ──► aborted (weight 0);  promote ──► next step;  promote --full ──► promoted (100)
 */
import type { CheckResult, GateStatus } from "./gates.js";
import type { RolloutPlan } from "./plan.js";

export const PHASES = ["progressing", "holding", "paused", "rolling-back", "promoted", "rolled-back", "aborted"] as const;
export type Phase = (typeof PHASES)[number];
export const ACTIVE_PHASES: readonly Phase[] = Object.freeze(["progressing", "holding", "paused", "rolling-back"]);

export type Trigger = "operator" | "automatic";

export interface RolloutState {
  /** Names the rollout (window counters are kept per id). */
  readonly id: string;
  readonly phase: Phase;
  /** Index into plan.steps of the current weight; -1 before the first step (rolled back below it). */
  readonly step: number;
  /** The hub weight the rollout set (the routing document's hubPercent while it is active). */
  readonly weight: number;
  /** The weight before the rollout started. */
  readonly startWeight: number;
  readonly startedAt: number;
  /** When the current step (weight) was taken, or the rollout resumed: checks only judge intervals that start after it. */
  readonly stepAt: number;
  /** Failed checks since the start. */
  readonly failedChecks: number;
  /** The last interval judged (epoch index: start = index × interval). */
  readonly lastWindow: number;
  /** The last check's verdict, reason and gates, for status and `watch` on any instance. */
  readonly lastCheck: LastCheck | undefined;
  /** Why the last transition happened. */
  readonly reason: string;
  /** Bumped on every transition: instances drain moved sessions when it changes together with the weight. */
  readonly seq: number;
  /** The fencing token of the leader that wrote it; a leader holding a smaller one is stale. */
  readonly fence: number;
}

export interface GateSummary {
  readonly name: string;
  readonly status: GateStatus;
  readonly value?: number | undefined;
  readonly baseline?: number | undefined;
  readonly limit?: number | undefined;
}

export interface LastCheck {
  readonly window: number;
  readonly verdict: GateStatus;
  readonly reason: string;
  readonly gates: readonly GateSummary[];
}

export type RolloutEvent =
  | { readonly kind: "check"; readonly window: number; readonly result: CheckResult }
  | { readonly kind: "pause" | "resume" | "promote" | "promote-full" | "abort" };

export interface Transition {
  readonly state: RolloutState;
  /** Whether anything changed (a state to store). */
  readonly changed: boolean;
  /** A human line for the audit log: "step 2 → 3 (5% → 25%): all 4 checks passed". */
  readonly summary: string;
  readonly trigger: Trigger;
}

export function isActive(state: RolloutState | undefined): boolean {
  return state !== undefined && ACTIVE_PHASES.includes(state.phase);
}

/** The state right after `rollout start`: the first step taken. */
export function initialState(plan: RolloutPlan, id: string, startWeight: number, now: number, fence = 0): RolloutState {
  const first = plan.steps[0]!;
  return {
    id,
    phase: first >= 100 && plan.steps.length === 1 ? "promoted" : "progressing",
    step: 0,
    weight: first,
    startWeight,
    startedAt: now,
    stepAt: now,
    failedChecks: 0,
    lastWindow: -1,
    lastCheck: undefined,
    reason: `started at step 1 of ${plan.steps.length} (${first}%)`,
    seq: 1,
    fence,
  };
}

function weightAt(plan: RolloutPlan, step: number): number {
  return step < 0 ? 0 : plan.steps[step]!;
}

/** `step` taken: promoted when it is 100 % or the last step after a pass. */
function advance(plan: RolloutPlan, state: RolloutState, now: number, why: string, trigger: Trigger): Transition {
  const last = plan.steps.length - 1;
  if (state.step >= last) {
    return moved(
      state,
      { phase: "promoted", reason: `promoted at ${state.weight}%: ${why}` },
      now,
      trigger,
      `promoted at ${state.weight}%: ${why}`,
    );
  }
  const step = state.step + 1;
  const weight = weightAt(plan, step);
  const phase = weight >= 100 ? "promoted" : "progressing";
  const line = `step ${state.step + 1} → ${step + 1} (${state.weight}% → ${weight}%)${phase === "promoted" ? ", promoted" : ""}: ${why}`;
  return moved(state, { phase, step, weight, stepAt: now, reason: line }, now, trigger, line);
}

function moved(state: RolloutState, patch: Partial<RolloutState>, now: number, trigger: Trigger, summary: string): Transition {
  const weightChanged = patch.weight !== undefined && patch.weight !== state.weight;
  return {
    state: { ...state, ...patch, stepAt: weightChanged ? now : (patch.stepAt ?? state.stepAt), seq: state.seq + 1 },
    changed: true,
    summary,
    trigger,
  };
}

function rollBack(plan: RolloutPlan, state: RolloutState, now: number, why: string, trigger: Trigger): Transition {
  if (plan.rollback.mode === "stepped" && state.step > 0) {
    const step = state.step - 1;
    const weight = weightAt(plan, step);
    const line = `rolling back: ${state.weight}% → ${weight}%: ${why}`;
    return moved(state, { phase: "rolling-back", step, weight, reason: line }, now, trigger, line);
  }
  const line = `rolled back: ${state.weight}% → 0%: ${why}`;
  return moved(state, { phase: "rolled-back", step: -1, weight: 0, reason: line }, now, trigger, line);
}

/** What `event` does to `state` at `now` under `plan`. Pure. */
export function decide(plan: RolloutPlan, state: RolloutState, event: RolloutEvent, now: number): Transition {
  const same = (summary: string, trigger: Trigger = "operator"): Transition => ({ state, changed: false, summary, trigger });
  if (!isActive(state)) return same(`the rollout is ${state.phase}; nothing to do`);
  switch (event.kind) {
    case "pause":
      if (state.phase === "paused") return same("already paused");
      return moved(state, { phase: "paused", reason: `paused at ${state.weight}%` }, now, "operator", `paused at ${state.weight}%`);
    case "resume":
      if (state.phase !== "paused") return same(`not paused (${state.phase})`);
      // Intervals of the pause are not judged afterwards: whatever changed meanwhile (a fix, a fault), the rollout
      // is judged again on what happens from the resume on.
      return moved(
        state,
        { phase: "progressing", stepAt: now, reason: `resumed at ${state.weight}%` },
        now,
        "operator",
        `resumed at ${state.weight}%`,
      );
    case "promote":
      return advance(plan, state, now, "promoted by the operator", "operator");
    case "promote-full": {
      const line = `promoted: ${state.weight}% → 100% by the operator`;
      return moved(state, { phase: "promoted", step: plan.steps.length - 1, weight: 100, reason: line }, now, "operator", line);
    }
    case "abort": {
      const line = `aborted: ${state.weight}% → 0% by the operator`;
      return moved(state, { phase: "aborted", step: -1, weight: 0, reason: line }, now, "operator", line);
    }
    case "check":
      return check(plan, state, event.window, event.result, now);
  }
}

function check(plan: RolloutPlan, state: RolloutState, window: number, result: CheckResult, now: number): Transition {
  if (window <= state.lastWindow) return { state, changed: false, summary: `window ${window} already judged`, trigger: "automatic" };
  const gates = result.gates.map(({ name, status, value, baseline, limit }) => ({ name, status, value, baseline, limit }));
  const judged = { lastWindow: window, lastCheck: { window, verdict: result.verdict, reason: result.reason, gates } };
  const base: RolloutState = { ...state, ...judged };
  if (state.phase === "paused")
    return { state: base, changed: true, summary: `paused: check ${result.verdict} not acted on`, trigger: "automatic" };
  if (state.phase === "rolling-back") {
    // Stepped rollback goes down one step per interval, whatever the gates say now.
    const failed = { ...base, failedChecks: state.failedChecks + (result.verdict === "fail" ? 1 : 0) };
    return rollBack(plan, failed, now, `stepped rollback continues (${result.verdict})`, "automatic");
  }
  if (result.verdict === "fail") {
    const failedChecks = state.failedChecks + 1;
    const failed = { ...base, failedChecks };
    if (failedChecks >= plan.threshold)
      return rollBack(plan, failed, now, `${failedChecks} failed checks (threshold ${plan.threshold}): ${result.reason}`, "automatic");
    const line = `check failed (${failedChecks} of ${plan.threshold}) at ${state.weight}%: ${result.reason}`;
    return moved(failed, { phase: "holding", reason: line }, now, "automatic", line);
  }
  if (result.verdict === "inconclusive") {
    const line = `holding at ${state.weight}%: inconclusive: ${result.reason}`;
    return {
      state: { ...base, phase: "holding", reason: line, seq: state.seq + (state.phase === "holding" ? 0 : 1) },
      changed: true,
      summary: line,
      trigger: "automatic",
    };
  }
  return advance(plan, base, now, result.reason, "automatic");
}

/** The first interval a check may judge at this state: the first one that starts after the step was taken. */
export function firstJudgeableWindow(state: RolloutState, intervalMs: number): number {
  return Math.max(state.lastWindow + 1, Math.ceil(state.stepAt / intervalMs));
}
