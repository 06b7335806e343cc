/**
 * Progressive rollout when things go wrong, on two real gateway processes sharing a private Redis (so
 * that it can be stopped), with the sample hub behind a fault-injecting proxy and steady traffic:
 * - the hub starts refusing connections at 25 % (the test holds the rollout at 10 % while its users settle, then
 *   promotes it): the rollout rolls back after `threshold` failed checks of consecutive intervals; hub users
 *   reconnect to legacy; legacy users are never touched and lose no message;
 * - Redis stops mid-rollout: the rollout holds at its step; Redis comes back (empty) and it goes on to 100 %;
 * - the leader is killed mid-rollout: the other instance takes over at the same step and finishes.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { connected, emitWithAck, type AnySocket } from "../helpers/clients.js";
import {
  openClient,
  startBackends,
  startCluster,
  storesConnected,
  uniquePrefix,
  type Backends,
  type Cluster,
  type Instance,
} from "../helpers/cluster.js";
import { eventually } from "../helpers/eventually.js";
import { FaultyHub } from "../helpers/faulty-hub.js";
import { RedisServer } from "../helpers/redis-server.js";
import { Timeline, Traffic, bucket, rolloutOf, trackClients } from "../helpers/rollout-harness.js";

const INTERVAL = "400ms";
const PLAN = {
  steps: [10, 25, 50, 100],
  interval: INTERVAL,
  threshold: 2,
  // One session per interval is enough to judge: a busy CI machine makes traffic thin.
  minSessions: 1,
  gates: [{ gate: "connectErrorRate", margin: 0.2 }],
  drain: { window: "200ms", maxRate: 20 },
};

/** `count` keys whose bucket satisfies `where`. */
function keysWhere(prefix: string, count: number, where: (bucket: number) => boolean): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < count; i++) if (where(bucket(`${prefix}-${i}`))) keys.push(`${prefix}-${i}`);
  return keys;
}

describe("progressive rollout: a failing hub, a Redis outage, a dead leader", () => {
  let redis: RedisServer | undefined;
  let backends: Backends;
  let proxy: FaultyHub | undefined;
  let cluster: Cluster | undefined;
  let a: Instance;
  let b: Instance;
  let traffic: Traffic | undefined;
  const sockets: AnySocket[] = [];

  before(async () => {
    redis = await RedisServer.start();
    backends = await startBackends();
    proxy = await FaultyHub.start({ kind: "proxy", target: backends.hub.url });
    cluster = await startCluster({
      backends,
      redisUrl: redis.url,
      prefix: uniquePrefix("rollout-failures"),
      ids: ["gw-a", "gw-b"],
      mode: "pipe",
      routing: { hubPercent: 0 },
      env: { HUB_URL: proxy.url },
    });
    [a, b] = cluster.instances as [Instance, Instance];
    await storesConnected(cluster);
    traffic = new Traffic(backends, [a, b]);
  });

  after(async () => {
    await traffic?.stop();
    for (const socket of sockets) socket.close();
    await cluster?.stop();
    await proxy?.close();
    await backends?.close();
    await redis?.stop();
  });

  it("rolls back a hub failing at 25 % within threshold intervals; hub users go back, legacy users lose nothing", async (t) => {
    // Legacy users (buckets no step below 100 % moves) in one room, hearing a sender throughout.
    const legacyKeys = keysWhere("legacy", 5, (n) => n >= 9000);
    const listeners = await trackClients(backends, legacyKeys.slice(1), (i) => (i % 2 === 0 ? a : b).url);
    const sender = openClient("4", a.url, { userId: legacyKeys[0], transport: "websocket" });
    sockets.push(sender, ...listeners.map((client) => client.socket));
    await connected(sender);
    const heard = listeners.map(() => [] as string[]);
    for (const [i, client] of listeners.entries()) {
      client.socket.on("msg", (message: { text: string }) => heard[i]!.push(message.text));
      await emitWithAck(client.socket, "join", "rollout-room");
    }
    await emitWithAck(sender, "join", "rollout-room");
    let sent = 0;
    let sending = true;
    // Also when an assertion fails: a sender left running would keep the test process alive.
    t.after(() => {
      sending = false;
    });
    const sendLoop = (async () => {
      while (sending) {
        const [ack] = await emitWithAck<[{ ok?: boolean }]>(sender, "msg", { room: "rollout-room", text: `m${sent}` });
        if (ack.ok === true) sent++;
        await new Promise((resolve) => setTimeout(resolve, 30));
      }
    })();
    // Hub users: moved to the hub at the first step.
    const hubUsers = await trackClients(
      backends,
      keysWhere("hub", 6, (n) => n < 1000),
      (i) => (i % 2 === 0 ? a : b).url,
    );
    sockets.push(...hubUsers.map((client) => client.socket));

    const timeline = new Timeline(a.admin);
    assert.equal((await a.admin.call("POST", "/admin/rollout", { body: PLAN })).status, 201);
    // Held while the stage is set (a passing check could otherwise step past 25 % before the hub fails); the
    // first check comes an interval after the start, the pause within milliseconds.
    assert.equal((await a.admin.call("POST", "/admin/rollout/pause")).status, 200);
    await eventually(
      () => hubUsers.every((client) => client.sessions.at(-1)?.backend === "hub" && client.socket.connected),
      "hub users on the hub",
    );
    // The hub starts refusing connections, and the rollout goes on at 25 %.
    proxy!.behaviour = { kind: "refuse", status: 503 };
    const held = (await rolloutOf(a.admin))!;
    assert.ok(held.phase === "paused" && (held.weight === 10 || held.weight === 25), JSON.stringify(held));
    assert.equal((await a.admin.call("POST", `/admin/rollout/${held.weight === 10 ? "promote" : "resume"}`)).status, 200);
    await eventually(async () => (await rolloutOf(b.admin))?.weight === 25, "the 25 % step everywhere");
    const rolledBack = await eventually(
      async () => {
        const state = await rolloutOf(a.admin);
        return state?.phase === "rolled-back" ? state : undefined;
      },
      "the rollback",
      15_000,
    ).finally(() => {
      // Whatever happens here, the next tests get a healthy hub.
      proxy!.behaviour = { kind: "proxy", target: backends.hub.url };
    });
    await timeline.save("rollback");
    assert.equal(rolledBack!.weight, 0);
    assert.match(
      rolledBack!.reason,
      /^rolled back: 25% → 0%: 2 failed checks \(threshold 2\): connectErrorRate (1|0\.\d+) > 0\.2 \(legacy 0 \+ margin 0\.2\)/,
    );

    // The failed checks judged consecutive intervals: the rollback came `threshold` intervals after the failures began.
    const audit = await a.admin.audit(100);
    const windowOf = (pattern: RegExp) => {
      const entry = audit.find((e) => e.action === "rollout.check" && pattern.test(e.changes[0]));
      return Number(/^window (\d+)/.exec(entry?.changes.find((line: string) => line.startsWith("window")) ?? "")?.[1]);
    };
    // From the first failure to the rollback, every interval was judged (in order, none skipped), and the rollback
    // came with the second failure; an interval without enough traffic in between is inconclusive and does not count.
    const firstFailure = windowOf(/^check failed \(1 of 2\) at 25%/);
    const rollbackWindow = windowOf(/^rolled back/);
    const judged = audit
      .filter((e) => e.action === "rollout.check")
      .map((e) => /^window (\d+): (\w+)/.exec(e.changes.find((line: string) => line.startsWith("window")) ?? ""))
      .filter((match) => match !== null && Number(match[1]) >= firstFailure && Number(match[1]) <= rollbackWindow)
      .map((match) => [Number(match![1]), match![2]] as const)
      .reverse();
    assert.deepEqual(
      judged.map(([window]) => window),
      Array.from({ length: rollbackWindow - firstFailure + 1 }, (_, i) => firstFailure + i),
    );
    assert.deepEqual(
      judged.filter(([, verdict]) => verdict !== "inconclusive").map(([, verdict]) => verdict),
      ["fail", "fail"],
    );
    t.diagnostic(`rolled back ${rollbackWindow - firstFailure + 1} intervals after the first failure (threshold 2)`);
    // Nothing failed before the hub did.
    assert.ok(!audit.some((e) => /^check failed .* at 10%/.test(e.changes[0])));

    await eventually(
      () => hubUsers.every((client) => client.socket.connected && client.sessions.at(-1)?.backend === "legacy"),
      "hub users back on legacy",
      10_000,
    );
    sending = false;
    await sendLoop;
    await eventually(() => heard.every((texts) => texts.length === sent), `every listener to hear all ${sent} messages`);
    for (const [i, client] of listeners.entries()) {
      assert.deepEqual(
        heard[i],
        Array.from({ length: sent }, (_, n) => `m${n}`),
      );
      assert.equal(client.sessions.length, 1, `${client.key} was never reconnected`);
    }
    for (const socket of sockets) socket.close();
  });

  it("holds through a Redis outage and finishes once Redis is back (empty)", async () => {
    assert.equal((await a.admin.call("POST", "/admin/rollout", { body: PLAN })).status, 201);
    await eventually(async () => (await rolloutOf(a.admin))?.weight === 25, "the 25 % step", 15_000);
    await redis!.stop();
    await eventually(async () => (await a.admin.call("GET", "/admin/rollout")).body.store === "degraded", "a to see the outage");
    const held = (await rolloutOf(a.admin))!;
    // Five intervals without Redis: nobody can judge or write, every instance stays where it was.
    const until = Date.now() + 2000;
    while (Date.now() < until) {
      for (const instance of [a, b]) assert.equal((await rolloutOf(instance.admin))?.weight, held.weight);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await redis!.resume();
    for (const instance of [a, b])
      await eventually(
        async () => (await rolloutOf(instance.admin))?.phase === "promoted",
        `${instance.id}: promoted after the outage`,
        20_000,
      );
    assert.equal((await b.admin.routing()).hubPercent, 100);
  });

  it("lets the other instance resume at the same step when the leader is killed", async () => {
    const started = Date.now();
    assert.equal((await b.admin.call("POST", "/admin/rollout", { body: PLAN })).status, 201);
    await eventually(async () => (await rolloutOf(a.admin))?.weight === 25, "the 25 % step", 15_000).catch(async (e) => {
      console.log(JSON.stringify(await a.admin.call("GET", "/admin/rollout")), traffic!.records.length, traffic!.errors);
      throw e;
    });
    const leaderId = (await a.admin.call("GET", "/admin/rollout")).body.leader as string;
    const [leader, survivor] = leaderId === a.id ? [a, b] : [b, a];
    assert.equal(leader.id, leaderId);
    traffic!.drop(leader.url);
    leader.process.child.kill("SIGKILL");
    await eventually(async () => (await rolloutOf(survivor.admin))?.phase === "promoted", "the survivor to finish", 20_000);
    // Every step taken once, in order, none repeated: the survivor resumed where the leader stopped.
    const steps = (await survivor.admin.audit(200))
      .filter((entry) => Date.parse(entry.at) >= started && entry.action === "rollout.check")
      .reverse()
      .flatMap((entry) => {
        const match = /^step \d+ → \d+ \(([\d.]+)% → ([\d.]+)%\)/.exec(entry.changes[0]);
        return match === null ? [] : [{ to: Number(match[2]), by: entry.actor.identity as string }];
      });
    assert.deepEqual(
      steps.map((step) => step.to),
      [25, 50, 100],
    );
    assert.match(steps.at(-1)!.by, new RegExp(`rollout-controller@${survivor.id}`));
  });
});
