import assert from "node:assert/strict";
import { once } from "node:events";
import { describe, it } from "node:test";
import { createRedisClient, redisClientOptions } from "../../src/store/redis-connection.js";
import { freePort } from "../helpers/ports.js";

const SHARED_REDIS_URL = "redis://127.0.0.1:6379";

describe("redis connection options", () => {
  it("fail fast, bounded, with a capped reconnect backoff; callers choose laziness and resubscription", () => {
    const store = redisClientOptions({ connectionName: "a", commandTimeoutMs: 200, lazyConnect: true, autoResubscribe: false });
    assert.equal(store.enableOfflineQueue, false);
    assert.equal(store.maxRetriesPerRequest, 0);
    assert.equal(store.commandTimeout, 200);
    assert.equal(store.connectTimeout, 500, "a connection attempt gets at least 500 ms");
    assert.equal(store.lazyConnect, true);
    assert.equal(store.autoResubscribe, false);
    const evidence = redisClientOptions({ connectionName: "b" });
    assert.deepEqual(
      [evidence.commandTimeout, evidence.connectTimeout, evidence.lazyConnect, evidence.autoResubscribe],
      [1000, 1000, false, true],
    );
    const subscriber = redisClientOptions({ connectionName: "c", queueWhileDisconnected: true });
    assert.deepEqual(
      [subscriber.enableOfflineQueue, subscriber.maxRetriesPerRequest, subscriber.commandTimeout],
      [true, null, undefined],
      "a subscriber's commands wait for the connection",
    );
    const retry = evidence.retryStrategy!;
    assert.deepEqual(
      [1, 2, 5, 10, 100].map((attempt) => retry(attempt)),
      [100, 200, 500, 1000, 1000],
    );
  });

  it("names the connection on a real Redis", async () => {
    const redis = createRedisClient(SHARED_REDIS_URL, { connectionName: "switchyard:test-connection" });
    try {
      await once(redis, "ready");
      assert.equal(await redis.client("GETNAME"), "switchyard:test-connection");
    } finally {
      redis.disconnect();
    }
  });

  it("rejects a command at once while Redis is unreachable instead of queueing it", async () => {
    const redis = createRedisClient(`redis://127.0.0.1:${await freePort()}`, { connectionName: "switchyard:test-down" });
    redis.on("error", () => {});
    try {
      await assert.rejects(redis.get("anything"), /enableOfflineQueue|Connection is closed|ECONNREFUSED/);
    } finally {
      redis.disconnect();
    }
  });
});
