/**
 * The engine.io internals src/downstream/engine-internals.ts reads, checked on real engine.io sessions of
 * both revisions and both transports: an engine.io upgrade that changes one of them fails here, naming it.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { Server as EngineServer, type Socket as EngineSocket } from "engine.io";
import * as v4Parser from "engine.io-parser";
import WebSocket from "ws";
import {
  engineProtocol,
  engineSocketId,
  hasEngineSession,
  internalsProblems,
  pendingPacketCount,
  transportName,
  writePreEncodedFrame,
} from "../../src/downstream/engine-internals.js";

interface WithFrame {
  Sender: { frame(data: Buffer, options: object): Buffer[] };
}
/** socket.io-adapter's options for a broadcast's frame (an unmasked final text frame). */
const FRAME = { readOnly: false, mask: false, rsv1: false, opcode: 1, fin: true };

const ROOT = new URL("../../", import.meta.url);

function versionOf(packageJson: URL): string {
  return (JSON.parse(readFileSync(packageJson, "utf8")) as { version: string }).version;
}

describe("engine.io internals", () => {
  let http: HttpServer;
  let engine: EngineServer;
  let base: string;
  const sockets: EngineSocket[] = [];

  before(async () => {
    engine = new EngineServer({ allowEIO3: true });
    engine.on("connection", (socket: EngineSocket) => sockets.push(socket));
    http = createServer();
    engine.attach(http);
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", () => resolve()));
    base = `127.0.0.1:${(http.address() as AddressInfo).port}/engine.io/`;
  });
  after(async () => {
    engine.close();
    await new Promise((resolve) => http.close(resolve));
  });

  it("engine.io is pinned to the exact version installed", () => {
    const declared = (JSON.parse(readFileSync(new URL("package.json", ROOT), "utf8")) as { dependencies: Record<string, string> })
      .dependencies["engine.io"];
    assert.equal(declared, versionOf(new URL("node_modules/engine.io/package.json", ROOT)), "package.json must pin engine.io exactly");
  });

  async function session(query: string): Promise<EngineSocket> {
    const before = sockets.length;
    if (query.includes("websocket")) {
      const ws = new WebSocket(`ws://${base}?${query}`);
      ws.on("error", () => {});
    } else {
      await (await fetch(`http://${base}?${query}`)).text();
    }
    while (sockets.length === before) await new Promise((resolve) => setTimeout(resolve, 5));
    return sockets[sockets.length - 1]!;
  }

  for (const [eio, transport] of [
    ["4", "websocket"],
    ["4", "polling"],
    ["3", "websocket"],
    ["3", "polling"],
  ] as const) {
    it(`are where the gateway reads them: EIO${eio} over ${transport}`, async () => {
      const socket = await session(`EIO=${eio}&transport=${transport}`);
      assert.deepEqual(internalsProblems(engine, socket), []);
      assert.equal(engineProtocol(socket), Number(eio));
      assert.equal(transportName(socket), transport);
      assert.equal(hasEngineSession(engine, engineSocketId(socket)), true);
      assert.equal(hasEngineSession(engine, "no-such-sid"), false);
      assert.equal(typeof pendingPacketCount(socket), "number");
      socket.close();
    });
  }

  it("writes a broadcast's pre-built frame straight to an idle WebSocket client, not past anything waiting", async () => {
    const payload = Buffer.from('42["said",{"text":"h\u00e9llo \u2603"}]');
    // A text message is "4" + the packet in Engine.IO v3 and v4 alike: one frame serves both revisions.
    const encoded = (parser: { encodePacket: (...args: unknown[]) => void }) => {
      let out: unknown;
      parser.encodePacket({ type: "message", data: payload.toString() }, true, (e: unknown) => (out = e));
      return out;
    };
    const v3 = createRequire(import.meta.url)(new URL("node_modules/engine.io/build/parser-v3/index.js", ROOT).pathname) as Parameters<
      typeof encoded
    >[0];
    assert.equal(encoded(v3), encoded(v4Parser as unknown as Parameters<typeof encoded>[0]));
    for (const eio of ["3", "4"]) {
      const received: string[] = [];
      const ws = new WebSocket(`ws://${base}?EIO=${eio}&transport=websocket`);
      ws.on("message", (data) => received.push(data.toString()));
      const before = sockets.length;
      while (sockets.length === before) await new Promise((resolve) => setTimeout(resolve, 5));
      const socket = sockets[sockets.length - 1]!;
      const data = Buffer.from(`4${payload.toString()}`);
      const options = { wsPreEncodedFrame: (WebSocket as unknown as WithFrame).Sender.frame(data, FRAME) };
      assert.equal(writePreEncodedFrame(socket, options), true, `EIO${eio}: an idle client`);
      assert.equal(
        Buffer.isBuffer((options as { wsFrame?: unknown }).wsFrame),
        true,
        "the frame as one Buffer, kept for the next recipient",
      );
      // engine.io's send in flight (transport not writable until written): the direct write steps aside.
      socket.send("first");
      assert.equal(writePreEncodedFrame(socket, options), false, `EIO${eio}: a send in flight`);
      socket.send(`${payload.toString()}`, options as never);
      while (received.length < 3) await new Promise((resolve) => setTimeout(resolve, 5));
      assert.deepEqual(received.slice(-3), [data.toString(), "4first", data.toString()]);
      socket.close();
    }
    const polling = await session("EIO=4&transport=polling");
    assert.equal(writePreEncodedFrame(polling, { wsPreEncodedFrame: [Buffer.from([0x81, 1]), Buffer.from("4")] }), false);
    polling.close();
  });

  it("names the field that changed", async () => {
    const socket = await session("EIO=4&transport=websocket");
    const writeBuffer = (socket as unknown as { writeBuffer: unknown }).writeBuffer;
    (socket as unknown as { writeBuffer: unknown }).writeBuffer = undefined;
    try {
      assert.deepEqual(internalsProblems(engine, socket), [
        "engine.io Socket.writeBuffer is no longer an array of packets waiting for the " +
          "transport: update src/downstream/engine-internals.ts",
      ]);
    } finally {
      (socket as unknown as { writeBuffer: unknown }).writeBuffer = writeBuffer;
      socket.close();
    }
  });
});
