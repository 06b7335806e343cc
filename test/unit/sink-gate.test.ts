import assert from "node:assert/strict";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { WebSocketServer } from "ws";
import type { ErrorCode } from "../../src/errors.js";
import { openEngineIoUpstream } from "../../src/upstream/engineio-upstream.js";
import { SinkGate } from "../../src/upstream/sink-gate.js";
import type { UpstreamMessage, UpstreamSink } from "../../src/upstream/upstream.js";
import { eventually } from "../helpers/eventually.js";

class RecordingSink implements UpstreamSink {
  readonly messages: UpstreamMessage[] = [];
  closed: { code: ErrorCode | undefined; detail: string | undefined } | undefined;
  onMessage(message: UpstreamMessage): void {
    this.messages.push(message);
  }
  onClose(code: ErrorCode | undefined, detail: string | undefined): void {
    this.closed = { code, detail };
  }
  onDrain(): void {}
}

describe("sink gate", () => {
  it("delivers what waited in order, then the end, within its byte bound", () => {
    const gate = new SinkGate(10, () => assert.fail("no overflow"));
    gate.message("abcd");
    gate.message(Buffer.from("efghij"));
    gate.ended(undefined, "done");
    const sink = new RecordingSink();
    gate.attach(sink, false);
    assert.deepEqual(sink.messages, ["abcd", Buffer.from("efghij")]);
    assert.deepEqual(sink.closed, { code: undefined, detail: "done" });
  });

  it("drops what waited when the bound is passed and reports the overflow once", () => {
    const overflows: string[] = [];
    const gate = new SinkGate(10, (detail) => {
      overflows.push(detail);
      gate.ended("SWY_ERR_EARLY_OVERFLOW", detail);
    });
    gate.message("abcdef");
    gate.message("ghijkl");
    gate.message("more after the end");
    const sink = new RecordingSink();
    gate.attach(sink, false);
    assert.equal(overflows.length, 1);
    assert.match(overflows[0]!, /12 bytes/);
    assert.deepEqual(sink.messages, [], "nothing held past the bound reaches the client");
    assert.equal(sink.closed?.code, "SWY_ERR_EARLY_OVERFLOW");
  });

  it("ends a real Engine.IO upstream whose backend floods it before the client session attaches", async () => {
    const server = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    await once(server, "listening");
    server.on("connection", (ws) => {
      ws.send(`0${JSON.stringify({ sid: "flood", upgrades: [], pingInterval: 25_000, pingTimeout: 20_000, maxPayload: 1e6 })}`);
      const chunk = `42["flood","${"x".repeat(16 * 1024)}"]`;
      for (let i = 0; i < 8; i++) ws.send(`4${chunk}`);
    });
    try {
      const { port } = server.address() as AddressInfo;
      const upstream = await openEngineIoUpstream({
        backend: "legacy",
        role: "primary",
        baseUrl: `http://127.0.0.1:${port}`,
        path: "/socket.io/",
        context: { eio: 4, query: [], headers: {}, remoteAddress: "127.0.0.1" },
        connectTimeoutMs: 2000,
        drainLowWater: 1024,
        earlyBufferBytes: 64 * 1024,
      });
      const closedByGateway = once([...server.clients][0]!, "close");
      const [code] = (await closedByGateway) as [number];
      assert.equal(code, 1005, "the gateway closed the backend session (a bare close frame)");
      const sink = new RecordingSink();
      upstream.attach(sink);
      await eventually(() => sink.closed !== undefined, "the attached session hears the overflow");
      assert.equal(sink.closed?.code, "SWY_ERR_EARLY_OVERFLOW");
      assert.deepEqual(sink.messages, []);
    } finally {
      for (const client of server.clients) client.terminate();
      server.close();
    }
  });
});
