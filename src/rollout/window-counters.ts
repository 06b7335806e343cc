/**
 * Per-backend counters over one interval, fed by the gateway's telemetry events and shared by every
 * instance, so that the leader judges the whole cluster's interval. Intervals are aligned to the epoch
 * (window n spans [n × interval, (n + 1) × interval)), so instances agree on them without talking.
 * Each instance adds its counts to one Redis hash per window (HINCRBY, flushed every FLUSH_MS, kept for
 * a few intervals); without Redis the counts stay in process. A flush that fails (Redis down) keeps its
 * counts for the next try: the leader holds meanwhile anyway, as it cannot read the window either.
 */
import type { Redis } from "ioredis";
import { subscribe, type Unsubscribe } from "../telemetry/events.js";
import { LATENCY_BOUNDS, emptyWindow, type BackendWindow, type WindowStats } from "./gates.js";

export const FLUSH_MS = 100;
/** Windows kept pending while they cannot be flushed; older ones are dropped (their interval is long judged). */
const MAX_PENDING_WINDOWS = 8;

export type Counts = Map<string, number>;

/** Where instances' counts meet. */
export interface CounterStore {
  add(rolloutId: string, window: number, counts: Counts, ttlMs: number): Promise<void>;
  read(rolloutId: string, window: number): Promise<Record<string, string>>;
}

export class MemoryCounterStore implements CounterStore {
  private readonly windows = new Map<string, Counts>();

  async add(rolloutId: string, window: number, counts: Counts): Promise<void> {
    const key = `${rolloutId}:${window}`;
    const into = this.windows.get(key) ?? new Map<string, number>();
    for (const [field, n] of counts) into.set(field, (into.get(field) ?? 0) + n);
    this.windows.set(key, into);
    if (this.windows.size > 64) this.windows.delete(this.windows.keys().next().value as string);
  }

  async read(rolloutId: string, window: number): Promise<Record<string, string>> {
    return Object.fromEntries([...(this.windows.get(`${rolloutId}:${window}`) ?? [])].map(([field, n]) => [field, String(n)]));
  }
}

export class RedisCounterStore implements CounterStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(rolloutId: string, window: number): string {
    return `${this.prefix}rollout:${rolloutId}:window:${window}`;
  }

  async add(rolloutId: string, window: number, counts: Counts, ttlMs: number): Promise<void> {
    const key = this.key(rolloutId, window);
    const multi = this.redis.multi();
    for (const [field, n] of counts) multi.hincrby(key, field, n);
    multi.pexpire(key, ttlMs);
    await multi.exec();
  }

  async read(rolloutId: string, window: number): Promise<Record<string, string>> {
    return this.redis.hgetall(this.key(rolloutId, window));
  }
}

/** What the counters count for: the active rollout's id and its interval. */
export interface CountingFor {
  readonly rolloutId: string;
  readonly intervalMs: number;
  readonly shortSessionMs: number;
}

export function windowOf(now: number, intervalMs: number): number {
  return Math.floor(now / intervalMs);
}

export class WindowCounters {
  private target: CountingFor | undefined;
  private pending = new Map<number, Counts>();
  private readonly unsubscribes: Unsubscribe[] = [];
  private readonly timer: NodeJS.Timeout;
  private flushing = false;

  constructor(
    private readonly store: CounterStore,
    private readonly now: () => number = Date.now,
  ) {
    const on = <N extends Parameters<typeof subscribe>[0]>(name: N, listener: Parameters<typeof subscribe<N>>[1]) =>
      this.unsubscribes.push(subscribe(name, listener));
    on("switchyard:route:decided", (e) => this.count(`${e.backend}.routed`));
    on("switchyard:session:opened", (e) => this.count(`${e.backend}.opened`));
    on("switchyard:upstream:failed", (e) => e.role === "primary" && this.count(`${e.backend}.connectErrors`));
    on("switchyard:upstream:connected", (e) => e.role === "primary" && this.count(`${e.backend}.lat.${latencyBucket(e.seconds)}`));
    on("switchyard:hub:fallback", () => this.count("hub.fallbacks"));
    on("switchyard:ack:latency", (e) => this.count(`${e.backend}.ack.${latencyBucket(e.seconds)}`));
    on("switchyard:protocol:error", (e) => {
      this.count("protocolErrors");
      if (e.backend !== undefined) this.count(`${e.backend}.protocolErrors`);
    });
    on("switchyard:shadow:comparison", (e) => this.count(`shadow.${e.result}`));
    on("switchyard:session:closed", (e) => {
      // Drains and shutdowns are the gateway's doing, not the backend's: they say nothing about it.
      if (e.reason === "drained" || e.reason === "shutdown" || this.target === undefined) return;
      this.count(`${e.backend}.ended`);
      if (e.durationMs < this.target.shortSessionMs) this.count(`${e.backend}.short`);
      if (e.reason === "upstream closed" || (e.reason === "error" && e.code?.startsWith("SWY_ERR_UPSTREAM") === true))
        this.count(`${e.backend}.upstreamCloses`);
    });
    this.timer = setInterval(() => void this.flush(), FLUSH_MS);
    this.timer.unref();
  }

  /** Counts for this rollout from now on (undefined: stop counting, nothing is active). */
  countFor(target: CountingFor | undefined): void {
    if (target?.rolloutId !== this.target?.rolloutId || target?.intervalMs !== this.target?.intervalMs) this.pending.clear();
    this.target = target;
  }

  private count(field: string): void {
    if (this.target === undefined) return;
    const window = windowOf(this.now(), this.target.intervalMs);
    let counts = this.pending.get(window);
    if (counts === undefined) {
      counts = new Map();
      this.pending.set(window, counts);
    }
    counts.set(field, (counts.get(field) ?? 0) + 1);
  }

  /** Sends the pending counts; on failure keeps them for the next flush (bounded). */
  async flush(): Promise<void> {
    const target = this.target;
    if (this.flushing || target === undefined || this.pending.size === 0) return;
    this.flushing = true;
    const batch = this.pending;
    this.pending = new Map();
    try {
      for (const [window, counts] of batch) {
        await this.store.add(target.rolloutId, window, counts, target.intervalMs * MAX_PENDING_WINDOWS + 10_000);
        batch.delete(window);
      }
    } catch {
      for (const [window, counts] of batch) {
        const into = this.pending.get(window) ?? new Map<string, number>();
        for (const [field, n] of counts) into.set(field, (into.get(field) ?? 0) + n);
        this.pending.set(window, into);
      }
      const newest = Math.max(...this.pending.keys());
      for (const window of this.pending.keys()) if (window < newest - MAX_PENDING_WINDOWS) this.pending.delete(window);
    } finally {
      this.flushing = false;
    }
  }

  /** The whole cluster's counts of one window (rejects when the store cannot be read). */
  async read(rolloutId: string, window: number, intervalMs: number): Promise<WindowStats> {
    return statsOf(await this.store.read(rolloutId, window), intervalMs);
  }

  close(): void {
    clearInterval(this.timer);
    for (const unsubscribe of this.unsubscribes) unsubscribe();
  }
}

export function latencyBucket(seconds: number): number {
  const index = LATENCY_BOUNDS.findIndex((bound) => seconds <= bound);
  return index === -1 ? LATENCY_BOUNDS.length : index;
}

/** A window hash (field → count, as Redis returns it) as WindowStats; unknown or malformed fields count 0. */
export function statsOf(raw: Record<string, string>, durationMs: number): WindowStats {
  const n = (field: string): number => {
    const value = Number(raw[field] ?? 0);
    return Number.isSafeInteger(value) && value >= 0 ? value : 0;
  };
  const side = (backend: string): BackendWindow => ({
    routed: n(`${backend}.routed`),
    opened: n(`${backend}.opened`),
    connectErrors: n(`${backend}.connectErrors`),
    upstreamCloses: n(`${backend}.upstreamCloses`),
    ended: n(`${backend}.ended`),
    short: n(`${backend}.short`),
    fallbacks: n(`${backend}.fallbacks`),
    latency: [...LATENCY_BOUNDS, Number.POSITIVE_INFINITY].map((_, i) => n(`${backend}.lat.${i}`)),
    ackLatency: [...LATENCY_BOUNDS, Number.POSITIVE_INFINITY].map((_, i) => n(`${backend}.ack.${i}`)),
    protocolErrors: n(`${backend}.protocolErrors`),
  });
  return {
    ...emptyWindow(durationMs),
    legacy: side("legacy"),
    hub: side("hub"),
    shadow: { match: n("shadow.match"), mismatch: n("shadow.mismatch"), missing: n("shadow.missing"), extra: n("shadow.extra") },
    protocolErrors: n("protocolErrors"),
  };
}
