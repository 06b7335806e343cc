/**
 * Redis stopped and started again under two gateway processes (terminate mode), with a private
 * redis-server (the shared one is never touched) that comes back empty: open sessions, whose requests
 * alternate between the instances, keep working throughout; new sessions are routed on the last known
 * config; /readyz reports the degraded store; when Redis returns the config is stored again, sessions are
 * registered again (so requests reaching the non-owner are forwarded) and changes propagate again.
 * gw-a reaches Redis through a TCP proxy, so that a second outage can bring Redis back to gw-b first.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import type { Backend } from "../../src/domain.js";
import { connected, emitWithAck, type AnySocket, type ClientVersion, type TransportMode } from "../helpers/clients.js";
import {
  engineIdOf,
  openClient,
  routeKeys,
  startBackends,
  startCluster,
  uniquePrefix,
  type Backends,
  type Cluster,
  type Instance,
} from "../helpers/cluster.js";
import { eventually } from "../helpers/eventually.js";
import { RedisServer } from "../helpers/redis-server.js";
import { RoundRobinProxy } from "../helpers/round-robin-proxy.js";
import { TcpProxy } from "../helpers/tcp-proxy.js";

const KEYS = Array.from({ length: 200 }, (_, i) => String(i + 1));

interface Busy {
  readonly key: string;
  readonly route: Backend;
  readonly socket: AnySocket;
  readonly sid: string;
  readonly disconnects: string[];
  readonly failures: string[];
  acks: number;
}

describe("Redis stopped and started under two gateway processes", () => {
  const prefix = uniquePrefix("outage");
  let redis: RedisServer | undefined;
  /** gw-a's way to Redis. */
  let redisPathOfA: TcpProxy | undefined;
  let backends: Backends;
  let cluster: Cluster | undefined;
  let a: Instance;
  let b: Instance;
  /** Alternates every request of a session between the instances. */
  let balancer: RoundRobinProxy;
  /** Pinned to gw-a while Redis is away, alternating after it returns. */
  let laterBalancer: RoundRobinProxy;
  const busy: Busy[] = [];
  let traffic = true;
  const loops: Promise<void>[] = [];
  let routesBefore: Backend[] = [];
  let versionBefore = 0;

  before(async () => {
    redis = await RedisServer.start();
    redisPathOfA = await TcpProxy.start(redis.port);
    backends = await startBackends();
    const routing = {
      hubPercent: 50,
      lists: { alwaysHub: ["hub-2", "hub-4", "hub-new"], neverHub: ["legacy-2", "legacy-4", "legacy-new"] },
    };
    cluster = await startCluster({
      backends,
      redisUrl: redis.url,
      envOf: { "gw-a": { REDIS_URL: redisPathOfA.url } },
      prefix,
      ids: ["gw-a", "gw-b"],
      mode: "terminate",
      routing,
    });
    [a, b] = cluster.instances as [Instance, Instance];
    balancer = await RoundRobinProxy.start([a.url, b.url]);
    laterBalancer = await RoundRobinProxy.start([a.url, b.url]);
    laterBalancer.pin(0);
    for (const instance of [a, b]) await storeConnected(instance);
  });

  after(async () => {
    traffic = false;
    await Promise.allSettled(loops);
    for (const client of busy) client.socket.close();
    await balancer?.close();
    await laterBalancer?.close();
    await cluster?.stop();
    await backends?.close();
    await redisPathOfA?.close();
    await redis?.stop();
  });

  function storeConnected(instance: Instance, version?: number): Promise<unknown> {
    const expected = version === undefined ? "redis: connected" : `redis: connected, routing config v${version}`;
    return eventually(
      async () => (await instance.admin.storeDetail()).startsWith(expected),
      `${instance.id}'s store to be connected`,
      10_000,
    );
  }

  function storeDegraded(instance: Instance): Promise<unknown> {
    const detail = /^redis: degraded since \S+ \(.+\); routing on the last known config v\d+$/;
    return eventually(async () => detail.test(await instance.admin.storeDetail()), `${instance.id} to report the degraded store`);
  }

  async function open(
    version: ClientVersion,
    url: string,
    key: string,
    route: Backend,
    transport: TransportMode = "polling",
  ): Promise<Busy> {
    const socket = openClient(version, url, { userId: key, transport });
    const client: Busy = { key, route, socket, sid: "", disconnects: [], failures: [], acks: 0 };
    socket.on("disconnect", (reason: string) => client.disconnects.push(reason));
    await connected(socket);
    Object.assign(client, { sid: engineIdOf(socket) });
    assert.equal(backends.backendOf(client.sid), route, `${key} is on ${route}`);
    busy.push(client);
    return client;
  }

  /** An ack every ~50 ms on the client, until the file ends. */
  function keepBusy(client: Busy): void {
    loops.push(
      (async () => {
        for (let n = 0; traffic; n++) {
          try {
            const [reply] = await emitWithAck<[number]>(client.socket, "echo", n);
            if (reply !== n) client.failures.push(`echo ${n} answered ${reply}`);
            client.acks++;
          } catch (error) {
            client.failures.push(`${new Date().toISOString()} ${(error as Error).message}`);
          }
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      })(),
    );
  }

  /** Waits for `count` more acks on every busy client; the message names the clients that fell silent. */
  async function moreTraffic(count: number, what: string): Promise<void> {
    const start = busy.map((client) => client.acks);
    await eventually(() => busy.every((client, i) => client.acks >= start[i]! + count), what, 10_000).catch((error: Error) => {
      throw new Error(
        `${error.message}: ` +
          `${JSON.stringify(busy.map((c) => ({ key: c.key, acks: c.acks, failures: c.failures, disconnects: c.disconnects })))}`,
      );
    });
  }

  async function roundTrip(client: Busy): Promise<void> {
    const [who] = await emitWithAck<[{ query: Record<string, string> }]>(client.socket, "whoami");
    assert.equal(who.query.userId, client.key);
    const bytes = Buffer.from([1, 2, 3, 250, 251]);
    const [echoed] = await emitWithAck<[Buffer]>(client.socket, "echo", bytes);
    assert.ok(Buffer.from(echoed).equals(bytes));
  }

  function healthy(client: Busy): void {
    assert.deepEqual(client.disconnects, [], `${client.key} was never disconnected`);
    assert.deepEqual(client.failures, [], `${client.key}: every ack came back`);
    assert.equal(engineIdOf(client.socket), client.sid, `${client.key} kept its session`);
  }

  async function registeredEverywhere(direct: Redis): Promise<void> {
    const missing = async () =>
      (await Promise.all(busy.map(async (c) => ((await direct.exists(`${prefix}session:${c.sid}`)) === 1 ? [] : [c.key])))).flat();
    await eventually(async () => (await missing()).length === 0, "every open session to be registered again").catch(
      async (error: Error) => {
        throw new Error(`${error.message}; missing: ${(await missing()).join(", ")}`);
      },
    );
  }

  async function withDirectRedis<T>(work: (direct: Redis) => Promise<T>): Promise<T> {
    const direct = new Redis(redis!.url, { lazyConnect: true });
    try {
      await direct.connect();
      return await work(direct);
    } finally {
      direct.disconnect();
    }
  }

  it("before the outage: a changed config and busy sessions alternating between the instances", async () => {
    const put = await a.admin.setHubPercent(30);
    assert.equal(put.status, 200);
    versionBefore = put.body.version;
    for (const instance of [a, b])
      await eventually(async () => (await instance.admin.routing()).version === versionBefore, `${instance.id} to apply v${versionBefore}`);
    routesBefore = await routeKeys(backends, KEYS, (i) => ({ url: (i % 2 === 0 ? a : b).url }));
    assert.ok(routesBefore.includes("hub") && routesBefore.includes("legacy"));
    await open("2", balancer.url, "legacy-2", "legacy");
    await open("2", balancer.url, "hub-2", "hub");
    await open("4", balancer.url, "legacy-4", "legacy");
    await open("4", balancer.url, "hub-4", "hub", "upgrade");
    for (const client of busy) await roundTrip(client);
    busy.forEach(keepBusy);
    await moreTraffic(3, "traffic on every session");
    for (const client of busy.filter((c) => c.socket.io.engine.transport.name === "polling"))
      assert.equal(balancer.targetsSeenBy(client.sid), 2);
  });

  it("while Redis is down: /readyz reports the degraded store, sessions keep working, new sessions follow the last config", async () => {
    await redis!.stop();
    for (const instance of [a, b]) {
      await storeDegraded(instance);
      const ready = await instance.admin.readyz();
      // Degraded but ready: failing every instance at once would take the service down.
      assert.equal(ready.status, 200);
      assert.equal(ready.body.status, "ready");
      assert.match(await instance.admin.storeDetail(), new RegExp(`config v${versionBefore}$`));
      assert.equal((await instance.admin.sessions()).store.state, "degraded");
    }
    const refused = await b.admin.setHubPercent(80);
    assert.equal(refused.status, 503);
    assert.equal(refused.body.code, "SWY_ERR_STORE_UNAVAILABLE");

    const routesDuring = await routeKeys(backends, KEYS, (i) => ({ url: (i % 2 === 0 ? b : a).url }));
    assert.deepEqual(
      KEYS.filter((_, i) => routesDuring[i] !== routesBefore[i]),
      [],
      "keys routed differently while Redis is down",
    );
    // New sessions opened on one instance during the outage (the second balancer is pinned to gw-a).
    for (const client of [
      await open("4", laterBalancer.url, "hub-new", "hub"),
      await open("3", laterBalancer.url, "legacy-new", "legacy"),
    ]) {
      await roundTrip(client);
      keepBusy(client);
    }
    await moreTraffic(5, "more traffic on every session while Redis is down");
    for (const client of busy) {
      await roundTrip(client);
      healthy(client);
    }
  });

  it("after Redis returns empty: the config is stored again, sessions are registered again, changes propagate again", async () => {
    await redis!.resume();
    for (const instance of [a, b]) await storeConnected(instance, versionBefore);
    await withDirectRedis(async (direct) => {
      // No routing lost: Redis came back empty and holds the config the instances routed on.
      await eventually(
        async () => (await direct.hget(`${prefix}routing`, "version")) === String(versionBefore),
        "the config to be stored again",
      );
      assert.equal(JSON.parse((await direct.hget(`${prefix}routing`, "config"))!).hubPercent, 30);
      await registeredEverywhere(direct);
      assert.equal(JSON.parse((await direct.get(`${prefix}session:${busy.find((c) => c.key === "hub-new")!.sid}`))!).i, "gw-a");
    });
    // The sessions opened during the outage now have requests reaching gw-b, which forwards them to gw-a.
    laterBalancer.alternate();
    for (const client of busy) await roundTrip(client);
    for (const client of busy.filter((c) => c.key.endsWith("-new")))
      assert.equal(laterBalancer.targetsSeenBy(client.sid), 2, `${client.key} alternated after the outage`);

    const change = await b.admin.setHubPercent(40);
    assert.equal(change.status, 200, JSON.stringify(change.body));
    assert.equal(change.body.version, versionBefore + 1);
    versionBefore = change.body.version;
    await eventually(async () => (await a.admin.routing()).hubPercent === 40, "gw-a to apply the change made on gw-b", 2000);
    await moreTraffic(3, "traffic on every session after the outage");
    for (const client of busy) healthy(client);
  });

  it("when Redis comes back to gw-b before gw-a, gw-a's sessions keep working through gw-b", async () => {
    // Instances reconnect on their own backoff (up to a second apart), or after a partition heals: here
    // gw-b finds the empty Redis while gw-a, which owns sessions, cannot re-register them yet.
    redisPathOfA!.cut();
    await redis!.stop();
    for (const instance of [a, b]) await storeDegraded(instance);
    await redis!.resume();
    await storeConnected(b, versionBefore);
    assert.match(await a.admin.storeDetail(), /^redis: degraded/);
    await moreTraffic(10, "traffic on every session while only gw-b is back");
    redisPathOfA!.restore();
    await storeConnected(a, versionBefore);
    await withDirectRedis(registeredEverywhere);
    await moreTraffic(3, "traffic on every session once both are back");
    for (const client of busy) {
      await roundTrip(client);
      healthy(client);
    }
  });
});
