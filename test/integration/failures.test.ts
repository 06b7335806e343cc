/**
 * Failure behaviour: a legacy server that is down or refusing gives clients a quick, reconnectable error;
 * a legacy server that ends a session ends the client's; a client that leaves ends its upstream at once;
 * bad client input closes only that session, with a coded error.
 */
import assert from "node:assert/strict";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, it } from "node:test";
import WebSocket from "ws";
import { Server } from "socket.io";
import { loadStaticConfig } from "../../src/config/static-config.js";
import { subscribe, type SessionClosedEvent } from "../../src/telemetry/events.js";
import { startSwitchyard, type Switchyard } from "../../src/switchyard.js";
import { connected, createClient, emitWithAck, waitFor, type AnySocket, CLIENT_VERSIONS } from "../helpers/clients.js";
import { eventually } from "../helpers/eventually.js";
import { gatewayEnv, startStack } from "../helpers/stack.js";
import { freePort } from "../helpers/ports.js";

function listen(server: HttpServer): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
  );
}

describe("legacy server down or refusing", () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  async function gatewayFor(legacyUrl: string, mode: string): Promise<Switchyard> {
    const switchyard = await startSwitchyard({
      config: loadStaticConfig(
        gatewayEnv({
          LEGACY_MODE: mode,
          UPSTREAM_CONNECT_TIMEOUT_MS: "2000",
          PING_INTERVAL_MS: "25000",
          PING_TIMEOUT_MS: "20000",
          MAX_PAYLOAD_BYTES: "1000000",
        }),
      ),
      legacyUrl,
    });
    cleanups.push(() => switchyard.close());
    return switchyard;
  }

  for (const mode of ["terminate", "pipe"]) {
    for (const transport of ["polling", "websocket"] as const) {
      it(`unreachable legacy: clients get a quick error and retry (${mode}, ${transport})`, async () => {
        const gateway = await gatewayFor(`http://127.0.0.1:${await freePort()}`, mode);
        const socket = createClient("4", gateway.url, "/", { transport, reconnection: true });
        (socket as unknown as { io: { reconnectionDelay(ms: number): void } }).io.reconnectionDelay(50);
        try {
          const error = await waitFor<Error>(socket, "connect_error", 4000);
          assert.match(String(error.message), /xhr poll error|websocket error/);
          // Reconnect logic kicks in: a second attempt fails the same way, no hang.
          await waitFor(socket, "connect_error", 4000);
        } finally {
          socket.close();
        }
      });
    }
  }

  it("answers a refused upstream with 502 and a coded JSON body", async () => {
    const http = createServer();
    const io = new Server(http, { allowRequest: (_req, callback) => callback("nope", false) });
    const legacyUrl = await listen(http);
    cleanups.push(() => new Promise((resolve) => io.close(() => resolve())));
    const gateway = await gatewayFor(legacyUrl, "terminate");
    const response = await fetch(`${gateway.url}/socket.io/?EIO=4&transport=polling`);
    assert.equal(response.status, 502);
    const body = (await response.json()) as { code: string; message: string };
    assert.equal(body.code, "SWY_ERR_UPSTREAM_REJECTED");
    // engine.io answers a refused WebSocket handshake with a 400, whatever allowRequest said.
    assert.match(body.message, /HTTP 4\d\d/);
  });

  it("refuses an upgrade handshake with an HTTP error when the legacy server is down", async () => {
    const gateway = await gatewayFor(`http://127.0.0.1:${await freePort()}`, "terminate");
    const ws = new WebSocket(`${gateway.url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`);
    const status = await new Promise<number>((resolve, reject) => {
      ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      ws.on("open", () => reject(new Error("should not open")));
      ws.on("error", () => {});
    });
    assert.equal(status, 502);
  });
});

describe("session endings", () => {
  for (const mode of ["terminate", "pipe"] as const) {
    for (const version of CLIENT_VERSIONS) {
      it(`legacy kicks the client: it gets the server's goodbye and stays disconnected (${mode}, client ${version})`, async () => {
        const stack = await startStack({ mode });
        const socket = createClient(version, stack.url, "/", { transport: "websocket", reconnection: true });
        try {
          await connected(socket);
          const bye = waitFor<{ reason: string }>(socket, "bye");
          const disconnected = waitFor<string>(socket, "disconnect");
          socket.emit("kick");
          assert.deepEqual(await bye, { reason: "kicked" });
          assert.equal(await disconnected, "io server disconnect");
        } finally {
          socket.close();
          await stack.close();
        }
      });
    }

    it(`legacy dies: the client session closes and the client reconnects (${mode})`, async () => {
      const stack = await startStack({ mode });
      const socket = createClient("4", stack.url, "/", { transport: "websocket", reconnection: true });
      try {
        await connected(socket);
        const disconnected = waitFor<string>(socket, "disconnect");
        stack.legacy.http.closeAllConnections();
        for (const client of stack.legacy.io.of("/").sockets.values()) client.conn.close();
        assert.equal(await disconnected, "transport close");
        assert.equal((await waitFor<number>(socket.io as never, "reconnect", 8000)) > 0, true);
      } finally {
        socket.close();
        await stack.close();
      }
    });
  }

  it("a client that leaves closes its upstream at once", async () => {
    const stack = await startStack({ mode: "terminate" });
    try {
      for (const transport of ["polling", "websocket"] as const) {
        const socket = createClient("4", stack.url, "/", { transport });
        await connected(socket);
        const [legacySocket] = [...stack.legacy.io.of("/").sockets.values()];
        assert.ok(legacySocket);
        const reason = new Promise<string>((resolve) => legacySocket.once("disconnect", resolve));
        socket.close();
        // Well before the 45 s a heartbeat timeout would take.
        const outcome = await Promise.race([reason, new Promise<string>((resolve) => setTimeout(() => resolve("timeout"), 5000))]);
        assert.equal(outcome, "client namespace disconnect");
        await eventually(
          () => stack.switchyard.gateway.sessions.size === 0 && stack.legacy.io.engine.clientsCount === 0,
          "both sessions to close",
          5000,
        );
      }
    } finally {
      await stack.close();
    }
  });
});

describe("bad client input", () => {
  it("a malformed packet closes that one session with a coded error, others are untouched", async () => {
    const stack = await startStack({ mode: "terminate" });
    const closes: SessionClosedEvent[] = [];
    const unsubscribe = subscribe("switchyard:session:closed", (event) => closes.push(event));
    const bystander: AnySocket = createClient("4", stack.url, "/", { transport: "websocket" });
    try {
      await connected(bystander);
      const raw = new WebSocket(`${stack.url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`);
      const closed = new Promise<void>((resolve) => raw.on("close", () => resolve()));
      await new Promise<void>((resolve) => raw.once("message", () => resolve()));
      raw.send("40");
      raw.send("42[not json");
      await closed;
      const event = closes.find((c) => c.code !== undefined);
      assert.equal(event?.code, "SWY_ERR_PROTOCOL_MALFORMED");
      assert.equal(event?.reason, "error");
      const [reply] = await emitWithAck<[string]>(bystander, "echo", "still here");
      assert.equal(reply, "still here");
    } finally {
      unsubscribe();
      bystander.close();
      await stack.close();
    }
  });
});
