/**
 * The rollout controller. It runs in every gateway:
 * - every instance counts its share of each interval (window-counters.ts) and, when a rollout transition
 *   changes the split, drains its own sessions whose bucket moved, paced over the plan's drain window
 *   (so a step reaches open connections without a reconnect storm, and unmoved sessions are never touched);
 * - one instance leads (lease.ts): at the end of each interval it judges the cluster's numbers
 *   (gates.ts), decides (decision.ts) and writes the new state and weight into the routing document in one
 *   compare-and-set, with an audit entry carrying the numbers. The state lives in the document, so a new
 *   leader resumes at the same step; while Redis is unreachable nobody can read the interval or write,
 *   so the rollout holds, and resumes when Redis is back (the document is re-seeded if Redis lost it).
 * Operator commands (start, pause, resume, promote, abort) are compare-and-sets too, made by whichever
 * instance received them; every instance sees them within the store's propagation time.
 */
import type { Logger } from "pino";
import type { RoutingConfig } from "../config/routing-config.js";
import { RoutingConfigError } from "../config/routing-config.js";
import { SwitchyardError } from "../errors.js";
import type { DrainRunner } from "../ops/drain-runner.js";
import { RoutingConflictError, type Actor, type RoutingStore } from "../store/routing-store.js";
import { publish, type Unsubscribe } from "../telemetry/events.js";
import { decide, firstJudgeableWindow, initialState, isActive, type RolloutEvent, type RolloutState, type Transition } from "./decision.js";
import { runCheck, type CheckResult } from "./gates.js";
import type { Lease } from "./lease.js";
import { formatDuration, planDocument, validatePlan, type RolloutPlan } from "./plan.js";
import { queryPromql } from "./promql.js";
import { planOfSection, type RolloutSection } from "./rollout-section.js";
import { FLUSH_MS, windowOf, type WindowCounters } from "./window-counters.js";

export interface RolloutControllerOptions {
  readonly store: RoutingStore;
  readonly drains: DrainRunner;
  readonly counters: WindowCounters;
  readonly lease: Lease;
  readonly logger: Logger;
  /** PROMETHEUS_URL, for `promql` gates. */
  readonly prometheusUrl?: string | undefined;
  /** How often the leader looks for a finished interval (default 100 ms). */
  readonly tickMs?: number;
  /** How long after an interval ends before it is read: every instance's counts must have been flushed. */
  readonly graceMs?: number;
  readonly now?: () => number;
}

export type RolloutCommand = Exclude<RolloutEvent["kind"], "check">;

export interface RolloutStatus {
  readonly rollout: RolloutSection | null;
  readonly version: number;
  readonly leader: string | undefined;
  /** Epoch ms at which the next interval will be judged (undefined when none will be). */
  readonly nextCheckAt: number | undefined;
  readonly now: number;
  readonly instanceId: string;
  /** This instance's routing store: while "degraded" (Redis unreachable) the rollout holds. */
  readonly store: string;
}

const DEFAULT_TICK_MS = 100;
const UPDATE_ATTEMPTS = 3;
/** Intervals a leader may be behind and still judge in order. */
const MAX_CATCH_UP = 5;

export class RolloutController {
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly graceMs: number;
  private readonly unsubscribe: Unsubscribe;
  private readonly timer: NodeJS.Timeout;
  private busy = false;
  private fence: number | undefined;

  constructor(private readonly options: RolloutControllerOptions) {
    this.log = options.logger.child({ component: "rollout" });
    this.now = options.now ?? Date.now;
    this.graceMs = options.graceMs ?? 3 * FLUSH_MS;
    this.unsubscribe = options.store.onChange((config, previous) => this.applied(config, previous));
    this.applied(options.store.current(), undefined);
    this.timer = setInterval(() => void this.tick(), options.tickMs ?? DEFAULT_TICK_MS);
    this.timer.unref();
  }

  get isLeader(): boolean {
    return this.fence !== undefined;
  }

  /** Every instance, on every applied document: count for the active rollout, drain what its transition moved. */
  private applied(config: RoutingConfig, previous: RoutingConfig | undefined): void {
    const section = config.rollout;
    if (section === undefined) return this.options.counters.countFor(undefined);
    const plan = planOfSection(section);
    const { state } = section;
    this.options.counters.countFor(
      isActive(state) ? { rolloutId: state.id, intervalMs: plan.intervalMs, shortSessionMs: plan.shortSessionSeconds * 1000 } : undefined,
    );
    const before = previous?.rollout?.state;
    const transitioned = before === undefined || before.id !== state.id || before.seq !== state.seq;
    if (previous !== undefined && transitioned && previous.hubPercent !== config.hubPercent)
      this.drainMoved(plan, state, previous.hubPercent, config.hubPercent);
    publish("switchyard:rollout:state", {
      id: state.id,
      phase: state.phase,
      weight: state.weight,
      step: state.step,
      gates: (state.lastCheck?.gates ?? []).map(({ name, value, limit }) => ({ name, value, limit })),
      leader: this.isLeader,
    });
  }

  private drainMoved(plan: RolloutPlan, state: RolloutState, from: number, to: number): void {
    const up = to > from;
    const buckets = { from: Math.round(Math.min(from, to) * 100), to: Math.round(Math.max(from, to) * 100) };
    this.options.drains.startMoved({
      id: `rollout-${state.id}-${state.seq}`,
      // Raising the weight moves buckets from legacy to the hub; lowering it, back.
      backend: up ? "legacy" : "hub",
      buckets,
      windowMs: plan.drain.windowMs,
      jitter: plan.drain.jitter,
      maxRate: plan.drain.maxRate,
    });
  }

  private async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      await this.lead();
    } catch (error) {
      // A conflict (an operator's command won the race) or an outage: the next tick sees the new state.
      if (!(error instanceof RoutingConflictError)) this.log.debug({ err: (error as Error).message }, "rollout tick failed");
    } finally {
      this.busy = false;
    }
  }

  private async lead(): Promise<void> {
    const { store, lease } = this.options;
    const config = store.current();
    const section = config.rollout;
    if (section === undefined || !isActive(section.state) || store.health().state !== "connected") {
      if (section !== undefined && !isActive(section.state) && this.fence !== undefined) {
        this.fence = undefined;
        await lease.release();
      }
      return;
    }
    const { state } = section;
    const fence = await lease.acquire(state.fence + 1).catch(() => undefined);
    if (fence === undefined || fence < state.fence) {
      this.fence = undefined;
      return;
    }
    if (this.fence !== fence) this.log.info({ fence, step: state.step + 1, weight: state.weight }, "leading the rollout");
    this.fence = fence;
    if (state.phase === "paused") return;
    const plan = planOfSection(section);
    const now = this.now();
    // The oldest interval not judged yet: a slow tick (a busy instance, a slow Redis) catches up instead of
    // skipping one, so that `threshold` failures are `threshold` consecutive intervals. A new leader, or one
    // back from an outage, starts near the present rather than judging long-gone intervals.
    const latest = windowOf(now - this.graceMs, plan.intervalMs) - 1;
    const window = Math.max(firstJudgeableWindow(state, plan.intervalMs), latest - MAX_CATCH_UP);
    if (window > latest) return;
    const stats = await this.options.counters.read(state.id, window, plan.intervalMs);
    const promql = await queryPromql(this.options.prometheusUrl, plan.gates);
    const result = runCheck(stats, plan, promql);
    publish("switchyard:rollout:check", { verdict: result.verdict });
    const transition = decide(plan, state, { kind: "check", window, result }, now);
    const actor = { address: "", identity: `rollout-controller@${store.instanceId} (fence ${fence})` };
    await this.write(config, section, transition, fence, actor, result);
  }

  private async write(
    config: RoutingConfig,
    section: RolloutSection,
    transition: Transition,
    fence: number,
    actor: Actor,
    result?: CheckResult,
  ): Promise<RoutingConfig> {
    const before = section.state;
    const state = { ...transition.state, fence: Math.max(fence, transition.state.fence) };
    const document = { ...config, hubPercent: state.weight, rollout: { plan: section.plan, state } };
    const update = await this.options.store.update(document, config.version);
    const moved = before.phase !== state.phase || before.weight !== state.weight;
    if (moved)
      publish("switchyard:rollout:transition", { from: before.phase, to: state.phase, trigger: transition.trigger, weight: state.weight });
    // Once a check has failed, every later check is audited too: the road to a rollback is on record, interval by interval.
    if (moved || result?.verdict === "fail" || transition.trigger === "operator" || (result !== undefined && before.failedChecks > 0)) {
      const window = transition.state.lastCheck?.window;
      const judged = result === undefined || window === undefined ? [] : [`window ${window}: ${result.verdict}`];
      const numbers = [...judged, ...(result?.gates.map((gate) => `${gate.status}: ${gate.detail}`) ?? [])];
      await this.options.store.audit({
        action: `rollout.${transition.trigger === "automatic" ? "check" : "command"}`,
        changes: [transition.summary, ...numbers, ...update.changes.filter((line) => line.startsWith("hubPercent"))],
        version: update.config.version,
        actor,
      });
    }
    return update.config;
  }

  /** Starts a rollout (none may be active): the first step is taken at once. */
  async start(input: unknown, actor: Actor, expectedVersion?: number): Promise<RoutingConfig> {
    const checked = validatePlan(input, "plan");
    if (!checked.ok) throw new RoutingConfigError(checked.problems);
    const plan = checked.plan;
    const config = await this.options.store.refresh();
    if (isActive(config.rollout?.state))
      throw new SwitchyardError("SWY_ERR_ROLLOUT_ACTIVE", `rollout ${config.rollout?.state.id} is ${config.rollout?.state.phase}`);
    const id = `r${this.now().toString(36)}`;
    const state = initialState(plan, id, config.hubPercent, this.now(), config.rollout?.state.fence ?? 0);
    const document = { ...config, hubPercent: state.weight, rollout: { plan: planDocument(plan), state } };
    const update = await this.options.store.update(document, expectedVersion ?? config.version);
    publish("switchyard:rollout:transition", { from: "none", to: state.phase, trigger: "operator", weight: state.weight });
    await this.options.store.audit({
      action: "rollout.start",
      changes: [
        `rollout ${id}: steps ${plan.steps.join(", ")}% every ${formatDuration(plan.intervalMs)}, threshold ${plan.threshold}`,
        state.reason,
        ...update.changes.filter((line) => line.startsWith("hubPercent")),
      ],
      version: update.config.version,
      actor,
    });
    return update.config;
  }

  /** pause, resume, promote (next step), promote-full (100 %), abort: on top of whatever is stored now. */
  async command(kind: RolloutCommand, actor: Actor): Promise<{ config: RoutingConfig; changed: boolean; summary: string }> {
    for (let attempt = 1; ; attempt++) {
      const config = await this.options.store.refresh();
      const section = config.rollout;
      if (section === undefined || !isActive(section.state))
        throw new SwitchyardError(
          "SWY_ERR_ROLLOUT_NONE",
          section === undefined ? "none was started" : `the last one is ${section.state.phase}`,
        );
      const transition = decide(planOfSection(section), section.state, { kind }, this.now());
      if (!transition.changed) return { config, changed: false, summary: transition.summary };
      try {
        const stored = await this.write(config, section, transition, section.state.fence, actor);
        return { config: stored, changed: true, summary: transition.summary };
      } catch (error) {
        if (!(error instanceof RoutingConflictError) || attempt >= UPDATE_ATTEMPTS) throw error;
      }
    }
  }

  async status(): Promise<RolloutStatus> {
    const config = this.options.store.current();
    const section = config.rollout;
    let nextCheckAt: number | undefined;
    if (section !== undefined && isActive(section.state) && section.state.phase !== "paused") {
      const interval = planOfSection(section).intervalMs;
      nextCheckAt = (firstJudgeableWindow(section.state, interval) + 1) * interval + this.graceMs;
    }
    const leader = await this.options.lease.holder().catch(() => undefined);
    return {
      rollout: section ?? null,
      version: config.version,
      leader,
      nextCheckAt,
      now: this.now(),
      instanceId: this.options.store.instanceId,
      store: this.options.store.health().state,
    };
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.unsubscribe();
    if (this.fence !== undefined) await this.options.lease.release().catch(() => undefined);
    this.fence = undefined;
  }
}
