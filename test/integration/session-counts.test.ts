/**
 * The gateway's session counts (heartbeats, /metrics, drains) are kept as sessions open, upgrade and close
 * rather than counted by walking every session: they must match what is really open at every step, for
 * terminated sessions on both backends and for pipe sessions.
 */
import assert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import { after, before, describe, it } from "node:test";
import type { SessionCounts } from "../../src/domain.js";
import { type AnySocket, connected, createClient, type TransportMode } from "../helpers/clients.js";
import { eventually } from "../helpers/eventually.js";
import { shortenPollingCloseTimeout } from "../helpers/polling-close.js";
import { type Stack, startStack } from "../helpers/stack.js";

function counts(legacy: [number, number], hub: [number, number] = [0, 0]): SessionCounts {
  return { legacy: { polling: legacy[0], websocket: legacy[1] }, hub: { polling: hub[0], websocket: hub[1] } };
}

/** Waits until the gateway's kept counts equal `expected`, and checks them against a walk of its sessions. */
async function countsBecome(stack: Stack, expected: SessionCounts, what: string): Promise<void> {
  const gateway = stack.switchyard.gateway;
  await eventually(() => isDeepStrictEqual(gateway.sessionCounts(), expected), `${what}: ${JSON.stringify(expected)}`);
  const walked = counts([0, 0]);
  for (const session of gateway.sessions.values()) if (session.backend !== undefined) walked[session.backend][session.transport]++;
  const piped = gateway.pipes.countByTransport();
  walked.legacy.polling += piped.polling;
  walked.legacy.websocket += piped.websocket;
  assert.deepEqual(walked, expected, `${what}: a walk of the sessions agrees`);
}

async function connect(stack: Stack, transport: TransportMode, userId: string): Promise<AnySocket> {
  const socket = createClient("4", stack.url, "/", { transport, query: { userId } });
  await connected(socket);
  return socket;
}

/** Resolves once the client's transport is WebSocket (an upgrade completed). */
async function upgraded(socket: AnySocket): Promise<void> {
  await eventually(() => socket.io.engine.transport.name === "websocket", "the client to upgrade");
}

describe("session counts, terminated sessions on both backends", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ hub: true, routing: { hubPercent: 0, lists: { alwaysHub: ["h1", "h2", "h3"], neverHub: [] } } });
    shortenPollingCloseTimeout(stack.switchyard.gateway.engine);
  });
  after(() => stack.close());

  it("stay right through open, upgrade and close", async () => {
    await countsBecome(stack, counts([0, 0]), "idle");
    const legacyPolling = await connect(stack, "polling", "l1");
    const legacyUpgrade = await connect(stack, "upgrade", "l2");
    const hubWs = await connect(stack, "websocket", "h1");
    const hubUpgrade = await connect(stack, "upgrade", "h2");
    await upgraded(legacyUpgrade);
    await upgraded(hubUpgrade);
    await countsBecome(stack, counts([1, 1], [0, 2]), "four open, two upgraded");
    legacyPolling.close();
    hubUpgrade.close();
    await countsBecome(stack, counts([0, 1], [0, 1]), "two closed");
    assert.equal(stack.switchyard.gateway.closeSessions("hub", 5, "drained"), 1);
    await countsBecome(stack, counts([0, 1]), "the hub drained");
    legacyUpgrade.close();
    hubWs.close();
    await countsBecome(stack, counts([0, 0]), "all closed");
  });
});

describe("session counts, pipe sessions", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ mode: "pipe" });
    shortenPollingCloseTimeout(stack.legacy.io.engine);
  });
  after(() => stack.close());

  it("stay right through open, upgrade and close", async () => {
    const polling = await connect(stack, "polling", "p1");
    const upgrade = await connect(stack, "upgrade", "p2");
    const ws = await connect(stack, "websocket", "p3");
    await upgraded(upgrade);
    await countsBecome(stack, counts([1, 2]), "three pipes, one upgraded");
    ws.close();
    upgrade.close();
    await countsBecome(stack, counts([1, 0]), "the WebSocket pipes closed");
    polling.close();
    await countsBecome(stack, counts([0, 0]), "the polling pipe closed");
  });
});
