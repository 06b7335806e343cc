/**
 * Drains and rollback across two real gateway processes sharing the real Redis (terminate mode): a drain
 * accepted by one instance closes that backend's sessions on both, their clients reconnect and are routed
 * under the current split; rollback does the same for the hub and sets the split to 0; the audit log,
 * read from either instance, records who did what. Also the CLI against the cluster.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Backend } from "../../src/domain.js";
import { connected, emitWithAck, type AnySocket, type ClientVersion, type TransportMode } from "../helpers/clients.js";
import {
  CLUSTER_ADMIN_TOKEN,
  SHARED_REDIS_URL,
  deleteKeys,
  engineIdOf,
  openClient,
  routeKeys,
  startBackends,
  startCluster,
  storesConnected,
  uniquePrefix,
  type Backends,
  type Cluster,
  type Instance,
} from "../helpers/cluster.js";
import { runCli, type CliResult } from "../helpers/cli-runner.js";
import { eventually } from "../helpers/eventually.js";

interface TrackedClient {
  readonly key: string;
  readonly home: Backend;
  readonly via: string;
  readonly socket: AnySocket;
  /** Engine ids of its sessions, in order: one more per (re)connection. */
  readonly sessions: string[];
}

function cli(args: string[]): Promise<CliResult> {
  return runCli(args, { SWITCHYARD_TOKEN: CLUSTER_ADMIN_TOKEN });
}

describe("two gateway processes on one Redis: drains, rollback, audit", () => {
  const prefix = uniquePrefix("drains");
  let backends: Backends;
  let cluster: Cluster | undefined;
  let a: Instance;
  let b: Instance;
  const tracked: TrackedClient[] = [];

  before(async () => {
    backends = await startBackends();
    cluster = await startCluster({
      backends,
      redisUrl: SHARED_REDIS_URL,
      prefix,
      ids: ["gw-a", "gw-b"],
      mode: "terminate",
      routing: { hubPercent: 50 },
    });
    [a, b] = cluster.instances as [Instance, Instance];
    await storesConnected(cluster);
  });

  after(async () => {
    for (const client of tracked) client.socket.close();
    await cluster?.stop();
    await backends?.close();
    await deleteKeys(SHARED_REDIS_URL, prefix);
  });

  const current = (client: TrackedClient) => backends.backendOf(client.sessions.at(-1));
  const onHub = () => tracked.filter((client) => client.home === "hub");
  const onLegacy = () => tracked.filter((client) => client.home === "legacy");

  async function track(key: string, home: Backend, instance: Instance, version: ClientVersion, transport: TransportMode): Promise<void> {
    const socket = openClient(version, instance.url, { userId: key, transport, reconnection: true });
    const client: TrackedClient = { key, home, via: instance.id, socket, sessions: [] };
    socket.on("connect", () => client.sessions.push(engineIdOf(socket) ?? "?"));
    tracked.push(client);
    await connected(socket);
  }

  /** Waits until every client in `clients` has had `count` sessions and its last one is on `backend(client)`. */
  async function settled(
    clients: readonly TrackedClient[],
    count: number,
    backend: (client: TrackedClient) => Backend,
    what: string,
  ): Promise<void> {
    await eventually(
      () => clients.every((client) => client.socket.connected && client.sessions.length === count && current(client) === backend(client)),
      what,
      10_000,
    );
  }

  async function appliedEverywhere(hubPercent: number): Promise<void> {
    for (const instance of [a, b])
      await eventually(
        async () => (await instance.admin.routing()).hubPercent === hubPercent,
        `${instance.id} to apply hubPercent ${hubPercent}`,
      );
  }

  it("sets up hub and legacy sessions on both instances (routed by the split)", async () => {
    const keys = Array.from({ length: 40 }, (_, i) => `${i + 1}`);
    const routes = await routeKeys(backends, keys, (i) => ({ url: (i % 2 === 0 ? a : b).url }));
    const hubKeys = keys.filter((_, i) => routes[i] === "hub");
    const legacyKeys = keys.filter((_, i) => routes[i] === "legacy");
    assert.ok(hubKeys.length >= 4 && legacyKeys.length >= 4);
    for (const [n, instance] of [a, b].entries()) {
      await track(hubKeys[2 * n]!, "hub", instance, "4", "websocket");
      await track(hubKeys[2 * n + 1]!, "hub", instance, "2", "polling");
      await track(legacyKeys[2 * n]!, "legacy", instance, "3", "polling");
      await track(legacyKeys[2 * n + 1]!, "legacy", instance, "4", "websocket");
    }
    assert.deepEqual(
      tracked.map(current),
      tracked.map((client) => client.home),
    );
    // The hub sessions of the routing probes close asynchronously after their close packets.
    await eventually(() => backends.hub.runtime.sessionCount === 4, "the hub to hold exactly the 4 hub clients");
  });

  it("a drain of the hub accepted by one instance closes the hub sessions on both; they reconnect under the current split", async () => {
    assert.equal((await a.admin.setHubPercent(0)).status, 200);
    await appliedEverywhere(0);
    // A split change alone moves no open session.
    for (const client of onHub()) {
      assert.equal(current(client), "hub");
      assert.equal((await emitWithAck<[{ query: Record<string, string> }]>(client.socket, "whoami"))[0].query.userId, client.key);
    }
    // Each instance's heartbeat must carry its hub sessions before the answer can estimate them.
    await eventually(async () => {
      const { totals } = await a.admin.sessions();
      return totals.hub.polling + totals.hub.websocket === 4;
    }, "the heartbeats to show 4 hub sessions");

    const drain = await a.admin.drain("hub", 100);
    assert.equal(drain.status, 202, JSON.stringify(drain.body));
    assert.equal(drain.body.scope, "cluster");
    assert.deepEqual(
      drain.body.instances.map((instance: { instanceId: string; willClose: number }) => [instance.instanceId, instance.willClose]),
      [
        ["gw-a", 2],
        ["gw-b", 2],
      ],
    );
    assert.equal(drain.body.willClose, 4);

    await settled(onHub(), 2, () => "legacy", "the drained hub clients to reconnect to legacy");
    await eventually(() => backends.hub.runtime.sessionCount === 0, "the hub to have no session left");
    for (const client of onLegacy())
      assert.equal(client.sessions.length, 1, `legacy client ${client.key} via ${client.via} was not touched`);
  });

  it("a drain of legacy accepted by the other instance moves every legacy session, hub users back to the hub", async () => {
    assert.equal((await b.admin.setHubPercent(50)).status, 200);
    await appliedEverywhere(50);
    const drain = await b.admin.drain("legacy", 100);
    assert.equal(drain.status, 202);
    assert.equal(drain.body.scope, "cluster");
    await settled(onHub(), 3, () => "hub", "hub users to be back on the hub");
    await settled(onLegacy(), 2, () => "legacy", "legacy users to reconnect to legacy");
    for (const client of tracked)
      assert.equal((await emitWithAck<[{ query: Record<string, string> }]>(client.socket, "whoami"))[0].query.userId, client.key);
  });

  it("rollback on one instance sets the split to 0 everywhere and drains the hub on both instances", async () => {
    const rollback = await b.admin.rollback();
    assert.equal(rollback.status, 200, JSON.stringify(rollback.body));
    assert.equal(rollback.body.config.hubPercent, 0);
    assert.equal(rollback.body.drain.backend, "hub");
    assert.equal(rollback.body.drain.scope, "cluster");
    await appliedEverywhere(0);
    await settled(onHub(), 4, () => "legacy", "rolled-back hub users to reconnect to legacy");
    await eventually(() => backends.hub.runtime.sessionCount === 0, "the hub to have no session left");
    for (const client of onLegacy()) assert.equal(client.sessions.length, 2);
    await eventually(async () => {
      const view = await a.admin.sessions();
      return view.totals.hub.polling + view.totals.hub.websocket === 0 && view.totals.legacy.polling + view.totals.legacy.websocket === 8;
    }, "GET /admin/sessions to show all 8 sessions on legacy");
  });

  it("the audit log, read on either instance, records the drains and the rollback with their instance and token fingerprint", async () => {
    for (const instance of [a, b]) {
      const entries = await instance.admin.audit(20);
      const summary = entries.map((entry) => `${entry.instanceId} ${entry.action}: ${entry.changes.join(" | ")}`);
      const find = (pattern: RegExp) => summary.findIndex((line) => pattern.test(line));
      const rollback = find(/^gw-b rollback: hubPercent: 50 → 0 \| drain hub 100% \(cluster, ~\d+ sessions\)$/);
      const legacyDrain = find(/^gw-b drain: drain legacy 100% \(cluster, ~\d+ sessions\)$/);
      const hubDrain = find(/^gw-a drain: drain hub 100% \(cluster, ~4 sessions\)$/);
      const toZero = find(/^gw-a routing\.update: hubPercent: 50 → 0$/);
      // Newest first.
      assert.ok(rollback >= 0 && rollback < legacyDrain && legacyDrain < hubDrain && hubDrain < toZero, summary.join("\n"));
      for (const entry of entries.filter((e) => e.action !== "routing.seed")) {
        assert.match(entry.actor.identity, /^token:[0-9a-f]{8}\b/);
        assert.match(entry.at, /^\d{4}-\d\d-\d\dT/);
      }
      assert.ok(!JSON.stringify(entries).includes(CLUSTER_ADMIN_TOKEN), "the token itself is never written");
    }
  });

  it("the CLI shows both instances and its split, made on one instance, is applied by the other", async () => {
    const status = await cli(["status", "--url", b.admin.opsUrl]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /routing config v\d+: 0% of keys on the hub/);
    assert.match(status.stdout, /store: redis, connected/);
    assert.match(status.stdout, /^gw-a\s+v\d+\s+\d+\/\d+\s+0\/0\s+connected/m);
    assert.match(status.stdout, /^gw-b\s+v\d+\s+\d+\/\d+\s+0\/0\s+connected/m);
    const split = await cli(["split", "25", "--url", a.admin.opsUrl]);
    assert.equal(split.code, 0, split.stderr);
    assert.match(split.stdout, /^hubPercent 0% → 25% \(config v(\d+) → v(\d+)\)/);
    await appliedEverywhere(25);
  });
});
