/**
 * Sessions whose requests alternate between two gateway processes: a round-robin load balancer without
 * stickiness in front of the instances (every request of a session goes to the other instance than the
 * one before), and real socket.io 2.x, 3.x and 4.x clients, polling-only and upgrading, doing several
 * round trips with acks both ways and binary, on the legacy route and on the hub route, with
 * LEGACY_MODE=terminate and LEGACY_MODE=pipe. The instance that does not own a session forwards its
 * requests to the owner (session registry in the real Redis).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { Backend } from "../../src/domain.js";
import { connected, emitWithAck, waitFor, type AnySocket, type ClientVersion } from "../helpers/clients.js";
import {
  SHARED_REDIS_URL,
  deleteKeys,
  engineIdOf,
  openClient,
  startBackends,
  startCluster,
  storesConnected,
  uniquePrefix,
  type Backends,
  type Cluster,
} from "../helpers/cluster.js";
import { eventually } from "../helpers/eventually.js";
import { RoundRobinProxy } from "../helpers/round-robin-proxy.js";

const MODES = ["terminate", "pipe"] as const;
const ROUTES: readonly Backend[] = ["legacy", "hub"];
const VERSIONS: readonly ClientVersion[] = ["2", "3", "4"];
const TRANSPORTS = ["polling", "upgrade"] as const;
type Mode = (typeof MODES)[number];

const keyOf = (mode: Mode, route: Backend, version: ClientVersion, transport: string) => `${route}-${mode}-v${version}-${transport}`;
/** The hub route is chosen per key by the routing config's list; everything else stays on legacy. */
const HUB_KEYS = MODES.flatMap((mode) =>
  VERSIONS.flatMap((version) => TRANSPORTS.map((transport) => keyOf(mode, "hub", version, transport))),
);

/** socket.io-client gives binary back as a Buffer in Node (2.x and later); ArrayBuffers are tolerated. */
function bytesOf(value: unknown): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof ArrayBuffer) return Buffer.from(value);
  if (ArrayBuffer.isView(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  throw new Error(`not binary: ${JSON.stringify(value)}`);
}

/** Round trips of the sample chat's contract: acks from the server and to the server, binary both ways, a room. */
async function exercise(socket: AnySocket, key: string): Promise<void> {
  const [who] = await emitWithAck<[{ query: Record<string, string> }]>(socket, "whoami");
  assert.equal(who.query.userId, key);
  for (let i = 0; i < 5; i++) {
    const reply = await emitWithAck<unknown[]>(socket, "echo", `ping ${i}`, { n: i, nested: { list: [i, "x"] } });
    assert.deepEqual(reply, [`ping ${i}`, { n: i, nested: { list: [i, "x"] } }]);
  }
  const bytes = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 7) % 256));
  const [echoed] = await emitWithAck<[unknown]>(socket, "echo", bytes);
  assert.ok(bytesOf(echoed).equals(bytes), "binary ack (BINARY_ACK) comes back intact");
  const uploaded = new Promise<[unknown, unknown]>((resolve) =>
    socket.once("uploaded", (meta: unknown, data: unknown) => resolve([meta, data])),
  );
  const [receipt] = await emitWithAck<[{ size: number; sha1: string }]>(socket, "upload", { name: "f.bin" }, bytes);
  assert.deepEqual(receipt, { name: "f.bin", size: 300, sha1: createHash("sha1").update(bytes).digest("hex") });
  const [meta, data] = await uploaded;
  assert.deepEqual(meta, { name: "f.bin", size: 300 });
  assert.ok(bytesOf(data).equals(bytes), "binary event (BINARY_EVENT) from the server");
  // An ack the client gives the server: the server asks, the client answers through the callback.
  socket.once("question", (question: string, answer: (text: string) => void) => answer(`answer to ${question}`));
  const answered = waitFor<{ question: string; answer: string }>(socket, "answer");
  assert.deepEqual(await emitWithAck(socket, "ask", "why?"), [{ ok: true }]);
  assert.deepEqual(await answered, { question: "why?", answer: "answer to why?" });
  const room = `room-${key}`;
  assert.deepEqual(await emitWithAck(socket, "join", room), [{ room, members: 1 }]);
  const broadcast = waitFor<{ text: string; room: string }>(socket, "msg");
  const [sent] = await emitWithAck<[{ ok: boolean }]>(socket, "msg", { room, text: "hello" });
  assert.equal(sent.ok, true);
  assert.equal((await broadcast).text, "hello");
}

async function ownerForwards(opsUrl: string): Promise<number> {
  const text = await (await fetch(`${opsUrl}/metrics`)).text();
  const match = /^switchyard_owner_forwards_total\{[^}]*outcome="forwarded"[^}]*\} (\d+)/m.exec(text);
  return match === null ? 0 : Number(match[1]);
}

describe("polling sessions whose requests alternate between two gateway processes", () => {
  const prefix = uniquePrefix("polling");
  let backends: Backends;
  const clusters: Partial<Record<Mode, { cluster: Cluster; proxy: RoundRobinProxy }>> = {};

  before(async () => {
    backends = await startBackends();
    const routing = { hubPercent: 0, lists: { alwaysHub: HUB_KEYS } };
    // One Redis prefix per pair: each pair is a cluster of its own.
    await Promise.all(
      MODES.map(async (mode) => {
        const cluster = await startCluster({
          backends,
          redisUrl: SHARED_REDIS_URL,
          prefix: `${prefix}${mode}:`,
          ids: [`${mode}-a`, `${mode}-b`],
          mode,
          routing,
        });
        clusters[mode] = { cluster, proxy: await RoundRobinProxy.start(cluster.instances.map((instance) => instance.url)) };
      }),
    );
    for (const { cluster } of Object.values(clusters)) await storesConnected(cluster);
  });

  after(async () => {
    await Promise.all(
      Object.values(clusters).map(async ({ cluster, proxy }) => {
        await proxy.close();
        await cluster.stop();
      }),
    );
    await backends?.close();
    for (const mode of MODES) await deleteKeys(SHARED_REDIS_URL, `${prefix}${mode}:`);
  });

  for (const mode of MODES) {
    for (const route of ROUTES) {
      const title = `LEGACY_MODE=${mode}, ${route} route: 2.x, 3.x and 4.x clients, polling and upgrading, through a round-robin balancer`;
      it(title, async () => {
        const { cluster, proxy } = clusters[mode]!;
        const forwardsBefore = await Promise.all(cluster.instances.map((instance) => ownerForwards(instance.admin.opsUrl)));
        const runs = VERSIONS.flatMap((version) =>
          TRANSPORTS.map(async (transport) => {
            const key = keyOf(mode, route, version, transport);
            const socket = openClient(version, proxy.url, { userId: key, transport });
            const disconnects: string[] = [];
            socket.on("disconnect", (reason: string) => disconnects.push(reason));
            try {
              await connected(socket);
              const sid = engineIdOf(socket)!;
              assert.equal(backends.backendOf(sid), route, `${key}: the session is on the ${route} backend`);
              await exercise(socket, key);
              if (transport === "upgrade") await eventually(() => socket.io.engine.transport.name === "websocket", `${key} to upgrade`);
              else assert.equal(socket.io.engine.transport.name, "polling");
              await exercise(socket, key);
              assert.equal(engineIdOf(socket), sid, `${key} kept its session`);
              assert.equal(proxy.targetsSeenBy(sid), 2, `${key}: requests of the session reached both instances`);
              assert.deepEqual(disconnects, [], `${key} was never disconnected`);
            } finally {
              socket.close();
            }
          }),
        );
        const results = await Promise.allSettled(runs);
        const failures = results.flatMap((result) => (result.status === "rejected" ? [result.reason as Error] : []));
        if (failures.length > 0)
          throw failures.length === 1 ? failures[0] : new AggregateError(failures, failures.map((f) => f.message).join("\n"));

        const forwardsAfter = await Promise.all(cluster.instances.map((instance) => ownerForwards(instance.admin.opsUrl)));
        const forwarded = forwardsAfter.map((count, i) => count - forwardsBefore[i]!);
        if (mode === "pipe" && route === "legacy") {
          // Pipe sessions belong to the legacy server, which every instance reaches: nothing to forward.
          assert.deepEqual(forwarded, [0, 0]);
        } else {
          assert.ok(
            forwarded.every((count) => count > 0),
            `both instances forwarded requests to the owner (${forwarded.join(", ")})`,
          );
        }
      });
    }
  }
});
