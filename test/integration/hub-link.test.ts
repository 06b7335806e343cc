/**
 * switchyard-hub.v2 end to end (docs/hub-protocol.md §11): real socket.io clients → the gateway → the sample
 * hub. Many hub sessions share HUB_LINKS WebSockets (counted at the hub); a link the hub loses ends exactly
 * the sessions on it, with SWY_ERR_HUB_LINK_LOST, counted, and their clients come back over a new link; a
 * v1-only hub keeps a WebSocket per session behind a gateway that offers v2; the limits are coded.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type { ErrorCode } from "../../src/errors.js";
import { subscribe } from "../../src/telemetry/events.js";
import { type AnySocket, type ClientVersion, connected, createClient, emitWithAck } from "../helpers/clients.js";
import { eventually } from "../helpers/eventually.js";
import { startStack, type Stack } from "../helpers/stack.js";

const HUB_ROUTE = { hubPercent: 100 };

/** Connects `count` clients, alternating 2.x, 3.x and 4.x; each has answered a round trip through the hub. */
async function connectClients(stack: Stack, count: number, reconnection = false): Promise<AnySocket[]> {
  const versions: ClientVersion[] = ["2", "3", "4"];
  const clients = Array.from({ length: count }, (_, i) =>
    createClient(versions[i % 3]!, stack.url, "/", { query: { name: `u${i}` }, reconnection }),
  );
  await Promise.all(clients.map((client) => connected(client)));
  await Promise.all(clients.map(async (client, i) => assert.deepEqual(await emitWithAck(client, "echo", i), [i])));
  return clients;
}

function closeAll(clients: readonly AnySocket[]): void {
  for (const client of clients) client.close();
}

/** Counts sessions closed and hub fallbacks by code while a test runs. */
function recordCodes(): { closed: Map<string, number>; fallbacks: Map<string, number>; stop(): void } {
  const closed = new Map<string, number>();
  const fallbacks = new Map<string, number>();
  const bump = (map: Map<string, number>, code: ErrorCode | undefined) => map.set(code ?? "none", (map.get(code ?? "none") ?? 0) + 1);
  const stops = [
    subscribe("switchyard:session:closed", (e) => bump(closed, e.code)),
    subscribe("switchyard:hub:fallback", (e) => bump(fallbacks, e.code)),
  ];
  return {
    closed,
    fallbacks,
    stop: () => {
      for (const stop of stops) stop();
    },
  };
}

describe("hub sessions over switchyard-hub.v2 links", () => {
  let stack: Stack;
  after(async () => stack?.close());

  it("N hub sessions hold at most HUB_LINKS WebSockets to the hub", async () => {
    stack = await startStack({ hub: true, routing: HUB_ROUTE, env: { HUB_PROTOCOL: "auto", HUB_LINKS: "2" } });
    const clients = await connectClients(stack, 60);
    const hub = stack.hub!;
    assert.equal(hub.runtime.sessionCount, 60);
    assert.equal(hub.connectionCount, 2, "60 sessions, 2 links");
    const perLink = [...hub.links].map((link) => link.sessionCount);
    assert.equal(
      perLink.reduce((a, b) => a + b, 0),
      60,
    );
    // Spread over both links (least loaded first), not all on one.
    assert.ok(Math.min(...perLink) >= 20, `sessions per link: ${perLink}`);
    closeAll(clients);
    await eventually(() => hub.runtime.sessionCount === 0, "the hub to see every session closed");
    assert.equal(hub.connectionCount, 2, "the links stay open for the next sessions");
  });

  it("a lost link ends exactly its sessions with SWY_ERR_HUB_LINK_LOST, counted; they come back over a new link", async () => {
    const hub = stack.hub!;
    const clients = await connectClients(stack, 20, true);
    const [doomed, spared] = [...hub.links];
    const onDoomed = doomed!.sessionCount;
    assert.ok(onDoomed > 0 && spared!.sessionCount > 0, "both links carry sessions");
    const codes = recordCodes();
    let reconnects = 0;
    // Every generation emits connect again when it reconnects.
    for (const client of clients) client.on("connect", () => reconnects++);
    try {
      doomed!.ws.terminate();
      await eventually(() => reconnects === onDoomed, `${onDoomed} clients to reconnect`, 10_000);
      assert.deepEqual(Object.fromEntries(codes.closed), { SWY_ERR_HUB_LINK_LOST: onDoomed });
      assert.equal(codes.fallbacks.size, 0);
      // Every client works again, and the hub still holds no more sockets than HUB_LINKS.
      await Promise.all(clients.map(async (client, i) => assert.deepEqual(await emitWithAck(client, "echo", i), [i])));
      assert.ok(hub.connectionCount <= 2, `${hub.connectionCount} sockets at the hub`);
      const metrics = await (await fetch(`${stack.switchyard.opsUrl}/metrics`)).text();
      assert.match(metrics, /switchyard_sessions_closed_total\{[^}]*code="SWY_ERR_HUB_LINK_LOST"[^}]*\} (\d+)/);
      const counted = /switchyard_sessions_closed_total\{[^}]*code="SWY_ERR_HUB_LINK_LOST"[^}]*\} (\d+)/g;
      let total = 0;
      for (const match of metrics.matchAll(counted)) total += Number(match[1]);
      assert.equal(total, onDoomed);
    } finally {
      codes.stop();
      closeAll(clients);
    }
  });

  it("HUB_LINK_MAX_SESSIONS: a session finding every link full goes to the legacy server (SWY_ERR_HUB_LINK_FULL)", async () => {
    await stack.close();
    stack = await startStack({
      hub: true,
      routing: HUB_ROUTE,
      env: { HUB_PROTOCOL: "v2", HUB_LINKS: "1", HUB_LINK_MAX_SESSIONS: "3" },
    });
    const codes = recordCodes();
    try {
      const clients = await connectClients(stack, 4);
      const backends = await Promise.all(
        clients.map(async (client) => ((await emitWithAck(client, "backend")) as [{ backend: string }])[0]),
      );
      assert.deepEqual(backends.map((b) => b.backend).sort(), ["hub", "hub", "hub", "legacy"]);
      assert.deepEqual(Object.fromEntries(codes.fallbacks), { SWY_ERR_HUB_LINK_FULL: 1 });
      assert.equal(stack.hub!.connectionCount, 1);
      closeAll(clients);
    } finally {
      codes.stop();
    }
  });

  it("HUB_LINK_MAX_FRAME_BYTES: a session's larger frame ends that session only (SWY_ERR_HUB_LINK_FRAME_TOO_LARGE)", async () => {
    await stack.close();
    stack = await startStack({ hub: true, routing: HUB_ROUTE, env: { HUB_PROTOCOL: "v2", HUB_LINK_MAX_FRAME_BYTES: String(64 * 1024) } });
    const codes = recordCodes();
    try {
      const [big, small] = await connectClients(stack, 2);
      const gone = new Promise((resolve) => big!.once("disconnect", resolve));
      big!.emit("echo", "x".repeat(100_000));
      await gone;
      assert.deepEqual(await emitWithAck(small!, "echo", "still here"), ["still here"]);
      await eventually(() => codes.closed.get("SWY_ERR_HUB_LINK_FRAME_TOO_LARGE") === 1, "the session's close to be counted");
      await eventually(() => stack.hub!.runtime.sessionCount === 1, "the hub to end the session (its close frame)");
      small!.close();
    } finally {
      codes.stop();
    }
  });
});

describe("a v2-capable gateway and a v1-only hub", () => {
  let stack: Stack;
  after(async () => stack?.close());

  it("the default (HUB_PROTOCOL=auto): the hub selects v1 and keeps one WebSocket per session, which works", async () => {
    // No HUB_PROTOCOL: this is what every v1 hub gets from a gateway with the default settings.
    stack = await startStack({ hub: true, hubOptions: { v2: false }, routing: HUB_ROUTE });
    const clients = await connectClients(stack, 6);
    assert.equal(stack.hub!.connectionCount, 6);
    assert.equal(stack.hub!.links.size, 0);
    closeAll(clients);
    await eventually(() => stack.hub!.connectionCount === 0, "the hub's sockets to close with their sessions");
  });

  it("HUB_PROTOCOL=v2: the hub selects nothing, and new sessions fall back to the legacy server (counted)", async () => {
    await stack.close();
    stack = await startStack({ hub: true, hubOptions: { v2: false }, routing: HUB_ROUTE, env: { HUB_PROTOCOL: "v2" } });
    const codes = recordCodes();
    try {
      const clients = await connectClients(stack, 2);
      for (const client of clients) assert.deepEqual(await emitWithAck(client, "backend"), [{ backend: "legacy" }]);
      // The sample hub answers an upgrade without v1 on offer with HTTP 400.
      assert.deepEqual(Object.fromEntries(codes.fallbacks), { SWY_ERR_UPSTREAM_REJECTED: 2 });
      closeAll(clients);
    } finally {
      codes.stop();
    }
  });
});
