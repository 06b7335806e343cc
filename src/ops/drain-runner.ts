/**
 * Paced drains: closing a share of one backend's sessions so that their clients reconnect under the
 * current split, a few at a time (at most `stepSize` every `stepMs`) so that the reconnects do not
 * arrive as one burst at the backend they move to. Each instance drains its own sessions; the routing
 * store fans a drain out to every instance.
 */
import type { Logger } from "pino";
import type { DrainCommand } from "../store/routing-store.js";
import type { Backend, ClientTransport, SessionCloseReason, SessionCounts } from "../domain.js";
import type { BucketRange } from "../downstream/gateway.js";

/** What the admin API needs from the gateway; src/downstream/gateway.ts's Gateway satisfies it. */
export interface GatewayControl {
  sessionCounts(): SessionCounts;
  /** Closes up to `count` sessions of a backend (oldest first; with `buckets`, only those split-routed there); returns how many. */
  closeSessions(backend: Backend, count: number, reason: SessionCloseReason, buckets?: BucketRange): number;
  /** Open sessions of a backend split-routed with a bucket in the range (drains of moved buckets). */
  countInBuckets?(backend: Backend, buckets: BucketRange): number;
}

/** A drain of the sessions a change of the split moved: paced over a window, jittered, rate-capped. */
export interface MovedDrain {
  readonly id: string;
  /** Where the moved sessions are now (the side they leave). */
  readonly backend: Backend;
  readonly buckets: BucketRange;
  readonly windowMs: number;
  /** Each delay varies by ±jitter of itself, so that instances and steps do not close in lockstep. */
  readonly jitter: number;
  /** Closes per second on this instance, never exceeded whatever the window: the reconnect (handshake) rate it causes. */
  readonly maxRate: number;
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
  /** Drains of moved buckets only: the bucket range. */
  readonly buckets?: BucketRange;
}

/** The share of `sessions` a drain of `percent` closes. Used for the plan and for other instances' estimates. */
export function drainTarget(sessions: number, percent: number): number {
  return Math.min(sessions, Math.round((sessions * percent) / 100));
}

export function totalOf(counts: Record<ClientTransport, number>): number {
  return counts.polling + counts.websocket;
}

const FINISHED_KEPT = 20;
/** The shortest timer a moved-bucket drain sets (it closes several sessions per tick rather than tick faster). */
const MIN_TICK_MS = 5;

interface Entry {
  progress: DrainProgress;
  timer: NodeJS.Timeout | undefined;
}

export class DrainRunner {
  private readonly drains = new Map<string, Entry>();
  /** Epoch ms before which no drain of moved buckets closes another session (the shared rate cap). */
  private movedNextAt = 0;
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

  /**
   * Starts a drain of moved buckets: only sessions split-routed into `buckets` are closed, spread over the
   * window (one close every window/target, jittered), never faster than maxRate per second. Idempotent per id.
   */
  startMoved(drain: MovedDrain): DrainProgress {
    const existing = this.drains.get(drain.id);
    if (existing !== undefined) return existing.progress;
    const target = this.control.countInBuckets?.(drain.backend, drain.buckets) ?? 0;
    const progress: DrainProgress = {
      id: drain.id,
      backend: drain.backend,
      percent: 100,
      sessions: target,
      target,
      closed: 0,
      done: target === 0,
      startedAt: Date.now(),
      buckets: drain.buckets,
    };
    const entry: Entry = { progress, timer: undefined };
    this.drains.set(drain.id, entry);
    this.log.info(
      { drain: drain.id, backend: drain.backend, buckets: drain.buckets, target, windowMs: drain.windowMs },
      "moved-bucket drain started",
    );
    if (target > 0) {
      const floorMs = 1000 / drain.maxRate;
      // Batches keep timers above a few milliseconds when the window is short and the target large.
      const spacing = Math.max(drain.windowMs / target, floorMs);
      const batch = Math.max(1, Math.min(target, Math.floor(MIN_TICK_MS / spacing)));
      const delay = () => Math.max(batch * floorMs, batch * spacing * (1 + drain.jitter * (2 * Math.random() - 1)));
      const tick = () => {
        // Drains of consecutive steps may overlap: the cap holds for all of them together, on this instance.
        const wait = this.movedNextAt - Date.now();
        if (wait > 0) {
          entry.timer = setTimeout(tick, wait);
          entry.timer.unref();
          return;
        }
        const current = entry.progress;
        const closed = this.control.closeSessions(
          drain.backend,
          Math.min(batch, current.target - current.closed),
          "drained",
          drain.buckets,
        );
        const total = current.closed + closed;
        const done = total >= current.target || closed === 0;
        this.movedNextAt = Date.now() + closed * floorMs;
        entry.progress = { ...current, closed: total, done };
        entry.timer = done ? undefined : setTimeout(tick, delay());
        entry.timer?.unref();
        if (done) this.log.info({ drain: drain.id, closed: total, target }, "moved-bucket drain finished");
      };
      // The first close waits too: a step's reconnects start spread out, not with one at once on every instance.
      entry.timer = setTimeout(tick, Math.random() * delay());
      entry.timer.unref();
    }
    this.forgetFinished();
    return entry.progress;
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
