/**
 * The demo's promises, through a real gateway in front of both real samples: the quick start's two users
 * (`?user=alice`, `?user=carol`) land on different backends at 50 % with the default salt and each page can
 * tell which one serves it (the `backend` event); with REDIS_URL the two samples share the chat history,
 * so what a user said on the hub is still there after a rollback puts them back on legacy.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, it } from "node:test";
import { Redis } from "ioredis";
import { DEFAULT_SALT } from "../../src/config/routing-config.js";
import { BUCKETS, routingHash } from "../../src/routing/hash.js";
import { connected, createClient, emitWithAck, type AnySocket } from "../helpers/clients.js";
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

  it("puts alice on the hub and carol on legacy at 50 %, and each page learns its backend", async () => {
    // The hash really splits them with the default salt (bucket < 5000 → hub).
    assert.ok(routingHash(DEFAULT_SALT, "alice") % BUCKETS < 5000, "alice's bucket is below 50 %");
    assert.ok(routingHash(DEFAULT_SALT, "carol") % BUCKETS >= 5000, "carol's bucket is above 50 %");
    const stack = await startStack({ hub: true, routing: { hubPercent: 50 } });
    stacks.push(stack);
    const alice = userClient(stack, "alice");
    const carol = userClient(stack, "carol");
    sockets.push(alice, carol);
    await Promise.all([connected(alice), connected(carol)]);
    assert.equal(await backendOf(alice), "hub");
    assert.equal(await backendOf(carol), "legacy");
  });

  it("shares the history between the two samples through Redis: a rollback loses nothing", async () => {
    const prefix = `swy-test-${randomUUID().slice(0, 8)}:`;
    const shared = { redisUrl: REDIS_URL, redisKeyPrefix: prefix };
    const stack = await startStack({ hub: true, hubOptions: shared, legacy: shared, routing: { hubPercent: 50 } });
    stacks.push(stack);
    const redis = new Redis(REDIS_URL);
    try {
      const alice = userClient(stack, "alice");
      const carol = userClient(stack, "carol");
      sockets.push(alice, carol);
      await Promise.all([connected(alice), connected(carol)]);
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
});
