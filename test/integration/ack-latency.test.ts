/**
 * The delivery latency the rollout compares (ackLatencyP99): real socket.io clients emit with acks through the
 * gateway to the sample hub and to the legacy chat, and switchyard_ack_latency_seconds counts exactly the acked
 * emits, per backend (emits without an ack are not timed).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { connected, createClient, emitWithAck, type AnySocket } from "../helpers/clients.js";
import { startStack, type Stack } from "../helpers/stack.js";

describe("ack latency on real gateway sessions", () => {
  let stack: Stack;
  const clients: AnySocket[] = [];

  before(async () => {
    stack = await startStack({ hub: true, routing: { hubPercent: 100 } });
  });

  after(async () => {
    for (const client of clients) client.close();
    await stack?.close();
  });

  async function ackCount(backend: string): Promise<number> {
    const text = await (await fetch(`${stack.switchyard.opsUrl}/metrics`)).text();
    const match = new RegExp(`^switchyard_ack_latency_seconds_count\\{[^}]*backend="${backend}"[^}]*\\} (\\d+)$`, "m").exec(text);
    return match === null ? 0 : Number(match[1]);
  }

  test("counts each acked emit once, on the backend that answered it", async () => {
    const before = { hub: await ackCount("hub"), legacy: await ackCount("legacy") };

    const onHub = createClient("4", stack.url, "/", { transport: "websocket" });
    clients.push(onHub);
    await connected(onHub);
    assert.deepEqual(await emitWithAck(onHub, "backend"), [{ backend: "hub" }]);
    onHub.emit("typing", { room: "lobby" }); // no ack id: not timed
    await emitWithAck(onHub, "echo", "a");
    await emitWithAck(onHub, "upload", { name: "f" }, Buffer.from([1, 2, 3])); // a BINARY_EVENT with an ack
    assert.equal(await ackCount("hub"), before.hub + 3);

    const current = stack.switchyard.store.current();
    await stack.switchyard.store.update({ ...current, hubPercent: 0 }, current.version);
    const onLegacy = createClient("2", stack.url, "/", { transport: "polling" });
    clients.push(onLegacy);
    await connected(onLegacy);
    assert.deepEqual(await emitWithAck(onLegacy, "backend"), [{ backend: "legacy" }]);
    await Promise.all([emitWithAck(onLegacy, "echo", 1), emitWithAck(onLegacy, "echo", 2)]);

    // The gateway observes the ack before relaying it to the client: no waiting needed.
    assert.deepEqual({ hub: await ackCount("hub"), legacy: await ackCount("legacy") }, { hub: before.hub + 3, legacy: before.legacy + 3 });
  });
});
