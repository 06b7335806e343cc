/**
 * What the legacy server authenticates and logs on reaches it through the gateway: cookies,
 * authorization, user-agent, origin, the query string (custom parameters too) and X-Forwarded-For/-Proto,
 * in both session modes and over both transports.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { Server } from "socket.io";
import { loadStaticConfig } from "../../src/config/static-config.js";
import { startSwitchyard, type Switchyard } from "../../src/switchyard.js";
import { connected, createClient, waitFor, type TransportMode } from "../helpers/clients.js";
import { gatewayEnv } from "../helpers/stack.js";

interface Seen {
  headers: Record<string, string>;
  query: Record<string, string>;
}

describe("client context forwarding", () => {
  const http = createServer();
  const io = new Server(http, { allowEIO3: true });
  io.on("connection", (socket) => {
    socket.emit("seen", { headers: socket.handshake.headers, query: socket.handshake.query });
  });
  let legacyUrl = "";
  const gateways: Record<string, Switchyard> = {};

  before(async () => {
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    legacyUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    for (const mode of ["terminate", "pipe"]) {
      gateways[mode] = await startSwitchyard({ config: loadStaticConfig(gatewayEnv({ LEGACY_MODE: mode })), legacyUrl });
    }
  });
  after(async () => {
    for (const gateway of Object.values(gateways)) await gateway.close();
    io.close();
  });

  for (const mode of ["terminate", "pipe"]) {
    for (const transport of ["polling", "websocket"] as TransportMode[]) {
      it(`forwards headers and query (${mode}, ${transport})`, async () => {
        const socket = createClient("4", gateways[mode]!.url, "/", {
          transport,
          query: { userId: "u-42", "weird key": "a&b=c" },
          extraHeaders: {
            cookie: "uid=abc; theme=dark",
            authorization: "Bearer t0k3n",
            "user-agent": "switchyard-test/1.0",
            origin: "https://chat.example",
            "x-forwarded-for": "203.0.113.9",
          },
        });
        try {
          const seen = waitFor<Seen>(socket, "seen");
          await connected(socket);
          const { headers, query } = await seen;
          assert.equal(headers.cookie, "uid=abc; theme=dark");
          assert.equal(headers.authorization, "Bearer t0k3n");
          assert.equal(headers["user-agent"], "switchyard-test/1.0");
          assert.equal(headers.origin, "https://chat.example");
          // TRUST_PROXY is off: a client-supplied X-Forwarded-For is replaced by the real peer address.
          assert.match(headers["x-forwarded-for"] ?? "", /^(::ffff:)?127\.0\.0\.1$/);
          assert.equal(headers["x-forwarded-proto"]?.replace("ws", "http"), "http");
          assert.equal(query.userId, "u-42");
          assert.equal(query["weird key"], "a&b=c");
        } finally {
          socket.close();
        }
      });
    }
  }
});
