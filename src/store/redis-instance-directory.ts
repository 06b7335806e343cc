/**
 * Instance heartbeats in Redis, for GET /admin/sessions and `switchyard watch`: every instance writes
 * its status (`instance:<id>`, with a TTL) and its last-seen time (sorted set `instances`) every
 * heartbeat; readers list the ids seen within the TTL and fetch their statuses in one MGET.
 */
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { execOrThrow, type RedisStoreContext } from "./redis-util.js";
import type { InstanceStatus } from "./routing-store.js";
import { instanceStatusOf, malformedEntry } from "./store-entries.js";

export class RedisInstanceDirectory {
  private readonly redis: Redis;
  private readonly log: Logger;

  constructor(
    context: RedisStoreContext,
    private readonly setKey: string,
    private readonly statusPrefix: string,
    private readonly ttlMs: number,
  ) {
    ({ redis: this.redis, logger: this.log } = context);
  }

  async beat(status: InstanceStatus): Promise<void> {
    await execOrThrow(
      this.redis
        .multi()
        .set(this.statusPrefix + status.instanceId, JSON.stringify(status), "PX", this.ttlMs)
        .zadd(this.setKey, status.lastSeen, status.instanceId)
        .zremrangebyscore(this.setKey, "-inf", status.lastSeen - this.ttlMs),
    );
  }

  async remove(instanceId: string): Promise<void> {
    await execOrThrow(
      this.redis
        .multi()
        .zrem(this.setKey, instanceId)
        .del(this.statusPrefix + instanceId),
    );
  }

  /** Every instance seen within the TTL except `exceptId` (the caller adds its own, fresher status). */
  async list(exceptId: string): Promise<InstanceStatus[]> {
    const ids = (await this.redis.zrangebyscore(this.setKey, Date.now() - this.ttlMs, "+inf")).filter((id) => id !== exceptId);
    if (ids.length === 0) return [];
    const texts = await this.redis.mget(ids.map((id) => this.statusPrefix + id));
    return texts.flatMap((text) => {
      if (text === null) return [];
      const status = instanceStatusOf(text);
      if (typeof status !== "string") return [status];
      malformedEntry(this.log, "instance status", text, status);
      return [];
    });
  }
}
