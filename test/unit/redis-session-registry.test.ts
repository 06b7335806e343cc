/**
 * The Redis session registry against a real Redis (the shared one, under a random key prefix): entries with
 * their TTL, written back by the refresh round, removed when a session ends (even while its write is in
 * flight), kept locally while Redis is away, owners answered from a bounded cache through an outage and,
 * for one TTL, for entries Redis lost; a malformed entry is an unknown session.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, it } from "node:test";
import { Redis } from "ioredis";
import { pino } from "pino";
import { RedisSessionRegistry } from "../../src/store/redis-session-registry.js";

const redis = new Redis("redis://127.0.0.1:6379", { maxRetriesPerRequest: 1 });
const logger = pino({ level: "silent" });

function registry(prefix: string, instanceId: string, reachable: { value: boolean }, ttlMs = 60_000) {
  const r = new RedisSessionRegistry({ redis, isReachable: () => reachable.value, keyPrefix: prefix, instanceId, ttlMs, logger });
  r.setInternalUrl(`http://${instanceId}:3000`);
  return r;
}

describe("Redis session registry", () => {
  after(() => redis.quit());

  it("registers a session with its owner and TTL; another instance finds the owner; unregister removes it", async () => {
    const prefix = `swy-test-${randomUUID()}:`;
    const up = { value: true };
    const [a, b] = [registry(prefix, "gw-a", up), registry(prefix, "gw-b", up)];
    assert.equal(await a.register("s1"), true);
    assert.deepEqual(JSON.parse((await redis.get(`${prefix}session:s1`))!), { i: "gw-a", u: "http://gw-a:3000" });
    const ttl = await redis.pttl(`${prefix}session:s1`);
    assert.ok(ttl > 50_000 && ttl <= 60_000, `TTL ${ttl}`);
    assert.deepEqual(await b.owner("s1"), { instanceId: "gw-a", internalUrl: "http://gw-a:3000" });
    assert.deepEqual(await a.owner("s1"), { instanceId: "gw-a", internalUrl: "http://gw-a:3000" }, "its own, from memory");
    a.unregister("s1");
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(await redis.exists(`${prefix}session:s1`), 0);
    assert.equal(a.size, 0);
    assert.equal(await b.owner("nobody"), undefined);
  });

  it("removes the entry of a session that ended while its registration was in flight", async () => {
    const prefix = `swy-test-${randomUUID()}:`;
    const a = registry(prefix, "gw-a", { value: true });
    const registering = a.register("short");
    a.unregister("short");
    await registering;
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(await redis.exists(`${prefix}session:short`), 0);
  });

  it("keeps sessions locally while Redis is away and writes them in the next refresh round, skipping ended ones", async () => {
    const prefix = `swy-test-${randomUUID()}:`;
    const up = { value: false };
    const a = registry(prefix, "gw-a", up);
    assert.equal(await a.register("kept"), false);
    assert.equal(await a.register("ended"), false);
    a.unregister("ended");
    assert.equal(await a.refreshAll(), false, "nothing is tried while Redis is away");
    up.value = true;
    assert.equal(await a.refreshAll(), true);
    assert.deepEqual(await Promise.all(["kept", "ended"].map((sid) => redis.exists(`${prefix}session:${sid}`))), [1, 0]);
  });

  it("answers owners from its cache through an outage, and for one TTL for entries Redis lost", async () => {
    const prefix = `swy-test-${randomUUID()}:`;
    const up = { value: true };
    const a = registry(prefix, "gw-a", up, 300);
    const b = registry(prefix, "gw-b", up, 300);
    await a.register("s1");
    const owner = { instanceId: "gw-a", internalUrl: "http://gw-a:3000" };
    assert.deepEqual(await b.owner("s1"), owner);
    up.value = false;
    assert.deepEqual(await b.owner("s1"), owner, "Redis away: the cached owner");
    up.value = true;
    await redis.del(`${prefix}session:s1`);
    b.redisReturned();
    assert.deepEqual(await b.owner("s1"), owner, "Redis came back empty: the owner has one TTL to write it back");
    await new Promise((resolve) => setTimeout(resolve, 350));
    assert.equal(await b.owner("s1"), undefined, "after that, a missing entry is an unknown session");
  });

  it("treats a malformed entry as an unknown session", async () => {
    const prefix = `swy-test-${randomUUID()}:`;
    const b = registry(prefix, "gw-b", { value: true });
    for (const [sid, value] of [
      ["garbage", "not json"],
      ["no-url", '{"i":"gw-a"}'],
      ["file-url", '{"i":"gw-a","u":"file:///etc/passwd"}'],
    ]) {
      await redis.set(`${prefix}session:${sid}`, value!, "PX", 10_000);
      assert.equal(await b.owner(sid!), undefined, value);
    }
  });
});
