/**
 * The strangler pass-through: everything that is not the gateway's own Socket.IO endpoint reaches the
 * legacy app unchanged (pages, APIs, the client bundle, other WebSocket endpoints), with X-Forwarded-*.
 */
import assert from "node:assert/strict";
import { createServer, type IncomingMessage } from "node:http";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import WebSocket, { WebSocketServer } from "ws";
import { Server } from "socket.io";
import { loadStaticConfig } from "../../src/config/static-config.js";
import { startSwitchyard, type Switchyard } from "../../src/switchyard.js";
import { gatewayEnv } from "../helpers/stack.js";

describe("strangler pass-through", () => {
  const requests: IncomingMessage[] = [];
  const http = createServer((req, res) => {
    requests.push(req);
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      res.writeHead(req.url === "/missing" ? 404 : 200, { "content-type": "application/json", "x-legacy": "yes" });
      res.end(JSON.stringify({ method: req.method, url: req.url, body, headers: req.headers }));
    });
  });
  const io = new Server(http);
  const other = new WebSocketServer({ noServer: true });
  let gateway: Switchyard;
  let legacyUrl = "";

  before(async () => {
    // A second WebSocket endpoint on the legacy app that socket.io does not own.
    http.on("upgrade", (req, socket, head) => {
      if (req.url?.startsWith("/live")) other.handleUpgrade(req, socket, head, (ws) => ws.on("message", (data) => ws.send(`echo:${data}`)));
    });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    legacyUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    gateway = await startSwitchyard({ config: loadStaticConfig(gatewayEnv()), legacyUrl });
  });
  after(async () => {
    await gateway.close();
    other.close();
    io.close();
  });

  it("passes pages and APIs with their status, headers and body", async () => {
    const response = await fetch(`${gateway.url}/api/things?x=1`, {
      method: "POST",
      body: "payload",
      headers: { "x-forwarded-for": "198.51.100.7" },
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("x-legacy"), "yes");
    const seen = (await response.json()) as { method: string; url: string; body: string; headers: Record<string, string> };
    assert.equal(seen.method, "POST");
    assert.equal(seen.url, "/api/things?x=1");
    assert.equal(seen.body, "payload");
    assert.match(
      seen.headers["x-forwarded-for"] ?? "",
      /^(::ffff:)?127\.0\.0\.1$/,
      "a client-supplied X-Forwarded-For is not trusted by default",
    );
    assert.equal(seen.headers["x-forwarded-proto"], "http");
    assert.ok(seen.headers["x-forwarded-host"]);
    const missing = await fetch(`${gateway.url}/missing`);
    assert.equal(missing.status, 404);
    await missing.arrayBuffer();
  });

  it("serves socket.io's client bundle from the legacy server, byte for byte", async () => {
    for (const path of ["/socket.io/socket.io.js", "/socket.io/socket.io.min.js"]) {
      const [direct, proxied] = await Promise.all([fetch(legacyUrl + path), fetch(gateway.url + path)]);
      assert.equal(proxied.status, 200);
      assert.equal(proxied.headers.get("content-type"), direct.headers.get("content-type"));
      assert.deepEqual(Buffer.from(await proxied.arrayBuffer()), Buffer.from(await direct.arrayBuffer()));
    }
  });

  it("passes other WebSocket upgrades", async () => {
    const ws = new WebSocket(`${gateway.url.replace("http", "ws")}/live`);
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    ws.send("hello");
    const reply = await new Promise<string>((resolve) => ws.once("message", (data: Buffer) => resolve(data.toString())));
    assert.equal(reply, "echo:hello");
    ws.close();
  });

  it("resends a body-less request once when the legacy app reset a reused keep-alive socket", async () => {
    // A raw HTTP/1.1 server: on each connection, answers the first request with keep-alive, then resets the
    // connection when a second request arrives on it (a server closing an idle socket just as it is reused).
    let requests = 0;
    const raw = createNetServer((socket) => {
      let served = 0;
      socket.on("data", (chunk: Buffer) => {
        if (!chunk.toString("latin1").includes("\r\n\r\n")) return;
        requests++;
        if (served++ === 0) socket.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok");
        else socket.resetAndDestroy();
      });
      socket.on("error", () => {});
    });
    await new Promise<void>((resolve) => raw.listen(0, "127.0.0.1", resolve));
    const flaky = await startSwitchyard({
      config: loadStaticConfig(gatewayEnv({ PING_INTERVAL_MS: "25000", PING_TIMEOUT_MS: "20000", MAX_PAYLOAD_BYTES: "1000000" })),
      legacyUrl: `http://127.0.0.1:${(raw.address() as AddressInfo).port}`,
    });
    try {
      const first = await fetch(`${flaky.url}/page`);
      assert.equal(await first.text(), "ok");
      const second = await fetch(`${flaky.url}/page`);
      assert.equal(second.status, 200, "the reset on the reused socket is retried on a fresh one");
      assert.equal(await second.text(), "ok");
      assert.equal(requests, 3, "first request, the one reset, and its retry");
      const post = await fetch(`${flaky.url}/page`, { method: "POST", body: "x" });
      assert.equal(post.status, 502, "a request with a body is not resent");
      await post.arrayBuffer();
    } finally {
      await flaky.close();
      raw.close();
    }
  });

  it("answers 502 with a short JSON reason when the legacy app is unreachable", async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, "127.0.0.1", () => {
        const { port: free } = probe.address() as AddressInfo;
        probe.close(() => resolve(free));
      });
    });
    const orphan = await startSwitchyard({
      config: loadStaticConfig(gatewayEnv({ PING_INTERVAL_MS: "25000", PING_TIMEOUT_MS: "20000", MAX_PAYLOAD_BYTES: "1000000" })),
      legacyUrl: `http://127.0.0.1:${port}`,
    });
    try {
      const response = await fetch(`${orphan.url}/anything`);
      assert.equal(response.status, 502);
      assert.equal(response.headers.get("content-type"), "application/json");
      const body = (await response.json()) as { code: string; message: string };
      assert.equal(body.code, "SWY_ERR_PASSTHROUGH_UNREACHABLE");
      assert.match(body.message, /ECONNREFUSED/);
      const ws = new WebSocket(`${orphan.url.replace("http", "ws")}/live`);
      const status = await new Promise<number>((resolve) => {
        ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
        ws.on("error", () => resolve(-1));
      });
      assert.equal(status, 502);
    } finally {
      await orphan.close();
    }
  });
});
