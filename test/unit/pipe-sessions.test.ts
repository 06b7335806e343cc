/**
 * Pipe sessions against a real socket.io server through the real legacy proxy: the sid learned from the
 * handshake, counts per transport through the upgrade, what runs when a session ends (once, also for a
 * handshake the legacy server refused), and closing: a WebSocket pipe is cut, a polling pipe's pending poll
 * gets engine.io's close packet.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import { startLegacyChat, type LegacyChat } from "../../examples/legacy-chat/server.js";
import { LegacyProxy } from "../../src/passthrough/legacy-proxy.js";
import { PipeSessions } from "../../src/passthrough/pipe-sessions.js";
import { subscribe } from "../../src/telemetry/events.js";
import { eventually } from "../helpers/eventually.js";
import { freePort } from "../helpers/ports.js";

describe("pipe sessions", () => {
  let legacy: LegacyChat;
  let proxy: LegacyProxy;
  let pipes: PipeSessions;
  let front: Server;
  let url: string;
  const ended: string[] = [];

  before(async () => {
    legacy = await startLegacyChat();
    proxy = new LegacyProxy({ target: legacy.url, trustProxy: false });
    pipes = new PipeSessions({ proxy, legacyUrl: legacy.url, path: "/socket.io/", idleTimeoutMs: 60_000 });
    const sidOf = (reqUrl: string | undefined) => new URL(reqUrl ?? "/", "http://x").searchParams.get("sid");
    front = createServer((req, res) => {
      const sid = sidOf(req.url);
      if (sid === null) pipes.handshakeHttp(req, res, { onEnd: () => ended.push(req.url ?? "") });
      else pipes.request(req, res, sid);
    });
    front.on("upgrade", (req, socket, head) => {
      const sid = sidOf(req.url);
      if (sid === null) pipes.handshakeWs(req, socket, head, { onEnd: () => ended.push(req.url ?? "") });
      else pipes.upgrade(req, socket, head, sid);
    });
    front.listen(0, "127.0.0.1");
    await once(front, "listening");
    url = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
  });
  after(async () => {
    pipes.stop();
    proxy.close();
    front.closeAllConnections();
    front.close();
    await legacy.close();
  });

  it("learns a polling session's sid, follows its upgrade, and counts it per transport", async () => {
    const handshake = await fetch(`${url}/socket.io/?EIO=4&transport=polling`);
    const { sid } = JSON.parse((await handshake.text()).slice(1)) as { sid: string };
    assert.equal(pipes.has(sid), true);
    assert.deepEqual(pipes.countByTransport(), { polling: 1, websocket: 0 });
    const ws = new WebSocket(`${url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket&sid=${sid}`);
    await once(ws, "open");
    ws.send("2probe");
    assert.equal(String((await once(ws, "message"))[0]), "3probe");
    ws.send("5");
    assert.deepEqual(pipes.countByTransport(), { polling: 0, websocket: 1 });
    ws.close();
    await eventually(() => pipes.size === 0, "the session ends with its socket");
    assert.equal(ended.length, 1, "its end ran once");
  });

  it("runs the end of a handshake the legacy server refused, and opens no session", async () => {
    const before = ended.length;
    const refused = await fetch(`${url}/socket.io/?EIO=4&transport=bogus`);
    assert.equal(refused.status, 400);
    await eventually(() => ended.length === before + 1, "the refused handshake's end");
    assert.equal(pipes.size, 0);
  });

  it("closes sessions so that clients reconnect: a WebSocket is cut, a pending poll gets the close packet", async () => {
    const ws = new WebSocket(`${url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`);
    await once(ws, "open");
    const handshake = await fetch(`${url}/socket.io/?EIO=4&transport=polling`);
    const { sid } = JSON.parse((await handshake.text()).slice(1)) as { sid: string };
    const poll = fetch(`${url}/socket.io/?EIO=4&transport=polling&sid=${sid}`).then((r) => r.text());
    await new Promise((resolve) => setTimeout(resolve, 100));
    const before = ended.length;
    assert.equal(pipes.close(10, "drained"), 2);
    assert.equal(await poll, "1", "engine.io's close packet");
    await once(ws, "close");
    assert.equal(pipes.size, 0);
    assert.equal(ended.length, before + 2);
    const next = await fetch(`${url}/socket.io/?EIO=4&transport=polling&sid=${sid}`);
    assert.equal(next.status, 400, "the legacy server dropped the session too");
  });
});

describe("pipe handshakes to a legacy server that accepts and never answers", () => {
  it("are answered 504 SWY_ERR_UPSTREAM_TIMEOUT at the handshake deadline, polling and WebSocket, counted", async () => {
    const silent = createNetServer((socket) => socket.on("error", () => {}));
    silent.listen(0, "127.0.0.1");
    await once(silent, "listening");
    const legacyUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const proxy = new LegacyProxy({ target: legacyUrl, trustProxy: false });
    const pipes = new PipeSessions({ proxy, legacyUrl, path: "/socket.io/", idleTimeoutMs: 60_000, handshakeTimeoutMs: 200 });
    const ended: string[] = [];
    const refused: string[] = [];
    const stop = subscribe("switchyard:handshake:refused", (e) => refused.push(e.code));
    const front = createServer((req, res) => pipes.handshakeHttp(req, res, { onEnd: () => ended.push("http") }));
    front.on("upgrade", (req, socket, head) => pipes.handshakeWs(req, socket, head, { onEnd: () => ended.push("ws") }));
    front.listen(0, "127.0.0.1");
    await once(front, "listening");
    const url = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
    try {
      const polling = await fetch(`${url}/socket.io/?EIO=4&transport=polling`);
      assert.equal(polling.status, 504);
      assert.equal(((await polling.json()) as { code: string }).code, "SWY_ERR_UPSTREAM_TIMEOUT");
      const ws = new WebSocket(`${url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`);
      const status = await new Promise<number | undefined>((resolve) => {
        ws.on("unexpected-response", (_req, res) => resolve(res.statusCode));
        ws.on("error", () => resolve(undefined));
      });
      assert.equal(status, 504);
      await eventually(() => ended.length === 2, "both handshakes' ends to run");
      assert.deepEqual(refused, ["SWY_ERR_UPSTREAM_TIMEOUT", "SWY_ERR_UPSTREAM_TIMEOUT"]);
      assert.equal(pipes.size, 0);
    } finally {
      stop();
      pipes.stop();
      proxy.close();
      front.closeAllConnections();
      front.close();
      silent.close();
    }
  });
});

describe("pipe handshakes to a legacy server that is down", () => {
  it("are answered 502 at once, and their deadline does not fire later", async () => {
    const legacyUrl = `http://127.0.0.1:${await freePort()}`;
    const proxy = new LegacyProxy({ target: legacyUrl, trustProxy: false });
    const pipes = new PipeSessions({ proxy, legacyUrl, path: "/socket.io/", idleTimeoutMs: 60_000, handshakeTimeoutMs: 150 });
    const refused: string[] = [];
    const stop = subscribe("switchyard:handshake:refused", (e) => refused.push(e.code));
    const front = createServer((req, res) => pipes.handshakeHttp(req, res));
    front.listen(0, "127.0.0.1");
    await once(front, "listening");
    try {
      const answer = await fetch(`http://127.0.0.1:${(front.address() as AddressInfo).port}/socket.io/?EIO=4&transport=polling`);
      assert.equal(answer.status, 502);
      assert.equal(((await answer.json()) as { code: string }).code, "SWY_ERR_PASSTHROUGH_UNREACHABLE");
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(refused, [], "no timeout is reported for a handshake already answered");
    } finally {
      stop();
      pipes.stop();
      proxy.close();
      front.closeAllConnections();
      front.close();
    }
  });
});
