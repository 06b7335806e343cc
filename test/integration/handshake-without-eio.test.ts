/**
 * Issue 11 item 1: a handshake without the EIO parameter is refused as engine.io 6.6.13 refuses a protocol
 * revision it does not serve (HTTP 400, `{"code":5,"message":"Unsupported protocol version"}` to polling, a 400
 * with the message to a WebSocket upgrade), on every route, before any backend session opens, and counted in
 * switchyard_handshakes_refused_total{code="SWY_ERR_UNSUPPORTED_PROTOCOL"}. (engine.io itself reads a missing EIO
 * as revision 3 when EIO3 is allowed, which the gateway needs for 2.x clients; every real client sends it.) The
 * reference answer is a real engine.io server's, without EIO3, to an EIO=3 handshake.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { attach } from "engine.io";
import { startLegacyChat, type LegacyChat } from "../../examples/legacy-chat/server.js";
import { metricSum } from "../helpers/fuzz/gateway-under-test.js";
import { MULTI_ROUTES, multiRouteSetup } from "../helpers/fuzz/route-keys.js";
import { parseMetrics } from "../helpers/shadow-probe.js";
import { startStack, type Stack } from "../helpers/stack.js";

interface Answer {
  readonly status: number;
  readonly contentType: string | null;
  readonly body: string;
}

async function poll(url: string): Promise<Answer> {
  const response = await fetch(url);
  return { status: response.status, contentType: response.headers.get("content-type"), body: await response.text() };
}

/** Everything the server writes to a WebSocket upgrade request until it closes the connection. */
function upgrade(url: string): Promise<string> {
  const { hostname, port, pathname, search } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () =>
      socket.write(
        `GET ${pathname}${search} HTTP/1.1\r\nHost: ${hostname}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      ),
    );
    let response = "";
    socket.on("data", (chunk: Buffer) => (response += chunk.toString("latin1")));
    socket.on("close", () => resolve(response));
    socket.on("error", reject);
  });
}

describe("a handshake without EIO", () => {
  const setup = multiRouteSetup("eio");
  let darkLegacy: LegacyChat;
  let reference: Server;
  let expectedPoll: Answer;
  let expectedUpgrade: string;
  before(async () => {
    darkLegacy = await startLegacyChat();
    reference = createServer();
    attach(reference, { allowEIO3: false });
    await new Promise<void>((resolve) => reference.listen(0, "127.0.0.1", resolve));
  });
  after(async () => {
    await darkLegacy.close();
    reference.close();
  });

  it("engine.io refuses an unsupported revision with HTTP 400 and error 5 (the reference)", async () => {
    const referenceUrl = `http://127.0.0.1:${(reference.address() as AddressInfo).port}/engine.io/`;
    expectedPoll = await poll(`${referenceUrl}?EIO=3&transport=polling`);
    assert.deepEqual(expectedPoll, {
      status: 400,
      contentType: "application/json",
      body: '{"code":5,"message":"Unsupported protocol version"}',
    });
    // engine.io accepts the upgrade (101) before it checks the revision, then writes its 400 onto the socket and
    // destroys it; the gateway writes the same 400 without accepting the upgrade first (no WebSocket is opened).
    const referenceUpgrade = await upgrade(`${referenceUrl}?EIO=3&transport=websocket`);
    assert.match(referenceUpgrade, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    expectedUpgrade = referenceUpgrade.slice(referenceUpgrade.indexOf("\r\n\r\n") + 4);
    assert.equal(
      expectedUpgrade,
      "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-type: text/html\r\nContent-Length: 28\r\n\r\nUnsupported protocol version",
    );
  });

  // Pipe mode carries the pipe, hub and both shadowed routes; terminate mode the terminated legacy route (and the others).
  for (const mode of ["pipe", "terminate"] as const) {
    it(`is refused so on every route of a ${mode}-mode gateway, polling and WebSocket, before routing, and counted`, async () => {
      const stack: Stack = await startStack({ mode, hub: true, routing: setup.routing, env: { LEGACY_SHADOW_URL: darkLegacy.url } });
      try {
        for (const route of MULTI_ROUTES) {
          const base = `${stack.url}/socket.io/?userId=${setup.keys[route]}`;
          assert.deepEqual(await poll(`${base}&transport=polling`), expectedPoll, `${route} route, polling`);
          assert.equal(await upgrade(`${base}&transport=websocket`), expectedUpgrade, `${route} route, WebSocket`);
        }
        const metrics = parseMetrics(await (await fetch(`${stack.switchyard.opsUrl}/metrics`)).text());
        const refused = metricSum(metrics, "switchyard_handshakes_refused_total", { code: "SWY_ERR_UNSUPPORTED_PROTOCOL" });
        assert.equal(refused, MULTI_ROUTES.length * 2);
        assert.equal(metricSum(metrics, "switchyard_routing_decisions_total"), 0, "refused before routing: no backend session opened");
        // With EIO, the same request is served.
        const served = await poll(`${stack.url}/socket.io/?EIO=4&transport=polling&userId=${setup.keys.hub}`);
        assert.equal(served.status, 200);
        assert.match(served.body, /^0\{"sid":/);
      } finally {
        await stack.close();
      }
    });
  }
});
