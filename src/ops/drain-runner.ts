/**
 * Paced drains: closing a share of one backend's sessions so that their clients reconnect under the
 * current split, a few at a time (at most `stepSize` every `stepMs`) so that the reconnects do not
 * arrive as one burst at the backend they move to. Each instance drains its own sessions; the routing
 * store fans a drain out to every instance.
 */
import type { Logger } from "pino";
import type { DrainCommand } from "../store/routing-store.js";
import type { Backend, ClientTransport, SessionCloseReason, SessionCounts } from "../domain.js";

/** What the admin API needs from the gateway; src/downstream/gateway.ts's Gateway satisfies it. */
export interface GatewayControl {
  sessionCounts(): SessionCounts;
  /** Closes up to `count` sessions of a backend (oldest first); returns how many it closed. */
  closeSessions(backend: Backend, count: number, reason: SessionCloseReason): number;
}

export interface DrainPacing {
  /** Sessions closed per step (default 20). */
  readonly stepSize?: number;
  /** Time between steps (default 100 ms). */
  readonly stepMs?: number;
}

export interface DrainProgress {
  readonly id: string;
  readonly backend: Backend;
  readonly percent: number;
  /** Open sessions of the backend on this instance when the drain started. */
  readonly sessions: number;
  /** Sessions this instance set out to close: round(sessions × percent / 100). */
  readonly target: number;
  readonly closed: number;
  readonly done: boolean;
  readonly startedAt: number;
}

/** The share of `sessions` a drain of `percent` closes. Used for the plan and for other instances' estimates. */
export function drainTarget(sessions: number, percent: number): number {
  return Math.min(sessions, Math.round((sessions * percent) / 100));
}

export function totalOf(counts: Record<ClientTransport, number>): number {
  return counts.polling + counts.websocket;
}

const FINISHED_KEPT = 20;

export class DrainRunner {
  private readonly drains = new Map<string, { progress: DrainProgress; timer: NodeJS.Timeout | undefined }>();
  private readonly stepSize: number;
  private readonly stepMs: number;

  constructor(
    private readonly control: GatewayControl,
    private readonly log: Logger,
    pacing: DrainPacing = {},
  ) {
    this.stepSize = Math.max(1, pacing.stepSize ?? 20);
    this.stepMs = Math.max(1, pacing.stepMs ?? 100);
  }

  get pacing(): { stepSize: number; stepMs: number } {
    return { stepSize: this.stepSize, stepMs: this.stepMs };
  }

  /** Plans the drain from the current counts and starts closing; returns the plan. Idempotent per id. */
  start(command: DrainCommand): DrainProgress {
    const existing = this.drains.get(command.id);
    if (existing !== undefined) return existing.progress;
    const sessions = totalOf(this.control.sessionCounts()[command.backend]);
    const target = drainTarget(sessions, command.percent);
    const entry: { progress: DrainProgress; timer: NodeJS.Timeout | undefined } = {
      progress: {
        id: command.id,
        backend: command.backend,
        percent: command.percent,
        sessions,
        target,
        closed: 0,
        done: target === 0,
        startedAt: Date.now(),
      },
      timer: undefined,
    };
    this.drains.set(command.id, entry);
    this.log.info(
      { drain: command.id, backend: command.backend, percent: command.percent, target, origin: command.origin },
      "drain started",
    );
    if (target > 0) this.step(entry);
    this.forgetFinished();
    return entry.progress;
  }

  private step(entry: { progress: DrainProgress; timer: NodeJS.Timeout | undefined }): void {
    const progress = entry.progress;
    const want = Math.min(this.stepSize, progress.target - progress.closed);
    const closed = this.control.closeSessions(progress.backend, want, "drained");
    const total = progress.closed + closed;
    // Nothing left to close (sessions ended by themselves meanwhile) also ends the drain.
    const done = total >= progress.target || closed === 0;
    entry.progress = { ...progress, closed: total, done };
    if (done) {
      entry.timer = undefined;
      this.log.info({ drain: progress.id, backend: progress.backend, closed: total, target: progress.target }, "drain finished");
      return;
    }
    entry.timer = setTimeout(() => this.step(entry), this.stepMs);
    entry.timer.unref();
  }

  private forgetFinished(): void {
    const finished = [...this.drains.entries()].filter(([, entry]) => entry.progress.done);
    for (const [id] of finished.slice(0, Math.max(0, finished.length - FINISHED_KEPT))) this.drains.delete(id);
  }

  progressOf(id: string): DrainProgress | undefined {
    return this.drains.get(id)?.progress;
  }

  /** Drains in progress and the last few finished ones, oldest first. */
  list(): DrainProgress[] {
    return [...this.drains.values()].map((entry) => entry.progress);
  }

  /** Stops every drain (process shutdown). */
  stop(): void {
    for (const entry of this.drains.values()) clearTimeout(entry.timer);
    this.drains.clear();
  }
}
