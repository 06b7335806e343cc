/**
 * No socket, timer or listener leaks: open and close 1,000 sessions (all three client generations,
 * polling and WebSocket) and check that the process's active handles return to the baseline and that
 * the gateway forgets every session.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { connected, createClient, emitWithAck, type ClientVersion, type TransportMode } from "../helpers/clients.js";
import { eventually } from "../helpers/eventually.js";
import { startStack, type Stack } from "../helpers/stack.js";

const SESSIONS = 1000;
const CONCURRENCY = 50;

function handleCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
}

function excess(now: Map<string, number>, baseline: Map<string, number>): string[] {
  return [...now]
    .filter(([type, count]) => count > (baseline.get(type) ?? 0))
    .map(([type, count]) => `${type}: ${count} > ${baseline.get(type) ?? 0}`);
}

async function session(stack: Stack, index: number): Promise<void> {
  const version = (["2", "3", "4"] as ClientVersion[])[index % 3]!;
  const transport: TransportMode = index % 5 === 0 ? "polling" : index % 5 === 1 ? "upgrade" : "websocket";
  const socket = createClient(version, stack.url, "/", { transport });
  try {
    await connected(socket, 10_000);
    const [reply] = await emitWithAck<[number]>(socket, "echo", index);
    assert.equal(reply, index);
  } finally {
    socket.close();
  }
}

async function openAndClose(stack: Stack, total: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < total) await session(stack, next++);
    }),
  );
}

for (const mode of ["terminate", "pipe"] as const) {
  describe(`resource hygiene (${mode})`, () => {
    it(`returns to the baseline after ${SESSIONS} sessions`, async () => {
      const stack = await startStack({ mode });
      try {
        // Warm up lazily created things (agents, the ws server) before taking the baseline.
        await openAndClose(stack, 20);
        const gateway = stack.switchyard.gateway;
        await eventually(
          () => gateway.sessions.size === 0 && gateway.pipes.size === 0 && stack.legacy.io.engine.clientsCount === 0,
          "warm-up sessions to close",
          20_000,
        );
        await new Promise((resolve) => setTimeout(resolve, 6000)); // idle keep-alive sockets expire (5 s)
        const baseline = handleCounts();
        const listeners =
          gateway.http.listenerCount("upgrade") + gateway.http.listenerCount("request") + gateway.engine.listenerCount("connection");

        await openAndClose(stack, SESSIONS);

        await eventually(() => gateway.sessions.size === 0, "the gateway to forget every session", 20_000);
        await eventually(() => gateway.pipes.size === 0, "every pipe session to end", 20_000);
        await eventually(() => stack.legacy.io.engine.clientsCount === 0, "the legacy server to close every session", 20_000);
        await eventually(() => excess(handleCounts(), baseline).length === 0, "handles to return to the baseline", 20_000).catch(
          (error: Error) => {
            throw new Error(`${error.message}: ${excess(handleCounts(), baseline).join(", ")}`);
          },
        );
        assert.equal(
          gateway.http.listenerCount("upgrade") + gateway.http.listenerCount("request") + gateway.engine.listenerCount("connection"),
          listeners,
        );
        assert.equal((gateway.engine as unknown as { clientsCount: number }).clientsCount, 0);
      } finally {
        await stack.close();
      }
    });
  });
}
