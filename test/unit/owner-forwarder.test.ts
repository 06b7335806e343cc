/**
 * The owner forwarder on real sockets: a request of a session another instance owns reaches that instance
 * with the deployment's forwarding marker (which the owner recognises and strips), HTTP and WebSocket alike;
 * an owner that cannot be reached gets the client engine.io's "Session ID unknown", counted as failed.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import WebSocket, { WebSocketServer } from "ws";
import { FORWARDED_HEADER, forwardingMarker, stripGatewayHeaders, wasForwarded } from "../../src/downstream/gateway-headers.js";
import { OwnerForwarder } from "../../src/passthrough/owner-forwarder.js";
import { subscribe } from "../../src/telemetry/events.js";
import { freePort } from "../helpers/ports.js";

const MARKER = forwardingMarker({ adminToken: "the-deployment-admin-token", redisKeyPrefix: "switchyard:" });

async function listen(server: Server): Promise<string> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("owner forwarder", () => {
  const seenByOwner: { forwarded: boolean; headers: IncomingMessage["headers"] }[] = [];
  const outcomes: string[] = [];
  const unsubscribe = subscribe("switchyard:owner:forward", (e) => outcomes.push(e.outcome));
  const forwarder = new OwnerForwarder(MARKER);
  let owner: Server;
  let ownerUrl: string;
  let front: Server;
  let frontUrl: string;
  let target: string;

  before(async () => {
    owner = createServer((req, res) => {
      stripGatewayHeaders(req, MARKER);
      seenByOwner.push({ forwarded: wasForwarded(req), headers: req.headers });
      res.end(`owner saw ${req.method} ${req.url}`);
    });
    const wss = new WebSocketServer({ noServer: true });
    owner.on("upgrade", (req, socket, head) => {
      stripGatewayHeaders(req, MARKER);
      seenByOwner.push({ forwarded: wasForwarded(req), headers: req.headers });
      wss.handleUpgrade(req, socket, head, (ws) => ws.on("message", (data) => ws.send(`echo ${data.toString()}`)));
    });
    ownerUrl = await listen(owner);
    target = ownerUrl;
    front = createServer((req, res) => forwarder.web(req, res, target));
    front.on("upgrade", (req, socket, head) => forwarder.ws(req, socket, head, target));
    frontUrl = await listen(front);
  });
  after(() => {
    unsubscribe();
    forwarder.close();
    front.closeAllConnections();
    owner.closeAllConnections();
    front.close();
    owner.close();
  });

  it("sends a polling request to its owner with the marker the owner recognises, and relays the answer", async () => {
    target = ownerUrl;
    const response = await fetch(`${frontUrl}/socket.io/?EIO=4&transport=polling&sid=abc`, { headers: { cookie: "a=1" } });
    assert.equal(await response.text(), "owner saw GET /socket.io/?EIO=4&transport=polling&sid=abc");
    const seen = seenByOwner.at(-1)!;
    assert.equal(seen.forwarded, true);
    assert.equal(seen.headers.cookie, "a=1");
    assert.equal(seen.headers[FORWARDED_HEADER], undefined, "the owner stripped the marker after reading it");
    assert.equal(outcomes.at(-1), "forwarded");
  });

  it("forwards a WebSocket upgrade the same way", async () => {
    target = ownerUrl;
    const ws = new WebSocket(`${frontUrl.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket&sid=abc`);
    await once(ws, "open");
    ws.send("hello");
    const [reply] = await once(ws, "message");
    assert.equal(String(reply), "echo hello");
    assert.equal(seenByOwner.at(-1)?.forwarded, true);
    ws.close();
  });

  it("answers engine.io's unknown session when the owner is gone, and closes an upgrade, both counted as failed", async () => {
    target = `http://127.0.0.1:${await freePort()}`;
    const failedBefore = outcomes.filter((o) => o === "failed").length;
    const response = await fetch(`${frontUrl}/socket.io/?EIO=4&transport=polling&sid=gone`);
    assert.equal(response.status, 400);
    assert.deepEqual(await response.json(), { code: 1, message: "Session ID unknown" });
    const ws = new WebSocket(`${frontUrl.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket&sid=gone`);
    // The upgrade is cut: an "error" (socket hang up), then "close" (events.once would reject on the error).
    await new Promise<void>((resolve) => {
      ws.on("error", () => {});
      ws.on("close", () => resolve());
    });
    assert.equal(outcomes.filter((o) => o === "failed").length - failedBefore, 2);
  });
});
