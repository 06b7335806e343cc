/**
 * Opening an upstream's WebSocket against a real `ws` server: the greeting resolves it; every way of
 * failing before it rejects with one code, a detail naming the backend, and exactly one failed event.
 */
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import WebSocket, { WebSocketServer } from "ws";
import type { ErrorCode } from "../../src/errors.js";
import { subscribe, type UpstreamFailedEvent } from "../../src/telemetry/events.js";
import { openUpstreamSocket, type UpstreamSocketOpening } from "../../src/upstream/upstream-socket.js";
import { eventually } from "../helpers/eventually.js";
import { freePort } from "../helpers/ports.js";

/** What the test server does with a connection, chosen by the URL path. */
const BEHAVIOURS: Record<string, (ws: WebSocket) => void> = {
  "/greet": (ws) => ws.send("hello"),
  "/greet-and-more": (ws) => {
    ws.send("hello");
    ws.send("first");
  },
  "/wrong": (ws) => ws.send("nonsense"),
  "/close": (ws) => ws.close(4000, "go away"),
  "/silent": () => {},
};

/** The test's upstream: the socket, its greeting and the messages after it (listened to from the start). */
interface Opened {
  readonly ws: WebSocket;
  readonly greeting: string;
  readonly later: string[];
}

describe("upstream socket opening", () => {
  let server: WebSocketServer;
  let base: string;
  const failed: UpstreamFailedEvent[] = [];
  const unsubscribe = subscribe("switchyard:upstream:failed", (event) => failed.push(event));

  before(async () => {
    server = new WebSocketServer({
      port: 0,
      host: "127.0.0.1",
      verifyClient: (info: { req: { url?: string } }) => info.req.url !== "/forbidden",
    });
    server.on("connection", (ws, req) => BEHAVIOURS[req.url ?? ""]?.(ws));
    await new Promise((resolve) => server.once("listening", resolve));
    base = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    unsubscribe();
    for (const client of server.clients) client.terminate();
    server.close();
  });

  function opening(url: string, extra: Partial<UpstreamSocketOpening<string, Opened>> = {}) {
    return openUpstreamSocket<string, Opened>({
      backend: "hub",
      role: "primary",
      connectTimeoutMs: 300,
      awaiting: "hello",
      connect: () => new WebSocket(url),
      greeting: (data) => {
        const text = data.toString();
        if (text !== "hello") throw new Error(`expected hello, got ${text}`);
        return text;
      },
      opened: (ws, greeting) => {
        const later: string[] = [];
        ws.on("message", (data: Buffer) => later.push(data.toString()));
        return { ws, greeting, later };
      },
      ...extra,
    });
  }

  async function rejection(open: () => Promise<unknown>, code: ErrorCode, detail: RegExp): Promise<void> {
    const before = failed.length;
    await assert.rejects(open(), (error: Error & { code?: string }) => {
      assert.equal(error.code, code);
      assert.match(error.message, detail);
      return true;
    });
    assert.deepEqual(
      failed.slice(before).map((event) => [event.backend, event.role, event.code]),
      [["hub", "primary", code]],
      "counted once",
    );
  }

  it("resolves with the upstream built from the greeting; messages right after it reach the upstream", async () => {
    const { ws, greeting, later } = await opening(`${base}/greet-and-more`);
    assert.equal(greeting, "hello");
    await eventually(() => later.length > 0, "the message after the greeting");
    assert.deepEqual(later, ["first"]);
    ws.close();
  });

  it("a wrong greeting is a handshake failure, told to the backend first", async () => {
    const refused: string[] = [];
    await rejection(
      () => opening(`${base}/wrong`, { refuseGreeting: (_ws, detail) => void refused.push(detail) }),
      "SWY_ERR_UPSTREAM_HANDSHAKE",
      /hub: expected hello, got nonsense/,
    );
    assert.deepEqual(refused, ["expected hello, got nonsense"]);
  });

  it("a close before the greeting is a handshake failure (or what closeCode says)", async () => {
    await rejection(() => opening(`${base}/close`), "SWY_ERR_UPSTREAM_HANDSHAKE", /closed before its hello \(4000 go away\)/);
    await rejection(
      () => opening(`${base}/close`, { closeCode: (code) => (code === 4000 ? "SWY_ERR_UPSTREAM_REJECTED" : "SWY_ERR_UPSTREAM_HANDSHAKE") }),
      "SWY_ERR_UPSTREAM_REJECTED",
      /4000/,
    );
  });

  it("an HTTP refusal is a rejection with its status", async () => {
    await rejection(() => opening(`${base}/forbidden`), "SWY_ERR_UPSTREAM_REJECTED", /HTTP 401/);
  });

  it("no greeting in time is a timeout", async () => {
    await rejection(() => opening(`${base}/silent`), "SWY_ERR_UPSTREAM_TIMEOUT", /no hello within 300 ms/);
  });

  it("nobody listening, or a socket that cannot even be created, is unreachable", async () => {
    const nobody = `ws://127.0.0.1:${await freePort()}/`;
    await rejection(() => opening(nobody), "SWY_ERR_UPSTREAM_UNREACHABLE", /ECONNREFUSED/);
    await rejection(
      () =>
        opening(base, {
          connect: () => {
            throw new Error("invalid URL");
          },
        }),
      "SWY_ERR_UPSTREAM_UNREACHABLE",
      /hub: invalid URL$/,
    );
  });

  it("classifyError picks the code of errors the common ones do not cover", async () => {
    const nobody = `ws://127.0.0.1:${await freePort()}/`;
    await rejection(
      () => opening(nobody, { classifyError: () => ({ code: "SWY_ERR_UPSTREAM_HANDSHAKE", detail: "custom" }) }),
      "SWY_ERR_UPSTREAM_HANDSHAKE",
      /hub: custom$/,
    );
  });
});
