/** The rollout lease on the real (shared) Redis, under a key prefix of its own: one holder, renewals, fencing, expiry. */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { Redis } from "ioredis";
import { LocalLease, RedisLease } from "../../src/rollout/lease.js";
import { SHARED_REDIS_URL, deleteKeys, uniquePrefix } from "../helpers/cluster.js";

describe("rollout lease", () => {
  const prefix = uniquePrefix("lease");
  const redis = new Redis(SHARED_REDIS_URL, { maxRetriesPerRequest: 1 });

  after(async () => {
    await deleteKeys(SHARED_REDIS_URL, prefix);
    redis.disconnect();
  });

  it("has one holder at a time, renews it for the holder only, and hands out growing fencing tokens", async () => {
    const a = new RedisLease(redis, prefix, "gw-a", 200);
    const b = new RedisLease(redis, prefix, "gw-b", 200);
    const first = await a.acquire(0);
    assert.ok(first !== undefined && first >= 1);
    assert.equal(await b.acquire(0), undefined);
    assert.equal(await a.acquire(0), first, "a renewal keeps the token");
    assert.equal(await a.holder(), "gw-a");
    // The holder stops renewing: after the TTL the other takes over, with a larger token.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const second = await b.acquire(0);
    assert.ok(second !== undefined && second > first);
    assert.equal(await a.acquire(0), undefined);
    // Releasing is for the holder only.
    await a.release();
    assert.equal(await b.holder(), "gw-b");
    await b.release();
    assert.equal(await b.holder(), undefined);
  });

  it("never hands out a token below the stored state's (the counter was lost with a Redis restart)", async () => {
    await redis.del(`${prefix}rollout:fence`, `${prefix}rollout:lease`);
    const lease = new RedisLease(redis, prefix, "gw-c", 1000);
    assert.equal(await lease.acquire(42), 42);
    await lease.release();
    assert.equal(await new RedisLease(redis, prefix, "gw-d", 1000).acquire(10), 43);
  });

  it("is always held without Redis, never below the stored token", async () => {
    const lease = new LocalLease("solo");
    assert.equal(await lease.acquire(0), 1);
    assert.equal(await lease.acquire(7), 7);
    assert.equal(await lease.holder(), "solo");
  });
});
