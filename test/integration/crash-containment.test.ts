/**
 * Issue 9: one client packet must never take the gateway down. The reproduction (a raw Engine.IO v3 client
 * sends `40//[,` and `42//[,["x"]`) runs against a real gateway process on the hub route and on both shadowed
 * routes while healthy socket.io clients chat through the same process: only the offending session closes
 * (counted with its code), the healthy clients lose nothing, /healthz answers, and no exception reached a
 * guard (switchyard_contained_errors_total{code="SWY_ERR_INTERNAL"} stays 0). Request-level cases too: URLs
 * that Node's HTTP parser accepts and the URL parser refuses, on the client and the ops listener.
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, describe, it } from "node:test";
import { loadStaticConfig } from "../../src/config/static-config.js";
import { eventually } from "../helpers/eventually.js";
import { metricSum, startGatewayUnderTest, type GatewayRoute, type GatewayUnderTest } from "../helpers/fuzz/gateway-under-test.js";
import { startHealthyChat } from "../helpers/fuzz/healthy-chat.js";
import { openRawSession } from "../helpers/fuzz/raw-client.js";

const REPRODUCTION = ["0//[,", '2//[,["x"]'];

async function openShadows(gateway: GatewayUnderTest): Promise<number> {
  return metricSum(await gateway.metrics(), "switchyard_shadow_sessions_open");
}

/**
 * Opens a raw 2.x-style session, waits for the server's "/" connect (and, when `shadows` healthy sessions are
 * shadowed, for this session's shadow to be open too), sends the reproduction and waits for the close.
 */
async function reproduce(gateway: GatewayUnderTest, shadows: number | undefined): Promise<void> {
  const session = await openRawSession(gateway.url, { eio: 3, transport: "websocket" });
  assert.ok(await session.next((m) => m === "0"), "the server connected /");
  if (shadows !== undefined)
    await eventually(async () => (await openShadows(gateway)) === shadows + 1, "the attacker's shadow open", 10_000);
  await session.send(...REPRODUCTION);
  await session.closed;
  if (shadows !== undefined) await eventually(async () => (await openShadows(gateway)) === shadows, "the attacker's shadow gone", 10_000);
}

const started: GatewayUnderTest[] = [];
after(async () => {
  for (const gateway of started) await gateway.stop();
});

async function start(route: GatewayRoute): Promise<GatewayUnderTest> {
  const gateway = await startGatewayUnderTest(route);
  started.push(gateway);
  return gateway;
}

describe("issue 9's reproduction closes only its own session", () => {
  for (const route of ["hub", "shadow-to-hub", "shadow-to-legacy"] as const) {
    it(`on the ${route} route, with healthy clients chatting through the same gateway`, async () => {
      const gateway = await start(route);
      const chat = await startHealthyChat(gateway.url);
      // Shadowed routes: the attack reaches an open shadow, so that the shadow side is exercised too.
      const shadows = route === "hub" ? undefined : 4;
      if (shadows !== undefined) await eventually(async () => (await openShadows(gateway)) === shadows, "the healthy shadows open", 10_000);
      for (let attempt = 0; attempt < 3; attempt++) await reproduce(gateway, shadows);
      await eventually(() => chat.sent >= 40, "healthy traffic after the attacks", 10_000);
      const report = await chat.stop();
      assert.ok(gateway.alive, `the gateway process is running (stderr: ${gateway.stderr.slice(0, 500)})`);
      assert.ok(await gateway.healthy(), "/healthz answers");
      assert.deepEqual(report.failures, [], "no healthy client was disconnected or refused");
      assert.deepEqual(report.lost, [], "no healthy client lost a message");
      const metrics = await gateway.metrics();
      assert.equal(
        metricSum(metrics, "switchyard_contained_errors_total", { code: "SWY_ERR_INTERNAL" }),
        0,
        "no exception reached a guard",
      );
      if (route === "shadow-to-hub") {
        // The primary is socket.io, which closes the connection itself; the shadow hub session refuses the same
        // packet through the gateway's translator and ends, counted as a shadow error.
        assert.equal(metricSum(metrics, "switchyard_sessions_closed_total", { backend: "legacy", reason: "upstream closed" }), 3);
        assert.equal(metricSum(metrics, "switchyard_shadow_errors_total", { code: "SWY_ERR_PROTOCOL_INVALID_NAMESPACE" }), 3);
      } else {
        // The primary is the hub: the gateway's translator closes the session, as socket.io would.
        assert.equal(metricSum(metrics, "switchyard_protocol_errors_total", { code: "SWY_ERR_PROTOCOL_INVALID_NAMESPACE" }), 3);
        const closed = { backend: "hub", reason: "error", code: "SWY_ERR_PROTOCOL_INVALID_NAMESPACE" };
        assert.equal(metricSum(metrics, "switchyard_sessions_closed_total", closed), 3);
      }
    });
  }
});

/** Sends one raw HTTP request and returns the status line. */
function rawRequest(baseUrl: string, requestLine: string, headers = ""): Promise<string> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(`${requestLine}\r\nhost: x\r\nconnection: close\r\n${headers}\r\n`));
    let response = "";
    socket.on("data", (chunk) => (response += chunk.toString()));
    socket.on("close", () => resolve(response));
    socket.on("error", reject);
  });
}

describe("request URLs that Node accepts and the URL parser refuses", () => {
  it("are refused with 400 SWY_ERR_BAD_REQUEST on both listeners; the process stays up", async () => {
    const gateway = await start("pipe");
    const upgrade =
      "upgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n";
    for (const [target, line, headers] of [
      [gateway.opsUrl, "GET //[ HTTP/1.1", ""],
      [gateway.opsUrl, "GET //:99999 HTTP/1.1", ""],
      [gateway.url, "GET http://[ HTTP/1.1", ""],
      [gateway.url, "GET http://[ HTTP/1.1", upgrade],
    ] as const) {
      const response = await rawRequest(target, line, headers);
      assert.match(response, /^HTTP\/1\.1 400 /, `${line}: ${response.slice(0, 80)}`);
      assert.match(response, /"code":"SWY_ERR_BAD_REQUEST"/);
      assert.ok(gateway.alive, `alive after ${line}`);
    }
    assert.ok(await gateway.healthy());
    const metrics = await gateway.metrics();
    assert.equal(metricSum(metrics, "switchyard_contained_errors_total", { boundary: "admin", code: "SWY_ERR_BAD_REQUEST" }), 2);
    assert.equal(metricSum(metrics, "switchyard_contained_errors_total", { boundary: "request", code: "SWY_ERR_BAD_REQUEST" }), 2);
  });
});

describe("INTERNAL_URL", () => {
  it("with https: is refused at start-up (the client listener speaks plain HTTP), not on the first forwarded request", () => {
    assert.throws(
      () => loadStaticConfig({ INTERNAL_URL: "https://switchyard-1:3000" }),
      (error: Error & { code?: string }) => error.code === "SWY_ERR_CONFIG_INVALID" && /INTERNAL_URL must use http/.test(error.message),
    );
    assert.equal(loadStaticConfig({ INTERNAL_URL: "http://switchyard-1:3000" }).internalUrl, "http://switchyard-1:3000");
  });
});
