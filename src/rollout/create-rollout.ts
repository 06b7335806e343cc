/**
 * Builds one instance's rollout parts from the static config: with REDIS_URL, the window counters and
 * the lease live in Redis (one connection of their own); without, in process (one instance leads itself).
 */
import type { Logger } from "pino";
import type { StaticConfig } from "../config/static-config.js";
import type { DrainRunner } from "../ops/drain-runner.js";
import { createRedisClient } from "../store/redis-connection.js";
import type { RoutingStore } from "../store/routing-store.js";
import { RolloutController } from "./controller.js";
import { LocalLease, RedisLease } from "./lease.js";
import { MemoryCounterStore, RedisCounterStore, WindowCounters } from "./window-counters.js";

/** A leader that stops renewing loses the lease after this long; another instance then resumes the rollout. */
export const LEASE_TTL_MS = 1_500;

export interface RolloutParts {
  readonly controller: RolloutController;
  close(): Promise<void>;
}

export function createRollout(config: StaticConfig, store: RoutingStore, drains: DrainRunner, logger: Logger): RolloutParts {
  const redis =
    config.redisUrl === undefined
      ? undefined
      : createRedisClient(config.redisUrl, { connectionName: `switchyard-rollout-${config.instanceId}` });
  // Errors surface through the commands that fail; the client reconnects by itself.
  redis?.on("error", () => {});
  const counters = new WindowCounters(redis === undefined ? new MemoryCounterStore() : new RedisCounterStore(redis, config.redisKeyPrefix));
  const lease =
    redis === undefined ? new LocalLease(config.instanceId) : new RedisLease(redis, config.redisKeyPrefix, config.instanceId, LEASE_TTL_MS);
  const controller = new RolloutController({ store, drains, counters, lease, logger, prometheusUrl: config.prometheusUrl });
  return {
    controller,
    async close() {
      await controller.close();
      counters.close();
      redis?.disconnect();
    },
  };
}
