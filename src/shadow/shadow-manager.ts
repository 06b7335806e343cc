/**
 * Shadowing for one gateway instance: attaches a ShadowTap to every session whose route says so, shares
 * the pending-comparison budget and the bounded event labels between them, expires comparison windows on
 * one timer, publishes outcomes as telemetry events and keeps mismatch evidence. The shadow config
 * (percent, window, rules) is read live from the routing store, so rule changes apply without restart.
 */
import type { Logger } from "pino";
import type { ShadowConfig } from "../config/shadow-config.js";
import type { ClientSession } from "../downstream/client-session.js";
import type { Route } from "../routing/route.js";
import { socketIoRevisionOf } from "../protocol/versions.js";
import { reportContained } from "../telemetry/containment.js";
import { publish } from "../telemetry/events.js";
import type { Backend } from "../domain.js";
import type { ClientContext } from "../upstream/client-context.js";
import type { Upstream } from "../upstream/upstream.js";
import { EventLabels, PendingBudget } from "./budget.js";
import { evidenceEntry, type DiffEvidence } from "./evidence.js";
import { FrameCache } from "./frame-cache.js";
import type { ComparisonOutcome } from "./outcome.js";
import { ShadowScheduler } from "./shadow-scheduler.js";
import { ShadowTap, type ShadowTapLimits } from "./shadow-tap.js";

export interface ShadowManagerOptions {
  readonly instanceId: string;
  readonly config: () => ShadowConfig;
  /** Opens the shadow of a session whose primary is on `primary` (the connector's openShadow). */
  readonly openShadow: (primary: Backend, context: ClientContext, sessionId: string) => Promise<Upstream>;
  readonly evidence: DiffEvidence;
  readonly limits: ShadowTapLimits;
  readonly logger: Logger;
}

/** Comparison windows are checked this often: outcomes are at most this late. */
const EXPIRE_INTERVAL_MS = 100;

export class ShadowManager {
  private readonly taps = new Map<ShadowTap, Backend>();
  private readonly budget: PendingBudget;
  private readonly labels: EventLabels;
  private readonly timer: NodeJS.Timeout;
  private readonly now = () => performance.now();
  /** The taps' deferred work, batched; and server packets decoded once for every session (broadcasts). */
  private readonly scheduler = new ShadowScheduler();
  private readonly frameCache = new FrameCache();

  constructor(private readonly options: ShadowManagerOptions) {
    this.budget = new PendingBudget(() => options.config().maxPending);
    this.labels = new EventLabels(options.config);
    this.timer = setInterval(() => this.expire(), EXPIRE_INTERVAL_MS);
    this.timer.unref();
  }

  get evidence(): DiffEvidence {
    return this.options.evidence;
  }

  get openShadows(): Record<Backend, number> {
    const counts: Record<Backend, number> = { legacy: 0, hub: 0 };
    for (const [tap, target] of this.taps) if (tap.active) counts[target]++;
    return counts;
  }

  /** Called when a session is bound to its primary upstream. */
  attach(session: ClientSession, route: Route, context: ClientContext): void {
    if (!session.shadowed || route.shadow === undefined || session.backend === undefined) return;
    const primary = session.backend;
    const target = route.shadow;
    const sessionId = session.id;
    const tap: ShadowTap = new ShadowTap({
      sessionId,
      derivedSocketIds: session.protocol === 3,
      implicitRootNamespace: session.protocol === 3,
      socketIoRevision: socketIoRevisionOf(session.protocol),
      open: () => this.options.openShadow(primary, context, sessionId),
      comparator: { config: this.options.config, budget: this.budget },
      limits: this.options.limits,
      now: this.now,
      scheduler: this.scheduler,
      frameCache: this.frameCache,
      onOutcome: (outcome) => this.onOutcome(sessionId, outcome),
      onOpened: () => publish("switchyard:shadow:session", { target, open: true }),
      onEnded: (code, detail, overflow) => {
        if (overflow !== undefined) publish("switchyard:shadow:overflow", { kind: overflow });
        if (code !== undefined) {
          publish("switchyard:shadow:error", { code });
          this.options.logger[code === "SWY_ERR_INTERNAL" ? "error" : "info"]({ sid: sessionId, code, detail }, "shadow session ended");
        }
        publish("switchyard:shadow:session", { target, open: false });
      },
    });
    this.taps.set(tap, target);
    session.setTap(tap);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.scheduler.close();
    for (const tap of this.taps.keys()) tap.comparator.close({ flush: true });
    this.taps.clear();
    await this.options.evidence.close();
  }

  private expire(): void {
    const now = this.now();
    for (const tap of this.taps.keys()) {
      try {
        tap.comparator.expire(now);
      } catch (error) {
        // A comparator bug on one session's payloads ends that session's comparison only.
        this.options.logger.error({ code: "SWY_ERR_INTERNAL", err: reportContained("shadow", error) }, "shadow comparison dropped");
        this.taps.delete(tap);
        try {
          tap.comparator.close(); // gives its pending budget back
        } catch {
          // Already counted and logged above; the comparator is gone either way.
        }
        continue;
      }
      if (tap.ended && tap.comparator.done) this.taps.delete(tap);
    }
  }

  private onOutcome(sessionId: string, outcome: ComparisonOutcome): void {
    if (outcome.result === "overflow") {
      publish("switchyard:shadow:overflow", { kind: "pending" });
      return;
    }
    // Deliveries whose partner was lost to an overflow would be counted twice: the overflow says it.
    if (outcome.afterOverflow === true) return;
    const delaySeconds = outcome.delayMs === undefined ? undefined : outcome.delayMs / 1000;
    publish("switchyard:shadow:comparison", {
      result: outcome.result,
      event: this.labels.label(outcome.kind === "ack" ? "$ack" : outcome.event),
      delaySeconds: outcome.result === "match" ? delaySeconds : undefined,
      reordered: outcome.reordered === true,
    });
    if (outcome.result !== "mismatch") return;
    this.options.evidence.record(
      evidenceEntry({
        at: new Date().toISOString(),
        instanceId: this.options.instanceId,
        sessionId,
        nsp: outcome.nsp,
        event: outcome.event,
        kind: outcome.kind,
        ackId: outcome.ackId,
        delayMs: outcome.delayMs,
        diff: outcome.diff ?? [],
        primary: outcome.primary,
        shadow: outcome.shadow,
      }),
    );
  }
}
