/**
 * The Redis routing store against the real Redis at 127.0.0.1:6379. Every test works under its own key
 * prefix and deletes its keys; outages are simulated with a TCP proxy in front of Redis (the shared
 * redis-server is never stopped).
 */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, afterEach, describe, it } from "node:test";
import { Redis } from "ioredis";
import { pino, type Logger } from "pino";
import { RoutingConfigError, routingConfigOrThrow } from "../../src/config/routing-config.js";
import { SwitchyardError } from "../../src/errors.js";
import { RedisRoutingStore, type RedisStoreOptions } from "../../src/store/redis-store.js";
import { RoutingConflictError, type DrainCommand, type StoreHealth } from "../../src/store/routing-store.js";
import { eventually } from "../helpers/eventually.js";
import { TcpProxy } from "../helpers/tcp-proxy.js";

const REDIS_URL = "redis://127.0.0.1:6379";
const admin = new Redis(REDIS_URL, { lazyConnect: false });
const opened: { stores: RedisRoutingStore[]; proxies: TcpProxy[]; prefixes: string[] } = { stores: [], proxies: [], prefixes: [] };

class LogLines extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    for (const line of chunk.toString("utf8").split("\n")) if (line !== "") this.lines.push(JSON.parse(line) as Record<string, unknown>);
    done();
  }
}

function silentLogger(): Logger {
  return pino({ level: process.env.LOG_LEVEL ?? "silent" });
}

/** A fresh key prefix and a factory of stores on it. */
function cluster() {
  const prefix = `switchyard:{test-${process.pid}-${Math.random().toString(36).slice(2, 8)}}:`;
  opened.prefixes.push(prefix);
  return {
    prefix,
    async store(instanceId: string, options: Partial<RedisStoreOptions> = {}): Promise<RedisRoutingStore> {
      const store = new RedisRoutingStore({
        url: REDIS_URL,
        keyPrefix: prefix,
        instanceId,
        internalUrl: `http://${instanceId}.internal:3000`,
        logger: silentLogger(),
        pollIntervalMs: 200,
        heartbeatIntervalMs: 200,
        commandTimeoutMs: 500,
        ...options,
      });
      opened.stores.push(store);
      await store.start();
      return store;
    },
  };
}

function nextChange(store: RedisRoutingStore): Promise<number> {
  return new Promise((resolve) => {
    const off = store.onChange((config) => {
      off();
      resolve(config.version);
    });
  });
}

function nextHealth(store: RedisRoutingStore, state: StoreHealth["state"]): Promise<StoreHealth> {
  return new Promise((resolve) => {
    const off = store.onHealthChange((health) => {
      if (health.state !== state) return;
      off();
      resolve(health);
    });
  });
}

afterEach(async () => {
  await Promise.all(opened.stores.splice(0).map((store) => store.close()));
  await Promise.all(opened.proxies.splice(0).map((proxy) => proxy.close()));
  for (const prefix of opened.prefixes.splice(0)) {
    const keys = await admin.keys(`${prefix.replace(/[{}*?[\]]/g, "\\$&")}*`);
    if (keys.length > 0) await admin.del(...keys);
  }
});

after(() => admin.quit());

describe("RedisRoutingStore: routing config", () => {
  it("seeds Redis with the initial config once, and every instance routes on the stored one", async () => {
    const c = cluster();
    const a = await c.store("a", { initialConfig: routingConfigOrThrow({ hubPercent: 12.5 }) });
    const b = await c.store("b", { initialConfig: routingConfigOrThrow({ hubPercent: 99 }) });
    assert.equal(a.current().hubPercent, 12.5);
    assert.equal(b.current().hubPercent, 12.5, "b adopts the stored config, not its own initial one");
    assert.equal(a.health().state, "connected");
    assert.equal(await admin.hget(`${c.prefix}routing`, "version"), "0");
  });

  it("compare-and-set: a stale version is refused with SWY_ERR_ROUTING_CONFLICT", async () => {
    const c = cluster();
    const a = await c.store("a");
    const b = await c.store("b");
    const update = await a.update({ hubPercent: 10 }, 0);
    assert.equal(update.config.version, 1);
    assert.deepEqual(update.changes, ["hubPercent: 0 → 10"]);
    assert.equal(a.current().version, 1, "applied locally before resolving");
    await assert.rejects(
      b.update({ hubPercent: 20 }, 0),
      (error: unknown) => error instanceof RoutingConflictError && error.code === "SWY_ERR_ROUTING_CONFLICT" && error.currentVersion === 1,
    );
    const [winner] = await Promise.allSettled([a.update({ hubPercent: 30 }, 1), b.update({ hubPercent: 40 }, 1)]).then((results) => [
      results.filter((r) => r.status === "fulfilled"),
    ]);
    assert.equal(winner!.length, 1, "exactly one of two concurrent writers wins");
    assert.equal(await admin.hget(`${c.prefix}routing`, "version"), "2");
  });

  it("refuses an invalid document with SWY_ERR_ROUTING_INVALID and stores nothing", async () => {
    const c = cluster();
    const a = await c.store("a");
    await a.update({ hubPercent: 10 }, 0);
    const before = await admin.hgetall(`${c.prefix}routing`);
    await assert.rejects(a.update({ hubPercent: 10, key: { sources: ["body:x"] }, shadow: { percent: 200 } }, 1), (error: unknown) => {
      assert.ok(error instanceof RoutingConfigError);
      assert.equal(error.code, "SWY_ERR_ROUTING_INVALID");
      assert.deepEqual(
        error.problems.map((p) => p.slice(0, p.indexOf(":"))),
        ["key.sources[0]", "shadow.percent"],
      );
      return true;
    });
    assert.deepEqual(await admin.hgetall(`${c.prefix}routing`), before);
    assert.equal(a.current().version, 1);
  });

  it("another instance applies a change through pub/sub alone", async () => {
    const c = cluster();
    const a = await c.store("a");
    const b = await c.store("b", { pollIntervalMs: 3_600_000 });
    const applied = nextChange(b);
    await a.update({ hubPercent: 25 }, 0);
    assert.equal(await applied, 1);
    assert.equal(b.current().hubPercent, 25);
  });

  it("another instance applies a change through the version check alone (notification lost)", async () => {
    const c = cluster();
    const b = await c.store("b");
    const applied = nextChange(b);
    // Written behind the store's back: no PUBLISH, so only the periodic version check can see it.
    const document = routingConfigOrThrow({ version: 5, hubPercent: 42 });
    await admin.hset(`${c.prefix}routing`, "version", "5", "config", JSON.stringify(document));
    assert.equal(await applied, 5);
    assert.equal(b.current().hubPercent, 42);
  });

  it("keeps routing on its last config when the stored one is invalid, and says why", async () => {
    const c = cluster();
    const b = await c.store("b");
    await b.update({ hubPercent: 7 }, 0);
    const degraded = nextHealth(b, "degraded");
    await admin.hset(`${c.prefix}routing`, "version", "2", "config", '{"hubPercent": "lots"}');
    assert.match((await degraded).reason!, /stored routing config v2 is invalid \(hubPercent: must be a number/);
    assert.equal(b.current().hubPercent, 7);
    const recovered = nextHealth(b, "connected");
    await admin.hset(`${c.prefix}routing`, "version", "3", "config", JSON.stringify(routingConfigOrThrow({ hubPercent: 8 })));
    await recovered;
    assert.deepEqual([b.current().version, b.current().hubPercent], [3, 8]);
  });

  it("re-seeds a config Redis lost, keeping its version", async () => {
    const c = cluster();
    const a = await c.store("a");
    await a.update({ hubPercent: 15 }, 0);
    await admin.del(`${c.prefix}routing`);
    await eventually(async () => (await admin.hget(`${c.prefix}routing`, "version")) === "1", "the config to be stored again");
    await a.update({ hubPercent: 16 }, 1);
    assert.equal(a.current().version, 2);
  });
});

describe("RedisRoutingStore: sessions, instances, audit, drains", () => {
  it("registers sessions with a TTL that is refreshed while they live and expires after the owner dies", async () => {
    const c = cluster();
    const a = await c.store("a", { sessionTtlMs: 600 });
    const b = await c.store("b");
    assert.equal(await a.registerSession("sid-1"), true);
    assert.deepEqual(await b.sessionOwner("sid-1"), { instanceId: "a", internalUrl: "http://a.internal:3000" });
    assert.deepEqual(await a.sessionOwner("sid-1"), { instanceId: "a", internalUrl: "http://a.internal:3000" });
    assert.equal(await b.sessionOwner("sid-unknown"), undefined);
    const key = `${c.prefix}session:sid-1`;
    const ttl = await admin.pttl(key);
    assert.ok(ttl > 0 && ttl <= 600, `ttl ${ttl}`);
    // Three TTLs later the entry is still there: the owner refreshes it.
    await new Promise((resolve) => setTimeout(resolve, 1800));
    assert.ok((await admin.pttl(key)) > 0);
    a.unregisterSession("sid-1");
    await eventually(async () => (await b.sessionOwner("sid-1")) === undefined, "the unregistered session to be gone");

    await a.registerSession("sid-2");
    await a.close();
    await eventually(async () => (await admin.exists(`${c.prefix}session:sid-2`)) === 0, "the dead owner's entry to expire", 5000);
  });

  it("lists instances with their applied version and session counts", async () => {
    const c = cluster();
    const a = await c.store("a");
    const b = await c.store("b");
    b.setSessionCountsSource(() => ({ legacy: { polling: 1, websocket: 2 }, hub: { polling: 3, websocket: 4 } }));
    await a.update({ hubPercent: 50 }, 0);
    const instances = await eventually(async () => {
      const list = await a.instances();
      return list.length === 2 && list.every((i) => i.appliedVersion === 1) && list[1]!.sessions.hub.websocket === 4 ? list : undefined;
    }, "both instances at v1 with b's counts");
    assert.ok(instances);
    assert.deepEqual(
      instances.map((i) => [i.instanceId, i.internalUrl, i.store]),
      [
        ["a", "http://a.internal:3000", "connected"],
        ["b", "http://b.internal:3000", "connected"],
      ],
    );
    await b.close();
    await eventually(async () => (await a.instances()).length === 1, "a closed instance to leave the list");
  });

  it("writes audit entries to a capped list and a log line", async () => {
    const c = cluster();
    const logs = new LogLines();
    const a = await c.store("a", { auditLimit: 3, logger: pino({ level: "info" }, logs) });
    const b = await c.store("b");
    for (let i = 1; i <= 4; i++)
      await a.audit({
        action: "routing.update",
        changes: [`hubPercent: ${i - 1} → ${i}`],
        version: i,
        actor: { address: "10.0.0.5", identity: "token:abcd1234" },
      });
    const entries = await b.recentAudit(10);
    assert.deepEqual(
      entries.map((e) => e.version),
      [4, 3, 2],
    );
    assert.equal(entries[0]!.instanceId, "a");
    assert.deepEqual(entries[0]!.actor, { address: "10.0.0.5", identity: "token:abcd1234" });
    assert.ok(!Number.isNaN(Date.parse(entries[0]!.at)));
    const line = logs.lines.find((l) => l.msg === "audit: routing.update" && (l.audit as { version: number }).version === 4);
    assert.ok(line, "an audit log line");
  });

  it("fans a drain command out to every instance, once each", async () => {
    const c = cluster();
    const a = await c.store("a");
    const b = await c.store("b");
    const seen: Record<string, DrainCommand[]> = { a: [], b: [] };
    a.onDrain((command) => seen.a!.push(command));
    b.onDrain((command) => seen.b!.push(command));
    const delivery = await a.publishDrain("hub", 50);
    assert.equal(delivery.scope, "cluster");
    assert.equal(seen.a!.length, 1, "the origin drains at once");
    await eventually(() => seen.b!.length === 1, "b to receive the drain");
    assert.deepEqual(seen.b![0], delivery.command);
    assert.deepEqual([delivery.command.backend, delivery.command.percent, delivery.command.origin], ["hub", 50, "a"]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(seen.a!.length, 1, "the origin does not drain twice");
  });
});

describe("RedisRoutingStore: Redis outages", () => {
  for (const outage of ["cut", "stall"] as const) {
    it(`keeps routing and sessions through a ${outage === "cut" ? "dead" : "hung"} Redis and catches up when it returns`, async () => {
      const c = cluster();
      const proxy = await TcpProxy.start(6379);
      opened.proxies.push(proxy);
      const a = await c.store("a");
      const b = await c.store("b", { url: proxy.url });
      await a.update({ hubPercent: 20 }, 0);
      await eventually(() => b.current().version === 1, "b at v1");
      await b.registerSession("before-outage");

      const degraded = nextHealth(b, "degraded");
      proxy[outage]();
      const health = await degraded;
      assert.match(health.reason!, /Redis unavailable|connection to Redis was lost/);
      assert.deepEqual([b.current().version, b.current().hubPercent], [1, 20], "routing on the last known config");
      // Nothing hangs or throws into callers.
      await assert.rejects(
        b.update({ hubPercent: 99 }, 1),
        (error: unknown) => error instanceof SwitchyardError && error.code === "SWY_ERR_STORE_UNAVAILABLE",
      );
      assert.equal(await b.registerSession("during-outage"), false);
      assert.deepEqual(await b.sessionOwner("before-outage"), { instanceId: "b", internalUrl: "http://b.internal:3000" });
      assert.deepEqual(
        (await b.instances()).map((i) => i.instanceId),
        ["b"],
      );
      await b.audit({ action: "drain", changes: ["drain hub 10%"], actor: { address: "127.0.0.1", identity: "test" } });
      assert.equal((await b.publishDrain("hub", 10)).scope, "local");
      await a.update({ hubPercent: 30 }, 1);

      const connected = nextHealth(b, "connected");
      proxy.restore();
      await connected;
      await eventually(() => b.current().version === 2, "b to catch up to v2");
      assert.equal(b.current().hubPercent, 30);
      await eventually(
        async () => (await a.sessionOwner("during-outage"))?.instanceId === "b",
        "the session registered during the outage to reach Redis",
      );
      assert.equal((await a.sessionOwner("before-outage"))?.instanceId, "b");
      await eventually(
        async () => (await a.recentAudit(10)).some((e) => e.instanceId === "b" && e.action === "drain"),
        "the buffered audit entry to reach Redis",
      );
    });
  }

  it("subscribes again after reconnecting: notifications keep arriving without the version check", async () => {
    const c = cluster();
    const proxy = await TcpProxy.start(6379);
    opened.proxies.push(proxy);
    const a = await c.store("a");
    const b = await c.store("b", { url: proxy.url, pollIntervalMs: 3_600_000 });
    const degraded = nextHealth(b, "degraded");
    proxy.cut();
    await degraded;
    const connected = nextHealth(b, "connected");
    proxy.restore();
    await connected;
    // The subscription is re-established asynchronously after "ready": retry until a change gets through.
    let expected = 0;
    await eventually(
      async () => {
        const update = await a.update({ hubPercent: (expected % 100) + 1 }, a.current().version);
        expected = update.config.version;
        await new Promise((resolve) => setTimeout(resolve, 100));
        return b.current().version === expected;
      },
      "b to apply a change notified by pub/sub",
      10_000,
      0,
    );
  });

  it("starts degraded on the initial config when Redis is unreachable, then connects", async () => {
    const c = cluster();
    const proxy = await TcpProxy.start(6379);
    opened.proxies.push(proxy);
    proxy.cut();
    const b = await c.store("b", { url: proxy.url, initialConfig: routingConfigOrThrow({ hubPercent: 3 }) });
    assert.equal(b.health().state, "degraded");
    assert.equal(b.current().hubPercent, 3);
    const connected = nextHealth(b, "connected");
    proxy.restore();
    await connected;
    assert.equal(await admin.hget(`${c.prefix}routing`, "version"), "0");
  });
});
