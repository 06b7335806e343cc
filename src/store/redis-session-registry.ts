/**
 * The session registry in Redis: `<prefix>session:<sid>` → {"i": instance id, "u": internal URL}, with a
 * TTL. The owner keeps every session it registered in memory and re-writes them (SET … PX) every third
 * of the TTL, so an entry lives as long as its session and expires soon after its owner dies; the same
 * round re-creates entries Redis lost (a restart without persistence) once Redis is back.
 *
 * Lookups from other instances are cached (bounded, positive answers only), so a polling session whose
 * requests alternate between instances keeps working through a short Redis outage.
 */
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { SessionOwner } from "./routing-store.js";
import { malformedEntry, sessionOwnerOf } from "./store-entries.js";

export interface SessionRegistryOptions {
  readonly redis: Redis;
  /** False while the store knows Redis is away: calls then answer from memory at once. */
  readonly isReachable: () => boolean;
  readonly keyPrefix: string;
  readonly instanceId: string;
  readonly ttlMs: number;
  readonly logger: Logger;
}

const REFRESH_BATCH = 500;
const OWNER_CACHE_LIMIT = 10_000;
const OWNER_CACHE_MAX_AGE_MS = 10 * 60_000;

export class RedisSessionRegistry {
  private readonly local = new Set<string>();
  private readonly ownerCache = new Map<string, { owner: SessionOwner; at: number }>();
  private internalUrl = "";
  private refreshTimer: NodeJS.Timeout | undefined;
  private refreshing: Promise<boolean> | undefined;
  /** Until then, a missing entry may be one that Redis lost and its owner has not written back yet. */
  private rewriteGraceUntil = 0;

  constructor(private readonly options: SessionRegistryOptions) {}

  get size(): number {
    return this.local.size;
  }

  setInternalUrl(url: string): void {
    this.internalUrl = url;
  }

  private keyOf(sid: string): string {
    return `${this.options.keyPrefix}session:${sid}`;
  }

  private ownValue(): string {
    return JSON.stringify({ i: this.options.instanceId, u: this.internalUrl });
  }

  startRefreshing(): void {
    const every = Math.max(100, Math.floor(this.options.ttlMs / 3));
    this.refreshTimer = setInterval(() => void this.refreshAll(), every);
    this.refreshTimer.unref();
  }

  stop(): void {
    clearInterval(this.refreshTimer);
  }

  async register(sid: string): Promise<boolean> {
    this.local.add(sid);
    if (!this.options.isReachable()) return false;
    try {
      await this.options.redis.set(this.keyOf(sid), this.ownValue(), "PX", this.options.ttlMs);
      // Ended while the write was in flight: its entry must not outlive it.
      if (!this.local.has(sid)) await this.options.redis.del(this.keyOf(sid));
      return true;
    } catch (error) {
      // Kept locally: the next refresh round after Redis returns writes it.
      this.options.logger.debug({ err: (error as Error).message }, "session registration deferred: Redis unavailable");
      return false;
    }
  }

  unregister(sid: string): void {
    if (!this.local.delete(sid)) return;
    this.options.redis.del(this.keyOf(sid)).catch(() => {
      // Left to expire with its TTL.
    });
  }

  /**
   * Redis is reachable again after an outage and may have come back empty. Owners re-register their
   * sessions when they reconnect, which may be after this instance does: for one TTL, a remembered owner
   * answers for a missing entry (a sid never changes owner, and an owner that no longer has the session
   * answers as engine.io would).
   */
  redisReturned(): void {
    this.rewriteGraceUntil = Date.now() + this.options.ttlMs;
  }

  async owner(sid: string): Promise<SessionOwner | undefined> {
    if (this.local.has(sid)) return { instanceId: this.options.instanceId, internalUrl: this.internalUrl };
    const fromCache = () => {
      const cached = this.ownerCache.get(sid);
      return cached !== undefined && Date.now() - cached.at < OWNER_CACHE_MAX_AGE_MS ? cached.owner : undefined;
    };
    if (!this.options.isReachable()) return fromCache();
    let text: string | null;
    try {
      text = await this.options.redis.get(this.keyOf(sid));
    } catch {
      return fromCache();
    }
    if (text === null) {
      if (Date.now() < this.rewriteGraceUntil) return fromCache();
      this.ownerCache.delete(sid);
      return undefined;
    }
    const owner = sessionOwnerOf(text);
    if (typeof owner === "string") {
      // Treated as absent: the request goes to the legacy server like any unknown sid (engine.io answers it).
      malformedEntry(this.options.logger, "session registry entry", text, owner);
      return undefined;
    }
    this.remember(sid, owner);
    return owner;
  }

  private remember(sid: string, owner: SessionOwner): void {
    this.ownerCache.delete(sid);
    this.ownerCache.set(sid, { owner, at: Date.now() });
    if (this.ownerCache.size > OWNER_CACHE_LIMIT) {
      const oldest = this.ownerCache.keys().next().value;
      if (oldest !== undefined) this.ownerCache.delete(oldest);
    }
  }

  /** Re-writes every local session's entry (and its TTL). Resolves false when Redis failed. */
  refreshAll(): Promise<boolean> {
    if (!this.options.isReachable()) return Promise.resolve(false);
    this.refreshing ??= this.refreshRound().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async refreshRound(): Promise<boolean> {
    const sids = [...this.local];
    const value = this.ownValue();
    try {
      for (let i = 0; i < sids.length; i += REFRESH_BATCH) {
        const pipeline = this.options.redis.pipeline();
        for (const sid of sids.slice(i, i + REFRESH_BATCH)) {
          // A session that ended meanwhile is skipped: its entry must not come back.
          if (this.local.has(sid)) pipeline.set(this.keyOf(sid), value, "PX", this.options.ttlMs);
        }
        const results = await pipeline.exec();
        const failed = results?.find(([error]) => error !== null);
        if (failed !== undefined) throw failed[0];
      }
      return true;
    } catch (error) {
      this.options.logger.debug({ err: (error as Error).message, sessions: sids.length }, "session registry refresh failed");
      return false;
    }
  }
}
