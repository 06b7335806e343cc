/**
 * The engine.io internals src/downstream/engine-internals.ts reads, checked on real engine.io sessions of
 * both revisions and both transports: an engine.io upgrade that changes one of them fails here, naming it.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { Server as EngineServer, type Socket as EngineSocket } from "engine.io";
import WebSocket from "ws";
import {
  engineProtocol,
  engineSocketId,
  hasEngineSession,
  internalsProblems,
  pendingPacketCount,
  transportName,
} from "../../src/downstream/engine-internals.js";

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
