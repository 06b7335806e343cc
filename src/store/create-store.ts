/**
 * Picks the routing store from the static config: Redis when REDIS_URL is set, memory otherwise. The
 * caller starts it (`await store.start()`, which never fails on an unreachable Redis) and closes it.
 */
import type { Logger } from "pino";
import type { StaticConfig } from "../config/static-config.js";
import { MemoryRoutingStore } from "./memory-store.js";
import { RedisRoutingStore, type RedisStoreOptions } from "./redis-store.js";
import type { RoutingStore } from "./routing-store.js";

/** Timing knobs of the Redis store, for tests (short TTLs) and tuning. */
export type RedisStoreTuning = Partial<
  Pick<RedisStoreOptions, "pollIntervalMs" | "heartbeatIntervalMs" | "instanceTtlMs" | "sessionTtlMs" | "auditLimit" | "commandTimeoutMs">
>;

export function createRoutingStore(config: StaticConfig, logger: Logger, tuning: RedisStoreTuning = {}): RoutingStore {
  const common = { instanceId: config.instanceId, logger, initialConfig: config.routingConfig, internalUrl: config.internalUrl };
  if (config.redisUrl === undefined) return new MemoryRoutingStore(common);
  return new RedisRoutingStore({ ...common, ...tuning, url: config.redisUrl, keyPrefix: config.redisKeyPrefix });
}
