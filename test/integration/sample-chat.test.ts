/**
 * The demo's promises, through a real gateway in front of both real samples: the quick start's two users
 * (`?user=alice`, `?user=carol`) land on different backends at 50 % with the default salt and each page can
 * tell which one serves it (the `backend` event); with REDIS_URL the two samples share the chat history,
 * so what a user said on the hub is still there after a rollback puts them back on legacy, and the legacy
 * chat shares its rooms through @socket.io/redis-adapter with the gateway's room bridge, so that the two
 * users, on different backends, chat live in one room.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, it } from "node:test";
import { Redis } from "ioredis";
import { DEFAULT_SALT } from "../../src/config/routing-config.js";
import { BUCKETS, routingHash } from "../../src/routing/hash.js";
import { connected, createClient, emitWithAck, type AnySocket } from "../helpers/clients.js";
import { eventually } from "../helpers/eventually.js";
import { startStack, type Stack } from "../helpers/stack.js";

const REDIS_URL = "redis://127.0.0.1:6379";

function userClient(stack: Stack, user: string): AnySocket {
  // What the chat page sends for /?user=<user>: the id as the `userId` query parameter (a key source) and name.
  return createClient("4", stack.url, "/", { query: { userId: user, name: user }, auth: { name: user, userId: user } });
}

async function backendOf(socket: AnySocket): Promise<string> {
  const [answer] = await emitWithAck<[{ backend: string }]>(socket, "backend");
  return answer.backend;
}

describe("the sample chat as the quick start shows it", () => {
  const stacks: Stack[] = [];
  const sockets: AnySocket[] = [];
  after(async () => {
    for (const socket of sockets) socket.close();
    for (const stack of stacks) await stack.close();
  });

  async function aliceAndCarol(stack: Stack): Promise<[AnySocket, AnySocket]> {
    const users: [AnySocket, AnySocket] = [userClient(stack, "alice"), userClient(stack, "carol")];
    sockets.push(...users);
    await Promise.all(users.map((socket) => connected(socket)));
    return users;
  }

  it("puts alice on the hub and carol on legacy at 50 %, and each page learns its backend", async () => {
    // The hash really splits them with the default salt (bucket < 5000 → hub).
    assert.ok(routingHash(DEFAULT_SALT, "alice") % BUCKETS < 5000, "alice's bucket is below 50 %");
    assert.ok(routingHash(DEFAULT_SALT, "carol") % BUCKETS >= 5000, "carol's bucket is above 50 %");
    const stack = await startStack({ hub: true, routing: { hubPercent: 50 } });
    stacks.push(stack);
    const [alice, carol] = await aliceAndCarol(stack);
    assert.equal(await backendOf(alice), "hub");
    assert.equal(await backendOf(carol), "legacy");
  });

  it("shares the history between the two samples through Redis: a rollback loses nothing", async () => {
    const prefix = `swy-test-${randomUUID().slice(0, 8)}:`;
    const shared = { redisUrl: REDIS_URL, redisKeyPrefix: prefix, adapterKey: `${prefix}rooms` };
    const stack = await startStack({ hub: true, hubOptions: shared, legacy: shared, routing: { hubPercent: 50 } });
    stacks.push(stack);
    const redis = new Redis(REDIS_URL);
    try {
      const [alice, carol] = await aliceAndCarol(stack);
      assert.equal(await backendOf(alice), "hub");
      await emitWithAck(alice, "join", "lobby");
      const [sent] = await emitWithAck<[{ ok: boolean }]>(alice, "msg", { room: "lobby", text: "said on the hub" });
      assert.equal(sent.ok, true);
      // carol, on legacy, reads the same room's history.
      const [seenByCarol] = await emitWithAck<[{ text: string; from: string }[]]>(carol, "history", "lobby");
      assert.deepEqual(
        seenByCarol.map((m) => [m.from, m.text]),
        [["alice", "said on the hub"]],
      );

      // Roll back: everyone on legacy; alice reconnects (as a drain makes her) and lands on legacy.
      const current = stack.switchyard.store.current();
      await stack.switchyard.store.update({ ...current, hubPercent: 0 }, current.version);
      alice.close();
      const aliceAgain = userClient(stack, "alice");
      sockets.push(aliceAgain);
      await connected(aliceAgain);
      assert.equal(await backendOf(aliceAgain), "legacy");
      const [history] = await emitWithAck<[{ text: string }[]]>(aliceAgain, "history", "lobby");
      assert.deepEqual(
        history.map((m) => m.text),
        ["said on the hub"],
      );
      assert.equal(await redis.llen(`${prefix}sample-chat:history:lobby`), 1);
    } finally {
      await redis.del(`${prefix}sample-chat:history:lobby`);
      redis.disconnect();
    }
  });

  it("with REDIS_URL, alice on the hub and carol on legacy chat live in one room (the room bridge)", async () => {
    const prefix = `swy-test-${randomUUID().slice(0, 8)}:`;
    const adapterKey = `${prefix}rooms`;
    const shared = { redisUrl: REDIS_URL, redisKeyPrefix: prefix, adapterKey };
    const env = { REDIS_URL, REDIS_KEY_PREFIX: prefix, ADAPTER_KEY: adapterKey, SHADOW_ADAPTER_KEY: `${prefix}shadow-rooms` };
    const stack = await startStack({ hub: true, hubOptions: shared, legacy: shared, routing: { hubPercent: 50 }, env });
    stacks.push(stack);
    const redis = new Redis(REDIS_URL);
    try {
      const [alice, carol] = await aliceAndCarol(stack);
      const heard = { alice: [] as string[], carol: [] as string[] };
      alice.on("msg", (m: { from: string; text: string }) => heard.alice.push(`${m.from}: ${m.text}`));
      carol.on("msg", (m: { from: string; text: string }) => heard.carol.push(`${m.from}: ${m.text}`));
      assert.deepEqual([await backendOf(alice), await backendOf(carol)], ["hub", "legacy"]);
      await emitWithAck(alice, "join", "lobby");
      await emitWithAck(carol, "join", "lobby");
      // Both adapter nodes (the legacy chat and the gateway, which joined when alice's socket did) listen.
      await eventually(async () => {
        const [, nodes] = (await redis.call("PUBSUB", "NUMSUB", `${adapterKey}-request#/#`)) as [string, number];
        return nodes === 2;
      }, "the legacy chat and the gateway on the adapter");
      // Two senders on two backends: only per-sender order is promised, so carol speaks once both heard alice.
      await emitWithAck(alice, "msg", { room: "lobby", text: "hello from the hub" });
      await eventually(() => heard.alice.length === 1 && heard.carol.length === 1, "each hears alice");
      await emitWithAck(carol, "msg", { room: "lobby", text: "hello from legacy" });
      const both = ["alice: hello from the hub", "carol: hello from legacy"];
      await eventually(() => heard.alice.length === 2 && heard.carol.length === 2, "each hears both messages");
      assert.deepEqual(heard.alice, both);
      assert.deepEqual(heard.carol, both);
      // Nothing more arrives (each message delivered once, by the backend holding the client).
      await emitWithAck(alice, "echo", "flush");
      await emitWithAck(carol, "echo", "flush");
      assert.deepEqual([heard.alice.length, heard.carol.length], [2, 2]);
    } finally {
      await redis.del(`${prefix}sample-chat:history:lobby`);
      redis.disconnect();
    }
  });

  // The sample hub's rooms where they are kept: the gateway's (join/leave/broadcast frames, the default) or its
  // own (HUB_ROOMS=hub: one event frame per member, as v1 hubs without §2.6 do). The same chat either way.
  for (const rooms of ["gateway", "hub"] as const) {
    it(`two hub users chat in a room with the sample hub's rooms at the ${rooms}`, async () => {
      const stack = await startStack({ hub: true, hubOptions: { rooms }, routing: { hubPercent: 100 } });
      stacks.push(stack);
      const [bob, dave] = [userClient(stack, "bob"), userClient(stack, "dave")];
      sockets.push(bob, dave);
      const heard: string[] = [];
      dave.on("msg", (m: { from: string; text: string }) => heard.push(`${m.from}: ${m.text}`));
      dave.on("joined", (j: { name: string }) => heard.push(`joined: ${j.name}`));
      await Promise.all([connected(bob), connected(dave)]);
      assert.equal(await backendOf(dave), "hub");
      const [daveJoined] = await emitWithAck<[{ members: number }]>(dave, "join", "den");
      const [bobJoined] = await emitWithAck<[{ members: number }]>(bob, "join", "den");
      assert.deepEqual([daveJoined.members, bobJoined.members], [1, 2]);
      await emitWithAck(bob, "msg", { room: "den", text: "hi dave" });
      await eventually(() => heard.length === 2, "dave hears bob join and speak");
      assert.deepEqual(heard, ["joined: bob", "bob: hi dave"]);
      const metrics = await (await fetch(`${stack.switchyard.opsUrl}/metrics`)).text();
      const broadcasts = metrics
        .split("\n")
        .filter((line) => line.startsWith("switchyard_room_broadcasts_total{"))
        .reduce((sum, line) => sum + Number(line.split(" ").pop()), 0);
      // Two joined (dave's reaches nobody yet) and a msg: three broadcast frames fanned out by the gateway, or none.
      assert.equal(broadcasts, rooms === "gateway" ? 3 : 0);
    });
  }
});
