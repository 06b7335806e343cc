/**
 * Found by the fuzz test: on the pipe route, a hostile client's oversized polling POST made a healthy polling client
 * lose its session. engine.io answers an oversized (413) or too slow (408) POST and then destroys the request's
 * socket; the gateway's keep-alive agent had already pooled that socket when the empty answer ended, and the next
 * request through it (another client's POST, which cannot be retried) failed with ECONNRESET: a 502, a transport
 * error, a disconnected client. Sockets answered 408/413 are no longer pooled.
 *
 * The legacy server here behaves as engine.io does on such a socket, deterministically: it answers 413 and treats
 * the connection as closed, so that a request that still arrives on it is reset (engine.io's destroy races with
 * the next request; here the next request always loses).
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { LegacyProxy } from "../../src/passthrough/legacy-proxy.js";

function listen(server: Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
  );
}

describe("the legacy proxy's keep-alive pool", () => {
  const closing = new WeakSet<Socket>();
  let connections = 0;
  const legacy = createServer((req, res) => {
    if (closing.has(req.socket)) {
      // This connection was closed after a 413: what the client writes on it is reset.
      req.socket.resetAndDestroy();
      return;
    }
    req.resume();
    req.on("end", () => {
      if (req.url === "/socket.io/?big") {
        res.writeHead(413).end();
        closing.add(req.socket);
        return;
      }
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
    });
  });
  legacy.on("connection", () => connections++);
  let proxy: LegacyProxy;
  const gateway = createServer((req, res) => proxy.web(req, res));
  let gatewayUrl = "";

  before(async () => {
    proxy = new LegacyProxy({ target: await listen(legacy), trustProxy: false });
    gatewayUrl = await listen(gateway);
  });
  after(() => {
    proxy.close();
    gateway.close();
    legacy.close();
  });

  it("does not reuse a socket answered 413: the next POST goes out on a new connection and succeeds", async () => {
    const ok = await fetch(`${gatewayUrl}/socket.io/?ok`, { method: "POST", body: "1" });
    assert.equal(await ok.text(), "ok");
    for (let i = 0; i < 5; i++) {
      const big = await fetch(`${gatewayUrl}/socket.io/?big`, { method: "POST", body: "x".repeat(100) });
      assert.equal(big.status, 413);
      await big.arrayBuffer();
      const next = await fetch(`${gatewayUrl}/socket.io/?ok`, { method: "POST", body: "4hello" });
      assert.equal(next.status, 200, `POST ${i} after a 413: ${await next.clone().text()}`);
      assert.equal(await next.text(), "ok");
    }
    // One connection for the first POST (reused by the first 413), then a new one after each 413.
    assert.equal(connections, 6);
  });
});
