/**
 * Two real gateway processes (src/main.ts) sharing the real Redis, in pipe mode, in front of the sample
 * legacy chat and the sample hub: the split of 1,000 keys, stickiness across reconnects and instances,
 * a 10 → 50 % ramp, and a change made on one instance applied by the other within one second. Where a
 * session went is read from the backends themselves (the hub's sessions, the legacy server's engine),
 * never from the gateways.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Backend } from "../../src/domain.js";
import { connected, emitWithAck, type AnySocket, type ClientVersion, type TransportMode } from "../helpers/clients.js";
import {
  SHARED_REDIS_URL,
  deleteKeys,
  engineIdOf,
  openClient,
  routeKeys,
  share,
  startBackends,
  startCluster,
  storesConnected,
  uniquePrefix,
  type Backends,
  type Cluster,
  type Instance,
} from "../helpers/cluster.js";
import { eventually } from "../helpers/eventually.js";

const KEYS = Array.from({ length: 1000 }, (_, i) => String(i + 1));
/** The tolerance for the share of 1,000 keys. */
const TOLERANCE_POINTS = 2;
/** The bound for a change to reach every instance. */
const PROPAGATION_BOUND_MS = 1000;

describe("two gateway processes on one Redis: split, stickiness, ramp, propagation", () => {
  const prefix = uniquePrefix("routing");
  let backends: Backends;
  let cluster: Cluster | undefined;
  let a: Instance;
  let b: Instance;
  const clients: AnySocket[] = [];
  /** Each key's backend at 10 %, as the backends saw it. */
  let at10: Backend[] = [];

  before(async () => {
    backends = await startBackends();
    cluster = await startCluster({
      backends,
      redisUrl: SHARED_REDIS_URL,
      prefix,
      ids: ["gw-a", "gw-b"],
      mode: "pipe",
      routing: { hubPercent: 10 },
    });
    [a, b] = cluster.instances as [Instance, Instance];
    await storesConnected(cluster);
  });

  after(async () => {
    for (const socket of clients) socket.close();
    await cluster?.stop();
    await backends?.close();
    await deleteKeys(SHARED_REDIS_URL, prefix);
  });

  /** Connects a real client and reads which backend holds its session. */
  async function connectAndLocate(
    version: ClientVersion,
    url: string,
    userId: string,
    transport: TransportMode,
  ): Promise<{ socket: AnySocket; backend: Backend | undefined; engineId: string | undefined }> {
    const socket = openClient(version, url, { userId, transport });
    clients.push(socket);
    await connected(socket);
    const engineId = engineIdOf(socket);
    return { socket, backend: backends.backendOf(engineId), engineId };
  }

  /** PUTs `document` on `writer`; resolves with the time from the PUT's answer until `reader` serves the new version. */
  async function propagationMs(
    writer: Instance,
    reader: Instance,
    change: (doc: Record<string, unknown>) => Record<string, unknown>,
  ): Promise<{ ms: number; version: number }> {
    const current = await writer.admin.routing();
    const put = await writer.admin.call("PUT", "/admin/routing", { body: change(current), ifMatch: current.version });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    const answeredAt = performance.now();
    const version: number = put.body.version;
    assert.equal(put.headers.get("etag"), `"${version}"`);
    for (;;) {
      const seen = await reader.admin.routing();
      const elapsed = performance.now() - answeredAt;
      if (seen.version === version) return { ms: elapsed, version };
      if (elapsed > 5 * PROPAGATION_BOUND_MS)
        assert.fail(`${reader.id} still serves v${seen.version} ${Math.round(elapsed)} ms after v${version} was stored`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  it("1,000 distinct keys land within ±2 points of the 10 % share, alternating between the instances", async (t) => {
    for (const instance of [a, b]) assert.equal((await instance.admin.routing()).hubPercent, 10);
    at10 = await routeKeys(backends, KEYS, (i) => ({ url: (i % 2 === 0 ? a : b).url }));
    const hubShare = share(at10, "hub");
    t.diagnostic(`hub share at hubPercent 10: ${hubShare} %`);
    assert.ok(Math.abs(hubShare - 10) <= TOLERANCE_POINTS, `${hubShare} % of the keys went to the hub at hubPercent 10`);
  });

  it("every key lands on the same backend again through the other instance, over Engine.IO 3 and 4", async () => {
    const again = await routeKeys(backends, KEYS, (i) => ({ url: (i % 2 === 0 ? b : a).url, eio: i % 4 < 2 ? 3 : 4 }));
    const moved = KEYS.filter((_, i) => again[i] !== at10[i]);
    assert.deepEqual(moved, [], "keys that changed backend on reconnect");
  });

  it("real 2.x, 3.x and 4.x clients keep their backend when they reconnect through the other instance", async () => {
    const hubKeys = KEYS.filter((_, i) => at10[i] === "hub").slice(0, 3);
    const legacyKeys = KEYS.filter((_, i) => at10[i] === "legacy").slice(0, 3);
    const versions: ClientVersion[] = ["2", "3", "4"];
    for (const [expected, keys] of [
      ["hub", hubKeys],
      ["legacy", legacyKeys],
    ] as const) {
      for (const [i, key] of keys.entries()) {
        const version = versions[i]!;
        const transport: TransportMode = i === 1 ? "polling" : "websocket";
        const first = await connectAndLocate(version, a.url, key, transport);
        assert.equal(first.backend, expected, `${version}.x client of key ${key} via ${a.id}`);
        const who = (await emitWithAck<[{ query: Record<string, string> }]>(first.socket, "whoami"))[0];
        assert.equal(who.query.userId, key);
        first.socket.close();
        const second = await connectAndLocate(version, b.url, key, transport);
        assert.notEqual(second.engineId, first.engineId);
        assert.equal(second.backend, expected, `${version}.x client of key ${key} reconnecting via ${b.id}`);
        second.socket.close();
      }
    }
  });

  it("a ramp 10 → 50 % made on one instance reaches the other within one second and moves only legacy users", async (t) => {
    // Open sessions of legacy users are pinned: a ramp moves new sessions only.
    const pinnedKeys = KEYS.filter((_, i) => at10[i] === "legacy").slice(0, 20);
    const pinned = await Promise.all(pinnedKeys.map((key, i) => connectAndLocate("4", (i % 2 === 0 ? a : b).url, key, "websocket")));
    assert.ok(pinned.every((client) => client.backend === "legacy"));

    const { ms, version } = await propagationMs(a, b, (doc) => ({ ...doc, hubPercent: 50 }));
    t.diagnostic(`gw-a → gw-b: v${version} served ${ms.toFixed(1)} ms after the PUT's answer`);
    assert.ok(ms < PROPAGATION_BOUND_MS, `gw-b applied v${version} ${Math.round(ms)} ms after gw-a stored it`);
    // Heartbeats (every second) carry each instance's applied version to GET /admin/sessions.
    await eventually(async () => {
      const view = await b.admin.sessions();
      return (
        view.desiredVersion === version &&
        view.instances.length === 2 &&
        view.instances.every((instance: { appliedVersion: number }) => instance.appliedVersion === version)
      );
    }, `both instances to report v${version} as applied`);

    const at50 = await routeKeys(backends, KEYS, (i) => ({ url: (i % 2 === 0 ? b : a).url }));
    const hubShare = share(at50, "hub");
    t.diagnostic(`hub share at hubPercent 50: ${hubShare} %`);
    assert.ok(Math.abs(hubShare - 50) <= TOLERANCE_POINTS, `${hubShare} % of the keys went to the hub at hubPercent 50`);
    const leftHub = KEYS.filter((_, i) => at10[i] === "hub" && at50[i] !== "hub");
    assert.deepEqual(leftHub, [], "hub users at 10 % that are not on the hub at 50 %");
    const moved = KEYS.filter((_, i) => at10[i] === "legacy" && at50[i] === "hub");
    assert.equal(moved.length, at50.filter((route) => route === "hub").length - at10.filter((route) => route === "hub").length);

    // The pinned sessions are still the same legacy sessions and still work, moved keys included.
    const movedPinned = pinned.filter((_, i) => moved.includes(pinnedKeys[i]!));
    assert.ok(movedPinned.length > 0, "some pinned users belong to the hub at 50 %");
    for (const [i, client] of pinned.entries()) {
      assert.ok(client.socket.connected, `pinned client ${pinnedKeys[i]} is still connected`);
      assert.equal(engineIdOf(client.socket), client.engineId);
      assert.equal(backends.backendOf(client.engineId), "legacy");
      assert.equal((await emitWithAck<[{ query: Record<string, string> }]>(client.socket, "whoami"))[0].query.userId, pinnedKeys[i]);
    }
    // ...and their next session follows the new split.
    for (const client of movedPinned) client.socket.close();
    const movedKey = pinnedKeys[pinned.indexOf(movedPinned[0]!)]!;
    assert.equal((await connectAndLocate("4", b.url, movedKey, "polling")).backend, "hub");
  });

  it("a change made on the other instance is applied by the first within one second", async (t) => {
    const { ms, version } = await propagationMs(b, a, (doc) => ({ ...doc, lists: { alwaysHub: [], neverHub: ["nobody-in-particular"] } }));
    t.diagnostic(`gw-b → gw-a: v${version} served ${ms.toFixed(1)} ms after the PUT's answer`);
    assert.ok(ms < PROPAGATION_BOUND_MS, `gw-a applied v${version} ${Math.round(ms)} ms after gw-b stored it`);
    const seen = await a.admin.routing();
    assert.deepEqual(seen.lists, { alwaysHub: [], neverHub: ["nobody-in-particular"] });
    assert.equal(seen.hubPercent, 50);
  });

  it("a stale If-Match is refused with 409 on either instance, a missing one with 428, a bad document with 400", async () => {
    const current = await b.admin.routing();
    const stale = await a.admin.call("PUT", "/admin/routing", { body: { ...current, hubPercent: 20 }, ifMatch: current.version - 1 });
    assert.equal(stale.status, 409);
    assert.equal(stale.body.code, "SWY_ERR_ROUTING_CONFLICT");
    assert.equal(stale.body.currentVersion, current.version);
    const missing = await b.admin.call("PUT", "/admin/routing", { body: { ...current, hubPercent: 20 } });
    assert.equal(missing.status, 428);
    const invalid = await b.admin.call("PUT", "/admin/routing", {
      body: { ...current, hubPercent: 120, colour: "blue" },
      ifMatch: current.version,
    });
    assert.equal(invalid.status, 400);
    assert.equal(invalid.body.code, "SWY_ERR_ROUTING_INVALID");
    assert.equal(invalid.body.problems.length, 2, JSON.stringify(invalid.body.problems));
    const unauthorized = await a.admin.call("PUT", "/admin/routing", {
      body: current,
      ifMatch: current.version,
      token: "not-the-admin-token",
    });
    assert.equal(unauthorized.status, 401);
    for (const instance of [a, b])
      assert.equal((await instance.admin.routing()).version, current.version, `${instance.id} kept v${current.version}`);
  });
});
