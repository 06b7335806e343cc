/**
 * The audit log in Redis: a list of JSON entries, newest first, capped (LPUSH + LTRIM in one
 * transaction), plus one log line per entry. Entries written while Redis is away are kept (bounded) and
 * pushed when it returns, so an outage loses no audit trail short of a process restart.
 */
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { execOrThrow, type RedisStoreContext } from "./redis-util.js";
import type { AuditEntry, AuditInput } from "./routing-store.js";
import { auditEntryOf, malformedEntry } from "./store-entries.js";

const MAX_PENDING = 1000;

export class RedisAuditLog {
  private pending: AuditEntry[] = [];

  private readonly redis: Redis;
  /** False while Redis is known to be away: entries are buffered at once. */
  private readonly isReachable: () => boolean;
  private readonly instanceId: string;
  private readonly log: Logger;

  constructor(
    context: RedisStoreContext,
    private readonly key: string,
    private readonly limit: number,
  ) {
    ({ redis: this.redis, isReachable: this.isReachable, instanceId: this.instanceId, logger: this.log } = context);
  }

  async write(input: AuditInput): Promise<AuditEntry> {
    const entry: AuditEntry = Object.freeze({ ...input, at: new Date().toISOString(), instanceId: this.instanceId });
    this.log.info({ audit: entry }, `audit: ${entry.action}`);
    if (!this.isReachable()) {
      this.buffer(entry);
      return entry;
    }
    try {
      await execOrThrow(
        this.redis
          .multi()
          .lpush(this.key, JSON.stringify(entry))
          .ltrim(this.key, 0, this.limit - 1),
      );
    } catch {
      this.buffer(entry);
    }
    return entry;
  }

  private buffer(entry: AuditEntry): void {
    this.pending.push(entry);
    if (this.pending.length > MAX_PENDING) this.pending.shift();
  }

  /** Pushes the entries written during an outage, oldest first. */
  async flush(): Promise<void> {
    if (this.pending.length === 0 || !this.isReachable()) return;
    const entries = this.pending;
    this.pending = [];
    const transaction = this.redis.multi();
    for (const entry of entries) transaction.lpush(this.key, JSON.stringify(entry));
    try {
      await execOrThrow(transaction.ltrim(this.key, 0, this.limit - 1));
    } catch {
      this.pending = [...entries, ...this.pending].slice(-MAX_PENDING);
    }
  }

  /** Newest first; entries not yet pushed come first. */
  async recent(limit: number): Promise<AuditEntry[]> {
    const pending = [...this.pending].reverse();
    if (!this.isReachable()) return pending.slice(0, limit);
    try {
      const stored = (await this.redis.lrange(this.key, 0, Math.max(0, limit - 1))).flatMap((text) => {
        const entry = auditEntryOf(text);
        if (typeof entry !== "string") return [entry];
        malformedEntry(this.log, "audit entry", text, entry);
        return [];
      });
      return [...pending, ...stored].slice(0, limit);
    } catch {
      return pending.slice(0, limit);
    }
  }
}
